"""Kerberos SMTP AUTH (issue 17) against a Samba AD DC.

As an admin sets it up on AD: a service account carries the SPNs
smtp/mx.ad.dirmx.test and SMTP/mx.ad.dirmx.test, its keys are exported
with samba-tool domain exportkeytab for authd only, and authd names them
(smtp_keytab, smtp_service). Users kinit with their AD password inside
the DC's network namespace and submit with real clients: msmtp (auth
gssapi) on the submission port after STARTTLS and on the submissions port
(implicit TLS), and gsasl --smtp. The principal alice@AD.DIRMX.TEST maps
to the account alice (sAMAccountName), which may send as its own
addresses only (mail, proxyAddresses), as after AUTH PLAIN.

Negatives: a ticket for another service (the DC's host/ principal), a
ticket whose account was disabled after kinit, no ticket.
"""

import os
import sys
import time
import unittest

from dirmxlab import Lab
from dirmxlab.samba import SambaDC

from gssapitest import client_token, message
from sambamail import MailDaemons, ns_free_port
from smtptest import parse_reply

DOM = "ad.dirmx.test"
REALM = DOM.upper()
HOST = "127.0.0.1"
MX = "mx." + DOM
SVC, SVC_PW = "svc-mx", "Svc!Passw0rd-17"
PW = "Alice!Passw0rd-17"


