"""Shared fixture of routerd's delivery tests (test_delivery*.py).

    sink = Sink("mbx-a", "127.0.0.1", port, replies={"x@dirmx.test": "550 5.1.1 no"})
    sink.start(); sink.txns() -> [Txn]; sink.connections; sink.stop()
    dl = DeliveryLab("delivery", records=[...], routerd="retry_min = 1s")
    dl.send("user00001@dirmx.test", ["user00002@dirmx.test"], headers={...})
    dl.queue("list") -> CompletedProcess of `dirmxctl -c CONF queue list`
    dl.queue_ids(), dl.wait_queue_empty()
    parse_dsn(txn.data) -> the DSN's parts, decoded

Sink is a small SMTP server (asyncio, one background thread shared by
every sink of the process): EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT, PIPELINING (commands are read and answered strictly in order).
Replies are configurable per recipient address (a string, or a list
used one per RCPT and then its last element repeated), for MAIL and for
the end of DATA, and the end-of-DATA reply can be delayed. Every
transaction (MAIL FROM up to its final reply, or the connection's end) is
recorded with its envelope, data (dot-unstuffed), times and how it ended,
so a test asserts exactly which sink saw which recipients in how many
transactions.

DeliveryLab: slapd with ldapdata (users' mailHost on the two mailbox
sinks "[127.0.0.1]:PORT_A" and "[127.0.0.1]:PORT_B": user i on A when i is
even, on B when odd), authd, dnsmasq serving the given records (domains
test, net), and routerd with an mx listener that relays for 127.0.0.1
(relay_networks), no smarthost and no routes, so external domains go by
MX through dnsmasq. MX hosts are other loopback addresses (net_addr(n) =
127.X.Y.n with X, Y picked per lab so parallel tests do not collide) on
port 25: routerd connects to port 25 for an MX. Everything is started
through the Lab and stopped by PID.
"""

import asyncio
import email
import email.policy
import os
import random
import re
import smtplib
import socket
import subprocess
import threading
import time

from dirmxlab import Dnsmasq, Lab, Slapd, build_dir, free_port, ldapdata
from dirmxlab.ca import lab_ca

from smtptest import RouterdProcess, spool_view, wait_for

HOSTNAME = "mx.dirmx.test"
PASSWORD = ldapdata.PASSWORD


def bin_path(*parts):
    p = os.path.join(build_dir(), *parts)
    if not os.access(p, os.X_OK):
        raise RuntimeError("%s not built (cmake --build first)" % p)
    return p




# -- the sink ----------------------------------------------------------------

_loop = None
_loop_lock = threading.Lock()


