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
from miltertest import EICAR, Clamav, DkimKey, OpenDkim, Rspamd, dkim_verify


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


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def eicar_message(mail_from, rcpt, tag):
    """A MIME message with the EICAR string as a base64 attachment."""
    import base64
    att = base64.b64encode(EICAR.encode()).decode()
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: eicar\r\nX-Test-Id: %s\r\n"
            "Message-ID: <%s@test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--b1\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"eicar.com\"\r\n\r\n"
            "%s\r\n--b1--\r\n" % (mail_from, rcpt, tag, tag, att))


class ScanTest(unittest.TestCase):
    """The MX listener runs rspamd then clamav-milter (OnInfected Reject);
    a second MX listener, mxq, runs a clamav-milter that quarantines."""

    @classmethod
    def setUpClass(cls):
        cls.mxq = free_port()
        cls.dl = dl = DeliveryLab(
            "milter-scan", start=False,
            routerd="\n[listener mxq]\naddress = 127.0.0.1:%d\nrole = mx\n"
                    "milters = clamavq\n" % cls.mxq)
        try:
            cls.rspamd = Rspamd(dl.lab, dl.dns.server)
            cls.clamav = Clamav(dl.lab, ("Reject", "Quarantine"))
            with open(dl.conf, "a") as f:
                f.write("milters = rspamd, clamav\n\n"
                        "[milter rspamd]\nsocket = %s\ncontent_timeout = 60s\n\n"
                        "[milter clamav]\nsocket = %s\ncontent_timeout = 60s\n\n"
                        "[milter clamavq]\nsocket = %s\ncontent_timeout = 60s\n"
                        % (cls.rspamd.socket, cls.clamav.sockets["Reject"],
                           cls.clamav.sockets["Quarantine"]))
            dl.start_authd()
            dl.start_routerd()
            cls.clamav.wait()
            cls.rspamd.wait()
        except BaseException:
            dl.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    delivered = OpenDkimTest.delivered

    def data(self, port, text, rcpt=None):
        dl = self.dl
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=90) as s:
            s.ehlo()
            self.assertEqual(s.mail(dl.user(2))[0], 250)
            self.assertEqual(s.rcpt(rcpt or dl.user(0))[0], 250)
            code, resp = s.data(text.encode())
        return code, resp.decode()

    def gone(self, tag):
        time.sleep(1.0)
        self.assertEqual([t for t in self.dl.sink_a.txns()
                          if t.data is not None and
                          (t.header("X-Test-Id") or "").strip() == tag], [])

    def test_rspamd_rejects_gtube(self):
        dl = self.dl
        code, text = self.data(dl.mx, message(dl.user(2), dl.user(0), "gtube", "gtube1",
                                              "Spam test:\r\n%s\r\n" % GTUBE))
        self.assertEqual(code, 554, text)
        self.assertIn("5.7.1", text)
        self.assertIn("Gtube", text)  # rspamd's own words
        self.gone("gtube1")
        self.assertTrue([ln for ln in dl.events(event="milter_refused")
                         if "milter=rspamd" in ln and "code=554" in ln])

    def test_rspamd_headers_on_clean_mail(self):
        dl = self.dl
        code, text = self.data(dl.mx, message(dl.user(2), dl.user(0), "a clean one", "clean1",
                                              "Nothing to see here.\r\n"))
        self.assertEqual(code, 250, text)
        t = self.delivered("clean1")
        self.assertIsNotNone(t.header("X-Spamd-Result"), t.data[:3000])
        qid = re.search(r"queued as (\S+)", text).group(1)
        self.assertEqual(t.header("X-Rspamd-Queue-Id"), qid)
        # clamav-milter ran too, and said so
        self.assertIsNotNone(t.header("X-Virus-Scanned"), t.data[:3000])

    def test_clamav_rejects_eicar(self):
        dl = self.dl
        code, text = self.data(dl.mx, eicar_message(dl.user(2), dl.user(0), "eicar1"))
        self.assertEqual(code // 100, 5, text)
        self.gone("eicar1")
        self.assertTrue([ln for ln in dl.events(event="milter_refused")
                         if "milter=clamav" in ln])

    def test_clamav_quarantines_eicar(self):
        dl = self.dl
        code, text = self.data(self.mxq, eicar_message(dl.user(2), dl.user(0), "eicar2"))
        self.assertEqual(code, 250, text)
        qid = re.search(r"queued as (\S+)", text).group(1)
        self.gone("eicar2")
        self.assertIn(qid, dl.queue_ids())
        out = dl.queue("show", qid).stdout + dl.queue("list").stdout
        self.assertIn("quarantined by milter clamavq", out)
        self.assertEqual(dl.queue("delete", qid).returncode, 0)

    def test_zz_routerd_fine(self):
        self.assertTrue(self.dl.routerd_alive())
        self.assertEqual(self.dl.sanitizer_report(), "")


if __name__ == "__main__":
    unittest.main()
