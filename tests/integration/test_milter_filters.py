"""routerd with real mail filters, as an admin plugs them in (Debian's
packages): OpenDKIM signing on the submission listener, rspamd (its proxy
worker in milter mode) and clamav-milter (with clamd) scanning on the MX
listener.

Real parts: slapd + authd + dnsmasq + routerd + recording sinks
(deliverytest.py), and the filters themselves, each started by the test
and stopped by PID. The DKIM key is made here and published as a TXT
record by the lab's dnsmasq; the delivered message is checked by OpenDKIM
in verify mode, which reads that record through libunbound.
"""

import re
import smtplib
import ssl
import time
import unittest

from deliverytest import DeliveryLab, PASSWORD, wait_for
from dirmxlab import free_port
from miltertest import DkimKey, OpenDkim, dkim_verify


def message(mail_from, rcpt, subject, tag, body):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nX-Test-Id: %s\r\n"
            "Message-ID: <%s@test>\r\n\r\n%s" % (mail_from, rcpt, subject, tag, tag, body))


class OpenDkimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sub = free_port()
        keys = {}

        def records(dl):
            keys["k"] = DkimKey(dl.lab, "dirmx.test", "lab")
            return [("TXT", keys["k"].name, keys["k"].record)]

        cls.dl = dl = DeliveryLab(
            "milter-dkim", records_fn=records, start=False,
            routerd="\n[listener submission]\naddress = 127.0.0.1:%d\n"
                    "role = submission\nmilters = dkim\n" % cls.sub)
        try:
            cls.key = keys["k"]
            cls.dkim = OpenDkim(dl.lab, cls.key)
            with open(dl.conf, "a") as f:
                f.write("milters = dkim\n\n[milter dkim]\nsocket = %s\n"
                        "default_action = tempfail\n" % cls.dkim.socket)
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
        self.assertTrue(wait_for(found, timeout, 0.1), "%s not delivered" % tag)
        return out[0]

    def test_signed_for_an_authenticated_user_and_verifies(self):
        dl = self.dl
        user = dl.info["users"][2]
        rcpt = dl.user(0)
        body = "Signed, and every octet of it counts.\r\n" * 50
        with smtplib.SMTP("127.0.0.1", self.sub, local_hostname="client.test",
                          timeout=60) as s:
            s.ehlo()
            s.starttls(context=ssl.create_default_context(cafile=dl.ca.cert))
            s.ehlo()
            s.login(user["uid"], PASSWORD)
            refused = s.sendmail(user["mail"], [rcpt],
                                 message(user["mail"], rcpt, "dkim", "dkim1", body))
            self.assertEqual(refused, {})
        t = self.delivered("dkim1")
        sig = t.header("DKIM-Signature")
        self.assertIsNotNone(sig, t.data[:2000])
        self.assertIn("d=dirmx.test", sig)
        self.assertIn("s=lab", sig)
        ok, out = dkim_verify(dl.lab, dl.dns.server, t.data)
        self.assertTrue(ok, out)
        # one octet of the body changed: the signature no longer holds
        tampered = t.data.replace(b"every octet", b"every 0ctet", 1)
        self.assertNotEqual(tampered, t.data)
        ok, out = dkim_verify(dl.lab, dl.dns.server, tampered)
        self.assertFalse(ok, out)

    def test_not_signed_without_authentication(self):
        # The same filter on the MX listener: 127.0.0.1 is not one of its
        # InternalHosts and the client did not log in: no signature.
        dl = self.dl
        with smtplib.SMTP("127.0.0.1", dl.mx, local_hostname="client.test", timeout=60) as s:
            s.sendmail(dl.user(2), [dl.user(0)],
                       message(dl.user(2), dl.user(0), "no dkim", "dkim2", "Hello.\r\n"))
        t = self.delivered("dkim2")
        self.assertIsNone(t.header("DKIM-Signature"))

    def test_zz_routerd_fine(self):
        self.assertTrue(self.dl.routerd_alive())
        self.assertEqual(self.dl.sanitizer_report(), "")


if __name__ == "__main__":
    unittest.main()
