"""deploy/demo.py: --help helps, --keep keeps, stop stops.

What is proved: `demo.py --help` prints usage and starts nothing;
`demo.py --keep` runs the whole demo and leaves its servers running (every
PID in its state file alive, dirmxctl answers through the kept authd);
`demo.py stop` stops exactly those PIDs.
"""

import json
import os
import subprocess
import tempfile
import time
import unittest

TOP = os.environ.get("DIRMX_SOURCE_DIR",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("DIRMX_BUILD_DIR", os.path.join(TOP, "build"))
DEMO = os.path.join(TOP, "deploy", "demo.py")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class DemoTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dirmx-demotest-")
        self.env = dict(os.environ, DIRMX_DEMO_STATE=os.path.join(self.tmp, "state.json"),
                        DIRMX_BUILD_DIR=BUILD)

    def run_demo(self, *args, timeout=300):
        return subprocess.run(["/usr/bin/python3", DEMO] + list(args), env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def test_help(self):
        t0 = time.monotonic()
        r = self.run_demo("--help", timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage:", r.stdout)
        self.assertIn("--keep", r.stdout)
        self.assertNotIn("Starting", r.stdout)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertFalse(os.path.exists(self.env["DIRMX_DEMO_STATE"]))

    def test_keep_then_stop(self):
        r = self.run_demo("--keep")
        state_file = self.env["DIRMX_DEMO_STATE"]
        try:
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            with open(state_file) as f:
                state = json.load(f)
            self.assertGreater(len(state["pids"]), 3)
            time.sleep(0.5)
            self.assertEqual([p for p in state["pids"] if not alive(p)], [],
                             "demo --keep stopped its servers")
            q = subprocess.run([os.path.join(BUILD, "routerd", "dirmxctl"), "-c", state["conf"],
                                "lookup", "staff@dirmx.test"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(q.returncode, 0, q.stdout + q.stderr)
        finally:
            s = self.run_demo("stop", timeout=60)
        self.assertEqual(s.returncode, 0, s.stderr)
        time.sleep(0.5)
        self.assertEqual([p for p in state["pids"] if alive(p)], [])


if __name__ == "__main__":
    unittest.main()
