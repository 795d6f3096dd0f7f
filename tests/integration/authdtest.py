"""Shared helpers of the authd end-to-end tests (test_lookup, test_authcheck).

    lab = Lab("lookup")
    ldif, info = ldapdata.generate(users=200)
    slapd = Slapd(lab, data=ldif)
    authd = Authd(lab, slapd, extra="max_expansion = 100")   # started, ready
    r = authd.ctl("lookup", "user00001@dirmx.test")          -> CtlRun
    parse_lookup(r.out)                                      -> LookupOut
    with authd.client() as c:                                # raw protocol
        c.send("LOOKUP", 1, addr="x@dirmx.test", context="mx")
        m = c.recv()                                         -> Msg
        c.ask_many([("LOOKUP", 1, {...}), ...])              -> {id: Msg}
    mark = SlapdLog(slapd); ...; mark.searches(), mark.binds(dn)

Everything runs for real: slapd from the lab, authd and dirmxctl from the
build tree. Processes are started through the Lab, which stops them by PID.
"""

import os
import re
import socket
import subprocess
import time
from collections import namedtuple

from dirmxlab import build_dir, free_port

CtlRun = namedtuple("CtlRun", "rc out err")


def authd_bin():
    return _binary("authd", "authd")


def dirmxctl_bin():
    return _binary("routerd", "dirmxctl")


def _binary(*parts):
    path = os.path.join(build_dir(), *parts)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not built (cmake --build first)" % path)
    return path


# -- the wire format (include/authproto.txt, section 2) ----------------------

def encode_value(value):
    """Percent-encode a value in its one canonical spelling. str is UTF-8
    encoded; bytes are sent as they are (so a test can send %00)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    out = []
    for b in value:
        if 0x21 <= b <= 0x7E and b not in (0x25, 0x3D):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def decode_value(text):
    """The inverse of encode_value(), to str (UTF-8, errors replaced)."""
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(text[i]))
            i += 1
    return out.decode("utf-8", "replace")


class Msg:
    """One answer line: verb, id and the fields in wire order."""

    def __init__(self, line):
        self.line = line
        parts = line.split(" ")
        if len(parts) < 2:
            raise ValueError("malformed answer line %r" % line)
        self.verb = parts[0]
        self.id = int(parts[1])
        self.fields = []
        for p in parts[2:]:
            k, sep, v = p.partition("=")
            if not sep:
                raise ValueError("malformed field %r in %r" % (p, line))
            self.fields.append((k, decode_value(v)))

    def get(self, key, default=None):
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def all(self, key):
        return [v for k, v in self.fields if k == key]

    def keys(self):
        return [k for k, _ in self.fields]

    def dests(self):
        """LOOKUP OK: the (rcpt, hop) records in order."""
        out = []
        for i, (k, v) in enumerate(self.fields):
            if k == "rcpt":
                hop = self.fields[i + 1][1] if i + 1 < len(self.fields) and \
                    self.fields[i + 1][0] == "hop" else None
                out.append((v, hop))
        return out

    def __repr__(self):
        return "Msg(%r)" % (self.line if len(self.line) < 400 else self.line[:400] + "...")


class ProtoClient:
    """A raw authd-protocol client on the UNIX socket: lines in, lines out,
    nothing hidden. recv() returns a Msg, or None at end of file."""

    def __init__(self, path, timeout=15.0, hello=True, name="itest"):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.eof = False
        if hello:
            self.send_line("HELLO 0 version=1 client=%s" % name)
            m = self.recv()
            if m is None or m.verb != "OK" or m.id != 0:
                raise RuntimeError("authd refused HELLO: %r" % (m,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_line(self, line):
        """Send one line as given (str or bytes); LF is added."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.sock.sendall(line + b"\n")

    @staticmethod
    def format(verb, id_, **fields):
        parts = [verb, str(id_)]
        for k, v in fields.items():
            if v is None:
                continue
            parts.append("%s=%s" % (k, encode_value(v)))
        return " ".join(parts)

    def send(self, verb, id_, **fields):
        self.send_line(self.format(verb, id_, **fields))

    def recv_line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from authd within %.1fs" % (timeout or self.timeout))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("ascii")

    def recv(self, timeout=None):
        line = self.recv_line(timeout)
        return None if line is None else Msg(line)

    def ask(self, verb, id_, timeout=None, **fields):
        """Send one request and return its answer (no other request may be
        in flight on this client)."""
        self.send(verb, id_, **fields)
        m = self.recv(timeout)
        if m is None:
            raise RuntimeError("authd closed the connection instead of answering %s %d"
                               % (verb, id_))
        if m.id != id_:
            raise RuntimeError("answer to id %d while waiting for %d: %r" % (m.id, id_, m))
        return m

    def ask_many(self, requests, timeout=None):
        """Send every (verb, id, fields) at once, in one write; return
        {id: Msg} once each has its answer (in whatever order they come)."""
        self.send_line("\n".join(self.format(v, i, **f) for v, i, f in requests))
        want = {i for _, i, _ in requests}
        got = {}
        while want - set(got):
            m = self.recv(timeout)
            if m is None:
                raise RuntimeError("authd closed the connection; answers so far: %r" % got)
            if m.id not in want or m.id in got:
                raise RuntimeError("unexpected answer %r" % m)
            got[m.id] = m
        return got

    def closed_by_peer(self, timeout=5.0):
        """True when the server closes the connection (no further line)."""
        try:
            line = self.recv_line(timeout)
        except TimeoutError:
            return False
        return line is None


