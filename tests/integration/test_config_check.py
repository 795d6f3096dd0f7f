"""The configuration check of authd, routerd and dirmxctl, and the daemons'
process shell: start, SIGHUP re-read (good and bad file), SIGTERM exit."""

import os
import signal
import subprocess
import time
import unittest

from dirmxlab import Lab, build_dir, free_port, source_dir

GOOD = """\
[global]
log_level = info

[authd]
domain = example.com

[routerd]
local_domains = example.com

[listener mx]
address = 127.0.0.1:2525
role = mx
"""

# Line 5 has the typo, line 8 a bad value: both must be reported.
TYPO = """\
[global]
log_level = info

[authd]
domian = example.com

[routerd]
max_message_size = 10Q
"""


def binary(*parts):
    path = os.path.join(build_dir(), *parts)
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not built" % path)
    return path


DAEMONS = {
    "authd": ("authd", "authd"),
    "routerd": ("routerd", "routerd"),
}


class ConfigCheckTest(unittest.TestCase):
    def setUp(self):
        self.lab = Lab("config")
        self.addCleanup(self.lab.close)
        self.sample = os.path.join(source_dir(), "deploy", "dirmx.conf.sample")

    def run_prog(self, argv):
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    def test_sample_is_ok(self):
        for name, parts in DAEMONS.items():
            with self.subTest(daemon=name):
                r = self.run_prog([binary(*parts), "-t", "-c", self.sample])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.strip(), "%s: configuration OK" % self.sample)
        r = self.run_prog([binary("routerd", "dirmxctl"), "-c", self.sample, "check"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)
        self.assertIn("listener mx: address=0.0.0.0:25 role=mx", r.stdout)

    def test_typo_is_reported_with_file_and_line(self):
        path = self.lab.write("typo.conf", TYPO)
        argvs = [[binary(*p), "-t", "-c", path] for p in DAEMONS.values()]
        argvs.append([binary("routerd", "dirmxctl"), "-c", path, "check"])
        for argv in argvs:
            with self.subTest(prog=os.path.basename(argv[0])):
                r = self.run_prog(argv)
                self.assertEqual(r.returncode, 1)
                self.assertNotIn("configuration OK", r.stdout)
                self.assertIn("%s:5: [authd] unknown setting 'domian' "
                              "(did you mean 'domain'?)" % path, r.stderr)
                self.assertIn("%s:8: [routerd] max_message_size: invalid size '10Q'"
                              % path, r.stderr)

    def test_bad_tls_priority_is_reported_with_file_and_line(self):
        """tls_priority and smtp_tls_priority are parsed by GnuTLS at -t
        (issue 11): a bad string names file, line and setting."""
        text = GOOD.replace("local_domains = example.com\n",
                            "local_domains = example.com\n"
                            "tls_priority = NORMAL:-VERS-ALL:+VERS-TLS1.2\n"
                            "smtp_tls_priority = NORMAL:+NOSUCHTHING\n"
                            "tls_priority = SECURE256:-VERS-TLS1.9\n")
        path = self.lab.write("prio.conf", text)
        r = self.run_prog([binary("routerd", "routerd"), "-t", "-c", path])
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("%s:10: [routerd] smtp_tls_priority: invalid value "
                      "'NORMAL:+NOSUCHTHING': not a GnuTLS priority string"
                      % path, r.stderr)
        self.assertIn("error at '+NOSUCHTHING'", r.stderr)
        self.assertIn("%s:11: [routerd] " % path, r.stderr)
        good = GOOD.replace("local_domains = example.com\n",
                            "local_domains = example.com\n"
                            "tls_priority = SECURE256:-VERS-ALL:+VERS-TLS1.3\n"
                            "smtp_tls_priority = NORMAL:%COMPAT\n"
                            "tls_handshake_timeout = 10s\n")
        path = self.lab.write("prio-good.conf", good)
        r = self.run_prog([binary("routerd", "routerd"), "-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_file_and_usage(self):
        for name, parts in DAEMONS.items():
            with self.subTest(daemon=name):
                r = self.run_prog([binary(*parts), "-t", "-c", self.lab.path("none.conf")])
                self.assertEqual(r.returncode, 1)
                self.assertIn("cannot open", r.stderr)
                r = self.run_prog([binary(*parts), "-V"])
                self.assertEqual(r.returncode, 0)
                self.assertRegex(r.stdout, r"^%s \d+\.\d+" % name)
                r = self.run_prog([binary(*parts), "-x"])
                self.assertEqual(r.returncode, 2)
                r = self.run_prog([binary(*parts), "-h"])
                self.assertEqual(r.returncode, 0)
                self.assertIn("-t", r.stdout)

    def wait_log(self, name, text, proc, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.lab.log_text(name)
            if text in log:
                return log
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        self.fail("%s: %r not logged; log:\n%s" % (name, text, self.lab.log_text(name)))

    def test_daemon_start_reload_stop(self):
        for name, parts in DAEMONS.items():
            with self.subTest(daemon=name):
                # authd really listens: its socket goes in the lab.
                good = GOOD.replace("[authd]\n", "[authd]\nsocket = %s\n"
                                    % self.lab.path(name + "-authd.sock"))
                # routerd really binds and drops privileges: a free port,
                # a spool in the lab, an unprivileged user that exists.
                good = good.replace("127.0.0.1:2525", "127.0.0.1:%d" % free_port())
                os.chmod(self.lab.dir, 0o755)
                good = good.replace("[routerd]\n", "[routerd]\nuser = nobody\n"
                                    "spool_dir = %s\ncontrol_socket = %s\n"
                                    % (self.lab.path(name + "-spool"),
                                       self.lab.path(name + "-ctl.sock")))
                path = self.lab.write(name + ".conf", good)
                proc = self.lab.spawn(name, [binary(*parts), "-f", "-c", path])
                try:
                    log = self.wait_log(name, "event=start", proc)
                    self.assertRegex(log, r"%s\[%d\]: info: - event=start version=\S+ "
                                     r"config=\"%s\"" % (name, proc.pid, path))
                    os.kill(proc.pid, signal.SIGHUP)
                    self.wait_log(name, "event=reload status=ok", proc)
                    # A broken file is refused; the daemon keeps running.
                    with open(path, "w") as f:
                        f.write(TYPO)
                    os.kill(proc.pid, signal.SIGHUP)
                    log = self.wait_log(name, "keep=old", proc)
                    self.assertIn("unknown setting 'domian'", log)
                    self.assertIsNone(proc.poll())
                    self.lab.stop(proc, signal.SIGTERM)
                    self.assertEqual(proc.returncode, 0, self.lab.log_text(name))
                    self.assertIn("event=stop", self.lab.log_text(name))
                finally:
                    if proc.poll() is None:
                        self.lab.stop(proc, signal.SIGKILL)

    def test_bad_config_refuses_to_start(self):
        path = self.lab.write("bad.conf", TYPO)
        r = self.run_prog([binary("authd", "authd"), "-f", "-c", path])
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:5: [authd] unknown setting 'domian'" % path, r.stderr)


if __name__ == "__main__":
    unittest.main()
