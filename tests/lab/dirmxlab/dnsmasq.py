"""A real DNS server for the tests: dnsmasq on 127.0.0.1 at a free port.

    from dirmxlab import Lab, Dnsmasq
    with Lab("dns") as lab:
        dns = Dnsmasq(lab, [
            ("SRV", "_ldap._tcp.example.test", "dc1.example.test", 389, 0, 100),
            ("MX", "example.test", "mx1.example.test", 10),
            ("A", "dc1.example.test", "127.0.0.11"),
            ("AAAA", "dc1.example.test", "::11"),
        ], ttl=600)
        dns.server        # "127.0.0.1:PORT", for dirmxctl dns -s / dns.c
        dns.update([...]) # new table, same port (dnsmasq restarted)
        dns.pause()       # SIGSTOP: queries time out; dns.resume()

Records are tuples:
    ("SRV", name, target, port, priority, weight)   target "." allowed
    ("MX", name, exchange, preference)
    ("A", name, ipv4) and ("AAAA", name, ipv6)
    ("CNAME", alias, target)
    ("FORWARD", domain, "addr#port")  # server=/domain/addr#port
    ("TXT", name, text)  # one string <= 255 octets, no comma or quote

Every answer carries the TTL given (dnsmasq's local-ttl). dnsmasq runs
with --no-resolv and local=/<domain>/ for each domain in `domains`
(default "test"): an unknown name under them is NXDOMAIN, a known name
without the asked type is NODATA, and a name outside them is REFUSED
(no upstream servers). dnsmasq runs in the foreground (-k), is started
through the Lab (log in <lab>/logs/<name>.log) and stopped by PID by
stop(), update() and the Lab's close(). A dnsmasq that does not start or
does not answer a UDP probe within 10 s raises LabError.
"""

import os
import random
import signal
import socket
import struct
import time

from .core import LabError, find_program, free_port, freeze_pids

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
         "AAAA": 28, "SRV": 33}


def dns_query_packet(name, qtype, qid=None):
    """A DNS query (RD set) for name and qtype ("A", "SRV", ... or int)."""
    if qid is None:
        qid = random.randrange(65536)
    if isinstance(qtype, str):
        qtype = TYPES[qtype.upper()]
    wire = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            wire += bytes([len(raw)]) + raw
    wire += b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + \
        struct.pack(">HH", qtype, 1)


def dns_query(host, port, name, qtype, timeout=2.0):
    """Send one UDP query; the raw response bytes, or None on timeout."""
    qid = random.randrange(65536)
    pkt = dns_query_packet(name, qtype, qid)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(pkt, (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if len(data) >= 2 and struct.unpack(">H", data[:2])[0] == qid:
                return data
    return None


class Dnsmasq:
    def __init__(self, lab, records=(), ttl=600, domains=("test",),
                 name="dnsmasq", start=True):
        self.lab = lab
        self.name = name
        self.host = "127.0.0.1"
        self.port = free_port(self.host, udp_too=True)
        self.ttl = ttl
        self.domains = tuple(domains)
        self.records = list(records)
        self.proc = None
        self.conf = lab.path(name, "dnsmasq.conf")
        self.pidfile = lab.path(name, "dnsmasq.pid")
        self.binary = find_program("dnsmasq")
        if start:
            self.start()

    @property
    def server(self):
        return "%s:%d" % (self.host, self.port)

    def _config(self):
        lines = [
            "no-resolv", "no-hosts", "no-poll", "bind-interfaces",
            "listen-address=%s" % self.host, "port=%d" % self.port,
            "local-ttl=%d" % self.ttl, "log-queries",
            # No DHCP, no cache tricks: answer only from this table.
            "cache-size=0",
        ]
        for d in self.domains:
            lines.append("local=/%s/" % d)
        for rec in self.records:
            kind = rec[0].upper()
            if kind == "SRV":
                _, name, target, port, prio, weight = rec
                if target == ".":
                    lines.append("srv-host=%s" % name)
                else:
                    lines.append("srv-host=%s,%s,%d,%d,%d"
                                 % (name, target, port, prio, weight))
            elif kind == "MX":
                _, name, exchange, pref = rec
                lines.append("mx-host=%s,%s,%d" % (name, exchange, pref))
            elif kind in ("A", "AAAA"):
                _, name, addr = rec
                lines.append("host-record=%s,%s,%d" % (name, addr, self.ttl))
            elif kind == "CNAME":
                _, alias, target = rec
                lines.append("cname=%s,%s,%d" % (alias, target, self.ttl))
            elif kind == "TXT":
                # One string of at most 255 octets (a DKIM key of 1024
                # bits fits); no comma or quote in it.
                _, name, text = rec
                lines.append('txt-record=%s,"%s"' % (name, text))
            elif kind == "FORWARD":
                _, domain, server = rec
                lines.append("server=/%s/%s" % (domain, server))
            else:
                raise LabError("dnsmasq: unknown record kind %r" % (rec,))
        return "\n".join(lines) + "\n"

    def start(self):
        if self.proc is not None:
            raise LabError("dnsmasq %s already running" % self.name)
        with open(self.conf, "w") as f:
            f.write(self._config())
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
        argv = [self.binary, "--keep-in-foreground", "--conf-file=" + self.conf,
                "--pid-file=" + self.pidfile, "--log-facility=-"]
        if os.geteuid() == 0:
            # Keep root: the lab dir and pid file belong to root, and the
            # sandbox may not have the "nobody"/"dip" setup dnsmasq wants.
            argv += ["--user=root", "--group=root"]
        self.proc = self.lab.spawn(self.name, argv, pidfile=self.pidfile)
        try:
            self._wait_ready()
        except LabError:
            self.stop()
            raise

    def _wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        probe = "dirmx-probe." + self.domains[0] if self.domains else "probe"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError("dnsmasq exited with status %s:\n%s"
                               % (self.proc.returncode, self.lab.log_text(self.name)))
            if dns_query(self.host, self.port, probe, "A", timeout=0.2) is not None:
                return
            time.sleep(0.05)
        raise LabError("dnsmasq did not answer on %s within %.0fs:\n%s"
                       % (self.server, timeout, self.lab.log_text(self.name)))

    def stop(self):
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None

    def update(self, records=None, ttl=None):
        """Serve a new table (and TTL): dnsmasq rereads its configuration
        only on restart, so restart it on the same port."""
        if records is not None:
            self.records = list(records)
        if ttl is not None:
            self.ttl = ttl
        self.stop()
        self.start()

    def pause(self):
        """SIGSTOP dnsmasq: it keeps its sockets but answers nothing."""
        freeze_pids([self.proc.pid])

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def query(self, name, qtype, timeout=2.0):
        """Raw response bytes of one UDP query (None on timeout)."""
        return dns_query(self.host, self.port, name, qtype, timeout)
