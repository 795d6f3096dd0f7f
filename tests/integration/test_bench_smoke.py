"""The benchmark (tests/bench/run.py, issue 7) in its smoke mode: tiny
numbers, both MTAs, so that the one command keeps working. It checks that
the run completes, that the last line is the JSON result, that every
figure is there for dirmx and for Postfix, end-to-end throughput included,
and that every message of every run reached the mailbox servers (the
smtp-sinks). With --changes 5, dirmx also runs the directory-changes mode
(issue 14): five users move to a new mailbox server while the load runs,
each change must show in authd's answers and no old answer may come back
afterwards. The load shapes of issue 15 run too (np-fixed, smtp-source,
idle with 300 held sessions, each beside its no-MTA ceiling), and their
figures must be there and sane: every message accepted, every idle
session held. It checks no performance target: that is what the full run
is for (tests/bench/README.md).

Two small tests check the parts of the shapes that could fail silently:
an smtp-source run that stops at a refusal has no msg/s figure, and the
idle flood sees the sessions a server drops."""

import json
import os
import socket
import subprocess
import sys
import time
import types
import unittest

from dirmxlab import Lab, build_dir, free_port, source_dir
from dirmxlab.core import find_program

sys.path.insert(0, os.path.join(source_dir(), "tests", "bench"))
import idle  # noqa: E402
import shapes  # noqa: E402

# Figures every MTA variant must have, for both MTAs.
FIGURES = ["accepted_msgs_per_s", "e2e_msgs_per_s", "dot_p50_ms", "dot_p99_ms",
           "dot_max_ms", "cpu_s_per_1000", "peak_pss_mb", "ldap_searches_per_msg"]
VARIANTS = ["r1-cold", "r1-warm", "r5-cold", "r5-warm"]
# the fixed-recipient shapes of issue 15 (smtp-source measures no latency)
FIXED = ["np-fixed", "smtp-source"]
LATENCY = ("dot_p50_ms", "dot_p99_ms", "dot_max_ms")


