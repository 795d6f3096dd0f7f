"""Smoke test of the Samba AD lab (dirmxlab.samba): two real DCs in a
network namespace, with the behaviour dirmx relies on.

One class, so the domain is provisioned (or copied from the cache) and the
second DC joined once. With DIRMX_SAVE_CORPUS=1 the real Netlogon and CLDAP
answers are also written to tests/fuzz/corpus/{netlogon,cldap}/samba-real.bin.
"""

import os
import socket
import sys
import time
import unittest

from dirmxlab import Lab, source_dir
from dirmxlab.samba import SambaDC, parse_ldif

NTVER = b"\x16\x00\x00\x00"  # NETLOGON_NT_VERSION_5 | 5EX | WITH_CLOSEST_SITE
LOGON_SAM_LOGON_RESPONSE_EX = 23


# ---- a tiny BER encoder/decoder, enough for one CLDAP search -------------

def ber(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + length + content


def ber_int(tag, v):
    return ber(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def ldap_ping_request(msgid, dns_domain):
    eq = lambda a, v: ber(0xA3, ber(0x04, a) + ber(0x04, v))  # equalityMatch
    search = (ber(0x04, b"") + ber_int(0x0A, 0) + ber_int(0x0A, 0) + ber_int(0x02, 0)
              + ber_int(0x02, 0) + ber(0x01, b"\x00")
              + ber(0xA0, eq(b"DnsDomain", dns_domain.encode()) + eq(b"NtVer", NTVER))
              + ber(0x30, ber(0x04, b"Netlogon")))
    return ber(0x30, ber_int(0x02, msgid) + ber(0x63, search))


def ber_read(buf, pos):
    """(tag, content, next_pos) of the TLV at pos."""
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > len(buf):
        raise ValueError("truncated BER")
    return tag, buf[pos:pos + n], pos + n


def ber_children(content):
    pos, out = 0, []
    while pos < len(content):
        tag, c, pos = ber_read(content, pos)
        out.append((tag, c))
    return out


def cldap_netlogon(datagram):
    """(netlogon value, resultCode) from a CLDAP answer: SearchResultEntry
    and SearchResultDone, both in the one datagram."""
    value, code, pos = None, None, 0
    while pos < len(datagram):
        tag, msg, pos = ber_read(datagram, pos)
        assert tag == 0x30
        (_, _), (op, body) = ber_children(msg)[:2]
        if op == 0x64:  # SearchResultEntry
            _, attrs = ber_children(body)
            for _, attr in ber_children(attrs[1]):
                (_, name), (_, vals) = ber_children(attr)
                if name.lower() == b"netlogon":
                    value = ber_children(vals)[0][1]
        elif op == 0x65:  # SearchResultDone
            code = ber_children(body)[0][1][0]
    return value, code


def dns_labels(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


class SambaLabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("samba")
        try:
            t0 = time.monotonic()
            cls.dc = SambaDC(cls.lab)
            t1 = time.monotonic()
            cls.dc2 = cls.dc.join_second_dc("127.0.0.11")
            t2 = time.monotonic()
        except BaseException:
            cls.lab.close()
            raise
        sys.stderr.write("\nsamba lab: first DC %.1fs %s, second DC %.1fs %s\n"
                         % (t1 - t0, cls.dc.times, t2 - t1, cls.dc2.times))

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ccache_env(self, name):
        return {"KRB5CCNAME": "FILE:" + self.lab.path("cc-" + name)}

    # ---- DNS ---------------------------------------------------------------

    def test_srv_records(self):
        dom = self.dc.dns_domain
        for name, port in (("_ldap._tcp.dc._msdcs." + dom, "389"),
                           ("_ldap._tcp.Default-First-Site-Name._sites.dc._msdcs." + dom, "389"),
                           ("_gc._tcp." + dom, "3268"),
                           ("_kerberos._tcp." + dom, "88")):
            for server in (self.dc.ip, self.dc2.ip):
                with self.subTest(name=name, server=server):
                    out = self.dc.dig(name, "SRV", server=server)
                    self.assertIn(" %s %s." % (port, self.dc.fqdn), out)
                    self.assertIn(" %s %s." % (port, self.dc2.fqdn), out)
        # The namespace's resolver is the DCs' DNS; other names stay inside.
        out = self.dc.run(["dig", "+short", "SRV", "_ldap._tcp.dc._msdcs." + dom]).stdout
        self.assertIn(self.dc.fqdn, out)
        out = self.dc.run(["dig", "@" + self.dc.ip, "www.example.com", "A"]).stdout
        self.assertIn("NXDOMAIN", out)

    # ---- binds -------------------------------------------------------------

    def test_ldaps_simple_bind_verifies_lab_ca(self):
        for uri in (self.dc.ldap_uri(tls=True), "ldaps://" + self.dc.ip):
            res = self.dc.search("(sAMAccountName=Administrator)", ["sAMAccountName"], uri=uri)
            self.assertEqual(res[0][0], self.dc.admin_dn, uri)
        # StartTLS on 389 works too.
        res = self.dc.search("(sAMAccountName=Administrator)", ["1.1"],
                             uri=self.dc.ldap_uri(tls=False), extra=["-ZZ"])
        self.assertEqual(res[0][0], self.dc.admin_dn)
        # Verification is real: another CA's bundle is refused.
        r = self.dc.ldapsearch("(sAMAccountName=Administrator)", ["1.1"], check=False,
                               env={"LDAPTLS_CACERT": "/etc/ssl/certs/ca-certificates.crt"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Can't contact LDAP server", r.stderr)

    def test_simple_bind_on_plain_389_refused(self):
        r = self.dc.ldapsearch("(sAMAccountName=Administrator)", ["1.1"],
                               uri="ldap://" + self.dc.ip, check=False)
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertIn("Strong(er) authentication required", r.stderr)

    def test_gssapi_with_service_keytab(self):
        self.dc.create_service_account("svc-dirmx", "Svc!Passw0rd-1")
        kt = self.dc.export_keytab("svc-dirmx", self.lab.path("svc-dirmx.keytab"))
        env = self.ccache_env("svc")
        self.dc.run(["kinit", "-k", "-t", kt, "svc-dirmx@" + self.dc.realm], env=env)
        res = self.dc.search("(sAMAccountName=svc-dirmx)", ["sAMAccountName"],
                             auth="gssapi", env=env)
        self.assertEqual(res[0][1]["sAMAccountName"], [b"svc-dirmx"])
        # (Samba has no WhoAmI extended operation: ldapwhoami fails.)
        klist = self.dc.run(["klist"], env=env).stdout
        self.assertIn("ldap/%s@%s" % (self.dc.fqdn, self.dc.realm), klist)
        # A wrong keytab (another principal's keys) is refused.
        r = self.dc.run(["kinit", "-k", "-t", kt, "Administrator@" + self.dc.realm],
                        env=env, check=False)
        self.assertNotEqual(r.returncode, 0)

    # ---- content -----------------------------------------------------------

    def test_proxy_addresses_and_users(self):
        dom = self.dc.dns_domain
        dn = self.dc.add_user("alice", "Alice!Passw0rd", mail="alice@" + dom,
                              proxy_addresses=["SMTP:alice@" + dom, "smtp:al@" + dom,
                                               "X500:/o=old/cn=alice"])
        self.dc.add_user("bob", "Bob!Passw0rd1", mail="bob@" + dom, disabled=True)
        res = self.dc.search("(proxyAddresses=smtp:al@%s)" % dom, ["mail", "proxyAddresses"])
        self.assertEqual([d for d, _ in res], [dn])
        self.assertEqual(res[0][1]["mail"], [("alice@" + dom).encode()])
        # proxyAddresses matches case-insensitively, like AD.
        res = self.dc.search("(proxyAddresses=SMTP:AL@%s)" % dom.upper(), ["1.1"])
        self.assertEqual([d for d, _ in res], [dn])
        res = self.dc.search("(sAMAccountName=bob)", ["userAccountControl"])
        self.assertTrue(int(res[0][1]["userAccountControl"][0]) & 2)
        # The user's password works (LDAPS simple bind as alice).
        r = self.dc.run(["ldapsearch", "-x", "-H", self.dc.ldap_uri(), "-D", "alice@" + dom,
                         "-w", "Alice!Passw0rd", "-b", dn, "-s", "base", "sAMAccountName"])
        self.assertIn("sAMAccountName: alice", r.stdout)
        r = self.dc.run(["ldapsearch", "-x", "-H", self.dc.ldap_uri(), "-D", "alice@" + dom,
                         "-w", "wrong", "-b", dn, "-s", "base"], check=False)
        self.assertEqual(r.returncode, 49, r.stderr)  # invalidCredentials
        g = self.dc.add_group("sales", members=[dn], mail="sales@" + dom,
                              proxy_addresses=["SMTP:sales@" + dom], group_type=8)
        res = self.dc.search("(mail=sales@%s)" % dom, ["member"])
        self.assertEqual(res[0][0], g)
        self.assertEqual(res[0][1]["member"], [dn.encode()])

    def test_exchange_schema_contact(self):
        self.dc.add_exchange_schema()
        self.dc.add_exchange_schema()  # idempotent
        dom = self.dc.dns_domain
        dn = self.dc.add_contact("partner-carol", mail="carol@" + dom,
                                 target_address="SMTP:carol@partner.example",
                                 proxy_addresses=["SMTP:carol@" + dom],
                                 attrs={"mailNickname": "carol"})
        res = self.dc.search("(targetAddress=SMTP:carol@partner.example)",
                             ["targetAddress", "mailNickname", "objectClass"])
        self.assertEqual(res[0][0], dn)
        self.assertEqual(res[0][1]["targetAddress"], [b"SMTP:carol@partner.example"])
        self.assertEqual(res[0][1]["mailNickname"], [b"carol"])
        self.assertIn(b"contact", res[0][1]["objectClass"])
        # users and groups may carry them too
        self.dc.add_user("dave", "Dave!Passw0rd1", attrs={"mailNickname": "dave",
                                                           "targetAddress": "SMTP:d@x.example"})

    def test_password_policy(self):
        self.dc.set_password_policy(lockout_threshold=5, observation_window=2,
                                    lockout_duration=2)
        res = self.dc.search("(objectClass=domain)", ["lockoutThreshold"], scope="base")
        self.assertEqual(res[0][1]["lockoutThreshold"], [b"5"])

    # ---- two DCs -----------------------------------------------------------

    def test_second_dc_replicates(self):
        res = self.dc2.search("(objectClass=*)", ["dnsHostName"], base="", scope="base",
                              auth="anonymous")
        self.assertEqual(res[0][1]["dnsHostName"][0].decode().lower(), self.dc2.fqdn)
        dn = self.dc.add_user("replica-erin", "Erin!Passw0rd1", mail="erin@" + self.dc.dns_domain)
        deadline = time.monotonic() + 60
        while True:
            res = self.dc2.search("(mail=erin@%s)" % self.dc.dns_domain, ["1.1"])
            if res or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual([d for d, _ in res], [dn])

    def test_frozen_dc_times_out_other_answers(self):
        self.dc.freeze()
        try:
            t = time.monotonic()
            # LDAPTIMEOUT (LDAP_OPT_TIMEOUT) is what ends the wait: with
            # -o nettimeout alone the connect succeeds (the kernel accepts)
            # and the bind waits forever; LDAPS hangs in the TLS handshake
            # even with both set.
            r = self.dc.run(["ldapsearch", "-x", "-o", "nettimeout=2",
                             "-H", "ldap://" + self.dc.ip, "-b", "", "-s", "base"],
                            env={"LDAPTIMEOUT": "2"}, check=False, timeout=20)
            elapsed = time.monotonic() - t
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("Timed out", r.stderr)
            self.assertLess(elapsed, 10)
            res = self.dc2.search("(sAMAccountName=Administrator)", ["1.1"],
                                  uri="ldaps://" + self.dc2.ip,
                                  extra=["-o", "nettimeout=2"])
            self.assertEqual(res[0][0], self.dc.admin_dn)
        finally:
            self.dc.thaw()
        res = self.dc.search("(sAMAccountName=Administrator)", ["1.1"],
                             uri="ldaps://" + self.dc.ip)
        self.assertEqual(len(res), 1)

    def test_stopped_dc_refuses_then_restarts(self):
        self.dc2.stop()
        try:
            with self.assertRaises(ConnectionRefusedError):
                self.dc.netns.connect(self.dc2.ip, 389, timeout=2)
        finally:
            self.dc2.start()
        res = self.dc2.search("(sAMAccountName=Administrator)", ["1.1"],
                              uri="ldaps://" + self.dc2.ip)
        self.assertEqual(res[0][0], self.dc.admin_dn)

    # ---- LDAP ping -----------------------------------------------------------

    def check_netlogon(self, value):
        self.assertEqual(int.from_bytes(value[0:2], "little"), LOGON_SAM_LOGON_RESPONSE_EX)
        flags = int.from_bytes(value[4:8], "little")
        self.assertTrue(flags & 0x8, "DS_SERVER_LDAP flag")
        guid = self.dc.search("(objectClass=domain)", ["objectGUID"], scope="base")
        self.assertEqual(value[8:24], guid[0][1]["objectGUID"][0])
        self.assertIn(dns_labels(self.dc.dns_domain), value)
        self.assertIn(b"Default-First-Site-Name", value)

    def save_corpus(self, kind, data):
        with open(self.lab.path("netlogon-%s.bin" % kind), "wb") as f:
            f.write(data)
        if os.environ.get("DIRMX_SAVE_CORPUS") == "1":
            d = os.path.join(source_dir(), "tests", "fuzz", "corpus", kind)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "samba-real.bin"), "wb") as f:
                f.write(data)

    def test_ldap_ping_tcp(self):
        flt = "(&(DnsDomain=%s)(NtVer=\\16\\00\\00\\00))" % self.dc.dns_domain
        r = self.dc.ldapsearch(flt, ["Netlogon"], base="", scope="base", auth="anonymous",
                               uri="ldap://" + self.dc.ip)
        res = parse_ldif(r.stdout)
        value = res[0][1]["netlogon"][0] if "netlogon" in res[0][1] else res[0][1]["Netlogon"][0]
        self.check_netlogon(value)
        self.save_corpus("netlogon", value)

    def test_ldap_ping_udp(self):
        s = self.dc.netns.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(5)
            s.sendto(ldap_ping_request(7, self.dc.dns_domain), (self.dc.ip, 389))
            datagram, _ = s.recvfrom(65536)
        finally:
            s.close()
        value, code = cldap_netlogon(datagram)
        self.assertEqual(code, 0)
        self.assertIsNotNone(value)
        self.check_netlogon(value)
        self.save_corpus("cldap", datagram)


if __name__ == "__main__":
    unittest.main()
