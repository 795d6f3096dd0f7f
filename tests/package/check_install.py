#!/usr/bin/env python3
"""check_install.py DEB_DIR - the package in a fresh Debian 12 root.

What is proved, with the .deb deploy/build-deb.sh made:
  - it installs with apt into a root that mmdebstrap builds from Debian's
    packages (variant apt: Essential and apt, nothing else), without
    Recommends: every run-time dependency it needs is declared;
  - the install starts nothing, creates the users dirmx and dirmx-authd,
    /var/spool/dirmx (dirmx 0700), /var/lib/dirmx (dirmx 0750) and the
    conffile /etc/dirmx/dirmx.conf; the postinst makes an existing bind
    password file root:dirmx-authd 0640;
  - `authd -t` and `routerd -t` accept a configuration against the lab's
    slapd (StartTLS, simple bind with the password file);
  - both daemons run there as the units say (ExecStart=, User=, Group=,
    SupplementaryGroups=, AmbientCapabilities=, RuntimeDirectory= read from
    the packaged units; systemd's recursive chown of /run/dirmx done as it
    does it): authd as dirmx-authd, routerd as dirmx binding port 25 with
    CAP_NET_BIND_SERVICE as its only capability; both send READY=1
    (libsystemd in the packaged binaries) to a notify socket;
  - dirmx cannot read the bind password, dirmx-authd can;
  - a message sent with smtplib to routerd's port 25 is relayed to the
    recipient's mailbox server from the directory (a sink of the test);
    dirmxctl in the root reads the queue over routerd's control socket;
  - `apt-get purge dirmx` then `apt-get autoremove --purge` leave nothing of
    dirmx: no file or directory that was not there before the install,
    but the users dirmx and dirmx-authd (kept, as README.Debian says),
    what dpkg/apt keep of any package (logs, caches, status) and adduser's
    lock file /run/adduser.
Every process it starts is stopped by PID; /proc and /dev are unmounted
and the root removed, also on failure. A missing tool fails the test.

The bootstrap is cached as build/package-cache/bookworm-apt.tar when
DIRMX_PACKAGE_CACHE names that directory (never required; a cache older
than a week is rebuilt).
"""

import glob
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from dirmxlab import Lab, Slapd, free_port, ldapdata

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from deliverytest import Sink  # noqa: E402
from smtptest import wait_for  # noqa: E402

SUITE = "bookworm"
MIRRORS = ["deb http://deb.debian.org/debian bookworm main",
           "deb http://deb.debian.org/debian bookworm-updates main",
           "deb http://deb.debian.org/debian-security bookworm-security main"]
CACHE_MAX_AGE = 7 * 86400
# What dpkg and apt keep of any package they handled; never dirmx's own.
DPKG_APT_STATE = ("var/lib/dpkg/", "var/lib/apt/", "var/cache/", "var/log/",
                  "var/lib/systemd/deb-systemd-helper-enabled/")
# adduser's lock file, on the tmpfs /run of a real system.
USER_DB = ("run/adduser", "etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-",
           "etc/subuid", "etc/subgid", "etc/subuid-", "etc/subgid-")


def need(tool):
    path = shutil.which(tool)
    if path is None:
        raise AssertionError("%s not found: run deploy/install-deps.sh" % tool)
    return path


def mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def tree(root):
    """Every path below root (relative), but the API and scratch trees."""
    out = set()
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel != "." and rel.split(os.sep)[0] in ("proc", "dev", "sys", "tmp"):
            dirs[:] = []
            continue
        for n in dirs + files:
            out.add(os.path.normpath(os.path.join(rel, n)))
    return out


def unit(root, name):
    out = {}
    with open(os.path.join(root, "lib/systemd/system", name)) as f:
        for line in f:
            line = line.strip()
            if line and line[0] not in "#;[" and "=" in line:
                k, _, v = line.partition("=")
                out.setdefault(k, []).append(v)
    return {k: v[-1] for k, v in out.items()}


