"""Shared helpers of routerd's SMTP end-to-end tests (test_smtp_*).

    rd = SmtpLab("smtp-session", routerd="max_recipients = 50")
    rd.mx, rd.sub, rd.subs               ports of the three listeners
    rd.info                              ldapdata.generate()'s dict
    with rd.client("mx") as c:           a raw SMTP client (no hidden logic)
        c.ehlo(); c.cmd("MAIL FROM:<a@b>")   -> Reply(code, enh, lines)
    rd.swaks("--port", str(rd.mx), ...)  -> CompletedProcess
    rd.spool_msgs()                      -> {id: SpoolMsg} (decoded q/ files)
    rd.spool_count()                     number of q/<id> files
    rd.verify()                          `spool_crash verify` (routerd stopped)
    rd.restart_routerd(), rd.kill_routerd()

Everything is real: slapd from the lab with ldapdata, authd and routerd
from the build tree, one shared configuration file, the lab CA for TLS.
routerd drops to user nobody, so the lab directory is made 0755 and the
authd socket 0666 (authd's client_user is nobody as well). Every process
is started through the Lab and stopped by PID.
"""

import hashlib
import os
import re
import socket
import ssl
import subprocess
import time
import zlib
from collections import namedtuple

from dirmxlab import Lab, Slapd, build_dir, free_port, ldapdata
from dirmxlab.ca import lab_ca

from authdtest import Authd, decode_value

PASSWORD = ldapdata.PASSWORD
HOSTNAME = "mx.dirmx.test"

# An enhanced status code (RFC 3463) right after the reply code.
ENH_RE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def routerd_bin():
    path = os.path.join(build_dir(), "routerd", "routerd")
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not built (cmake --build first)" % path)
    return path


def spool_crash_bin():
    return os.path.join(build_dir(), "tests", "spool_crash")


# -- replies -----------------------------------------------------------------


class Reply(namedtuple("Reply", "code enh lines")):
    """One SMTP reply: code (int), enh ("2.1.0" or None), the text lines
    (without code and separator)."""

    @property
    def text(self):
        return "\n".join(self.lines)

    def __str__(self):
        return "%d %s %s" % (self.code, self.enh or "-", " | ".join(self.lines)[:300])


def parse_reply(raw_lines):
    code = int(raw_lines[0][:3])
    texts = [ln[4:] for ln in raw_lines]
    first = texts[-1].split(" ", 1)[0] if texts else ""
    enh = first if ENH_RE.match(first) else None
    return Reply(code, enh, texts)


class SmtpError(Exception):
    pass


