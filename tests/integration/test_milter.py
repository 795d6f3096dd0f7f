"""routerd's mail filters (milter): what a filter sees, what it changes,
its verdicts, and its failures.

Real parts: slapd + authd + routerd + recording sinks (deliverytest.py).
The filter here is miltertest.FakeMilter, a small python milter: it is
the only way to make a filter fail on purpose (not running, never
answering, closing in the middle of a message, answering garbage). The
real filters (OpenDKIM, rspamd, clamav-milter) are in
test_milter_filters.py.

One routerd, one listener per filter:
    mx       -> "edit" on a UNIX socket (default_action tempfail)
    down     -> nothing listening (tempfail)
    silent   -> never answers, connect_timeout 1s (tempfail)
    closer   -> closes at the first body chunk (default_action reject)
    garbage  -> HTTP instead of milter (default_action accept)
    lean     -> "lean": steps left out, unanswered, skipped; its own macros
    connrej  -> refuses every connection (554 at SMFIC_CONNECT)
    stall    -> never answers end of message, content_timeout 2s (tempfail)
    editacc  -> the "edit" filter again, with default_action accept
    two      -> "edit2" (another "edit" filter), then "edit"
"""

import os
import re
import smtplib
import socket
import time
import unittest

from deliverytest import DeliveryLab, HOSTNAME, wait_for
from dirmxlab import free_port
from miltertest import FakeMilter, reply, tempfail


class Dialogue:
    """A raw SMTP client: cmd() one command, pipeline() several at once;
    each reply as (code, text of its last line)."""

    def __init__(self, port, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.greeting = self.read()

    def read(self):
        while True:
            line = self.f.readline().decode()
            if not line:
                raise EOFError("connection closed")
            if line[3:4] != "-":
                return int(line[:3]), line[4:].strip()

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.read()

    def pipeline(self, lines):
        self.sock.sendall("".join(ln + "\r\n" for ln in lines).encode())
        return [self.read() for _ in lines]

    def close(self):
        self.f.close()
        self.sock.close()


def message(mail_from, rcpt, subject, tag):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nX-Test-Id: %s\r\n"
            "Message-ID: <%s@test>\r\n\r\nHello.\r\n.\r\n"
            % (mail_from, rcpt, subject, tag, tag))


def attempt(port, mail_from, rcpts, subject):
    """One message, stopping at the first refusal: (code, text, step)
    with step "ehlo", "mail", "rcpt", "data" or "eom"."""
    d = Dialogue(port)
    try:
        code, text = d.cmd("EHLO client.test")
        if code != 250:
            return code, text, "ehlo"
        code, text = d.cmd("MAIL FROM:<%s>" % mail_from)
        if code != 250:
            return code, text, "mail"
        for r in rcpts:
            code, text = d.cmd("RCPT TO:<%s>" % r)
            if code != 250:
                return code, text, "rcpt"
        code, text = d.cmd("DATA")
        if code != 354:
            return code, text, "data"
        d.sock.sendall(message(mail_from, rcpts[0], subject, subject).encode())
        code, text = d.read()
        return code, text, "eom"
    finally:
        d.close()


def send(port, mail_from, rcpts, subject, body="Hello.\r\n", tag=None):
    """One message; the DATA reply as (code, text)."""
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nX-Test-Id: %s\r\n"
           "Message-ID: <%s@test>\r\n\r\n%s"
           % (mail_from, rcpts[0], subject, tag or subject, tag or subject, body))
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test",
                      timeout=60) as s:
        s.ehlo()
        code, resp = s.mail(mail_from)
        assert code == 250, (code, resp)
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, (code, resp)
        code, resp = s.data(msg.encode())
        return code, resp.decode()


class MilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dl = dl = DeliveryLab("milter", start=False)
        try:
            cls.edit = FakeMilter(dl.lab, "edit", unix=dl.lab.path("milter", "edit.sock"))
            cls.silent = FakeMilter(dl.lab, "silent")
            cls.closer = FakeMilter(dl.lab, "closer")
            cls.garbage = FakeMilter(dl.lab, "garbage")
            cls.lean = FakeMilter(dl.lab, "lean")
            cls.connrej = FakeMilter(dl.lab, "connrej")
            cls.stall = FakeMilter(dl.lab, "stall")
            cls.edit2 = FakeMilter(dl.lab, "edit")
            cls.ports = {n: free_port() for n in ("down", "silent", "closer", "garbage",
                                                  "lean", "connrej", "stall", "editacc",
                                                  "two")}
            extra = "milters = edit\n"
            for name in cls.ports:
                extra += ("\n[listener %s]\naddress = 127.0.0.1:%d\nrole = mx\n"
                          "milters = %s\n" % (name, cls.ports[name],
                                               "edit2, edit" if name == "two" else name))
            extra += """
[milter edit]
socket = %s

[milter down]
socket = %s
connect_timeout = 1s

[milter silent]
socket = %s
connect_timeout = 1s
command_timeout = 1s

[milter closer]
socket = %s
default_action = reject

[milter garbage]
socket = %s
default_action = accept

[milter lean]
socket = %s

[milter connrej]
socket = %s

[milter stall]
socket = %s
content_timeout = 2s

[milter editacc]
socket = %s
default_action = accept

[milter edit2]
socket = %s
""" % (cls.edit.socket, FakeMilter.down_socket(), cls.silent.socket,
       cls.closer.socket, cls.garbage.socket, cls.lean.socket, cls.connrej.socket,
       cls.stall.socket, cls.edit.socket, cls.edit2.socket)
            with open(dl.conf, "a") as f:
                f.write(extra)
            dl.start_authd()
            dl.start_routerd()
        except BaseException:
            dl.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    def delivered(self, tag, timeout=30.0):
        out = []

        def found():
            out[:] = [t for t in self.dl.sink_a.delivered() if t.header("X-Test-Id") == tag]
            return out
        wait_for(found, timeout, 0.1)
        return out

    def not_delivered(self, tag):
        # Whatever routerd queued would go out at once: give it a moment.
        time.sleep(1.0)
        self.assertEqual([t for t in self.dl.sink_a.txns()
                          if t.data is not None and
                          (t.header("X-Test-Id") or "").strip() == tag], [])

    def seen(self, milter, tag):
        for m in milter.seen:
            for k, v in m["headers"]:
                if k == "X-Test-Id" and v.strip() == tag:
                    return m
        return None

    # -- what a filter sees and changes --------------------------------------
    def test_edit_headers_macros_and_chunks(self):
        dl = self.dl
        rcpt = dl.user(0)
        body = "".join("line %06d of a long body, to go in several chunks\r\n" % i
                       for i in range(4000))  # ~200 KB
        code, text = send(dl.mx, dl.user(2), [rcpt], "plain one", body=body, tag="edit1")
        self.assertEqual(code, 250, text)
        qid = re.search(r"queued as (\S+)", text).group(1)
        m = self.seen(self.edit, "edit1")
        self.assertIsNotNone(m)
        mac = m["macros"]
        self.assertEqual(mac.get("i"), qid)
        self.assertEqual(mac.get("j"), HOSTNAME)
        self.assertEqual(mac.get("{daemon_name}"), "mx")
        self.assertEqual(mac.get("{client_addr}"), "127.0.0.1")
        self.assertEqual(mac.get("{mail_addr}"), dl.user(2))
        self.assertEqual(mac.get("{rcpt_addr}"), rcpt)
        self.assertNotIn("{auth_authen}", mac)
        self.assertEqual(m["stages"]["M"], ["i", "{mail_addr}"])
        self.assertEqual(m["from"], "<%s>" % dl.user(2))
        self.assertEqual(m["rcpts"], ["<%s>" % rcpt])
        # our Received: first, the client's fields after it, values
        # without the leading space
        self.assertEqual(m["headers"][0][0], "Received")
        self.assertIn(("Subject", "plain one"), m["headers"])
        # the body streamed in chunks of at most 65,535 octets
        self.assertGreater(len(m["chunks"]), 2)
        self.assertTrue(all(n <= 65535 for n in m["chunks"]), m["chunks"])
        self.assertEqual(m["body"], body.encode())
        self.assertEqual(m["steps"][:1], ["O"])
        self.assertIn("E", m["steps"])
        # what is delivered is what the filter made of it
        t = self.delivered("edit1")
        self.assertEqual(len(t), 1)
        self.assertEqual(t[0].header("X-Fake-Filter"), "seen by the fake")
        self.assertEqual(t[0].header("Subject"), "[filtered] plain one")
        self.assertTrue(t[0].data.endswith(body.encode()))

    def test_reject_with_the_filters_reply(self):
        dl = self.dl
        code, text = send(dl.mx, dl.user(2), [dl.user(0)], "please reject", tag="rej1")
        self.assertEqual(code, 550)
        self.assertIn("5.7.1 fake filter says no", text)
        self.not_delivered("rej1")

    def test_tempfail(self):
        dl = self.dl
        code, text = send(dl.mx, dl.user(2), [dl.user(0)], "tempfail me", tag="tf1")
        self.assertEqual(code, 451, text)
        self.not_delivered("tf1")

    def test_discard(self):
        dl = self.dl
        code, text = send(dl.mx, dl.user(2), [dl.user(0)], "discard me", tag="dis1")
        self.assertEqual(code, 250, text)
        self.not_delivered("dis1")
        self.assertTrue([ln for ln in dl.events(event="milter_discard")])

    def test_quarantine_held_in_the_queue(self):
        dl = self.dl
        code, text = send(dl.mx, dl.user(2), [dl.user(0)], "quarantine me", tag="q1")
        self.assertEqual(code, 250, text)
        qid = re.search(r"queued as (\S+)", text).group(1)
        self.not_delivered("q1")
        self.assertIn(qid, dl.queue_ids())
        shown = dl.queue("show", qid)
        self.assertIn("quarantined by milter edit: fake virus found",
                      shown.stdout + dl.queue("list").stdout)
        # released by the admin, it goes
        self.assertEqual(dl.queue("delete", qid).returncode, 0)

    def test_replace_body(self):
        dl = self.dl
        code, text = send(dl.mx, dl.user(2), [dl.user(0)], "replbody", tag="rb1")
        self.assertEqual(code, 250, text)
        t = self.delivered("rb1")
        self.assertTrue(t[0].data.endswith(b"\r\n\r\nThe filter's own body.\r\n"), t[0].data)

    def test_change_sender(self):
        dl = self.dl
        code, text = send(dl.mx, dl.user(2), [dl.user(0)], "from", tag="fr1")
        self.assertEqual(code, 250, text)
        t = self.delivered("fr1")
        self.assertEqual(t[0].mail_from, "changed@dirmx.test")

    def test_change_recipients(self):
        # The recipient the filter adds is looked up in authd like any
        # other: user 5's mailHost is mailbox B (before: routed by the
        # domain's MX until a retry asked authd).
        dl = self.dl
        self.edit.extra_rcpt = dl.user(5)
        code, text = send(dl.mx, dl.user(2), [dl.user(0), dl.user(6)], "rcpt", tag="rc1")
        self.assertEqual(code, 250, text)
        qid = re.search(r"queued as (\S+)", text).group(1)
        t = self.delivered("rc1")
        # the first recipient deleted by the filter, the other delivered
        self.assertEqual(t[0].rcpts, [dl.user(6)])
        self.assertTrue([ln for ln in dl.events(qid, "milter_edit") if "action=+" in ln])
        self.assertTrue([ln for ln in dl.events(qid, "accepted") if "rcpts=2" in ln],
                        dl.events(qid))
        got = []

        def on_b():
            got[:] = [x for x in self.dl.sink_b.delivered() if x.header("X-Test-Id") == "rc1"]
            return got
        self.assertTrue(wait_for(on_b, 30, 0.1), "the added recipient is not on its mailHost")
        self.assertEqual(got[0].rcpts, [dl.user(5)])
        self.assertTrue([ln for ln in dl.events(event="milter_rcpt_lookup")
                         if dl.user(5) in ln and "status=ok" in ln], dl.log()[-3000:])

    def test_negotiated_steps_skip_progress_and_macro_list(self):
        dl = self.dl
        body = "x" * 100 + "\r\n"
        body = body * 2000  # ~200 KB: more than one chunk, but SKIPped
        code, text = send(self.ports["lean"], dl.user(2), [dl.user(0)], "lean one",
                          body=body, tag="lean1")
        self.assertEqual(code, 250, text)
        m = self.seen(self.lean, "lean1")
        self.assertIsNotNone(m)
        self.assertNotIn("H", m["steps"])          # NOHELO
        self.assertEqual(len(m["chunks"]), 1)      # SKIP after the first
        self.assertEqual(m["macros"].get("{mail_addr}"), dl.user(2))
        # its MAIL list replaced Postfix's: {mail_addr} alone; the other
        # stages keep theirs (i with RCPT)
        self.assertEqual(m["stages"]["M"], ["{mail_addr}"])
        self.assertIn("i", m["stages"]["R"])
        t = self.delivered("lean1")
        self.assertEqual(t[0].header("X-Lean-Filter"), "yes")
        self.assertTrue(t[0].data.endswith(body.encode()))

    # -- replies at each step of the dialogue --------------------------------
    def test_step_reject_mail_at_mail(self):
        # The filter's reply to MAIL is the reply to MAIL, before any
        # data; the session and the filter go on with the next sender.
        dl = self.dl
        self.edit.replies[("mail", dl.user(8))] = reply("553 5.7.1 the fake refuses this sender")
        d = Dialogue(dl.mx)
        try:
            self.assertEqual(d.cmd("EHLO client.test")[0], 250)
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % dl.user(8)),
                             (553, "5.7.1 the fake refuses this sender"))
            # no transaction started
            self.assertEqual(d.cmd("RCPT TO:<%s>" % dl.user(0))[0], 503)
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % dl.user(2))[0], 250)
            self.assertEqual(d.cmd("RCPT TO:<%s>" % dl.user(0))[0], 250)
            self.assertEqual(d.cmd("DATA")[0], 354)
            d.sock.sendall(message(dl.user(2), dl.user(0), "after a refused MAIL",
                                   "step-mail1").encode())
            self.assertEqual(d.read()[0], 250)
            self.assertEqual(d.cmd("QUIT")[0], 221)
        finally:
            d.close()
            del self.edit.replies[("mail", dl.user(8))]
        self.assertTrue([ln for ln in dl.events(event="milter_refused")
                         if "step=mail" in ln and "code=553" in ln], dl.log()[-3000:])
        t = self.delivered("step-mail1")
        self.assertEqual(t[0].mail_from, dl.user(2))

    def test_step_refuse_rcpts_pipelined_in_order(self):
        # MAIL, three RCPTs and DATA in one write: the filter refuses the
        # second recipient (its own 550) and tempfails a fourth; the
        # replies come back in order and the others receive the message.
        dl = self.dl
        self.edit.replies[("rcpt", dl.user(10))] = reply("550 5.1.1 the fake refuses this one")
        self.edit.replies[("rcpt", dl.user(14))] = tempfail()
        d = Dialogue(dl.mx)
        try:
            self.assertEqual(d.cmd("EHLO client.test")[0], 250)
            got = d.pipeline(["MAIL FROM:<%s>" % dl.user(2),
                              "RCPT TO:<%s>" % dl.user(0),
                              "RCPT TO:<%s>" % dl.user(10),
                              "RCPT TO:<%s>" % dl.user(12),
                              "RCPT TO:<%s>" % dl.user(14),
                              "DATA"])
            self.assertEqual([c for c, _ in got], [250, 250, 550, 250, 451, 354], got)
            self.assertEqual(got[2][1], "5.1.1 the fake refuses this one")
            self.assertTrue(got[4][1].startswith("4.7.1"), got[4])
            d.sock.sendall(message(dl.user(2), dl.user(0), "pipelined", "step-rcpt1").encode())
            code, text = d.read()
            self.assertEqual(code, 250, text)
            d.cmd("QUIT")
        finally:
            d.close()
            del self.edit.replies[("rcpt", dl.user(10))]
            del self.edit.replies[("rcpt", dl.user(14))]
        t = self.delivered("step-rcpt1")
        self.assertEqual(sorted(r for x in t for r in x.rcpts),
                         sorted([dl.user(0), dl.user(12)]))
        m = self.seen(self.edit, "step-rcpt1")
        self.assertEqual(m["rcpts"], ["<%s>" % a for a in
                                      (dl.user(0), dl.user(10), dl.user(12), dl.user(14))])

    def test_step_reject_helo_refuses_the_session(self):
        dl = self.dl
        self.edit.replies[("helo", "bad.helo.test")] = reply("550 5.7.1 the fake dislikes this HELO")
        d = Dialogue(dl.mx)
        try:
            self.assertEqual(d.cmd("EHLO bad.helo.test"),
                             (550, "5.7.1 the fake dislikes this HELO"))
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % dl.user(2))[0], 550)
            self.assertEqual(d.cmd("NOOP")[0], 250)
            self.assertEqual(d.cmd("QUIT")[0], 221)
        finally:
            d.close()
            del self.edit.replies[("helo", "bad.helo.test")]

    def test_step_reject_connect(self):
        # Refused at connect: every command but QUIT, NOOP and RSET gets
        # the filter's reply, as with Postfix.
        d = Dialogue(self.ports["connrej"])
        try:
            self.assertEqual(d.greeting[0], 220)
            self.assertEqual(d.cmd("EHLO client.test"), (554, "5.7.1 the fake says go away"))
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % self.dl.user(2))[0], 554)
            self.assertEqual(d.cmd("RSET")[0], 250)
            self.assertEqual(d.cmd("QUIT")[0], 221)
        finally:
            d.close()
        self.assertTrue([ln for ln in self.dl.events(event="milter_refused")
                         if "milter=connrej" in ln and "step=connect" in ln])

    def test_step_unknown_command_to_the_filter(self):
        # SMFIC_UNKNOWN: the filter sees the line; our 500 stands unless
        # it refuses with its own reply.
        dl = self.dl
        self.edit.replies[("unknown", "XFILTERME")] = reply("550 5.7.0 the fake knows XFILTERME")
        d = Dialogue(dl.mx)
        try:
            self.assertEqual(d.cmd("EHLO client.test")[0], 250)
            self.assertEqual(d.cmd("XFOO some argument")[0], 500)
            self.assertEqual(d.cmd("XFILTERME now"), (550, "5.7.0 the fake knows XFILTERME"))
            self.assertEqual(d.cmd("QUIT")[0], 221)
        finally:
            d.close()
            del self.edit.replies[("unknown", "XFILTERME")]
        self.assertIn("XFOO some argument", self.edit.unknown)
        self.assertIn("XFILTERME now", self.edit.unknown)

    def test_step_tempfail_at_data(self):
        # A filter's answer to DATA (greylisting at DATA, say) is the
        # reply to the DATA command, before any body; with BDAT, whose
        # chunk follows its command at once, it is the reply to the
        # message.
        dl = self.dl
        self.edit.replies[("data", dl.user(26))] = tempfail()
        d = Dialogue(dl.mx)
        try:
            self.assertEqual(d.cmd("EHLO client.test")[0], 250)
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % dl.user(26))[0], 250)
            self.assertEqual(d.cmd("RCPT TO:<%s>" % dl.user(0))[0], 250)
            code, text = d.cmd("DATA")
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith("4.7.1"), text)
            self.assertEqual(d.cmd("RSET")[0], 250)
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % dl.user(26))[0], 250)
            self.assertEqual(d.cmd("RCPT TO:<%s>" % dl.user(0))[0], 250)
            body = message(dl.user(26), dl.user(0), "bdat", "step-data2")[:-3].encode()
            d.sock.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
            code, text = d.read()
            self.assertEqual(code, 451, text)
            # another sender goes through DATA
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % dl.user(2))[0], 250)
            self.assertEqual(d.cmd("RCPT TO:<%s>" % dl.user(0))[0], 250)
            self.assertEqual(d.cmd("DATA")[0], 354)
            d.sock.sendall(message(dl.user(2), dl.user(0), "data ok", "step-data3").encode())
            self.assertEqual(d.read()[0], 250)
            d.cmd("QUIT")
        finally:
            d.close()
            del self.edit.replies[("data", dl.user(26))]
        self.assertTrue([ln for ln in dl.events(event="milter_refused") if "step=data" in ln])
        self.not_delivered("step-data2")
        self.assertEqual(len(self.delivered("step-data3")), 1)

    def test_step_refused_data_with_the_body_behind_it(self):
        # A client that sent its body right behind a DATA the filter
        # refuses: the body is never read as commands (DESIGN.md
        # invariant 7), the session ends with a synchronization error.
        dl = self.dl
        self.edit.replies[("data", dl.user(28))] = reply("554 5.7.1 the fake refuses DATA")
        d = Dialogue(dl.mx)
        try:
            self.assertEqual(d.cmd("EHLO client.test")[0], 250)
            self.assertEqual(d.cmd("MAIL FROM:<%s>" % dl.user(28))[0], 250)
            self.assertEqual(d.cmd("RCPT TO:<%s>" % dl.user(0))[0], 250)
            d.sock.sendall(b"DATA\r\nMAIL FROM:<x@dirmx.test>\r\nRCPT TO:<%s>\r\n"
                           b"Subject: sneaked\r\n\r\n.\r\n" % dl.user(0).encode())
            self.assertEqual(d.read(), (554, "5.7.1 the fake refuses DATA"))
            code, text = d.read()
            self.assertEqual(code, 554, text)
            self.assertIn("synchronization", text)
        finally:
            d.close()
            del self.edit.replies[("data", dl.user(28))]
        self.assertTrue([ln for ln in dl.events(event="sync_error")])

    def test_step_two_filters_in_order_first_refusal_wins(self):
        # Each RCPT goes to edit2, then edit; a refusal by edit2 is the
        # reply and edit is not asked; edit's refusal comes after edit2
        # agreed.
        dl = self.dl
        self.edit2.replies[("rcpt", dl.user(20))] = reply("550 5.7.1 edit2 says no")
        self.edit.replies[("rcpt", dl.user(22))] = reply("550 5.7.1 edit says no")
        d = Dialogue(self.ports["two"])
        try:
            self.assertEqual(d.cmd("EHLO client.test")[0], 250)
            got = d.pipeline(["MAIL FROM:<%s>" % dl.user(2),
                              "RCPT TO:<%s>" % dl.user(20),
                              "RCPT TO:<%s>" % dl.user(22),
                              "RCPT TO:<%s>" % dl.user(24),
                              "DATA"])
            self.assertEqual(got, [(250, "2.1.0 Ok"), (550, "5.7.1 edit2 says no"),
                                   (550, "5.7.1 edit says no"), (250, "2.1.5 Ok"),
                                   (354, "End data with <CR><LF>.<CR><LF>")])
            d.sock.sendall(message(dl.user(2), dl.user(24), "two filters", "two1").encode())
            self.assertEqual(d.read()[0], 250)
            d.cmd("QUIT")
        finally:
            d.close()
            del self.edit2.replies[("rcpt", dl.user(20))]
            del self.edit.replies[("rcpt", dl.user(22))]
        m2, m1 = self.seen(self.edit2, "two1"), self.seen(self.edit, "two1")
        self.assertEqual(m2["rcpts"], ["<%s>" % a for a in (dl.user(20), dl.user(22),
                                                            dl.user(24))])
        self.assertEqual(m1["rcpts"], ["<%s>" % a for a in (dl.user(22), dl.user(24))])
        t = self.delivered("two1")
        self.assertEqual(t[0].rcpts, [dl.user(24)])
        # both changed the message, edit2's change seen by edit
        self.assertEqual(t[0].header("Subject"), "[filtered] [filtered] two filters")

    # -- failures: the default action, a log line, no hang -----------------
    def fault(self, name, subject, rcpt=None, port=None):
        dl = self.dl
        t0 = time.monotonic()
        code, text, step = attempt(port or self.ports[name], dl.user(2),
                                   [rcpt or dl.user(0)], subject)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 40, "the session hung on a failed filter")
        lines = [ln for ln in dl.events(event="milter_failed") if "milter=%s " % name in ln]
        self.assertTrue(lines, dl.log()[-3000:])
        return code, text, step, lines[-1]

    def test_fault_filter_down(self):
        # Down from the start: its default action refuses the session
        # (every command but QUIT, NOOP, RSET), from EHLO on.
        code, text, step, line = self.fault("down", "fault-down")
        self.assertEqual((code, step), (451, "ehlo"), text)
        self.assertIn("4.7.1", text)
        self.assertIn("action=tempfail", line)
        self.assertIn("step=connect", line)
        self.not_delivered("fault-down")

    def test_fault_filter_silent(self):
        code, text, step, line = self.fault("silent", "fault-silent")
        self.assertEqual((code, step), (451, "ehlo"), text)
        self.assertIn("timeout", line)
        self.not_delivered("fault-silent")

    def test_fault_filter_closes_mid_message(self):
        code, text, step, line = self.fault("closer", "fault-closer")
        self.assertEqual((code, step), (550, "eom"), text)
        self.assertIn("closed", line)
        self.assertIn("step=body", line)
        self.not_delivered("fault-closer")

    def test_fault_filter_dies_between_rcpt_and_data(self):
        # The filter answers RCPT, then closes. default_action tempfail:
        # DATA is refused with 451 (the client keeps the message and
        # retries), no hang.
        dl = self.dl
        self.edit.die_after_rcpt = {dl.user(16)}
        code, text, step, line = self.fault("edit", "fault-die1", rcpt=dl.user(16),
                                            port=dl.mx)
        self.assertEqual((code, step), (451, "data"), text)
        self.assertIn("4.7.1", text)
        self.assertIn("action=tempfail", line)
        self.not_delivered("fault-die1")
        # default_action accept: the message goes on without the filter
        self.edit.die_after_rcpt = {dl.user(18)}
        code, text, step, line = self.fault("editacc", "fault-die2", rcpt=dl.user(18))
        self.edit.die_after_rcpt = set()
        self.assertEqual((code, step), (250, "eom"), text)
        self.assertIn("action=accept", line)
        t = self.delivered("fault-die2")
        self.assertEqual(t[0].rcpts, [dl.user(18)])
        self.assertIsNone(t[0].header("X-Fake-Filter"))

    def test_fault_filter_garbage_accept(self):
        code, text, step, line = self.fault("garbage", "fault-garbage")
        self.assertEqual(code, 250, text)
        self.assertIn("action=accept", line)
        t = self.delivered("fault-garbage")
        self.assertEqual(len(t), 1)
        self.assertIsNone(t[0].header("X-Fake-Filter"))

    def test_client_gone_while_the_filter_works(self):
        # The client sends its message and leaves while the filter
        # (stalled at end of message) is still being asked. The session reads nothing while it
        # waits, so it finds the client gone when the filter's deadline
        # ends the wait: nothing queued, the session ends, routerd goes on
        # (under AddressSanitizer: nothing used after it was freed).
        dl = self.dl
        s = socket.create_connection(("127.0.0.1", self.ports["stall"]), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(("EHLO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                   % (dl.user(2), dl.user(0))).encode())
        while not f.readline().startswith(b"354"):
            pass
        s.sendall(b"Subject: gone\r\nX-Test-Id: gone-away-1\r\n\r\nbye\r\n.\r\n")
        time.sleep(0.2)
        f.close()
        s.close()
        self.assertTrue(wait_for(lambda: [ln for ln in dl.log().splitlines()
                                          if "event=disconnect" in ln or "event=lost" in ln],
                                 20, 0.2))
        time.sleep(1.0)
        self.assertTrue(dl.routerd_alive())
        self.not_delivered("gone-away-1")

    def test_zz_no_leak_or_crash(self):
        self.assertTrue(self.dl.routerd_alive())
        self.assertEqual(self.dl.sanitizer_report(), "")


if __name__ == "__main__":
    unittest.main()
