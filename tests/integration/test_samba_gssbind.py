"""GSSAPI binds the way a real AD domain controller wants them (issue 16,
section 6), against a Samba AD DC (dirmxlab.samba, one DC from the lab's
cache) in its network namespace.

Samba 4.17 under its default "ldap server require strong auth = yes"
refuses a GSSAPI bind without a SASL layer even inside TLS ("Sign or Seal
are required") and a layer inside TLS as well ("Sign or Seal are not
allowed if TLS is used"): only sign+seal on plain LDAP works. A Windows DC
(and Samba with allow_sasl_over_tls) is the other way round inside TLS.

What is proved:
  1. bind = gssapi with the default tls = starttls: authd negotiates, binds
     with sign+seal on plain LDAP and answers lookups (before this, every
     bind failed and authd -t said "configuration OK"); `dirmxctl dc` shows
     the protection (sasl-seal) and the log what the DC refused;
  2. tls = none: sign+seal (never a GSSAPI bind without a layer);
  3. authd -t --bind tries a real bind: OK with the protection and what was
     refused; with a keytab that does not exist it fails and names the fix
     ("keytab/ccache missing"), exit 1;
  4. the DC set up like Windows (allow_sasl_over_tls: no layer inside TLS is
     accepted): authd binds inside StartTLS without a layer, and
     `dirmxctl dc` says "starttls".

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
/usr/bin/python3 -m unittest -v test_samba_gssbind
"""

import os
import subprocess
import sys
import time
import unittest

from dirmxlab import Lab
from dirmxlab.samba import SambaDC

from authdtest import authd_bin
from test_samba_authd import Authd

DOM = "ad.dirmx.test"
SVC, SVC_PW = "svc-gssbind", "Svc!Passw0rd-6"
TIMEOUT_S = 5


class SambaGssBindTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.lab = Lab("samba-gssbind")
        try:
            cls.dc = dc = SambaDC(cls.lab)
            dc.create_service_account(SVC, SVC_PW)
            cls.keytab = dc.export_keytab(SVC, cls.lab.path("svc.keytab"))
            dc.add_user("gina", None, mail="gina@" + DOM)
        except BaseException:
            cls.lab.close()
            raise
        sys.stderr.write("\nsamba_gssbind setup %.1fs\n" % (time.monotonic() - t0))

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    # ---- helpers ----------------------------------------------------------

    @classmethod
    def write_conf(cls, name, tls, keytab=None):
        lines = ["[global]", "log_level = debug", "",
                 "[dns]", "servers = " + cls.dc.ip, "timeout = 1s", "",
                 "[authd]", "directory = ad", "domain = " + DOM,
                 "timeout = %ds" % TIMEOUT_S, "socket = " + cls.lab.path(name + ".sock"),
                 "bind = gssapi", "keytab = " + (keytab or cls.keytab),
                 "ca_file = " + cls.dc.ca_cert]
        if tls is not None:  # None: the default (starttls)
            lines.append("tls = " + tls)
        lines += ["", "[routerd]", "local_domains = " + DOM, ""]
        return cls.lab.write(name + ".conf", "\n".join(lines))

    @classmethod
    def start_authd(cls, name, tls):
        conf = cls.write_conf(name, tls)
        argv = cls.dc.netns.exec_argv([authd_bin(), "-f", "-c", conf])
        proc = cls.lab.spawn("authd-" + name, argv, env=cls.dc.env())
        a = Authd(cls, name, conf, proc)
        a.wait_ready(30)
        return a

    def bind_check(self, conf):
        return self.dc.run([authd_bin(), "-t", "--bind", "-c", conf], check=False,
                           timeout=120)

    def assertLookupWorks(self, a):
        out = a.lookup("gina@" + DOM, nocache=True)
        self.assertEqual(out.rc, 0, out.text + "\n" + a.log()[-3000:])
        self.assertEqual(out.dests, [("gina@" + DOM, "local")], out.text)

    def assertProtection(self, a, want):
        deadline = time.monotonic() + 15
        while True:
            tab = a.dc()
            rows = tab.rows
            if (rows and all(r["state"] == "up" for r in rows)) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(rows, tab.text)
        for r in rows:
            self.assertEqual((r["state"], r["protection"]), ("up", want), tab.text)
        return tab

    # ---- 1. the default tls = starttls ------------------------------------

    def test_1_gssapi_with_default_starttls_binds_and_answers(self):
        a = self.start_authd("gss-starttls", None)
        self.assertLookupWorks(a)
        self.assertProtection(a, "sasl-seal")
        log = a.log()
        self.assertRegex(log, r"ldconn event=protection dc=ldap://dc1\.%s:389 "
                              r"protection=sasl-seal refused=\"starttls: .*Sign or Seal "
                              r"are required.*starttls\+sasl-seal: .*not allowed if TLS"
                         % DOM.replace(".", r"\."))
        self.assertNotIn("bind failed", log)
        # Said once per DC, however many connections negotiated it.
        self.assertEqual(log.count("event=protection"), 1, log[-3000:])

    # ---- 2. tls = none ------------------------------------------------------

    def test_2_gssapi_without_tls_signs_and_seals(self):
        a = self.start_authd("gss-none", "none")
        self.assertLookupWorks(a)
        self.assertProtection(a, "sasl-seal")
        self.assertRegex(a.log(), r"event=protection dc=ldap://dc1\.\S+ "
                                  r"protection=sasl-seal refused=\"\"")

    # ---- 3. authd -t --bind -------------------------------------------------

    def test_3a_bind_check_reports_protection(self):
        r = self.bind_check(self.write_conf("check-ok", "starttls"))
        out = r.stdout
        self.assertEqual(r.returncode, 0, out + r.stderr)
        self.assertIn("configuration OK", out)
        self.assertRegex(out, r"ldap://dc1\.%s:389: bind OK \(gssapi, protection "
                              r"sasl-seal\)" % DOM.replace(".", r"\."))
        self.assertIn("refused: starttls: Strong(er) authentication required", out)
        self.assertIn("1 of 1 directory server took the bind", out)

    def test_3b_bind_check_names_missing_keytab(self):
        conf = self.write_conf("check-nokeytab", "starttls",
                               keytab=self.lab.path("missing.keytab"))
        # The file itself is fine: plain -t says so, as it always did.
        r = self.dc.run([authd_bin(), "-t", "-c", conf], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.bind_check(conf)
        out = r.stdout
        self.assertEqual(r.returncode, 1, out + r.stderr)
        self.assertRegex(out, r"dc1\.%s:389: bind FAILED: .*bind failed"
                         % DOM.replace(".", r"\."))
        self.assertIn("fix: keytab/ccache missing", out)
        self.assertIn("0 of 1 directory server took the bind", out)

    # ---- 4. a DC that takes GSSAPI inside TLS without a layer (Windows) ----

    def test_4_windows_like_dc_gets_tls_without_layer(self):
        self.dc.set_options(ldap_server_require_strong_auth="allow_sasl_over_tls")
        try:
            r = self.bind_check(self.write_conf("check-win", "starttls"))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("bind OK (gssapi, protection starttls)", r.stdout)
            self.assertNotIn("refused:", r.stdout)
            a = self.start_authd("gss-win", "starttls")
            self.assertLookupWorks(a)
            self.assertProtection(a, "starttls")
            self.lab.stop(a.proc)
        finally:
            self.dc.set_options(ldap_server_require_strong_auth=None)


if __name__ == "__main__":
    unittest.main()