class RawSmtp:
    """A plain socket SMTP client: send exactly these bytes, read replies.

    Nothing is hidden: send() writes bytes as given, reply() reads one
    (possibly multi-line) reply. tls() wraps the socket with the lab CA.
    replies (list) keeps every reply read, for "every reply has an
    enhanced code" checks."""

    def __init__(self, port, host="127.0.0.1", timeout=20.0, ca=None,
                 implicit_tls=False, greet=True, source=None):
        self.ca = ca
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.replies = []
        if implicit_tls:
            self.tls()
        self.greeting = self.reply() if greet else None

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

    def tls(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.check_hostname = True
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return self.sock

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply within %.1fs (have %r)" % (timeout, self.buf[:200]))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError("connection closed (have %r)" % self.buf[:200])
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode("utf-8", "replace")

    def reply(self, timeout=None):
        lines = []
        while True:
            ln = self._line(timeout or self.timeout)
            if len(ln) < 3 or not ln[:3].isdigit():
                raise SmtpError("malformed reply line %r" % ln)
            lines.append(ln)
            if len(ln) == 3 or ln[3] == " ":
                break
            if ln[3] != "-":
                raise SmtpError("malformed reply line %r" % ln)
        r = parse_reply(lines)
        self.replies.append(r)
        return r

    def cmd(self, line, timeout=None):
        self.send(line + "\r\n")
        return self.reply(timeout)

    def ehlo(self, name="client.example"):
        r = self.cmd("EHLO " + name)
        if r.code != 250:
            raise SmtpError("EHLO refused: %s" % (r,))
        self.ext = [ln.split(" ")[0].upper() for ln in r.lines[1:]]
        return r

    def starttls(self):
        r = self.cmd("STARTTLS")
        if r.code != 220:
            raise SmtpError("STARTTLS refused: %s" % (r,))
        self.buf = b""
        self.tls()
        return r

    def auth_plain(self, user, password):
        import base64
        tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        return self.cmd("AUTH PLAIN " + tok)

    def data(self, body, timeout=None):
        """DATA, then body (bytes/str, sent as is: the caller adds the
        final CRLF.CRLF), then the final reply. Returns (354 reply, final)."""
        r354 = self.cmd("DATA")
        if r354.code != 354:
            return r354, None
        self.send(body)
        return r354, self.reply(timeout)

    def closed(self, timeout=5.0):
        """True when the server closes the connection within timeout
        (leftover replies are read and kept)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, ssl.SSLError, OSError):
                return True
            if not chunk:
                return True
            self.buf += chunk

    def silent(self, secs):
        """True when nothing at all arrives within secs."""
        self.sock.settimeout(secs)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        self.buf += chunk
        return False


def simple_message(subject="test", extra_headers="", body="Hello.\r\n"):
    return ("From: <sender@example.org>\r\nTo: <rcpt@dirmx.test>\r\n"
            "Subject: %s\r\n%s\r\n%s" % (subject, extra_headers, body))


# -- the spool ---------------------------------------------------------------

# code, status, diag, rhost: the last result's fields (spoolrec.h version
# 2); a version 1 record has none (0 and empty). error is the summary.
SpoolRcpt = namedtuple("SpoolRcpt", "addr hop notify orcpt state attempts error "
                       "code status diag rhost", defaults=(0, "", "", ""))


def _journal_records(spool):
    """(kind, id, payload) of every record of journal/, oldest segment
    first, each read up to its first record that does not verify
    (routerd/spoolfmt.h: "DMXJ", kind, len, 16-octet id, CRC-32 of the
    28 octets before it)."""
    jdir = os.path.join(spool, "journal")
    try:
        names = sorted(n for n in os.listdir(jdir) if n.startswith("j"))
    except FileNotFoundError:
        return
    for name in names:
        try:
            with open(os.path.join(jdir, name), "rb") as f:
                seg = f.read()
        except FileNotFoundError:
            continue  # retired meanwhile: its messages are in q/ now
        off = 0
        while len(seg) - off >= 32:
            h = seg[off:off + 32]
            if h[:4] != b"DMXJ" or zlib.crc32(h[:28]) != int.from_bytes(h[28:32], "big"):
                break
            kind = int.from_bytes(h[4:8], "big")
            n = int.from_bytes(h[8:12], "big")
            if len(seg) - off - 32 < n:
                break
            yield kind, h[12:28].decode("ascii"), seg[off + 32:off + 32 + n]
            off += 32 + n


def spool_view(spool):
    """{id: the message file's bytes} of every message the spool holds:
    the files in q/, and the small messages that the journal alone holds
    (routerd writes no file for them until needed; see spool_recent.c),
    minus those whose removal the journal records."""
    view = {}
    qdir = os.path.join(spool, "q")
    try:
        names = os.listdir(qdir)
    except FileNotFoundError:
        names = []
    for n in names:
        if "." in n:
            continue
        try:
            with open(os.path.join(qdir, n), "rb") as f:
                view[n] = f.read()
        except FileNotFoundError:
            pass  # delivered meanwhile
    for kind, qid, payload in _journal_records(spool):
        if kind == 1 and qid not in view:
            view[qid] = payload
        elif kind == 2:
            view.pop(qid, None)
    return view


class SpoolMsg:
    """A decoded message file (routerd/spool.h, routerd/spoolrec.h): q/<id>
    at path, or its bytes as raw (spool_view())."""

    def __init__(self, path, raw=None):
        if raw is None:
            with open(path, "rb") as f:
                raw = f.read()
        if raw[:4] != b"DMX1":
            raise ValueError("%s: bad magic %r" % (path, raw[:4]))
        data_len = int.from_bytes(raw[8:16], "big")
        env_len = int.from_bytes(raw[16:20], "big")
        if len(raw) != 32 + data_len + env_len:
            raise ValueError("%s: size %d != 32+%d+%d" % (path, len(raw), data_len, env_len))
        self.path = path
        self.data = raw[32:32 + data_len]
        self.env_text = raw[32 + data_len:].decode("ascii")
        self.fields = []
        for line in self.env_text.split("\n"):
            if not line:
                continue
            k, _, v = line.partition("=")
            self.fields.append((k, decode_value(v)))
        f = dict(self.fields)  # the envelope keys are unique
        self.id = f["id"]
        self.client = f["client"]
        self.helo = f["helo"]
        self.auth = f["auth"]
        self.mail_from = f["from"]
        self.size = int(f["size"])
        self.body = f["body"]
        self.smtputf8 = f["smtputf8"] == "1"
        self.envid = f["envid"]
        self.version = int(f["version"])
        self.rcpts = []
        cur = None
        for k, v in self.fields + [("end", None)]:
            if k in ("rcpt", "end") and cur is not None:
                self.rcpts.append(SpoolRcpt(
                    cur["rcpt"], cur["hop"], cur["notify"], cur["orcpt"],
                    cur["state"], int(cur["attempts"]), cur["error"],
                    int(cur.get("code", "0")), cur.get("status", ""),
                    cur.get("diag", ""), cur.get("rhost", "")))
                cur = None
            if k == "rcpt":
                cur = {}
            if cur is not None:
                cur[k] = v

    @property
    def sha256(self):
        return hashlib.sha256(self.data).hexdigest()

    def received_field(self):
        """The first header field (ours), continuation lines included."""
        m = re.match(rb"Received:[^\r]*\r\n(?:[ \t][^\r]*\r\n)*", self.data)
        return m.group(0) if m else None

    def client_data(self):
        """The data as the client sent it: without our Received: field."""
        f = self.received_field()
        return self.data[len(f):] if f else self.data

    def rcpt_hops(self):
        return sorted((r.addr, r.hop) for r in self.rcpts)

    def headers(self):
        head = self.data.split(b"\r\n\r\n", 1)[0]
        return head.decode("utf-8", "replace")

    def received_count(self):
        return len(re.findall(r"(?im)^received:", self.headers()))

    def __repr__(self):
        return "SpoolMsg(%s from=<%s> rcpts=%r auth=%r)" % (self.id, self.mail_from,
                                                            self.rcpt_hops(), self.auth)


# -- the lab -----------------------------------------------------------------


class RouterdProcess:
    """Starting and stopping routerd for a fixture that has .lab, .conf
    (the configuration file) and .mx (the MX listener's port)."""

    routerd = None

    def start_routerd(self, timeout=20.0):
        mark = len(self.log())
        self.routerd = self.lab.spawn("routerd", [routerd_bin(), "-f", "-c", self.conf])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.routerd.poll() is not None:
                raise RuntimeError("routerd exited with %s:\n%s"
                                   % (self.routerd.returncode, self.log()[mark:][-3000:]))
            if "event=routerd_start" in self.log()[mark:]:
                try:
                    with socket.create_connection(("127.0.0.1", self.mx), timeout=2) as s:
                        s.settimeout(5)
                        if s.recv(100).startswith(b"220 "):
                            return mark
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("routerd not ready within %.0fs:\n%s"
                           % (timeout, self.log()[mark:][-3000:]))

    def stop_routerd(self):
        if self.routerd is not None:
            self.lab.stop(self.routerd)
            self.routerd = None

    def kill_routerd(self):
        """kill -9 by PID, then reap."""
        if self.routerd is not None:
            self.lab.stop(self.routerd, sig=9)
            self.routerd = None

    def restart_routerd(self):
        self.stop_routerd()
        return self.start_routerd()

    def sanitizer_report(self):
        """Stop routerd and return what AddressSanitizer, LeakSanitizer or
        UBSan said in its log ("" when nothing: always so in a build
        without sanitizers)."""
        self.stop_routerd()
        log = self.log()
        m = re.search(r"(?s)(==\d+==ERROR: \w+Sanitizer.*|\S+: runtime error: .*)", log)
        return m.group(1)[:6000] if m else ""

    def routerd_alive(self):
        return self.routerd is not None and self.routerd.poll() is None

    def log(self):
        return self.lab.log_text("routerd")


class SmtpLab(RouterdProcess):
    """slapd + authd + routerd with mx, submission and submissions
    listeners on free ports of 127.0.0.1.

    routerd: extra [routerd] lines (limits: max_recipients = 50, ...);
    authd: extra [authd] lines. The [routerd] hostname is HOSTNAME."""

    def __init__(self, name, users=20, routerd="", authd="", mx_extra="",
                 start=True):
        self.lab = Lab(name)
        try:
            os.chmod(self.lab.dir, 0o755)
            self.ldif, self.info = ldapdata.generate(users=users, large_group=users + 2)
            self.slapd = Slapd(self.lab, data=self.ldif)
            self.ca = lab_ca(self.lab)
            self.cert, self.key = self.ca.server_cert(["localhost"], ["127.0.0.1"],
                                                      name="smtp")
            for p in (self.cert, self.key):
                os.chmod(p, 0o644)
            os.chmod(os.path.dirname(self.cert), 0o755)
            self.mx, self.sub, self.subs = free_port(), free_port(), free_port()
            self.spool = os.path.join(self.lab.dir, "authd", "spool")
            routerd_lines = """\
user = nobody
hostname = %(host)s
authd_socket = %%(sock)s
local_domains = dirmx.test, alias.dirmx.test
tls_cert = %(cert)s
tls_key = %(key)s
%(extra)s

[listener mx]
address = 127.0.0.1:%(mx)d
role = mx
%(mx_extra)s

[listener submission]
address = 127.0.0.1:%(sub)d
role = submission

[listener submissions]
address = 127.0.0.1:%(subs)d
role = submissions
""" % {"host": HOSTNAME, "cert": self.cert, "key": self.key, "extra": routerd,
                "mx": self.mx, "sub": self.sub, "subs": self.subs, "mx_extra": mx_extra}
            self.authd = Authd(self.lab, self.slapd, extra="client_user = nobody\n" + authd,
                               routerd=routerd_lines, start=False)
            # The socket path is only known once Authd made its directory.
            with open(self.authd.conf) as f:
                conf = f.read().replace("%(sock)s", self.authd.sock)
            with open(self.authd.conf, "w") as f:
                f.write(conf)
            os.chmod(self.authd.conf, 0o644)
            os.chmod(self.authd.dir, 0o755)
            self.conf = self.authd.conf
            self.routerd = None
            if start:
                self.start_authd()
                self.start_routerd()
        except BaseException:
            self.lab.close()
            raise

    def close(self):
        self.lab.close()

    # -- processes -------------------------------------------------------
    def start_authd(self):
        self.authd.start()
        os.chmod(self.authd.sock, 0o666)

    def stop_authd(self):
        self.authd.stop()

    # -- clients ---------------------------------------------------------
    def port(self, listener):
        return {"mx": self.mx, "submission": self.sub, "submissions": self.subs}[listener]

    def client(self, listener="mx", **kw):
        kw.setdefault("ca", self.ca.cert)
        if listener == "submissions":
            kw.setdefault("implicit_tls", True)
        return RawSmtp(self.port(listener), **kw)

    def login(self, listener="submission", user=None, password=PASSWORD):
        """A client on a submission listener, after EHLO, STARTTLS, EHLO
        and a successful AUTH PLAIN as user (default: user00001)."""
        c = self.client(listener)
        c.ehlo()
        if listener == "submission":
            c.starttls()
            c.ehlo()
        r = c.auth_plain(user or self.user(1)["uid"], password)
        if r.code != 235:
            c.close()
            raise SmtpError("AUTH failed: %s" % (r,))
        return c

    def user(self, i):
        return self.info["users"][i]

    def swaks(self, *args, timeout=60):
        return subprocess.run(["swaks", "--server", "127.0.0.1", "--helo", "swaks.example"]
                              + list(args), capture_output=True, text=True, timeout=timeout)

    # -- the spool -------------------------------------------------------
    def spool_ids(self):
        return sorted(spool_view(self.spool))

    def spool_count(self):
        return len(self.spool_ids())

    def spool_msgs(self):
        return {i: SpoolMsg(os.path.join(self.spool, "q", i), raw)
                for i, raw in spool_view(self.spool).items()}

    def spool_msg(self, qid):
        raw = spool_view(self.spool).get(qid)
        if raw is None:
            raise FileNotFoundError("no message %s in %s" % (qid, self.spool))
        return SpoolMsg(os.path.join(self.spool, "q", qid), raw)

    def verify(self):
        """`spool_crash verify DIR` as routerd's user (routerd must be
        stopped: the spool is locked). Returns {id: sha256}. Its third
        column says whether the envelope's ENVID is the data's SHA-256,
        which only holds for spool_crash's own messages, so it is not
        asserted here; the SHA-256 of the data is."""
        r = subprocess.run([spool_crash_bin(), "verify", self.spool], capture_output=True,
                           text=True, timeout=60, user="nobody", group="nogroup")
        if r.returncode != 0:
            raise RuntimeError("spool_crash verify failed: %s %s" % (r.stdout, r.stderr))
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if parts[0] != "MSG":
                raise RuntimeError("spool_crash verify: %s" % line)
            out[parts[1]] = parts[2]
        return out


QUEUED_RE = re.compile(r"Ok: queued as (\S+)")


def queued_id(reply):
    m = QUEUED_RE.search(reply.text)
    return m.group(1) if m else None


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def assert_enhanced(tc, replies, skip_first=True):
    """Every 2xx/4xx/5xx reply but the greeting and HELO/EHLO answers (RFC
    2034 exempts those) carries an enhanced status code."""
    for r in replies:
        if r.code in (220, 334, 354) or (r.code == 250 and r.enh is None and
                                          (r.lines[0].startswith(HOSTNAME))):
            continue
        tc.assertIsNotNone(r.enh, "reply without enhanced status code: %s" % (r,))
        tc.assertEqual(r.enh[0], str(r.code)[0], "class mismatch: %s" % (r,))
