"""Shared fixture of routerd's mail filter tests (test_milter*.py).

    fm = FakeMilter(lab, "edit")           # a python milter on a free port
    fm = FakeMilter(lab, "edit", unix=path) # ... or on a UNIX socket
    fm.socket -> "inet:127.0.0.1:PORT" / "unix:PATH"; fm.seen -> [dict]
    fm.stop()                               # also at the lab's close

The fake filter speaks milter version 6 well enough for routerd, and
misbehaves on purpose where a real filter cannot be made to:

    "edit"     answers every step, records the macros, header fields and
               body chunks it saw (fm.seen, one dict per message), and at
               end of message acts on the Subject: "reject" -> REPLYCODE
               550 5.7.1, "tempfail" -> 451, "discard", "quarantine",
               "replbody" (new body), "rcpt" (delete the first recipient,
               add another), "from" (change the sender); anything else:
               add X-Fake-Filter, change the Subject (prefix [filtered]);
    "silent"   accepts the connection, never answers anything;
    "closer"   answers until the first body chunk, then closes;
    "garbage"  answers the negotiation with an HTTP response.
    "lean"     asks for less, as real filters do: no HELO step, no answer
               to header fields (NR_HDR), SKIP allowed, and only
               {mail_addr} among the MAIL macros (a macro list in its
               OPTNEG answer); it SKIPs the body after the first chunk and
               at end of message sends PROGRESS, then X-Lean-Filter, then
               CONTINUE.
    "connrej"  refuses every connection: 554 5.7.1 at SMFIC_CONNECT.
    "stall"    answers every step but end of message.

Every mode but "silent" also answers the envelope steps as a test
scripts them: fm.replies[("helo"|"mail"|"rcpt", name or address)],
fm.replies[("data", sender)] or fm.replies[("unknown", VERB)] is the
packet sent instead of CONTINUE
(reply(code_text) makes a REPLYCODE, TEMPFAIL is _packet(b"t")); an
address in fm.die_after_rcpt makes it close the connection right after
answering that RCPT. fm.unknown lists the SMFIC_UNKNOWN lines it saw.

A filter that is not running at all is FakeMilter.down_socket(): a port
where nothing listens.
"""

import os
import random
import re
import socket
import struct
import subprocess
import threading
import time

from dirmxlab import free_port


def _recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _packet(cmd, payload=b""):
    return struct.pack(">I", len(payload) + 1) + cmd + payload


def reply(code_text):
    """A REPLYCODE packet: reply("550 5.7.1 no")."""
    return _packet(b"y", code_text.encode() + b"\0")


def tempfail():
    return _packet(b"t")


def _cstrings(payload):
    return [s.decode("utf-8", "replace") for s in payload.split(b"\0")[:-1]]


