"""Directory changes made while the load runs (issue 14): how long until
authd routes by them, and whether an old answer ever comes back.

    ch = Changes(directory, sock, changes, rate=10, poll_ms=20, stale_s=2)
    ch.prepare()        # each address looked up twice: old hop known, cached
    ch.start()          # writer and poller threads
    ...                 # the load runs
    ch.finish()         # waits until every change is seen and checked
    ch.result(changed_addrs_searches)   # the figures (a dict)

changes: a list of {"dn", "addr", "new_hop"}, one per distinct user. The
writer makes them at a steady rate (change i at start + i / rate), each
with one modification of the next-hop attribute (directory.set_hop(dn,
hop), a blocking ldapmodify), and takes the monotonic time just before and
just after the write. The poller holds one connection to authd's socket
(the raw protocol, include/authproto.txt) and, from the write's return,
sends "LOOKUP id addr=ADDR context=mx" (the cache is used, as routerd's
lookups) every poll_ms until the answer's hop is the new one: the delay is
the time from the write's return to the reception of that answer (so it
is late by at most poll_ms plus one round trip). Then it keeps asking
every 100 ms for stale_s and counts every answer that is not the new hop
("stale answers after the delay"). A change not seen within timeout_s is
"unseen" (its delay is not in the percentiles: the count is reported).
"""

import math
import queue
import select
import socket
import threading
import time

# authd's value escaping (include/authproto.txt), as the integration tests
# speak it (run.py puts tests/integration on the path).
from authdtest import decode_value, encode_value

STALE_POLL_S = 0.1


def parse_answer(line):
    """(id, verb, hop of the first recipient or None, cached flag)."""
    parts = line.split(" ")
    verb, id_ = parts[0], int(parts[1])
    hop, cached = None, None
    for p in parts[2:]:
        k, _, v = p.partition("=")
        if k == "hop" and hop is None:
            hop = decode_value(v)
        elif k == "cached":
            cached = v == "1"
    return id_, verb, hop, cached


