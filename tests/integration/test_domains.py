"""Shared address space (issue 16, section 3): authoritative, internal relay
and external relay domains, from the configuration and from dirmxDomain
objects, end to end through SMTP on the MX listener.

The lab is deliverytest's (slapd with dirmx's schema and generated users,
authd, routerd, two mailbox sinks A and B) plus three more sinks started
here: OTHER_CONF and OTHER_DIR play the other mail system of a shared
domain (configured host of an internal relay domain, from the
configuration and from the directory), GATEWAY the host of the external
relay domains. The SMTP client connects from 127.0.0.2, outside
relay_networks: routerd's relay decision for an unauthenticated Internet
client is what is exercised.

Domains:
  dirmx.test               authoritative (local_domains)
  conf-shared.test         internal relay (internal_relay_domains) -> OTHER_CONF
  dir-shared.test          internal relay (dirmxDomainType internalrelay) -> OTHER_DIR
  dir-nohop.test           internal relay in the directory without dirmxNextHop
  conf-ext.test            external relay (external_relay_domains) -> GATEWAY
  dir-ext.test             external relay (dirmxDomainType externalrelay) -> GATEWAY
Known users of the shared domains have their mailbox on sink A or B.

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
python3 -m unittest -v test_domains
"""

import os
import re
import signal
import smtplib
import subprocess
import unittest

from dirmxlab import free_port

from deliverytest import DeliveryLab, Sink, bin_path
from smtptest import wait_for

CLIENT = "127.0.0.2"  # not in relay_networks (127.0.0.1/32)


def person(dn_uid, mail, mailhost, people):
    return ("dn: uid=%s,%s\nobjectClass: inetOrgPerson\n"
            "objectClass: inetLocalMailRecipient\nuid: %s\ncn: %s\nsn: %s\n"
            "mail: %s\nmailHost: %s\n\n"
            % (dn_uid, people, dn_uid, dn_uid, dn_uid, mail, mailhost))


def domain(name, dtype, hop, domains_dn):
    s = ("dn: cn=%s,%s\nobjectClass: dirmxDomain\ncn: %s\ndirmxDomainName: %s\n"
         "dirmxDomainType: %s\n" % (name, domains_dn, name, name, dtype))
    if hop:
        s += "dirmxNextHop: %s\n" % hop
    return s + "\n"


class DomainsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        ports = {k: free_port() for k in ("conf", "dir", "gw")}
        cls.hop_conf = "[127.0.0.1]:%d" % ports["conf"]
        cls.hop_dir = "[127.0.0.1]:%d" % ports["dir"]
        cls.hop_gw = "[127.0.0.1]:%d" % ports["gw"]
        cls.dl = dl = DeliveryLab(
            "domains", start=False, users=10,
            routerd="internal_relay_domains = conf-shared.test %s\n"
                    "internal_relay_domains = loop.test [127.0.0.1]:MXPORT\n"
                    "external_relay_domains = conf-ext.test %s\n"
                    "retry_min = 1s\n" % (cls.hop_conf, cls.hop_gw))
        try:
            cls.other_conf = dl.add_sink(Sink("other-conf", "127.0.0.1", ports["conf"]))
            cls.other_dir = dl.add_sink(Sink("other-dir", "127.0.0.1", ports["dir"]))
            cls.gateway = dl.add_sink(Sink("gateway", "127.0.0.1", ports["gw"]))
            info = dl.info
            people, domains_dn = info["people_dn"], info["domains_dn"]
            cls.mbx_a = "[127.0.0.1]:%d" % dl.port_a
            cls.mbx_b = "[127.0.0.1]:%d" % dl.port_b
            dl.slapd.add_ldif(
                domain("dir-shared.test", "internalrelay", "smtp:" + cls.hop_dir, domains_dn)
                + domain("dir-nohop.test", "InternalRelay", None, domains_dn)
                + domain("dir-ext.test", "externalrelay", cls.hop_gw, domains_dn)
                + person("kim", "kim@conf-shared.test", cls.mbx_a, people)
                + person("lou", "lou@dir-shared.test", cls.mbx_b, people)
                + person("max", "max@dir-nohop.test", cls.mbx_a, people)
                # A forward to an address the other system holds.
                + "dn: uid=fwd,%s\nobjectClass: inetOrgPerson\n"
                  "objectClass: inetLocalMailRecipient\nuid: fwd\ncn: fwd\nsn: fwd\n"
                  "mail: fwd@dirmx.test\nmailRoutingAddress: moved@conf-shared.test\n\n"
                  % people)
            # loop.test's "other system" is this very routerd (its MX
            # port is known only now): the worst loop there is.
            with open(dl.conf) as f:
                conf = f.read().replace("MXPORT", str(dl.mx))
            with open(dl.conf, "w") as f:
                f.write(conf)
            dl.start_authd()
            dl.start_routerd()
        except BaseException:
            dl.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    # -- helpers ----------------------------------------------------------
    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.dl.mx, local_hostname="client.test",
                         timeout=30, source_address=(CLIENT, 0))
        s.ehlo()
        return s

    def rcpt(self, addr):
        """(code, text) of RCPT TO:<addr> after MAIL from an outsider."""
        with self.smtp() as s:
            code, _ = s.mail("someone@elsewhere.test")
            self.assertEqual(code, 250)
            code, text = s.rcpt(addr)
            return code, text.decode()

    def send(self, addr, tag):
        """One message to addr from an outsider; asserts 250 at RCPT and
        at the end of DATA."""
        msg = ("From: <someone@elsewhere.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
               "X-Test-Id: %s\r\n\r\nHello.\r\n" % (addr, tag, tag))
        with self.smtp() as s:
            self.assertEqual(s.mail("someone@elsewhere.test")[0], 250)
            code, text = s.rcpt(addr)
            self.assertEqual(code, 250, "%s: %d %r\n%s" % (addr, code, text,
                                                           self.logs()))
            code, text = s.data(msg.encode())
            self.assertEqual(code, 250, text)

    def arrives(self, sink, addr, tag, timeout=30):
        def there():
            return [t for t in sink.delivered()
                    if addr in t.rcpts and t.header("X-Test-Id") == tag]
        self.assertTrue(wait_for(there, timeout, 0.1),
                        "%s never reached %s\n%s" % (addr, sink.name, self.logs()))
        return there()[0]

    def not_at(self, sinks, tag):
        for s in sinks:
            self.assertEqual([t for t in s.delivered() if t.header("X-Test-Id") == tag], [],
                             "%s reached %s" % (tag, s.name))

    def logs(self):
        return ("--- routerd:\n" + self.dl.log()[-2500:]
                + "\n--- authd:\n" + self.dl.lab.log_text("authd")[-2500:])

    def ctl_lookup(self, addr, *opts):
        r = subprocess.run([bin_path("routerd", "dirmxctl"), "-c", self.dl.conf, "lookup"]
                           + list(opts) + [addr], capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    def all_sinks(self):
        return [self.dl.sink_a, self.dl.sink_b, self.other_conf, self.other_dir, self.gateway]

    # -- authoritative ------------------------------------------------------
    def test_authoritative_unknown_is_refused(self):
        code, text = self.rcpt("nobody@dirmx.test")
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith("5.1.1"), text)
        rc, out = self.ctl_lookup("nobody@dirmx.test", "--no-cache")
        self.assertEqual(rc, 1, out)
        self.assertIn("rule: authoritative domain (configuration): not deliverable here, "
                      "refused (550 5.1.1)", out)

    def test_not_ours_is_still_relay_denied(self):
        code, text = self.rcpt("x@elsewhere.example")
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith("5.7.1"), text)

    # -- internal relay ------------------------------------------------------
    def test_internal_relay_unknown_goes_to_the_other_system(self):
        for addr, sink, hop, source in (
                ("ghost@conf-shared.test", self.other_conf, self.hop_conf, "configuration"),
                ("ghost@dir-shared.test", self.other_dir, self.hop_dir,
                 "directory cn=dir-shared.test,ou=domains,dc=dirmx,dc=test")):
            with self.subTest(addr=addr):
                tag = "ir-unknown-" + addr
                self.send(addr, tag)
                txn = self.arrives(sink, addr, tag)
                self.assertEqual(txn.rcpts, [addr])
                self.not_at([s for s in self.all_sinks() if s is not sink], tag)
                for opts in (("--no-cache",), ()):   # computed, then cached
                    rc, out = self.ctl_lookup(addr, *opts)
                    self.assertEqual(rc, 0, out)
                    self.assertIn("rule: internal relay domain (%s): not in the directory, "
                                  "relayed to %s" % (source, hop), out)
                    self.assertRegex(out, r"%s\s+via %s" % (re.escape(addr), re.escape(hop)))
                self.assertIn("(from the cache)", out)

    def test_internal_relay_subaddress_of_unknown_keeps_its_detail(self):
        addr = "ghost+tag@conf-shared.test"
        self.send(addr, "ir-detail")
        self.assertEqual(self.arrives(self.other_conf, addr, "ir-detail").rcpts, [addr])

    def test_internal_relay_known_goes_to_its_mailbox(self):
        for addr, sink, source in (
                ("kim@conf-shared.test", self.dl.sink_a, "configuration"),
                ("lou@dir-shared.test", self.dl.sink_b,
                 "directory cn=dir-shared.test,ou=domains,dc=dirmx,dc=test")):
            with self.subTest(addr=addr):
                tag = "ir-known-" + addr
                self.send(addr, tag)
                self.arrives(sink, addr, tag)
                self.not_at([self.other_conf, self.other_dir, self.gateway], tag)
                rc, out = self.ctl_lookup(addr, "--no-cache")
                self.assertEqual(rc, 0, out)
                self.assertIn("rule: internal relay domain (%s): in the directory, routed "
                              "by its entry" % source, out)

    def test_forward_to_an_unknown_address_of_a_shared_domain(self):
        self.send("fwd@dirmx.test", "ir-forward")
        txn = self.arrives(self.other_conf, "moved@conf-shared.test", "ir-forward")
        self.assertEqual(txn.rcpts, ["moved@conf-shared.test"])

    def test_user_moved_here_is_routed_here_at_once(self):
        """The migration's step: a user is created in the directory after
        her address was relayed (and that answer cached); the directory
        change drops the cached answer and her mail comes here."""
        dl, addr = self.dl, "nia@conf-shared.test"
        self.send(addr, "before-move")
        self.arrives(self.other_conf, addr, "before-move")
        rc, out = self.ctl_lookup(addr)
        self.assertIn("(from the cache)", out)
        dl.slapd.add_ldif(person("nia", addr, self.mbx_b, dl.info["people_dn"]))

        def moved():
            rc, out = self.ctl_lookup(addr)
            return rc == 0 and re.search(r"%s\s+via %s" % (re.escape(addr),
                                                          re.escape(self.mbx_b)), out)
        self.assertTrue(wait_for(moved, 30, 0.2), self.ctl_lookup(addr)[1] + self.logs())
        self.send(addr, "after-move")
        self.arrives(dl.sink_b, addr, "after-move")
        self.not_at([self.other_conf], "after-move")

    def test_sighup_says_authd_needs_a_restart_for_domain_lists(self):
        """authd builds its domain table once: a SIGHUP after a change of
        the [routerd] domain lists must say so, not claim a reload."""
        with open(self.dl.conf) as f:
            conf = f.read()
        self.addCleanup(self._write_conf, conf)
        mark = len(self.dl.lab.log_text("authd"))
        self._write_conf(conf.replace(
            "external_relay_domains = conf-ext.test",
            "external_relay_domains = conf-ext2.test %s\n"
            "external_relay_domains = conf-ext.test" % self.hop_gw, 1))
        os.kill(self.dl.authd.pid, signal.SIGHUP)
        want = "event=reload_needs_restart section=routerd setting=external_relay_domains"
        self.assertTrue(wait_for(lambda: want in self.dl.lab.log_text("authd")[mark:], 10, 0.1),
                        self.dl.lab.log_text("authd")[mark:])
        self.assertNotIn("setting=internal_relay_domains",
                         self.dl.lab.log_text("authd")[mark:])

    def _write_conf(self, text):
        with open(self.dl.conf, "w") as f:
            f.write(text)

    def test_a_relay_loop_ends_in_a_bounce(self):
        """An internal relay whose other system sends the unknown back (here:
        routerd itself) loops until max_received_headers (30), is refused
        with 554 5.4.6 and bounced to its sender: never forever."""
        dl = self.dl
        sender = dl.user(1)
        mailbox = dl.sink_b if 1 % 2 else dl.sink_a
        msg = ("From: <%s>\r\nTo: <ghost@loop.test>\r\nSubject: loop\r\n"
               "X-Test-Id: loop\r\n\r\nAround and around.\r\n" % sender)
        with self.smtp() as s:
            self.assertEqual(s.mail(sender)[0], 250)
            self.assertEqual(s.rcpt("ghost@loop.test")[0], 250)
            self.assertEqual(s.data(msg.encode())[0], 250)

        def bounce():
            return [t for t in mailbox.delivered()
                    if t.mail_from == "" and sender in t.rcpts and b"loop.test" in t.data]
        self.assertTrue(wait_for(bounce, 90, 0.2), "no bounce\n" + self.logs())
        self.assertIn(b"5.4.6", bounce()[0].data)
        loops = [ln for ln in dl.log().splitlines() if "event=loop received=31" in ln]
        self.assertEqual(len(loops), 1, self.logs())

    def test_internal_relay_tempfail_stays_451(self):
        dl = self.dl
        dl.slapd.freeze()
        try:
            code, text = self.rcpt("newcomer@conf-shared.test")
        finally:
            dl.slapd.thaw()
        self.assertEqual(code, 451, text + "\n" + self.logs())
        self.assertTrue(text.startswith("4.4.3"), text)
        self.not_at(self.all_sinks(), "never-sent")
        # Answered again once the directory is back (not a cached guess).
        self.assertTrue(wait_for(lambda: self.rcpt("newcomer@conf-shared.test")[0] == 250,
                                 20, 0.5), self.logs())

    def test_internal_relay_without_next_hop_defers_unknown(self):
        self.assertIn("event=no_next_hop dn=\"cn=dir-nohop.test",
                      self.dl.lab.log_text("authd"))
        code, text = self.rcpt("ghost@dir-nohop.test")
        self.assertEqual(code, 451, text)
        rc, out = self.ctl_lookup("ghost@dir-nohop.test", "--no-cache")
        self.assertEqual(rc, 3, out)   # TEMPFAIL
        self.assertIn("no next hop for the other mail system (dirmxNextHop)", out)
        # Its known recipients are routed as usual.
        self.assertEqual(self.rcpt("max@dir-nohop.test")[0], 250)

    # -- external relay ------------------------------------------------------
    def test_external_relay_relays_without_any_search(self):
        dl = self.dl
        # The count moves when the directory is asked (the control).
        before = dl.slapd.searches_count()
        self.assertEqual(self.rcpt("control-%d@conf-shared.test" % os.getpid())[0], 250)
        self.assertTrue(wait_for(lambda: dl.slapd.searches_count() > before, 10),
                        "slapd's log does not count searches")
        for addr in ("anyone@conf-ext.test", "someone@dir-ext.test"):
            with self.subTest(addr=addr):
                before = dl.slapd.searches_count()
                tag = "er-" + addr
                self.send(addr, tag)
                self.arrives(self.gateway, addr, tag)
                self.assertEqual(dl.slapd.searches_count(), before,
                                 "an external relay recipient was looked up")
        rc, out = self.ctl_lookup("anyone@conf-ext.test", "--no-cache")
        self.assertEqual(rc, 0, out)
        self.assertIn("rule: external relay domain (configuration): not looked up, "
                      "relayed to %s" % self.hop_gw, out)
        self.assertNotIn("| search", out)