# -- dirmxctl output ------------------------------------------------------------

LookupOut = namedtuple("LookupOut", "rc dests cached trace failure dc out")
_DEST = re.compile(r"^\s+(\S+)\s+via (\S+)$")


def parse_lookup(run):
    """dirmxctl lookup's output: dests [(addr, hop)], cached, trace lines,
    failure ("NOTFOUND: reason" / "TEMPFAIL: reason" or None), dc."""
    dests, trace, failure, dc, cached = [], [], None, None, False
    in_dests = False
    for line in run.out.splitlines():
        if line.startswith("  | "):
            trace.append(line[4:])
        elif line.startswith("  answered by "):
            dc = line[len("  answered by "):]
        elif line == "  (from the cache)":
            cached = True
        elif line == "  => deliver to:":
            in_dests = True
        elif in_dests:
            m = _DEST.match(line)
            if m:
                dests.append((m.group(1), m.group(2)))
        elif line.startswith(("NOTFOUND: ", "TEMPFAIL: ", "ERROR: ")):
            failure = line
    return LookupOut(run.rc, dests, cached, trace, failure, dc, run.out + run.err)


# -- slapd's stats log ----------------------------------------------------------

class SlapdLog:
    """A mark in a slapd's stats log (-d stats): what happened after it."""

    def __init__(self, slapd):
        self.slapd = slapd
        self.start = len(self._lines())

    def _lines(self):
        return self.slapd.lab.log_text(self.slapd.name).splitlines()

    def lines(self):
        return self._lines()[self.start:]

    def search_lines(self):
        return [ln for ln in self.lines() if " SRCH base=" in ln]

    def searches(self):
        return len(self.search_lines())

    def filters(self):
        out = []
        for ln in self.search_lines():
            m = re.search(r' filter="(.*)"$', ln)
            if m:
                out.append(m.group(1))
        return out

    def binds(self, dn):
        """BIND requests naming dn (one line "BIND dn=... method=" each)."""
        pat = ('BIND dn="%s" method=' % dn).lower()
        return sum(1 for ln in self.lines() if pat in ln.lower())

    def all_binds(self):
        return [ln for ln in self.lines() if " BIND dn=" in ln and " method=" in ln]


# -- authd ------------------------------------------------------------------------

