"""routerd's outbound SMTP client (routerd/smtpc.c) against real servers.

smtpc_drive (tests/integration/smtpc_drive.c) delivers through smtpc to
Postfix's smtp-sink and to Sink, a small asyncio SMTP server in this file
whose behaviour each test chooses: which extensions it offers, per-
recipient replies, a 421 greeting, STARTTLS with a lab CA certificate,
AUTH PLAIN, silence after accept. Sink counts connections (total and at
once) and records every transaction it received.
"""

import asyncio
import base64
import glob
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import unittest
import warnings

from dirmxlab import Lab, free_port, lab_ca
from dirmxlab.core import find_program, wait_tcp
from dirmxtest import describe, drive


def tls10_server_context(cert, key):
    """A server TLS context that speaks TLS 1.0 only (OpenSSL at SECLEVEL
    0): the old peer that a TLS 1.2+ client must not talk to."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # TLS 1.0 is deprecated: the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    return ctx


class Sink:
    """An SMTP server on 127.0.0.1 in a thread of the test process."""

    def __init__(self, caps=("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"),
                 rcpt=None, greeting="220 sink.test ESMTP", silent=False,
                 tls=None, auth=None, data_delay=0.0, size=None,
                 drop_second_mail=False, eol="\r\n", hold_envelope=False,
                 always_354=False):
        self.caps = list(caps)
        # hold_envelope: MAIL and RCPT replies wait until DATA is read (a
        # client that waits for them before DATA never gets them);
        # always_354: DATA gets 354 even with no recipient accepted.
        self.hold_envelope = hold_envelope
        self.always_354 = always_354
        self.eol = eol          # what ends each reply line
        if size is not None:
            self.caps.append("SIZE %d" % size)
        self.rcpt = rcpt or {}
        self.greeting = greeting
        self.silent = silent
        self.tls = tls          # ssl.SSLContext or None
        self.auth = auth        # (user, password) or None
        self.data_delay = data_delay
        self.drop_second_mail = drop_second_mail
        self.messages = []      # dicts: mail, rcpts, data, tls, auth, cmds
        self.commands = []      # (verb, over TLS) of every command line
        self.connections = 0
        self.current = 0
        self.peak = 0
        self.port = None
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
        self.loop.run_until_complete(start())
        ready.set()
        self.loop.run_forever()

    def close(self):
        async def shutdown():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks()
                     if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def target(self, name=None):
        return "%s127.0.0.1:%d" % (name + "@" if name else "", self.port)

    async def _session(self, reader, writer):
        self.connections += 1
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self.current -= 1
            writer.close()

    async def _serve(self, reader, writer):
        if self.silent:
            await asyncio.sleep(3600)
        held = []
        def send(line):
            if self.hold_envelope and verb in ("MAIL", "RCPT"):
                held.append(line)
                return
            for h in held:
                writer.write((h + self.eol).encode())
            held.clear()
            writer.write((line + self.eol).encode())
        verb = None
        send(self.greeting)
        await writer.drain()
        if not self.greeting.startswith("2"):
            return
        txn, is_tls, authed, mails = None, False, None, 0
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            self.commands.append((verb, is_tls))
            if verb == "EHLO":
                caps = list(self.caps)
                if self.tls and not is_tls:
                    caps.append("STARTTLS")
                if self.auth:
                    caps.append("AUTH PLAIN")
                lines = ["sink.test"] + caps
                for i, c in enumerate(lines):
                    send("250%s%s" % (" " if i == len(lines) - 1 else "-", c))
            elif verb == "HELO":
                send("250 sink.test")
            elif verb == "STARTTLS" and getattr(self, "refuse_starttls", False):
                send("454 4.7.0 TLS not available now")
            elif verb == "STARTTLS" and self.tls and not is_tls:
                send("220 2.0.0 go ahead")
                await writer.drain()
                await writer.start_tls(self.tls)
                is_tls = True
            elif verb == "AUTH" and self.auth:
                parts = line.split(" ")
                want = ("\0%s\0%s" % self.auth).encode()
                if len(parts) == 3 and base64.b64decode(parts[2]) == want:
                    authed = self.auth[0]
                    send("235 2.7.0 ok")
                else:
                    send("535 5.7.8 bad credentials")
            elif verb == "MAIL":
                mails += 1
                if self.drop_second_mail and mails == 2:
                    return
                if self.auth and not authed:
                    send("530 5.7.0 authentication required")
                    continue
                txn = {"mail": line, "rcpts": [], "tls": is_tls, "auth": authed,
                       "data": b""}
                send("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = re.search(r"<([^>]*)>", line).group(1)
                reply = self.rcpt.get(addr, "250 2.1.5 ok")
                if reply.startswith("2"):
                    txn["rcpts"].append(line)
                send(reply)
            elif verb == "DATA":
                if (not txn or not txn["rcpts"]) and not self.always_354:
                    send("554 5.5.1 no valid recipients")
                    continue
                send("354 go ahead")
                await writer.drain()
                data = b""
                while True:
                    chunk = await reader.readline()
                    if chunk == b".\r\n" or not chunk:
                        break
                    data += chunk[1:] if chunk.startswith(b".") else chunk
                if not chunk:
                    return
                txn["data"] = data
                await self._accept(txn, send)
                txn = None
            elif verb == "BDAT":
                args = line.split()
                n = int(args[1])
                txn["data"] += await reader.readexactly(n)
                txn["bdat"] = txn.get("bdat", 0) + 1
                if len(args) > 2 and args[2].upper() == "LAST":
                    await self._accept(txn, send)
                    txn = None
                else:
                    send("250 2.0.0 chunk ok")
            elif verb == "RSET":
                txn = None
                send("250 2.0.0 ok")
            elif verb == "QUIT":
                send("221 2.0.0 bye")
                await writer.drain()
                return
            else:
                send("502 5.5.2 what?")
            await writer.drain()

    async def _accept(self, txn, send):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self.messages.append(txn)
        send("250 2.0.0 queued")


RESULT = re.compile(r"^job (\d+) rcpt (\S+) verdict=(\w+) code=(\d+) "
                    r"status=(\S+) text=\"(.*)\"$")
END = re.compile(r"^job (\d+) end host=(\S+) ip=(\S+) tls=(\d) reused=(\d) "
                 r"delay_ms=(\d+) error=\"(.*)\"$")


class SmtpcTest(unittest.TestCase):
    def setUp(self):
        self.lab = Lab("smtpc")
        self.addCleanup(self.lab.close)
        self.body = self.lab.write("msg.eml", "Subject: test\r\n\r\nhello\r\n")

    def sink(self, **kw):
        s = Sink(**kw)
        self.addCleanup(s.close)
        return s

    def run_drive(self, targets, rcpts=("a@x.test",), args=(), data=None,
                  mail_from="s@y.test", timeout=60):
        argv = list(args) + ["--from", mail_from, "--data", data or self.body]
        for r in rcpts:
            argv += ["--rcpt", r]
        argv += list(targets)
        run = drive("smtpc_drive", argv, timeout=timeout)
        self.assertEqual(run.rc, 0, describe(run))
        results, ends = {}, {}
        for line in run.out.splitlines():
            m = RESULT.match(line)
            if m:
                results.setdefault(int(m.group(1)), {})[m.group(2)] = m
            m = END.match(line)
            if m:
                ends[int(m.group(1))] = m
        self.assertIn(0, ends, describe(run))
        return run, results, ends

    def verdicts(self, results, job=0):
        return {a: m.group(3) for a, m in results[job].items()}

    # -- delivery and per-recipient verdicts ------------------------------

    def test_smtp_sink_receives(self):
        """Postfix's smtp-sink gets the message (dumped with -d)."""
        port = free_port()
        os.chmod(self.lab.dir, 0o755)  # smtp-sink runs as nobody
        dumps = self.lab.path("dump", "x")
        os.makedirs(os.path.dirname(dumps), exist_ok=True)
        os.chmod(os.path.dirname(dumps), 0o777)
        proc = self.lab.spawn("smtp-sink", [
            find_program("smtp-sink"), "-u", "nobody",
            "-d", os.path.dirname(dumps) + "/%M.", "127.0.0.1:%d" % port, "10"])
        wait_tcp("127.0.0.1", port, proc=proc, what="smtp-sink")
        run, results, ends = self.run_drive(
            ["127.0.0.1:%d" % port], rcpts=("a@x.test", "b@x.test"))
        self.assertEqual(self.verdicts(results),
                         {"a@x.test": "done", "b@x.test": "done"}, describe(run))
        deadline = time.monotonic() + 5
        files = []
        while time.monotonic() < deadline and not files:
            files = glob.glob(os.path.dirname(dumps) + "/*")
            time.sleep(0.05)
        self.assertEqual(len(files), 1, describe(run))
        with open(files[0], "rb") as f:
            dump = f.read()
        self.assertIn(b"hello", dump)
        self.assertIn(b"b@x.test", dump)
        self.assertIn(b"event=delivery", run.err.encode())

    def test_per_recipient_verdicts(self):
        s = self.sink(rcpt={"bad@x.test": "550 5.1.1 no such user",
                            "later@x.test": "450 4.2.1 try later"})
        run, results, ends = self.run_drive(
            [s.target()], rcpts=("good@x.test", "bad@x.test", "later@x.test"))
        self.assertEqual(self.verdicts(results),
                         {"good@x.test": "done", "bad@x.test": "bounce",
                          "later@x.test": "retry"}, describe(run))
        bad = results[0]["bad@x.test"]
        self.assertEqual((bad.group(4), bad.group(5)), ("550", "5.1.1"))
        self.assertIn("no such user", bad.group(6))
        self.assertEqual(len(s.messages), 1)
        self.assertEqual(len(s.messages[0]["rcpts"]), 1)
        log = [ln for ln in run.err.splitlines() if "event=delivery" in ln]
        self.assertEqual(len(log), 3, run.err)
        self.assertRegex(log[1], r'^.*DRIVE event=delivery rcpt="bad@x.test" '
                         r'host=127.0.0.1 ip=127.0.0.1:\d+ tls=0 status=5.1.1 '
                         r'code=550 verdict=bounce reply="550 5.1.1 no such user" '
                         r'delay_ms=\d+$')

    def test_bare_lf_replies(self):
        """A server that ends its reply lines with a bare LF is read as
        Postfix reads it (smtpreply SMTPREPLY_BARE_LF): every verdict
        as with CR LF, multi-line EHLO included."""
        s = self.sink(eol="\n", rcpt={"bad@x.test": "550 5.1.1 no such user"})
        run, results, ends = self.run_drive(
            [s.target()], rcpts=("good@x.test", "bad@x.test"))
        self.assertEqual(self.verdicts(results),
                         {"good@x.test": "done", "bad@x.test": "bounce"},
                         describe(run))
        bad = results[0]["bad@x.test"]
        self.assertEqual((bad.group(4), bad.group(5), bad.group(6)),
                         ("550", "5.1.1", "550 5.1.1 no such user"))
        self.assertEqual(len(s.messages), 1)
        # PIPELINING came from the multi-line EHLO: one write for all.
        self.assertEqual(s.commands[:4], [("EHLO", False), ("MAIL", False),
                                          ("RCPT", False), ("RCPT", False)])

    def test_malformed_reply_is_retry(self):
        """A reply the parser refuses (a control character) drops the
        connection with a temporary failure, never a guess."""
        s = self.sink(rcpt={"a@x.test": "550 5.1.1 no\x01such user"})
        run, results, _ = self.run_drive([s.target()])
        r = results[0]["a@x.test"]
        self.assertEqual(r.group(3), "retry", describe(run))
        self.assertIn("control character in reply", r.group(6))

    def test_without_pipelining_and_all_rejected(self):
        s = self.sink(caps=("8BITMIME",),
                      rcpt={"a@x.test": "550 5.1.1 no", "b@x.test": "550 5.1.1 no"})
        run, results, _ = self.run_drive([s.target()], rcpts=("a@x.test", "b@x.test"))
        self.assertEqual(set(self.verdicts(results).values()), {"bounce"})
        self.assertEqual(s.messages, [])

    def test_data_pipelined(self):
        """With PIPELINING, DATA goes out with MAIL and RCPT, before their
        replies (RFC 2920: DATA may end a group): against a server that
        answers nothing before DATA, the message is still delivered."""
        s = self.sink(hold_envelope=True)
        run, results, _ = self.run_drive([s.target()], rcpts=("a@x.test", "b@x.test"),
                                         args=["--timeout", "3000"])
        self.assertEqual(self.verdicts(results),
                         {"a@x.test": "done", "b@x.test": "done"}, describe(run))
        self.assertEqual(len(s.messages), 1)
        self.assertEqual([c for c, _ in s.commands[:5]],
                         ["EHLO", "MAIL", "RCPT", "RCPT", "DATA"])

    def test_pipelined_data_all_rejected(self):
        """Every RCPT refused: the pipelined DATA's refusal is read before
        the RSET, so the connection stays in step (no reply is taken for
        another's)."""
        s = self.sink(rcpt={"a@x.test": "550 5.1.1 no", "b@x.test": "550 5.1.1 no"})
        run, results, ends = self.run_drive(
            [s.target()], rcpts=("a@x.test", "b@x.test"),
            args=["--jobs", "2", "--sequential"])
        for j in range(2):
            self.assertEqual(self.verdicts(results, j),
                             {"a@x.test": "bounce", "b@x.test": "bounce"},
                             describe(run))
        self.assertEqual(s.messages, [])
        verbs = [c for c, _ in s.commands]
        self.assertEqual(verbs[1:6], ["MAIL", "RCPT", "RCPT", "DATA", "RSET"])
        self.assertNotIn("unexpected reply", run.out + run.err)

    def test_pipelined_data_354_without_recipient(self):
        """A server that answers the pipelined DATA with 354 although it
        refused every RCPT waits for data nobody may send: the refusals
        stand and the connection is closed, never used again."""
        s = self.sink(always_354=True, rcpt={"a@x.test": "550 5.1.1 no"})
        run, results, ends = self.run_drive(
            [s.target()], args=["--jobs", "2", "--sequential"])
        for j in range(2):
            r = results[j]["a@x.test"]
            self.assertEqual((r.group(3), r.group(4)), ("bounce", "550"),
                             describe(run))
        self.assertEqual(s.messages, [])
        self.assertEqual(s.connections, 2, describe(run))

    def test_dot_stuffing(self):
        s = self.sink()
        body = b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nlast line"
        path = self.lab.path("dots.eml")
        with open(path, "wb") as f:
            f.write(body)
        run, results, _ = self.run_drive([s.target()], data=path)
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        self.assertEqual(s.messages[0]["data"], body + b"\r\n")

    def test_bdat_when_chunking(self):
        s = self.sink(caps=("PIPELINING", "CHUNKING", "8BITMIME"))
        body = b"Subject: big\r\n\r\n" + b".x" * 200000 + b"\r\n"
        path = self.lab.path("big.eml")
        with open(path, "wb") as f:
            f.write(body)
        run, results, _ = self.run_drive([s.target()], data=path, args=["--8bit"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        # BDAT lifts dot-stuffing, not RFC 5321's 998-octet lines (only
        # BINARYMIME does): the long line is folded as with DATA.
        line = b".x" * 200000
        parts = [line[:998]] + [line[i:i + 997] for i in range(998, len(line), 997)]
        self.assertEqual(s.messages[0]["data"],
                         b"Subject: big\r\n\r\n" + b"\r\n ".join(parts) + b"\r\n")
        self.assertGreater(s.messages[0]["bdat"], 1)
        self.assertIn("BODY=8BITMIME", s.messages[0]["mail"])

    def test_size_and_smtputf8(self):
        s = self.sink(size=10)
        run, results, _ = self.run_drive([s.target()])
        r = results[0]["a@x.test"]
        self.assertEqual((r.group(3), r.group(5)), ("bounce", "5.3.4"), describe(run))
        s2 = self.sink()
        run, results, _ = self.run_drive([s2.target()], args=["--smtputf8"])
        r = results[0]["a@x.test"]
        self.assertEqual((r.group(3), r.group(5)), ("bounce", "5.6.7"), describe(run))
        self.assertIn("SMTPUTF8 not supported by 127.0.0.1", r.group(6))
        s3 = self.sink(caps=("SMTPUTF8", "DSN", "SIZE 100000"))
        run, results, _ = self.run_drive(
            [s3.target()], args=["--smtputf8", "--notify", "success,failure",
                                 "--orcpt", "rfc822;a+b@x.test", "--envid", "E=1",
                                 "--ret", "hdrs"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        m = s3.messages[0]
        self.assertRegex(m["mail"], r"SIZE=\d+ SMTPUTF8 RET=HDRS ENVID=E\+3D1$")
        self.assertTrue(m["rcpts"][0].endswith(
            "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@x.test"), m["rcpts"])

    # -- next target -------------------------------------------------------

    def test_refused_then_next(self):
        s = self.sink()
        dead = "127.0.0.1:%d" % free_port()
        run, results, ends = self.run_drive([dead, s.target()])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        self.assertEqual(ends[0].group(3), "127.0.0.1:%d" % s.port)
        self.assertIn("event=target_failed", run.err)

    def test_421_greeting_then_next(self):
        bad = self.sink(greeting="421 4.3.2 busy")
        s = self.sink()
        run, results, _ = self.run_drive([bad.target(), s.target()])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        self.assertEqual(len(s.messages), 1)

    def test_all_fail_is_retry(self):
        bad = self.sink(greeting="554 5.7.1 go away")
        run, results, ends = self.run_drive([bad.target()])
        r = results[0]["a@x.test"]
        self.assertEqual((r.group(3), r.group(4)), ("retry", "0"), describe(run))
        self.assertTrue(r.group(5).startswith("4."), r.group(5))
        self.assertIn("go away", ends[0].group(7))

    def test_silent_server_times_out(self):
        hole = self.sink(silent=True)
        s = self.sink()
        run, results, _ = self.run_drive([hole.target(), s.target()],
                                         args=["--timeout", "500"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        self.assertLess(run.secs, 10)
        run, results, ends = self.run_drive([hole.target()], args=["--timeout", "500"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "retry"}, describe(run))
        self.assertIn("timeout", ends[0].group(7))

    # -- TLS and AUTH ------------------------------------------------------

    def tls_context(self):
        ca = lab_ca(self.lab)
        cert, key = ca.server_cert(["mx.sink.test"], ["127.0.0.1"])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ca, ctx

    def test_tls_policies(self):
        ca, ctx = self.tls_context()
        s = self.sink(tls=ctx)
        for policy, name, verdict, tls in [
                ("may", None, "done", "1"),
                ("encrypt", "wrong.test", "done", "1"),
                ("verify", "mx.sink.test", "done", "1"),
                ("verify", "wrong.test", "retry", "0")]:
            with self.subTest(policy=policy, name=name):
                run, results, ends = self.run_drive(
                    [s.target(name)], args=["--tls", policy, "--ca", ca.cert])
                self.assertEqual(self.verdicts(results), {"a@x.test": verdict},
                                 describe(run))
                if verdict == "done":
                    self.assertEqual(ends[0].group(4), tls)
                    self.assertTrue(s.messages[-1]["tls"])
                else:
                    self.assertIn("TLS", ends[0].group(7))
        plain = self.sink()
        run, results, ends = self.run_drive([plain.target()], args=["--tls", "may"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"})
        self.assertEqual(ends[0].group(4), "0")
        run, results, ends = self.run_drive([plain.target()], args=["--tls", "encrypt"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "retry"})
        self.assertIn("STARTTLS not offered", ends[0].group(7))

    def test_tls10_only_peer(self):
        """A peer that speaks only TLS 1.0 (OpenSSL at SECLEVEL 0), which
        smtpc's TLS 1.2+ default refuses (issue 11). may: the handshake
        fails, a new connection in clear delivers, and event=tls_fallback
        says why; encrypt and verify: RETRY 4.7.5, and not one command
        after STARTTLS was sent in clear."""
        ca = lab_ca(self.lab)
        cert, key = ca.server_cert(["mx.sink.test"], ["127.0.0.1"])
        ctx = tls10_server_context(cert, key)
        s = self.sink(tls=ctx)
        # The peer is real: a TLS 1.0 client gets through, TLS 1.2 does not.
        for opt, ok in (("-tls1", True), ("-tls1_2", False)):
            r = subprocess.run(["openssl", "s_client", opt, "-cipher", "DEFAULT@SECLEVEL=0",
                                "-starttls", "smtp", "-connect", "127.0.0.1:%d" % s.port],
                               input="QUIT\n", capture_output=True, text=True, timeout=30)
            self.assertEqual("New, TLSv1.0, Cipher is" in r.stdout, ok, r.stdout + r.stderr)
        s.commands.clear()
        s.connections = 0
        run, results, ends = self.run_drive([s.target()], args=["--tls", "may"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        self.assertEqual(ends[0].group(4), "0", describe(run))
        self.assertEqual(len(s.messages), 1)
        self.assertFalse(s.messages[0]["tls"])
        self.assertEqual(s.connections, 2, describe(run))
        self.assertRegex(run.err, r"DRIVE event=tls_fallback host=127\.0\.0\.1 "
                         r"ip=127\.0\.0\.1:\d+ policy=may action=reconnect_plaintext "
                         r"reason=\"[^\"]*TLS handshake[^\"]*\"")
        # The second connection went straight to MAIL: no STARTTLS again.
        self.assertEqual([v for v, _ in s.commands].count("STARTTLS"), 1, s.commands)
        for policy in ("encrypt", "verify"):
            with self.subTest(policy=policy):
                s.commands.clear()
                s.connections = 0
                run, results, ends = self.run_drive(
                    [s.target("mx.sink.test")], args=["--tls", policy, "--ca", ca.cert])
                self.assertEqual(self.verdicts(results), {"a@x.test": "retry"},
                                 describe(run))
                self.assertEqual(results[0]["a@x.test"].group(5), "4.7.5")
                self.assertIn("TLS handshake", ends[0].group(7))
                self.assertNotIn("tls_fallback", run.err)
                self.assertEqual(len(s.messages), 1, "nothing more delivered")
                self.assertEqual(s.connections, 1)
                self.assertEqual([v for v, _ in s.commands], ["EHLO", "STARTTLS"])

    def test_starttls_refused_under_may(self):
        """may: a 454 to STARTTLS goes on in clear on the same connection,
        logged; encrypt: RETRY."""
        ca, ctx = self.tls_context()
        s = self.sink(tls=ctx)
        s.refuse_starttls = True
        run, results, ends = self.run_drive([s.target()], args=["--tls", "may"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        self.assertEqual(s.connections, 1)
        self.assertIn("event=tls_fallback", run.err)
        self.assertIn("action=continue_plaintext", run.err)
        run, results, ends = self.run_drive([s.target()], args=["--tls", "encrypt"])
        self.assertEqual(self.verdicts(results), {"a@x.test": "retry"}, describe(run))

    def test_auth_plain(self):
        ca, ctx = self.tls_context()
        s = self.sink(tls=ctx, auth=("relay", "s3cret"))
        good = self.lab.write("pass", "s3cret\n", mode=0o600)
        bad = self.lab.write("badpass", "nope\n", mode=0o600)
        loose = self.lab.write("loose", "s3cret\n", mode=0o644)
        run, results, _ = self.run_drive(
            [s.target()], args=["--tls", "encrypt", "--auth", "relay", good])
        self.assertEqual(self.verdicts(results), {"a@x.test": "done"}, describe(run))
        self.assertEqual(s.messages[-1]["auth"], "relay")
        self.assertNotIn("s3cret", run.err)
        run, results, ends = self.run_drive(
            [s.target()], args=["--tls", "encrypt", "--auth", "relay", bad])
        self.assertEqual(self.verdicts(results), {"a@x.test": "retry"})
        self.assertIn("AUTH", ends[0].group(7))
        r = drive("smtpc_drive", ["--auth", "relay", loose, "--from", "", "--rcpt",
                                  "a@x.test", "--data", self.body, s.target()])
        self.assertEqual(r.rc, 2, describe(r))
        self.assertIn("group or others", r.err)

    # -- reuse and limits --------------------------------------------------

    def test_connection_reuse(self):
        s = self.sink()
        run, results, ends = self.run_drive(
            [s.target()], args=["--jobs", "3", "--sequential"])
        self.assertEqual(len(s.messages), 3, describe(run))
        self.assertEqual(s.connections, 1, describe(run))
        self.assertEqual([ends[j].group(5) for j in range(3)], ["0", "1", "1"])

    def test_reuse_after_server_dropped(self):
        """A cached connection that dies at its next MAIL is replaced by a
        new connection to the same target, not counted as a failure."""
        s = self.sink(drop_second_mail=True)
        run, results, ends = self.run_drive(
            [s.target()], args=["--jobs", "2", "--sequential"])
        self.assertEqual(len(s.messages), 2, describe(run))
        self.assertEqual(s.connections, 2)
        self.assertEqual(self.verdicts(results, 1), {"a@x.test": "done"})

    def test_limits(self):
        s = self.sink(data_delay=0.3)
        run, results, ends = self.run_drive(
            [s.target()], args=["--jobs", "10", "--max-dest", "2"])
        self.assertEqual(len(s.messages), 10, describe(run))
        self.assertEqual(s.peak, 2, describe(run))
        self.assertIn("peak_conns=2", run.out)
        for j in range(10):
            self.assertEqual(self.verdicts(results, j), {"a@x.test": "done"})


if __name__ == "__main__":
    unittest.main()
