"""Mail to the postmaster is always accepted, and never lost.

What is proved, against slapd (no postmaster entry) + authd + routerd + sinks:
  - RFC 5321 4.5.1: RCPT TO:<postmaster>, <postmaster@dirmx.test> and
    <PostMaster@alias.dirmx.test> get 250 although the directory has no
    such address; with no [routerd] postmaster configured the message goes
    to the local alert store (SPOOL/alerts/ID.eml, an X-Dirmx-Alert line,
    then the message as received), and leaves the queue;
  - postmaster@ a domain that is not ours is still refused (no relay);
  - a double bounce (a message from <> whose delivery fails for good) is
    reported to the postmaster; with no postmaster mailbox the report is
    in the alert store, never dropped;
  - with postmaster = user00002@dirmx.test configured, <postmaster> mail
    goes to that user's mailbox server.
"""

import os
import smtplib
import unittest

from deliverytest import DeliveryLab
from smtptest import wait_for


def alerts(dl):
    d = os.path.join(dl.spool, "alerts")
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        return {}
    out = {}
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            out[n] = f.read()
    return out


def rcpt_codes(dl, rcpts, mail_from="someone@example.org", source="127.0.0.5"):
    """From outside relay_networks (127.0.0.1 relays in DeliveryLab)."""
    with smtplib.SMTP("127.0.0.1", dl.mx, local_hostname="client.test", timeout=30,
                      source_address=(source, 0)) as s:
        s.ehlo()
        s.mail(mail_from)
        return [s.rcpt(r)[0] for r in rcpts]


class PostmasterAlertTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dl = DeliveryLab("postmaster", routerd="retry_min = 1s\n")

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    def test_postmaster_forms_accepted(self):
        forms = ["postmaster", "postmaster@dirmx.test", "PostMaster@alias.dirmx.test"]
        self.assertEqual(rcpt_codes(self.dl, ["<%s>" % f for f in forms]), [250] * 3)
        # not ours: no relay for "postmaster@" anything
        self.assertEqual(rcpt_codes(self.dl, ["<postmaster@elsewhere.example>"],
                                    mail_from="a@example.org"), [550])

    def test_alert_store(self):
        before = set(alerts(self.dl))
        qid = self.dl.send("someone@example.org", ["postmaster@dirmx.test"], tag="pm1")
        self.assertTrue(wait_for(lambda: set(alerts(self.dl)) - before, 15),
                        self.dl.log()[-2000:])
        new = {k: v for k, v in alerts(self.dl).items() if k not in before}
        self.assertIn("%s.eml" % qid, new)
        data = new["%s.eml" % qid]
        self.assertTrue(data.startswith(b"X-Dirmx-Alert: for <postmaster@dirmx.test>"), data[:200])
        self.assertIn(b"X-Test-Id: pm1", data)
        self.assertTrue(self.dl.wait_queue_empty(15), self.dl.queue("list").stdout)
        self.assertTrue(self.dl.events(qid, "alert_stored"))

    def test_double_bounce_goes_to_alerts(self):
        bad = self.dl.user(3)  # odd: on sink B
        self.dl.sink_b.set_reply(bad, "550 5.1.1 no such mailbox here")
        try:
            before = set(alerts(self.dl))
            qid = self.dl.send("", [bad], tag="dbl")
            self.assertTrue(wait_for(lambda: set(alerts(self.dl)) - before, 20),
                            self.dl.log()[-3000:])
            new = b"".join(v for k, v in alerts(self.dl).items() if k not in before)
            self.assertIn(b"X-Dirmx-Alert:", new)
            self.assertIn(bad.encode(), new)
            self.assertFalse(self.dl.events(event="double_bounce_dropped"))
            self.assertTrue(self.dl.events(qid, "bounced"), self.dl.log()[-2000:])
        finally:
            self.dl.sink_b.set_reply(bad, None)


class PostmasterConfiguredTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dl = DeliveryLab("postmaster-cfg", routerd="postmaster = %s\n"
                             % "user00002@dirmx.test")

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    def test_goes_to_configured_mailbox(self):
        target = self.dl.user(2)
        self.assertEqual(target, "user00002@dirmx.test")
        self.dl.send("someone@example.org", ["postmaster"], tag="pm2")
        self.assertTrue(wait_for(lambda: any(t.header("X-Test-Id") == "pm2"
                                             for t in self.dl.sink_a.txns()), 15),
                        self.dl.log()[-2000:])
        t = [t for t in self.dl.sink_a.txns() if t.header("X-Test-Id") == "pm2"][0]
        self.assertEqual(t.rcpts, [target])
        self.assertEqual(alerts(self.dl), {})


if __name__ == "__main__":
    unittest.main()
