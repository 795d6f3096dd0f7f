"""routerd's resolve module (MX, A/AAAA, null and implicit MX, failures)
against a real dnsmasq, through tests/integration/resolve_drive.c.

Covers: MX preferences, equal preferences spread at random (seeded and
from the cache), A and AAAA targets with the hop's port, implicit MX
(RFC 5321 5.1), null MX -> PERMFAIL 5.1.10 (RFC 7505), NXDOMAIN ->
PERMFAIL 5.1.2, exchangers without addresses (skipped, or 5.4.4 when
none has one), a silent server and a SIGSTOPped dnsmasq -> TEMPFAIL 4.4.3
within the DNS timeout, literal [host]:port skipping the MX lookup, IP
hops needing no DNS at all, the MX-to-self check (TEMPFAIL 4.3.5, or only
the better MX when we are a backup) and the cache.
"""

import collections
import os
import re
import subprocess
import time
import unittest

from dirmxlab import Dnsmasq, Lab, build_dir

from test_dns import Silent

DRIVE = os.path.join(build_dir(), "tests", "resolve_drive")
TTL = 300

RECORDS = [
    ("MX", "ex.test", "mx1.ex.test", 10),
    ("MX", "ex.test", "mx2.ex.test", 20),
    ("MX", "ex.test", "mx3.ex.test", 30),
    ("A", "ex.test", "127.0.0.50"),
    ("A", "mx1.ex.test", "127.0.0.21"),
    ("AAAA", "mx1.ex.test", "fd00::21"),
    ("A", "mx2.ex.test", "127.0.0.22"),
    ("AAAA", "mx3.ex.test", "fd00::23"),
    ("MX", "eq.test", "a.eq.test", 10),
    ("MX", "eq.test", "b.eq.test", 10),
    ("MX", "eq.test", "c.eq.test", 10),
    ("MX", "eq.test", "z.eq.test", 5),
    ("A", "a.eq.test", "127.0.0.31"),
    ("A", "b.eq.test", "127.0.0.32"),
    ("A", "c.eq.test", "127.0.0.33"),
    ("A", "z.eq.test", "127.0.0.30"),
    ("A", "impl.test", "127.0.0.40"),
    ("AAAA", "impl.test", "fd00::40"),
    ("MX", "null.test", ".", 0),
    ("MX", "part.test", "ghost.part.test", 10),
    ("MX", "part.test", "mx.part.test", 20),
    ("A", "mx.part.test", "127.0.0.60"),
    ("MX", "noaddr.test", "ghost.noaddr.test", 10),
    ("MX", "backup.test", "primary.backup.test", 10),
    ("MX", "backup.test", "me.backup.test", 20),
    ("MX", "backup.test", "other.backup.test", 30),
    ("A", "primary.backup.test", "127.0.0.70"),
    ("A", "me.backup.test", "127.0.0.71"),
    ("A", "other.backup.test", "127.0.0.72"),
]

LINE = re.compile(r'(\w+)=("[^"]*"|\S+)')


def parse(lines):
    out = []
    for line in lines:
        kind, _, rest = line.partition(" ")
        fields = {k: v.strip('"') for k, v in LINE.findall(rest)}
        fields["kind"] = kind
        out.append(fields)
    return out


def drive(server, *hops, my=(), seed=None, repeat=1, no_cache=False,
          timeout_ms=500, tries=1, extra=()):
    argv = [DRIVE, "-s", server, "-t", str(timeout_ms), "-n", str(tries)]
    argv += list(extra)
    for name in my:
        argv += ["-m", name]
    if seed is not None:
        argv += ["-e", str(seed)]
    if repeat != 1:
        argv += ["-r", str(repeat)]
    if no_cache:
        argv.append("-C")
    start = time.monotonic()
    r = subprocess.run(argv + list(hops), capture_output=True, text=True,
                       timeout=120)
    elapsed = time.monotonic() - start
    return r.returncode, parse(r.stdout.splitlines()), r.stderr, elapsed


class RouteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(DRIVE, os.X_OK):
            raise RuntimeError("%s not built" % DRIVE)
        cls.lab = Lab("route")
        cls.dns = Dnsmasq(cls.lab, RECORDS, ttl=TTL)

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ok(self, hop, **kw):
        rc, out, err, _ = drive(self.dns.server, hop, **kw)
        self.assertEqual(rc, 0, "%s: %s %s" % (hop, out, err))
        targets = [(o["host"], o["addr"], int(o["port"]))
                   for o in out if o["kind"] == "target"]
        summary = [o for o in out if o["kind"] == "ok"][-1]
        return targets, summary

    def fails(self, hop, status, code, server=None, **kw):
        rc, out, err, elapsed = drive(server or self.dns.server, hop, **kw)
        self.assertEqual(rc, 1, "%s: %s %s" % (hop, out, err))
        self.assertEqual(len(out), 1, out)
        self.assertEqual((out[0]["kind"], out[0]["status"], out[0]["code"]),
                         ("fail", status, code), out)
        return out[0]["reason"], elapsed

    def test_mx_preferences_and_families(self):
        targets, summary = self.ok("ex.test")
        # Preference order; per host IPv4 first, then IPv6; port 25.
        self.assertEqual(targets, [
            ("mx1.ex.test", "127.0.0.21", 25),
            ("mx1.ex.test", "fd00::21", 25),
            ("mx2.ex.test", "127.0.0.22", 25),
            ("mx3.ex.test", "fd00::23", 25),
        ])
        self.assertEqual(summary["implicit"], "0")
        self.assertEqual(int(summary["ttl"]), TTL)

    def test_mx_hop_with_port(self):
        targets, _ = self.ok("smtp:ex.test:2525")
        self.assertEqual(targets[0], ("mx1.ex.test", "127.0.0.21", 2525))
        self.assertTrue(all(t[2] == 2525 for t in targets))

    def test_equal_preferences_spread(self):
        for seed, no_cache in ((7, True), (None, False)):
            rc, out, err, _ = drive(self.dns.server, "eq.test", repeat=300,
                                    seed=seed, no_cache=no_cache)
            self.assertEqual(rc, 0, err)
            runs = collections.defaultdict(list)
            for o in out:
                if o["kind"] == "target":
                    runs[o["run"]].append(o["host"])
            self.assertEqual(len(runs), 300)
            second = collections.Counter()
            for hosts in runs.values():
                # The preference-5 host is always first.
                self.assertEqual(hosts[0], "z.eq.test")
                self.assertCountEqual(hosts[1:], ["a.eq.test", "b.eq.test",
                                                  "c.eq.test"])
                second[hosts[1]] += 1
            for host in ("a.eq.test", "b.eq.test", "c.eq.test"):
                self.assertTrue(60 <= second[host] <= 140,
                                "%s %s" % (seed, second))
            cached = [o["cached"] for o in out if o["kind"] == "ok"]
            self.assertEqual(cached.count("1"), 0 if no_cache else 299)

    def test_implicit_mx(self):
        targets, summary = self.ok("impl.test")
        self.assertEqual(targets, [("impl.test", "127.0.0.40", 25),
                                   ("impl.test", "fd00::40", 25)])
        self.assertEqual(summary["implicit"], "1")

    def test_null_mx(self):
        reason, _ = self.fails("null.test", "PERMFAIL", "5.1.10")
        self.assertIn("null MX", reason)

    def test_nxdomain(self):
        reason, _ = self.fails("nope.test", "PERMFAIL", "5.1.2")
        self.assertIn("does not exist", reason)
        self.fails("[nope.test]:25", "PERMFAIL", "5.1.2")

    def test_exchanger_without_address(self):
        targets, _ = self.ok("part.test")
        self.assertEqual(targets, [("mx.part.test", "127.0.0.60", 25)])
        reason, _ = self.fails("noaddr.test", "PERMFAIL", "5.4.4")
        self.assertIn("no MX host", reason)

    def test_literal_skips_mx(self):
        # ex.test has MX records and an A record: [ex.test] is the A.
        targets, _ = self.ok("[ex.test]:2526")
        self.assertEqual(targets, [("ex.test", "127.0.0.50", 2526)])
        targets, _ = self.ok("[mx3.ex.test]")
        self.assertEqual(targets, [("mx3.ex.test", "fd00::23", 25)])

    def test_ip_hops_need_no_dns(self):
        silent = Silent()
        try:
            for hop, want in (("[127.0.0.9]:26", ("127.0.0.9", 26)),
                              ("[IPv6:::1]:2525", ("::1", 2525)),
                              ("127.0.0.8", ("127.0.0.8", 25))):
                rc, out, err, elapsed = drive(silent.server, hop)
                self.assertEqual(rc, 0, err)
                self.assertEqual((out[0]["addr"], int(out[0]["port"])), want)
                self.assertLess(elapsed, 2)
            self.assertEqual(silent.queries, 0)
        finally:
            silent.close()

    def test_timeout_silent_server(self):
        silent = Silent()
        try:
            for hop in ("ex.test", "[mx1.ex.test]:25"):
                reason, elapsed = self.fails(hop, "TEMPFAIL", "4.4.3",
                                             server=silent.server,
                                             timeout_ms=300, tries=1)
                self.assertLess(elapsed, 5)
        finally:
            silent.close()

    def test_servfail(self):
        silent = Silent(rcode=2)
        try:
            self.fails("ex.test", "TEMPFAIL", "4.4.3", server=silent.server)
        finally:
            silent.close()

    def test_timeout_paused_dnsmasq(self):
        with Lab("route-pause") as lab:
            d = Dnsmasq(lab, RECORDS, ttl=TTL, name="paused")
            d.pause()
            try:
                _, elapsed = self.fails("ex.test", "TEMPFAIL", "4.4.3",
                                        server=d.server, timeout_ms=300)
                self.assertLess(elapsed, 5)
            finally:
                d.resume()

    def test_mx_points_to_self(self):
        reason, _ = self.fails("ex.test", "TEMPFAIL", "4.3.5",
                               my=("MX1.ex.test.",))
        self.assertIn("points back to this host", reason)
        self.fails("impl.test", "TEMPFAIL", "4.3.5", my=("impl.test",))
        self.fails("[mx2.ex.test]:25", "TEMPFAIL", "4.3.5",
                   my=("x.test", "mx2.ex.test"))
        # A backup MX delivers only to the better ones.
        targets, _ = self.ok("backup.test", my=("me.backup.test",))
        self.assertEqual(targets, [("primary.backup.test", "127.0.0.70", 25)])

    def test_cache(self):
        rc, out, err, _ = drive(self.dns.server, "ex.test", "null.test",
                                repeat=2)
        oks = [o for o in out if o["kind"] == "ok"]
        self.assertEqual([o["cached"] for o in oks], ["0", "1"])
        self.assertLessEqual(int(oks[1]["ttl"]), TTL)
        targets = [[(o["host"], o["addr"]) for o in out
                    if o["kind"] == "target" and o["run"] == r]
                   for r in ("0", "1")]
        self.assertEqual(targets[0], targets[1])
        fails = [o for o in out if o["kind"] == "fail"]
        self.assertEqual([o["code"] for o in fails], ["5.1.10", "5.1.10"])

    def test_parallel_cancel_and_deinit(self):
        hops = ["ex.test", "impl.test", "null.test", "[mx2.ex.test]:25",
                "nope.test", "eq.test"]
        rc, out, err, _ = drive(self.dns.server, *hops, extra=["-P"])
        ends = {o["hop"]: o for o in out if o["kind"] in ("ok", "fail")}
        self.assertEqual(len([o for o in out if o["kind"] in ("ok", "fail")]),
                         len(hops), out)
        self.assertEqual(ends["null.test"]["code"], "5.1.10")
        self.assertEqual(ends["impl.test"]["kind"], "ok")
        # A server that never answers: the first answer is the IP hop,
        # then resolve_deinit() ends the rest as temporary failures.
        silent = Silent()
        try:
            rc, out, err, elapsed = drive(silent.server, "[127.0.0.9]:25",
                                          "ex.test", "[mx1.ex.test]",
                                          timeout_ms=5000,
                                          extra=["-P", "-X", "1"])
        finally:
            silent.close()
        self.assertLess(elapsed, 3)
        ends = [(o["kind"], o.get("code"), o.get("reason")) for o in out
                if o["kind"] in ("ok", "fail")]
        self.assertEqual(ends[0], ("ok", None, None))
        self.assertEqual(sorted(ends[1:]), [
            ("fail", "4.4.3", "shutting down")] * 2)


if __name__ == "__main__":
    unittest.main()