class DomainsConfigTest(unittest.TestCase):
    """-t names the mistakes: an internal relay domain without the other
    system's host, and a domain given two kinds."""

    def check(self, routerd_lines):
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"), "dirmx-domains-%d" % os.getpid())
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "dirmx.conf")
        with open(conf, "w") as f:
            f.write("[authd]\ndirectory = ldap\nservers = ldap://127.0.0.1:1\n"
                    "base_dn = dc=x\n\n[routerd]\n" + routerd_lines)
        out = {}
        for prog in (bin_path("authd", "authd"), bin_path("routerd", "routerd")):
            r = subprocess.run([prog, "-t", "-c", conf], capture_output=True, text=True,
                               timeout=30)
            out[os.path.basename(prog)] = (r.returncode, r.stdout + r.stderr)
        os.unlink(conf)
        os.rmdir(d)
        return conf, out

    def test_internal_relay_needs_its_host(self):
        conf, out = self.check("internal_relay_domains = shared.example\n")
        for prog, (rc, text) in out.items():
            self.assertNotEqual(rc, 0, prog + ": " + text)
            self.assertIn("%s:7: [routerd] internal_relay_domains: invalid value "
                          "'shared.example': an internal relay domain needs the host of "
                          "the other mail system" % conf, text, prog)

    def test_one_kind_per_domain(self):
        conf, out = self.check("local_domains = x.example\n"
                               "internal_relay_domains = x.example [h.example]:25\n")
        for prog, (rc, text) in out.items():
            self.assertNotEqual(rc, 0, prog + ": " + text)
            self.assertIn("x.example is in both local_domains and internal_relay_domains",
                          text, prog)

    def test_good_configuration_passes(self):
        _, out = self.check("local_domains = a.example\n"
                            "internal_relay_domains = b.example [old.b.example]:25\n"
                            "external_relay_domains = c.example, d.example [gw.example]\n")
        for prog, (rc, text) in out.items():
            self.assertEqual(rc, 0, prog + ": " + text)


if __name__ == "__main__":
    unittest.main()
