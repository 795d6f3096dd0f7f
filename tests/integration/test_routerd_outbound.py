"""routerd's outbound settings as a real routerd reads them: the TLS
policy per destination, and AUTH to a smarthost with a password file that
must be readable by routerd alone (the client side of both, TLS policies
and AUTH PLAIN/LOGIN, is tested in test_smtpc.py)."""

import os
import signal
import subprocess
import time
import unittest

from dirmxlab import Lab, build_dir, free_port


def routerd_bin():
    return os.path.join(build_dir(), "routerd", "routerd")


CONF = """\
[global]
log_level = debug

[dns]
servers = 127.0.0.1:{dns}
timeout = 500ms
tries = 1

[authd]
domain = dirmx.test

[routerd]
user = nobody
spool_dir = {spool}
control_socket = {ctl}
authd_socket = {lab}/authd.sock
smarthost = [127.0.0.1]:{sh}
{extra}

[listener mx]
address = 127.0.0.1:{mx}
role = mx
"""


class OutboundConfigTest(unittest.TestCase):
    def setUp(self):
        self.lab = Lab("outbound")
        self.addCleanup(self.lab.close)
        os.chmod(self.lab.dir, 0o755)

    def conf(self, extra):
        return self.lab.write("dirmx.conf", CONF.format(
            dns=free_port(), spool=self.lab.path("spool"), ctl=self.lab.path("ctl.sock"),
            lab=self.lab.dir, sh=free_port(), mx=free_port(), extra=extra))

    def start(self, conf, expect_exit):
        p = self.lab.spawn("routerd", [routerd_bin(), "-f", "-c", conf])
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if expect_exit:
            self.assertIsNotNone(p.returncode, "routerd should have refused to start")
            self.assertNotEqual(p.returncode, 0)
        else:
            self.assertIsNone(p.returncode, self.lab.log_text("routerd"))
            self.lab.stop(p, signal.SIGTERM)
        return self.lab.log_text("routerd")

    def test_check_refuses_a_bad_policy(self):
        conf = self.conf("tls_policy = sometimes\ntls_policy_map = example.com maybe\n")
        r = subprocess.run([routerd_bin(), "-t", "-c", conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("tls_policy", r.stderr)
        self.assertIn("tls_policy_map", r.stderr)
        self.assertIn("none, may, encrypt or verify", r.stderr)

    def test_smarthost_user_needs_a_private_password_file(self):
        log = self.start(self.conf("smarthost_user = relay\n"), expect_exit=True)
        self.assertIn("smarthost_user needs it", log)
        pw = self.lab.write("sh.pw", "secret-one\n", 0o644)
        os.chown(pw, 65534, 65534)
        log = self.start(self.conf("smarthost_user = relay\nsmarthost_password_file = %s\n"
                                   % pw), expect_exit=True)
        self.assertIn("smarthost_password_file", log)
        self.assertNotIn("secret-one", log)
        os.chmod(pw, 0o600)
        log = self.start(self.conf("smarthost_user = relay\nsmarthost_password_file = %s\n"
                                   "tls_policy = verify\ntls_policy_map = example.com encrypt\n"
                                   % pw), expect_exit=False)
        self.assertIn("event=routerd_start", log)
        self.assertNotIn("secret-one", log)


if __name__ == "__main__":
    unittest.main()
