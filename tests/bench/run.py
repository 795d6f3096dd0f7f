#!/usr/bin/env python3
"""dirmx vs Postfix: the benchmark of issues 7 and 15 (see README.md).

    python3 tests/bench/run.py [--shapes pipe-r1,pipe-r5,np-fixed,smtp-source,idle,group]
        [--users N] [--messages M] [--concurrency C] [--size S] [--repeat K]
        [--group-messages G] [--idle-sessions N] [--idle-messages M]
        [--mta dirmx,postfix] [--e2e-timeout S] [--smoke] [--build-dir DIR] [--keep]
        [--changes N [--change-rate R] [--change-messages M] [--change-poll-ms P]
         [--change-stale-s S]] [--directory slapd|samba]

One slapd with N generated users is shared by both MTAs, which run side
by side; each load shape (shapes.py) is sent to each MTA and to one
smtp-sink (the no-MTA ceiling) in turn, repeat after repeat, and each MTA
relays to the users' mailHost servers (smtp-sinks). Prints the tables
(report.py) and, as the last line of stdout, one JSON object with every
figure and every run.

--changes N (issue 14): dirmx also runs warm with and without N directory
changes during the load, and measures how long each takes to reach
authd's answers (changes.py); --directory samba measures that on a Samba
AD DC with a lookup load on authd alone (adchanges.py). See README.md.
"""

import argparse
import json
import resource
import os
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "lab"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))  # authdtest

from dirmxlab import Lab, Slapd, ldapdata, free_port  # noqa: E402
from dirmxlab.core import find_program  # noqa: E402
from dirmxlab.dnsmasq import Dnsmasq  # noqa: E402

sys.path.insert(0, HERE)
from changes import Changes, LdapWriter, percentile  # noqa: E402
import milters  # noqa: E402
import report  # noqa: E402
import shapes  # noqa: E402
from idle import raise_nofile  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
NCPU = os.cpu_count() or 1
SINK_ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]  # the 3 mailbox servers
# --changes: the mailbox server the changed users move to (one name each,
# all resolving here through the bench's dnsmasq)
CHANGE_SINK = "127.0.0.14"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# -- /proc sampling ---------------------------------------------------------

def _stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # fields after ')' start at index 3 (state)
    return {"ppid": int(rest[1]), "utime": int(rest[11]), "stime": int(rest[12]),
            "cutime": int(rest[13]), "cstime": int(rest[14])}


def proc_children():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = _stat(int(d))
        if st:
            kids.setdefault(st["ppid"], []).append(int(d))
    return kids


def tree(roots):
    kids = proc_children()
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu(roots):
    """CPU seconds of roots and every descendant, live or reaped by one of
    them (utime+stime+cutime+cstime of each live process in the tree)."""
    total = 0
    for p in tree(roots):
        st = _stat(p)
        if st:
            total += st["utime"] + st["stime"] + st["cutime"] + st["cstime"]
    return total / CLK


def tree_ctxsw(roots):
    """Context switches, voluntary (waits: a socket, a lock, an fsync) and
    involuntary (preempted), of every thread of roots and their
    descendants alive now."""
    vol = invol = 0
    for p in tree(roots):
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/status" % (p, t)) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            vol += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            invol += int(line.split()[1])
            except OSError:
                pass
    return vol, invol


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _own_cpu():
    """CPU seconds of this script and its reaped children (the loadgen)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def system_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])


def settle(max_s=5.0):
    """Before a run: write back what earlier runs left dirty (another MTA's
    queue files, logs) and wait until the machine is quiet (under 15 %
    busy over 0.25 s, at most max_s), so that a run does not pay for the
    one before it: the repeats of a shape are then comparable. Returns the
    seconds waited."""
    t0 = time.monotonic()
    os.sync()
    while time.monotonic() - t0 < max_s:
        b0 = system_busy()
        time.sleep(0.25)
        b1 = system_busy()
        total = b1[1] - b0[1]
        if total > 0 and (b1[0] - b0[0]) / total < 0.15:
            break
    return time.monotonic() - t0


class Sampler:
    """Peak PSS of a process tree, sampled every 100 ms."""

    def __init__(self, roots_fn):
        self.roots_fn = roots_fn
        self.peak_kb = 0
        self.nprocs_max = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def sample(self):
        pids = tree(self.roots_fn())
        kb = sum(pss_kb(p) for p in pids)
        self.peak_kb = max(self.peak_kb, kb)
        self.nprocs_max = max(self.nprocs_max, len(pids))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()
        self.sample()


# -- helpers --------------------------------------------------------------------

def fsync_rate(directory, seconds=2.0):
    """New file, 4 KiB write, fsync file, fsync directory: per second."""
    os.makedirs(directory, exist_ok=True)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    data = b"x" * 4096
    n, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            p = os.path.join(directory, "fsync-%d" % n)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.fsync(dfd)
            n += 1
        el = time.monotonic() - t0
    finally:
        os.close(dfd)
        for i in range(n):
            try:
                os.unlink(os.path.join(directory, "fsync-%d" % i))
            except OSError:
                pass
    return n / el


def port_free_on_all(port):
    for a in ["127.0.0.1"] + SINK_ADDRS + [CHANGE_SINK]:
        with socket.socket() as s:
            try:
                s.bind((a, port))
            except OSError:
                return False
    return True


def sink_port():
    for _ in range(50):
        p = free_port()
        if port_free_on_all(p):
            return p
    raise RuntimeError("no port free on all sink addresses")


class Sinks:
    """One smtp-sink per mailbox server address (and one on 127.0.0.1 for
    the ceiling), with -c counters on stdout."""

    def __init__(self, lab, port, extra=()):
        self.lab, self.port = lab, port
        self.prog = find_program("smtp-sink")
        self.procs = {}
        self.addrs = SINK_ADDRS + list(extra)
        for a in ["127.0.0.1"] + self.addrs:
            name = "smtp-sink-%s" % a
            self.procs[a] = (name, lab.spawn(name, [self.prog, "-c", "-u", "nobody", "-m", "1024",
                                                  "%s:%d" % (a, port), "1024"]))
        deadline = time.monotonic() + 10
        for a in self.procs:
            while True:
                try:
                    socket.create_connection((a, port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("smtp-sink on %s:%d did not start" % (a, port))
                    time.sleep(0.05)

    def messages(self, addrs=None):
        """Transactions received so far (smtp-sink -c counts mesg= at the
        final dot), summed over addrs (default: every mailbox server): the
        last counter of each log."""
        total = 0
        for a in addrs or self.addrs:
            try:
                with open(self.lab.path("logs", self.procs[a][0] + ".log"), "rb") as f:
                    f.seek(0, os.SEEK_END)
                    f.seek(max(0, f.tell() - 256))
                    txt = f.read().decode("ascii", "replace")
            except OSError:
                continue
            i = txt.rfind("mesg=")
            if i >= 0:
                total += int(txt[i + 5:].split()[0].split("\r")[0])
        return total

    def pids(self):
        return [p.pid for _, p in self.procs.values()]


def run_loadgen(loadgen, port, rcpt_file, a, seed, messages, rcpts, timeout=300):
    argv = [loadgen, "-s", "127.0.0.1:%d" % port, "-f", rcpt_file, "-c", str(a.concurrency),
            "-m", str(messages), "-r", str(rcpts), "-S", str(a.size), "-n", str(a.per_conn),
            "-x", str(seed), "-t", "60"]
    if not a.no_pipelining:
        argv.append("-P")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("loadgen failed: %s" % r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_validation(port, known, unknown):
    """RCPT-time validation must be on: known 250, unknown 5xx."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("check.bench.example")
        s.mail("check@bench.example")
        ok = s.rcpt(known)[0]
        bad = s.rcpt(unknown)[0]
        s.rset()
    return {"known": ok, "unknown": bad, "ok": ok == 250 and 500 <= bad < 600}


