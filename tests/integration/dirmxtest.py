"""Shared helpers of the authd integration tests (test_dcloc, test_ldconn).

    drive("ldconn_drive", [...])      -> Run(rc, out, err, secs)
    parse_dcloc(out)                  -> DclocOutput: orders, searches, dcs
    Hole()                            a TCP server that accepts and never writes
    BadDns(mode)                      a UDP DNS server that answers garbage

Everything started here runs in a thread of the test process and is closed
by close() (use addCleanup); processes are started through the Lab.
"""

import os
import re
import socket
import struct
import subprocess
import threading
import time
from collections import namedtuple

from dirmxlab import build_dir

Run = namedtuple("Run", "rc out err secs")


def tool(name):
    path = os.path.join(build_dir(), "tests", name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not built (cmake --build first)" % path)
    return path


def drive(name, args, env=None, timeout=60):
    """Run a driver program to completion; its output and wall time."""
    full = dict(os.environ)
    # No ldap.conf or ldaprc of the machine may change what is tested.
    full.update({"LDAPCONF": "/dev/null", "LDAPRC": "dirmx-no-ldaprc"})
    if env:
        full.update(env)
    start = time.monotonic()
    r = subprocess.run([tool(name)] + list(args), capture_output=True, text=True,
                       env=full, timeout=timeout)
    return Run(r.returncode, r.stdout, r.stderr, time.monotonic() - start)


def describe(run):
    return "exit %s after %.2fs\n--- stdout\n%s\n--- stderr\n%s" % (
        run.rc, run.secs, run.out[-4000:], run.err[-4000:])


# -- dcloc_drive output ---------------------------------------------------

Search = namedtuple("Search", "idx ok dc entries status error ms at")
Dc = namedtuple("Dc", "rank uri prio weight state searches failovers error")
Order = namedtuple("Order", "uris source")

_OK = re.compile(r"^search (\d+) ok dc=(\S+) entries=(\d+) ms=(\d+) at=(\d+)$")
_FAIL = re.compile(r'^search (\d+) fail status=(.+?) error="(.*)" ms=(\d+) at=(\d+)$')
_DC = re.compile(r'^dc (\d+) (\S+) prio=(\d+) weight=(\d+) state=(\S+) '
                 r'searches=(\d+) failovers=(\d+) error="(.*)"$')


class DclocOutput:
    """dcloc_drive's stdout, parsed; unknown lines are kept in .other."""

    def __init__(self, text):
        self.orders, self.searches, self.dcs, self.other = [], [], [], []
        self.locator_error = None
        for line in text.splitlines():
            self.add_line(line)

    def add_line(self, line):
        m = _OK.match(line)
        if m:
            self.searches.append(Search(int(m.group(1)), True, m.group(2), int(m.group(3)),
                                        "ok", None, int(m.group(4)), int(m.group(5))))
            return
        m = _FAIL.match(line)
        if m:
            self.searches.append(Search(int(m.group(1)), False, None, 0, m.group(2),
                                        m.group(3), int(m.group(4)), int(m.group(5))))
            return
        m = _DC.match(line)
        if m:
            self.dcs.append(Dc(int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)),
                               m.group(5), int(m.group(6)), int(m.group(7)), m.group(8)))
            return
        if line.startswith("order:"):
            words = line.split()[1:]
            src = [i for i, w in enumerate(words) if w.startswith("source=")]
            if src:
                i = src[0]
                self.orders.append(Order(words[:i], " ".join(words[i:])[len("source="):]))
            else:
                self.other.append(line)
            return
        if line.startswith("locator error: "):
            self.locator_error = line[len("locator error: "):]
            return
        if line.strip():
            self.other.append(line)


def parse_dcloc(text):
    return DclocOutput(text)


# -- servers of our own -----------------------------------------------------

class Hole:
    """A TCP server that accepts every connection and never sends a byte
    (a DC whose slapd hangs after accept). .port, .accepted. make_socket
    creates the listening socket (a namespace's own, for instance)."""

    def __init__(self, host="127.0.0.1", make_socket=socket.socket):
        self.sock = make_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)  # kept open, never written to

    def close(self):
        self.stopping = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def _question_end(data):
    """Offset just after the question of a query (name, type, class)."""
    i = 12
    while i < len(data) and data[i] != 0:
        i += 1 + data[i]
    return i + 5


class BadDns:
    """A UDP server on 127.0.0.1 that answers every query with a malformed
    response of one kind:
      "short":   the query's ID and 3 more bytes (truncated header)
      "badsrv":  a well-formed header and question, one SRV answer whose
                 RDLENGTH promises 40 bytes and 4 follow
      "loop":    one answer whose owner name is a compression pointer to
                 itself
      "wrongid": a correct-looking SRV answer carrying another ID
    .server is "127.0.0.1:PORT"; .queries counts what came in."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.server = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.queries = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _reply(self, q):
        qid = q[:2]
        end = _question_end(q)
        question = q[12:end]
        header = struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
        if self.mode == "short":
            return qid + b"\x81\x80\x00"
        if self.mode == "badsrv":
            rr = b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 600, 40) + b"\x00\x00\x00"
            return qid + header + question + rr + b"\x01"
        if self.mode == "loop":
            at = 12 + len(question)
            rr = struct.pack(">H", 0xC000 | at) + struct.pack(">HHIH", 33, 1, 600, 6) + \
                struct.pack(">HHH", 0, 0, 389)
            return qid + header + question + rr
        if self.mode == "wrongid":
            other = struct.pack(">H", (struct.unpack(">H", qid)[0] + 1) & 0xFFFF)
            target = b"\x09localhost\x00"
            rr = b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 600, 6 + len(target)) + \
                struct.pack(">HHH", 0, 0, 389) + target
            return other + header + question + rr
        raise ValueError(self.mode)

    def _run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            if len(data) >= 12:
                self.sock.sendto(self._reply(data), peer)

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()
