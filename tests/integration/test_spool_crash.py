"""The spool's promise under kill -9 (tests/spool_crash, routerd/spool*.c).

What is proved, on a real filesystem with real SIGKILLs:
  - every message whose commit callback ran (printed "ACK <id> <sha256>")
    is found after recovery, with the same SHA-256 of its data and an
    envelope that still belongs to it: an acknowledged message is never
    lost, across several kill/recover rounds on the same spool;
  - recovery leaves tmp/ empty and moves nothing to corrupt/ (a torn file
    can only be in tmp/, never in q/);
  - a second recovery finds the same messages (recovery is idempotent).
Rounds are killed at random moments, after 50..500 ACKs plus a random
delay, with 16 concurrent committers, so the kill lands anywhere: during
data writes, between fdatasync and rename, before the directory fsync,
while callbacks are being printed.
"""

import os
import random
import signal
import subprocess
import time
import unittest

from dirmxlab import Lab
from dirmxlab.core import build_dir

ROUNDS = 6


def tool():
    return os.path.join(build_dir(), "tests", "spool_crash")


class SpoolCrashTest(unittest.TestCase):
    def setUp(self):
        self.lab = Lab("spool-crash")
        self.addCleanup(self.lab.close)
        self.spool = os.path.join(self.lab.dir, "spool")
        self.rng = random.Random(os.environ.get("DIRMX_SEED") or time.time_ns())

    def run_verify(self):
        out = subprocess.run([tool(), "verify", self.spool], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        found = {}
        for line in out.stdout.splitlines():
            parts = line.split()
            self.assertEqual(parts[0], "MSG", line)
            self.assertEqual(parts[3], "ok", line)
            found[parts[1]] = parts[2]
        return found, out.stderr

    def one_round(self, acked):
        want = self.rng.randint(50, 500)
        proc = subprocess.Popen([tool(), "write", self.spool, "1000000", "16"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            seen = 0
            while seen < want:
                line = proc.stdout.readline()
                if not line:
                    self.fail("writer exited early: %s" % proc.stderr.read())
                self._record(acked, line)
                seen += 1
            time.sleep(self.rng.random() * 0.02)
            os.kill(proc.pid, signal.SIGKILL)
            # ACKs printed before the kill are still in the pipe: they count.
            for line in proc.stdout:
                self._record(acked, line)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(proc.returncode, -signal.SIGKILL)

    def _record(self, acked, line):
        parts = line.split()
        if len(parts) != 3 or parts[0] != "ACK":
            return  # a line cut by the kill was never a whole ACK
        self.assertNotIn(parts[1], acked, "queue id reused")
        acked[parts[1]] = parts[2]

    def test_kill9_loses_no_acknowledged_message(self):
        acked = {}
        start = time.monotonic()
        for _ in range(ROUNDS):
            self.one_round(acked)
            found, log = self.run_verify()
            missing = [i for i in acked if i not in found]
            self.assertEqual(missing, [], "acknowledged messages lost")
            for i, sha in acked.items():
                self.assertEqual(found[i], sha, "data of %s changed" % i)
            self.assertEqual(os.listdir(os.path.join(self.spool, "tmp")), [])
            self.assertEqual(os.listdir(os.path.join(self.spool, "corrupt")), [],
                             log)
        again, _ = self.run_verify()
        self.assertEqual(again, found)
        self.assertGreater(len(acked), ROUNDS * 50)
        print("spool crash: %d rounds, %d acknowledged, %d found (%d "
              "committed but not yet acknowledged at the kill), %.1fs"
              % (ROUNDS, len(acked), len(found), len(found) - len(acked),
                 time.monotonic() - start))


if __name__ == "__main__":
    unittest.main()