def percentile(values, p):
    """Nearest rank, as loadgen's percentiles."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


class AuthdClient:
    """One connection to authd: HELLO, then pipelined LOOKUPs."""

    def __init__(self, path, timeout=15.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        self.sock.sendall(b"HELLO 0 version=1 client=bench-changes\n")
        line = self.read_line(timeout)
        if not line or not line.startswith("OK 0 "):
            raise RuntimeError("authd refused HELLO: %r" % line)
        self.sock.setblocking(False)

    def read_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("authd did not answer")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("authd closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("ascii")

    def lookup_line(self, addr):
        i = self.next_id
        self.next_id += 1
        return i, "LOOKUP %d addr=%s context=mx\n" % (i, encode_value(addr))

    def send(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data.encode("ascii"))
        finally:
            self.sock.setblocking(False)

    def lines(self):
        """Whole lines readable now (non-blocking)."""
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("authd closed the connection")
                self.buf += chunk
        except BlockingIOError:
            pass
        *done, self.buf = self.buf.split(b"\n")
        return [ln.decode("ascii") for ln in done]

    def ask_all(self, addrs, timeout=30.0):
        """Each address once, pipelined: {addr: (verb, hop, cached)}."""
        want = {}
        out = []
        for a in addrs:
            i, line = self.lookup_line(a)
            want[i] = a
            out.append(line)
        self.send("".join(out))
        got = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(want):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("authd answered %d of %d lookups" % (len(got), len(want)))
            select.select([self.sock], [], [], left)
            for line in self.lines():
                i, verb, hop, cached = parse_answer(line)
                got[want[i]] = (verb, hop, cached)
        return got

    def close(self):
        self.sock.close()


def _ber(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + body


def _ber_int(tag, v):
    return _ber(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def _ber_str(v, tag=0x04):
    return _ber(tag, v.encode("utf-8"))


class LdapWriter:
    """One bound LDAP connection over a UNIX socket (slapd's ldapi) that
    replaces one attribute's value per call: a simple bind, then one
    ModifyRequest per change, each answered before the next (RFC 4511).
    Written by hand (30 lines of BER) because the bench's Python has no
    LDAP module, and a process per change (ldapmodify) costs the shared
    cores more CPU than the load's own lookups: the writes should not
    compete with dirmx for the CPU more than an administrator's would."""

    def __init__(self, path, dn, password):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf, self.msgid = b"", 0
        self._call(0x60, _ber_int(0x02, 3) + _ber_str(dn) + _ber_str(password, 0x80), 0x61)

    def _call(self, op, body, want):
        self.msgid += 1
        self.sock.sendall(_ber(0x30, _ber_int(0x02, self.msgid) + _ber(op, body)))
        msg = self._read_message()
        # LDAPMessage: messageID, then the response: [APPLICATION n] { resultCode ... }
        i = 2 + (msg[1] & 0x7F if msg[1] & 0x80 else 0)
        i += 2 + msg[i + 1]  # messageID
        if msg[i] != want:
            raise RuntimeError("LDAP: unexpected answer tag 0x%02x" % msg[i])
        i += 2 + (msg[i + 1] & 0x7F if msg[i + 1] & 0x80 else 0)
        code = msg[i + 2]  # ENUMERATED resultCode, one byte
        if msg[i] != 0x0A or code != 0:
            raise RuntimeError("LDAP: result code %d" % code)

    def _read_message(self):
        while True:
            if len(self.buf) >= 2:
                n, hl = self.buf[1], 2
                if n & 0x80:
                    k = n & 0x7F
                    if len(self.buf) >= 2 + k:
                        n, hl = int.from_bytes(self.buf[2:2 + k], "big"), 2 + k
                    else:
                        n = None
                if n is not None and len(self.buf) >= hl + n:
                    msg, self.buf = self.buf[:hl + n], self.buf[hl + n:]
                    return msg
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("LDAP: the server closed the connection")
            self.buf += chunk

    def replace(self, dn, attr, value):
        change = _ber(0x30, _ber_int(0x0A, 2) + _ber(0x30, _ber_str(attr)
                                                      + _ber(0x31, _ber_str(value))))
        self._call(0x66, _ber_str(dn) + _ber(0x30, change), 0x67)

    def close(self):
        self.sock.close()


class Changes:
    def __init__(self, directory, sock, changes, rate=10.0, poll_ms=20, stale_s=2.0,
                 timeout_s=30.0):
        self.dir, self.sock_path = directory, sock
        self.changes = [dict(c) for c in changes]
        self.rate, self.poll_s, self.stale_s = rate, poll_ms / 1000.0, stale_s
        self.timeout_s = timeout_s
        self.q = queue.Queue()
        self.writer_done = threading.Event()
        self.errors = []
        self.load_end = None
        self._threads = []

    # -- before the run ---------------------------------------------------------
    def prepare(self):
        """The old hop of every address, and its answer cached (asked twice:
        the second answer must say cached=1)."""
        c = AuthdClient(self.sock_path)
        try:
            addrs = [ch["addr"] for ch in self.changes]
            first = c.ask_all(addrs)
            second = c.ask_all(addrs)
        finally:
            c.close()
        self.warm_before = 0
        for ch in self.changes:
            verb, hop, cached = second[ch["addr"]]
            if verb != "OK" or first[ch["addr"]][0] != "OK":
                raise RuntimeError("changes: %s is not deliverable before its change: %s"
                                   % (ch["addr"], second[ch["addr"]]))
            if hop == ch["new_hop"]:
                raise RuntimeError("changes: %s already has hop %s" % (ch["addr"], hop))
            ch["old_hop"] = hop
            self.warm_before += 1 if cached else 0

    # -- during the run -----------------------------------------------------------
    def start(self):
        self.client = AuthdClient(self.sock_path)
        self.t_start = time.monotonic()
        for fn in (self._write, self._poll):
            t = threading.Thread(target=self._guard, args=(fn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _guard(self, fn):
        try:
            fn()
        except Exception as e:  # reported by finish(): the run fails loudly
            self.errors.append("%s: %r" % (fn.__name__, e))
            self.writer_done.set()

    def _write(self):
        for i, ch in enumerate(self.changes):
            due = self.t_start + i / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            ch["t_before"] = time.monotonic()
            self.dir.set_hop(ch["dn"], ch["new_hop"])
            ch["t_after"] = time.monotonic()
            self.q.put(ch)
        self.writer_done.set()

    def _poll(self):
        c = self.client
        active, inflight = [], {}
        while True:
            now = time.monotonic()
            while True:
                try:
                    ch = self.q.get_nowait()
                except queue.Empty:
                    break
                ch.update(next_poll=now, polls=0, inflight=False, seen=None,
                          stale=0, checked=0, other=0, tempfail=0, done=False)
                active.append(ch)
            out = []
            for ch in active:
                if not ch["inflight"] and ch["next_poll"] <= now:
                    i, line = c.lookup_line(ch["addr"])
                    inflight[i] = ch
                    ch["inflight"], ch["sent"] = True, now
                    ch["polls"] += 1
                    out.append(line)
            if out:
                c.send("".join(out))
            if not active and self.writer_done.is_set() and self.q.empty():
                return
            waits = [ch["next_poll"] - now for ch in active if not ch["inflight"]]
            timeout = min([0.01] + [max(0.0, w) for w in waits])
            r, _, _ = select.select([c.sock], [], [], timeout)
            if not r:
                continue
            for line in c.lines():
                t = time.monotonic()
                i, verb, hop, _cached = parse_answer(line)
                ch = inflight.pop(i)
                ch["inflight"] = False
                self._answer(ch, t, verb, hop)
            active = [ch for ch in active if not ch["done"]]

    def _answer(self, ch, t, verb, hop):
        new = verb == "OK" and hop == ch["new_hop"]
        if verb == "TEMPFAIL":
            ch["tempfail"] += 1
        if ch["seen"] is None:
            if new:
                ch["seen"] = t
                ch["next_poll"] = t + STALE_POLL_S
            elif t - ch["t_after"] > self.timeout_s:
                ch["done"] = True
            else:
                if not (verb == "OK" and hop == ch["old_hop"]) and verb != "TEMPFAIL":
                    ch["other"] += 1
                ch["next_poll"] = ch["sent"] + self.poll_s
            return
        ch["checked"] += 1
        if not new and verb != "TEMPFAIL":
            ch["stale"] += 1
        if t - ch["seen"] >= self.stale_s:
            ch["done"] = True
        else:
            ch["next_poll"] = t + STALE_POLL_S

    def loadgen_done(self):
        self.load_end = time.monotonic()

    def finish(self):
        limit = len(self.changes) / self.rate + self.timeout_s + self.stale_s + 30
        for t in self._threads:
            t.join(max(0.0, self.t_start + limit - time.monotonic()))
        self.client.close()
        if self.errors:
            raise RuntimeError("changes failed: %s" % "; ".join(self.errors))
        if any(t.is_alive() for t in self._threads):
            raise RuntimeError("changes: the poller did not finish")

    # -- the figures --------------------------------------------------------------
    def result(self, searches=None):
        """searches: LDAP searches during the run that name a changed
        address (the re-reads the changes cause), if known."""
        chs = self.changes
        seen = [c for c in chs if c.get("seen") is not None]
        after = [1000.0 * (c["seen"] - c["t_after"]) for c in seen]
        before = [1000.0 * (c["seen"] - c["t_before"]) for c in seen]
        write = [1000.0 * (c["t_after"] - c["t_before"]) for c in chs if "t_after" in c]
        span = (chs[-1]["t_after"] - chs[0]["t_before"]) if len(chs) > 1 else None
        during = sum(1 for c in chs if self.load_end is None or c["t_after"] <= self.load_end)
        r = {
            "changes": len(chs),
            "rate_asked_per_s": self.rate,
            "rate_made_per_s": (len(chs) - 1) / span if span else None,
            "made_while_load_ran": during,
            "poll_interval_ms": self.poll_s * 1000.0,
            "stale_window_s": self.stale_s,
            "warm_before": self.warm_before,
            "seen": len(seen),
            "unseen": len(chs) - len(seen),
            "delay_p50_ms": percentile(after, 50),
            "delay_p99_ms": percentile(after, 99),
            "delay_max_ms": max(after) if after else None,
            "delay_from_before_p50_ms": percentile(before, 50),
            "delay_from_before_p99_ms": percentile(before, 99),
            "write_p50_ms": percentile(write, 50),
            "write_max_ms": max(write) if write else None,
            "stale_after_delay": sum(c.get("stale", 0) for c in chs),
            "answers_checked_after_delay": sum(c.get("checked", 0) for c in chs),
            "other_answers_before": sum(c.get("other", 0) for c in chs),
            "tempfail_answers": sum(c.get("tempfail", 0) for c in chs),
            "polls": sum(c.get("polls", 0) for c in chs),
            "delays_ms": [round(x, 1) for x in after],
        }
        if searches is not None:
            r["ldap_searches_naming_changed_addrs"] = searches
        return r
