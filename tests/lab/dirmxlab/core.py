"""Process and port management for the lab (see __init__.py)."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class LabError(Exception):
    """A lab server could not be started or did not become ready."""


def source_dir():
    d = os.environ.get("DIRMX_SOURCE_DIR")
    if d:
        return d
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def build_dir():
    d = os.environ.get("DIRMX_BUILD_DIR")
    if d:
        return d
    return os.path.join(source_dir(), "build")


_used_ports = set()


def free_port(host="127.0.0.1", udp_too=False):
    """A port that is free on host now (TCP, and UDP when asked)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port in _used_ports:
            continue
        if udp_too:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
            except OSError:
                continue
        _used_ports.add(port)
        return port
    raise LabError("no free port found on %s" % host)


def wait_tcp(host, port, timeout=15.0, proc=None, what="server"):
    """Wait until host:port accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LabError("%s exited with status %s before listening on %s:%d"
                           % (what, proc.returncode, host, port))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LabError("%s did not listen on %s:%d within %.0fs" % (what, host, port, timeout))


def find_program(name, extra_dirs=("/usr/sbin", "/usr/bin", "/sbin", "/usr/lib/postfix/sbin")):
    path = shutil.which(name)
    if path:
        return path
    for d in extra_dirs:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise LabError("%s not found: run deploy/install-deps.sh" % name)


class Lab:
    """A temporary directory plus every process started in it."""

    def __init__(self, name="lab", keep=None):
        self.dir = tempfile.mkdtemp(prefix="dirmx-%s-" % name)
        self.keep = keep if keep is not None else bool(os.environ.get("DIRMX_LAB_KEEP"))
        self.procs = []  # (name, Popen, pidfile or None)
        self.cleanups = []
        self._closed = False
        atexit.register(self.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def path(self, *parts):
        p = os.path.join(self.dir, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def write(self, relpath, text, mode=0o644):
        p = self.path(relpath)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def spawn(self, name, argv, env=None, pidfile=None, stdin=subprocess.DEVNULL, **kw):
        """Start argv; its output goes to <lab>/logs/<name>.log.

        When the program daemonizes or renames itself, pass the pidfile it
        writes so that close() stops the real PID.
        """
        log = open(self.path("logs", name + ".log"), "ab")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=stdin,
                                env=full_env, start_new_session=True, **kw)
        log.close()
        self.procs.append((name, proc, pidfile))
        return proc

    def log_text(self, name):
        try:
            with open(self.path("logs", name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def on_close(self, fn):
        self.cleanups.append(fn)

    def stop(self, proc, sig=signal.SIGTERM, timeout=10.0):
        """Stop one process started by this lab, by PID, and reap it."""
        for name, p, pidfile in self.procs:
            if p is proc:
                self._stop_one(name, p, pidfile, sig, timeout)
                return
        raise LabError("stop(): process not started by this lab")

    @staticmethod
    def _pid_from(pidfile):
        try:
            with open(pidfile) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _stop_one(self, name, p, pidfile, sig, timeout):
        pids = []
        if pidfile:
            pid = self._pid_from(pidfile)
            if pid:
                pids.append(pid)
        if p.poll() is None:
            pids.append(p.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for pid in pids:
            while time.monotonic() < deadline:
                if pid == p.pid:
                    if p.poll() is not None:
                        break
                elif not _alive(pid):
                    break
                time.sleep(0.02)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def detach(self):
        """Leave every process running and every file in place: close()
        (and the exit handler) will do nothing. For a demo run with --keep,
        whose processes are stopped later by PID."""
        self._closed = True
        self.keep = True

    def close(self):
        if self._closed:
            return
        self._closed = True
        for name, p, pidfile in reversed(self.procs):
            try:
                self._stop_one(name, p, pidfile, signal.SIGTERM, 10.0)
            except Exception as e:  # keep stopping the others
                print("lab: stopping %s failed: %s" % (name, e))
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                print("lab: cleanup failed: %s" % e)
        if self.keep:
            print("lab: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def _task_states(pid):
    """The scheduler state letter of each thread of pid (gone: none)."""
    states = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return states
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().split(") ")[-1].split()[0])
        except OSError:
            pass
    return states


def freeze_pids(pids, timeout=10.0):
    """SIGSTOP each process and return once every thread of each is
    stopped. kill() returns before that: the kernel wakes one thread to
    take the stop, and until it has run, the others go on (on a busy
    machine, for milliseconds: a frozen slapd still answered a search).
    Processes that are gone are skipped."""
    pids = list(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while any(s not in ("T", "t", "Z", "X") for s in _task_states(pid)):
            if time.monotonic() > deadline:
                raise LabError("process %d did not stop within %.0f s: %s"
                               % (pid, timeout, _task_states(pid)))
            time.sleep(0.001)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie of ours counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return False
