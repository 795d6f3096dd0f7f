"""dirmxctl dns against a real dnsmasq: what authd and routerd will see.

Covers SRV (several priorities and weights, TTLs), MX, A, AAAA, CNAME,
NXDOMAIN, NODATA, SRV target ".", REFUSED (dnsmasq, name outside its
domains and upstream REFUSED passed through), a server that never answers
(a socket of ours, and a SIGSTOPped dnsmasq) giving TIMEOUT within the
configured time, record updates, and SERVFAIL from a socket of ours
(dnsmasq gives no SERVFAIL on demand).
"""

import os
import socket
import struct
import subprocess
import threading
import time
import unittest

from dirmxlab import Dnsmasq, Lab, build_dir

DIRMXCTL = os.path.join(build_dir(), "routerd", "dirmxctl")
TTL = 600

RECORDS = [
    ("SRV", "_ldap._tcp.example.test", "dc1.example.test", 389, 0, 100),
    ("SRV", "_ldap._tcp.example.test", "dc2.example.test", 389, 10, 60),
    ("SRV", "_ldap._tcp.example.test", "dc3.example.test", 3268, 10, 40),
    ("SRV", "_ldap._tcp.none.test", ".", 0, 0, 0),
    ("MX", "example.test", "mx1.example.test", 10),
    ("MX", "example.test", "mx2.example.test", 20),
    ("A", "dc1.example.test", "127.0.0.11"),
    ("A", "dc1.example.test", "127.0.0.12"),
    ("AAAA", "dc1.example.test", "fd00::11"),
    ("A", "v4only.example.test", "127.0.0.13"),
    ("CNAME", "ldap.example.test", "dc1.example.test"),
]


def dirmxctl_dns(server, qtype, name, timeout_ms=1000, tries=1):
    argv = [DIRMXCTL, "dns", "-s", server, "-t", str(timeout_ms), "-n", str(tries),
            qtype, name]
    start = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.splitlines(), r.stderr, time.monotonic() - start