class PackageInstallTest(unittest.TestCase):
    def setUp(self):
        for t in ("mmdebstrap", "chroot", "mount", "umount", "dpkg-deb"):
            need(t)
        debs = glob.glob(os.path.join(sys.argv[1] if len(sys.argv) > 1 else
                                      os.environ["DIRMX_DEB_DIR"], "dirmx_*.deb"))
        self.assertEqual(len(debs), 1, "want one dirmx_*.deb, found %r" % debs)
        self.deb = debs[0]
        # The root lives outside the lab's directory, which the lab removes
        # with rmtree: never while /dev is bound in it. Cleanups run last
        # first: the lab's processes by PID, the mounts, then the root.
        self.root = tempfile.mkdtemp(prefix="dirmx-pkgroot-")
        os.chmod(self.root, 0o755)
        self.mounts = []
        self.addCleanup(self.remove_root)
        self.addCleanup(self.umount_all)
        self.lab = Lab("pkg")
        os.chmod(self.lab.dir, 0o755)
        self.addCleanup(self.lab.close)
        self.t0 = time.monotonic()

    def step(self, what):
        print("[%6.1fs] %s" % (time.monotonic() - self.t0, what), flush=True)

    # -- the root ------------------------------------------------------------
    def bootstrap(self):
        cache_dir = os.environ.get("DIRMX_PACKAGE_CACHE")
        tar = os.path.join(cache_dir, "%s-apt.tar" % SUITE) if cache_dir else None
        if tar and os.path.exists(tar) and time.time() - os.path.getmtime(tar) < CACHE_MAX_AGE:
            self.step("bootstrap: from the cache %s" % tar)
        else:
            if tar is None:
                tar = self.lab.path("bootstrap.tar")
            os.makedirs(os.path.dirname(tar), exist_ok=True)
            self.step("bootstrap: mmdebstrap --variant=apt %s" % SUITE)
            r = subprocess.run(["mmdebstrap", "--variant=apt", "--mode=root", "--format=tar",
                                "--quiet", SUITE, tar + ".new"] + MIRRORS,
                               capture_output=True, text=True, timeout=1200)
            self.assertEqual(r.returncode, 0, "mmdebstrap failed:\n" + r.stderr[-4000:])
            os.replace(tar + ".new", tar)
        r = subprocess.run(["tar", "-C", self.root, "-xf", tar], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        shutil.copy("/etc/resolv.conf", os.path.join(self.root, "etc/resolv.conf"))
        # What netbase gives any real system (variant apt has none): the
        # lab's slapd is ldap://localhost (its certificate's name).
        with open(os.path.join(self.root, "etc/hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        for what, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
            target = os.path.join(self.root, what)
            subprocess.run(["mount"] + args + [target], check=True)
            self.mounts.append(target)

    def umount_all(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", m])
            if mounted(m):
                subprocess.run(["umount", "-l", m])
        self.mounts = []

    def remove_root(self):
        if any(mounted(os.path.join(self.root, m)) for m in ("proc", "dev")):
            print("NOT removing %s: still mounted" % self.root)
            return
        subprocess.run(["rm", "-rf", "--one-file-system", self.root])

    def chroot(self, *argv, check=True, timeout=600, env=None):
        full = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "DEBIAN_FRONTEND": "noninteractive", "LDAPCONF": "/dev/null"}
        full.update(env or {})
        r = subprocess.run(["chroot", self.root] + list(argv), capture_output=True,
                           text=True, timeout=timeout, env=full)
        if check and r.returncode != 0:
            self.fail("in the root: %s: exit %d\n%s\n%s" % (" ".join(argv), r.returncode,
                                                           r.stdout[-3000:], r.stderr[-3000:]))
        return r

    def ids(self, name):
        r = self.chroot("id", "-u", name)
        g = self.chroot("id", "-g", name)
        return int(r.stdout), int(g.stdout)

    def procs_in_root(self):
        """PIDs whose root directory is ours (started by anyone)."""
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.readlink("/proc/%s/root" % p) == self.root:
                        out.append(int(p))
                except OSError:
                    pass
        return out

    def path(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    # -- the daemons as their units start them ----------------------------------
    def start(self, name, notify):
        u = unit(self.root, name + ".service")
        rt = self.path("/run/" + u["RuntimeDirectory"])
        uid, gid = self.ids(u["User"])
        os.makedirs(rt, exist_ok=True)
        # systemd: the innermost RuntimeDirectory= gets User:Group and the
        # mode, recursively when the owner differs.
        if os.stat(rt).st_uid != uid or os.stat(rt).st_gid != gid:
            for d, dirs, files in os.walk(rt):
                for n in [d] + [os.path.join(d, f) for f in files + dirs]:
                    os.lchown(n, uid, gid)
        os.chmod(rt, int(u["RuntimeDirectoryMode"], 8))
        argv = ["chroot", self.root, "setpriv", "--reuid", u["User"], "--regid", u["Group"]]
        sup = u.get("SupplementaryGroups", "").split()
        argv += ["--groups", ",".join(sup)] if sup else ["--clear-groups"]
        caps = [c.lower().replace("cap_", "") for c in
                u.get("AmbientCapabilities", "").split()]
        bset = ",".join(["-all"] + ["+" + c for c in caps])
        argv += ["--bounding-set", bset]
        if caps:
            plus = ",".join("+" + c for c in caps)
            argv += ["--inh-caps", plus, "--ambient-caps", plus]
        if u.get("NoNewPrivileges") == "yes":
            argv.append("--no-new-privs")
        argv += u["ExecStart"].split()
        env = {"PATH": "/usr/sbin:/usr/bin", "NOTIFY_SOCKET": "/run/notify/%s.sock" % name,
               "LDAPCONF": "/dev/null"}
        self.step("start %s: %s" % (name, " ".join(argv[2:])))
        proc = self.lab.spawn(name, argv, env=env)
        deadline = time.monotonic() + 30
        notify.settimeout(1)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.fail("%s exited %s:\n%s" % (name, proc.returncode, self.lab.log_text(name)))
            try:
                msg = notify.recv(4096).decode()
            except socket.timeout:
                continue
            if "READY=1" in msg.splitlines():
                return proc
        self.fail("%s: no READY=1 within 30s:\n%s" % (name, self.lab.log_text(name)))

    def proc_status(self, pid):
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

    # -- the test ------------------------------------------------------------------
    def test_install_run_purge(self):
        self.bootstrap()
        self.step("apt-get update")
        self.chroot("apt-get", "update", "-q")
        before = tree(self.root)

        os.makedirs(self.path("/root/dirmx-deb"))
        shutil.copy(self.deb, self.path("/root/dirmx-deb/"))
        deb_in_root = "/root/dirmx-deb/" + os.path.basename(self.deb)
        self.step("apt-get install --no-install-recommends %s" % deb_in_root)
        r = self.chroot("apt-get", "install", "-y", "-q", "--no-install-recommends", deb_in_root)
        print(r.stdout[-1500:])
        self.assertIn("dirmx: not started.", r.stdout)

        # Installed, nothing running, users and directories in place.
        self.assertEqual(self.procs_in_root(), [], "the install started something")
        wants = glob.glob(self.path("/etc/systemd/system/*.wants/*d.service"))
        self.assertEqual(wants, [], "units enabled at install")
        self.assertTrue(os.path.isfile(self.path("/etc/dirmx/dirmx.conf")))
        with open(self.path("/var/lib/dpkg/info/dirmx.conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/dirmx/dirmx.conf"])
        dirmx, dirmx_g = self.ids("dirmx")
        authd_uid, authd_g = self.ids("dirmx-authd")
        self.assertNotEqual(dirmx, authd_uid)
        for d, uid, mode in (("/var/spool/dirmx", dirmx, 0o700),
                             ("/var/lib/dirmx", dirmx, 0o750),
                             ("/var/lib/dirmx/authd", authd_uid, 0o700),
                             ("/etc/dirmx", 0, 0o755)):
            st = os.stat(self.path(d))
            self.assertEqual((st.st_uid, st.st_mode & 0o7777), (uid, mode), d)
        for prog in ("authd", "routerd", "dirmxctl"):
            self.assertEqual(self.chroot("/usr/sbin/" + prog, "-V").returncode, 0)

        # The lab's directory, a sink for the mailbox server.
        self.step("slapd, sink")
        sink_port = free_port()
        ldif, info = ldapdata.generate(users=10, large_group=12,
                                       mailhosts=["[127.0.0.1]:%d" % sink_port])
        slapd = Slapd(self.lab, data=ldif)
        sink = Sink("mbx", "127.0.0.1", sink_port).start()
        self.addCleanup(sink.stop)
        shutil.copy(slapd.ca.cert, self.path("/etc/dirmx/lab-ca.pem"))
        pw = self.path("/etc/dirmx/bind.password")
        with open(pw, "w") as f:
            f.write(slapd.svc_pw + "\n")
        os.chmod(pw, 0o644)  # the postinst tightens it
        self.chroot("/var/lib/dpkg/info/dirmx.postinst", "configure", "0.1.0")
        st = os.stat(pw)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (0, authd_g, 0o640))

        mx_addr = "127.%d.%d.%d" % (os.getpid() % 200 + 20, (os.getpid() >> 8) % 250 + 1, 25)
        with open(self.path("/etc/dirmx/dirmx.conf"), "w") as f:
            f.write("""\
[global]
log_level = debug

[dns]
servers = 127.0.0.1:%(dns)d
timeout = 500ms
tries = 1

[authd]
directory = ldap
servers = ldap://localhost:%(ldap)d
base_dn = %(suffix)s
tls = starttls
ca_file = /etc/dirmx/lab-ca.pem
bind = simple
bind_dn = %(svc_dn)s
bind_password_file = /etc/dirmx/bind.password
timeout = 2s

[routerd]
hostname = mx.dirmx.test
local_domains = dirmx.test, alias.dirmx.test
retry_min = 1s

[listener mx]
address = %(mx)s:25
role = mx
""" % {"dns": free_port(), "ldap": slapd.port, "suffix": slapd.suffix,
                "svc_dn": slapd.svc_dn, "mx": mx_addr})
        for prog in ("authd", "routerd"):
            r = self.chroot("/usr/sbin/" + prog, "-t")
            self.assertEqual(r.stdout.strip(), "/etc/dirmx/dirmx.conf: configuration OK")
            self.step("%s -t: %s" % (prog, r.stdout.strip()))

        # Secrets: authd's user reads them, routerd's cannot.
        r = self.chroot("setpriv", "--reuid", "dirmx", "--regid", "dirmx", "--clear-groups",
                        "cat", "/etc/dirmx/bind.password", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)
        r = self.chroot("setpriv", "--reuid", "dirmx-authd", "--regid", "dirmx-authd",
                        "--clear-groups", "cat", "/etc/dirmx/bind.password")
        self.assertEqual(r.stdout.strip(), slapd.svc_pw)

        # Both daemons, as their units run them.
        notify_dir = self.path("/run/notify")
        os.makedirs(notify_dir)
        socks = {}
        for name in ("authd", "routerd"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(os.path.join(notify_dir, name + ".sock"))
            os.chmod(os.path.join(notify_dir, name + ".sock"), 0o666)
            self.addCleanup(s.close)
            socks[name] = s
        authd = self.start("authd", socks["authd"])
        routerd = self.start("routerd", socks["routerd"])
        st = self.proc_status(routerd.pid)
        self.assertEqual(set(st["Uid"].split()), {str(dirmx)})
        self.assertEqual(int(st["CapEff"], 16), 1 << 10)  # CAP_NET_BIND_SERVICE
        self.assertEqual(int(st["CapBnd"], 16), 1 << 10)
        st = self.proc_status(authd.pid)
        self.assertEqual(set(st["Uid"].split()), {str(authd_uid)})
        self.assertEqual(int(st["CapEff"], 16), 0)
        sock = os.stat(self.path("/run/dirmx/authd.sock"))
        self.assertEqual(sock.st_gid, dirmx_g)
        self.assertIn("event=privileges user=dirmx uid=%d started_as=user" % dirmx,
                      self.lab.log_text("routerd"))

        # A message through: the directory names the sink as the mailbox.
        # First authd must have reached slapd: dirmxctl in the root asks.
        rcpt = info["users"][1]["mail"]
        ok = wait_for(lambda: self.chroot("dirmxctl", "lookup", rcpt, check=False)
                      .returncode == 0, timeout=30, step=0.5)
        self.assertTrue(ok, "dirmxctl lookup %s never answered:\n%s" % (
            rcpt, self.lab.log_text("authd")[-3000:]))
        self.step("send to %s via %s:25" % (rcpt, mx_addr))
        with smtplib.SMTP(mx_addr, 25, local_hostname="client.test", timeout=30) as c:
            c.sendmail("someone@example.org", [rcpt],
                       "From: <someone@example.org>\r\nTo: <%s>\r\n"
                       "Subject: package test\r\n\r\nThrough the package.\r\n" % rcpt)
        got = wait_for(lambda: [t for t in sink.txns() if rcpt in t.rcpts and t.data is not None],
                       timeout=30)
        self.assertTrue(got, "the sink got nothing:\n" + self.lab.log_text("routerd")[-3000:])
        self.assertIn(b"Through the package.", got[0].data)
        r = self.chroot("dirmxctl", "queue")
        self.step("dirmxctl queue: %s" % r.stdout.strip()[:200])

        for name, p in (("routerd", routerd), ("authd", authd)):
            self.lab.stop(p)
            self.assertEqual(p.returncode, 0, "%s exit status" % name)
        self.assertEqual(self.procs_in_root(), [])
        for s in socks.values():
            s.close()
        shutil.rmtree(notify_dir)
        os.unlink(self.path(deb_in_root))
        os.rmdir(self.path("/root/dirmx-deb"))

        self.step("apt-get purge dirmx; apt-get autoremove --purge")
        self.chroot("apt-get", "purge", "-y", "-q", "dirmx")
        self.chroot("apt-get", "autoremove", "-y", "-q", "--purge")
        r = self.chroot("dpkg-query", "-W", "-f", "${Status}", "dirmx", check=False)
        self.assertNotIn("installed", r.stdout.replace("not-installed", ""))
        after = tree(self.root)
        left = sorted(p for p in after - before
                      if not p.startswith(DPKG_APT_STATE) and p not in USER_DB)
        self.step("left after purge (beyond dpkg/apt state and the user database): %r" % left)
        self.assertEqual(left, [])
        named = sorted(p for p in after if any(w in p for w in ("dirmx", "authd", "routerd"))
                       and not p.startswith(("var/lib/dpkg/", "var/log/")))
        self.assertEqual(named, [], "paths of dirmx left after purge")
        # Kept on purpose: the users (README.Debian).
        self.assertEqual(self.ids("dirmx")[0], dirmx)
        self.step("done")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
