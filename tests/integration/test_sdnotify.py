"""Both daemons speak systemd's notify protocol (Type=notify units).

What is proved, against the lab's slapd with authd and routerd from the
build tree, each started with NOTIFY_SOCKET naming a datagram socket this
test owns (what systemd does), credentials passed (SO_PASSCRED):
  - READY=1 comes from the daemon's own PID, and only once it serves:
    authd answers on its socket, routerd's MX listener greets;
  - SIGHUP (ExecReload) gives RELOADING=1 (with MONOTONIC_USEC) then
    READY=1, also when the new file is bad (the old one is kept and
    STATUS says so);
  - SIGTERM gives STOPPING=1 before the process exits 0;
  - routerd started as its unprivileged user (the unit's User=) runs,
    logs event=privileges started_as=user and serves.
Without NOTIFY_SOCKET the daemons run as before: every other integration
test starts them that way.
"""

import os
import signal
import socket
import struct
import time
import unittest

from smtptest import SmtpLab


class NotifySocket:
    """An AF_UNIX datagram socket like systemd's: messages with the
    sender's PID (SCM_CREDENTIALS)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # routerd as nobody sends too
        self.msgs = []  # (pid, {key: value}, raw)

    def close(self):
        self.sock.close()

    def wait(self, key, value=None, timeout=20.0):
        """The first message (new or seen) with key(=value)."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.msgs:
                if key in m[1] and (value is None or m[1][key] == value):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s=%s within %.0fs; got %r"
                                     % (key, value, timeout, self.msgs))
            self.sock.settimeout(left)
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            fields = dict(ln.split("=", 1) for ln in data.decode().splitlines() if "=" in ln)
            self.msgs.append((pid, fields, data))

    def clear(self):
        self.msgs = []


class SdNotifyTest(unittest.TestCase):
    def setUp(self):
        self.rd = SmtpLab("sdnotify", start=False)
        self.addCleanup(self.rd.close)
        self.socks = {}
        for name in ("authd", "routerd"):
            s = NotifySocket(self.rd.lab.path("notify", name + ".sock"))
            self.addCleanup(s.close)
            self.socks[name] = s
        os.chmod(os.path.dirname(self.socks["authd"].path), 0o755)

    def with_notify(self, name, fn):
        """Run fn() (which spawns the daemon) with NOTIFY_SOCKET set."""
        old = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = self.socks[name].path
        try:
            return fn()
        finally:
            if old is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = old

    def reload_cycle(self, name, proc, conf):
        s = self.socks[name]
        s.clear()
        os.kill(proc.pid, signal.SIGHUP)
        pid, f, _ = s.wait("RELOADING", "1")
        self.assertEqual(pid, proc.pid)
        self.assertTrue(f.get("MONOTONIC_USEC", "").isdigit(), f)
        pid, f, _ = s.wait("READY", "1")
        self.assertEqual(pid, proc.pid)
        self.assertIn("reloaded", f.get("STATUS", ""))
        # A bad file: RELOADING, then READY again with the old one kept.
        with open(conf) as fh:
            good = fh.read()
        with open(conf, "w") as fh:
            fh.write(good + "\n[routerd]\nno_such_setting = 1\n")
        try:
            s.clear()
            os.kill(proc.pid, signal.SIGHUP)
            s.wait("RELOADING", "1")
            _, f, _ = s.wait("READY", "1")
            self.assertIn("old configuration is kept", f.get("STATUS", ""))
        finally:
            with open(conf, "w") as fh:
                fh.write(good)

    def stop_cycle(self, name, proc):
        s = self.socks[name]
        s.clear()
        os.kill(proc.pid, signal.SIGTERM)
        pid, f, _ = s.wait("STOPPING", "1")
        self.assertEqual(pid, proc.pid)
        self.assertEqual(proc.wait(timeout=20), 0)

    def test_authd_and_routerd_notify(self):
        rd = self.rd
        self.with_notify("authd", rd.start_authd)  # returns once it answers
        a = rd.authd.proc
        pid, f, _ = self.socks["authd"].wait("READY", "1")
        self.assertEqual(pid, a.pid)
        self.assertEqual(f.get("STATUS"), "running")

        self.with_notify("routerd", rd.start_routerd)
        r = rd.routerd
        pid, f, _ = self.socks["routerd"].wait("READY", "1")
        self.assertEqual(pid, r.pid)
        # READY only after the listener is bound: it must greet now.
        with socket.create_connection(("127.0.0.1", rd.mx), timeout=5) as c:
            self.assertTrue(c.recv(100).startswith(b"220 "))

        self.reload_cycle("routerd", r, rd.conf)
        self.reload_cycle("authd", a, rd.conf)
        self.stop_cycle("routerd", r)
        rd.lab.stop(r)
        rd.routerd = None
        self.stop_cycle("authd", a)
        rd.lab.stop(a)
        rd.authd.proc = None

    def test_routerd_started_as_its_user(self):
        """The unit starts routerd as User=dirmx; here nobody (the lab's
        [routerd] user) on unprivileged ports: nothing to drop."""
        rd = self.rd
        rd.start_authd()
        os.chown(rd.authd.dir, 65534, 65534)  # spool and control socket
        orig = rd.lab.spawn

        def spawn_as_nobody(name, argv, **kw):
            return orig(name, argv, user="nobody", group="nogroup", extra_groups=[], **kw)

        rd.lab.spawn = spawn_as_nobody
        try:
            self.with_notify("routerd", rd.start_routerd)
        finally:
            rd.lab.spawn = orig
        pid, _, _ = self.socks["routerd"].wait("READY", "1")
        self.assertEqual(pid, rd.routerd.pid)
        self.assertIn("event=privileges user=nobody uid=65534 started_as=user", rd.log())
        with open("/proc/%d/status" % rd.routerd.pid) as fh:
            uids = [ln for ln in fh if ln.startswith("Uid:")][0].split()[1:]
        self.assertEqual(set(uids), {"65534"})
        with rd.client("mx") as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % rd.user(1)["mail"]).code, 250)


if __name__ == "__main__":
    unittest.main()