class SambaGssapi(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.lab = Lab("samba-gssapi")
        try:
            cls._setup()
        except BaseException:
            cls.lab.close()
            raise
        sys.stderr.write("\nsamba_gssapi setup %.1fs\n" % (time.monotonic() - t0))

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    @classmethod
    def _setup(cls):
        lab = cls.lab
        os.chmod(lab.dir, 0o755)
        cls.dc = dc = SambaDC(lab)
        dc.netns.set_hosts([(HOST, MX)])
        dc.create_service_account(SVC, SVC_PW,
                                  spns=["smtp/" + MX, "SMTP/" + MX])
        cls.keytab = dc.export_keytab("smtp/" + MX, lab.path("smtp.keytab"))
        for name in ("alice", "bob", "carol"):
            dc.add_user(name, PW, mail="%s@%s" % (name, DOM),
                        proxy_addresses=["SMTP:%s@%s" % (name, DOM),
                                         "smtp:%s.alias@%s" % (name, DOM)])
        cls.cc = {}
        for name in ("alice", "bob", "carol"):
            cc = lab.path("cc-" + name)
            dc.run(["kinit", "%s@%s" % (name, REALM)], input=PW + "\n",
                   env={"KRB5CCNAME": "FILE:" + cc})
            cls.cc[name] = cc
        ports = {k: ns_free_port(dc.netns, HOST) for k in ("mx", "sub", "subs", "dns")}
        cls.sub, cls.subs = ports["sub"], ports["subs"]
        cls.md = MailDaemons(
            lab, dc, DOM, HOST, SVC, SVC_PW, ports["mx"], ports["dns"], sub=cls.sub,
            authd_extra="smtp_keytab = %s\nsmtp_service = smtp/%s\n" % (cls.keytab, MX),
            routerd_extra="[listener submissions]\naddress = %s:%d\nrole = submissions\n"
                          % (HOST, cls.subs))

    def env(self, name):
        return {"KRB5CCNAME": "FILE:" + self.cc[name], "HOME": "/nonexistent"}

    def msmtp(self, name, sender, rcpt, subject, port=None, implicit=False):
        argv = ["msmtp", "--host=" + MX, "--port=%d" % (port or self.sub), "--tls=on",
                "--tls-starttls=%s" % ("off" if implicit else "on"),
                "--tls-trust-file=" + self.md.ca.cert, "--auth=gssapi", "--user=" + name,
                "--from=" + sender, "--domain=client.example", "--", rcpt]
        return self.dc.run(argv, env=self.env(name), input=message(sender, rcpt, subject),
                           check=False)

    def spooled(self, subject):
        spool = self.lab.path("rd", "spool")
        for root, _dirs, files in os.walk(spool):
            for f in files:
                try:
                    with open(os.path.join(root, f), "rb") as fh:
                        if subject.encode() in fh.read():
                            return True
                except OSError:
                    pass
        return False

    def raw_auth(self, token):
        """EHLO, STARTTLS, EHLO, AUTH GSSAPI token inside the namespace."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.md.ca.cert)
        s = self.dc.netns.connect(HOST, self.sub, timeout=30)
        s.settimeout(30)
        f = s.makefile("rb")
        t = None

        def reply():
            lines = []
            while True:
                line = f.readline().decode().rstrip("\r\n")
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    return parse_reply(lines)
        try:
            reply()
            s.sendall(b"EHLO client.example\r\n")
            reply()
            s.sendall(b"STARTTLS\r\n")
            reply()
            t = ctx.wrap_socket(s, server_hostname=MX)
            f = t.makefile("rb")
            t.sendall(b"EHLO client.example\r\n")
            ehlo = reply()
            t.sendall(("AUTH GSSAPI %s\r\n" % token).encode())
            return ehlo, reply()
        finally:
            f.close()
            if t is not None:
                t.close()
            s.close()

    # -- real clients --------------------------------------------------------

    def test_01_msmtp_587_starttls(self):
        r = self.msmtp("alice", "alice@" + DOM, "bob@" + DOM, "ad-krb-587")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(self.spooled("ad-krb-587"))
        self.assertIn('event=auth_ok user="alice" mech=kerberos',
                      self.lab.log_text("routerd"))
        self.assertIn('principal="alice" account="alice"', self.lab.log_text("authd"))

    def test_02_msmtp_465_implicit_tls(self):
        r = self.msmtp("bob", "bob.alias@" + DOM, "alice@" + DOM, "ad-krb-465",
                       port=self.subs, implicit=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(self.spooled("ad-krb-465"))

    def test_03_gsasl_smtp(self):
        argv = ["gsasl", "--client", "--smtp", "--connect=%s:%d" % (MX, self.sub),
                "--mechanism=GSSAPI", "--service=smtp", "--hostname=" + MX,
                "--x509-ca-file=" + self.md.ca.cert, "--no-cb", "--verbose",
                "--authorization-id="]
        r = self.dc.run(argv, env=self.env("carol"), input="", check=False, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("235", r.stdout + r.stderr)

    def test_04_send_as_others_refused(self):
        r = self.msmtp("alice", "bob@" + DOM, "carol@" + DOM, "ad-krb-forged")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("5.7.1", r.stdout + r.stderr)
        self.assertFalse(self.spooled("ad-krb-forged"))

    # -- negatives ------------------------------------------------------------

    def test_10_ticket_for_another_service(self):
        token = client_token(dict(self.dc.env(), **self.env("alice")), self.dc.fqdn,
                             service="host", runner=self.dc.run)
        ehlo, r = self.raw_auth(token)
        self.assertIn("GSSAPI", ehlo.text)
        self.assertEqual((r.code, r.enh), (535, "5.7.8"), r)

    def test_11_disabled_account(self):
        """A ticket got before the account was disabled: the directory
        says no, as for a password."""
        self.dc.run(["samba-tool", "user", "disable", "carol", "-H",
                     "ldap://%s" % self.dc.ip, "-U", "Administrator%" + self.dc.admin_password])
        try:
            r = self.msmtp("carol", "carol@" + DOM, "bob@" + DOM, "ad-krb-disabled")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("535 5.7.8", r.stdout + r.stderr)
            self.assertFalse(self.spooled("ad-krb-disabled"))
        finally:
            self.dc.run(["samba-tool", "user", "enable", "carol", "-H",
                         "ldap://%s" % self.dc.ip, "-U",
                         "Administrator%" + self.dc.admin_password])

    def test_12_no_ticket(self):
        self.cc["nobody"] = self.lab.path("cc-empty")
        r = self.msmtp("nobody", "alice@" + DOM, "bob@" + DOM, "ad-krb-none")
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(self.spooled("ad-krb-none"))


if __name__ == "__main__":
    unittest.main()
