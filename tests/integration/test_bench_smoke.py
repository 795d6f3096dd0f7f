"""The benchmark (tests/bench/run.py, issue 7) in its smoke mode: tiny
numbers, both MTAs, so that the one command keeps working. It checks that
the run completes, that the last line is the JSON result, that every
figure is there for dirmx and for Postfix, end-to-end throughput included,
and that every message of every run reached the mailbox servers (the
smtp-sinks). With --changes 5, dirmx also runs the directory-changes mode
(issue 14): five users move to a new mailbox server while the load runs,
each change must show in authd's answers and no old answer may come back
afterwards. It checks no performance target: that is what the full run is
for (tests/bench/README.md)."""

import json
import os
import subprocess
import sys
import unittest

from dirmxlab import build_dir, source_dir

# Figures every MTA variant must have, for both MTAs.
FIGURES = ["accepted_msgs_per_s", "e2e_msgs_per_s", "dot_p50_ms", "dot_p99_ms",
           "dot_max_ms", "cpu_s_per_1000", "peak_pss_mb", "ldap_searches_per_msg"]
VARIANTS = ["r1-cold", "r1-warm", "r5-cold", "r5-warm"]


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
            for variant in VARIANTS + group:
                s = variants.get(variant)
                self.assertIsNotNone(s, "%s %s missing" % (mta, variant))
                for f in FIGURES:
                    self.assertIsNotNone(s.get(f), "%s %s: %s is null" % (mta, variant, f))
                    self.assertIsNotNone(s[f]["median"], "%s %s %s" % (mta, variant, f))
            for variant in VARIANTS:
                self.assertGreater(variants[variant]["accepted_msgs_per_s"]["median"], 0)
                self.assertGreater(variants[variant]["peak_pss_mb"]["median"], 0)
            for variant in VARIANTS + group:
                self.assertGreater(variants[variant]["e2e_msgs_per_s"]["median"], 0,
                                   "%s %s: no end-to-end figure" % (mta, variant))
        self.assertEqual(sorted(out["ratios_dirmx_over_postfix"]), sorted(VARIANTS + group))
        for variant in VARIANTS:
            self.assertIsNotNone(out["ratios_dirmx_over_postfix"][variant]["e2e_msgs_per_s"])
        # Every run accepted every message, and every message reached the
        # sinks: each transaction the MTA owed them (one per message per
        # mailHost, split by its recipient limit), and every recipient was
        # logged as delivered by the MTA. Nothing was lost to a broken setup.
        self.assertTrue(out["all_delivered"])
        runs = [r for r in out["runs"] if r["mta"] in ("dirmx", "postfix")]
        chg = [r for r in runs if r["variant"].startswith("chg-")]
        self.assertEqual(len(runs) - len(chg), 2 * (len(VARIANTS) + 1))
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
        for k in ("1", "5"):
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


if __name__ == "__main__":
    unittest.main()
