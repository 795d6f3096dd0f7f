"""A lookup load through authd while one of two Samba AD DCs hangs or
restarts (issue 15 part 5). Shared by test_samba_failover.py (assertions)
and tests/bench/adfreeze.py (figures over repeats).

    ad = AdPair(lab, users=1200)           # two DCs (the lab's pair cache),
                                           # the users replicated to both
    authd = ad.start_authd("a")            # AD preset, DCs found through SRV
    load = Load(authd.sock, ad.addrs, rate=20)
    load.start(); time.sleep(5)
    victim = ad.dc_of(load.recent_dc())    # the DC authd is using
    out = Outage(victim, "freeze")         # or "restart"
    out.begin(); time.sleep(20); out.end(); time.sleep(20)
    load.stop()
    fig = analyse(load.records, out, ad.uri(victim))

The load is open loop: `rate` LOOKUPs a second on one connection, sent on
a 10 ms tick whatever the answers do, each for an address not asked before
in the run (while there are enough) and with nocache=1, so every lookup
searches the directory.
Each lookup's send and answer times are taken by this process (monotonic),
with the DC that answered (the answer's dc= field).

A frozen DC is SIGSTOPped with its whole process tree (the kernel still
accepts TCP connections; nothing answers); a restarted DC is stopped
(SIGTERM, connections refused) and started again. Outage.close() thaws
whatever is frozen, whatever happened.
"""

import math
import os
import select
import socket
import threading
import time

from authdtest import decode_value, encode_value
from dirmxlab import build_dir
from dirmxlab.samba import SambaDC

SVC = "svc-dirmx"
SVC_PW = "Svc!Passw0rd-1"


