"""authd's DC locator and connection pool (dcloc.c, ldpool.c, through
tests/dcloc_drive) against real DNS (dnsmasq) and real directory servers
(three slapd instances on loopback).

What is proved:
  - RFC 2782 order through real SRV records: priority first, then weighted
    random (weight 80 first in about 80% of seeds), the search goes to the
    first DC of the order;
  - the SRV name chain: site-specific, then dc._msdcs, then plain _ldap._tcp;
  - failover when the preferred DC stops: no search lost or answered wrongly,
    answers move to the second DC and come back when the first returns;
  - a frozen DC (SIGSTOP): searches time out once, are retried on the other
    DC, none takes longer than 2 x timeout;
  - bad DNS (NXDOMAIN, NODATA, target ".", malformed answers) and a DC that
    accepts TCP and never answers: clear errors, bounded time, no crash.
"""

import os
import subprocess
import threading
import time
import unittest

from dirmxlab import Dnsmasq, Lab, Slapd, ldapdata

from dirmxtest import BadDns, Hole, Run, describe, drive, parse_dcloc, tool

FILTER = "(uid=user0000*)"  # user00000 .. user00009
EXPECTED = 10
SEEDS = 150
BATCH = 25


class DclocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("dcloc")
        try:
            cls._setup()
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def _setup(cls):
        lab = cls.lab
        ldif, info = ldapdata.generate(users=20)
        cls.info = info
        cls.slapd = [Slapd(lab, data=ldif, name="dc%d" % (i + 1)) for i in range(3)]
        s1, s2, s3 = cls.slapd
        cls.hole = Hole()
        lab.on_close(cls.hole.close)
        p = [s.port for s in cls.slapd]
        srv = "_ldap._tcp."
        msdcs = "_ldap._tcp.dc._msdcs."
        cls.dns = Dnsmasq(lab, [
            # RFC 2782 order
            ("SRV", srv + "order.test", "localhost", p[0], 0, 80),
            ("SRV", srv + "order.test", "localhost", p[1], 0, 20),
            ("SRV", srv + "order.test", "localhost", p[2], 10, 100),
            # only the domain-wide AD name
            ("SRV", msdcs + "msdcs.test", "localhost", p[1], 0, 100),
            # AD name and plain name: the AD name wins
            ("SRV", msdcs + "both.test", "localhost", p[0], 0, 100),
            ("SRV", srv + "both.test", "localhost", p[2], 0, 100),
            # a site of its own
            ("SRV", "_ldap._tcp.Paris._sites.dc._msdcs.site.test", "localhost", p[2], 0, 100),
            ("SRV", msdcs + "site.test", "localhost", p[0], 0, 50),
            ("SRV", msdcs + "site.test", "localhost", p[1], 0, 50),
            # failover pair
            ("SRV", srv + "fo.test", "localhost", p[0], 0, 100),
            ("SRV", srv + "fo.test", "localhost", p[1], 10, 100),
            # "service decidedly not available"
            ("SRV", srv + "dead.test", ".", 0, 0, 0),
            # a DC that accepts and never answers, listed first
            ("SRV", srv + "hole.test", "localhost", cls.hole.port, 0, 100),
            ("SRV", srv + "hole.test", "localhost", p[1], 10, 100),
            # the SRV names of nodata.test exist, with an A record only
            ("A", msdcs + "nodata.test", "127.0.0.1"),
            ("A", srv + "nodata.test", "127.0.0.1"),
        ], ttl=600)
        got = s1.search(FILTER, ["uid"], base=info["people_dn"])
        if len(got) != EXPECTED:
            raise AssertionError("lab data: %s matches %d entries, not %d"
                                 % (FILTER, len(got), EXPECTED))
        tool("dcloc_drive")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def setUp(self):
        # A test that stops or freezes a DC gives it back.
        for s in self.slapd:
            if not s.running():
                s.start()
            else:
                s.thaw()

    # -- helpers ---------------------------------------------------------
    def uri(self, s):
        return "ldap://localhost:%d" % s.port

    def args(self, domain, *extra, tls="none", timeout_ms=3000):
        s = self.slapd[0]
        a = ["-d", domain, "-s", self.dns.server, "-t", str(timeout_ms),
             "-M", "simple", "-D", s.svc_dn, "-w", s.svc_pw,
             "-b", self.info["people_dn"], "-f", FILTER]
        if tls == "none":
            a += ["-T", "none", "-P"]
        else:
            a += ["-T", tls, "-C", s.ca.cert]
        return a + list(extra)

    def assert_all_ok(self, out, n, run):
        self.assertEqual(len(out.searches), n, describe(run))
        self.assertEqual(sorted(s.idx for s in out.searches), list(range(n)), describe(run))
        bad = [s for s in out.searches if not s.ok or s.entries != EXPECTED]
        self.assertEqual(bad, [], "searches lost or answered wrongly\n" + describe(run))

    def stream(self, args, actions, timeout=60):
        """Run dcloc_drive and call actions[k]() once k search lines have
        been read. Returns (run, out, marks) where marks[k] is the time of
        action k on the driver's own clock (ms since its start)."""
        full = dict(os.environ)
        full.update({"LDAPCONF": "/dev/null", "LDAPRC": "dirmx-no-ldaprc"})
        start = time.monotonic()
        proc = subprocess.Popen([tool("dcloc_drive")] + args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=full)
        err = []
        t_err = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        t_err.start()
        lines, offset, seen, marks = [], None, 0, {}
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                now = time.monotonic()
                line = line.rstrip("\n")
                lines.append(line)
                one = parse_dcloc(line)
                if not one.searches:
                    continue
                seen += 1
                # Driver clock = our clock - offset (reading adds latency
                # only, so the smallest difference is the closest).
                d = now - one.searches[0].at / 1000.0
                offset = d if offset is None else min(offset, d)
                if seen in actions:
                    actions[seen]()
                    marks[seen] = int((time.monotonic() - offset) * 1000)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        t_err.join()
        proc.stdout.close()
        proc.stderr.close()
        text = "\n".join(lines)
        run = Run(proc.returncode, text, "".join(err), time.monotonic() - start)
        return run, parse_dcloc(text), marks

    # -- 1. RFC 2782 order ---------------------------------------------------
    def test_rfc2782_order_by_seed(self):
        s1, s2, s3 = (self.uri(s) for s in self.slapd)
        firsts = []
        started = time.monotonic()
        for b in range(1, SEEDS + 1, BATCH):
            procs = []
            for seed in range(b, min(b + BATCH, SEEDS + 1)):
                argv = [tool("dcloc_drive")] + self.args("order.test", "-n", "1",
                                                          "-e", str(seed))
                procs.append((seed, subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    env=dict(os.environ, LDAPCONF="/dev/null"))))
            try:
                results = [(seed, p) + p.communicate(timeout=60) for seed, p in procs]
            finally:
                for _, p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.communicate()
            for seed, p, o, e in results:
                out = parse_dcloc(o)
                msg = "seed %d: exit %d\n%s\n%s" % (seed, p.returncode, o, e)
                self.assertEqual(p.returncode, 0, msg)
                self.assertTrue(out.orders, msg)
                order = out.orders[0]
                self.assertEqual(order.source, "srv _ldap._tcp.order.test", msg)
                self.assertEqual(len(order.uris), 3, msg)
                self.assertCountEqual(order.uris, [s1, s2, s3], msg)
                self.assertEqual(order.uris[2], s3, "priority 10 must be last: " + msg)
                self.assertEqual(len(out.searches), 1, msg)
                self.assertTrue(out.searches[0].ok, msg)
                self.assertEqual(out.searches[0].entries, EXPECTED, msg)
                # The pool asks the primary or its warm standby (whichever
                # bound first), never the priority-10 DC.
                self.assertIn(out.searches[0].dc, order.uris[:2], msg)
                firsts.append(order.uris[0])
        share = firsts.count(s1) / len(firsts)
        print("\norder: weight 80 first in %d of %d seeds (%.0f%%), %.1fs"
              % (firsts.count(s1), len(firsts), share * 100, time.monotonic() - started))
        self.assertGreaterEqual(share, 0.65)
        self.assertLessEqual(share, 0.92)
        # The same seed gives the same order.
        a = parse_dcloc(drive("dcloc_drive", self.args("order.test", "-e", "7")).out)
        b = parse_dcloc(drive("dcloc_drive", self.args("order.test", "-e", "7")).out)
        self.assertEqual(a.orders[0].uris, b.orders[0].uris)

    def check_chain(self, domain, extra, source, uris):
        run = drive("dcloc_drive", self.args(domain, "-n", "2", *extra))
        self.assertEqual(run.rc, 0, describe(run))
        out = parse_dcloc(run.out)
        self.assertEqual(out.orders[0].source, "srv " + source, describe(run))
        self.assertCountEqual(out.orders[0].uris, uris, describe(run))
        self.assert_all_ok(out, 2, run)
        for s in out.searches:
            self.assertIn(s.dc, uris)
        return out

    def test_srv_name_chain(self):
        s1, s2, s3 = (self.uri(s) for s in self.slapd)
        # Only the AD domain-wide name (asked before the plain one).
        self.check_chain("msdcs.test", [], "_ldap._tcp.dc._msdcs.msdcs.test", [s2])
        # Both published: the AD name wins, the plain one is not used.
        self.check_chain("both.test", [], "_ldap._tcp.dc._msdcs.both.test", [s1])
        # The plain name alone (order.test has only it).
        self.check_chain("order.test", [], "_ldap._tcp.order.test", [s1, s2, s3])
        # A site with its own records: only those.
        self.check_chain("site.test", ["-x", "Paris"],
                         "_ldap._tcp.Paris._sites.dc._msdcs.site.test", [s3])
        # No site given, or a site without records: the domain-wide name.
        self.check_chain("site.test", [], "_ldap._tcp.dc._msdcs.site.test", [s1, s2])
        self.check_chain("site.test", ["-x", "Berlin"], "_ldap._tcp.dc._msdcs.site.test",
                         [s1, s2])

    def test_exit_waits_for_a_bind_still_running(self):
        # The pool binds to the standby while the search goes to the
        # primary. A process that left main() with that bind still inside
        # libldap crashed in the library's destructors (1 run in ~2000:
        # "double free" in libldap's fini, SIGSEGV or SIGABRT). It must
        # wait for the setup thread: here the standby is frozen, so its
        # bind ends only when the test thaws it, 1.5 s in.
        s1, s2 = self.uri(self.slapd[0]), self.uri(self.slapd[1])
        args = self.args("", "-n", "1")
        args[args.index("-d"):args.index("-d") + 2] = ["-S", "%s,%s" % (s1, s2)]
        self.slapd[1].freeze()
        timer = threading.Timer(1.5, self.slapd[1].thaw)
        timer.start()
        try:
            run = drive("dcloc_drive", args, timeout=30)
        finally:
            timer.cancel()
            self.slapd[1].thaw()
        self.assertEqual(run.rc, 0, describe(run))
        out = parse_dcloc(run.out)
        self.assert_all_ok(out, 1, run)
        self.assertEqual(out.searches[0].dc, s1, describe(run))
        # It left after the standby's bind ended, not before; and within
        # that bind's bound (2 x the 3 s timeout), not later.
        self.assertGreaterEqual(run.secs, 1.4, describe(run))
        self.assertLess(run.secs, 8.0, describe(run))

    # -- 2. failover, none lost ----------------------------------------------
    def test_failover_none_lost(self):
        s1, s2 = self.slapd[0], self.slapd[1]
        u1, u2 = self.uri(s1), self.uri(s2)
        n, stop_at, start_at = 200, 40, 70
        times = {}

        def stop():
            t = time.monotonic()
            s1.stop()
            times["stop"] = int((time.monotonic() - t) * 1000)

        def start():
            t = time.monotonic()
            s1.start()
            times["start"] = int((time.monotonic() - t) * 1000)

        run, out, marks = self.stream(
            self.args("fo.test", "-n", str(n), "-i", "50", tls="starttls", timeout_ms=2000),
            {stop_at: stop, start_at: start})
        self.assertEqual(run.rc, 0, describe(run))
        self.assertEqual(out.orders[0].uris, [u1, u2], describe(run))
        self.assert_all_ok(out, n, run)
        # marks[] is when an action returned (driver clock): the stop began
        # the time stop() took before; so did the start.
        t_stopped = marks[stop_at]
        t_stop = t_stopped - times["stop"]
        t_start = marks[start_at] - times["start"]
        # At start-up the warm standby may bind first and take the first
        # searches; from DC 1's first answer on, DC 1 has them all.
        first_dc1 = min(s.at for s in out.searches if s.dc == u1)
        before = [s for s in out.searches if first_dc1 <= s.at < t_stop - 100]
        during = [s for s in out.searches if t_stopped + 100 < s.at < t_start - 500]
        after = [s for s in out.searches if s.at > t_start]
        self.assertTrue(before and during and after, describe(run))
        self.assertEqual({s.dc for s in before}, {u1}, "before the stop: DC 1 only")
        self.assertEqual({s.dc for s in during}, {u2}, "while DC 1 is down: DC 2 only")
        first_dc2 = min(s.at for s in out.searches if s.dc == u2 and s.at >= t_stop)
        last_dc2 = max(s.at for s in out.searches if s.dc == u2)
        back = [s for s in after if s.dc == u1 and s.at > last_dc2]
        self.assertTrue(back, "answers never came back to DC 1\n" + describe(run))
        self.assertEqual(out.searches[-1].dc, u1, describe(run))
        self.assertLess(last_dc2, out.searches[-1].at)
        gap = max(0, first_dc2 - t_stop)
        ats = sorted(s.at for s in out.searches)
        pause = max(b - a for a, b in zip(ats, ats[1:]))
        print("\nfailover: stop at %dms, first answer from DC 2 %dms later (longest pause "
              "between answers %dms, sent every 50ms), DC 1 restarted at %dms, back on DC 1 "
              "at %dms; slowest search %dms; %d/%d answered by DC 2"
              % (t_stop, gap, pause, t_start, min(s.at for s in back),
                 max(s.ms for s in out.searches),
                 sum(1 for s in out.searches if s.dc == u2), n))
        dcs = {d.uri: d for d in out.dcs}
        self.assertEqual(dcs[u1].state, "up", describe(run))

    # -- 3. frozen DC ---------------------------------------------------------
    def test_frozen_dc(self):
        s1, s2 = self.slapd[0], self.slapd[1]
        u1, u2 = self.uri(s1), self.uri(s2)
        n, freeze_at, timeout = 100, 20, 1000
        self.addCleanup(lambda: s1.running() and s1.thaw())
        run, out, marks = self.stream(
            self.args("fo.test", "-n", str(n), "-i", "50", tls="starttls",
                      timeout_ms=timeout),
            {freeze_at: s1.freeze})
        s1.thaw()
        self.assertEqual(run.rc, 0, describe(run))
        self.assert_all_ok(out, n, run)
        t_freeze = marks[freeze_at]
        slowest = max(s.ms for s in out.searches)
        print("\nfrozen DC: froze at %dms; slowest search %dms (timeout %dms); "
              "%d/%d answered by DC 2" % (t_freeze, slowest, timeout,
                                          sum(1 for s in out.searches if s.dc == u2), n))
        self.assertLessEqual(slowest, 2 * timeout + 500, describe(run))
        # Hedged: a search the frozen DC holds goes to DC 2 as well after
        # the hedge delay (100 ms here), long before the timeout.
        self.assertLess(slowest, timeout / 2, describe(run))
        first_dc1 = min(s.at for s in out.searches if s.dc == u1)
        before = [s for s in out.searches if first_dc1 <= s.at < t_freeze - 300]
        self.assertTrue(before)
        self.assertEqual({s.dc for s in before}, {u1})
        # Once the timed-out searches were retried, DC 2 carries everything.
        later = [s for s in out.searches if s.at > t_freeze + 2 * timeout + 500]
        self.assertGreater(len(later), 20, describe(run))
        self.assertEqual({s.dc for s in later}, {u2}, describe(run))
        dcs = {d.uri: d for d in out.dcs}
        self.assertNotEqual(dcs[u1].state, "up", describe(run))

    # -- 4. bad DNS input and a DC that never answers ------------------------
    def check_no_dc(self, domain, message, timeout_ms=1000, server=None, n=3):
        args = self.args(domain, "-n", str(n), timeout_ms=timeout_ms)
        if server is not None:
            args[args.index("-s") + 1] = server
        run = drive("dcloc_drive", args, timeout=30)
        out = parse_dcloc(run.out)
        self.assertEqual(run.rc, 1, describe(run))
        self.assertNotIn("Sanitizer", run.err)
        self.assertEqual(len(out.searches), n, describe(run))
        for s in out.searches:
            self.assertFalse(s.ok, describe(run))
            self.assertEqual(s.status, "timeout", describe(run))
            self.assertIn("no directory server available", s.error, describe(run))
            self.assertIn(message, s.error, describe(run))
            self.assertLessEqual(s.ms, timeout_ms + 500, describe(run))
        self.assertIsNotNone(out.locator_error, describe(run))
        self.assertIn(message, out.locator_error)
        self.assertEqual(out.orders[0].uris, [], describe(run))
        self.assertEqual(out.orders[0].source, "none", describe(run))
        return run, out

    def test_no_records(self):
        run, _ = self.check_no_dc("nothing.test", "no SRV records for the domain")
        self.assertLess(run.secs, 1.0 + 2.0, describe(run))
        run, _ = self.check_no_dc("nodata.test", "no SRV records for the domain")
        self.assertLess(run.secs, 1.0 + 2.0, describe(run))

    def test_target_dot(self):
        run, _ = self.check_no_dc("dead.test", "not available")
        self.assertLess(run.secs, 1.0 + 2.0, describe(run))

    def test_dc_that_never_answers(self):
        s2 = self.slapd[1]
        hole_uri, u2 = "ldap://localhost:%d" % self.hole.port, self.uri(s2)
        timeout = 1000
        accepted = self.hole.accepted
        run = drive("dcloc_drive", self.args("hole.test", "-n", "20", tls="starttls",
                                             timeout_ms=timeout), timeout=30)
        out = parse_dcloc(run.out)
        self.assertEqual(run.rc, 0, describe(run))
        self.assertEqual(out.orders[0].uris, [hole_uri, u2], describe(run))
        self.assert_all_ok(out, 20, run)
        self.assertEqual({s.dc for s in out.searches}, {u2}, describe(run))
        self.assertLess(max(s.ms for s in out.searches), timeout, describe(run))
        self.assertGreater(self.hole.accepted, accepted, "the first DC was never tried")
        # And when the silent DC is the only one: a timeout, not a hang.
        run = drive("dcloc_drive", ["-S", hole_uri, "-T", "starttls", "-C",
                                    s2.ca.cert, "-M", "simple", "-D", s2.svc_dn, "-w",
                                    s2.svc_pw, "-t", str(timeout), "-n", "2",
                                    "-b", self.info["people_dn"], "-f", FILTER], timeout=30)
        out = parse_dcloc(run.out)
        self.assertEqual(run.rc, 1, describe(run))
        self.assertEqual(len(out.searches), 2, describe(run))
        for s in out.searches:
            self.assertEqual(s.status, "timeout", describe(run))
            self.assertLessEqual(s.ms, timeout + 500, describe(run))
        self.assertLess(run.secs, 5.0, describe(run))

    def test_malformed_dns(self):
        modes = ("short", "badsrv", "loop", "wrongid")
        servers = {m: BadDns(m) for m in modes}
        for s in servers.values():
            self.addCleanup(s.close)
        results = {}

        def one(mode):
            args = self.args("order.test", "-n", "2", timeout_ms=1000)
            args[args.index("-s") + 1] = servers[mode].server
            results[mode] = drive("dcloc_drive", args, timeout=60)

        threads = [threading.Thread(target=one, args=(m,)) for m in modes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for mode in modes:
            run = results[mode]
            out = parse_dcloc(run.out)
            msg = "mode %s: %s" % (mode, describe(run))
            print("\nmalformed DNS (%s): %.1fs, locator error: %s"
                  % (mode, run.secs, out.locator_error))
            self.assertGreater(servers[mode].queries, 0, msg)
            self.assertEqual(run.rc, 1, msg)  # not killed by a signal
            self.assertEqual(len(out.searches), 2, msg)
            for s in out.searches:
                self.assertEqual(s.status, "timeout", msg)
                self.assertIn("no directory server available", s.error, msg)
                self.assertIn("SRV lookup of _ldap._tcp", s.error, msg)
            self.assertIsNotNone(out.locator_error, msg)
            self.assertLess(run.secs, 10.0, msg)


if __name__ == "__main__":
    unittest.main()
