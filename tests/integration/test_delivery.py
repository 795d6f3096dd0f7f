"""routerd delivers: per-recipient next hops, one transaction per hop,
MX (null MX, a refusing first MX), forwards to the outside, per-recipient
5xx with one RFC 3464 DSN to the sender, 4xx retried, and the bounce
rules (never to <>, a failed bounce to the postmaster once, then stop).

Real parts: slapd + ldapdata (users' mailHost = two recording SMTP sinks
on 127.0.0.1, see deliverytest.py), authd, dnsmasq with MX records,
routerd; "the Internet" is recording sinks on other loopback addresses,
port 25.
"""

import os
import re
import time
import unittest
import zlib

from deliverytest import DeliveryLab, HOSTNAME, Sink, parse_dsn, wait_for

POSTMASTER = "user00020@dirmx.test"   # even: lives on sink A


def records(dl):
    return [
        # the outside world
        ("MX", "partner.test", "mx.partner.test", 10),
        ("A", "mx.partner.test", dl.net_addr(2)),
        ("MX", "outside.test", "mx.outside.test", 10),
        ("A", "mx.outside.test", dl.net_addr(2)),
        # RFC 7505 null MX
        ("MX", "nullmx.test", ".", 0),
        # two MX hosts: the preferred one refuses connections
        ("MX", "twomx.test", "mx1.twomx.test", 10),
        ("MX", "twomx.test", "mx2.twomx.test", 20),
        ("A", "mx1.twomx.test", dl.net_addr(3)),
        ("A", "mx2.twomx.test", dl.net_addr(4)),
    ]


class DeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dl = DeliveryLab("delivery", records_fn=records, routerd="""\
retry_min = 1s
retry_max = 2s
postmaster = %s
""" % POSTMASTER)
        dl = cls.dl
        cls.A, cls.B = dl.sink_a, dl.sink_b
        # "The Internet": mx.partner.test / mx.outside.test, and the second
        # MX of twomx.test. Nothing listens on net_addr(3):25.
        cls.inet = dl.add_sink(Sink("inet", dl.net_addr(2), 25))
        cls.mx2 = dl.add_sink(Sink("mx2", dl.net_addr(4), 25))

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    def by_tag(self, sink, tag):
        return [t for t in sink.delivered() if t.header("X-Test-Id") == tag]

    def dsns_to(self, sink, rcpt):
        return [t for t in sink.delivered() if t.rcpts == [rcpt] and t.mail_from == ""]

    def wait_done(self, qid, timeout=30):
        ok = wait_for(lambda: qid not in self.dl.queue_ids(), timeout, 0.2)
        self.assertTrue(ok, "message %s still queued:\n%s" % (qid, self.dl.queue("show", qid).stdout))

    # -- routing ---------------------------------------------------------
    def test_each_recipient_reaches_its_mailbox_server(self):
        dl = self.dl
        u = dl.user
        qid = dl.send(u(1), [u(2), u(3), u(4), u(5)], tag="route-1")
        self.wait_done(qid)
        a, b = self.by_tag(self.A, "route-1"), self.by_tag(self.B, "route-1")
        # One transaction per next hop, carrying exactly its recipients.
        self.assertEqual(len(a), 1, a)
        self.assertEqual(len(b), 1, b)
        self.assertEqual(sorted(a[0].rcpts), [u(2), u(4)])
        self.assertEqual(sorted(b[0].rcpts), [u(3), u(5)])
        self.assertEqual(a[0].mail_from, u(1))
        self.assertEqual(b[0].mail_from, u(1))
        self.assertEqual(self.by_tag(self.inet, "route-1"), [])
        # The message carries our Received: field, and only one was added.
        self.assertTrue(a[0].data.startswith(b"Received: "), a[0].data[:200])
        self.assertIn(HOSTNAME.encode(), a[0].data.split(b"\r\n\r\n")[0])
        self.assertEqual(dl.spool_ids().count(qid), 0)
        self.assertEqual(dl.events(qid, "done").__len__(), 1)

    def test_group_fans_out_one_transaction_per_hop(self):
        dl = self.dl
        nested = dl.info["nested"]
        members = dl.info["groups"]["all-teams"]["expands_to"]
        qid = dl.send(dl.user(7), [nested], tag="group-1")
        self.wait_done(qid)
        exp_a = sorted(m for m in members if int(m[4:9]) % 2 == 0)
        exp_b = sorted(m for m in members if int(m[4:9]) % 2 == 1)
        self.assertTrue(exp_a and exp_b, members)
        a, b = self.by_tag(self.A, "group-1"), self.by_tag(self.B, "group-1")
        self.assertEqual([sorted(t.rcpts) for t in a], [exp_a])
        self.assertEqual([sorted(t.rcpts) for t in b], [exp_b])

    def test_large_group_one_transaction_per_hop_nobody_twice(self):
        # The whole group (every user, on A or B, and the external
        # contacts, by MX): one transaction per next hop, each with
        # exactly its members, nobody twice. routerd queues the envelope
        # it committed and groups it by hash (queue_group.c); this is
        # that path end to end. (Other tests leave some addresses refused
        # at the sinks: a refused RCPT still was this hop's recipient.)
        dl = self.dl
        big = dl.info["groups"]["big"]
        members = big["expands_to"]
        qid = dl.send(dl.user(28), [big["mail"]], tag="big-1")
        self.wait_done(qid)
        exp_a = sorted(m for m in members if m.startswith("user") and int(m[4:9]) % 2 == 0)
        exp_b = sorted(m for m in members if m.startswith("user") and int(m[4:9]) % 2 == 1)
        exp_out = sorted(m for m in members if m.endswith("@partner.test"))
        self.assertTrue(exp_a and exp_b and exp_out, members)
        self.assertEqual(len(exp_a) + len(exp_b) + len(exp_out), len(members))
        got = [self.by_tag(s, "big-1") for s in (self.A, self.B, self.inet)]
        for txns, exp in zip(got, (exp_a, exp_b, exp_out)):
            self.assertEqual(len(txns), 1, txns)
            sent = txns[0].rcpts + [a for a, _ in txns[0].refused]
            self.assertEqual(sorted(sent), exp)
        self.assertEqual(len(dl.events(qid, "done")), 1)

    def test_forward_reaches_the_outside_by_mx(self):
        dl = self.dl
        fe = dl.info["forward_external"]
        chain = dl.info["forward_chain"]
        qid = dl.send(dl.user(9), [fe["address"], chain["addresses"][0]], tag="fwd-1")
        self.wait_done(qid)
        out = self.by_tag(self.inet, "fwd-1")
        self.assertEqual([t.rcpts for t in out], [[fe["target"]]])
        self.assertEqual(out[0].mail_from, dl.user(9))
        # The internal chain ends at fwd-c, whose mailHost is sink A.
        a = self.by_tag(self.A, "fwd-1")
        self.assertEqual([t.rcpts for t in a], [[chain["final"]]])
        self.assertEqual(self.by_tag(self.B, "fwd-1"), [])

    def test_relayed_external_recipients_share_one_transaction(self):
        dl = self.dl
        # Two domains whose MX is the same host: two next hops (the hop is
        # the domain), and two recipients of one domain: one transaction.
        qid = dl.send(dl.user(11), ["x1@outside.test", "x2@outside.test",
                                    "y1@partner.test"], tag="ext-1")
        self.wait_done(qid)
        got = sorted(sorted(t.rcpts) for t in self.by_tag(self.inet, "ext-1"))
        self.assertEqual(got, [["x1@outside.test", "x2@outside.test"], ["y1@partner.test"]])

    def test_refusing_first_mx_moves_to_the_next(self):
        dl = self.dl
        qid = dl.send(dl.user(13), ["someone@twomx.test"], tag="twomx-1")
        self.wait_done(qid)
        got = self.by_tag(self.mx2, "twomx-1")
        self.assertEqual([t.rcpts for t in got], [["someone@twomx.test"]])
        # Delivered on the first attempt: no DSN, no deferral.
        self.assertEqual(dl.events(qid, "deferred"), [])
        self.assertEqual(self.dsns_to(self.B, dl.user(13)), [])

    def test_null_mx_bounces_with_5_1_10(self):
        dl = self.dl
        sender = dl.user(15)     # odd: sink B
        qid = dl.send(sender, ["nobody@nullmx.test"], tag="nullmx-1")
        self.wait_done(qid)
        dsn = wait_for(lambda: self.dsns_to(self.B, sender), 20)
        self.assertEqual(len(dsn), 1, dsn)
        d = parse_dsn(dsn[0].data)
        self.assertEqual(d["msg"].get_content_type(), "multipart/report")
        self.assertEqual(len(d["per_rcpt"]), 1)
        r = d["per_rcpt"][0]
        self.assertEqual(r["final-recipient"].lower(), "rfc822; nobody@nullmx.test")
        self.assertEqual(r["action"], "failed")
        self.assertEqual(r["status"], "5.1.10")
        # Nothing was sent anywhere for the null-MX domain.
        for s in (self.A, self.B, self.inet, self.mx2):
            self.assertEqual(self.by_tag(s, "nullmx-1"), [])

    # -- per-recipient failures -------------------------------------------
    def test_one_of_three_rejected_gets_one_dsn(self):
        dl = self.dl
        sender = dl.user(16)                  # sink A
        ok1, ok2, bad = dl.user(18), dl.user(17), dl.user(19)   # A, B, B
        reply = "550 5.1.1 <%s>: Recipient address rejected: no such mailbox" % bad
        self.B.set_reply(bad, reply)
        qid = dl.send(sender, [ok1, ok2, bad], tag="rej-1",
                      body="The original body line.\r\n")
        self.wait_done(qid)
        a, b = self.by_tag(self.A, "rej-1"), self.by_tag(self.B, "rej-1")
        self.assertEqual([t.rcpts for t in a], [[ok1]])
        self.assertEqual(len(b), 1)
        self.assertEqual(b[0].rcpts, [ok2])
        self.assertEqual(b[0].refused, [(bad, reply)])
        # Exactly one DSN, to the sender's own mailbox server, from <>.
        dsn = wait_for(lambda: self.dsns_to(self.A, sender), 20)
        time.sleep(1.5)  # a second one would come within a retry period
        dsn = self.dsns_to(self.A, sender)
        self.assertEqual(len(dsn), 1, dsn)
        self.assertEqual(dsn[0].mail_from, "")
        for s in (self.B, self.inet):
            self.assertEqual(self.dsns_to(s, sender), [])
        d = parse_dsn(dsn[0].data)
        msg = d["msg"]
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        self.assertEqual(msg["To"].strip("<> "), sender)
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        types = [p.get_content_type() for p in d["parts"]]
        self.assertEqual(types[:2], ["text/plain", "message/delivery-status"])
        self.assertIn(types[2], ("text/rfc822-headers", "message/rfc822"))
        self.assertIn("dns; " + HOSTNAME, d["per_message"]["reporting-mta"])
        # It names the failed recipient only, with the sink's reply.
        self.assertEqual(len(d["per_rcpt"]), 1, d["per_rcpt"])
        r = d["per_rcpt"][0]
        self.assertEqual(r["final-recipient"].lower(), "rfc822; " + bad)
        self.assertEqual(r["action"], "failed")
        self.assertEqual(r["status"], "5.1.1")
        self.assertIn("550 5.1.1 <%s>: Recipient address rejected: no such mailbox" % bad,
                      r["diagnostic-code"])
        # RFC 3464 2.3.5/2.3.6: the server that refused is the Remote-MTA,
        # and the Diagnostic-Code is its reply, diagnostic-type "smtp".
        self.assertTrue(r["diagnostic-code"].lower().startswith("smtp; 550"),
                        r["diagnostic-code"])
        self.assertIn("127.0.0.1", r.get("remote-mta", ""), r)
        self.assertIn("X-Test-Id: rej-1", d["parts"][2].as_string())
        self.assertNotIn(ok1, d["parts"][1].as_string())
        self.assertNotIn(ok2, d["parts"][1].as_string())

    def test_version1_envelope_delivers_and_bounces(self):
        """A spool written before the result fields (spoolrec version 1,
        only the error= text per recipient) still loads, delivers and
        bounces: the deferred message's state is rewritten as version 1
        while routerd is stopped, then the hop answers."""
        dl = self.dl
        sender = dl.user(12)
        ok, bad = dl.user(3), dl.user(5)       # B, B
        for x in (ok, bad):
            self.B.set_reply(x, "451 4.3.0 <%s>: later" % x)
            self.addCleanup(self.B.set_reply, x, None)
        qid = dl.send(sender, [ok, bad], tag="v1-1")
        state = os.path.join(dl.spool, "q", qid + ".state")

        def deferred_both():
            try:
                with open(state, "rb") as f:
                    return f.read().count(b"\nstate=deferred\n") == 2
            except OSError:
                return False
        self.assertTrue(wait_for(deferred_both, 15), dl.log()[-2000:])
        dl.stop_routerd()
        with open(state, "rb") as f:
            text = f.read()
        self.assertIn(b"\ncode=451\nstatus=4.3.0\n", text)
        lines = [ln for ln in text.split(b"\n")[:-2]  # without end=
                 if ln.split(b"=", 1)[0] not in (b"code", b"status", b"diag", b"rhost",
                                                 b"held", b"delay_notified", b"sender")]
        self.assertEqual(lines[0], b"version=4")
        body = b"\n".join([b"version=1"] + lines[1:]) + b"\n"
        self.assertIn(b"\nerror=127.0.0.1:%20451%204.3.0%20", body)
        with open(state, "wb") as f:
            f.write(body + b"end=%08x\n" % zlib.crc32(body))
        self.B.set_reply(ok, None)
        self.B.set_reply(bad, "550 5.1.1 <%s>: no such user" % bad)
        mark = dl.start_routerd()
        self.wait_done(qid)
        # Read, not set aside: a state file that does not parse would be
        # moved to corrupt/ (and the message file's envelope used).
        self.assertNotIn("load_failed", dl.log()[mark:])
        corrupt = os.path.join(dl.spool, "corrupt")
        self.assertEqual([n for n in (os.listdir(corrupt) if os.path.isdir(corrupt) else [])
                          if n.startswith(qid)], [])
        got = [t for t in self.by_tag(self.B, "v1-1") if t.rcpts == [ok]]
        self.assertEqual(len(got), 1, self.by_tag(self.B, "v1-1"))
        dsn = wait_for(lambda: self.dsns_to(self.A, sender), 20)
        self.assertEqual(len(dsn), 1, dsn)
        r = parse_dsn(dsn[0].data)["per_rcpt"]
        self.assertEqual(len(r), 1, r)
        self.assertEqual(r[0]["final-recipient"].lower(), "rfc822; " + bad)
        self.assertEqual(r[0]["status"], "5.1.1")
        self.assertEqual(r[0]["diagnostic-code"],
                         "smtp; 550 5.1.1 <%s>: no such user" % bad)
        self.assertIn("127.0.0.1", r[0].get("remote-mta", ""), r)

    def test_4xx_is_retried_without_bounce(self):
        dl = self.dl
        sender = dl.user(22)
        ok, later = dl.user(21), dl.user(23)     # B, B
        self.B.set_reply(later, ["450 4.2.1 <%s>: mailbox busy, try later" % later,
                                 "250 2.1.5 Ok"])
        qid = dl.send(sender, [ok, later], tag="tmp-1")
        # While waiting: queued, with the 4xx as its last error.
        self.assertTrue(wait_for(lambda: dl.events(qid, "deferred"), 10))
        self.wait_done(qid, 20)
        b = self.by_tag(self.B, "tmp-1")
        self.assertEqual([t.rcpts for t in b], [[ok], [later]])
        self.assertEqual(b[0].refused, [(later, "450 4.2.1 <%s>: mailbox busy, try later" % later)])
        # Nothing was sent twice, nothing bounced.
        self.assertEqual(self.dsns_to(self.A, sender), [])
        self.assertEqual(dl.events(qid, "bounced"), [])

    # -- bounce rules ---------------------------------------------------
    def test_bounce_rules_null_sender_and_postmaster(self):
        dl = self.dl
        bad1, bad2, bad3 = dl.user(25), dl.user(27), dl.user(29)   # sink B
        for x in (bad1, bad2, bad3):
            self.B.set_reply(x, "550 5.1.1 <%s>: no such user" % x)

        # 1. A message from <> that fails: no bounce to <>, a report to
        # the postmaster (once).
        qid = dl.send("", [bad1], tag="null-1")
        self.wait_done(qid)
        rep = wait_for(lambda: self.dsns_to(self.A, POSTMASTER), 20)
        self.assertEqual(len(rep), 1, rep)
        d = parse_dsn(rep[0].data)
        self.assertEqual(d["per_rcpt"][0]["final-recipient"].lower(), "rfc822; " + bad1)
        self.assertEqual(d["per_rcpt"][0]["status"], "5.1.1")
        # No transaction anywhere ever had <> as a recipient.
        for s in (self.A, self.B, self.inet):
            for t in s.txns():
                self.assertNotIn("", t.rcpts)

        # 2. A bounce that cannot be delivered goes to the postmaster.
        sender = dl.user(24)                              # sink A
        self.A.set_reply(sender, "550 5.1.1 <%s>: mailbox gone" % sender)
        qid = dl.send(sender, [bad2], tag="dbl-1")
        self.wait_done(qid)
        rep = wait_for(lambda: len(self.dsns_to(self.A, POSTMASTER)) >= 2, 20)
        rep = self.dsns_to(self.A, POSTMASTER)
        self.assertEqual(len(rep), 2, rep)
        d = parse_dsn(rep[1].data)
        self.assertEqual(d["per_rcpt"][0]["final-recipient"].lower(), "rfc822; " + sender)
        self.assertIn("mailbox gone", d["per_rcpt"][0]["diagnostic-code"])
        # The sender's bounce was tried exactly once (RCPT refused).
        refused = [t for t in self.A.txns() if t.mail_from == "" and
                   (sender, "550 5.1.1 <%s>: mailbox gone" % sender) in t.refused]
        self.assertEqual(len(refused), 1, refused)

        # 3. When the postmaster refuses too, it stops: one try, no more,
        # and the report is kept in the alert store, never dropped.
        self.A.set_reply(POSTMASTER, "550 5.1.1 <%s>: postmaster gone" % POSTMASTER)
        before = len(self.A.txns())
        self.A.set_reply(dl.user(26), "550 5.1.1 <%s>: gone too" % dl.user(26))
        qid = dl.send(dl.user(26), [bad3], tag="dbl-2")
        self.wait_done(qid)
        self.assertTrue(wait_for(lambda: any("event=double_bounce_stored" in ln
                                             for ln in dl.log().splitlines()), 20),
                        dl.log()[-3000:])
        stored = os.listdir(os.path.join(dl.spool, "alerts"))
        self.assertTrue(stored)
        self.assertTrue(dl.wait_queue_empty(20), dl.queue("list").stdout)
        time.sleep(2.5)  # longer than retry_max: nothing more may come
        pm = [t for t in self.A.txns()[before:]
              if any(a == POSTMASTER for a, _ in t.refused)]
        self.assertEqual(len(pm), 1, self.A.txns()[before:])
        self.assertEqual(dl.queue_ids(), [])
        self.A.set_reply(POSTMASTER, None)


if __name__ == "__main__":
    unittest.main()
