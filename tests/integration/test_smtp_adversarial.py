"""routerd against hostile and broken clients: payloads never become commands.

What is proved, against slapd + authd + routerd from the build tree
(DESIGN.md invariant 7: the bytes of a payload are never read as commands,
whether the command that announced them was accepted or refused):
  - a refused BDAT (no valid recipients, out of sequence, bad syntax after a
    readable size, BDAT during a refused transaction) has its chunk read and
    thrown away: commands inside the chunk (MAIL/RCPT/DATA to a real user,
    NOOPs) get no reply, nothing is queued, and the session goes on with
    the command after the chunk;
  - a BDAT whose size cannot be read (missing, not a number, too large to
    fit, over-long line) is answered and the connection closed: the server
    cannot know where the chunk ends (RFC 3030 section 2);
  - a refused DATA or AUTH with more bytes already pipelined behind it is a
    protocol synchronization error: after the refusal, 554 5.5.0, and the
    connection closes
    before any of those bytes run as commands; a header line as the first
    "command" after a refused DATA does the same;
  - the session-level fuzzer (tests/fuzz/session_fuzz.py) runs for a few
    seconds with a fixed seed: random mixes of accepted and refused BDAT
    chunks full of commands, garbage, NUL bytes and commands; every reply
    is accounted for by the commands the client really sent.
"""

import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
import unittest

from dirmxlab.core import find_program
from smtptest import SmtpLab, queued_id, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fuzz"))
import session_fuzz  # noqa: E402

MAX_SIZE = 200000


def injected(victim):
    """What an attacker hides in a chunk: a whole transaction."""
    return ("MAIL FROM:<attacker@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n"
            "Subject: injected\r\n\r\nsmuggled\r\n.\r\nNOOP\r\nNOOP\r\n"
            % victim).encode()


class LabCase(unittest.TestCase):
    """One routerd lab per class (LAB, ROUTERD, MX_EXTRA); routerd must be
    alive after every test, and at the end its log must hold no report of
    a sanitizer (the suite also runs against the ASan/UBSan build)."""

    LAB, ROUTERD, MX_EXTRA = "smtp-adv", "", ""

    @classmethod
    def setUpClass(cls):
        cls.rd = SmtpLab(cls.LAB, routerd=cls.ROUTERD, mx_extra=cls.MX_EXTRA)

    @classmethod
    def tearDownClass(cls):
        try:
            report = cls.rd.sanitizer_report()
        finally:
            cls.rd.close()
        if report:
            raise AssertionError("routerd under a sanitizer:\n" + report)

    def tearDown(self):
        self.assertTrue(self.rd.routerd_alive(), "routerd died:\n" + self.rd.log()[-3000:])


