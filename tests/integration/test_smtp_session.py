"""routerd end to end: full SMTP sessions with real clients.

What is proved, against slapd + authd + routerd from the build tree:
  - swaks and Python's smtplib complete a session on each listener: mx
    (plain and STARTTLS), submission (STARTTLS + AUTH PLAIN and LOGIN),
    submissions (implicit TLS + AUTH); the lab CA verifies the server;
  - an accepted message is in the spool with the right envelope: sender,
    recipients with the next hops the directory gave (group expansion
    included, ORCPT kept), the authenticated user, the client address,
    and a Received: header naming the protocol (ESMTP/ESMTPS/ESMTPSA);
  - pipelining: EHLO/MAIL/RCPT/RCPT/DATA in one write, replies in order;
  - commands pipelined after STARTTLS are discarded (RFC 3207 5);
  - BDAT (RFC 3030): several chunks then LAST, pipelined, stored byte for
    byte (no dot-unstuffing of chunk data);
  - SMTPUTF8: a UTF-8 sender with SMTPUTF8 to a local user is accepted and
    flagged in the envelope, a UTF-8 local part the directory does not
    hold is 550 5.1.1, a UTF-8 address without SMTPUTF8 is 553 5.6.7;
  - the command table end to end (sequence errors, VRFY, EXPN, HELP...),
    and every reply carries an enhanced status code.
"""

import base64
import re
import smtplib
import ssl
import time
import unittest

from smtptest import (HOSTNAME, PASSWORD, SmtpLab, assert_enhanced, queued_id,
                      simple_message)


class SmtpSessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rd = SmtpLab("smtp-session")

    @classmethod
    def tearDownClass(cls):
        cls.rd.close()

    def setUp(self):
        self.assertTrue(self.rd.routerd_alive(), "routerd died:\n" + self.rd.log()[-3000:])

    # -- helpers -----------------------------------------------------------
    def msg(self, qid):
        self.assertIsNotNone(qid, "no queue id in the reply")
        self.assertIn(qid, self.rd.spool_ids(), "acknowledged message not in q/")
        return self.rd.spool_msg(qid)

    def assert_received(self, m, proto, helo):
        head = m.headers()
        # Over TLS, Postfix's "(using TLSv1.3 with cipher ...)" line comes
        # between (test_tls checks it).
        tls = r"\t\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\)\r\n"
        self.assertRegex(head, r"^Received: from %s \(\[127\.0\.0\.1\]\)\r\n%s\tby %s \(dirmx\) "
                         r"with %s id %s"
                         % (re.escape(helo), tls if "S" in proto[4:] else "",
                            re.escape(HOSTNAME), proto, m.id))
        # size= counts the message as the client sent it; the stored data
        # also holds this Received: field.
        self.assertEqual(m.size, len(m.client_data()), "envelope size vs. data")

    def swaks_ok(self, r):
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-1000:])
        ids = [ln.split("queued as ")[1].strip() for ln in r.stdout.splitlines()
               if "queued as" in ln]
        self.assertEqual(len(ids), 1, r.stdout[-2000:])
        return ids[0]

    # -- swaks -------------------------------------------------------------
    def test_swaks_mx_plain(self):
        rd, u = self.rd, self.rd.user(3)
        r = rd.swaks("--port", str(rd.mx), "--to", u["mail"], "--from", "someone@example.org",
                     "--header", "Subject: swaks mx")
        m = self.msg(self.swaks_ok(r))
        self.assertEqual(m.mail_from, "someone@example.org")
        self.assertEqual(m.rcpt_hops(), [(u["mail"], u["mailhost"])])
        self.assertEqual((m.auth, m.client, m.helo), ("", "127.0.0.1", "swaks.example"))
        self.assertEqual(m.rcpts[0].state, "pending")
        self.assert_received(m, "ESMTP", "swaks.example")
        self.assertIn("Subject: swaks mx", m.headers())

    def test_swaks_mx_starttls(self):
        rd, u = self.rd, self.rd.user(4)
        r = rd.swaks("--port", str(rd.mx), "--to", u["aliases"][0], "--from", "a@example.org",
                     "--tls", "--tls-verify", "--tls-ca-path", rd.ca.cert)
        self.assertIn("TLS started", r.stdout)
        m = self.msg(self.swaks_ok(r))
        # The alias resolves to the owner's mailbox; the alias is the ORCPT.
        self.assertEqual(m.rcpt_hops(), [(u["aliases"][0], u["mailhost"])])
        self.assert_received(m, "ESMTPS", "swaks.example")

    def test_swaks_submission_auth_plain_and_login(self):
        rd, u = self.rd, self.rd.user(5)
        for mech in ("PLAIN", "LOGIN"):
            r = rd.swaks("--port", str(rd.sub), "--to", "friend@example.org", "--from", u["mail"],
                         "--tls", "--tls-verify", "--tls-ca-path", rd.ca.cert, "--auth", mech,
                         "--auth-user", u["uid"], "--auth-password", PASSWORD)
            self.assertIn("235 2.7.0", r.stdout)
            m = self.msg(self.swaks_ok(r))
            self.assertEqual(m.auth, u["uid"])
            self.assertEqual(m.mail_from, u["mail"])
            self.assertEqual(m.rcpt_hops(), [("friend@example.org", "external")])
            self.assert_received(m, "ESMTPSA", "swaks.example")

    def test_swaks_submissions_implicit_tls(self):
        rd, u = self.rd, self.rd.user(6)
        r = rd.swaks("--port", str(rd.subs), "--tlsc", "--tls-verify", "--tls-ca-path", rd.ca.cert,
                     "--to", "x@example.net", "--from", u["aliases"][1],
                     "--auth", "LOGIN", "--auth-user", u["uid"], "--auth-password", PASSWORD)
        m = self.msg(self.swaks_ok(r))
        self.assertEqual(m.auth, u["uid"])
        # example.net is a route domain in the directory.
        self.assertEqual(m.rcpt_hops(), [("x@example.net", "[mx.example.net]:25")])
        self.assert_received(m, "ESMTPSA", "swaks.example")

    # -- smtplib -----------------------------------------------------------
    def test_smtplib_mx_group_and_unknown(self):
        rd = self.rd
        g = rd.info["groups"]["team-a"]
        with smtplib.SMTP("127.0.0.1", rd.mx, local_hostname="py.example", timeout=20) as s:
            code, _ = s.ehlo()
            self.assertEqual(code, 250)
            for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8",
                        "chunking", "dsn", "starttls"):
                self.assertTrue(s.has_extn(ext), ext)
            self.assertFalse(s.has_extn("auth"), "AUTH offered on the MX listener")
            refused = s.sendmail("py@example.org", [g["mail"], "nobody-here@dirmx.test"],
                                 simple_message("smtplib group"))
        self.assertEqual(refused, {"nobody-here@dirmx.test": (
            550, b"5.1.1 <nobody-here@dirmx.test>: Recipient address rejected: User unknown")})
        m = [x for x in rd.spool_msgs().values() if "smtplib group" in x.headers()]
        self.assertEqual(len(m), 1)
        m = m[0]
        hops = {x["mail"]: x["mailhost"] for x in rd.info["users"]}
        self.assertEqual(m.rcpt_hops(), sorted((a, hops[a]) for a in g["expands_to"]))
        self.assertEqual({r.orcpt for r in m.rcpts}, {g["mail"]})
        self.assert_received(m, "ESMTP", "py.example")
        self.assertIn("\r\n\tfor <%s>;" % g["mail"], m.headers())

    def test_smtplib_submission_starttls_login(self):
        rd, u = self.rd, self.rd.user(7)
        ctx = ssl.create_default_context(cafile=rd.ca.cert)
        with smtplib.SMTP("127.0.0.1", rd.sub, local_hostname="py.example", timeout=20) as s:
            s.ehlo()
            self.assertFalse(s.has_extn("auth"), "AUTH offered before TLS")
            code, resp = s.starttls(context=ctx)  # the cert has IP 127.0.0.1
            self.assertEqual((code, resp), (220, b"2.0.0 Ready to start TLS"))
            s.ehlo()
            self.assertIn("LOGIN", s.esmtp_features.get("auth", "").split())
            self.assertIn("PLAIN", s.esmtp_features.get("auth", "").split())
            s.login(u["uid"], PASSWORD)
            s.sendmail(u["mail"], ["far@example.com", rd.user(8)["mail"]],
                       simple_message("smtplib sub"))
        m = [x for x in rd.spool_msgs().values() if "smtplib sub" in x.headers()][0]
        self.assertEqual(m.auth, u["uid"])
        self.assertEqual(m.rcpt_hops(), sorted([("far@example.com", "external"),
                                                (rd.user(8)["mail"], rd.user(8)["mailhost"])]))

    def test_smtplib_submissions(self):
        rd, u = self.rd, self.rd.user(9)
        ctx = ssl.create_default_context(cafile=rd.ca.cert)
        with smtplib.SMTP_SSL("127.0.0.1", rd.subs, local_hostname="py.example", timeout=20,
                              context=ctx) as s:
            s.ehlo()
            s.login(u["uid"], PASSWORD)
            s.sendmail("", ["bounce-target@example.org"], simple_message("null sender"))
        m = [x for x in rd.spool_msgs().values() if "null sender" in x.headers()][0]
        self.assertEqual((m.mail_from, m.auth), ("", u["uid"]))

    # -- pipelining --------------------------------------------------------
    def test_pipelining_one_write(self):
        rd = self.rd
        u1, u2 = rd.user(10), rd.user(11)
        with rd.client("mx") as c:
            c.send("EHLO pipe.example\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<%s>\r\n"
                   "RCPT TO:<unknown-pipe@dirmx.test>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                   % (u1["mail"], u2["mail"]))
            got = [c.reply() for _ in range(6)]
            self.assertEqual([(r.code, r.enh) for r in got],
                             [(250, None), (250, "2.1.0"), (250, "2.1.5"), (550, "5.1.1"),
                              (250, "2.1.5"), (354, None)], [str(r) for r in got])
            self.assertIn("PIPELINING", got[0].lines)
            c.send(simple_message("pipelined") + ".\r\nQUIT\r\n")
            done, bye = c.reply(), c.reply()
            self.assertEqual((done.code, done.enh, bye.code, bye.enh), (250, "2.0.0", 221, "2.0.0"))
            assert_enhanced(self, c.replies)
        m = self.msg(queued_id(done))
        self.assertEqual(m.rcpt_hops(), sorted([(u1["mail"], u1["mailhost"]),
                                                (u2["mail"], u2["mailhost"])]))
        self.assertEqual(m.helo, "pipe.example")

    def test_starttls_drops_pipelined_commands(self):
        rd = self.rd
        with rd.client("mx") as c:
            c.ehlo()
            c.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
            self.assertEqual(c.reply().code, 220)
            c.buf = b""
            c.tls()
            # After TLS the session starts over: no reply to the injected
            # MAIL, and MAIL now needs a new EHLO.
            r = c.cmd("MAIL FROM:<a@example.org>")
            self.assertEqual((r.code, r.enh), (503, "5.5.1"), str(r))
            r = c.cmd("EHLO again.example")
            self.assertEqual(r.code, 250)
            self.assertNotIn("STARTTLS", r.lines)
            self.assertEqual(c.cmd("STARTTLS").code, 503)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
            self.assertEqual(c.cmd("QUIT").code, 221)

    # -- BDAT --------------------------------------------------------------
    def test_bdat_chunks(self):
        rd, u = self.rd, self.rd.user(12)
        chunks = [b"Subject: bdat\r\n\r\n", b"line one\r\n.\r\n", b"..dots stay\r\n",
                  b"\xc3\xa9 8bit\r\n"]
        with rd.client("mx") as c:
            c.ehlo()
            self.assertIn("CHUNKING", c.ext)
            self.assertEqual(c.cmd("MAIL FROM:<b@example.org> BODY=8BITMIME").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % u["mail"]).code, 250)
            total = 0
            for ch in chunks[:2]:
                c.send(b"BDAT %d\r\n" % len(ch) + ch)
                total += len(ch)
                r = c.reply()
                self.assertEqual((r.code, r.enh), (250, "2.0.0"), str(r))
            # A NOOP between chunks is allowed, MAIL is not.
            self.assertEqual(c.cmd("NOOP").code, 250)
            r = c.cmd("MAIL FROM:<x@example.org>")
            self.assertEqual((r.code, r.enh), (503, "5.5.1"))
            # The last two chunks pipelined in one write, then LAST.
            c.send(b"".join(b"BDAT %d\r\n" % len(ch) + ch for ch in chunks[2:]) + b"BDAT 0 LAST\r\n")
            r1, r2, r3 = c.reply(), c.reply(), c.reply()
            self.assertEqual([r1.code, r2.code], [250, 250])
            self.assertEqual((r3.code, r3.enh), (250, "2.0.0"))
            qid = queued_id(r3)
            assert_enhanced(self, c.replies)
        m = self.msg(qid)
        self.assertEqual(m.client_data(), b"".join(chunks))
        self.assertEqual(m.body, "8bitmime")

    def test_bdat_last_in_one(self):
        rd, u = self.rd, self.rd.user(13)
        data = b"Subject: one chunk\r\n\r\nbody\r\n"
        with rd.client("mx") as c:
            c.send(b"EHLO b.example\r\nMAIL FROM:<b@example.org>\r\nRCPT TO:<%s>\r\n"
                   b"BDAT %d LAST\r\n" % (u["mail"].encode(), len(data)) + data)
            codes = [c.reply().code for _ in range(4)]
            self.assertEqual(codes[:3], [250, 250, 250])
            self.assertEqual(codes[3], 250)
            self.assertIsNotNone(queued_id(c.replies[-1]))
            # BDAT without a transaction: refused once its chunk is read
            c.send(b"BDAT 3 LAST\r\nabc")
            r = c.reply()
            self.assertEqual((r.code, r.enh), (503, "5.5.1"))

    # -- SMTPUTF8 ----------------------------------------------------------
    def test_smtputf8(self):
        rd, u = self.rd, self.rd.user(14)
        with rd.client("mx") as c:
            c.ehlo()
            self.assertIn("SMTPUTF8", c.ext)
            r = c.cmd("MAIL FROM:<j\u00fcrgen@b\u00fccher.example>")
            self.assertEqual((r.code, r.enh), (553, "5.6.7"), str(r))
            self.assertEqual(c.cmd("MAIL FROM:<plain@example.org>").code, 250)
            r = c.cmd("RCPT TO:<j\u00fcrgen@dirmx.test>")
            self.assertEqual((r.code, r.enh), (553, "5.6.7"), str(r))
            self.assertEqual(c.cmd("RSET").code, 250)
            r = c.cmd("MAIL FROM:<j\u00fcrgen@b\u00fccher.example> SMTPUTF8")
            self.assertEqual((r.code, r.enh), (250, "2.1.0"), str(r))
            # No directory object holds a UTF-8 local part (mail is IA5).
            r = c.cmd("RCPT TO:<\u00e9l\u00e8ve@dirmx.test>")
            self.assertEqual((r.code, r.enh), (550, "5.1.1"), str(r))
            self.assertEqual(c.cmd("RCPT TO:<%s>" % u["mail"]).code, 250)
            _, done = c.data("Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: j\u00fcrgen@b\u00fccher.example"
                             "\r\n\r\nHall\u00f6\r\n.\r\n")
            self.assertEqual((done.code, done.enh), (250, "2.0.0"), str(done))
            assert_enhanced(self, c.replies)
        m = self.msg(queued_id(done))
        self.assertTrue(m.smtputf8)
        self.assertEqual(m.mail_from, "j\u00fcrgen@b\u00fccher.example")
        self.assertEqual(m.rcpt_hops(), [(u["mail"], u["mailhost"])])
        self.assertIn("Hall\u00f6".encode(), m.data)

    # -- the command table, end to end --------------------------------------
    def test_command_sequence_mx(self):
        rd = self.rd
        c = rd.client("mx")
        self.addCleanup(lambda: c.close())
        if True:
            want = [
                ("MAIL FROM:<a@example.org>", 503, "5.5.1"),  # before HELO
                ("RCPT TO:<%s>" % rd.user(1)["mail"], 503, "5.5.1"),
                ("DATA", 503, "5.5.1"),
                ("HELO old.example", 250, None),
                ("AUTH PLAIN", 503, "5.5.1"),                 # HELO, not EHLO
                ("STARTTLS", 503, "5.5.1"),
                ("EHLO new.example", 250, None),
                ("AUTH PLAIN AHVAAHA=", 502, "5.5.1"),        # not on MX
                ("MAIL FROM:<a@example.org>", 250, "2.1.0"),
                ("DATA", 554, "5.5.1"),                       # no recipient yet
                ("MAIL FROM:<b@example.org>", 503, "5.5.1"),  # nested
                ("STARTTLS", 503, "5.5.1"),                   # inside a transaction
                ("RCPT TO:<%s>" % rd.user(1)["mail"], 250, "2.1.5"),
                ("RSET", 250, "2.0.0"),
                ("DATA", 503, "5.5.1"),
                ("NOOP", 250, "2.0.0"),
                ("VRFY postmaster", 252, "2.5.2"),
                ("EXPN staff", 502, "5.5.1"),
                ("HELP", 214, "2.0.0"),
                ("DATA now", 501, "5.5.4"),                   # syntax first
                ("XYZZY", 500, "5.5.2"),
                ("QUIT", 221, "2.0.0"),
            ]
            # max_errors (10) 5xx replies end a session: split the list.
            for i, (line, code, enh) in enumerate(want):
                if i in (7, 15):
                    c.close()
                    c = rd.client("mx")
                    c.ehlo()
                r = c.cmd(line)
                self.assertEqual((r.code, r.enh), (code, enh), "%s -> %s" % (line, r))
                assert_enhanced(self, c.replies)
            self.assertTrue(c.closed())

    def test_command_sequence_submission(self):
        rd = self.rd
        with rd.client("submission") as c:
            r = c.ehlo()
            self.assertIn("STARTTLS", r.lines)
            self.assertFalse([x for x in r.lines if x.startswith("AUTH")])
            for line, code, enh in [
                    ("AUTH PLAIN AHVzZXIwMDAwMQB4", 538, "5.7.11"),  # not before TLS
                    ("MAIL FROM:<%s>" % rd.user(1)["mail"], 530, "5.7.0"),
                    ("STARTTLS now", 501, "5.5.4")]:
                r = c.cmd(line)
                self.assertEqual((r.code, r.enh), (code, enh), "%s -> %s" % (line, r))
            c.starttls()
            r = c.cmd("AUTH PLAIN AHVzZXIwMDAwMQB4")
            self.assertEqual((r.code, r.enh), (503, "5.5.1"), "AUTH before the new EHLO: %s" % (r,))
            c.ehlo()
            r = c.cmd("MAIL FROM:<%s>" % rd.user(1)["mail"])
            self.assertEqual((r.code, r.enh), (530, "5.7.0"), str(r))
            r = c.cmd("AUTH CRAM-MD5")
            self.assertEqual((r.code, r.enh), (504, "5.5.4"), str(r))
            r = c.cmd("AUTH LOGIN")
            self.assertEqual(r.code, 334)
            self.assertEqual(base64.b64decode(r.lines[0]), b"Username:")
            r = c.cmd("*")
            self.assertEqual((r.code, r.enh), (501, "5.7.0"), str(r))
            r = c.cmd("AUTH LOGIN " + base64.b64encode(rd.user(1)["uid"].encode()).decode())
            self.assertEqual(base64.b64decode(r.lines[0]), b"Password:")
            r = c.cmd(base64.b64encode(PASSWORD.encode()).decode())
            self.assertEqual((r.code, r.enh), (235, "2.7.0"), str(r))
            r = c.cmd("AUTH PLAIN")
            self.assertEqual((r.code, r.enh), (503, "5.5.1"), str(r))
            r = c.ehlo()
            self.assertFalse([x for x in r.lines if x.startswith("AUTH")],
                             "AUTH offered again after login")
            self.assertEqual(c.cmd("QUIT").code, 221)
            assert_enhanced(self, c.replies)

    def test_accepted_log_line(self):
        """What an admin reads: size, Message-ID, TLS and the user."""
        rd, u = self.rd, self.rd.user(1)
        with rd.login() as c:
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % u["mail"]).code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % rd.user(2)["mail"]).code, 250)
            body = simple_message("logged", extra_headers="Message-ID: <log-1@client.example>\r\n")
            _, done = c.data(body + ".\r\n")
            qid = queued_id(done)
        # routerd writes a round's log lines when the round ends (log.h):
        # the reply may be read first
        def accepted():
            return [ln for ln in rd.log().splitlines()
                    if "event=accepted" in ln and qid in ln]
        deadline = time.monotonic() + 10
        while not accepted() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(accepted(), rd.log()[-3000:])
        line = accepted()[0]
        self.assertRegex(line, r" size=\d+ ")
        self.assertIn('msgid="<log-1@client.example>"', line)
        self.assertIn("user=%s" % u["uid"], line)
        self.assertRegex(line, r'tls="\(?TLS1\.[23]')


if __name__ == "__main__":
    unittest.main()