class FakeMilter:
    def __init__(self, lab, mode, unix=None):
        self.mode = mode
        self.extra_rcpt = None  # "rcpt": the recipient it adds
        self.replies = {}
        self.die_after_rcpt = set()
        self.unknown = []
        self.seen = []
        self.lock = threading.Lock()
        if unix is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix)
            os.chmod(unix, 0o666)
            self.socket = "unix:" + unix
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            port = free_port()
            self.sock.bind(("127.0.0.1", port))
            self.socket = "inet:127.0.0.1:%d" % port
        self.sock.listen(16)
        self.conns = []
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        lab.on_close(self.stop)

    @staticmethod
    def down_socket():
        return "inet:127.0.0.1:%d" % free_port()

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in list(self.conns):
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(5)

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        msg = {"macros": {}, "headers": [], "chunks": [], "rcpts": [], "steps": []}
        try:
            while True:
                (n,) = struct.unpack(">I", _recv_exact(conn, 4))
                data = _recv_exact(conn, n)
                cmd, payload = data[:1], data[1:]
                msg["steps"].append(cmd.decode())
                if self.mode == "silent":
                    continue
                if cmd == b"O":
                    if self.mode == "garbage":
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                        continue
                    if self.mode == "lean":
                        # NOHELO | NR_HDR | SKIP; MAIL stage (2): one macro
                        conn.sendall(_packet(b"O", struct.pack(">III", 6, 0x1ff,
                                                               0x2 | 0x80 | 0x400)
                                             + struct.pack(">I", 2) + b"{mail_addr}\0"))
                        continue
                    # version 6, every action, every step answered
                    conn.sendall(_packet(b"O", struct.pack(">III", 6, 0x1ff, 0)))
                elif cmd == b"D":
                    vals = _cstrings(payload[1:])
                    for k, v in zip(vals[::2], vals[1::2]):
                        msg["macros"][k] = v
                    # which macros came with which step
                    msg.setdefault("stages", {})[payload[:1].decode()] = vals[::2]
                elif cmd == b"C" and self.mode == "connrej":
                    conn.sendall(reply("554 5.7.1 the fake says go away"))
                elif cmd == b"H":
                    conn.sendall(self.replies.get(("helo", _cstrings(payload)[0]),
                                                  _packet(b"c")))
                elif cmd == b"R":
                    rcpt = _cstrings(payload)[0]
                    msg["rcpts"].append(rcpt)
                    conn.sendall(self.replies.get(("rcpt", rcpt.strip("<>")),
                                                  _packet(b"c")))
                    if rcpt.strip("<>") in self.die_after_rcpt:
                        conn.close()
                        return
                elif cmd == b"M":
                    msg["from"] = _cstrings(payload)[0]
                    msg["rcpts"] = []
                    conn.sendall(self.replies.get(("mail", msg["from"].strip("<>")),
                                                  _packet(b"c")))
                elif cmd == b"T":
                    conn.sendall(self.replies.get(("data", msg.get("from", "").strip("<>")),
                                                  _packet(b"c")))
                elif cmd == b"U":
                    line = _cstrings(payload)[0]
                    with self.lock:
                        self.unknown.append(line)
                    conn.sendall(self.replies.get(("unknown", line.split(" ")[0].upper()),
                                                  _packet(b"c")))
                elif cmd == b"L":
                    msg["headers"].append(tuple(_cstrings(payload)))
                    if self.mode != "lean":
                        conn.sendall(_packet(b"c"))
                elif cmd == b"B":
                    if self.mode == "closer":
                        conn.close()
                        return
                    msg["chunks"].append(len(payload))
                    msg.setdefault("body", b"")
                    msg["body"] += payload
                    conn.sendall(_packet(b"s" if self.mode == "lean" else b"c"))
                elif cmd == b"E":
                    with self.lock:
                        self.seen.append(msg)
                    if self.mode == "stall":
                        continue
                    conn.sendall(self._eom(msg))
                    msg = {"macros": {}, "headers": [], "chunks": [], "rcpts": [],
                           "steps": []}
                elif cmd in (b"Q",):
                    return
                elif cmd in (b"A",):
                    pass
                else:  # C H T N
                    conn.sendall(_packet(b"c"))
        except (EOFError, OSError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _eom(self, msg):
        if self.mode == "lean":
            return (_packet(b"p") + _packet(b"h", b"X-Lean-Filter\0yes\0")
                    + _packet(b"c"))
        subject = dict((k.lower(), v) for k, v in msg["headers"]).get("subject", "")
        if "reject" in subject:
            return _packet(b"y", b"550 5.7.1 fake filter says no\0")
        if "tempfail" in subject:
            return _packet(b"t")
        if "discard" in subject:
            return _packet(b"d")
        if "quarantine" in subject:
            return _packet(b"q", b"fake virus found\0") + _packet(b"a")
        if "replbody" in subject:
            return _packet(b"b", b"The filter's own body.\r\n") + _packet(b"c")
        if "rcpt" in subject and self.extra_rcpt:
            return (_packet(b"-", msg["rcpts"][0].encode() + b"\0")
                    + _packet(b"+", ("<%s>" % self.extra_rcpt).encode() + b"\0")
                    + _packet(b"c"))
        if "from" in subject:
            return _packet(b"e", b"<changed@dirmx.test>\0") + _packet(b"c")
        return (_packet(b"h", b"X-Fake-Filter\0seen by the fake\0")
                + _packet(b"m", b"\0\0\0\x01Subject\0[filtered] " + subject.encode() + b"\0")
                + _packet(b"c"))


# -- real filters ----------------------------------------------------------

def wait_port(port, proc, lab, name, timeout=30.0):
    """Wait until 127.0.0.1:port accepts, or raise with the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited %s:\n%s" % (name, proc.returncode,
                                                       lab.log_text(name)[-3000:]))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s not listening on %d:\n%s" % (name, port,
                                                         lab.log_text(name)[-3000:]))


class DkimKey:
    """A 1024-bit key made by opendkim-genkey (the TXT record fits one
    string of 255 octets): .private (path), .record (the TXT text),
    .name (selector._domainkey.domain)."""

    def __init__(self, lab, domain, selector):
        d = os.path.dirname(lab.path("dkim", "x"))
        subprocess.run(["opendkim-genkey", "-b", "1024", "-d", domain, "-s", selector,
                        "-D", d], check=True, capture_output=True, timeout=60)
        self.private = os.path.join(d, selector + ".private")
        with open(os.path.join(d, selector + ".txt")) as f:
            self.record = "".join(re.findall(r'"([^"]*)"', f.read()))
        self.name = "%s._domainkey.%s" % (selector, domain)
        self.domain, self.selector = domain, selector


class OpenDkim:
    """opendkim signing for domain with key, as a milter on a free port.
    Only hosts in InternalHosts (none here but 192.0.2.1) or clients that
    authenticated (the {auth_type} and {auth_authen} macros) get signed."""

    def __init__(self, lab, key, name="opendkim"):
        self.lab, self.name = lab, name
        self.port = free_port()
        internal = lab.write("%s/internal" % name, "192.0.2.1\n")
        self.pidfile = lab.path(name, "opendkim.pid")
        self.conf = lab.write("%s/opendkim.conf" % name, """\
Syslog no
Mode sv
Socket inet:%d@127.0.0.1
Domain %s
Selector %s
KeyFile %s
Canonicalization relaxed/relaxed
RequireSafeKeys false
InternalHosts %s
PidFile %s
""" % (self.port, key.domain, key.selector, key.private, internal, self.pidfile))
        self.proc = lab.spawn(name, ["opendkim", "-f", "-x", self.conf])
        wait_port(self.port, self.proc, lab, name)
        self.socket = "inet:127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None


def dkim_verify(lab, dns_server, message):
    """OpenDKIM in verify mode (-t: one message from a file), its key from
    the lab's dnsmasq (libunbound forwarding there): (ok, output)."""
    host, port = dns_server.split(":")
    # "test." is one of unbound's default local zones (RFC 6761): undo
    # that, and send its queries to the lab's dnsmasq.
    ub = lab.write("dkimverify/unbound.conf", """\
server:
    do-not-query-localhost: no
    domain-insecure: "test"
    local-zone: "test." nodefault
stub-zone:
    name: "test."
    stub-addr: %s@%s
""" % (host, port))
    conf = lab.write("dkimverify/opendkim.conf", """\
Syslog no
Mode v
ResolverConfiguration %s
""" % ub)
    path = lab.path("dkimverify", "msg-%d.eml" % random.randrange(1 << 30))
    with open(path, "wb") as f:
        f.write(message)
    r = subprocess.run(["opendkim", "-x", conf, "-vv", "-t", path],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    return r.returncode == 0 and "verification" in out and "succeeded" in out, out


class Rspamd:
    """rspamd with only its proxy worker, in milter mode, scanning by
    itself (self_scan); DNS to the lab's dnsmasq; GTUBE rejects. Its start
    takes several seconds (rules, hyperscan): start() then wait()."""

    def __init__(self, lab, dns_server, name="rspamd"):
        self.lab, self.name = lab, name
        self.port = free_port()
        d = os.path.dirname(lab.path(name, "db", "x"))
        self.conf = lab.write("%s/rspamd.conf" % name, """\
options {
  pidfile = "%(dir)s/rspamd.pid";
  dbdir = "%(dir)s/db";
  tempdir = "%(dir)s";
  filters = "";
  dns { nameserver = ["%(dns)s"]; timeout = 0.5s; retransmits = 1; }
}
logging { type = "console"; level = "notice"; }
lua = "/usr/share/rspamd/rules/rspamd.lua";
# The lua plugins load from here; only those configured below run.
modules { path = "/usr/share/rspamd/plugins"; }
actions { reject = 15; add_header = 6; greylist = 4; }
milter_headers {
  use = ["x-spamd-result", "x-rspamd-queue-id", "x-spam-level"];
  authenticated_headers = ["x-spamd-result"];
  skip_local = false;
}
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:%(port)d";
  milter = yes;
  timeout = 60s;
  upstream "local" { default = yes; self_scan = yes; }
  count = 1;
}
""" % {"dir": os.path.dirname(d), "dns": dns_server, "port": self.port})
        self.proc = lab.spawn(name, ["rspamd", "-f", "-c", self.conf, "-u", "root",
                                     "-g", "root"])
        self.socket = "inet:127.0.0.1:%d" % self.port

    def wait(self, timeout=80.0):
        wait_port(self.port, self.proc, self.lab, self.name, timeout)


# The EICAR test string, and a local signature for it: no signature
# database can be downloaded here (only Debian's mirrors are reachable).
EICAR = (r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


class Clamav:
    """clamd with one local signature (Dirmx.Test.EICAR, an .ndb body
    signature of the EICAR string) on a UNIX socket, and one clamav-milter
    per entry of on_infected ("Reject", "Quarantine") on free ports:
    .sockets[action]."""

    def __init__(self, lab, on_infected=("Reject",), name="clamav"):
        self.lab, self.name = lab, name
        db = os.path.dirname(lab.path(name, "db", "x"))
        with open(os.path.join(db, "dirmx-test.ndb"), "w") as f:
            f.write("Dirmx.Test.EICAR:0:*:%s\n"
                    % b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE".hex())
        self.clamd_sock = lab.path(name, "clamd.sock")
        self.clamd_conf = lab.write("%s/clamd.conf" % name, """\
Foreground yes
LocalSocket %s
DatabaseDirectory %s
PidFile %s
LogFile %s
ScanMail yes
""" % (self.clamd_sock, db, lab.path(name, "clamd.pid"), lab.path(name, "clamd.log")))
        self.clamd = lab.spawn("clamd", ["clamd", "-c", self.clamd_conf])
        self.milters = []
        self.sockets = {}
        for action in on_infected:
            port = free_port()
            conf = lab.write("%s/milter-%s.conf" % (name, action), """\
MilterSocket inet:%d@127.0.0.1
Foreground yes
ClamdSocket unix:%s
OnClean Accept
OnInfected %s
OnFail Defer
AddHeader Replace
LogFile %s
LogInfected Full
PidFile %s
TemporaryDirectory %s
""" % (port, self.clamd_sock, action, lab.path(name, "milter-%s.log" % action),
                lab.path(name, "milter-%s.pid" % action), db))
            self.milters.append((port, "clamav-milter-" + action, conf))
            self.sockets[action] = "inet:127.0.0.1:%d" % port

    def wait(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.clamd_sock):
            if self.clamd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("clamd not ready:\n%s"
                                   % self.lab.log_text("clamd")[-3000:])
            time.sleep(0.1)
        # clamav-milter checks clamd when it starts: only now.
        for port, name, conf in self.milters:
            p = self.lab.spawn(name, ["clamav-milter", "-c", conf])
            wait_port(port, p, self.lab, name, timeout)
