"""routerd relays what real mail holds (issue 11, item 4):

- lines longer than 998 octets are accepted (up to [routerd]
  max_line_length, 64 KiB) and folded with CR LF SP on the way out, so
  what reaches the next hop has no line over 998 octets and unfolds to
  the original; a line over the hard limit gets 500 5.5.2 naming it;
- SMTPUTF8 is asked of the next hop only when the message needs it
  (RFC 6531 3.4): an all-ASCII message whose client said SMTPUTF8 is
  delivered to a hop without SMTPUTF8, and a message that does need it
  gets a DSN that reaches the sender through hops without SMTPUTF8;
- a U-label recipient domain is looked up (MX, A) and sent in A-label
  form; one that can never be valid is bounced at once with 5.1.2;
- `dirmxctl queue` shows UTF-8 addresses as UTF-8.

Real parts: slapd + ldapdata, authd, dnsmasq (MX for xn--... names,
with query logging), routerd; every next hop is a recording sink of
deliverytest.py, none of which offers SMTPUTF8 or CHUNKING (so DATA and
dot-stuffing are what is tested).
"""

import email
import email.header
import email.policy
import glob
import os
import re
import smtplib
import time
import unittest

from dirmxlab.core import find_program, wait_tcp
from deliverytest import DeliveryLab, Sink, wait_for

ALABEL = "xn--bcher-kva.test"        # bücher.test
ULABEL = "b\u00fccher.test"


def records(dl):
    return [
        ("MX", "plain.test", "mx.plain.test", 10),
        ("MX", "postfix.test", "mx.postfix.test", 10),
        ("A", "mx.postfix.test", dl.net_addr(5)),
        ("A", "mx.plain.test", dl.net_addr(2)),
        ("MX", ALABEL, "mx." + ALABEL, 10),
        ("A", "mx." + ALABEL, dl.net_addr(2)),
        # nothing listens there: mail for it stays queued
        ("MX", "down.test", "mx.down.test", 10),
        ("A", "mx.down.test", dl.net_addr(9)),
    ]


class IntlDeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dl = DeliveryLab("intl", records_fn=records, routerd="""\
retry_min = 1s
retry_max = 2s
""")
        cls.inet = cls.dl.add_sink(Sink("inet", cls.dl.net_addr(2), 25))
        # Postfix's smtp-sink as the MX of postfix.test: it offers neither
        # SMTPUTF8 nor CHUNKING and dumps each transaction (-d).
        lab = cls.dl.lab
        os.chmod(lab.dir, 0o755)                 # smtp-sink runs as nobody
        cls.dumps = lab.path("sinkdump")
        os.makedirs(cls.dumps, exist_ok=True)
        os.chmod(cls.dumps, 0o777)
        proc = lab.spawn("smtp-sink", [find_program("smtp-sink"), "-u", "nobody",
                                       "-d", cls.dumps + "/%M.",
                                       "%s:25" % cls.dl.net_addr(5), "10"])
        wait_tcp(cls.dl.net_addr(5), 25, proc=proc, what="smtp-sink")

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    # -- helpers -----------------------------------------------------------
    def send(self, mail_from, rcpts, data, smtputf8=False):
        """(code, text) of the end of DATA; RCPTs must be accepted."""
        with smtplib.SMTP("127.0.0.1", self.dl.mx, local_hostname="client.test",
                          timeout=30) as s:
            s.ehlo()
            code, resp = s.mail(mail_from, options=["SMTPUTF8"] if smtputf8 else [])
            self.assertEqual(code, 250, resp)
            for r in rcpts:
                code, resp = s.rcpt(r)
                self.assertEqual(code, 250, (r, resp))
            code, resp = s.data(data)
            return code, resp.decode("utf-8", "replace")

    def queued(self, resp):
        m = re.search(r"queued as (\S+)", resp)
        self.assertIsNotNone(m, resp)
        return m.group(1)

    def wait_done(self, qid, timeout=30):
        ok = wait_for(lambda: qid not in self.dl.queue_ids(), timeout, 0.2)
        self.assertTrue(ok, "message %s still queued:\n%s" % (qid, self.dl.queue("show", qid).stdout))

    def by_tag(self, sink, tag):
        return [t for t in sink.delivered() if t.data and ("X-Test-Id: " + tag).encode() in t.data]

    def dsns_to(self, sink, rcpt):
        return [t for t in sink.delivered() if t.rcpts == [rcpt] and t.mail_from == ""]

    @staticmethod
    def msg(tag, body, extra=""):
        return ("From: <sender@dirmx.test>\r\nTo: <x@plain.test>\r\nSubject: %s\r\n"
                "X-Test-Id: %s\r\n%s\r\n%s" % (tag, tag, extra, body)).encode()

    # -- long lines --------------------------------------------------------
    def test_long_lines_are_folded_to_998_and_unfold_intact(self):
        dl = self.dl
        line = "".join(chr(ord("a") + i % 26) for i in range(5000))
        # a long header, long body lines, one starting with "." (stuffing),
        # a line exactly 998 long (left alone), a 64 KiB line (the limit)
        body = ("short\r\n" + line + "\r\n." + line + "\r\n" + "y" * 998 + "\r\n"
                + "z" * 65536 + "\r\nend\r\n")
        subject_tail = "s" * 3000
        data = self.msg("long-1", body, extra="X-Long: " + subject_tail + "\r\n")
        code, resp = self.send(dl.user(1), ["bob@plain.test"], data)
        self.assertEqual(code, 250, resp)
        self.wait_done(self.queued(resp))
        got = wait_for(lambda: self.by_tag(self.inet, "long-1"), 20)
        self.assertTrue(got)
        wire = got[0].data
        for ln in wire.split(b"\r\n"):
            self.assertLessEqual(len(ln), 998, ln[:60])
        # Postfix's way (smtp_line_length_limit): CR LF SP; the header
        # stays one field, the body unfolds to the original.
        msg = email.message_from_bytes(wire, policy=email.policy.compat32)
        self.assertEqual(re.sub(r"\s", "", msg["X-Long"]), subject_tail)
        head, _, rest = wire.partition(b"\r\n\r\n")
        self.assertEqual(rest.replace(b"\r\n ", b""), body.encode())
        # A line over the hard limit is refused, and the reply says why.
        code, resp = self.send(dl.user(1), ["bob@plain.test"],
                               self.msg("long-2", "x" * 65537 + "\r\n"))
        self.assertEqual(code, 500, resp)
        self.assertIn("5.5.2", resp)
        self.assertIn("65536", resp)

    def postfix_dump(self, tag, timeout=20):
        def find():
            for f in glob.glob(self.dumps + "/*"):
                with open(f, "rb") as fh:
                    d = fh.read()
                if ("X-Test-Id: " + tag).encode() in d:
                    return d
            return None
        return wait_for(find, timeout, 0.2)

    def test_postfix_smtp_sink_gets_998_lines_and_no_smtputf8(self):
        dl = self.dl
        line = "." + "q" * 4999
        body = "first\r\n" + line + "\r\n" + line + "\r\nlast\r\n"
        code, resp = self.send(dl.user(11), ["dave@postfix.test"],
                               self.msg("pfx-1", body), smtputf8=True)
        self.assertEqual(code, 250, resp)
        self.wait_done(self.queued(resp))
        dump = self.postfix_dump("pfx-1")
        self.assertTrue(dump, "\n".join(dl.events(event="delivery")[-5:]))
        lines = dump.split(b"\n")
        for ln in lines:
            self.assertLessEqual(len(ln.rstrip(b"\r")), 998, ln[:60])
        mail_args = [ln for ln in lines if ln.startswith(b"X-Mail-Args:")]
        self.assertEqual(len(mail_args), 1, mail_args)
        self.assertNotIn(b"SMTPUTF8", mail_args[0].upper())
        text = dump.replace(b"\r\n", b"\n")
        self.assertEqual(text.replace(b"\n ", b"").count(line.encode()), 2)

    # -- SMTPUTF8 only when needed -----------------------------------------
    def test_ascii_message_with_smtputf8_goes_to_a_hop_without_it(self):
        dl = self.dl
        sender = dl.user(3)                       # odd: sink B
        code, resp = self.send(sender, ["carol@plain.test"],
                               self.msg("ascii-utf8", "plain ASCII\r\n"), smtputf8=True)
        self.assertEqual(code, 250, resp)
        self.wait_done(self.queued(resp))
        got = wait_for(lambda: self.by_tag(self.inet, "ascii-utf8"), 20)
        self.assertTrue(got, "not delivered:\n%s" % "\n".join(dl.events(event="delivery")[-5:]))
        self.assertEqual(got[0].rcpts, ["carol@plain.test"])
        self.assertNotIn("SMTPUTF8", got[0].mail_line.upper())
        time.sleep(1.0)
        self.assertEqual(self.dsns_to(dl.sink_b, sender), [])

    def test_utf8_address_to_a_hop_without_smtputf8_gets_a_dsn_that_arrives(self):
        dl = self.dl
        sender = dl.user(4)                       # even: sink A, no SMTPUTF8
        rcpt = "j\u00f6rg@plain.test"
        other = dl.user(6)                        # even: sink A, ASCII
        code, resp = self.send(sender, [rcpt, other], self.msg("utf8-rcpt", "hi\r\n"),
                               smtputf8=True)
        self.assertEqual(code, 250, resp)
        self.wait_done(self.queued(resp))
        self.assertEqual(self.by_tag(self.inet, "utf8-rcpt"), [])
        # Only the transaction with the UTF-8 mailbox needed SMTPUTF8.
        mine = [t for t in self.by_tag(dl.sink_a, "utf8-rcpt") if t.mail_from]
        self.assertEqual([t.rcpts for t in mine], [[other]])
        self.assertNotIn("SMTPUTF8", mine[0].mail_line.upper())
        dsn = wait_for(lambda: self.dsns_to(dl.sink_a, sender), 20)
        self.assertTrue(dsn, "no DSN reached the sender:\n%s" % "\n".join(
            dl.events(event="delivery")[-6:]))
        self.assertNotIn("SMTPUTF8", dsn[0].mail_line.upper())
        head, _, _ = dsn[0].data.partition(b"\r\n\r\n")
        self.assertTrue(all(b < 0x80 for b in head), head)
        msg = email.message_from_bytes(dsn[0].data, policy=email.policy.compat32)
        types = [p.get_content_type() for p in msg.get_payload()]
        self.assertEqual(types[1], "message/global-delivery-status", types)
        status = msg.get_payload()[1].as_bytes()
        self.assertIn(b"Status: 5.6.7", status)
        self.assertIn(("utf-8;" + rcpt).encode(), status)

    def test_sender_with_ulabel_domain_gets_its_dsn_in_alabel_form(self):
        dl = self.dl
        sender = "anna@" + ULABEL                 # MX -> the inet sink
        rcpt = "j\u00f6rg@plain.test"
        code, resp = self.send(sender, [rcpt], self.msg("utf8-sender", "hi\r\n"),
                               smtputf8=True)
        self.assertEqual(code, 250, resp)
        self.wait_done(self.queued(resp))
        dsn = wait_for(lambda: self.dsns_to(self.inet, "anna@" + ALABEL), 20)
        self.assertTrue(dsn, "no DSN for %s:\n%s" % (sender, "\n".join(dl.events()[-12:])))
        msg = email.message_from_bytes(dsn[0].data, policy=email.policy.compat32)
        self.assertIn("<anna@%s>" % ALABEL, msg["To"])
        name = email.header.decode_header(msg["To"].split("<")[0].strip())
        self.assertEqual(name[0][0].decode(name[0][1]), sender)

    # -- internationalized domains -----------------------------------------
    def test_ulabel_domain_is_looked_up_and_sent_as_alabels(self):
        dl = self.dl
        code, resp = self.send(dl.user(5), ["bob@" + ULABEL],
                               self.msg("idn-1", "hi\r\n"), smtputf8=True)
        self.assertEqual(code, 250, resp)
        self.wait_done(self.queued(resp))
        got = wait_for(lambda: self.by_tag(self.inet, "idn-1"), 20)
        self.assertTrue(got, "\n".join(dl.events()[-10:]))
        self.assertEqual(got[0].rcpts, ["bob@" + ALABEL])
        self.assertNotIn("SMTPUTF8", got[0].mail_line.upper())
        dns_log = dl.lab.log_text("dnsmasq")
        self.assertIn("query[MX] %s " % ALABEL, dns_log)

    def test_domain_that_can_never_be_valid_bounces_at_once(self):
        dl = self.dl
        sender = dl.user(7)                       # odd: sink B
        # Both pass the SMTP address syntax: a DISALLOWED code point, and
        # a 63-octet U-label whose A-label would be longer than 63.
        bad = ["bob@\u2603.test",
               "bob@" + "".join(chr(0x4e00 + i * 997 % 20000) for i in range(21)) + ".test"]
        code, resp = self.send(sender, bad, self.msg("idn-bad", "hi\r\n"),
                               smtputf8=True)
        self.assertEqual(code, 250, resp)
        t0 = time.monotonic()
        self.wait_done(self.queued(resp), timeout=15)
        dsn = wait_for(lambda: self.dsns_to(dl.sink_b, sender), 15)
        self.assertTrue(dsn, "no DSN:\n%s" % "\n".join(dl.events()[-10:]))
        self.assertLess(time.monotonic() - t0, 15)
        self.assertEqual(dsn[0].data.count(b"Status: 5.1.2"), 2, dsn[0].data)

    # -- the queue tool ------------------------------------------------------
    def test_queue_tool_shows_utf8(self):
        dl = self.dl
        rcpt = "j\u00f6rg@down.test"
        code, resp = self.send(dl.user(9), [rcpt], self.msg("q-utf8", "hi\r\n"),
                               smtputf8=True)
        self.assertEqual(code, 250, resp)
        qid = self.queued(resp)
        r = dl.queue("show", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(rcpt, r.stdout)
        self.assertNotIn("\\xc3", r.stdout)
        dl.queue("delete", qid)


if __name__ == "__main__":
    unittest.main()
