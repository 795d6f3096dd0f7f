"""How authd protects a GSSAPI bind (issue 16, section 6), against slapd
instances and a real MIT KDC whose SASL settings want different things.

slapd's olcSaslSecProps decide what it accepts (measured here):
  default                  TLS without a layer, a layer inside TLS, a layer
                           on plain LDAP: all three;
  minssf=300               a layer inside TLS only (TLS alone is 256);
  maxssf=0                 no layer ever: inside TLS, or unprotected on
                           plain LDAP (which authd must never do);
  minssf=300,maxssf=0      nothing protected at all.

What is proved:
  1. GSSAPI inside StartTLS without a SASL layer still works where the
     server accepts it (what Windows DCs want): protection "starttls", slapd
     logs bind_ssf=0 on a TLS connection;
  2. a server that wants a layer inside TLS gets one: "starttls+sasl-seal";
     authd against it answers lookups, `dirmxctl dc` shows the protection
     and the log says once what the server refused;
  3. tls = none against a server that offers no layer: authd refuses the
     bind instead of binding unprotected (slapd logs no GSSAPI bind), and
     with StartTLS the same server is fine;
  4. a server that accepts neither: a clear error, no bind, and authd -t
     --bind names the fix (exit 1);
  5. authd -t --bind with no server to be found says so at once (exit 1).

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
python3 -m unittest -v test_gssbind
"""

import os
import re
import subprocess
import time
import unittest

from dirmxlab import KDC, Lab, Slapd, free_port, ldapdata

from authdtest import ProtoClient, authd_bin, dirmxctl_bin
from dirmxtest import describe, drive, tool

PROPS = {"any": None, "tlslayer": "noanonymous,minssf=300",
         "nolayer": "noanonymous,maxssf=0", "neither": "noanonymous,minssf=300,maxssf=0"}


class GssBindTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("gssbind")
        try:
            cls._setup()
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    @classmethod
    def _setup(cls):
        lab = cls.lab
        tool("ldconn_drive")
        cls.kdc = kdc = KDC(lab)
        kdc.add_principal("ldap/localhost")
        slapd_kt = kdc.ktadd("ldap/localhost", lab.path("slapd.keytab"))
        kdc.add_principal("dirmx-krb")
        cls.keytab = kdc.ktadd("dirmx-krb", lab.path("dirmx-krb.keytab"))
        ldif, cls.info = ldapdata.generate(users=10, large_group=20)
        slapd_env = {"KRB5_KTNAME": "FILE:" + slapd_kt, "KRB5_CONFIG": kdc.krb5_conf}
        cls.slapd = {name: cls._slapd(name, props, ldif, slapd_env)
                     for name, props in PROPS.items()}
        cls.env = {"KRB5_CONFIG": kdc.krb5_conf, "KRB5_CLIENT_KTNAME": "FILE:" + cls.keytab,
                   "KRB5CCNAME": "MEMORY:dirmx-test", "LDAPCONF": "/dev/null"}

    @classmethod
    def _slapd(cls, name, props, ldif, env):
        s = Slapd(cls.lab, data=ldif, name="slapd-" + name, env=env)
        mod = ("dn: cn=config\nchangetype: modify\n"
               "replace: olcSaslHost\nolcSaslHost: localhost\n-\n"
               "replace: olcSaslRealm\nolcSaslRealm: %s\n-\n"
               "add: olcAuthzRegexp\n"
               'olcAuthzRegexp: {1}"^uid=dirmx-krb,cn=%s,cn=gssapi,cn=auth$" "%s"\n-\n'
               % (cls.kdc.realm, cls.kdc.realm.lower(), s.svc_dn))
        if props:
            mod += "replace: olcSaslSecProps\nolcSaslSecProps: %s\n-\n" % props
        s.modify_config(mod)
        return s

    # ---- helpers ----------------------------------------------------------

    def uri(self, name):
        return "ldap://localhost:%d" % self.slapd[name].port

    def connect(self, name, tls):
        s = self.slapd[name]
        args = ["-H", self.uri(name), "-M", "gssapi", "-b", s.suffix, "-s", "0",
                "-f", "(objectClass=*)"]
        if tls:
            args += ["-T", "starttls", "-C", s.ca.cert]
        return drive("ldconn_drive", args, env=self.env)

    def gss_binds(self, name):
        """slapd's log lines of GSSAPI binds that succeeded."""
        log = self.lab.log_text(self.slapd[name].name)
        return re.findall(r'BIND dn="[^"]*" mech=GSSAPI[^\n]*', log)

    def write_conf(self, name, tls="starttls"):
        s = self.slapd[name]
        d = os.path.dirname(self.lab.path("authd-" + name, "x"))
        return self.lab.write(os.path.join(d, "dirmx.conf"), "\n".join([
            "[global]", "log_level = debug", "",
            "[dns]", "servers = 127.0.0.1:%d" % free_port(), "timeout = 500ms", "tries = 1", "",
            "[authd]", "directory = ldap", "servers = " + self.uri(name),
            "base_dn = " + s.suffix, "tls = " + tls, "ca_file = " + s.ca.cert,
            "bind = gssapi", "keytab = " + self.keytab,
            "socket = " + os.path.join(d, "authd.sock"), "timeout = 2s", "",
            "[routerd]", "spool_dir = " + os.path.join(d, "spool"), ""]))

    def bind_check(self, conf):
        env = dict(os.environ, KRB5_CONFIG=self.kdc.krb5_conf, LDAPCONF="/dev/null")
        return subprocess.run([authd_bin(), "-t", "--bind", "-c", conf], env=env,
                              capture_output=True, text=True, timeout=60)

    # ---- 1. TLS without a layer ---------------------------------------------

    def test_1_starttls_without_layer_where_the_server_accepts_it(self):
        before = len(self.gss_binds("any"))
        run = self.connect("any", tls=True)
        self.assertEqual(run.rc, 0, describe(run))
        self.assertIn("protection: starttls\n", run.out, describe(run))
        binds = self.gss_binds("any")[before:]
        self.assertEqual(len(binds), 1, binds)
        self.assertRegex(binds[0], r"bind_ssf=0 ssf=2\d\d")  # TLS only
        r = self.bind_check(self.write_conf("any"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("bind OK (gssapi, protection starttls)", r.stdout)
        self.assertNotIn("refused:", r.stdout)

    # ---- 2. a layer inside TLS ------------------------------------------------

    def test_2_layer_inside_tls_when_the_server_wants_it(self):
        run = self.connect("tlslayer", tls=True)
        self.assertEqual(run.rc, 0, describe(run))
        self.assertIn("protection: starttls+sasl-seal\n", run.out, describe(run))
        self.assertRegex(self.gss_binds("tlslayer")[-1], r"bind_ssf=2\d\d ")
        # The daemon: lookups answered, the protection shown and said once.
        conf = self.write_conf("tlslayer")
        env = dict(self.env)
        env.pop("KRB5_CLIENT_KTNAME")  # authd takes it from keytab =
        proc = self.lab.spawn("authd-tlslayer", [authd_bin(), "-f", "-c", conf], env=env)
        sock = os.path.join(os.path.dirname(conf), "authd.sock")
        user = self.info["users"][1]
        ans = None
        for _ in range(100):
            if os.path.exists(sock):
                try:
                    with ProtoClient(sock, timeout=5) as c:
                        ans = c.ask("LOOKUP", 1, addr=user["mail"], context="mx")
                    if ans.verb == "OK":
                        break
                except (OSError, RuntimeError, TimeoutError):
                    pass
            time.sleep(0.1)
        log = self.lab.log_text("authd-tlslayer")
        self.assertIsNotNone(ans, log[-3000:])
        self.assertEqual(ans.verb, "OK", "%r\n%s" % (ans, log[-3000:]))
        r = subprocess.run([dirmxctl_bin(), "-c", conf, "dc"], capture_output=True, text=True)
        row = [ln for ln in r.stdout.splitlines() if ln.startswith("0 ")]
        self.assertEqual(len(row), 1, r.stdout)
        self.assertEqual(row[0].split()[4:7], ["up", "-", "starttls+sasl-seal"], r.stdout)
        self.assertEqual(len(re.findall(r"ldconn event=protection dc=%s protection="
                                        r"starttls\+sasl-seal refused=\"starttls: "
                                        % re.escape(self.uri("tlslayer")), log)), 1, log)
        self.lab.stop(proc)

    # ---- 3. never GSSAPI without TLS or a layer -------------------------------

    def test_3_no_unprotected_bind_to_a_server_without_layers(self):
        before = len(self.gss_binds("nolayer"))
        run = self.connect("nolayer", tls=False)
        self.assertEqual(run.rc, 2, describe(run))
        self.assertIn("bind failed", run.err, describe(run))
        self.assertEqual(self.gss_binds("nolayer")[before:], [],
                         "authd bound with GSSAPI and neither TLS nor a layer")
        run = self.connect("nolayer", tls=True)
        self.assertEqual(run.rc, 0, describe(run))
        self.assertIn("protection: starttls\n", run.out, describe(run))

    # ---- 4. a server that accepts neither -------------------------------------

    def test_4_server_accepting_neither_gets_no_bind_and_a_fix(self):
        before = len(self.gss_binds("neither"))
        run = self.connect("neither", tls=True)
        self.assertEqual(run.rc, 2, describe(run))
        self.assertIn("bind failed with every protection (starttls: ", run.err,
                      describe(run))
        self.assertIn("starttls+sasl-seal: ", run.err, describe(run))
        self.assertIn("sasl-seal: ", run.err, describe(run))
        r = self.bind_check(self.write_conf("neither"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("bind FAILED", r.stdout)
        self.assertIn("fix: the server accepts no protected GSSAPI bind", r.stdout)
        self.assertEqual(self.gss_binds("neither")[before:], [])

    # ---- 5. nothing to bind to -------------------------------------------------

    def test_5_bind_check_without_servers_says_so(self):
        conf = self.lab.write("nodc.conf", "\n".join([
            "[dns]", "servers = 127.0.0.1:%d" % free_port(), "timeout = 300ms", "tries = 1",
            "[authd]", "domain = nowhere.invalid", "bind = gssapi", "keytab = " + self.keytab,
            "[routerd]", "local_domains = nowhere.invalid", ""]))
        r = self.bind_check(conf)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no directory server found: SRV lookup of "
                      "_ldap._tcp.dc._msdcs.nowhere.invalid", r.stdout)
        self.assertIn("fix: check [authd] domain", r.stdout)


if __name__ == "__main__":
    unittest.main()