class BenchSmoke(unittest.TestCase):
    def test_smoke_run(self):
        run_py = os.path.join(source_dir(), "tests", "bench", "run.py")
        r = subprocess.run([sys.executable, run_py, "--smoke", "--build-dir", build_dir(),
                            "--changes", "5"],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, "run.py --smoke failed:\n%s\n%s"
                         % (r.stdout[-3000:], r.stderr[-5000:]))
        lines = r.stdout.strip().splitlines()
        self.assertTrue(lines, "no output")
        out = json.loads(lines[-1])
        self.assertIn("MTA", r.stdout)  # the table was printed
        for mta in ("dirmx", "postfix"):
            self.assertTrue(out["validation"][mta]["ok"], out["validation"])
            variants = out["summary"][mta]
            group = [v for v in variants if v.startswith("group")]
            self.assertEqual(len(group), 1, sorted(variants))
            for variant in VARIANTS + FIXED + group:
                s = variants.get(variant)
                self.assertIsNotNone(s, "%s %s missing" % (mta, variant))
                for f in FIGURES:
                    if variant == "smtp-source" and f in LATENCY:
                        continue
                    self.assertIsNotNone(s.get(f), "%s %s: %s is null" % (mta, variant, f))
                    self.assertIsNotNone(s[f]["median"], "%s %s %s" % (mta, variant, f))
                self.assertEqual(s["failed_runs"], 0, "%s %s" % (mta, variant))
                self.assertIsNotNone(s["loadavg_before"], "%s %s" % (mta, variant))
                self.assertIsNotNone(s["other_cpu_busy_frac"], "%s %s" % (mta, variant))
            for variant in VARIANTS + FIXED:
                self.assertGreater(variants[variant]["accepted_msgs_per_s"]["median"], 0)
                self.assertGreater(variants[variant]["peak_pss_mb"]["median"], 0)
            for variant in VARIANTS + FIXED + group:
                self.assertGreater(variants[variant]["e2e_msgs_per_s"]["median"], 0,
                                   "%s %s: no end-to-end figure" % (mta, variant))
        self.assertEqual(sorted(out["ratios_dirmx_over_postfix"]),
                         sorted(VARIANTS + FIXED + group))
        for variant in VARIANTS + FIXED:
            self.assertIsNotNone(out["ratios_dirmx_over_postfix"][variant]["e2e_msgs_per_s"])
        self.check_shapes(out, r.stdout)
        # Every run accepted every message, and every message reached the
        # sinks: each transaction the MTA owed them (one per message per
        # mailHost, split by its recipient limit), and every recipient was
        # logged as delivered by the MTA. Nothing was lost to a broken setup.
        self.assertTrue(out["all_delivered"])
        runs = [r for r in out["runs"] if r["mta"] in ("dirmx", "postfix")]
        chg = [r for r in runs if r["variant"].startswith("chg-")]
        # both MTAs: the 4 pipelined variants, the 2 fixed shapes, the
        # group; dirmx also idle-base and idle
        self.assertEqual(len(runs) - len(chg), 2 * (len(VARIANTS) + len(FIXED) + 1) + 2)
        self.assertEqual(sorted(r["variant"] for r in chg),
                         ["chg-changes", "chg-cold", "chg-steady"])
        for run in runs:
            self.assertEqual(run["accepted"], run["messages"], run)
            self.assertTrue(run["all_delivered"], run)
            self.assertIsNotNone(run["e2e_s"], run)
            self.assertGreater(run["expected_sink_transactions"], 0, run)
            self.assertEqual(run["sink_transactions"], run["expected_sink_transactions"], run)
            self.assertEqual(run["delivered_rcpts"], run["expected_rcpts"], run)
            self.assertGreaterEqual(run["expected_rcpts"], run["messages"] * run["rcpts"]
                                    if not run["variant"].startswith("group")
                                    else run["messages"], run)
        self.assertGreater(out["fsync_per_s"], 0)
        for k in ("pipe-r1", "pipe-r5", "np-fixed", "smtp-source"):
            self.assertGreater(out["ceiling_msgs_per_s"][k], 0)
        self.assertIn("relay_recipient_maps", out["postfix_settings"])
        # Directory changes (issue 14): every one showed in authd's answers,
        # none went back to the old hop, and the figures are there.
        ch = out["changes"]
        self.assertEqual(ch["changes"], 5, ch)
        self.assertEqual(ch["unseen"], 0, ch)
        self.assertEqual(ch["stale_after_delay"], 0, ch)
        self.assertGreater(ch["answers_checked_after_delay"], 0, ch)
        for f in ("delay_p50_ms", "delay_p99_ms", "delay_max_ms", "ldap_searches_per_msg",
                  "accepted_msgs_per_s_changes_over_steady",
                  "e2e_msgs_per_s_changes_over_steady"):
            self.assertIsNotNone(ch[f], "%s: %s" % (f, ch))
        self.assertIn("Directory changes while the load runs", r.stdout)
        # Warm cache: dirmx asks the directory (almost) nothing (issue 7: < 0.1).
        self.assertLess(out["summary"]["dirmx"]["r1-warm"]["ldap_searches_per_msg"]["median"], 0.1)

    def check_shapes(self, out, stdout):
        """The shapes of issue 15: each ran as asked, beside its ceiling,
        and the figures the targets are judged on are there."""
        self.assertEqual(out["params"]["shapes"], shapes.ALL_SHAPES)
        runs = out["runs"]
        # the no-MTA ceilings: the same generators into one smtp-sink
        ceil = [r for r in runs if r["mta"] == "ceiling"]
        self.assertEqual(sorted(r["variant"] for r in ceil),
                         ["np-fixed", "pipe-r1", "pipe-r5", "smtp-source"])
        for r in ceil:
            self.assertEqual(r["accepted"], r["messages"], r)
            self.assertGreater(r["accepted_msgs_per_s"], 0, r)
        for variant, share in (("r1-cold", "pipe-r1"), ("np-fixed", "np-fixed"),
                               ("smtp-source", "smtp-source")):
            x = out["ceilings"][share]["variants"][variant]["dirmx"]["share_of_ceiling"]
            self.assertGreater(x, 0, (variant, out["ceilings"][share]))
        # the fixed-recipient shapes: one known recipient, 1 KiB, no
        # pipelining, 5 sessions (smoke), one message per connection
        for r in runs:
            if r["variant"] not in FIXED:
                continue
            self.assertEqual(r["size"], 1024, r)
            self.assertFalse(r["pipelining"], r)
            self.assertEqual(r["sessions"], 5, r)
            self.assertEqual(r["distinct_rcpts"], 1, r)
            self.assertEqual(r["generator"], "loadgen" if r["variant"] == "np-fixed"
                             else "smtp-source", r)
            self.assertEqual(r["generator_exit_status"], 0, r)
            self.assertEqual(r["accepted"], r["messages"], r)
        # idle: every session opened, held through the normal load; the
        # normal client got every message through; memory measured
        idle_runs = [r for r in runs if r["variant"] == "idle"]
        self.assertEqual(len(idle_runs), 1)
        i = idle_runs[0]["idle"]
        self.assertEqual(i["sessions_wanted"], 300, i)
        self.assertEqual(i["sessions_held"], 300, i)
        self.assertEqual(i["sessions_held_after_load"], 300, i)
        self.assertEqual(i["sessions_failed_to_open"], 0, i)
        self.assertGreater(i["source_addresses"], 1, i)
        self.assertTrue(i["routerd_nofile_enough"], i)
        for k in ("routerd_pss_mb", "routerd_rss_mb", "authd_pss_mb", "authd_rss_mb"):
            self.assertGreater(i[k], 0, (k, i))
        # 300 sessions have a cost routerd's memory shows
        self.assertGreater(i["routerd_pss_mb"], i["routerd_pss_mb_before"], i)
        self.assertEqual(idle_runs[0]["accepted"], idle_runs[0]["messages"])
        self.assertIsNotNone(idle_runs[0]["dot_p99_ms"])
        self.assertIsNotNone(idle_runs[0]["envelope_p99_ms"])
        self.assertTrue(out["idle_postfix"].startswith("n/a (process-per-session"))
        # the group's cold figures
        g = [r for r in runs if r["mta"] == "dirmx" and r["variant"].startswith("group")][0]
        self.assertGreater(g["ldap_searches"], 0, g)
        self.assertGreater(g["group_cold_ms"], 0, g)
        # the targets: each with a verdict, except those the smoke run
        # cannot judge (one repeat) or this bench does not measure
        tg = {t["target"]: t for t in out["targets"]}
        self.assertGreaterEqual(len(tg), 15)
        undecided = [t for t, v in tg.items() if v["met"] is None]
        self.assertEqual(sorted(undecided), sorted(
            [t for t in tg if "max/min" in t or t.startswith("hung DC")]), out["targets"])
        for text in ("Ceilings:", "Idle sessions (dirmx)", "Issue 15 targets",
                     "Runs in the order", "postfix  idle        n/a (process-per-session"):
            self.assertIn(text, stdout)