def _sink_loop():
    """The asyncio loop every Sink runs in (a daemon thread)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever, name="sinks", daemon=True)
            t.start()
            _loop = loop
        return _loop


def _run(coro, timeout=10.0):
    return asyncio.run_coroutine_threadsafe(coro, _sink_loop()).result(timeout)


class Txn:
    """One transaction as the sink saw it.

    conn: connection number (1-based, per sink); mail_from; rcpts: the
    recipients accepted (2xx), refused: [(addr, reply)]; data: bytes
    (None when DATA never completed); final: the end-of-DATA reply sent
    (None when none was sent); state: "open", "done" (final reply
    written), "rset", "cut" (connection ended inside the transaction);
    t_mail, t_data (end of data received), t_final, t_end: monotonic."""

    def __init__(self, conn, mail_from):
        self.conn = conn
        self.mail_from = mail_from
        self.mail_line = None   # the MAIL command as sent, parameters included
        self.rcpts = []
        self.refused = []
        self.data = None
        self.final = None
        self.state = "open"
        self.t_mail = time.monotonic()
        self.t_data = self.t_final = self.t_end = None

    def header(self, name):
        if self.data is None:
            return None
        msg = email.message_from_bytes(self.data, policy=email.policy.compat32)
        return msg.get(name)

    def __repr__(self):
        return "Txn(conn=%d from=<%s> rcpts=%r refused=%r state=%s data=%s)" % (
            self.conn, self.mail_from, self.rcpts, self.refused, self.state,
            None if self.data is None else len(self.data))


def _addr(arg):
    """The address inside "<...>" of a MAIL/RCPT argument."""
    m = re.match(r"\s*<([^>]*)>", arg)
    return m.group(1) if m else arg.strip().split(" ")[0]


class Sink:
    """A recording SMTP server on host:port (see the module docstring).

    replies: {address (case-insensitive): reply or [reply, reply, ...]}
    for RCPT; mail_reply: the MAIL reply (default 250); data_reply: the
    end-of-DATA reply; data_delay: seconds before that reply."""

    def __init__(self, name, host, port, replies=None, mail_reply=None,
                 data_reply=None, data_delay=0.0, greeting=None):
        self.name = name
        self.host = host
        self.port = port
        self.replies = {k.lower(): v for k, v in (replies or {}).items()}
        self.mail_reply = mail_reply
        self.data_reply = data_reply
        self.data_delay = data_delay
        self.greeting = greeting
        self.lock = threading.Lock()
        self._txns = []
        self.connections = 0
        self.rcpt_count = {}
        self.server = None
        self._writers = set()

    # -- control, from the test's thread --------------------------------
    def start(self):
        async def go():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            self.server = await asyncio.start_server(self._serve, sock=sock)
        _run(go())
        return self

    def stop(self):
        async def go():
            if self.server is not None:
                self.server.close()
                for w in list(self._writers):
                    w.close()
                self.server = None
        _run(go())

    def set_reply(self, addr, reply):
        with self.lock:
            if reply is None:
                self.replies.pop(addr.lower(), None)
            else:
                self.replies[addr.lower()] = reply

    def txns(self):
        with self.lock:
            return list(self._txns)

    def delivered(self):
        """Transactions whose data arrived in full."""
        return [t for t in self.txns() if t.data is not None]

    def received_rcpts(self):
        """Every recipient of every fully received transaction, sorted."""
        return sorted(r for t in self.delivered() for r in t.rcpts)

    def clear(self):
        with self.lock:
            self._txns = []
            self.connections = 0
            self.rcpt_count = {}

    # -- the server, in the loop ------------------------------------------
    def _rcpt_reply(self, addr):
        with self.lock:
            r = self.replies.get(addr.lower())
            n = self.rcpt_count.get(addr.lower(), 0)
            self.rcpt_count[addr.lower()] = n + 1
        if isinstance(r, list):
            r = r[min(n, len(r) - 1)]
        return r or "250 2.1.5 Ok"

    async def _serve(self, reader, writer):
        with self.lock:
            self.connections += 1
            conn = self.connections
        self._writers.add(writer)
        txn = None
        quit_seen = False

        async def say(line):
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            await say(self.greeting or "220 %s ESMTP sink" % self.name)
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    if verb == "EHLO":
                        await say("250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                  "250-SIZE 100000000\r\n250 ENHANCEDSTATUSCODES"
                                  % self.name)
                    else:
                        await say("250 %s" % self.name)
                elif verb == "MAIL":
                    r = self.mail_reply or "250 2.1.0 Ok"
                    if r.startswith("2"):
                        txn = Txn(conn, _addr(line[10:]))
                        txn.mail_line = line
                        with self.lock:
                            self._txns.append(txn)
                    await say(r)
                elif verb == "RCPT":
                    a = _addr(line[8:])
                    if txn is None:
                        await say("503 5.5.1 MAIL first")
                        continue
                    r = self._rcpt_reply(a)
                    if r.startswith("2"):
                        txn.rcpts.append(a)
                    else:
                        txn.refused.append((a, r))
                    await say(r)
                elif verb == "DATA":
                    if txn is None or not txn.rcpts:
                        await say("554 5.5.1 No valid recipients")
                        continue
                    await say("354 End data with <CR><LF>.<CR><LF>")
                    body = bytearray()
                    while True:
                        dl = await reader.readline()
                        if not dl:
                            raise ConnectionError("EOF in DATA")
                        if dl == b".\r\n":
                            break
                        if dl.startswith(b"."):
                            dl = dl[1:]
                        body += dl
                    txn.data = bytes(body)
                    txn.t_data = time.monotonic()
                    if self.data_delay:
                        await asyncio.sleep(self.data_delay)
                    r = self.data_reply or "250 2.0.0 Ok: queued as %s-%d" % (
                        self.name, len(self._txns))
                    await say(r)
                    txn.final = r
                    txn.t_final = txn.t_end = time.monotonic()
                    txn.state = "done"
                    txn = None
                elif verb == "RSET":
                    if txn is not None:
                        txn.state = "rset"
                        txn.t_end = time.monotonic()
                        txn = None
                    await say("250 2.0.0 Ok")
                elif verb == "NOOP":
                    await say("250 2.0.0 Ok")
                elif verb == "QUIT":
                    quit_seen = True
                    await say("221 2.0.0 Bye")
                    break
                else:
                    await say("502 5.5.2 Error: command not recognized")
        except (ConnectionError, OSError):
            pass
        finally:
            if txn is not None and not quit_seen:
                txn.state = "cut"
                txn.t_end = time.monotonic()
            self._writers.discard(writer)
            try:
                writer.close()
            except Exception:
                pass


# -- DSN parsing ---------------------------------------------------------------


def smtp_transaction(test, s, mail_from, rcpts, tag):
    """On smtplib session s: MAIL, each RCPT, and DATA (a short message
    tagged X-Test-Id: tag) when one RCPT was accepted. Returns {rcpt:
    (code, text)}; asserts (on unittest case test) 250 at MAIL and at the
    end of DATA."""
    test.assertEqual(s.mail(mail_from)[0], 250)
    got = {}
    for r in rcpts:
        code, text = s.rcpt(r)
        got[r] = (code, text.decode())
    if any(c == 250 for c, _ in got.values()):
        msg = ("From: <%s>\r\nTo: undisclosed\r\nSubject: %s\r\nX-Test-Id: %s\r\n"
               "\r\nHello.\r\n" % (mail_from, tag, tag))
        code, text = s.data(msg.encode())
        test.assertEqual(code, 250, text)
    return got


def parse_dsn(data):
    """A DSN's structure: {"msg": the top-level Message, "parts": [its
    parts], "per_message": {field: value}, "per_rcpt": [{field: value}]}."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = msg.get_payload() if msg.is_multipart() else []
    out = {"msg": msg, "parts": parts, "per_message": {}, "per_rcpt": []}
    for p in parts:
        if p.get_content_type() == "message/delivery-status":
            groups = p.get_payload()  # compat32: a list of Messages (field groups)
            if groups:
                out["per_message"] = {k.lower(): v for k, v in groups[0].items()}
                for g in groups[1:]:
                    # Unfolded, and "type;value" written "type; value"
                    # (RFC 3464 allows both).
                    out["per_rcpt"].append({k.lower(): re.sub(r"^([\w-]+);\s*", r"\1; ",
                                                              " ".join(v.split()))
                                            for k, v in g.items()})
    return out


