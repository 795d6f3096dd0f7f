"""routerd's authd client (lib/authc.c, through tests/authc_drive) against
a real authd and a real slapd.

What is proved:
  - many LOOKUPs sent at once all come back right (compared with the
    generated data and with dirmxctl's answers), on ONE connection (authd
    logs one "event=connect" for them); so does a flood of 2,000 (different
    addresses: identical ones in flight are one request);
  - AUTH with the right password gives the canonical account, with a
    wrong one NOTFOUND; SENDERS gives what dirmxctl gives;
  - authd killed (SIGKILL) with requests in flight: every outstanding
    request answers TEMPFAIL within a second, none NOTFOUND, none lost;
    once authd is back the same client reconnects and answers again;
  - authd not running (no socket file, or a stale one) gives TEMPFAIL in
    well under a second; a stopped authd gives TEMPFAIL at the timeout.
"""

import os
import re
import signal
import socket
import subprocess
import time
import unittest

from dirmxlab import Lab, Slapd, freeze_pids, ldapdata

from authdtest import Authd
from dirmxtest import tool

N_USERS = 200
_CONNECT = re.compile(r"\bc\d+ event=connect\b")


def parse(out):
    """authc_drive's answer lines: {(kind, key): [(status, rest), ...]}"""
    res = {}
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if parts[0] in ("lookup", "auth", "senders") and len(parts) >= 3:
            res.setdefault((parts[0], parts[1]), []).append(
                (parts[2], parts[3] if len(parts) > 3 else ""))
    return res


def done_line(text):
    m = re.search(r"^done ok=(\d+) notfound=(\d+) tempfail=(\d+) ms=(\d+) "
                  r"last_tempfail=(.*)$", text, re.M)
    if not m:
        return None
    return {"ok": int(m.group(1)), "notfound": int(m.group(2)),
            "tempfail": int(m.group(3)), "ms": int(m.group(4)),
            "last_tempfail": m.group(5)}


