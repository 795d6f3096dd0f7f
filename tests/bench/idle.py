"""The idle shape of issue 15: many slow clients held open against routerd.

A flood of slow clients within the edge limits: each connects from one of
many loopback source addresses (127.100.0.1, 127.100.0.2, ... at most
PER_ADDR sessions each, under routerd's client_connection_limit of 50),
reads the greeting, sends EHLO, reads its reply and then stays silent.
While they are held, run.py measures routerd's and authd's memory and runs
a normal client load beside them (shapes.run_idle).

IdleFlood holds the sockets in this process (one epoll loop while they
open; nothing runs while they are held: the kernel keeps them). check()
then says how many are still open: a session routerd dropped (a 421 for a
limit or a timeout, or EOF) is readable.
"""

import errno
import os
import resource
import select
import socket
import time

PER_ADDR = 40  # sessions per source address (routerd's default limit: 50)
SRC_NET = (127, 100)  # source addresses 127.100.x.y; the bench's servers use 127.0.0.x


def raise_nofile(want):
    """This process may hold `want` descriptors: soft limit up to the hard
    one, and the hard one raised as root when it is lower (the processes
    started afterwards, routerd among them, inherit it: the bench's
    equivalent of the systemd unit's LimitNOFILE). Returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                cap = int(f.read())
        except (OSError, ValueError):
            cap = want
        hard = min(want, cap)
    if soft != resource.RLIM_INFINITY and soft < want:
        soft = hard if hard == resource.RLIM_INFINITY else min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def proc_nofile(pid):
    """The soft 'Max open files' of a process (None: unknown or unlimited)."""
    try:
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    v = line.split()[3]
                    return None if v == "unlimited" else int(v)
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def proc_mem_mb(pid):
    """(PSS, RSS) of one process in MB, from smaps_rollup."""
    pss = rss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss / 1024.0, rss / 1024.0


def source_addr(i):
    n = i // PER_ADDR
    return "%d.%d.%d.%d" % (SRC_NET[0], SRC_NET[1], n // 250, 1 + n % 250)


class _Conn:
    __slots__ = ("sock", "state", "buf", "src")

    def __init__(self, sock, src):
        self.sock, self.src, self.state, self.buf = sock, src, "connect", b""


class IdleFlood:
    """n idle SMTP sessions against host:port, each after EHLO."""

    def __init__(self, host, port, n, helo="idle.bench.example"):
        self.host, self.port, self.n, self.helo = host, port, n, helo
        self.held = []  # sockets past EHLO
        self.failed = 0
        self.first_error = ""
        self.open_s = None

    def _fail(self, c, why):
        self.failed += 1
        if not self.first_error:
            self.first_error = "%s (from %s)" % (why, c.src)
        try:
            c.sock.close()
        except OSError:
            pass

    @staticmethod
    def _reply(c):
        """A complete reply in c.buf: its code, else None."""
        lines = c.buf.split(b"\r\n")
        for ln in lines[:-1]:
            if len(ln) >= 4 and ln[3:4] == b" ":
                return int(ln[:3]) if ln[:3].isdigit() else -1
            if len(ln) < 4 or ln[3:4] != b"-":
                return -1
        return None

    def open(self, timeout=120.0, inflight=200):
        """Open every session, at most `inflight` in their handshake at
        once (routerd's listen backlog is 1024). Returns the seconds it
        took; sessions that failed are counted, not retried."""
        ep = select.epoll()
        live = {}
        nxt = 0
        t0 = time.monotonic()
        try:
            while nxt < self.n or live:
                while nxt < self.n and len(live) < inflight:
                    src = source_addr(nxt)
                    nxt += 1
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    c = _Conn(s, src)
                    try:
                        s.bind((src, 0))
                        err = s.connect_ex((self.host, self.port))
                    except OSError as e:
                        self._fail(c, "connect: %s" % e)
                        continue
                    if err not in (0, errno.EINPROGRESS):
                        self._fail(c, "connect: %s" % os.strerror(err))
                        continue
                    c.state = "greet"
                    live[s.fileno()] = c
                    ep.register(s.fileno(), select.EPOLLIN)
                if time.monotonic() - t0 > timeout:
                    for fd, c in list(live.items()):
                        ep.unregister(fd)
                        self._fail(c, "timeout in state %s" % c.state)
                    live.clear()
                    break
                for fd, _ev in ep.poll(0.5):
                    c = live[fd]
                    try:
                        data = c.sock.recv(4096)
                    except OSError as e:
                        data, why = None, "read: %s" % e
                    else:
                        why = "closed by the server in state %s" % c.state
                    if not data:
                        ep.unregister(fd)
                        del live[fd]
                        self._fail(c, why)
                        continue
                    c.buf += data
                    code = self._reply(c)
                    if code is None:
                        continue
                    if code // 100 != 2:
                        ep.unregister(fd)
                        del live[fd]
                        self._fail(c, "%s: %s" % (c.state, c.buf.decode("ascii", "replace")
                                                  .strip()[:120]))
                        continue
                    c.buf = b""
                    if c.state == "greet":
                        c.state = "ehlo"
                        # a few bytes into an empty socket buffer: never blocks
                        c.sock.send(b"EHLO %s\r\n" % self.helo.encode())
                    else:
                        ep.unregister(fd)
                        del live[fd]
                        self.held.append(c.sock)
        finally:
            ep.close()
        self.open_s = time.monotonic() - t0
        return self.open_s

    def check(self):
        """How many held sessions routerd has not dropped (nothing to read:
        no 421, no EOF)."""
        still, dropped = [], 0
        ep = select.epoll()
        try:
            for s in self.held:
                ep.register(s.fileno(), select.EPOLLIN)
            readable = {fd for fd, _ in ep.poll(0)}
        finally:
            ep.close()
        for s in self.held:
            if s.fileno() in readable:
                dropped += 1
                if not self.first_error:
                    try:
                        self.first_error = "held session got: %r" % s.recv(200)[:120]
                    except OSError as e:
                        self.first_error = "held session: %s" % e
                s.close()
            else:
                still.append(s)
        self.held = still
        return len(still), dropped

    def close(self):
        for s in self.held:
            try:
                s.close()
            except OSError:
                pass
        self.held = []
