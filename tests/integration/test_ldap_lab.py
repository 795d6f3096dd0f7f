"""The slapd lab itself: dirmx's schema loads, generated data is searchable,
TLS works with the lab CA and refuses another CA, and a server that stops,
hangs or cannot start gives an error, never a hang.

Drives tests/integration/ldap_search.c (libldap's asynchronous API) and
OpenLDAP's ldapsearch against a real slapd on 127.0.0.1.
"""

import os
import re
import socket
import subprocess
import time
import unittest

from dirmxlab import CA, Lab, LabError, Slapd, build_dir, ldapdata, source_dir

USERS = 2000


def tool_path():
    p = os.path.join(build_dir(), "tests", "ldap_search")
    if not os.access(p, os.X_OK):
        raise LabError("%s not built (cmake --build)" % p)
    return p


class LdapLabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("ldaplab")
        try:
            cls.tool = tool_path()
            cls.ldif, cls.info = ldapdata.generate(users=USERS)
            cls.slapd = Slapd(cls.lab, data=cls.ldif)
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    # -- helpers ----------------------------------------------------------
    def run_tool(self, args, slapd=None, bind="svc", timeout=20):
        s = slapd or self.slapd
        argv = [self.tool]
        if bind == "svc":
            argv += ["-D", s.svc_dn, "-w", s.svc_pw]
        elif bind is not None:
            argv += ["-D", bind[0], "-w", bind[1]]
        argv += args
        env = dict(os.environ, LDAPCONF="/dev/null", LDAPRC="dirmx-lab-no-ldaprc")
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=timeout)

    def search(self, filt, attrs=(), slapd=None, extra=(), **kw):
        s = slapd or self.slapd
        r = self.run_tool(["-H", s.uri(), "-b", s.suffix] + list(extra) + [filt]
                          + list(attrs), slapd=s, **kw)
        return r, parse(r.stdout)

    # -- data and schema ----------------------------------------------------
    def test_user_by_mail(self):
        u = self.info["users"][1234]
        r, entries = self.search("(mail=%s)" % u["mail"], ["mailHost", "mail"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0]["dn"], u["dn"])
        self.assertEqual(entries[0]["mailHost"], [u["mailhost"]])

    def test_user_by_alias(self):
        u = self.info["users"][1777]
        for alias in u["aliases"]:
            r, entries = self.search("(mailLocalAddress=%s)" % alias.upper(), ["mailHost"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual([e["dn"] for e in entries], [u["dn"]])
            self.assertEqual(entries[0]["mailHost"], [u["mailhost"]])

    def test_unknown_address_is_exit_1(self):
        r, entries = self.search("(|(mail=nobody@dirmx.test)(mailLocalAddress=nobody@dirmx.test))")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(entries, [])

    def test_duplicate_address(self):
        d = self.info["duplicate"]
        r, entries = self.search("(|(mail=%s)(mailLocalAddress=%s))"
                                 % (d["address"], d["address"]), ["1.1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(e["dn"] for e in entries), sorted(d["dns"]))

    def test_domain_objects(self):
        r, entries = self.search("(objectClass=dirmxDomain)",
                                 ["dirmxDomainName", "dirmxDomainType", "dirmxNextHop"])
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {e["dirmxDomainName"][0]: (e["dirmxDomainType"][0],
                                         e.get("dirmxNextHop", [None])[0]) for e in entries}
        want = {d["name"]: (d["type"], d["nexthop"]) for d in self.info["domains"]}
        self.assertEqual(got, want)
        # dirmxDomainName matches case-insensitively.
        r, entries = self.search("(dirmxDomainName=EXAMPLE.Net)", ["dirmxNextHop"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(entries[0]["dirmxNextHop"], ["[mx.example.net]:25"])

    def test_groups_and_special_entries(self):
        big = self.info["large_group"]
        self.assertGreater(big["size"], 3000)
        r, entries = self.search("(mail=%s)" % big["mail"], ["member"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(entries[0]["member"]), big["size"])
        g = self.info["groups"]["team-c"]
        r, entries = self.search("(mail=%s)" % g["mail"], ["uniqueMember", "objectClass"])
        self.assertEqual(sorted(entries[0]["uniqueMember"]), sorted(g["members"]))
        self.assertIn("dirmxRecipient", entries[0]["objectClass"])
        r, entries = self.search("(&(objectClass=groupOfNames)(member=%s))"
                                 % self.info["groups"]["cycle-a"]["dn"], ["mail"])
        self.assertEqual([e["mail"][0] for e in entries], [self.info["cycle"][1]])
        fc = self.info["forward_chain"]
        r, entries = self.search("(mail=%s)" % fc["addresses"][0], ["mailRoutingAddress"])
        self.assertEqual(entries[0]["mailRoutingAddress"], [fc["addresses"][1]])
        dis = self.info["disabled"]
        r, entries = self.search("(&(mail=%s)(dirmxAccountDisabled=TRUE))" % dis["mail"],
                                 ["1.1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        nh = self.info["nexthop_user"]
        r, entries = self.search("(mail=%s)" % nh["address"], ["dirmxNextHop"])
        self.assertEqual(entries[0]["dirmxNextHop"], [nh["nexthop"]])
        ft = self.info["forward_to"]
        r, entries = self.search("(mail=%s)" % ft["address"], ["dirmxForwardTo"])
        self.assertEqual(sorted(entries[0]["dirmxForwardTo"]), sorted(ft["targets"]))

    def test_generator_is_deterministic(self):
        again, _ = ldapdata.generate(users=USERS)
        self.assertEqual(again, self.ldif)

    def test_schema_forms_agree(self):
        """dirmx.schema (slaptest-converted), dirmx.ldif and dirmx-ad.ldif
        define the same things with the same OIDs."""
        d = self.lab.path("schemacheck", "slapd.d")
        os.makedirs(d, exist_ok=True)
        conf = self.lab.write("schemacheck/slapd.conf", "".join(
            "include /etc/ldap/schema/%s.schema\n" % s for s in ("core", "cosine"))
            + "include %s\n" % os.path.join(source_dir(), "schemas", "dirmx.schema"))
        r = subprocess.run(["slaptest", "-f", conf, "-F", d], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        conv = [f for f in os.listdir(os.path.join(d, "cn=config", "cn=schema"))
                if f.endswith("dirmx.ldif")]
        self.assertEqual(len(conv), 1)
        from_schema = schema_defs(os.path.join(d, "cn=config", "cn=schema", conv[0]))
        from_ldif = schema_defs(os.path.join(source_dir(), "schemas", "dirmx.ldif"))
        self.assertEqual(from_schema, from_ldif)
        self.assertEqual(len(from_ldif), 17)  # 15 attributes, 2 object classes
        # AD: same OIDs for the same lDAPDisplayNames.
        oid_name = {}
        for value in from_ldif:
            m = re.match(r"\( (\S+) NAME '([^']+)'", value)
            oid_name[m.group(2)] = m.group(1)
        ad = {}
        with open(os.path.join(source_dir(), "schemas", "dirmx-ad.ldif")) as f:
            for block in f.read().split("\n\n"):
                oid = re.search(r"^(?:attributeID|governsID): (\S+)$", block, re.M)
                name = re.search(r"^lDAPDisplayName: (\S+)$", block, re.M)
                if oid and name:
                    ad[name.group(1)] = oid.group(1)
        self.assertEqual(ad, oid_name)

    # -- binds and TLS --------------------------------------------------------
    def test_starttls_and_ldaps(self):
        s = self.slapd
        mail = self.info["users"][7]["mail"]
        r = self.run_tool(["-H", s.uri(), "-Z", "-C", s.ca.cert, "-b", s.suffix,
                           "(mail=%s)" % mail, "mail"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mail: " + mail, r.stdout)
        r = self.run_tool(["-H", s.ldaps_uri(), "-C", s.ca.cert, "-b", s.suffix,
                           "(mail=%s)" % mail, "mail"])
        self.assertEqual(r.returncode, 0, r.stderr)
        # And with OpenLDAP's own client.
        found = s.search("(mail=%s)" % mail, ["mailHost"], starttls=True)
        self.assertEqual(len(found), 1)
        found = s.search("(mail=%s)" % mail, ["mailHost"], uri=s.ldaps_uri())
        self.assertEqual(len(found), 1)

    def test_wrong_ca_is_refused(self):
        s = self.slapd
        rogue = CA(self.lab, "rogue")
        r = self.run_tool(["-H", s.uri(), "-Z", "-C", rogue.cert, "-b", s.suffix,
                           "(objectClass=*)"])
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("StartTLS: Connect error", r.stderr)
        self.assertIn("TLS handshake failed", r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.run_tool(["-H", s.ldaps_uri(), "-C", rogue.cert, "-b", s.suffix,
                           "(objectClass=*)"])
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("connect (TLS): Can't contact LDAP server", r.stderr)
        self.assertIn("TLS handshake failed", r.stderr)
        self.assertEqual(r.stdout, "")
        # OpenLDAP's ldapsearch refuses it as well.
        env = dict(s.client_env(ca_file=rogue.cert))
        p = subprocess.run(["ldapsearch", "-x", "-ZZ", "-H", s.uri(), "-b", "", "-s", "base"],
                           env=env, capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Connect error", p.stderr)

    def test_user_bind_and_bad_password(self):
        u = self.info["users"][99]
        r, entries = self.search("(uid=%s)" % u["uid"], ["mail"],
                                 bind=(u["dn"], self.info["password"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        r, _ = self.search("(uid=%s)" % u["uid"], bind=(u["dn"], "wrong"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("bind: Invalid credentials (49)", r.stderr)

    def test_anonymous_sees_no_data(self):
        r, entries = self.search("(mail=*)", bind=None)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(entries, [])
        self.assertIn("No such object", r.stderr)

    def test_sasl_external_with_client_cert(self):
        s = self.slapd
        cert, key = s.ca.client_cert("dirmx-svc")
        r = self.run_tool(["-H", s.uri(), "-Z", "-C", s.ca.cert, "-c", cert, "-k", key,
                           "-Y", "EXTERNAL", "-b", s.suffix,
                           "(mail=%s)" % self.info["users"][3]["mail"], "mailHost"],
                          bind=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mailHost: ", r.stdout)

    def test_searches_are_counted(self):
        before = self.slapd.searches_count()
        for i in range(3):
            self.search("(mail=%s)" % self.info["users"][i]["mail"])
        self.assertEqual(self.slapd.searches_count() - before, 3)

    def test_size_limit(self):
        r, entries = self.search("(objectClass=inetOrgPerson)", ["1.1"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("Size limit exceeded", r.stderr)
        self.assertEqual(len(entries), 500)

    # -- failures -------------------------------------------------------------
    def test_stop_restart_same_port(self):
        ldif, info = ldapdata.generate(users=10, suffix="dc=example,dc=net",
                                       domain="example.net", large_group=20)
        s = Slapd(self.lab, suffix="dc=example,dc=net", data=ldif)
        self.assertNotEqual(s.port, self.slapd.port)
        mail = info["users"][5]["mail"]
        r, _ = self.search("(mail=%s)" % mail, slapd=s)
        self.assertEqual(r.returncode, 0, r.stderr)
        port = s.port
        s.stop()
        t0 = time.monotonic()
        r, _ = self.search("(mail=%s)" % mail, slapd=s, extra=["-t", "5"])
        self.assertLess(time.monotonic() - t0, 4)
        self.assertEqual(r.returncode, 2)
        self.assertIn("Can't contact LDAP server", r.stderr)
        s.start()
        self.assertEqual(s.port, port)
        r, entries = self.search("(mail=%s)" % mail, ["mailHost"], slapd=s)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(entries[0]["mailHost"], [info["users"][5]["mailhost"]])
        # The other instance never noticed.
        r, _ = self.search("(mail=%s)" % self.info["users"][0]["mail"])
        self.assertEqual(r.returncode, 0, r.stderr)
        s.stop()

    def test_frozen_server_times_out(self):
        ldif, info = ldapdata.generate(users=10, large_group=10)
        s = Slapd(self.lab, data=ldif, tls=False)
        mail = info["users"][1]["mail"]
        s.freeze()
        try:
            t0 = time.monotonic()
            r, _ = self.search("(mail=%s)" % mail, slapd=s, extra=["-t", "2"])
            self.assertLess(time.monotonic() - t0, 6)
            self.assertEqual(r.returncode, 2)
        finally:
            s.thaw()
        r, _ = self.search("(mail=%s)" % mail, slapd=s)
        self.assertEqual(r.returncode, 0, r.stderr)
        s.stop()

    def test_port_in_use_raises(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            with self.assertRaises(LabError) as cm:
                Slapd(self.lab, port=busy.getsockname()[1], tls=False, start_timeout=10)
        self.assertIn("exited", str(cm.exception))
        self.assertIn("Address already in use", str(cm.exception))

    def test_bulk_load_is_fast(self):
        ldif, info = ldapdata.generate(users=10000, suffix="dc=bulk,dc=test",
                                       domain="bulk.test")
        t0 = time.monotonic()
        s = Slapd(self.lab, suffix="dc=bulk,dc=test", data=ldif, tls=False)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 10)
        r, _ = self.search("(mail=%s)" % info["users"][9999]["mail"], slapd=s)
        self.assertEqual(r.returncode, 0, r.stderr)
        s.stop()


def parse(text):
    """ldap_search output: entries of "dn: ..." then "attr: value" lines."""
    entries = []
    for block in text.split("\n\n"):
        entry = None
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name == "dn":
                entry = {"dn": value}
                entries.append(entry)
            elif entry is not None:
                entry.setdefault(name, []).append(value)
    return entries


def schema_defs(path):
    """olcAttributeTypes/olcObjectClasses values of a cn=config schema LDIF,
    unfolded, without {N} ordering prefixes, whitespace normalized."""
    with open(path) as f:
        text = re.sub(r"\n ", "", f.read())
    out = set()
    for line in text.splitlines():
        m = re.match(r"^olc(?:AttributeTypes|ObjectClasses): (?:\{\d+\})?(.*)$", line)
        if m:
            out.add(" ".join(m.group(1).split()))
    return out


if __name__ == "__main__":
    unittest.main()