class Authd:
    """authd -f with a generated configuration against one lab slapd.

    extra: more [authd] lines; routerd: more [routerd] lines. The socket is
    <lab>/<name>/authd.sock unless socket_dir is given. start() waits until
    authd answers and has read the accepted domains from the directory."""

    def __init__(self, lab, slapd, name="authd", extra="", routerd="", start=True,
                 socket_dir=None, log_level="debug"):
        self.lab = lab
        self.slapd = slapd
        self.name = name
        self.dir = os.path.dirname(lab.path(name, "x"))
        self.sock = os.path.join(socket_dir or self.dir, "authd.sock")
        pw = lab.write(os.path.join(name, "bind.pw"), slapd.svc_pw + "\n", 0o600)
        self.conf = lab.write(os.path.join(name, "dirmx.conf"), """\
[global]
log_level = %(log_level)s
state_dir = %(dir)s

# Nothing may leave the machine: a DNS server that does not exist on
# loopback (routerd's deliveries then wait, they never query the world).
[dns]
servers = 127.0.0.1:%(dns_port)d
timeout = 500ms
tries = 1

[authd]
directory = ldap
servers = ldap://localhost:%(port)d
base_dn = %(suffix)s
tls = starttls
ca_file = %(ca)s
bind = simple
bind_dn = %(svc_dn)s
bind_password_file = %(pw)s
socket = %(sock)s
timeout = 2s
%(extra)s

[routerd]
spool_dir = %(dir)s/spool
control_socket = %(dir)s/routerd.sock
%(routerd)s
""" % {"log_level": log_level, "dns_port": free_port(), "port": slapd.port, "suffix": slapd.suffix,
            "ca": slapd.ca.cert, "svc_dn": slapd.svc_dn, "pw": pw, "sock": self.sock,
            "extra": extra, "dir": self.dir, "routerd": routerd})
        self.proc = None
        if start:
            self.start()

    def start(self, timeout=20.0):
        self.proc = self.lab.spawn(self.name, [authd_bin(), "-f", "-c", self.conf])
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("authd exited with %s at start:\n%s"
                                   % (self.proc.returncode, self.log()[-3000:]))
            if os.path.exists(self.sock):
                try:
                    with self.client(timeout=5) as c:
                        # An external domain needs no search, only the
                        # accepted domains read from the directory.
                        last = c.ask("LOOKUP", 1, addr="ready@ready.invalid",
                                     context="mx", nocache="1")
                        if last.verb == "OK":
                            return
                except (OSError, RuntimeError, TimeoutError) as e:
                    last = e
            time.sleep(0.05)
        raise RuntimeError("authd not ready within %.0fs (last: %r):\n%s"
                           % (timeout, last, self.log()[-3000:]))

    def stop(self):
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None

    def log(self):
        return self.lab.log_text(self.name)

    def log_mark(self):
        return len(self.log())

    def log_since(self, mark):
        return self.log()[mark:]

    def client(self, timeout=15.0, hello=True):
        return ProtoClient(self.sock, timeout=timeout, hello=hello)

    def ctl(self, *args, input=None, timeout=60):
        r = subprocess.run([dirmxctl_bin(), "-c", self.conf] + list(args),
                           capture_output=True, text=True, input=input,
                           timeout=timeout, env=dict(os.environ, LDAPCONF="/dev/null"))
        return CtlRun(r.returncode, r.stdout, r.stderr)

    def lookup(self, addr, nocache=False):
        args = ["lookup"] + (["--no-cache"] if nocache else []) + [addr]
        return parse_lookup(self.ctl(*args))

    def stats(self):
        """STATS counters as a dict of ints (raw protocol)."""
        with self.client() as c:
            m = c.ask("STATS", 1)
        if m.verb != "OK":
            raise RuntimeError("STATS failed: %r" % m)
        out = {}
        for i, (k, v) in enumerate(m.fields):
            if k == "counter":
                out[v] = int(m.fields[i + 1][1])
        return out


def describe(run):
    """A CtlRun or LookupOut for an assertion message."""
    if isinstance(run, CtlRun):
        return "exit %d\n--- stdout\n%s\n--- stderr\n%s" % (run.rc, run.out[-3000:],
                                                             run.err[-3000:])
    if isinstance(run, LookupOut):
        return "exit %d\n%s" % (run.rc, run.out[-3000:])
    return repr(run)[:3000]
