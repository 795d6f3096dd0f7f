"""Kerberos SMTP AUTH (issue 17) against MIT krb5kdc and the OpenLDAP preset.

slapd (ldapdata users), an MIT KDC for DIRMX.TEST with the service
principal smtp/localhost, whose keytab only authd reads; routerd relays
AUTH GSSAPI to authd. Users kinit with their password and submit with
real clients: msmtp on 587 after STARTTLS and on 465 (implicit TLS),
gsasl --smtp. The principal user00001@DIRMX.TEST maps to uid=user00001,
which may send as its own addresses only, as after AUTH PLAIN.

Negatives: no ticket, a ticket for another service, a replayed token, a
garbage token, an oversized one, a token sent before STARTTLS; every
refusal is 535 5.7.8 and counts against the client in authd; authd down
is 454 4.7.0.
"""

import os
import subprocess
import time
import unittest

from dirmxlab import KDC

from gssapitest import client_env, client_token, gsasl_smtp, message, msmtp
from authdtest import authd_bin, dirmxctl_bin
from smtptest import SmtpLab, wait_for

PW = "Krb-User!pw1"


class SmtpGssapiMit(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rd = cls.rd = SmtpLab("smtp-gssapi", users=10, start=False,
                              authd="smtp_keytab = @KEYTAB@\n"
                                    "smtp_service = smtp/localhost\n"
                                    "smtp_auth_mechanisms = PLAIN, LOGIN, GSSAPI, "
                                    "GSS-SPNEGO\n"
                                    "client_max_failures = 100\n")
        try:
            cls.kdc = kdc = KDC(rd.lab)
            cls.keytab = rd.lab.path("smtp.keytab")
            kdc.add_principal("smtp/localhost")
            kdc.ktadd("smtp/localhost", cls.keytab)
            kdc.add_principal("host/localhost")
            # A small clock skew allowance, so that an expired ticket is
            # refused within seconds (the default allows 5 minutes).
            with open(kdc.krb5_conf) as f:
                krb5 = f.read()
            with open(kdc.krb5_conf, "w") as f:
                f.write(krb5.replace("[libdefaults]\n", "[libdefaults]\n\tclockskew = 1\n", 1))
            with open(rd.conf) as f:
                conf = f.read().replace("@KEYTAB@", cls.keytab)
            with open(rd.conf, "w") as f:
                f.write(conf)
            cls.saved_env = os.environ.get("KRB5_CONFIG")
            # authd (spawned with the test's environment) reads the lab's
            # krb5.conf; nothing else of the host's Kerberos.
            os.environ["KRB5_CONFIG"] = kdc.krb5_conf
            cls.u1, cls.u2 = rd.user(1), rd.user(2)
            cls.env = {}
            for u in (cls.u1, cls.u2):
                kdc.add_principal(u["uid"], password=PW)
                cc = rd.lab.path("cc-" + u["uid"])
                kdc.kinit(u["uid"], password=PW, ccache=cc)
                cls.env[u["uid"]] = client_env(kdc.krb5_conf, cc)
            cls.noticket = client_env(kdc.krb5_conf, rd.lab.path("cc-empty"))
            rd.start_authd()
            rd.start_routerd()
        except BaseException:
            cls._restore_env()
            rd.close()
            raise

    @classmethod
    def _restore_env(cls):
        if getattr(cls, "saved_env", None) is None:
            os.environ.pop("KRB5_CONFIG", None)
        else:
            os.environ["KRB5_CONFIG"] = cls.saved_env

    @classmethod
    def tearDownClass(cls):
        cls._restore_env()
        cls.rd.close()

    def routerd_log(self, mark=0):
        return self.rd.log()[mark:]

    def authd_log(self):
        return self.rd.authd.log()

    def wait_spooled(self, subject):
        def found():
            return any(subject.encode() in m.data for m in self.rd.spool_msgs().values())
        return wait_for(found, timeout=20)

    # -- real clients --------------------------------------------------------

    def test_01_ehlo_offers_gssapi_after_tls_only(self):
        with self.rd.client("submission") as c:
            r = c.ehlo()
            self.assertNotIn("AUTH", r.text)
            c.starttls()
            r = c.ehlo()
            self.assertIn("AUTH PLAIN LOGIN GSSAPI GSS-SPNEGO", r.text)

    def test_02_msmtp_submission_starttls(self):
        u1, u2 = self.u1, self.u2
        mark = len(self.rd.log())
        r = msmtp(self.env[u1["uid"]], "localhost", self.rd.sub, self.rd.ca.cert,
                  u1["uid"], u1["mail"], [u2["mail"]], message(u1["mail"], u2["mail"], "krb-587"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.wait_spooled("krb-587"))
        log = self.routerd_log(mark)
        self.assertIn('event=auth_ok user="%s" mech=kerberos' % u1["uid"], log)
        self.assertIn("user=%s" % u1["uid"], log)
        self.assertIn('event=auth_ok mech=kerberos principal="%s"' % u1["uid"],
                      self.authd_log())

    def test_03_msmtp_submissions_implicit_tls(self):
        u1, u2 = self.u1, self.u2
        r = msmtp(self.env[u1["uid"]], "localhost", self.rd.subs, self.rd.ca.cert,
                  u1["uid"], u1["mail"], [u2["mail"]], message(u1["mail"], u2["mail"], "krb-465"),
                  implicit_tls=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.wait_spooled("krb-465"))

    def test_04_gsasl_smtp(self):
        r = gsasl_smtp(self.env[self.u2["uid"]], "localhost", self.rd.sub, self.rd.ca.cert)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("235", r.stdout + r.stderr)

    def test_05_send_as_is_the_users_own(self):
        """user00001's ticket: user00002's address is refused as sender."""
        u1, u2 = self.u1, self.u2
        r = msmtp(self.env[u1["uid"]], "localhost", self.rd.sub, self.rd.ca.cert,
                  u1["uid"], u2["mail"], [u1["mail"]], message(u2["mail"], u1["mail"], "krb-forged"))
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"5\d\d")
        self.assertFalse(any(b"krb-forged" in m.data for m in self.rd.spool_msgs().values()))

    def test_06_acting_as_another_user_refused(self):
        """user00001's ticket asking to act as user00002 (the SASL
        authorization identity): refused, as PLAIN's authzid is."""
        mark = len(self.authd_log())
        r = gsasl_smtp(self.env[self.u1["uid"]], "localhost", self.rd.sub, self.rd.ca.cert,
                       authzid=self.u2["uid"])
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("535 5.7.8", r.stdout + r.stderr)
        self.assertIn("event=sasl_failed", self.authd_log()[mark:])
        # msmtp's user name is no authorization identity: the session is
        # the ticket's user, who may not send as user00002.
        u1, u2 = self.u1, self.u2
        r = msmtp(self.env[u1["uid"]], "localhost", self.rd.sub, self.rd.ca.cert,
                  u2["uid"], u2["mail"], [u1["mail"]],
                  message(u2["mail"], u1["mail"], "krb-authzid"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("553 5.7.1", r.stderr)
        self.assertFalse(any(b"krb-authzid" in m.data for m in self.rd.spool_msgs().values()))

    # -- negatives ------------------------------------------------------------

    def auth_raw(self, token, listener="submission"):
        """AUTH GSSAPI with token as initial response after STARTTLS;
        returns the reply."""
        with self.rd.client(listener) as c:
            c.ehlo()
            if listener == "submission":
                c.starttls()
                c.ehlo()
            return c.cmd("AUTH GSSAPI " + token, timeout=30)

    def test_10_no_ticket(self):
        r = msmtp(self.noticket, "localhost", self.rd.sub, self.rd.ca.cert,
                  self.u1["uid"], self.u1["mail"], [self.u2["mail"]], message("a@b", "c@d", "krb-none"))
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(any(b"krb-none" in m.data for m in self.rd.spool_msgs().values()))

    def test_11_ticket_for_another_service(self):
        token = client_token(self.env[self.u1["uid"]], "localhost", service="host")
        r = self.auth_raw(token)
        self.assertEqual((r.code, r.enh), (535, "5.7.8"), r)

    def test_12_replayed_token(self):
        token = client_token(self.env[self.u1["uid"]], "localhost")
        with self.rd.client("submission") as c:
            c.ehlo()
            c.starttls()
            c.ehlo()
            r = c.cmd("AUTH GSSAPI " + token, timeout=30)
            self.assertEqual(r.code, 334, r)
            self.assertEqual(c.cmd("*").code, 501)
        r = self.auth_raw(token)
        self.assertEqual((r.code, r.enh), (535, "5.7.8"), r)

    def test_13_garbage_and_oversized_tokens(self):
        mark = len(self.authd_log())
        r = self.auth_raw("YWJjZGVm")  # "abcdef": no GSSAPI token
        self.assertEqual((r.code, r.enh), (535, "5.7.8"), r)
        self.assertRegex(self.authd_log()[mark:], r"event=auth_failed .*client_failures=\d+")
        r = self.auth_raw("QUFB" * 4100)  # 16400 bytes of base64
        self.assertEqual(r.code, 501, r)
        r = self.auth_raw("not*base64")
        self.assertEqual(r.code, 501, r)

    def test_14_token_before_starttls(self):
        token = client_token(self.env[self.u1["uid"]], "localhost")
        with self.rd.client("submission") as c:
            c.ehlo()
            r = c.cmd("AUTH GSSAPI " + token)
            self.assertIn((r.code, r.enh), ((530, "5.7.0"), (538, "5.7.11")), r)

    def test_15_expired_ticket(self):
        """A token made with a ticket that expires before authd sees it."""
        u = self.rd.user(3)
        self.kdc.add_principal(u["uid"], password=PW)
        cc = self.rd.lab.path("cc-short")
        life = 8  # seconds: room for a loaded machine to make the token
        t0 = time.monotonic()
        r = subprocess.run(["kinit", "-l", "%ds" % life, u["uid"]], input=PW + "\n",
                           capture_output=True, text=True,
                           env=client_env(self.kdc.krb5_conf, cc), timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        token = client_token(client_env(self.kdc.krb5_conf, cc), "localhost")
        mark = len(self.authd_log())
        # past its end and the 1 s clock skew allowance, with a margin
        time.sleep(max(0.0, t0 + life + 1 + 2 - time.monotonic()))
        r = self.auth_raw(token)
        self.assertEqual((r.code, r.enh), (535, "5.7.8"), r)
        self.assertIn("expired", self.authd_log()[mark:])

    def test_20_authd_down_is_454(self):
        token = client_token(self.env[self.u2["uid"]], "localhost")
        self.rd.stop_authd()
        try:
            r = self.auth_raw(token)
            self.assertEqual((r.code, r.enh), (454, "4.7.0"), r)
        finally:
            self.rd.start_authd()

    # -- dirmxctl ----------------------------------------------------------------

    def dirmxctl(self, env, *args):
        return subprocess.run([dirmxctl_bin(), "-c", self.rd.conf] + list(args),
                              capture_output=True, text=True, env=env, timeout=60)

    def test_25_dirmxctl_auth_gssapi(self):
        r = self.dirmxctl(self.env[self.u1["uid"]], "auth", "--gssapi")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("yes: authenticated as %s" % self.u1["uid"], r.stdout)
        r = self.dirmxctl(self.noticket, "auth", "--gssapi")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no: no ticket for smtp/localhost", r.stdout)
        # A service authd has no key for: the client gets the ticket,
        # authd refuses it.
        r = self.dirmxctl(self.env[self.u1["uid"]], "auth", "--gssapi", "host/localhost")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no: authentication failed", r.stdout)

    def test_27_dirmxctl_auth_gss_spnego(self):
        r = self.dirmxctl(self.env[self.u2["uid"]], "auth", "--gss-spnego")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("yes: authenticated as %s (GSS-SPNEGO" % self.u2["uid"], r.stdout)

    def test_26_dirmxctl_dc_shows_the_keys(self):
        r = self.dirmxctl(None, "dc")
        self.assertIn("smtp auth:   Kerberos as smtp/localhost", r.stdout)
        self.assertRegex(r.stdout, r"key:\s+smtp/localhost@DIRMX.TEST kvno \d+ aes256-cts")

    # -- the keytab ------------------------------------------------------------

    def conf_with_keytab(self, keytab):
        with open(self.rd.conf) as f:
            conf = f.read().replace(self.keytab, keytab)
        return self.rd.lab.write("keytab-test.conf", conf, 0o644)

    def test_30_authd_t_checks_the_keytab(self):
        r = subprocess.run([authd_bin(), "-t", "-c", self.rd.conf], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\d key\(s\) for smtp/localhost in realm DIRMX.TEST")
        # A keytab authd's user cannot read (root's, 0600; authd as nobody).
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            authd_bin(), "-t", "-c", self.rd.conf],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("smtp_keytab %s: Permission denied" % self.keytab, r.stderr)
        # A keytab without the service's key.
        other = self.rd.lab.path("host.keytab")
        self.kdc.ktadd("host/localhost", other)
        r = subprocess.run([authd_bin(), "-t", "-c", self.conf_with_keytab(other)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("holds no key for smtp/localhost", r.stderr)

    def test_31_authd_refuses_to_start_without_its_keytab(self):
        conf = self.conf_with_keytab(self.rd.lab.path("missing.keytab"))
        r = subprocess.run([authd_bin(), "-f", "-c", conf], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("missing.keytab: No such file or directory", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
