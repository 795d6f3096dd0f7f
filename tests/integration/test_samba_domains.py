"""Shared address space (issue 16, section 3) on Active Directory: the
domain kinds come from dirmxDomain objects in a real Samba AD DC (with
schemas/dirmx-ad.ldif applied, as an admin would) and from the
configuration, and mail goes through SMTP on routerd's MX listener.

One Samba DC (dirmxlab.samba, from the lab's cache) in its network
namespace; authd (simple bind over StartTLS with the lab CA), routerd
(MX listener, no relay_networks: the client is an Internet stranger) and
four recording SMTP sinks all live in that namespace:
  MBX    the mailbox server of the AD users (their dirmxNextHop)
  OTHER  the other mail system of shared.ad.dirmx.test (internalrelay in
         the directory) and of cfgshared.ad.dirmx.test (configuration)
  GW     the host of ext.ad.dirmx.test (externalrelay in the directory)
Cases: authoritative unknown -> 550 5.1.1; internal relay unknown -> 250
and OTHER receives it; internal relay known -> MBX; external relay ->
GW with no LDAP search (authd's STATS searches unchanged); dirmxctl
lookup names the rule and the dirmxDomain object it came from.

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
/usr/bin/python3 -m unittest -v test_samba_domains
"""

import os
import re
import subprocess
import sys
import time
import unittest

from dirmxlab import Lab, source_dir
from dirmxlab.samba import SambaDC

from authdtest import dirmxctl_bin
from sambamail import MailDaemons, NsSink, NsSMTP, ns_free_port
from smtptest import wait_for

DOM = "ad.dirmx.test"
SHARED = "shared." + DOM       # internalrelay, from the directory
CFGSHARED = "cfgshared." + DOM  # internal relay, from the configuration
EXT = "ext." + DOM             # externalrelay, from the directory
SVC, SVC_PW = "svc-domains", "Svc!Passw0rd-4"
HOST = "127.0.0.1"  # inside the namespace: sinks and the MX listener


class SambaDomainsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.lab = Lab("samba-domains")
        try:
            cls._setup()
        except BaseException:
            cls.lab.close()
            raise
        sys.stderr.write("\nsamba_domains setup %.1fs\n" % (time.monotonic() - t0))

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    @classmethod
    def _setup(cls):
        lab = cls.lab
        os.chmod(lab.dir, 0o755)
        cls.dc = dc = SambaDC(lab)
        dc.add_exchange_schema()
        with open(os.path.join(source_dir(), "schemas", "dirmx-ad.ldif")) as f:
            dc.apply_schema_ldif(f.read())
        dc.create_service_account(SVC, SVC_PW)
        ports = {k: ns_free_port(dc.netns, HOST) for k in ("mbx", "other", "gw", "mx", "dns")}
        cls.hop = {k: "[%s]:%d" % (HOST, ports[k]) for k in ("mbx", "other", "gw")}
        cls.mbx = NsSink(dc.netns, "mbx", HOST, ports["mbx"]).start()
        cls.other = NsSink(dc.netns, "other", HOST, ports["other"]).start()
        cls.gw = NsSink(dc.netns, "gw", HOST, ports["gw"]).start()
        cls.sinks = [cls.mbx, cls.other, cls.gw]
        lab.on_close(cls._stop_sinks)
        cls.add_content()
        cls.mx = ports["mx"]
        cls.start_daemons(ports["dns"])

    @classmethod
    def _stop_sinks(cls):
        for s in cls.sinks:
            try:
                s.stop()
            except Exception:
                pass

    @classmethod
    def add_content(cls):
        dc = cls.dc
        users = "CN=Users," + dc.base_dn
        ldif = [dc.user_ldif("kim", None, mail="kim@" + SHARED,
                             attrs={"dirmxNextHop": cls.hop["mbx"]}),
                dc.user_ldif("ann", None, mail="ann@" + DOM,
                             attrs={"dirmxNextHop": cls.hop["mbx"]})]
        for name, dtype, hop in ((SHARED, "internalrelay", "smtp:" + cls.hop["other"]),
                                 (EXT, "externalrelay", cls.hop["gw"])):
            ldif.append("\n".join([
                "dn: CN=dom-%s,%s" % (name, users), "objectClass: dirmxDomain",
                "dirmxDomainName: " + name, "dirmxDomainType: " + dtype,
                "dirmxNextHop: " + hop]) + "\n\n")
        dc.add_ldif("".join(ldif))

    @classmethod
    def start_daemons(cls, dead_dns_port):
        d = MailDaemons(cls.lab, cls.dc, DOM, HOST, SVC, SVC_PW, cls.mx, dead_dns_port,
                        routerd_extra="internal_relay_domains = %s %s\n"
                        % (CFGSHARED, cls.hop["other"]))
        cls.conf = d.conf

    # -- helpers ----------------------------------------------------------
    def logs(self):
        return ("--- routerd:\n" + self.lab.log_text("routerd")[-2500:]
                + "\n--- authd:\n" + self.lab.log_text("authd")[-2500:])

    def rcpt(self, addr):
        with NsSMTP(self.dc.netns, HOST, self.mx) as s:
            s.ehlo()
            self.assertEqual(s.mail("stranger@elsewhere.example")[0], 250)
            code, text = s.rcpt(addr)
            return code, text.decode()

    def send(self, addr, tag):
        msg = ("From: <stranger@elsewhere.example>\r\nTo: <%s>\r\nSubject: %s\r\n"
               "X-Test-Id: %s\r\n\r\nHello from outside.\r\n" % (addr, tag, tag))
        with NsSMTP(self.dc.netns, HOST, self.mx) as s:
            s.ehlo()
            self.assertEqual(s.mail("stranger@elsewhere.example")[0], 250)
            code, text = s.rcpt(addr)
            self.assertEqual(code, 250, "%s: %d %r\n%s" % (addr, code, text, self.logs()))
            code, text = s.data(msg.encode())
            self.assertEqual(code, 250, text)

    def arrives(self, sink, addr, tag):
        def there():
            return [t for t in sink.delivered()
                    if addr in t.rcpts and t.header("X-Test-Id") == tag]
        self.assertTrue(wait_for(there, 30, 0.1),
                        "%s never reached %s\n%s" % (addr, sink.name, self.logs()))
        for other in self.sinks:
            if other is not sink:
                self.assertEqual([t for t in other.delivered()
                                  if t.header("X-Test-Id") == tag], [], other.name)

    def ctl(self, *args):
        r = subprocess.run([dirmxctl_bin(), "-c", self.conf] + list(args),
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    def searches(self):
        rc, out = self.ctl("stats")
        self.assertEqual(rc, 0, out)
        return int(re.search(r"(?m)^searches\s+(\d+)$", out).group(1))

    # -- the cases --------------------------------------------------------
    def test_authoritative_unknown_is_refused(self):
        code, text = self.rcpt("nobody@" + DOM)
        self.assertEqual((code, text[:5]), (550, "5.1.1"), text)
        self.send("ann@" + DOM, "auth-known")
        self.arrives(self.mbx, "ann@" + DOM, "auth-known")

    def test_internal_relay_from_the_directory(self):
        addr = "ghost@" + SHARED
        self.send(addr, "dir-unknown")
        self.arrives(self.other, addr, "dir-unknown")
        self.send("kim@" + SHARED, "dir-known")
        self.arrives(self.mbx, "kim@" + SHARED, "dir-known")
        rc, out = self.ctl("lookup", "--no-cache", addr)
        self.assertEqual(rc, 0, out)
        self.assertIn("rule: internal relay domain (directory CN=dom-%s,CN=Users,%s): "
                      "not in the directory, relayed to %s"
                      % (SHARED, self.dc.base_dn, self.hop["other"]), out)
        rc, out = self.ctl("lookup", "--no-cache", "kim@" + SHARED)
        self.assertIn("in the directory, routed by its entry", out)
        self.assertRegex(out, r"kim@%s\s+via %s" % (re.escape(SHARED),
                                                     re.escape(self.hop["mbx"])))

    def test_internal_relay_from_the_configuration(self):
        addr = "ghost@" + CFGSHARED
        self.send(addr, "cfg-unknown")
        self.arrives(self.other, addr, "cfg-unknown")
        rc, out = self.ctl("lookup", "--no-cache", addr)
        self.assertIn("rule: internal relay domain (configuration): not in the "
                      "directory, relayed to " + self.hop["other"], out)

    def test_external_relay_asks_nothing_of_the_directory(self):
        before = self.searches()
        self.send("control@" + CFGSHARED, "control")   # a looked-up one counts
        self.assertGreater(self.searches(), before, "STATS does not count searches")
        before = self.searches()
        addr = "anyone@" + EXT
        self.send(addr, "ext")
        self.arrives(self.gw, addr, "ext")
        self.assertEqual(self.searches(), before, "an external relay address was looked up")
        rc, out = self.ctl("lookup", "--no-cache", addr)
        self.assertIn("rule: external relay domain (directory CN=dom-%s,CN=Users,%s): "
                      "not looked up, relayed to %s" % (EXT, self.dc.base_dn, self.hop["gw"]),
                      out)


if __name__ == "__main__":
    unittest.main()
