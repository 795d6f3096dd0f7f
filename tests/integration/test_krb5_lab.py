"""Smoke test of the MIT KDC lab (dirmxlab.krb5): keytabs, kinit, and a
GSSAPI bind to a lab slapd that reads its service keytab from KRB5_KTNAME."""

import os
import subprocess
import unittest

from dirmxlab import Lab, LabError, Slapd
from dirmxlab.krb5 import KDC


def run(argv, env, check=True, input=None):
    full = dict(os.environ)
    full.update(env)
    r = subprocess.run(argv, env=full, capture_output=True, text=True, input=input,
                       timeout=60)
    if check and r.returncode != 0:
        raise LabError("%s exited %d: %s%s" % (argv[0], r.returncode, r.stdout, r.stderr))
    return r


class KDCLabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("krb5")
        try:
            cls.kdc = KDC(cls.lab)
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ccache_env(self, name):
        return self.kdc.env({"KRB5CCNAME": "FILE:" + self.lab.path("cc-" + name)})

    def test_kinit_keytab_and_password(self):
        kdc = self.kdc
        p = kdc.add_principal("alice", password="Alice-Passw0rd")
        kt = kdc.ktadd("alice", self.lab.path("alice.keytab"))
        env = self.ccache_env("alice")
        run(["kinit", "-k", "-t", kt, p], env)
        klist = run(["klist"], env).stdout
        self.assertIn("Default principal: " + p, klist)
        self.assertIn("krbtgt/%s@%s" % (kdc.realm, kdc.realm), klist)
        # -norandkey kept the password valid next to the keytab.
        r = kdc.kinit("alice", password="Alice-Passw0rd", ccache=self.lab.path("cc-alice2"))
        self.assertEqual(r.returncode, 0)
        r = kdc.kinit("alice", password="wrong", ccache=self.lab.path("cc-alice3"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Password incorrect", r.stderr)
        r = kdc.kinit("nobody", password="x", ccache=self.lab.path("cc-nobody"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not found in Kerberos database", r.stderr)

    def test_kdc_restart(self):
        self.kdc.add_principal("restart-svc")
        kt = self.kdc.ktadd("restart-svc", self.lab.path("restart.keytab"))
        self.kdc.stop()
        r = self.kdc.kinit("restart-svc", keytab=kt, ccache=self.lab.path("cc-r"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.kdc.start()
        self.kdc.kinit("restart-svc", keytab=kt, ccache=self.lab.path("cc-r"))

    def test_gssapi_bind_to_slapd(self):
        kdc = self.kdc
        # slapd's acceptor name is ldap/<olcSaslHost>; clients ask for
        # ldap/<host in the URI> (LDAPSASL_NOCANON: no reverse lookup).
        kdc.add_principal("ldap/localhost")
        slapd_kt = kdc.ktadd("ldap/localhost", self.lab.path("slapd.keytab"))
        kdc.add_principal("dirmx-svc")
        svc_kt = kdc.ktadd("dirmx-svc", self.lab.path("dirmx-svc.keytab"))
        # Slapd.start() spawns with os.environ: give it the keytab and realm.
        saved = {k: os.environ.get(k) for k in ("KRB5_KTNAME", "KRB5_CONFIG")}
        os.environ["KRB5_KTNAME"] = "FILE:" + slapd_kt
        os.environ["KRB5_CONFIG"] = kdc.krb5_conf
        try:
            slapd = Slapd(self.lab, name="slapd-gssapi")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        slapd.modify_config(
            "dn: cn=config\nchangetype: modify\n"
            "replace: olcSaslHost\nolcSaslHost: localhost\n-\n"
            "replace: olcSaslRealm\nolcSaslRealm: %s\n-\n"
            "add: olcAuthzRegexp\n"
            'olcAuthzRegexp: {1}"^uid=dirmx-svc,cn=%s,cn=gssapi,cn=auth$" "%s"\n-\n'
            % (kdc.realm, kdc.realm.lower(), slapd.svc_dn))
        env = self.ccache_env("svc")
        env.update({"LDAPSASL_NOCANON": "on", "LDAPCONF": "/dev/null",
                    "LDAPRC": "dirmx-lab-no-ldaprc"})
        kdc.kinit("dirmx-svc", keytab=svc_kt, ccache=self.lab.path("cc-svc"))
        uri = "ldap://localhost:%d/" % slapd.port
        who = run(["ldapwhoami", "-Y", "GSSAPI", "-Q", "-H", uri], env).stdout
        self.assertIn("dn:" + slapd.svc_dn, who.replace("dn: ", "dn:"))
        r = run(["ldapsearch", "-LLL", "-Y", "GSSAPI", "-Q", "-H", uri, "-b", slapd.suffix,
                 "-s", "base", "1.1"], env)
        self.assertIn("dn: " + slapd.suffix, r.stdout)
        klist = run(["klist"], env).stdout
        self.assertIn("ldap/localhost@" + kdc.realm, klist)
        # Without a ticket the GSSAPI bind fails.
        r = run(["ldapwhoami", "-Y", "GSSAPI", "-Q", "-H", uri],
                self.kdc.env({"KRB5CCNAME": "FILE:" + self.lab.path("cc-empty"),
                              "LDAPSASL_NOCANON": "on", "LDAPCONF": "/dev/null"}),
                check=False)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