class ShapeParts(unittest.TestCase):
    """smtp-source's failures and the idle flood's drops, against smtp-sink."""

    def sink(self, lab, *flags):
        port = free_port()
        p = lab.spawn("sink-%d" % port, [find_program("smtp-sink")] + list(flags)
                      + ["-u", "nobody", "127.0.0.1:%d" % port, "100"])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return port, p
            except OSError:
                self.assertLess(time.monotonic(), deadline, "smtp-sink did not start")
                time.sleep(0.05)

    def ctx(self):
        return types.SimpleNamespace(a=types.SimpleNamespace(concurrency=5),
                                     smtp_source=find_program("smtp-source"),
                                     files={"known": "user@bench.example"})

    def test_smtp_source_refused_is_no_figure(self):
        with Lab("bench-parts") as lab:
            ok, _ = self.sink(lab)
            good = shapes.smtp_source(self.ctx(), ok, 20)
            self.assertEqual((good["accepted"], good["exit_status"]), (20, 0), good)
            self.assertGreater(good["msgs_per_s"], 0)
            bad_port, _ = self.sink(lab, "-f", "rcpt")  # 5xx to every RCPT
            bad = shapes.smtp_source(self.ctx(), bad_port, 20)
            self.assertNotEqual(bad["exit_status"], 0, bad)
            self.assertLess(bad["accepted"], 20, bad)
            self.assertIsNone(bad["msgs_per_s"], bad)
            self.assertEqual(bad["failed_sessions"], 1, bad)
            self.assertIn("smtp-source exit", bad["first_error"])

    def test_idle_flood_sees_drops(self):
        with Lab("bench-parts") as lab:
            port, p = self.sink(lab)
            flood = idle.IdleFlood("127.0.0.1", port, 100)
            try:
                flood.open(timeout=30)
                self.assertEqual((len(flood.held), flood.failed), (100, 0), flood.first_error)
                self.assertEqual(flood.check(), (100, 0))
                # three source addresses: 40 + 40 + 20
                self.assertEqual(len({s.getsockname()[0] for s in flood.held}), 3)
                lab.stop(p)  # the server goes: every held session ends
                time.sleep(0.2)
                self.assertEqual(flood.check(), (0, 100))
            finally:
                flood.close()


if __name__ == "__main__":
    unittest.main()