class Script:
    """authc_drive in script mode: one authc client for a whole test."""

    def __init__(self, sock, timeout_ms=10000):
        self.p = subprocess.Popen([tool("authc_drive"), "-t", str(timeout_ms), sock,
                                   "script"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, bufsize=1)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def read_until(self, prefix, timeout=30.0):
        """Lines up to and including the first that starts with prefix."""
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if line == "":
                raise AssertionError("authc_drive exited: %r\n%s" % (
                    lines[-20:], self.p.stderr.read()[-3000:]))
            lines.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return lines
        raise AssertionError("no %r from authc_drive: %r" % (prefix, lines[-20:]))

    def command(self, line, timeout=30.0):
        self.send(line)
        lines = self.read_until("done ", timeout)
        return lines, done_line(lines[-1])

    def close(self):
        """End the script; (exit status, stderr)."""
        if self.p.returncode is not None:
            return self.p.returncode, ""
        err = ""
        try:
            self.p.stdin.close()
            err = self.p.stderr.read()
            self.p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()
        return self.p.returncode, err


def assert_clean(test, stderr):
    """No sanitizer report (the ASan build runs these tests too)."""
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        test.assertNotIn(bad, stderr, stderr[-3000:])


class AuthcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("authc")
        cls.addClassCleanup(cls.lab.close)
        tool("authc_drive")
        cls.ldif, cls.info = ldapdata.generate(users=N_USERS)
        cls.slapd = Slapd(cls.lab, data=cls.ldif)
        cls.authd = Authd(cls.lab, cls.slapd)

    def connects_since(self, authd, mark):
        return len(_CONNECT.findall(authd.log_since(mark)))

    def drive(self, *args, stdin=None, timeout=60):
        full = [tool("authc_drive")] + list(args)
        start = time.monotonic()
        r = subprocess.run(full, capture_output=True, text=True, input=stdin,
                           timeout=timeout)
        assert_clean(self, r.stderr)
        return r, time.monotonic() - start

    # -- answers ---------------------------------------------------------
    def test_concurrent_lookups_one_connection(self):
        info = self.info
        users = info["users"][:60]
        want = {}
        for u in users:
            want[u["mail"]] = ("ok", "%s>%s" % (u["mail"], u["mailhost"]))
            # an alias is delivered under its own name
            want[u["aliases"][0]] = ("ok", "%s>%s" % (u["aliases"][0], u["mailhost"]))
        want["nobody-here@dirmx.test"] = ("notfound", None)
        want["someone@gmail.com"] = ("ok", "someone@gmail.com>external")
        groups = [info["nested"], info["cycle"][0]]
        for g in groups:
            dests = self.authd.lookup(g).dests
            self.assertTrue(dests, g)
            want[g] = ("ok", sorted("%s>%s" % d for d in dests))
        mark = self.authd.log_mark()
        r, secs = self.drive(self.authd.sock, "lookup", *want.keys())
        got = parse(r.stdout)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # one NOTFOUND
        for addr, (status, dest) in want.items():
            answers = got.get(("lookup", addr))
            self.assertEqual(len(answers or []), 1, "%s: %r\n%s" % (addr, answers, r.stdout))
            st, rest = answers[0]
            self.assertEqual(st, status, "%s: %s %s" % (addr, st, rest))
            if status != "ok":
                continue
            dests = rest.rsplit(" cached=", 1)[0].split(",")
            if isinstance(dest, list):
                self.assertEqual(sorted(dests), dest, addr)
            else:
                self.assertEqual(dests, [dest], addr)
        self.assertIn("done ok=%d notfound=1 tempfail=0" % (len(want) - 1), r.stdout)
        self.assertEqual(self.connects_since(self.authd, mark), 1,
                         "expected one connection for all lookups")

    def test_flood_one_connection(self):
        addr = self.info["users"][7]["mail"]
        mark = self.authd.log_mark()
        r, secs = self.drive(self.authd.sock, "flood", "2000", addr)
        d = done_line(r.stdout)
        self.assertIsNotNone(d, r.stdout + r.stderr)
        self.assertEqual((d["ok"], d["notfound"], d["tempfail"]), (2000, 0, 0), r.stdout)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(self.connects_since(self.authd, mark), 1)

    def test_auth(self):
        u = self.info["users"][11]
        r, _ = self.drive(self.authd.sock, "auth", u["uid"],
                          stdin=self.info["password"] + "\n")
        ctl = self.authd.ctl("auth", u["uid"], input=self.info["password"] + "\n")
        m = re.search(r"authenticated as (\S+)", ctl.out)
        self.assertIsNotNone(m, ctl.out + ctl.err)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("auth %s ok %s delay=0\n" % (u["uid"], m.group(1)), r.stdout)
        # A wrong password (another account: failures are throttled).
        bad = self.info["users"][12]
        r, _ = self.drive(self.authd.sock, "auth", bad["uid"], stdin="wrong-password\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^auth %s notfound .* delay=\d+$"
                         % re.escape(bad["uid"]))
        self.assertNotIn("wrong-password", r.stdout + r.stderr + self.authd.log())

    def test_senders(self):
        u = self.info["users"][13]
        r, _ = self.drive(self.authd.sock, "senders", u["uid"])
        ctl = self.authd.ctl("senders", u["uid"])
        self.assertEqual(ctl.rc, 0, ctl.out + ctl.err)
        expect = ctl.out.split()
        self.assertIn(u["mail"], expect)
        got = parse(r.stdout)[("senders", u["uid"])]
        self.assertEqual(got[0][0], "ok", r.stdout)
        self.assertEqual(got[0][1].split(","), expect)
        r, _ = self.drive(self.authd.sock, "senders", "no-such-user-xyz")
        self.assertEqual(parse(r.stdout)[("senders", "no-such-user-xyz")][0][0],
                         "notfound", r.stdout)

    # -- failures ----------------------------------------------------------
    def test_authd_not_running(self):
        missing = self.lab.path("nothing", "authd.sock")
        r, secs = self.drive(missing, "lookup", "a@dirmx.test")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("lookup a@dirmx.test tempfail authd unavailable: "
                      "No such file or directory", r.stdout)
        self.assertLess(secs, 1.0)
        # A stale socket file nobody listens on.
        stale = self.lab.path("stale", "authd.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        r, secs = self.drive(stale, "lookup", "a@dirmx.test", "b@dirmx.test")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("tempfail authd unavailable: Connection refused"),
                         2, r.stdout)
        self.assertLess(secs, 1.0)

    def kill_authd(self, authd):
        """SIGKILL by PID while it is stopped (Lab.stop would SIGCONT it
        first and let it answer a few more), then reap it through the Lab."""
        os.kill(authd.proc.pid, signal.SIGKILL)
        authd.lab.stop(authd.proc, sig=signal.SIGKILL)
        authd.proc = None

    def restart_and_reconnect(self, authd, sc):
        """While authd is down the client fails fast; once authd is back,
        the same client answers again."""
        addr = self.info["users"][3]["mail"]
        t0 = time.monotonic()
        lines, d = sc.command("lookup " + addr)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(d["tempfail"], 1, lines)
        self.assertIn("authd unavailable", d["last_tempfail"])
        authd.start()
        sc.command("sleep 1100")  # past the client's reconnect backoff
        lines, d = sc.command("lookup " + addr)
        self.assertEqual((d["ok"], d["tempfail"]), (1, 0), lines)
        rc, err = sc.close()
        self.assertEqual(rc, 3, err[-3000:])  # there were TEMPFAILs
        assert_clean(self, err)

    def test_kill_with_requests_in_flight(self):
        """authd stopped, 3,000 requests sent, authd killed: all 3,000 fail
        TEMPFAIL at once (deterministic: nothing can be answered)."""
        authd = Authd(self.lab, self.slapd, name="authd-kill1")
        sc = Script(authd.sock)
        self.addCleanup(sc.close)
        addr = self.info["users"][2]["mail"]
        lines, d = sc.command("lookup " + addr)
        self.assertEqual(d["ok"], 1, lines)
        freeze_pids([authd.proc.pid])
        sc.send("flood 3000 " + addr)
        time.sleep(0.5)
        t0 = time.monotonic()
        self.kill_authd(authd)
        lines = sc.read_until("done ", timeout=10)
        elapsed = time.monotonic() - t0
        d = done_line(lines[-1])
        self.assertEqual(d["notfound"], 0, lines)
        self.assertEqual(d["ok"] + d["tempfail"], 3000, lines)
        self.assertEqual((d["ok"], d["tempfail"]), (0, 3000), lines)
        self.assertLess(elapsed, 1.5, "requests in flight did not fail at once")
        self.restart_and_reconnect(authd, sc)

    def test_kill_mid_flood(self):
        """authd killed while it is answering a flood of 10,000: whatever
        was not answered yet fails TEMPFAIL at once; nothing is lost and
        nothing becomes NOTFOUND."""
        authd = Authd(self.lab, self.slapd, name="authd-kill2")
        sc = Script(authd.sock)
        self.addCleanup(sc.close)
        # Not ours: authd answers without a search, as fast as it can.
        sc.send("flood 10000 someone@example.org")
        sc.read_until("flood first")
        freeze_pids([authd.proc.pid])
        t0 = time.monotonic()
        self.kill_authd(authd)
        lines = sc.read_until("done ", timeout=10)
        elapsed = time.monotonic() - t0
        d = done_line(lines[-1])
        self.assertEqual(d["notfound"], 0, lines)
        self.assertEqual(d["ok"] + d["tempfail"], 10000, lines)
        self.assertGreater(d["ok"], 0, lines)
        self.assertGreater(d["tempfail"], 0, "authd answered all before the kill: "
                           "inconclusive\n%r" % lines)
        self.assertLess(elapsed, 1.5)
        self.restart_and_reconnect(authd, sc)

    def test_stopped_authd_times_out(self):
        """authd alive but frozen: the request times out (TEMPFAIL), it
        does not hang."""
        authd = Authd(self.lab, self.slapd, name="authd-frozen")
        freeze_pids([authd.proc.pid])
        try:
            r, secs = self.drive("-t", "500", authd.sock, "lookup", "a@dirmx.test")
        finally:
            os.kill(authd.proc.pid, signal.SIGCONT)
            authd.stop()
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("tempfail authd did not answer", r.stdout)
        self.assertGreaterEqual(secs, 0.45)
        self.assertLess(secs, 2.0)


if __name__ == "__main__":
    unittest.main()