class LogTail:
    """New text of a growing log file since the last call (or since mark())."""

    def __init__(self, path):
        self.path, self.off = path, 0

    def mark(self):
        try:
            self.off = os.path.getsize(self.path)
        except OSError:
            self.off = 0

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except OSError:
            return ""
        # only whole lines; a partial last line is read next time
        end = data.rfind(b"\n") + 1
        self.off += end
        return data[:end].decode("utf-8", "replace")


def _xrand_draws(seed, messages, rcpts, n_addrs):
    """The recipients loadgen.c sends with seed -x SEED: its xorshift64* and
    its draw (distinct within a message, 20 tries) replayed. The multiset of
    messages does not depend on which session sends which."""
    m64 = (1 << 64) - 1
    rng = (seed * 0x9E3779B97F4A7C15 + 1) & m64
    out = []
    for _ in range(messages):
        idx = []
        for i in range(rcpts):
            for _t in range(20):
                rng ^= rng >> 12
                rng ^= (rng << 25) & m64
                rng ^= rng >> 27
                v = ((rng * 2685821657736338717) & m64) % n_addrs
                if v not in idx:
                    break
            idx.append(v)
        out.append(idx)
    return out


def expected_delivery(files, seed, messages, rcpts, group, per_txn):
    """(transactions, recipients, distinct recipients) the sinks must receive
    when every message is accepted: one transaction per message per next hop
    (mailHost), split into chunks of per_txn recipients (None: no limit)."""
    def chunks(n):
        return 1 if not per_txn else -(-n // per_txn)
    if group:
        per_host = files["group_hosts"]
        return (messages * sum(chunks(n) for n in per_host.values()),
                messages * sum(per_host.values()), 1)
    hosts = files["addr_hosts"]
    txns = nrc = 0
    seen = set()
    for idx in _xrand_draws(seed, messages, rcpts, len(hosts)):
        by = {}
        for i in set(idx):
            by[hosts[i]] = by.get(hosts[i], 0) + 1
        txns += sum(chunks(n) for n in by.values())
        nrc += len(set(idx))
        seen.update(idx)
    return txns, nrc, len(seen)


def wait_delivered(mta, t0, expect_txns, sink0, sinks, timeout):
    """Seconds from t0 until the MTA's queue is empty and the sinks have
    received expect_txns transactions since sink0 (the same test for both
    MTAs), or None on timeout or deferred mail. A queue empty with fewer
    transactions than expected for 3 s also fails the figure."""
    deadline = time.monotonic() + timeout
    empty_since = None
    while time.monotonic() < deadline:
        n, deferred = mta.queue_state()
        got = sinks.messages() - sink0
        if n == 0 and got >= expect_txns:
            return time.monotonic() - t0
        if deferred:
            log("%s: %d deferred message(s); end-to-end figure fails" % (mta.name, deferred))
            return None
        if n == 0:
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since > 3:
                log("%s: queue empty but the sinks have %d of %d transactions"
                    % (mta.name, got, expect_txns))
                return None
        time.sleep(0.02)
    log("%s: end-to-end wait timed out (queue %d, sinks %d of %d)"
        % (mta.name, n, sinks.messages() - sink0, expect_txns))
    return None


# -- the MTAs ---------------------------------------------------------------------

class Dirmx:
    name = "dirmx"

    # one transaction per message per next hop, no recipient limit
    rcpts_per_transaction = None

    def __init__(self, lab, slapd, info, build, sink_port_, dns_server=None, max_sessions=1000):
        self.lab, self.slapd, self.build = lab, slapd, build
        self.port = free_port()
        # default: a dead port, nothing listens there
        self.dns_server = dns_server or "127.0.0.1:%d" % free_port(udp_too=True)
        self.sock = lab.path("dirmx", "authd.sock")
        self.ctl = lab.path("dirmx", "routerd.sock")
        self.spool = lab.path("dirmx", "spool", "x")[:-2]
        pw = lab.write("dirmx/svc.pw", slapd.svc_pw + "\n", 0o600)
        self.conf = lab.write("dirmx/dirmx.conf", """
[global]
log_level = info
[dns]
# a dead loopback port (--changes: the bench's dnsmasq, which knows only
# the changed users' new mailbox servers): the mailHost hops are [IP]:port
# literals, and nothing of the bench may leave the machine
servers = {dns}
timeout = 500ms
tries = 1
[authd]
directory = ldap
servers = ldap://127.0.0.1:{lport}
base_dn = {suffix}
tls = starttls
ca_file = {ca}
bind = simple
bind_dn = {svc}
bind_password_file = {pw}
socket = {sock}
client_user = nobody
[routerd]
user = nobody
hostname = dirmx.bench.example
spool_dir = {spool}
authd_socket = {sock}
control_socket = {ctl}
local_domains = {dom}, {adom}
[listener mx]
address = 127.0.0.1:{port}
role = mx
# the idle shape holds --idle-sessions at once (default 1000)
max_sessions = {maxs}
""".format(maxs=max_sessions, dns=self.dns_server, ctl=self.ctl, lport=slapd.port, suffix=slapd.suffix, ca=slapd.ca.cert, svc=slapd.svc_dn, pw=pw,
           sock=self.sock, spool=self.spool, dom=info["domain"], adom=info["alias_domain"],
           port=self.port))
        os.chmod(os.path.dirname(self.sock), 0o755)
        self.settings = {"authd": "directory=ldap, servers=ldap://127.0.0.1 (StartTLS, simple "
                         "bind as the service account), cache defaults (cache_ttl 1h, "
                         "negative 10m while changes are followed, 5m when not; "
                         "pool_size 2), watch auto (syncrepl on slapd)",
                         "routerd": "mx listener, local_domains=%s,%s, spool fsync on "
                         "(not configurable), log_level=info; delivery to each "
                         "recipient's mailHost ([IP]:port) with routerd's defaults "
                         "(200 messages in delivery, 100 connections, 20 per "
                         "destination, reuse 5 s idle / 100 transactions, outbound "
                         "tls_policy may); [dns] servers = %s; "
                         "control_socket in the temp dir; listener max_sessions "
                         "%d" % (
                             info["domain"], info["alias_domain"],
                             "the bench's dnsmasq (--changes)" if dns_server
                             else "a dead loopback port", max_sessions)}
        self.authd = self.routerd = None

    def start(self):
        self.authd = self.lab.spawn("authd", [os.path.join(self.build, "authd", "authd"),
                                              "-f", "-c", self.conf])
        deadline = time.monotonic() + 15
        while not os.path.exists(self.sock):
            if self.authd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("authd did not start:\n" + self.lab.log_text("authd")[-2000:])
            time.sleep(0.05)
        os.chmod(self.sock, 0o666)
        self.routerd = self.lab.spawn("routerd", [os.path.join(self.build, "routerd", "routerd"),
                                                  "-f", "-c", self.conf])
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.routerd.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("routerd did not start:\n"
                                       + self.lab.log_text("routerd")[-2000:])
                time.sleep(0.05)

    def roots(self):
        return [p.pid for p in (self.authd, self.routerd) if p and p.poll() is None]

    def flush_cache(self):
        r = subprocess.run([os.path.join(self.build, "routerd", "dirmxctl"), "-c", self.conf,
                            "flush", "-S", self.sock], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("dirmxctl flush failed: %s %s" % (r.stdout, r.stderr))

    def queue_state(self):
        """(messages in the spool, deferred so far): q/<id> files, and
        event=deferred lines in routerd's log since the run started."""
        try:
            n = sum(1 for e in os.listdir(os.path.join(self.spool, "q"))
                    if not e.endswith(".state"))
        except OSError:
            n = 0
        self._log_seen += self._tail.read()
        return n, self._log_seen.count("event=deferred")

    def begin_run(self):
        self._tail = LogTail(self.lab.path("logs", "routerd.log"))
        self._tail.mark()
        self._log_seen = ""

    def delivered_rcpts(self):
        """Recipients routerd logged as delivered (2xx) since begin_run()."""
        self._log_seen += self._tail.read()
        return sum(1 for line in self._log_seen.splitlines()
                   if "event=delivery " in line and " verdict=done " in line)

    def stop(self):
        for p in (self.routerd, self.authd):
            if p is not None:
                self.lab.stop(p)


class Postfix:
    name = "postfix"
    # smtp_destination_recipient_limit: its default (50) splits the group
    rcpts_per_transaction = 50

    def __init__(self, lab, slapd, info, sink_port_, process_limit):
        self.lab = lab
        self.dir = lab.path("postfix", "etc", "x")[:-2]
        self.queue = lab.path("postfix", "queue", "x")[:-2]
        self.data = lab.path("postfix", "data", "x")[:-2]
        shutil.chown(self.data, "postfix", "postfix")
        for d in (os.path.dirname(self.dir), lab.dir):
            os.chmod(d, 0o755)
        self.port = free_port()
        self.postfix = find_program("postfix")
        ldap_common = """server_host = ldap://127.0.0.1:{lport}
version = 3
start_tls = yes
tls_ca_cert_file = {ca}
tls_require_cert = yes
bind = yes
bind_dn = {svc}
bind_pw = {pw}
search_base = {suffix}
domain = {dom}, {adom}
""".format(lport=slapd.port, ca=slapd.ca.cert, svc=slapd.svc_dn, pw=slapd.svc_pw,
           suffix=slapd.suffix, dom=info["domain"], adom=info["alias_domain"])
        self.maps = {
            "ldap-recipients.cf": ldap_common
            + "query_filter = (|(mail=%s)(mailLocalAddress=%s))\nresult_attribute = mail\n",
            "ldap-transport.cf": ldap_common
            + "query_filter = (&(mailHost=*)(|(mail=%s)(mailLocalAddress=%s)))\n"
              "result_attribute = mailHost\nresult_format = smtp:%s\n",
            "ldap-groups.cf": ldap_common
            + "query_filter = (&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
              "(mail=%s))\nspecial_result_attribute = member, uniqueMember\n"
              "leaf_result_attribute = mail\n",
        }
        for n, text in self.maps.items():
            p = os.path.join(self.dir, n)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o640)
            shutil.chown(p, "root", "postfix")
        self.settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "myhostname": "postfix.bench.example",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": "%s, %s" % (info["domain"], info["alias_domain"]),
            "relay_recipient_maps": "ldap:%s/ldap-recipients.cf" % self.dir,
            "transport_maps": "ldap:%s/ldap-transport.cf" % self.dir,
            "virtual_alias_maps": "ldap:%s/ldap-groups.cf" % self.dir,
            "virtual_alias_expansion_limit": "5000",
            "default_process_limit": str(process_limit),
            "maillog_file": lab.path("postfix", "maillog"),
            "maillog_file_prefixes": lab.dir,
            "smtp_dns_support_level": "disabled",
        }
        self.settings_why = {
            "compatibility_level": "current defaults, no compatibility warnings",
            "queue_directory": "own instance in the bench's temp dir",
            "data_directory": "own instance in the bench's temp dir",
            "myhostname": "no DNS on the bench machine",
            "mydestination": "no local delivery: a pure relay/MX, as dirmx",
            "inet_interfaces": "loopback only",
            "inet_protocols": "loopback only",
            "alias_maps": "no local delivery",
            "alias_database": "no local delivery",
            "relay_domains": "the directory's accepted domains",
            "relay_recipient_maps": "unknown recipients refused at RCPT (LDAP, same slapd)",
            "transport_maps": "next hop = the user's mailHost (LDAP)",
            "virtual_alias_maps": "distribution groups expanded from LDAP (member -> mail)",
            "virtual_alias_expansion_limit": "the 3,000-member group (default 1000)",
            "default_process_limit": "sensible for 2 cores (default 100)",
            "maillog_file": "logs to a file (no syslog in the bench; dirmx logs to a file too)",
            "maillog_file_prefixes": "allow maillog_file in the temp dir",
            "smtp_dns_support_level": "next hops are IP literals; no DNS on the bench",
        }
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))
        self.master_changes = ["smtpd listens on 127.0.0.1:%d instead of smtp inet" % self.port,
                               "every service chroot=n (the instance lives in a temp dir)",
                               "postlog enabled (for maillog_file)"]
        out = []
        with open("/etc/postfix/master.cf") as f:
            for line in f:
                if line.startswith("#") or line[0].isspace():
                    out.append(line)
                    continue
                w = line.split()
                if len(w) >= 8:
                    if w[0] == "smtp" and w[1] == "inet":
                        w[0] = "127.0.0.1:%d" % self.port
                    w[4] = "n"
                    line = "  ".join(w[:8]) + (" " + " ".join(w[8:]) if len(w) > 8 else "") + "\n"
                out.append(line)
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.writelines(out)
        self.started = False

    def _pf(self, *args, check=True):
        r = subprocess.run([self.postfix, "-c", self.dir] + list(args), capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("postfix %s failed: %s %s\n%s" % (
                " ".join(args), r.stdout, r.stderr, self.maillog()[-2000:]))
        return r

    def maillog(self):
        try:
            with open(self.settings["maillog_file"], errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        self._pf("check", check=False)
        self._pf("start")
        self.started = True
        self.lab.on_close(self.stop)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("postfix did not listen:\n" + self.maillog()[-2000:])
                time.sleep(0.1)

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def roots(self):
        p = self.master_pid()
        return [p] if p else []

    def flush_cache(self):
        pass  # Postfix keeps no LDAP result cache

    def queue_files(self):
        n, deferred = 0, 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
                if sub == "deferred":
                    deferred += len(files)
        return n, deferred

    def queue_state(self):
        return self.queue_files()

    def begin_run(self):
        self._tail = LogTail(self.settings["maillog_file"])
        self._tail.mark()
        self._log_seen = ""

    def delivered_rcpts(self):
        """Recipients Postfix logged as sent (status=sent) since begin_run()."""
        self._log_seen += self._tail.read()
        return self._log_seen.count(" status=sent ")

    def stop(self):
        if self.started:
            self.started = False
            self._pf("stop", check=False)
            pid = self.master_pid()
            deadline = time.monotonic() + 15
            while pid and os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
                time.sleep(0.1)


# -- one measured run ------------------------------------------------------------

def measure(mta, slapd, sinks, loadgen, files, a, seed, messages, rcpts, variant, group=False,
            side=None, gen=None):
    """One run. An MTA (one with queue_state()) is measured end to end: until
    its queue is empty and the sinks have every transaction it owes them.
    side (--changes): started just before the load generator, told when it
    is done, and finished after the end-to-end wait (so that neither
    figure includes it) and before the searches are counted. gen(port):
    another generator than loadgen (smtp-source), returning the figures
    loadgen prints."""
    rcpt_file = files["group"] if group else files["users"]
    delivers = hasattr(mta, "queue_state")
    settled_s = settle()
    if delivers:
        mta.begin_run()
    busy0 = system_busy()
    tb0 = time.monotonic()
    own0 = _own_cpu()
    sinkcpu0 = tree_cpu(sinks.pids())
    load0 = os.getloadavg()[0]
    s0 = slapd.searches_count()
    cpu0 = tree_cpu(mta.roots())
    csw0 = tree_ctxsw(mta.roots())
    slapd_cpu0 = tree_cpu([slapd.proc.pid])
    sink0 = sinks.messages()
    with Sampler(mta.roots) as samp:
        t0 = time.monotonic()
        if side:
            side.start()
        try:
            lg = (gen(mta.port) if gen else
                  run_loadgen(loadgen, mta.port, rcpt_file, a, seed, messages, rcpts))
        finally:
            if side:
                side.loadgen_done()
        e2e = exp_txns = exp_rcpts = None
        if delivers:
            exp_txns, exp_rcpts, exp_distinct = expected_delivery(
                files, seed, messages, rcpts, group, mta.rcpts_per_transaction)
            if exp_distinct != lg["distinct_rcpts"]:
                raise RuntimeError("the replay of loadgen's recipient draw is wrong: %d "
                                   "distinct, loadgen says %d" % (exp_distinct,
                                                                  lg["distinct_rcpts"]))
            if lg["accepted"] != messages:
                exp_txns = exp_rcpts = None  # unknown: the figure fails below
                log("  %s %s: %d of %d accepted; no end-to-end figure"
                    % (mta.name, variant, lg["accepted"], messages))
                wait_delivered(mta, t0, 0, sink0, sinks, timeout=a.e2e_timeout)
            else:
                e2e = wait_delivered(mta, t0, exp_txns, sink0, sinks, timeout=a.e2e_timeout)
        t_end = time.monotonic()
    cpu1 = tree_cpu(mta.roots())
    csw1 = tree_ctxsw(mta.roots())
    slapd_cpu1 = tree_cpu([slapd.proc.pid])
    if side:
        side.finish()
    time.sleep(0.2)
    s1 = slapd.searches_count()
    busy1 = system_busy()
    tb1 = time.monotonic()
    own1 = _own_cpu()
    sinkcpu1 = tree_cpu(sinks.pids())
    acc = lg["accepted"]
    delivered = None
    if delivers:
        # the MTA's own log of recipients handed over with a 2xx (its
        # logger may lag a little behind the queue: not part of the time)
        deadline = time.monotonic() + 10
        while True:
            delivered = mta.delivered_rcpts()
            if (e2e is None or exp_rcpts is None or delivered >= exp_rcpts
                    or time.monotonic() > deadline):
                break
            time.sleep(0.2)
    sink_txns = sinks.messages() - sink0
    all_delivered = (delivers and e2e is not None and exp_rcpts is not None
                     and sink_txns == exp_txns and delivered == exp_rcpts)
    if delivers and not all_delivered:
        log("  warning: %s %s: not everything reached the sinks: e2e %s, sink transactions "
            "%d of %s, recipients delivered %s of %s" % (mta.name, variant, e2e, sink_txns,
                                                         exp_txns, delivered, exp_rcpts))
    mta_cpu = cpu1 - cpu0
    wall_all = t_end - t0
    # CPU used on the machine by anything else than the MTA, slapd, the sinks,
    # the load generator and this script: other people's work.
    others = ((busy1[0] - busy0[0]) / CLK) - mta_cpu - (slapd_cpu1 - slapd_cpu0) \
        - (own1 - own0) - (sinkcpu1 - sinkcpu0)
    r = {
        "mta": mta.name, "variant": variant, "seed": seed, "messages": messages, "rcpts": rcpts,
        "accepted": acc, "rejected": lg["rejected"], "tempfailed": lg["tempfailed"],
        "failed_sessions": lg["failed_sessions"], "first_error": lg["first_error"],
        "accepted_msgs_per_s": lg["msgs_per_s"],
        "e2e_msgs_per_s": (acc / e2e) if (e2e and all_delivered) else None,
        "e2e_s": e2e,
        "expected_sink_transactions": exp_txns,
        "expected_rcpts": exp_rcpts,
        "delivered_rcpts": delivered,
        "all_delivered": all_delivered if delivers else None,
        "dot_p50_ms": lg["dot_ms"]["p50"], "dot_p99_ms": lg["dot_ms"]["p99"],
        "dot_max_ms": lg["dot_ms"]["max"], "envelope_p50_ms": lg["envelope_ms"]["p50"],
        "envelope_p99_ms": lg["envelope_ms"]["p99"],
        "envelope_max_ms": lg["envelope_ms"]["max"],
        "generator": lg.get("generator", "loadgen"),
        "generator_exit_status": lg.get("exit_status", 0),
        "sessions": lg["sessions"], "size": lg["size"], "pipelining": lg["pipelining"],
        "cpu_s_per_1000": mta_cpu / acc * 1000 if acc else None,
        "slapd_cpu_s_per_1000": (slapd_cpu1 - slapd_cpu0) / acc * 1000 if acc else None,
        # threads alive at both ends only: Postfix's short-lived
        # processes are not all counted
        "vol_ctxsw_per_msg": (csw1[0] - csw0[0]) / acc if acc else None,
        "invol_ctxsw_per_msg": (csw1[1] - csw0[1]) / acc if acc else None,
        "peak_pss_mb": samp.peak_kb / 1024.0, "max_procs": samp.nprocs_max,
        "ldap_searches": s1 - s0,
        "ldap_searches_per_msg": (s1 - s0) / messages,
        "distinct_rcpts": lg["distinct_rcpts"],
        "ldap_searches_per_distinct_rcpt": ((s1 - s0) / lg["distinct_rcpts"])
        if lg["distinct_rcpts"] else None,
        "sink_transactions": sink_txns,
        "loadavg_before": load0,
        "loadgen_and_script_cpu_s": own1 - own0,
        "other_cpu_busy_frac": max(0.0, others / ((tb1 - tb0) * NCPU)),
        "wall_s": lg["wall_s"],
        "settle_s": settled_s,
    }
    if r["failed_sessions"] or r["tempfailed"] or r["rejected"]:
        log("  warning: %s %s: %s" % (mta.name, variant, lg["first_error"]))
    return r


# -- directory changes during the load (issue 14) -------------------------------

class SlapdHops:
    """The next hop on OpenLDAP: mailHost, replaced as rootdn over ldapi
    on one bound connection (changes.LdapWriter: the write has returned
    when slapd has answered the ModifyRequest)."""
    attr = "mailHost"

    def __init__(self, slapd):
        self.slapd = slapd
        self.conn = None

    @staticmethod
    def _ldif(dn, hop):
        return "dn: %s\nchangetype: modify\nreplace: mailHost\nmailHost: %s\n-\n" % (dn, hop)

    def set_hop(self, dn, hop):
        if self.conn is None:
            self.conn = LdapWriter(self.slapd.ldapi_path, self.slapd.root_dn,
                                   self.slapd.root_pw)
        self.conn.replace(dn, "mailHost", hop)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def set_hops(self, pairs):
        self.slapd.modify_ldif("\n".join(self._ldif(dn, hop) for dn, hop in pairs))


_ADDR = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+")


def change_messages(a, results):
    """Messages of each --changes run: enough for the load to outlast the
    changes (rate of the last warm 1-recipient run, else 1000/s, + 30 %)."""
    if a.change_messages:
        return a.change_messages
    if a.smoke:
        return 300
    warm = [r["accepted_msgs_per_s"] for r in results
            if r["mta"] == "dirmx" and r["variant"] == "r1-warm"]
    rate = statistics.median(warm) if warm else 1000.0
    n = rate * 1.3 * (a.changes / a.change_rate + 3)
    return max(500, int(round(n, -2)))


def run_changes(mta, slapd, sinks, loadgen, files, a, results):
    """chg-cold (fills the cache), then per repeat chg-steady (warm, no
    change) and chg-changes (the same load, same seed, while a.changes
    users move to a new mailbox server each): 1 recipient per message, so
    that each message owes the sinks one transaction wherever it goes."""
    msgs = change_messages(a, results)
    seed = 5000
    log("changes: %d changes per run at %.0f/s, %d messages per run"
        % (a.changes, a.change_rate, msgs))
    mta.flush_cache()
    runs = [("chg-cold", None)]
    for rep in range(a.repeat):
        runs += [("chg-steady", rep), ("chg-changes", rep)]
    directory = SlapdHops(slapd)
    try:
        for variant, rep in runs:
            side = addrs = None
            if variant == "chg-changes":
                plan, addrs = files["change_plan"](rep)
                side = Changes(directory, mta.sock, plan, rate=a.change_rate,
                               poll_ms=a.change_poll_ms, stale_s=a.change_stale_s)
                side.prepare()
                tail = LogTail(slapd.log_path())
                tail.mark()
                moved0 = sinks.messages([CHANGE_SINK])
            r = measure(mta, slapd, sinks, loadgen, files, a, seed, msgs, 1, variant, side=side)
            r["rep"] = rep
            if side:
                naming = sum(1 for line in tail.read().splitlines() if " SRCH base=" in line
                             and addrs & {x.lower() for x in _ADDR.findall(line)})
                r["changes"] = side.result(naming)
                # messages the load sent to a moved user after its move
                r["changes"]["sink_transactions_at_new_hops"] = \
                    sinks.messages([CHANGE_SINK]) - moved0
                r["ldap_searches_other_per_msg"] = (r["ldap_searches"] - naming) / msgs
            results.append(r)
            c = r.get("changes")
            log("  %-7s %-11s rep %s: %7.1f acc/s  e2e %s  ldap/msg %.4f%s" % (
                mta.name, variant, rep, r["accepted_msgs_per_s"],
                "%.1f/s" % r["e2e_msgs_per_s"] if r["e2e_msgs_per_s"] else "n/a",
                r["ldap_searches_per_msg"],
                "  delay p50 %.0f p99 %.0f max %.0f ms, unseen %d, stale %d, during load %d/%d"
                % (c["delay_p50_ms"] or -1, c["delay_p99_ms"] or -1, c["delay_max_ms"] or -1,
                   c["unseen"], c["stale_after_delay"], c["made_while_load_ran"],
                   c["changes"]) if c else ""))
    finally:
        directory.close()
        # Postfix (next) must route by the original mailHosts.
        directory.set_hops(files["change_restore"])


def changes_summary(results, summary):
    runs = [r for r in results if r["mta"] == "dirmx" and r.get("changes")]
    if not runs:
        return None
    delays = [d for r in runs for d in r["changes"]["delays_ms"]]
    out = {
        "runs": len(runs),
        "changes": sum(r["changes"]["changes"] for r in runs),
        "unseen": sum(r["changes"]["unseen"] for r in runs),
        "made_while_load_ran": sum(r["changes"]["made_while_load_ran"] for r in runs),
        "delay_p50_ms": percentile(delays, 50),
        "delay_p99_ms": percentile(delays, 99),
        "delay_max_ms": max(delays) if delays else None,
        "stale_after_delay": sum(r["changes"]["stale_after_delay"] for r in runs),
        "answers_checked_after_delay": sum(r["changes"]["answers_checked_after_delay"]
                                           for r in runs),
        "tempfail_answers": sum(r["changes"]["tempfail_answers"] for r in runs),
        "sink_transactions_at_new_hops": sum(r["changes"]["sink_transactions_at_new_hops"]
                                             for r in runs),
        "ldap_searches_per_msg": statistics.median(r["ldap_searches_per_msg"] for r in runs),
        "ldap_searches_other_per_msg": statistics.median(r["ldap_searches_other_per_msg"]
                                                         for r in runs),
        "ldap_searches_naming_changed_addrs": [
            r["changes"]["ldap_searches_naming_changed_addrs"] for r in runs],
    }
    d = summary.get("dirmx", {})
    for f in ("accepted_msgs_per_s", "e2e_msgs_per_s"):
        st, ch = (d.get(v, {}).get(f) for v in ("chg-steady", "chg-changes"))
        out[f + "_steady"] = st["median"] if st else None
        out[f + "_changes"] = ch["median"] if ch else None
        out[f + "_changes_over_steady"] = (ch["median"] / st["median"]) if st and ch else None
    p = summary.get("postfix", {}).get("r1-warm", {}).get("ldap_searches_per_msg")
    out["postfix"] = {
        "delay_s": 0, "why": "Postfix keeps no LDAP result cache: every recipient is "
                             "looked up live",
        "ldap_searches_per_rcpt": p["median"] if p else 3,
        "ldap_searches_per_rcpt_measured": bool(p),
        "source": "this run's postfix r1-warm ldap/msg (1 recipient per message)" if p
                  else "issue 14's figure, not measured in this run (--mta without postfix "
                       "or --rcpts without 1)"}
    return out


def print_changes(cs, a):
    print("\nDirectory changes while the load runs (dirmx, issue 14): %d changes in %d "
          "runs at %.0f/s, %d made while the load ran; authd polled every %.0f ms through "
          "its socket (cached LOOKUP)" % (cs["changes"], cs["runs"], a.change_rate,
                                          cs["made_while_load_ran"], a.change_poll_ms))
    f = (lambda v: "%.0f" % v if v is not None else "n/a")
    print("  delay from the write's return to authd's new answer: p50 %s ms, p99 %s ms, "
          "max %s ms; not seen within 30 s: %d" % (f(cs["delay_p50_ms"]),
                                                    f(cs["delay_p99_ms"]),
                                                    f(cs["delay_max_ms"]), cs["unseen"]))
    print("  stale answers after the delay: %d (of %d answers asked for over %.0f s after "
          "each change showed); TEMPFAIL answers: %d; messages routerd delivered to a "
          "moved user's new server: %d" % (cs["stale_after_delay"],
                                           cs["answers_checked_after_delay"],
                                           a.change_stale_s, cs["tempfail_answers"],
                                           cs["sink_transactions_at_new_hops"]))
    print("  LDAP searches per message during the changes (warm): %.4f (median); without "
          "the re-reads of the changed entries (searches naming a changed address: %s): %.4f"
          % (cs["ldap_searches_per_msg"], cs["ldap_searches_naming_changed_addrs"],
             cs["ldap_searches_other_per_msg"]))
    for k, name in (("accepted_msgs_per_s", "accepted"), ("e2e_msgs_per_s", "e2e")):
        if cs[k + "_changes_over_steady"] is not None:
            print("  %s msg/s: %.0f without changes, %.0f with (x%.3f, medians)"
                  % (name, cs[k + "_steady"], cs[k + "_changes"],
                     cs[k + "_changes_over_steady"]))
    p = cs["postfix"]
    print("  Postfix: 0 s delay (no LDAP result cache), %.2f LDAP searches per recipient (%s)"
          % (p["ldap_searches_per_rcpt"], p["source"]))


def start_mta(mta, files):
    mta.start()
    mta.validation = check_validation(mta.port, files["known"], files["unknown"])
    log("%s: validation %s" % (mta.name, mta.validation))
    if not mta.validation["ok"]:
        raise RuntimeError("%s does not validate recipients at RCPT: %s"
                           % (mta.name, mta.validation))


# -- main ---------------------------------------------------------------------------

def restrict_half(slapd, info):
    """Issue 16: every other user gets sender restrictions that refuse no
    message of the load (an unauthOrig naming an entry that never sends,
    a size limit of 1 GB), so authd decides them per message from the
    cached answer: the warm runs then say what restrictions cost in LDAP
    searches (target < 0.1 per message)."""
    refused = "uid=never-sends,%s" % info["people_dn"]
    mods = "".join(
        "dn: %s\nchangetype: modify\nadd: objectClass\nobjectClass: dirmxRecipient\n-\n"
        "add: dirmxUnauthOrig\ndirmxUnauthOrig: %s\n-\n"
        "add: dirmxMaxReceiveSize\ndirmxMaxReceiveSize: 1048576\n-\n\n" % (u["dn"], refused)
        for u in info["users"][::2])
    slapd.modify_ldif(mods)
    log("slapd: restrictions on %d of %d users" % (len(info["users"][::2]),
                                                   len(info["users"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--shapes", default=",".join(shapes.ALL_SHAPES),
                    help="load shapes, comma-separated (pipe-rN for any N); default: all")
    ap.add_argument("--rcpts", default=None,
                    help="recipients per message of the pipe-rN shapes (replaces them)")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--per-conn", type=int, default=1, help="messages per SMTP connection")
    ap.add_argument("--no-pipelining", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--restrict-half", action="store_true",
                    help="issue 16: sender restrictions on every other user (an unauthOrig "
                         "naming no sender, a size limit no message reaches)")
    ap.add_argument("--milter", choices=("noop", "dkim"), default=None,
                    help="both MTAs pass every message through this mail filter "
                         "(issue 18; tests/bench/milters.py)")
    ap.add_argument("--group-messages", type=int, default=10,
                    help="messages to the 3,000-member group per repeat (0: skip)")
    ap.add_argument("--mta", default="dirmx,postfix")
    ap.add_argument("--idle-sessions", type=int, default=10000,
                    help="idle shape: sessions held open against routerd")
    ap.add_argument("--idle-messages", type=int, default=300,
                    help="idle shape: messages of the normal client beside them")
    ap.add_argument("--idle-client-sessions", type=int, default=5,
                    help="idle shape: sessions of the normal client")
    ap.add_argument("--process-limit", type=int, default=40,
                    help="Postfix default_process_limit")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny numbers: 200 users, 50 messages, 1 repeat")
    ap.add_argument("--build-dir", default=os.environ.get("DIRMX_BUILD_DIR",
                                                          os.path.join(SRC, "build")))
    ap.add_argument("--e2e-timeout", type=float, default=300,
                    help="seconds to wait for delivery after the load (per run)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--changes", type=int, default=0,
                    help="dirmx: also runs with N directory changes during the load "
                         "(issue 14; 0: none)")
    ap.add_argument("--change-rate", type=float, default=10.0, help="changes per second")
    ap.add_argument("--change-messages", type=int, default=0,
                    help="messages per changes run (0: enough to outlast the changes)")
    ap.add_argument("--change-poll-ms", type=float, default=20.0,
                    help="authd is asked every this many ms per pending change")
    ap.add_argument("--change-stale-s", type=float, default=2.0,
                    help="seconds of asking again after a change showed")
    ap.add_argument("--directory", choices=("slapd", "samba"), default="slapd",
                    help="samba: only the --changes measurement, on a Samba AD DC, "
                         "with a lookup load on authd (no SMTP, no Postfix)")
    ap.add_argument("--ad-lookup-rate", type=float, default=2000,
                    help="samba: cached LOOKUPs per second of the load on authd")
    ap.add_argument("--samba-prefork-children", type=int, default=0,
                    help="samba: the DC's smb.conf prefork children (0: Samba's default)")
    a = ap.parse_args()
    if a.smoke:
        a.users, a.messages, a.repeat, a.concurrency = 200, 50, 1, 5
        a.group_messages = 2
        a.idle_sessions, a.idle_messages = min(a.idle_sessions, 300), min(a.idle_messages, 30)
        a.e2e_timeout = min(a.e2e_timeout, 15)  # delivers in < 1 s; fail fast
    a.rcpts = [int(x) for x in a.rcpts.split(",")] if a.rcpts else None
    a.shapes = shapes.parse_shapes(a.shapes, a.rcpts, a.group_messages)
    a.rcpts = [shapes.pipe_rcpts(x) for x in a.shapes if x.startswith("pipe-r")]
    max_sessions = max(1000, a.idle_sessions + 2000) if "idle" in a.shapes else 1000
    if "idle" in a.shapes:
        # this process holds the idle sessions; routerd, started later,
        # inherits the limit (as from its systemd unit's LimitNOFILE)
        raise_nofile(shapes.fd_headroom(a.shapes, a.idle_sessions))
    mtas = a.mta.split(",")
    started = time.time()
    if a.directory == "samba":
        if not a.changes:
            raise SystemExit("--directory samba measures --changes only: give --changes N")
        if a.changes * a.repeat > a.users:
            raise SystemExit("--changes x --repeat must be at most --users")
        import adchanges
        with Lab("bench-ad", keep=a.keep) as lab:
            out = adchanges.run(a, lab, a.build_dir, SRC, log)
        out.update({"bench": "dirmx-issue14-ad", "version": 1,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "duration_s": round(time.time() - started, 1),
                    "params": {"users": a.users, "changes": a.changes, "repeat": a.repeat,
                               "change_rate": a.change_rate,
                               "change_poll_ms": a.change_poll_ms,
                               "change_stale_s": a.change_stale_s,
                               "ad_lookup_rate": a.ad_lookup_rate,
                               "samba_prefork_children": a.samba_prefork_children,
                               "ncpu": NCPU}})
        print(json.dumps(out, sort_keys=True))
        return

    with Lab("bench", keep=a.keep) as lab:
        os.chmod(lab.dir, 0o755)
        loadgen = subprocess.run([os.path.join(HERE, "build.sh"), lab.path("bin")],
                                 capture_output=True, text=True, check=True).stdout.strip()
        gsize = min(3000, a.users)
        # mailHost = [IP]:port of a sink: both MTAs relay there, no DNS
        sp = sink_port()
        ldif, info = ldapdata.generate(users=a.users, large_group=gsize,
                                       mailhosts=["[%s]:%d" % (h, sp) for h in SINK_ADDRS])
        log("slapd: %d users, group of %d" % (a.users, info["large_group"]["size"]))
        slapd = Slapd(lab, data=ldif)
        if a.restrict_half:
            restrict_half(slapd, info)
        addrs, addr_hosts = [], []
        for u in info["users"]:
            addrs.append(u["mail"])
            addrs.extend(u["aliases"])
            addr_hosts.extend([u["mailhost"]] * (1 + len(u["aliases"])))
        # the large group's members per mailHost (its users are the first ones)
        if info["large_group"]["contacts"]:
            raise SystemExit("the large group has external contacts: use --users >= 3000 "
                             "or fewer")
        group_hosts = {}
        for u in info["users"][:info["large_group"]["users"]]:
            group_hosts[u["mailhost"]] = group_hosts.get(u["mailhost"], 0) + 1
        files = {"users": lab.write("rcpts-users.txt", "\n".join(addrs) + "\n"),
                 "group": lab.write("rcpts-group.txt", info["large_group"]["mail"] + "\n"),
                 "group_size": info["large_group"]["size"],
                 "addr_hosts": addr_hosts, "group_hosts": group_hosts,
                 "known": info["users"][1]["mail"],
                 # np-fixed and smtp-source: one fixed recipient, a known user
                 "fixed": lab.write("rcpts-fixed.txt", info["users"][1]["mail"] + "\n"),
                 "fixed_host": info["users"][1]["mailhost"],
                 "unknown": "no-such-user-4711@%s" % info["domain"]}
        dns = None
        if a.changes:
            if a.changes * a.repeat > len(info["users"]):
                raise SystemExit("--changes x --repeat must be at most --users")
            # distinct users spread over the directory, one new mailbox
            # server name each, all on the CHANGE_SINK
            step = len(info["users"]) // (a.changes * a.repeat)
            moved = info["users"][::step][:a.changes * a.repeat]

            def hop_name(i):
                return "mbx-moved-%04d.bench.test" % i

            def change_plan(rep, moved=moved):
                us = moved[rep * a.changes:(rep + 1) * a.changes]
                plan = [{"dn": u["dn"], "addr": u["mail"],
                         "new_hop": "[%s]:%d" % (hop_name(rep * a.changes + i), sp)}
                        for i, u in enumerate(us)]
                addrs = {x.lower() for u in us for x in [u["mail"]] + u["aliases"]}
                return plan, addrs
            files["change_plan"] = change_plan
            files["change_restore"] = [(u["dn"], u["mailhost"]) for u in moved]
            dns = Dnsmasq(lab, [("A", hop_name(i), CHANGE_SINK) for i in range(len(moved))],
                          domains=("bench.test",))
        sinks = Sinks(lab, sp, extra=[CHANGE_SINK] if a.changes else ())
        results = []
        objs = {}
        milter_sock = None
        ctx = types.SimpleNamespace(a=a, slapd=slapd, sinks=sinks, loadgen=loadgen, files=files,
                                    measure=measure, log=log, max_sessions=max_sessions,
                                    smtp_source=shapes.find_smtp_source()
                                    if "smtp-source" in a.shapes else None)
        try:
            # both MTAs run side by side (own ports, the same sinks and
            # slapd); the runs take turns (shapes.run_all)
            for name in mtas:
                if name == "dirmx":
                    m = Dirmx(lab, slapd, info, a.build_dir, sp,
                              dns_server=dns.server if dns else None, max_sessions=max_sessions)
                elif name == "postfix":
                    m = Postfix(lab, slapd, info, sp, a.process_limit)
                else:
                    raise SystemExit("unknown MTA %s" % name)
                objs[name] = m
                if a.milter:
                    if milter_sock is None:
                        milter_sock = milters.start(lab, a.milter, "bench.example")
                    milters.plug(m, milter_sock)
                start_mta(m, files)
            shapes.run_all(ctx, [objs[n] for n in mtas], a.shapes, results)
            if a.changes and "dirmx" in objs:
                run_changes(objs["dirmx"], slapd, sinks, loadgen, files, a, results)
        finally:
            for m in objs.values():
                m.stop()
        fsyncs = fsync_rate(lab.path("fsync-test", "x")[:-2])
        mta_results = [r for r in results if r["mta"] in objs]
        summary = report.summarize(results)
        rat = report.ratios(summary)
        ceil = report.ceilings(summary, a.shapes)
        tg = report.targets(summary, rat, ceil, results, restrict_half=a.restrict_half)
        notes = {}
        if "postfix" in objs and "idle" in a.shapes:
            notes[("postfix", "idle")] = shapes.postfix_idle_note(a.process_limit)
        report.print_table(summary, results, notes)
        report.print_runs(results)
        report.print_ceilings(ceil, fsyncs)
        report.print_idle(results)
        report.print_ratios(rat)
        cs = changes_summary(mta_results, summary)
        if cs:
            print_changes(cs, a)
        report.print_targets(tg)
        fastest = max((s["accepted_msgs_per_s"]["median"] for n, m in summary.items()
                       if n != "ceiling" for s in m.values()
                       if s.get("accepted_msgs_per_s")), default=0)
        ceiling = {k: v["ceiling_msgs_per_s"]["median"] for k, v in ceil.items()}
        out = {
            "bench": "dirmx-issue15", "version": 3,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_s": round(time.time() - started, 1),
            "params": {"users": a.users, "messages": a.messages, "concurrency": a.concurrency,
                       "shapes": a.shapes, "rcpts": a.rcpts, "size": a.size,
                       "fixed_size": shapes.FIXED_SIZE, "per_conn": a.per_conn,
                       "idle_sessions": a.idle_sessions, "idle_messages": a.idle_messages,
                       "idle_client_sessions": a.idle_client_sessions,
                       "max_sessions": max_sessions, "process_limit": a.process_limit,
                       "pipelining": not a.no_pipelining, "repeat": a.repeat,
                       "group_messages": a.group_messages, "group_size": files["group_size"],
                       "e2e_timeout_s": a.e2e_timeout, "changes": a.changes,
                       "change_rate": a.change_rate, "change_poll_ms": a.change_poll_ms,
                       "change_stale_s": a.change_stale_s,
                       "smoke": a.smoke, "ncpu": NCPU, "milter": a.milter,
                       "restrict_half": a.restrict_half},
            "ceiling_msgs_per_s": ceiling, "ceilings": ceil,
            "ceiling_over_fastest_mta": (min(ceiling.values()) / fastest)
            if fastest and ceiling else None,
            "targets": tg,
            "idle_postfix": notes.get(("postfix", "idle")),
            "nofile_limit_bench": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            "fsync_per_s": fsyncs,
            "postfix_settings": objs["postfix"].settings if "postfix" in objs else None,
            "postfix_settings_why": objs["postfix"].settings_why if "postfix" in objs else None,
            "postfix_master_cf": objs["postfix"].master_changes if "postfix" in objs else None,
            "postfix_ldap_maps": objs["postfix"].maps if "postfix" in objs else None,
            "dirmx_settings": objs["dirmx"].settings if "dirmx" in objs else None,
            "validation": {n: getattr(m, "validation", None) for n, m in objs.items()},
            "e2e_method": "accepted / seconds from the first connect until the MTA's queue "
                          "is empty and the sinks have received every transaction it owes "
                          "them (one per message per mailHost, split by the MTA's "
                          "recipients-per-transaction limit); null when a message was "
                          "deferred or a transaction or a recipient is missing",
            "all_delivered": all(r.get("all_delivered") for r in mta_results),
            "rcpts_per_transaction": {n: m.rcpts_per_transaction for n, m in objs.items()},
            "summary": summary, "ratios_dirmx_over_postfix": rat,
            "changes": cs,
            "runs": results,
        }
        if "postfix" in objs:
            print("\nPostfix settings changed from default (main.cf):")
            for k, v in objs["postfix"].settings.items():
                print("  %s = %s   # %s" % (k, v, objs["postfix"].settings_why[k]))
            print("  master.cf: " + "; ".join(objs["postfix"].master_changes))
        print(json.dumps(out, sort_keys=True))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
