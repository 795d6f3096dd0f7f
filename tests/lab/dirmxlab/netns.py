"""Network namespaces owned by a lab.

    ns = NetNS(lab)                 # dirmx-<pid>-<n>, lo up, deleted by lab.close()
    ns.add_addr("127.0.0.10")       # extra loopback address on its lo
    ns.set_resolv(["127.0.0.10"])   # /etc/resolv.conf seen by programs run in it
    ns.run(["dig", ...])            # CompletedProcess of a command run inside
    s = ns.socket(socket.AF_INET, socket.SOCK_DGRAM)   # a socket living inside

Programs run with `ip netns exec`, which also bind-mounts
/etc/netns/<name>/resolv.conf over /etc/resolv.conf for them: set_resolv()
writes that file, and close() removes it with the namespace.

A namespace left behind by a test run that was killed (its name carries the
PID of a process that no longer exists) is removed the next time a NetNS is
created, together with the processes still inside it.
"""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from .core import LabError

CLONE_NEWNET = 0x40000000
_NAME_RE = re.compile(r"^dirmx-(\d+)-(\d+)$")
_counter = [0]
_libc = None


def _setns(fd):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _ns_pids(name):
    r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _pid_alive(p) and not _zombie(p)]
        if pids:
            time.sleep(0.05)
    return pids


def _kill_ns_pids(name, grace=5.0):
    """Stop every process still inside namespace name (all of them were
    started inside it by a lab): SIGTERM, then SIGKILL after grace seconds.
    Returns the PIDs that needed SIGKILL."""
    pids = _ns_pids(name)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    left = _wait_gone(pids, grace)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_gone(left, 5.0)
    return left


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def _delete(name):
    killed = _kill_ns_pids(name)
    if killed:
        print("netns %s: killed leftover pids %s" % (name, killed))
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    shutil.rmtree(os.path.join("/etc/netns", name), ignore_errors=True)


def remove_stale():
    """Delete dirmx-<pid>-<n> namespaces whose creating process is gone."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NAME_RE.match(name)
        pid = int(m.group(1)) if m else 0
        if m and pid != os.getpid() and (not _pid_alive(pid) or _zombie(pid)):
            _delete(name)


class NetNS:
    """A network namespace with lo up, deleted when the lab closes."""

    def __init__(self, lab, name=None):
        if os.geteuid() != 0:
            raise LabError("network namespaces need root")
        remove_stale()
        self.lab = lab
        if name is None:
            _counter[0] += 1
            name = "dirmx-%d-%d" % (os.getpid(), _counter[0])
        self.name = name
        r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError("ip netns add %s: %s" % (name, r.stderr.strip()))
        self._deleted = False
        lab.on_close(self.delete)
        self._ip("link", "set", "lo", "up")
        self.addrs = []

    def _ip(self, *args):
        r = subprocess.run(["ip", "-n", self.name] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError("ip -n %s %s: %s" % (self.name, " ".join(args), r.stderr.strip()))
        return r.stdout

    def add_addr(self, addr, dev="lo"):
        """Add addr (an IPv4 address in 127.0.0.0/8, or an IPv6 one) to dev."""
        if addr in self.addrs:
            return
        prefix = "/8" if ":" not in addr else "/128"
        self._ip("addr", "add", addr + prefix, "dev", dev)
        self.addrs.append(addr)

    def set_resolv(self, nameservers, search=None):
        """The /etc/resolv.conf of every program started with exec_argv()."""
        d = os.path.join("/etc/netns", self.name)
        os.makedirs(d, exist_ok=True)
        lines = []
        if search:
            lines.append("search %s" % search)
        lines += ["nameserver %s" % n for n in nameservers]
        lines.append("options timeout:1 attempts:2")
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def set_hosts(self, entries):
        """The /etc/hosts of every program started with exec_argv():
        localhost, and entries, a list of (address, name)."""
        d = os.path.join("/etc/netns", self.name)
        os.makedirs(d, exist_ok=True)
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += ["%s %s" % e for e in entries]
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, env=None, input=None, timeout=60, check=True, text=True):
        """Run argv inside the namespace; returns a CompletedProcess.

        With check=True a non-zero exit raises LabError carrying its output.
        """
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        try:
            r = subprocess.run(self.exec_argv(argv), env=full_env, input=input,
                               capture_output=True, timeout=timeout, text=text)
        except subprocess.TimeoutExpired as e:
            raise LabError("%s timed out after %ss in %s" % (argv[0], timeout, self.name)) from e
        if check and r.returncode != 0:
            raise LabError("%s exited %d in %s:\n%s\n%s"
                           % (" ".join(argv), r.returncode, self.name,
                              r.stdout if text else "", r.stderr if text else r.stderr.decode(errors="replace")))
        return r

    def socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM, proto=0):
        """A socket created inside the namespace (usable from this process)."""
        out = {}

        def work():
            try:
                fd = os.open(os.path.join("/run/netns", self.name), os.O_RDONLY)
                try:
                    _setns(fd)
                finally:
                    os.close(fd)
                out["s"] = socket.socket(family, type, proto)
            except Exception as e:  # reported in the caller's thread
                out["e"] = e

        t = threading.Thread(target=work)  # the thread dies inside the namespace
        t.start()
        t.join()
        if "e" in out:
            raise out["e"]
        return out["s"]

    def connect(self, host, port, timeout=1.0):
        s = self.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            raise
        return s

    def wait_tcp(self, host, port, timeout=30.0, alive=None, what="server"):
        """Wait until host:port inside the namespace accepts a connection.

        alive: optional callable returning False once the server has died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if alive is not None and not alive():
                raise LabError("%s exited before listening on %s:%d" % (what, host, port))
            try:
                self.connect(host, port, timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise LabError("%s did not listen on %s:%d in %s within %.0fs"
                       % (what, host, port, self.name, timeout))

    def delete(self):
        if self._deleted:
            return
        self._deleted = True
        _delete(self.name)