class AdversarialPayloadTest(LabCase):
    LAB = "smtp-adv"
    ROUTERD = "max_message_size = %d\nmax_errors = 1000\n" % MAX_SIZE


    def setUp(self):
        self.assertTrue(self.rd.routerd_alive(), "routerd died:\n" + self.rd.log()[-3000:])
        self.before = set(self.rd.spool_ids())


    def new_ids(self):
        return set(self.rd.spool_ids()) - self.before

    def assert_nothing_queued(self):
        time.sleep(0.2)
        self.assertEqual(self.new_ids(), set(), "an injected message was queued")

    # -- refused BDAT: the chunk is read and dropped ---------------------------
    def test_bdat_no_valid_recipients(self):
        """The issue's attack: MAIL / RCPT <unknown> / BDAT n LAST + a chunk
        holding a transaction to a real user."""
        victim = self.rd.user(3)["mail"]
        chunk = injected(victim)
        with self.rd.client("mx") as c:
            c.ehlo()
            c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody-here@dirmx.test>\r\n"
                   b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"NOOP\r\n")
            got = [c.reply() for _ in range(4)]
            self.assertEqual([(r.code, r.enh) for r in got],
                             [(250, "2.1.0"), (550, "5.1.1"), (554, "5.5.1"), (250, "2.0.0")],
                             [str(r) for r in got])
            self.assertTrue(c.silent(0.5), "a reply for a command inside the chunk: %r" % c.buf)
            self.assertEqual(c.cmd("RSET").code, 250)
        self.assert_nothing_queued()

    def test_bdat_without_mail(self):
        chunk = b"NOOP\r\n" * 10
        with self.rd.client("mx") as c:
            c.ehlo()
            c.send(b"BDAT %d\r\n" % len(chunk) + chunk + b"HELP\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.enh), (503, "5.5.1"), str(r))
            self.assertEqual(c.reply().code, 214)
            self.assertTrue(c.silent(0.5), c.buf)

    def test_bdat_before_helo(self):
        chunk = b"EHLO x\r\nNOOP\r\n"
        with self.rd.client("mx") as c:
            c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"HELP\r\n")
            self.assertEqual(c.reply().code, 503)
            self.assertEqual(c.reply().code, 214)
            self.assertTrue(c.silent(0.5), c.buf)

    def test_bdat_chunk_split_across_reads(self):
        """The chunk arrives slowly, in pieces: still never commands."""
        victim = self.rd.user(4)["mail"]
        chunk = injected(victim)
        with self.rd.client("mx") as c:
            c.ehlo()
            c.send(b"BDAT %d LAST\r\n" % len(chunk))
            for i in range(0, len(chunk), 7):
                c.send(chunk[i:i + 7])
                time.sleep(0.01)
            r = c.reply()
            self.assertEqual((r.code, r.enh), (503, "5.5.1"), str(r))
            self.assertTrue(c.silent(0.5), c.buf)
            self.assertEqual(c.cmd("NOOP").code, 250)
        self.assert_nothing_queued()

    def test_bdat_bad_rest_of_line(self):
        """The size is readable, the rest is not: the chunk is still dropped."""
        chunk = b"NOOP\r\nNOOP\r\n"
        with self.rd.client("mx") as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % self.rd.user(1)["mail"]).code, 250)
            c.send(b"BDAT %d LAST junk\r\n" % len(chunk) + chunk + b"HELP\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.enh), (501, "5.5.4"), str(r))
            self.assertEqual(c.reply().code, 214)
            self.assertTrue(c.silent(0.5), c.buf)

    def test_bdat_after_refused_bdat_in_transfer(self):
        """BDAT, then a refused command mid-transfer, then BDAT LAST: the
        message is exactly the chunks."""
        u = self.rd.user(5)["mail"]
        with self.rd.client("mx") as c:
            c.ehlo()
            c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<%s>\r\n" % u.encode())
            self.assertEqual([c.reply().code, c.reply().code], [250, 250])
            part1 = b"Subject: two\r\n\r\nfirst\r\n"
            c.send(b"BDAT %d\r\n" % len(part1) + part1)
            self.assertEqual(c.reply().code, 250)
            r = c.cmd("MAIL FROM:<b@example.org>")
            self.assertEqual((r.code, r.enh), (503, "5.5.1"))
            part2 = b"second\r\n"
            c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
            done = c.reply()
            self.assertEqual(done.code, 250, str(done))
        m = self.rd.spool_msg(queued_id(done))
        self.assertTrue(m.client_data().endswith(b"first\r\nsecond\r\n"), m.client_data())

    # -- unreadable size: answer and close -------------------------------------
    def test_bdat_unreadable_size_closes(self):
        for line in [b"BDAT", b"BDAT x12 LAST", b"BDAT 12x", b"BDAT -5",
                     b"BDAT 99999999999999999999999 LAST", b"BDAT  ",
                     b"BDAT " + b"1" * 600]:
            with self.subTest(line=line):
                with self.rd.client("mx") as c:
                    c.ehlo()
                    c.send(line + b"\r\nNOOP\r\nNOOP\r\n")
                    r = c.reply()
                    self.assertIn(r.code, (500, 501, 554), str(r))
                    self.assertTrue(c.closed(5), "still open after %r: %r" % (line, c.buf))
                    self.assertNotIn(b"250", c.buf)

    # -- DATA and AUTH refused with a payload pipelined behind ---------------
    def test_refused_data_with_pipelined_body(self):
        victim = self.rd.user(6)["mail"]
        with self.rd.client("mx") as c:
            c.ehlo()
            c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody-here@dirmx.test>\r\nDATA\r\n"
                   + injected(victim))
            self.assertEqual([c.reply().code, c.reply().code], [250, 550])
            r = c.reply()
            self.assertEqual((r.code, r.enh), (554, "5.5.1"), str(r))
            r = c.reply()
            self.assertEqual((r.code, r.enh), (554, "5.5.0"), str(r))
            self.assertTrue(c.closed(5), c.buf)
            self.assertNotIn(b"250", c.buf)
        self.assert_nothing_queued()

    def test_refused_data_then_header_line(self):
        """The client did not wait for 354 but the body came in a later
        segment: its first line is no command, and the session ends."""
        victim = self.rd.user(7)["mail"]
        with self.rd.client("mx") as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<nobody-here@dirmx.test>").code, 550)
            self.assertEqual(c.cmd("DATA").code, 554)
            c.send(b"Subject: hello\r\n" + injected(victim))
            r = c.reply()
            self.assertEqual((r.code, r.enh), (554, "5.5.0"), str(r))
            self.assertTrue(c.closed(5), c.buf)
        self.assert_nothing_queued()

    def test_refused_data_then_rset_goes_on(self):
        """A client that waits and then carries on is served normally."""
        with self.rd.client("mx") as c:
            c.ehlo()
            self.assertEqual(c.cmd("DATA").code, 503)
            self.assertEqual(c.cmd("RSET").code, 250)
            self.assertEqual(c.cmd("NOOP").code, 250)

    def test_refused_auth_with_pipelined_response(self):
        with self.rd.client("submission") as c:
            c.ehlo()
            c.starttls()
            c.ehlo()
            # An unknown mechanism, then what a LOGIN exchange would send
            # ("QUIT" in base64 is a valid response and a valid command).
            c.send(b"AUTH FANCY\r\nUVVJVA==\r\nNOOP\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.enh), (504, "5.5.4"), str(r))
            r = c.reply()
            self.assertEqual((r.code, r.enh), (554, "5.5.0"), str(r))
            self.assertTrue(c.closed(5), c.buf)

    # -- bytes no command may hold -----------------------------------------
    def test_nul_and_invalid_utf8(self):
        with self.rd.client("mx") as c:
            c.ehlo()
            for line in [b"MAIL FROM:<a\x00b@example.org>", b"MAIL FROM:<\xff\xfe@example.org> SMTPUTF8",
                         b"MAIL FROM:<\xc3\x28@example.org> SMTPUTF8", b"NOOP\x00",
                         b"\xef\xbb\xbfEHLO bom.example"]:
                c.send(line + b"\r\n")
                r = c.reply()
                self.assertGreaterEqual(r.code, 500, "%r -> %s" % (line, r))
                self.assertIsNotNone(r.enh, "%r -> %s" % (line, r))
            self.assertEqual(c.cmd("NOOP").code, 250)

    # -- the session fuzzer, briefly -----------------------------------------
    def test_session_fuzz_short(self):
        seconds = float(os.environ.get("DIRMX_SESSION_FUZZ_SECONDS", "8"))
        stats = session_fuzz.run(self.rd.port("mx"), seconds=seconds, seed=1234,
                                 rcpt=self.rd.user(8)["mail"])
        self.assertGreater(stats["sessions"], 5, stats)
        self.assertGreater(stats["refused_chunks"], 5, stats)
        self.assertEqual(stats["violations"], [], stats)


if __name__ == "__main__":
    unittest.main()


class SlowClientTest(LabCase):
    """DESIGN.md invariant 8: no client holds a session by trickling bytes.

    command_timeout is a deadline for a whole command line; in DATA and
    BDAT, data_timeout is a deadline that only a client above
    min_data_rate pushes back."""

    CMD_S, DATA_S, RATE = 2, 3, 500

    LAB = "smtp-slow"
    ROUTERD = ("command_timeout = %ds\ndata_timeout = %ds\nmin_data_rate = %d\n"
               % (CMD_S, DATA_S, RATE))



    def trickle(self, c, piece, every, limit):
        """Send piece every `every` s until the server closes; the time it
        took, or None if it was still open after limit s."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            try:
                c.send(piece)
            except OSError:
                return time.monotonic() - t0
            if c.closed(every):
                return time.monotonic() - t0
        return None

    def test_command_trickle(self):
        with self.rd.client("mx") as c:
            c.ehlo()
            took = self.trickle(c, b"N", 0.3, self.CMD_S * 4)
            self.assertIsNotNone(took, "a byte every 0.3 s kept the command phase open")
            self.assertLess(took, self.CMD_S + 1.5)
            self.assertIn(b"421 4.4.2", c.buf)
        self.assertTrue(wait_for(lambda: "phase=command" in self.rd.log()))

    def test_data_trickle(self):
        with self.rd.client("mx") as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % self.rd.user(1)["mail"]).code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: slow\r\n\r\n")
            took = self.trickle(c, b"x", 0.3, self.DATA_S * 4)
            self.assertIsNotNone(took, "a byte every 0.3 s kept DATA open")
            self.assertLess(took, self.DATA_S + 1.5)
            self.assertIn(b"421 4.4.2", c.buf)
        # The log line may land after the client read the 421.
        wait_for(lambda: "phase=data" in self.rd.log())
        self.assertRegex(self.rd.log(), r"event=timeout client=127\.0\.0\.1 phase=data")

    def test_bdat_trickle(self):
        with self.rd.client("mx") as c:
            c.ehlo()
            c.send(b"BDAT 100000 LAST\r\n")  # refused (no MAIL): read and dropped
            took = self.trickle(c, b"y" * 10, 0.3, self.DATA_S * 4)
            self.assertIsNotNone(took, "a slow refused chunk kept the session open")
            self.assertLess(took, self.DATA_S + 1.5)

    def test_data_above_min_rate_is_served(self):
        """2 KB every 0.5 s (4 KB/s) for twice data_timeout: accepted."""
        with self.rd.client("mx") as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % self.rd.user(2)["mail"]).code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: steady\r\n\r\n")
            t0 = time.monotonic()
            while time.monotonic() - t0 < self.DATA_S * 2:
                c.send((b"z" * 78 + b"\r\n") * 25)
                self.assertTrue(c.silent(0.5), c.buf)
            c.send(b".\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.enh), (250, "2.0.0"), str(r))

    def test_slow_crowd(self):
        """Fifty trickling clients all leave on time; others are served."""
        crowd = []
        try:
            for i in range(50):
                c = self.rd.client("mx")
                c.send(b"EHLO slow%d" % i)
                crowd.append(c)
            t0 = time.monotonic()
            open_ = list(crowd)
            while open_ and time.monotonic() - t0 < self.CMD_S * 4:
                for c in list(open_):
                    try:
                        c.send(b"x")
                    except OSError:
                        open_.remove(c)
                        continue
                    if c.closed(0.005):
                        open_.remove(c)
                time.sleep(0.25)
            self.assertEqual(open_, [], "%d trickling clients still connected" % len(open_))
            with self.rd.client("mx") as c:
                c.ehlo()
                self.assertEqual(c.cmd("NOOP").code, 250)
        finally:
            for c in crowd:
                c.close()


def set_conf(rd, old, new):
    with open(rd.conf) as f:
        text = f.read()
    if old not in text:
        raise AssertionError("%r not in %s" % (old, rd.conf))
    with open(rd.conf, "w") as f:
        f.write(text.replace(old, new, 1))


def sighup(rd):
    """SIGHUP routerd and wait for its reload line; the log after it."""
    mark = len(rd.log())
    os.kill(rd.routerd.pid, signal.SIGHUP)
    wait_for(lambda: "event=reload " in rd.log()[mark:], timeout=10)
    return rd.log()[mark:]


class ConnectionLimitTest(LabCase):
    """Listener and per-client limits, the backlog, and SIGHUP applying
    them (or saying that a restart is needed)."""

    LAB = "smtp-limits"
    ROUTERD = "client_connection_limit = 5\n"
    MX_EXTRA = "max_sessions = 12\n"


    def setUp(self):
        # Sessions of the test before may still be ending: wait until the
        # listener has room for the whole budget again.
        def settled():
            conns = [self.rd.client("mx", greet=False, source="127.0.3.%d" % i)
                     for i in range(1, 13)]
            try:
                return all(c.reply().code == 220 for c in conns)
            finally:
                self.close_all(conns)
        self.assertTrue(wait_for(settled, timeout=15, step=0.3))
        time.sleep(0.3)


    def open_many(self, n, source="127.0.0.1"):
        out = []
        for _ in range(n):
            out.append(self.rd.client("mx", greet=False, source=source))
        return out

    def greetings(self, conns):
        return [c.reply() for c in conns]

    def close_all(self, conns):
        for c in conns:
            c.close()

    def test_per_client_limit(self):
        conns = self.open_many(6, "127.0.0.21")
        try:
            got = self.greetings(conns)
            self.assertEqual([r.code for r in got[:5]], [220] * 5)
            self.assertEqual((got[5].code, got[5].enh), (421, "4.7.0"), str(got[5]))
            self.assertTrue(conns[5].closed(5))
            # another client is served meanwhile
            with self.rd.client("mx", source="127.0.0.22") as c:
                self.assertEqual(c.greeting.code, 220)
        finally:
            self.close_all(conns)
        self.assertIn("event=limit limit=client_connection_limit value=5 "
                      "client=127.0.0.21", self.rd.log())
        # once they left, the client may come back
        wait_for(lambda: "event=limit" in self.rd.log())
        time.sleep(0.3)
        with self.rd.client("mx", source="127.0.0.21") as c:
            self.assertEqual(c.greeting.code, 220)

    def test_listener_max_sessions(self):
        conns = []
        try:
            for i in range(13):
                conns.append(self.rd.client("mx", greet=False, source="127.0.1.%d" % (i + 1)))
            got = self.greetings(conns)
            self.assertEqual([r.code for r in got[:12]], [220] * 12)
            self.assertEqual((got[12].code, got[12].enh), (421, "4.3.2"), str(got[12]))
            # the submission listener has its own budget
            with self.rd.client("submission") as c:
                self.assertEqual(c.greeting.code, 220)
        finally:
            self.close_all(conns)
        self.assertRegex(self.rd.log(), r"event=limit limit=max_sessions value=12 "
                         r"client=127\.0\.1\.13 listener=mx")

    def test_sighup_applies_limits(self):
        """Rate limit and max_sessions changed by SIGHUP apply at once; a
        new address is reported as needing a restart, never status=ok."""
        set_conf(self.rd, "client_connection_limit = 5\n",
                 "client_connection_limit = 5\nclient_connection_rate_limit = 3\n")
        try:
            log = sighup(self.rd)
            self.assertIn("event=reload status=ok", log)
            for i in range(3):
                with self.rd.client("mx", source="127.0.0.31") as c:
                    self.assertEqual(c.greeting.code, 220)
            with self.rd.client("mx", greet=False, source="127.0.0.31") as c:
                r = c.reply()
                self.assertEqual((r.code, r.enh), (421, "4.7.0"), str(r))
                self.assertIn("per minute", r.text)
            self.assertTrue(wait_for(lambda: "limit=client_connection_rate_limit"
                                     in self.rd.log(), 5))
        finally:
            set_conf(self.rd, "client_connection_rate_limit = 3\n", "")
        # max_sessions of a listener: applied; its address: needs a restart
        set_conf(self.rd, "max_sessions = 12\n", "max_sessions = 2\n")
        set_conf(self.rd, "address = 127.0.0.1:%d\nrole = submission\n" % self.rd.sub,
                 "address = 127.0.0.2:%d\nrole = submission\n" % self.rd.sub)
        try:
            log = sighup(self.rd)
            self.assertIn("event=reload_applied listener=mx max_sessions=2", log)
            self.assertIn("event=reload_needs_restart listener=submission setting=address",
                          log)
            self.assertIn("event=reload status=partial", log)
            self.assertNotIn("event=reload status=ok", log)
            conns = [self.rd.client("mx", greet=False, source="127.0.2.%d" % i)
                     for i in range(1, 4)]
            try:
                got = self.greetings(conns)
                self.assertEqual([r.code for r in got], [220, 220, 421])
            finally:
                self.close_all(conns)
        finally:
            set_conf(self.rd, "max_sessions = 2\n", "max_sessions = 12\n")
            set_conf(self.rd, "address = 127.0.0.2:%d\n" % self.rd.sub,
                     "address = 127.0.0.1:%d\n" % self.rd.sub)
            sighup(self.rd)

    def test_backlog(self):
        """The listen backlog is the configured one (default 1024), not 511."""
        out = subprocess.run(["ss", "-ltnH", "sport = :%d" % self.rd.mx],
                             capture_output=True, text=True, timeout=10).stdout.split()
        # State Recv-Q Send-Q Local Peer: Send-Q is the backlog of a listener
        self.assertGreaterEqual(int(out[2]), 1024, out)

    def test_burst_of_2000(self):
        """2,000 connects at once from many addresses: each gets a 220 or a
        421 with an enhanced code, none hangs or is reset."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
        socks = []
        try:
            for i in range(2000):
                s = socket.socket()
                s.setblocking(False)
                s.bind(("127.0.%d.%d" % (10 + i // 250, i % 250 + 1), 0))
                s.connect_ex(("127.0.0.1", self.rd.mx))
                socks.append(s)
            codes = {}
            deadline = time.monotonic() + 60
            pending = {s.fileno(): [s, b""] for s in socks}
            poller = select.poll()
            for fd in pending:
                poller.register(fd, select.POLLIN)
            while pending and time.monotonic() < deadline:
                for fd, _ in poller.poll(1000):
                    s, got = pending[fd]
                    try:
                        data = s.recv(200)
                    except OSError as e:
                        data, got = b"", b"error %d" % e.errno
                    got += data
                    pending[fd][1] = got
                    if b"\r\n" in got or not data:
                        line = got.split(b"\r\n")[0][:9].decode(errors="replace")
                        codes[line] = codes.get(line, 0) + 1
                        poller.unregister(fd)
                        del pending[fd]
            self.assertEqual(len(pending), 0, "%d connections got no reply: %s"
                             % (len(pending), codes))
            self.assertEqual(set(codes) - {"220 mx.di", "421 4.3.2"}, set(), codes)
            self.assertGreater(codes.get("220 mx.di", 0), 0, codes)
            self.assertLessEqual(codes.get("220 mx.di", 0), 12, codes)
        finally:
            for s in socks:
                s.close()


class SpoolFreeTest(LabCase):
    """Short of spool space, MAIL is refused before the client sends a
    body (452 4.3.1), not after it."""

    LAB = "smtp-full"
    ROUTERD = "spool_min_free = 1000000G\n"


    def test_mail_refused_then_accepted(self):
        with self.rd.client("mx") as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<a@example.org> SIZE=1000")
            self.assertEqual((r.code, r.enh), (452, "4.3.1"), str(r))
            r = c.cmd("RCPT TO:<%s>" % self.rd.user(1)["mail"])
            self.assertEqual(r.code, 503, str(r))
        self.assertIn("event=limit limit=spool_min_free", self.rd.log())
        set_conf(self.rd, "spool_min_free = 1000000G\n", "spool_min_free = 1M\n")
        self.assertIn("event=reload status=ok", sighup(self.rd))
        with self.rd.client("mx") as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=1000").code, 250)


N_MSGS = 2000


class ReloadUnderLoadTest(LabCase):
    """SIGHUP again and again while Postfix's smtp-source sends: every
    message is accepted, every reload ends, routerd stays up."""

    LAB = "smtp-reload"


    def test_reload_under_load(self):
        before = self.rd.spool_count()
        mark = len(self.rd.log())
        # Enough messages that the load outlasts several reloads: 200 took
        # under 0.2 s once small messages stopped costing a file each.
        src = subprocess.Popen([find_program("smtp-source"), "-s", "8", "-m", str(N_MSGS), "-l", "3000",
                                "-f", "load@example.org", "-t", self.rd.user(3)["mail"],
                                "-M", "load.example", "127.0.0.1:%d" % self.rd.mx],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            hups = 0
            while src.poll() is None and hups < 40:
                os.kill(self.rd.routerd.pid, signal.SIGHUP)
                hups += 1
                time.sleep(0.05)
            out, _ = src.communicate(timeout=120)
        finally:
            if src.poll() is None:
                src.kill()
                src.wait()
        self.assertEqual(src.returncode, 0, out)
        self.assertGreater(hups, 3)
        self.assertTrue(wait_for(lambda: self.rd.spool_count() - before == N_MSGS, timeout=30),
                        "spooled %d of %d" % (self.rd.spool_count() - before, N_MSGS))
        self.assertTrue(wait_for(lambda: self.rd.log()[mark:].count("event=reload status=ok")
                                 >= 3, timeout=10))
        self.assertTrue(self.rd.routerd_alive())