def percentile(values, p):
    """Nearest rank."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


class AdPair:
    """Two Samba AD DCs of one domain in the lab's namespace, with a
    service account and `users` mail users (u00000@<domain>...) on both."""

    def __init__(self, lab, users, log=None):
        log = log or (lambda m: None)
        self.lab = lab
        t = time.monotonic()
        # The join comes before any change to the first DC: the pair then
        # comes from the lab's cache.
        self.dc = SambaDC(lab)
        self.dc2 = self.dc.join_second_dc("127.0.0.11")
        log("two DCs up in %.1f s" % (time.monotonic() - t))
        t = time.monotonic()
        dc = self.dc
        self.dom = dc.dns_domain
        ldif = [dc.user_ldif(SVC, SVC_PW)]
        self.addrs = []
        for i in range(users):
            name = "u%05d" % i
            self.addrs.append("%s@%s" % (name, self.dom))
            ldif.append(dc.user_ldif(name, None, mail=self.addrs[-1]))
        dc.add_ldif("".join(ldif))
        self.svc_dn = dc.user_dn(SVC)
        # Both DCs must answer for every user before authd may pick either.
        self.dc2.samba_tool("drs", "replicate", self.dc2.fqdn, dc.fqdn, dc.base_dn,
                            "-U", "Administrator%" + dc.admin_password)
        log("%d users on both DCs in %.1f s" % (users, time.monotonic() - t))

    def uri(self, dc):
        return "ldap://%s:389" % dc.fqdn

    def dc_of(self, uri):
        for d in (self.dc, self.dc2):
            if uri == self.uri(d):
                return d
        raise ValueError("no DC for %r" % uri)

    def other(self, dc):
        return self.dc2 if dc is self.dc else self.dc

    def start_authd(self, name, timeout=None, log_level="info"):
        """authd with the AD preset: DCs from the SRV records on the DCs'
        own DNS (both), a simple bind over StartTLS with the lab CA.
        Returns once bound to both DCs."""
        lab, dc = self.lab, self.dc
        sock = lab.path(name + ".sock")
        pw = lab.write(name + "-svc.pw", SVC_PW + "\n", 0o600)
        lines = ["[global]", "log_level = " + log_level, "",
                 "[dns]", "servers = " + dc.ip, "servers = " + self.dc2.ip,
                 "timeout = 1s", "",
                 "[authd]", "directory = ad", "domain = " + self.dom, "socket = " + sock,
                 "bind = simple", "bind_dn = " + self.svc_dn,
                 "bind_password_file = " + pw, "tls = starttls", "ca_file = " + dc.ca_cert]
        if timeout:
            lines.append("timeout = " + timeout)
        lines += ["", "[routerd]", "local_domains = " + self.dom, ""]
        conf = lab.write(name + ".conf", "\n".join(lines))
        proc = lab.spawn("authd-" + name, dc.netns.exec_argv(
            [os.path.join(build_dir(), "authd", "authd"), "-f", "-c", conf]), env=dc.env())
        a = AuthdProc(lab, name, sock, proc)
        a.wait_log(r"domains event=loaded")
        for d in (dc, self.dc2):
            a.wait_log(r"ldpool event=connected dc=%s" % self.uri(d).replace(".", r"\."))
        return a


class AuthdProc:
    def __init__(self, lab, name, sock, proc):
        self.lab, self.name, self.sock, self.proc = lab, name, sock, proc

    def log(self):
        return self.lab.log_text("authd-" + self.name)

    def wait_log(self, pattern, timeout=30):
        import re
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("authd %s: no %r in its log:\n%s"
                                   % (self.name, pattern, self.log()[-4000:]))
            time.sleep(0.05)

    def stop(self):
        self.lab.stop(self.proc)


class Load:
    """rate uncached LOOKUPs a second (open loop) until stop(). records:
    one dict per lookup: addr, sent, answered (None: no answer), verb, dc."""

    def __init__(self, sock_path, addrs, rate):
        self.path, self.addrs, self.rate = sock_path, addrs, rate
        self.records = []
        self.stop_ev = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)
        self.sock.sendall(b"HELLO 0 version=1 client=failover-load\n")
        self.buf = b""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("authd closed the connection at HELLO")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        if not line.startswith(b"OK 0"):
            raise RuntimeError("authd refused HELLO: %r" % line)
        self.sock.setblocking(False)
        self.t0 = time.monotonic()
        self.thread.start()

    def _send(self, now):
        i = len(self.records)
        # Past the last address the list starts again: nocache=1 still
        # makes every lookup a search.
        addr = self.addrs[i % len(self.addrs)]
        self.records.append({"addr": addr, "sent": now, "answered": None,
                             "verb": None, "dc": None})
        data = ("LOOKUP %d addr=%s context=mx nocache=1\n"
                % (i + 1, encode_value(addr))).encode()
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def _read(self):
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise RuntimeError("authd closed the connection")
                self.buf += chunk
        except BlockingIOError:
            pass
        now = time.monotonic()
        *lines, self.buf = self.buf.split(b"\n")
        for raw in lines:
            parts = raw.decode("ascii").split(" ")
            r = self.records[int(parts[1]) - 1]
            r["answered"], r["verb"] = now, parts[0]
            for p in parts[2:]:
                k, _, v = p.partition("=")
                if k == "dc":
                    r["dc"] = decode_value(v)

    def _run(self):
        period = 1.0 / self.rate
        next_at = time.monotonic()
        try:
            while not self.stop_ev.is_set():
                now = time.monotonic()
                if now >= next_at:
                    self._send(now)
                    next_at += period
                select.select([self.sock], [], [], max(0.0, min(0.01, next_at - now)))
                self._read()
            # The last answers come back (bounded by authd's timeouts).
            deadline = time.monotonic() + self.drain_s
            while time.monotonic() < deadline and any(
                    r["answered"] is None for r in self.records):
                select.select([self.sock], [], [], 0.05)
                self._read()
        except Exception as e:  # reported by stop()
            self.error = e

    def recent_dc(self, seconds=2.0):
        """The DC that answered most of the lookups of the last seconds."""
        since = time.monotonic() - seconds
        dcs = [r["dc"] for r in list(self.records)
               if r["answered"] is not None and r["answered"] >= since and r["dc"]]
        if not dcs:
            raise RuntimeError("no lookup answered in the last %.1f s" % seconds)
        return max(set(dcs), key=dcs.count)

    def stop(self, drain_s=12.0):
        self.drain_s = drain_s
        self.stop_ev.set()
        self.thread.join(drain_s + 10)
        self.sock.close()
        if self.error is not None:
            raise self.error
        return self.records


class Outage:
    """kind "freeze": SIGSTOP the DC's process tree, then SIGCONT.
    kind "restart": stop the DC, then start it (end() returns once it
    listens again). t_begin / t_end: monotonic times of the fault and of
    the DC being able to answer again."""

    def __init__(self, dc, kind):
        if kind not in ("freeze", "restart"):
            raise ValueError(kind)
        self.dc, self.kind = dc, kind
        self.t_begin = self.t_end = None

    def begin(self):
        self.t_begin = time.monotonic()
        if self.kind == "freeze":
            self.dc.freeze()
        else:
            self.dc.stop()

    def end(self):
        if self.kind == "freeze":
            self.dc.thaw()
        else:
            self.dc.start()
        self.t_end = time.monotonic()

    def close(self):
        """Whatever happened: nothing is left frozen."""
        self.dc.thaw()


def _lat_stats(recs):
    lat = [(r["answered"] - r["sent"]) * 1000.0 for r in recs if r["answered"] is not None]
    return {"n": len(recs), "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "max_ms": max(lat) if lat else None,
            "over_100ms": sum(1 for x in lat if x >= 100.0),
            "over_1s": sum(1 for x in lat if x >= 1000.0)}


def analyse(records, outage, victim_uri):
    """The figures of one run. Phases: "before" (answered before the fault),
    "during" (in flight at some time between the fault and the DC's
    return), "after" (sent after the return)."""
    tb, te = outage.t_begin, outage.t_end
    inf = float("inf")
    before = [r for r in records if r["answered"] is not None and r["answered"] < tb]
    during = [r for r in records if r["sent"] < te and (r["answered"] or inf) >= tb]
    after = [r for r in records if r["sent"] >= te]
    failed = [r for r in records if r["verb"] != "OK"]
    back = [r for r in after if r["dc"] == victim_uri]
    tail = [r for r in after if r["sent"] >= te + (records[-1]["sent"] - te) * 2 / 3]
    return {
        "kind": outage.kind,
        "victim": victim_uri,
        "sent": len(records),
        "answered": sum(1 for r in records if r["answered"] is not None),
        "failed": len(failed),
        "failed_verbs": sorted(set(str(r["verb"]) for r in failed)),
        "outage_s": te - tb,
        "before": _lat_stats(before),
        "during": _lat_stats(during),
        "after": _lat_stats(after),
        "during_by_victim": sum(1 for r in during if r["dc"] == victim_uri),
        "during_by_other": sum(1 for r in during if r["dc"] not in (None, victim_uri)),
        # From the DC's return to the first answer it gave again.
        "back_s": (min(r["answered"] for r in back) - te) if back else None,
        # In the last third of "after": the share the returned DC answered.
        "tail_victim_share": (sum(1 for r in tail if r["dc"] == victim_uri) / len(tail))
        if tail else None,
    }


def describe(records, outage):
    """One line per lookup around the fault, for a failure message."""
    out = []
    for i, r in enumerate(records):
        lat = "%.3f" % (r["answered"] - r["sent"]) if r["answered"] else "none"
        out.append("%4d sent=%+.2f lat=%s %s %s" % (
            i + 1, r["sent"] - outage.t_begin, lat, r["verb"], r["dc"] or ""))
    return "\n".join(out)