class Silent:
    """A UDP socket that reads queries and answers none, or answers each
    with a header-only response carrying rcode (when rcode is set)."""

    def __init__(self, rcode=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.server = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.rcode = rcode
        self.queries = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            self.queries += 1
            if self.rcode is not None and len(data) >= 12:
                flags = 0x8180 | self.rcode
                # Echo the question so the response matches the query.
                reply = data[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + data[12:]
                self.sock.sendto(reply, peer)

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


class DnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(DIRMXCTL, os.X_OK):
            raise RuntimeError("%s not built" % DIRMXCTL)
        cls.lab = Lab("dns")
        cls.dns = Dnsmasq(cls.lab, RECORDS, ttl=TTL)

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ok(self, qtype, name):
        rc, out, err, _ = dirmxctl_dns(self.dns.server, qtype, name)
        self.assertEqual(rc, 0, "%s %s: %s %s" % (qtype, name, out, err))
        return out

    def fails(self, qtype, name, status, server=None, **kw):
        rc, out, err, elapsed = dirmxctl_dns(server or self.dns.server, qtype, name, **kw)
        self.assertEqual((rc, out), (1, [status]), err)
        return err, elapsed

    def test_srv(self):
        out = self.ok("srv", "_ldap._tcp.example.test")
        self.assertCountEqual(out, [
            "SRV 0 100 389 dc1.example.test. ttl=%d" % TTL,
            "SRV 10 60 389 dc2.example.test. ttl=%d" % TTL,
            "SRV 10 40 3268 dc3.example.test. ttl=%d" % TTL,
        ])
        # Trailing dot or not: the same fully qualified name.
        self.assertCountEqual(self.ok("SRV", "_ldap._tcp.example.test."), out)

    def test_srv_not_available(self):
        err, _ = self.fails("srv", "_ldap._tcp.none.test", "NODATA")
        self.assertIn("not available", err)

    def test_mx(self):
        self.assertCountEqual(self.ok("mx", "example.test"), [
            "MX 10 mx1.example.test. ttl=%d" % TTL,
            "MX 20 mx2.example.test. ttl=%d" % TTL,
        ])

    def test_a_aaaa(self):
        self.assertCountEqual(self.ok("a", "dc1.example.test"), [
            "A 127.0.0.11 ttl=%d" % TTL, "A 127.0.0.12 ttl=%d" % TTL])
        self.assertEqual(self.ok("aaaa", "dc1.example.test"),
                         ["AAAA fd00::11 ttl=%d" % TTL])

    def test_cname_followed(self):
        self.assertCountEqual(self.ok("a", "ldap.example.test"), [
            "A 127.0.0.11 ttl=%d" % TTL, "A 127.0.0.12 ttl=%d" % TTL])

    def test_nxdomain(self):
        err, _ = self.fails("a", "nope.example.test", "NXDOMAIN")
        self.assertIn("does not exist", err)
        self.fails("srv", "_ldap._tcp.nope.test", "NXDOMAIN")

    def test_nodata(self):
        self.fails("aaaa", "v4only.example.test", "NODATA")

    def test_refused(self):
        self.fails("a", "example.com", "REFUSED")

    def test_refused_from_upstream(self):
        with Lab("dns-chain") as lab:
            upstream = Dnsmasq(lab, [], domains=("other",), name="upstream")
            front = Dnsmasq(lab, [("FORWARD", "up.test",
                                   "127.0.0.1#%d" % upstream.port)], name="front")
            self.fails("a", "x.up.test", "REFUSED", server=front.server)

    def test_timeout_silent_server(self):
        silent = Silent()
        try:
            _, elapsed = self.fails("srv", "_ldap._tcp.example.test", "TIMEOUT",
                                    server=silent.server, timeout_ms=500, tries=1)
            self.assertLess(elapsed, 3.0)
            self.assertGreaterEqual(elapsed, 0.4)
            self.assertGreaterEqual(silent.queries, 1)
        finally:
            silent.close()

    def test_servfail(self):
        silent = Silent(rcode=2)
        try:
            self.fails("mx", "example.test", "SERVFAIL", server=silent.server)
        finally:
            silent.close()

    def test_timeout_paused_dnsmasq_and_update(self):
        with Lab("dns-pause") as lab:
            d = Dnsmasq(lab, [("A", "h.example.test", "127.0.0.21")], ttl=60,
                        name="paused")
            rc, out, _, _ = dirmxctl_dns(d.server, "a", "h.example.test")
            self.assertEqual((rc, out), (0, ["A 127.0.0.21 ttl=60"]))
            d.pause()
            try:
                _, elapsed = self.fails("a", "h.example.test", "TIMEOUT",
                                        server=d.server, timeout_ms=300, tries=2)
                # 300 ms, then 600 ms for the second round: under 3 s.
                self.assertLess(elapsed, 3.0)
            finally:
                d.resume()
            d.update([("A", "h.example.test", "127.0.0.22"),
                      ("MX", "example.test", "mx9.example.test", 5)], ttl=30)
            rc, out, _, _ = dirmxctl_dns(d.server, "a", "h.example.test")
            self.assertEqual((rc, out), (0, ["A 127.0.0.22 ttl=30"]))
            rc, out, _, _ = dirmxctl_dns(d.server, "mx", "example.test")
            self.assertEqual((rc, out), (0, ["MX 5 mx9.example.test. ttl=30"]))
            proc = d.proc
            d.stop()
            self.assertIsNotNone(proc.poll())

    def test_usage_errors(self):
        for args in (["-s", "not-an-address", "a", "x.test"],
                     ["-s", "127.0.0.1:0", "a", "x.test"],
                     ["-t", "0", "a", "x.test"],
                     ["txt", "x.test"], ["a"]):
            r = subprocess.run([DIRMXCTL, "dns"] + args, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2, args)


if __name__ == "__main__":
    unittest.main()
