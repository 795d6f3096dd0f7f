"""routerd end to end: relay control, recipient validation, limits, AUTH.

What is proved, against slapd + authd + routerd from the build tree:
  - no open relay: the relay-trick battery (user%other@local, source
    routes, user@other@local, bang paths, quoted "user@other"@local,
    trailing dots, domain literals, directory contacts at foreign domains)
    is refused with its exact code on the MX listener, on submission after
    AUTH, and from a relay network; on submission without AUTH nothing
    gets as far as RCPT; nothing refused ever reaches the spool;
  - recipient validation: unknown / disabled / looping -> 550 5.1.1; a
    directory that cannot answer (slapd stopped, authd stopped, two objects
    claiming one address) -> 451 4.4.3, never 5xx; AUTH with authd down ->
    454 4.7.0; routerd recovers when authd comes back;
  - submission: the envelope sender must be one the user may send as (own
    mail, aliases, send_as grants, <>), else 553 5.7.1;
  - limits: SIZE= and actual size -> 552 5.3.4, recipients -> 452 4.5.3,
    Received: count above max_received_headers -> 554 5.4.6, command line
    length -> 500 5.5.2, errors per session -> 421 4.7.0;
  - AUTH brute force: failures are answered slowly (535 5.7.8 after a
    delay), then 421 4.7.0 and the connection ends.
"""

import os
import time
import unittest

from smtptest import (PASSWORD, SmtpLab, assert_enhanced, queued_id, simple_message,
                      wait_for)

MAX_RCPTS = 5
MAX_SIZE = 64 * 1024
MAX_RECEIVED = 5


class SmtpPolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rd = SmtpLab("smtp-policy", routerd="""\
max_recipients = %d
max_message_size = %d
max_received_headers = %d
relay_networks = 127.0.0.2/32
""" % (MAX_RCPTS, MAX_SIZE, MAX_RECEIVED), authd="send_as = user00002 shared-box@dirmx.test\n")

    @classmethod
    def tearDownClass(cls):
        cls.rd.close()

    def setUp(self):
        self.assertTrue(self.rd.routerd_alive(), "routerd died:\n" + self.rd.log()[-3000:])

    # -- relay ---------------------------------------------------------------
    TRICKS = [
        # (recipient, code, enhanced)
        ("victim@gmail.com%dirmx.test", 553, "5.1.3"),
        ("victim%gmail.com@dirmx.test", 553, "5.1.3"),
        ("@dirmx.test:victim@gmail.com", 553, "5.1.3"),
        ("@gmail.com,@dirmx.test:user00001@dirmx.test", 553, "5.1.3"),
        ("victim@gmail.com@dirmx.test", 553, "5.1.3"),
        ("gmail.com!victim@dirmx.test", 553, "5.1.3"),
        ("gmail.com!victim", 553, "5.1.3"),
        ('"victim@gmail.com"@dirmx.test', 553, "5.1.3"),
        ('"victim%gmail.com"@dirmx.test', 553, "5.1.3"),
        ("victim@gmail.com.", 553, "5.1.3"),
        ("user00001@dirmx.test.", 553, "5.1.3"),
        ("victim@[127.0.0.1]", 550, "5.7.1"),
        ("victim@[IPv6:::1]", 550, "5.7.1"),
        ("user00001@[127.0.0.1]", 550, "5.7.1"),
        ("<>", 553, "5.1.3"),
    ]

    def battery(self, client_factory, foreign_ok, sender="s@example.org"):
        before = set(self.rd.spool_ids())
        for addr, code, enh in self.TRICKS:
            with client_factory() as c:
                r = c.cmd("MAIL FROM:<%s>" % sender)
                self.assertEqual(r.code, 250, str(r))
                line = "RCPT TO:%s" % (addr if addr == "<>" else "<%s>" % addr)
                r = c.cmd(line)
                self.assertEqual((r.code, r.enh), (code, enh), "%s -> %s" % (line, r))
                # And DATA has nothing to deliver to.
                r = c.cmd("DATA")
                self.assertEqual((r.code, r.enh), (554, "5.5.1"), str(r))
                assert_enhanced(self, c.replies)
        with client_factory() as c:
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender).code, 250)
            for addr in ("victim@gmail.com", "Victim@GMAIL.com",
                         self.rd.info["contacts"][0]["mail"]):
                r = c.cmd("RCPT TO:<%s>" % addr)
                if foreign_ok:
                    self.assertEqual((r.code, r.enh), (250, "2.1.5"), "%s -> %s" % (addr, r))
                else:
                    self.assertEqual((r.code, r.enh), (550, "5.7.1"), "%s -> %s" % (addr, r))
        self.assertEqual(set(self.rd.spool_ids()), before, "a refused recipient was spooled")

    def mx_client(self, source=None):
        c = self.rd.client("mx", source=source)
        c.ehlo()
        return c

    def test_relay_battery_mx(self):
        self.battery(self.mx_client, foreign_ok=False)

    def test_relay_battery_mx_relay_network(self):
        # 127.0.0.2 is a relay network: foreign domains pass, tricks do not.
        self.battery(lambda: self.mx_client(source="127.0.0.2"), foreign_ok=True)
        self.assertIn("relay_client=1", self.rd.log())

    def test_relay_battery_submission_auth(self):
        self.battery(lambda: self.rd.login("submission"), foreign_ok=True,
                     sender=self.rd.user(1)["mail"])

    def test_relay_battery_submissions_auth(self):
        self.battery(lambda: self.rd.login("submissions"), foreign_ok=True,
                     sender=self.rd.user(1)["mail"])

    def test_submission_without_auth(self):
        for listener in ("submission", "submissions"):
            with self.rd.client(listener) as c:
                c.ehlo()
                if listener == "submission":
                    c.starttls()
                    c.ehlo()
                r = c.cmd("MAIL FROM:<%s>" % self.rd.user(1)["mail"])
                self.assertEqual((r.code, r.enh), (530, "5.7.0"), str(r))
                for addr in ("victim@gmail.com", "user00001@dirmx.test", "a%b@dirmx.test"):
                    r = c.cmd("RCPT TO:<%s>" % addr)
                    self.assertEqual((r.code, r.enh), (503, "5.5.1"), str(r))
            # Without TLS on submission: TLS first.
        with self.rd.client("submission") as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<x@example.org>")
            self.assertEqual((r.code, r.enh), (530, "5.7.0"), str(r))
            self.assertIn("STARTTLS", r.text)

    def test_directory_route_domains_on_mx(self):
        # A "relay" domain of the directory (relay.example.org) is accepted
        # on MX from anyone, with the directory's next hop. A "route"
        # domain (example.net) is someone else's domain that we reach by a
        # fixed hop: accepting it from anyone would be an open relay.
        with self.mx_client() as c:
            c.cmd("MAIL FROM:<s@example.org>")
            r = c.cmd("RCPT TO:<a@example.net>")
            self.assertEqual((r.code, r.enh), (550, "5.7.1"), str(r))
            self.assertEqual(c.cmd("RCPT TO:<b@relay.example.org>").code, 250)
            _, done = c.data(simple_message("routes") + ".\r\n")
        m = self.rd.spool_msg(queued_id(done))
        self.assertEqual(m.rcpt_hops(), [("b@relay.example.org", "relay-gw.dirmx.test")])
        # An authenticated user may send to the routed domain: its hop is
        # the directory's route.
        with self.rd.login() as c:
            c.cmd("MAIL FROM:<%s>" % self.rd.user(1)["mail"])
            self.assertEqual(c.cmd("RCPT TO:<a@example.net>").code, 250)
            _, done = c.data(simple_message("routes") + ".\r\n")
        m = self.rd.spool_msg(queued_id(done))
        self.assertEqual(m.rcpt_hops(), [("a@example.net", "[mx.example.net]:25")])

    # -- recipient validation -----------------------------------------------
    def test_recipient_validation(self):
        info = self.rd.info
        with self.mx_client() as c:
            c.cmd("MAIL FROM:<s@example.org>")
            for addr, code, enh in [
                    ("nobody-at-all@dirmx.test", 550, "5.1.1"),
                    ("nobody@alias.dirmx.test", 550, "5.1.1"),
                    (info["disabled"]["mail"], 550, "5.1.1"),
                    (info["forward_loop"][0], 550, "5.1.1"),
                    (info["duplicate"]["address"], 451, "4.4.3"),
                    ("USER00001@DIRMX.TEST", 250, "2.1.5"),
                    (info["forward_chain"]["addresses"][0], 250, "2.1.5"),
                    # RFC 5321 4.5.1: always accepted (test_postmaster)
                    ("Postmaster", 250, "2.1.5")]:
                r = c.cmd("RCPT TO:<%s>" % addr)
                self.assertEqual((r.code, r.enh), (code, enh), "%s -> %s" % (addr, r))
            _, done = c.data(simple_message("validation") + ".\r\n")
            self.assertEqual(done.code, 250, str(done))
            assert_enhanced(self, c.replies)
        m = self.rd.spool_msg(queued_id(done))
        fc = info["forward_chain"]
        self.assertEqual(sorted((a.lower(), h) for a, h in m.rcpt_hops()),
                         sorted([("user00001@dirmx.test", self.rd.user(1)["mailhost"]),
                                 (fc["final"], fc["mailhost"]),
                                 ("postmaster", "dirmx:alerts")]))

    # -- submission sender ---------------------------------------------------
    def test_submission_sender(self):
        u1, u2 = self.rd.user(1), self.rd.user(2)
        for user, sender, code, enh in [
                (u1, u1["mail"], 250, "2.1.0"),
                (u1, u1["aliases"][0], 250, "2.1.0"),
                (u1, u1["aliases"][1].upper(), 250, "2.1.0"),
                (u1, "", 250, "2.1.0"),
                (u1, u2["mail"], 553, "5.7.1"),
                (u1, "shared-box@dirmx.test", 553, "5.7.1"),
                (u1, "someone@gmail.com", 553, "5.7.1"),
                (u1, "user00001@dirmx.test.evil.example", 553, "5.7.1"),
                (u2, "shared-box@dirmx.test", 250, "2.1.0"),
                (u2, u1["mail"], 553, "5.7.1")]:
            with self.rd.login("submission", user=user["uid"]) as c:
                r = c.cmd("MAIL FROM:<%s>" % sender)
                self.assertEqual((r.code, r.enh), (code, enh),
                                 "%s as <%s> -> %s" % (user["uid"], sender, r))
                if code == 250:
                    self.assertEqual(c.cmd("RCPT TO:<far@example.com>").code, 250)
                    _, done = c.data(simple_message("as %s" % sender) + ".\r\n")
                    m = self.rd.spool_msg(queued_id(done))
                    self.assertEqual((m.auth, m.mail_from.lower()), (user["uid"], sender.lower()))
                else:
                    # The session goes on: the right sender is accepted.
                    self.assertEqual(c.cmd("MAIL FROM:<%s>" % user["mail"]).code, 250)

    # -- limits --------------------------------------------------------------
    def test_size_limits(self):
        with self.mx_client() as c:
            self.assertIn("SIZE", c.ext)
            r = c.cmd("MAIL FROM:<s@example.org> SIZE=%d" % (MAX_SIZE + 1))
            self.assertEqual((r.code, r.enh), (552, "5.3.4"), str(r))
            r = c.cmd("MAIL FROM:<s@example.org> SIZE=%d" % (MAX_SIZE // 2))
            self.assertEqual(r.code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % self.rd.user(1)["mail"]).code, 250)
            before = self.rd.spool_count()
            body = ("x" * 78 + "\r\n") * (MAX_SIZE // 80 + 10)
            _, done = c.data(simple_message("big", body=body) + ".\r\n")
            self.assertEqual((done.code, done.enh), (552, "5.3.4"), str(done))
            self.assertEqual(self.rd.spool_count(), before)
            # The session is usable afterwards, and a message just under
            # the limit goes through.
            self.assertEqual(c.cmd("MAIL FROM:<s@example.org>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % self.rd.user(1)["mail"]).code, 250)
            body = ("y" * 78 + "\r\n") * (MAX_SIZE // 80 - 10)
            _, done = c.data(simple_message("fits", body=body) + ".\r\n")
            self.assertEqual((done.code, done.enh), (250, "2.0.0"), str(done))

    def test_bdat_size_limit(self):
        with self.mx_client() as c:
            c.cmd("MAIL FROM:<s@example.org>")
            c.cmd("RCPT TO:<%s>" % self.rd.user(1)["mail"])
            chunk = b"z" * (MAX_SIZE // 2 + 10)
            c.send(b"BDAT %d\r\n" % len(chunk) + chunk + b"BDAT %d LAST\r\n" % len(chunk) + chunk)
            r1, r2 = c.reply(), c.reply()
            self.assertEqual(r1.code, 250)
            self.assertEqual((r2.code, r2.enh), (552, "5.3.4"), str(r2))
            self.assertEqual(c.cmd("NOOP").code, 250)

    def test_recipient_limit(self):
        users = [self.rd.user(i)["mail"] for i in range(MAX_RCPTS + 3)]
        with self.mx_client() as c:
            c.cmd("MAIL FROM:<s@example.org>")
            got = [c.cmd("RCPT TO:<%s>" % a) for a in users]
            self.assertEqual([(r.code, r.enh) for r in got],
                             [(250, "2.1.5")] * MAX_RCPTS + [(452, "4.5.3")] * 3)
            _, done = c.data(simple_message("limit") + ".\r\n")
            self.assertEqual(done.code, 250)
        m = self.rd.spool_msg(queued_id(done))
        self.assertEqual(sorted(r.addr for r in m.rcpts), sorted(users[:MAX_RCPTS]))

    def test_received_headers(self):
        hdr = "".join("Received: from hop%d.example by hop%d.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                      % (i, i + 1) for i in range(MAX_RECEIVED + 1))
        with self.mx_client() as c:
            for n, code, enh in [(MAX_RECEIVED + 1, 554, "5.4.6"), (MAX_RECEIVED, 250, "2.0.0")]:
                lines = hdr.split("\r\n")[:n]
                c.cmd("MAIL FROM:<s@example.org>")
                c.cmd("RCPT TO:<%s>" % self.rd.user(1)["mail"])
                _, done = c.data("\r\n".join(lines) + "\r\n" + simple_message("hops %d" % n) + ".\r\n")
                self.assertEqual((done.code, done.enh), (code, enh), "%d Received: %s" % (n, done))
        m = self.rd.spool_msg(queued_id(done))
        self.assertEqual(m.received_count(), MAX_RECEIVED + 1)  # theirs + ours

    def test_command_line_length(self):
        with self.mx_client() as c:
            # RFC 5321 4.5.3.1.4: 512 octets with CRLF.
            r = c.cmd("NOOP " + "x" * 505)
            self.assertEqual(r.code, 250, "a 512-octet line is legal: %s" % (r,))
            r = c.cmd("NOOP " + "x" * 700)
            self.assertEqual((r.code, r.enh), (500, "5.5.2"), "713-octet command line: %s" % (r,))
            r = c.cmd("HELO " + "h" * 3000)
            self.assertEqual((r.code, r.enh), (500, "5.5.2"), str(r))
            self.assertEqual(c.cmd("NOOP").code, 250)

    def test_error_limit(self):
        with self.mx_client() as c:
            c.send("".join("BOGUS%d\r\n" % i for i in range(12)))
            got = [c.reply() for _ in range(11)]
            self.assertEqual([(r.code, r.enh) for r in got[:10]], [(500, "5.5.2")] * 10)
            # The 11th error is answered, then 421 and the end.
            self.assertEqual((got[10].code, got[10].enh), (500, "5.5.2"))
            r = c.reply()
            self.assertEqual((r.code, r.enh), (421, "4.7.0"), str(r))
            self.assertTrue(c.closed())

    def test_auth_failures_slow_then_421(self):
        with self.rd.client("submission") as c:
            c.ehlo()
            c.starttls()
            c.ehlo()
            times = []
            for i in range(3):
                t0 = time.monotonic()
                r = c.auth_plain(self.rd.user(3)["uid"], "wrong-%d" % i)
                times.append(time.monotonic() - t0)
                self.assertEqual((r.code, r.enh), (535, "5.7.8"), str(r))
            r = c.reply()
            self.assertEqual((r.code, r.enh), (421, "4.7.0"), str(r))
            self.assertTrue(c.closed())
        # authd's delay grows with each failure (250 ms, 500 ms, 1 s...).
        self.assertGreaterEqual(times[0], 0.2, "failed login answered without delay: %r" % times)
        self.assertTrue(times[0] < times[1] < times[2], "delays do not grow: %r" % times)
        self.assertGreaterEqual(sum(times), 1.5, repr(times))
        # Other failures: unknown user, authzid for someone else, LOGIN.
        with self.rd.client("submission") as c:
            c.ehlo()
            c.starttls()
            c.ehlo()
            r = c.auth_plain("no-such-user", PASSWORD)
            self.assertEqual((r.code, r.enh), (535, "5.7.8"), str(r))
            import base64
            tok = base64.b64encode(b"user00002\0user00003\0" + PASSWORD.encode()).decode()
            r = c.cmd("AUTH PLAIN " + tok)
            self.assertEqual((r.code, r.enh), (535, "5.7.8"), str(r))
            r = c.cmd("AUTH PLAIN not-base64!")
            self.assertEqual(r.code // 100, 5, str(r))
            assert_enhanced(self, c.replies)

    # -- directory trouble (these stop and restart slapd/authd) ---------------
    def test_z1_slapd_down_is_4xx(self):
        rd = self.rd
        rd.slapd.stop()
        try:
            with self.mx_client() as c:
                c.cmd("MAIL FROM:<s@example.org>")
                # Addresses not looked up before (nothing cached).
                for addr in (rd.user(15)["mail"], "never-seen@dirmx.test"):
                    r = c.cmd("RCPT TO:<%s>" % addr, timeout=30)
                    self.assertEqual((r.code, r.enh), (451, "4.4.3"), "%s -> %s" % (addr, r))
            with rd.client("submission") as c:
                c.ehlo()
                c.starttls()
                c.ehlo()
                r = c.auth_plain(rd.user(16)["uid"], PASSWORD)
                self.assertEqual(r.code // 100, 4, "AUTH with slapd down: %s" % (r,))
        finally:
            rd.slapd.start()
        ok = wait_for(lambda: self._rcpt_code(rd.user(15)["mail"]) == 250, timeout=20, step=0.5)
        self.assertTrue(ok, "routerd/authd did not recover after slapd came back")

    def _rcpt_code(self, addr):
        try:
            with self.mx_client() as c:
                c.cmd("MAIL FROM:<s@example.org>")
                return c.cmd("RCPT TO:<%s>" % addr).code
        except Exception:
            return None

    def test_z2_authd_down_is_4xx(self):
        rd = self.rd
        rd.stop_authd()
        try:
            with self.mx_client() as c:
                c.cmd("MAIL FROM:<s@example.org>")
                for addr in (rd.user(1)["mail"], "nobody-at-all@dirmx.test", "victim@gmail.com"):
                    r = c.cmd("RCPT TO:<%s>" % addr, timeout=30)
                    self.assertEqual((r.code, r.enh), (451, "4.4.3"), "%s -> %s" % (addr, r))
            with rd.client("submission") as c:
                c.ehlo()
                c.starttls()
                c.ehlo()
                r = c.auth_plain(rd.user(1)["uid"], PASSWORD)
                self.assertEqual((r.code, r.enh), (454, "4.7.0"), str(r))
        finally:
            rd.start_authd()
        ok = wait_for(lambda: self._rcpt_code(rd.user(1)["mail"]) == 250, timeout=20, step=0.5)
        self.assertTrue(ok, "routerd did not reconnect to authd:\n" + rd.log()[-2000:])


if __name__ == "__main__":
    unittest.main()