# -- the lab -------------------------------------------------------------------


class DeliveryLab(RouterdProcess):
    """slapd + authd + dnsmasq + routerd + two mailbox sinks (A, B).

    records: dnsmasq records (net_addr() gives this lab's loopback
    addresses); routerd: extra [routerd] lines; users: ldapdata users."""

    def __init__(self, name, records_fn=None, routerd="", users=30, start=True):
        self.lab = Lab(name)
        try:
            os.chmod(self.lab.dir, 0o755)
            self.net = (random.randrange(20, 250), random.randrange(1, 250))
            self.port_a, self.port_b = free_port(), free_port()
            self.ldif, self.info = ldapdata.generate(
                users=users, large_group=users + 2, external_domain="partner.test",
                mailhosts=["[127.0.0.1]:%d" % self.port_a, "[127.0.0.1]:%d" % self.port_b])
            self.sink_a = Sink("mbx-a", "127.0.0.1", self.port_a).start()
            self.sink_b = Sink("mbx-b", "127.0.0.1", self.port_b).start()
            self.sinks = [self.sink_a, self.sink_b]
            self.lab.on_close(self._stop_sinks)
            self.slapd = Slapd(self.lab, data=self.ldif)
            records = records_fn(self) if records_fn else []
            self.dns = Dnsmasq(self.lab, records, ttl=60, domains=("test", "net"))
            self.ca = lab_ca(self.lab)
            self.cert, self.key = self.ca.server_cert(["localhost"], ["127.0.0.1"],
                                                      name="smtp")
            for p in (self.cert, self.key):
                os.chmod(p, 0o644)
            os.chmod(os.path.dirname(self.cert), 0o755)
            d = self.lab.path("rd", "x")
            self.dir = os.path.dirname(d)
            os.chmod(self.dir, 0o755)
            self.sock = os.path.join(self.dir, "authd.sock")
            self.ctl_sock = os.path.join(self.dir, "routerd.sock")
            self.spool = os.path.join(self.dir, "spool")
            self.mx = free_port()
            pw = self.lab.write("rd/bind.pw", self.slapd.svc_pw + "\n", 0o600)
            self.conf = self.lab.write("rd/dirmx.conf", """\
[global]
log_level = debug

[dns]
servers = %(dns)s
timeout = 1s
tries = 2

[authd]
directory = ldap
servers = ldap://localhost:%(ldap)d
base_dn = %(suffix)s
tls = starttls
ca_file = %(ca)s
bind = simple
bind_dn = %(svc_dn)s
bind_password_file = %(pw)s
socket = %(sock)s
client_user = nobody
timeout = 2s

[routerd]
user = nobody
hostname = %(host)s
spool_dir = %(spool)s
authd_socket = %(sock)s
control_socket = %(ctl)s
local_domains = dirmx.test, alias.dirmx.test
relay_networks = 127.0.0.1/32
tls_cert = %(cert)s
tls_key = %(key)s
%(extra)s

[listener mx]
address = 127.0.0.1:%(mx)d
role = mx
""" % {"dns": self.dns.server, "ldap": self.slapd.port, "suffix": self.slapd.suffix,
                "ca": self.slapd.ca.cert, "svc_dn": self.slapd.svc_dn, "pw": pw,
                "sock": self.sock, "host": HOSTNAME, "spool": self.spool,
                "ctl": self.ctl_sock, "cert": self.cert, "key": self.key,
                "extra": routerd, "mx": self.mx})
            self.authd = None
            self.routerd = None
            if start:
                self.start_authd()
                self.start_routerd()
        except BaseException:
            self.lab.close()
            raise

    def net_addr(self, n):
        return "127.%d.%d.%d" % (self.net[0], self.net[1], n)

    def _stop_sinks(self):
        for s in self.sinks:
            try:
                s.stop()
            except Exception:
                pass

    def add_sink(self, sink):
        self.sinks.append(sink)
        return sink.start()

    def close(self):
        self.lab.close()

    # -- processes -------------------------------------------------------
    def start_authd(self, timeout=20.0):
        self.authd = self.lab.spawn("authd", [bin_path("authd", "authd"), "-f", "-c", self.conf])
        if not wait_for(lambda: os.path.exists(self.sock) or self.authd.poll() is not None,
                        timeout):
            raise RuntimeError("authd socket missing:\n%s" % self.lab.log_text("authd")[-3000:])
        if self.authd.poll() is not None:
            raise RuntimeError("authd exited:\n%s" % self.lab.log_text("authd")[-3000:])
        os.chmod(self.sock, 0o666)
        # Ready when it has read the accepted domains: a local recipient
        # is looked up successfully through routerd later; give it a moment.
        time.sleep(0.5)

    # -- clients ---------------------------------------------------------
    def user(self, i):
        return self.info["users"][i]["mail"]

    def send(self, mail_from, rcpts, tag=None, headers=None, body="Hello.\r\n",
             rcpt_options=()):
        """One message through the mx listener; returns the queue ID.
        tag goes into an X-Test-Id header (and the subject); rcpt_options
        (ESMTP parameters such as "NOTIFY=DELAY") go with every RCPT."""
        hdrs = {"From": "<%s>" % (mail_from or "mailer-daemon@elsewhere.test"),
                "To": ", ".join("<%s>" % r for r in rcpts),
                "Subject": "test %s" % (tag or ""),
                "Message-ID": "<%s.%d@test>" % (tag or "m", random.randrange(1 << 30))}
        if tag is not None:
            hdrs["X-Test-Id"] = tag
        hdrs.update(headers or {})
        msg = "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n" + body
        with smtplib.SMTP("127.0.0.1", self.mx, local_hostname="client.test",
                          timeout=30) as s:
            s.ehlo()
            code, resp = s.mail(mail_from)
            if code != 250:
                raise RuntimeError("MAIL: %d %r" % (code, resp))
            for r in rcpts:
                code, resp = s.rcpt(r, list(rcpt_options))
                if code != 250:
                    raise RuntimeError("RCPT %s: %d %r" % (r, code, resp))
            code, resp = s.data(msg.encode())
            if code != 250:
                raise RuntimeError("DATA: %d %r" % (code, resp))
        m = re.search(rb"queued as (\S+)", resp)
        return m.group(1).decode() if m else None

    def queue(self, *args, conf=None, timeout=30):
        return subprocess.run([bin_path("routerd", "dirmxctl"), "-c", conf or self.conf, "queue"]
                              + list(args), capture_output=True, text=True, timeout=timeout)

    def queue_ids(self):
        r = self.queue("list")
        if r.returncode != 0:
            raise RuntimeError("dirmxctl queue list: %d %s" % (r.returncode, r.stderr))
        return re.findall(r"(?m)^(\S+)  age ", r.stdout)

    def wait_queue_empty(self, timeout=30.0, ignore=()):
        return wait_for(lambda: not [i for i in self.queue_ids() if i not in ignore],
                        timeout, 0.2)

    def spool_ids(self):
        return sorted(spool_view(self.spool))

    def events(self, qid=None, event=None):
        """routerd's log lines (for one queue ID and/or one event)."""
        out = []
        for ln in self.log().splitlines():
            if qid is not None and qid not in ln:
                continue
            if event is not None and ("event=%s " % event) not in ln + " ":
                continue
            out.append(ln)
        return out
