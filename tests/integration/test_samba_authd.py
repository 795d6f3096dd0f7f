"""authd against a real Active Directory domain: two Samba DCs in a network
namespace (dirmxlab.samba), authd running inside that namespace with the
DCs' own DNS as its resolver.

One class, so the domain (and the second DC) is set up once; the lab caches
the provisioned pair between runs. The directory content is added in one
batch in setUpClass and replicated to the second DC before any test runs.

What is proved (numbers follow the issues' items):
  1. discovery: with only `domain =`, authd finds both DCs through the
     DCs' SRV records, the LDAP ping (CLDAP over UDP, decoded from the real
     DC's Netlogon answer) teaches it the client site, discovery switches
     to the site's SRV name, and `dirmxctl dc` lists both DCs with a site;
  2. binds: GSSAPI with a keytab exported for a service account created
     here, on plain 389 (Kerberos sign/seal), with no password anywhere in
     the configuration; a simple bind without TLS is refused by authd's
     own configuration check, and with allow_plaintext_bind by AD itself
     ("Strong(er) authentication required"); the simple bind works over
     StartTLS and LDAPS with the lab CA;
  3. failover: lookups every 100 ms keep being answered (by the other DC)
     while the DC authd uses is frozen with SIGSTOP; nothing NOTFOUND, no
     TEMPFAIL beyond what was in flight at the freeze; `dirmxctl dc` shows
     the frozen DC down with an error; after thawing, the DC takes the
     traffic back;
     3b. (issue 15 part 5) at 20 uncached lookups/s with a 5 s request
     timeout, freezing the DC in use fails no lookup and none comes near
     the timeout; the DC becomes suspect once a hedge wins, so the later
     lookups go to the other DC at once; after SIGCONT a probe finds it
     answering and it takes the traffic back within seconds;
  4. a static servers= list whose first server accepts TCP and never
     answers: lookups are still answered within the timeout;
  5. AD content: proxyAddresses primary and alias (the alias stays the
     recipient), a contact's targetAddress, nested groups, a group of
     1,600 members (more than AD's 1,500-value range), a disabled account,
     a local domain from the configuration, and dirmxDomain objects after
     applying schemas/dirmx-ad.ldif (directory-driven domains on AD);
  6. lockout safety: with lockoutThreshold 4, ten wrong passwords through
     authd leave the account unlocked with badPwdCount < 4 on every DC;
     authd logs the policy it read and its throttling; another user's
     correct password still works;
     6b. the policy changes under a running authd (threshold 0 read, 5
     set): 50 wrong passwords through dirmxctl and 50 through SMTP AUTH
     (routerd), at once for one account and in sequence for another, lock
     neither (at most 3 reach AD) and the right password still works;
     6c. a policy read that finds no lockoutThreshold is no policy: 2
     guesses reach AD, not "threshold 0, no limit";
     6d. a user under a stricter PSO (msDS-ResultantPSO) gets the small cap;
     6e. strangers never lock a user out of their own submission: after a
     successful login, 30 wrong passwords from 30 SMTP clients use up the
     account's cap, yet the user's right password (the one that worked) is
     accepted at once by the same authd; the account is never locked, and
     no wrong password after that reaches AD in the window;
  7. SENDERS for the proxyAddresses user lists primary and alias;
  8. SMTP AUTH on AD: routerd in the namespace (submission, STARTTLS with
     the lab CA) checks AUTH PLAIN/LOGIN through authd (GSSAPI service
     bind) against the DCs: the right password is accepted, the message
     from the user's primary address to a local AD user is queued; a
     wrong password and a disabled account get 535 5.7.8.

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
/usr/bin/python3 -m unittest -v test_samba_authd
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

from dirmxlab import Lab, build_dir, source_dir
from dirmxlab.ca import lab_ca
from dirmxlab.samba import SambaDC

from dirmxtest import Hole
from failovertest import Load, Outage, analyse, describe
from smtptest import SpoolMsg, routerd_bin, spool_view, wait_for

DOM = "ad.dirmx.test"
SITE = "Default-First-Site-Name"
SVC = "svc-dirmx"
SVC_PW = "Svc!Passw0rd-1"
PW = "User!Passw0rd1"
BIG = 1600  # members of the large group: more than one 1,500-value range
TIMEOUT_S = 2  # [authd] timeout of every authd started here
LOCK_VICTIMS = ("lina", "mona")  # test_6b: guessed at once, then in sequence
UNREAD_VICTIM = "nina"  # test_6c: guessed while the policy cannot be read
PSO_VICTIM = "oona"     # test_6d: under a stricter fine-grained policy
KNOWN_VICTIM = "pia"    # test_6e: strangers guess, the user still gets in
SMART_VICTIM = "quinn"  # test_6f: 50 guesses from one address, familiar client
SPLIT_VICTIMS = ("rita", "ruth")  # test_6g: guesses split between two authds
PDC_VICTIM = "sara"     # test_6h: the PDC does not answer
NEW_THRESHOLD = 5  # test_6b: lockoutThreshold set while authd runs


def authd_bin():
    return os.path.join(build_dir(), "authd", "authd")


def dirmxctl_bin():
    return os.path.join(build_dir(), "routerd", "dirmxctl")


# ---- dirmxctl output -------------------------------------------------------

class DcTable:
    """`dirmxctl dc` parsed: source, client_site, rows of
    (order, uri, prio, weight, state, site, protection, error)."""

    def __init__(self, text):
        self.text = text
        self.source = self.client_site = None
        self.rows = []
        in_table = False
        for line in text.splitlines():
            if line.startswith("source:"):
                self.source = line.split(":", 1)[1].strip()
            elif line.startswith("client site:"):
                self.client_site = line.split(":", 1)[1].strip()
            elif line.startswith("ORDER "):
                in_table = True
            elif in_table and line.strip():
                parts = line.split(None, 7)
                if len(parts) >= 7 and parts[0].isdigit():
                    self.rows.append({"uri": parts[1], "prio": parts[2],
                                      "weight": parts[3], "state": parts[4],
                                      "site": parts[5], "protection": parts[6],
                                      "error": parts[7] if len(parts) > 7 else ""})

    def row(self, host):
        for r in self.rows:
            if urllib.parse.urlsplit(r["uri"]).hostname == host:
                return r
        return None


class LookupOut:
    """`dirmxctl lookup` parsed: rc, trace, dc, dests [(rcpt, hop)], reason."""

    def __init__(self, rc, text):
        self.rc, self.text = rc, text
        self.trace, self.dests, self.dc, self.reason = [], [], None, None
        delivering = False
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("| "):
                self.trace.append(s[2:])
            elif s.startswith("answered by "):
                self.dc = s[len("answered by "):]
            elif s.startswith("=> deliver to:"):
                delivering = True
            elif delivering and " via " in s:
                rcpt, hop = s.rsplit(" via ", 1)
                self.dests.append((rcpt.strip(), hop.strip()))
            elif s.startswith(("NOTFOUND:", "TEMPFAIL:")):
                self.reason = s.split(":", 1)[1].strip()


# ---- a raw authd protocol client (include/authproto.txt) -------------------

def _pct(v):
    out = []
    for b in v.encode():
        if 0x21 <= b <= 0x7E and b not in (0x25, 0x3D):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def parse_line(line):
    """'OK 3 rcpt=a hop=b ...' -> (verb, id, [(key, value)])."""
    parts = line.split(" ")
    fields = []
    for p in parts[2:]:
        k, _, v = p.partition("=")
        fields.append((k, urllib.parse.unquote(v)))
    return parts[0], int(parts[1]), fields


class ProtoClient:
    """One connection to authd's socket; requests may be many in flight.
    Answers are collected by a reader thread: .answers[id] = (verb,
    fields, monotonic time)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.send_line("HELLO 0 version=1 client=test-samba-authd")
        verb, _, _ = parse_line(self.f.readline().decode().rstrip("\n"))
        if verb != "OK":
            raise RuntimeError("authd refused HELLO")
        self.s.settimeout(None)
        self.answers = {}
        self.sent = {}
        self.lock = threading.Lock()
        self.next_id = 1
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send_line(self, line):
        self.s.sendall(line.encode() + b"\n")

    def lookup(self, addr, nocache=True):
        with self.lock:
            rid = self.next_id
            self.next_id += 1
            self.sent[rid] = time.monotonic()
        self.send_line("LOOKUP %d addr=%s context=mx%s"
                       % (rid, _pct(addr), " nocache=1" if nocache else ""))
        return rid

    def _read(self):
        for raw in self.f:
            verb, rid, fields = parse_line(raw.decode().rstrip("\n"))
            with self.lock:
                self.answers[rid] = (verb, fields, time.monotonic())

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()
        self.reader.join(5)


# ---- authd instances ---------------------------------------------------------

class Authd:
    def __init__(self, test_cls, name, conf, proc):
        self.t, self.name, self.conf, self.proc = test_cls, name, conf, proc
        self.sock = test_cls.lab.path(name + ".sock")

    def log(self):
        return self.t.lab.log_text("authd-" + self.name)

    def ctl(self, *args, input=None, timeout=60):
        r = subprocess.run([dirmxctl_bin(), "-c", self.conf] + list(args),
                           capture_output=True, text=True, input=input,
                           timeout=timeout)
        return r

    def dc(self):
        r = self.ctl("dc")
        return DcTable(r.stdout + r.stderr)

    def lookup(self, addr, nocache=False):
        args = ["lookup"] + (["--no-cache"] if nocache else []) + [addr]
        r = self.ctl(*args)
        return LookupOut(r.returncode, r.stdout + r.stderr)

    def auth(self, user, password):
        r = self.ctl("auth", user, input=password + "\n")
        return r.returncode, r.stdout.strip()

    def wait_log(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return bool(re.search(pattern, self.log()))

    def wait_ready(self, timeout=20):
        """Bound to a DC and the accepted domains read."""
        if not self.wait_log(r"domains event=loaded", timeout):
            raise AssertionError("authd %s not ready:\n%s" % (self.name, self.log()[-4000:]))


class SambaAuthdTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        cls.lab = Lab("samba-authd")
        try:
            cls._setup()
        except BaseException:
            cls.lab.close()
            raise
        sys.stderr.write("\nsamba_authd setup %.1fs: %s\n" % (
            time.monotonic() - cls.t0,
            " ".join("%s=%.1f" % kv for kv in cls.times.items())))

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()
        sys.stderr.write("samba_authd total %.1fs\n" % (time.monotonic() - cls.t0))

    @classmethod
    def _step(cls, name, t):
        now = time.monotonic()
        cls.times[name] = now - t
        return now

    @classmethod
    def _setup(cls):
        for prog in (authd_bin(), dirmxctl_bin()):
            if not os.access(prog, os.X_OK):
                raise RuntimeError("%s not built (cmake --build first)" % prog)
        cls.times = {}
        lab = cls.lab
        t = time.monotonic()
        # join_second_dc() must come before anything is added to the
        # first DC: then the pair comes from the lab's cache.
        cls.dc = dc = SambaDC(lab)
        cls.dc2 = dc2 = dc.join_second_dc("127.0.0.11")
        t = cls._step("dcs", t)
        # The cached pair was snapshotted before dc2's own SPNs (ldap/dc2...,
        # added by dc2 after the join) reached dc1, whose KDC therefore
        # answers "Server not found in Kerberos database" for ldap/dc2.
        # Pull them now (lab issue, see the report of this test).
        cls.replicate(dc, dc2, dc.base_dn)
        t = cls._step("spn_repl", t)
        dc.add_exchange_schema()
        with open(os.path.join(source_dir(), "schemas", "dirmx-ad.ldif")) as f:
            dc.apply_schema_ldif(f.read())
        t = cls._step("schemas", t)
        dc.create_service_account(SVC, SVC_PW)
        cls.keytab = dc.export_keytab(SVC, lab.path("svc.keytab"))
        cls.pwfile = lab.write("svc.pw", SVC_PW + "\n", 0o600)
        cls.svc_dn = dc.user_dn(SVC)
        cls.add_content()
        t = cls._step("content", t)
        dc.set_password_policy(lockout_threshold=4, observation_window=30,
                               lockout_duration=30)
        # Everything on dc2 too, before any authd may pick it.
        schema_nc = "CN=Schema,CN=Configuration," + dc.base_dn
        cls.replicate(dc2, dc, schema_nc)
        cls.replicate(dc2, dc, dc.base_dn)
        t = cls._step("repl", t)
        # Two shared authds: the AD way (GSSAPI, keytab, plain 389 with
        # Kerberos sign/seal) and a simple bind over StartTLS.
        cls.gss = cls.start_authd("gss", cls.gss_settings())
        cls.tls = cls.start_authd("tls", cls.tls_settings())
        cls.gss.wait_ready()
        cls.tls.wait_ready()
        cls._step("authd", t)

    @classmethod
    def replicate(cls, dest, src, nc):
        dest.samba_tool("drs", "replicate", dest.fqdn, src.fqdn, nc,
                        "-U", "Administrator%" + dest.admin_password)

    @classmethod
    def add_content(cls):
        dc = cls.dc
        users = "CN=Users," + dc.base_dn
        ldif = []
        u = dc.user_ldif
        ldif.append(u("alice", PW, mail="alice@" + DOM,
                      proxy_addresses=["SMTP:alice.primary@" + DOM,
                                       "smtp:alice.alias@" + DOM,
                                       "X500:/o=old/cn=alice"]))
        ldif.append(u("bob", PW, mail="bob@" + DOM, disabled=True))
        ldif.append(u("carol", PW, mail="carol@" + DOM))
        ldif.append(u("dave", PW, mail="dave@" + DOM))      # lockout victim
        for name in (LOCK_VICTIMS + (UNREAD_VICTIM, PSO_VICTIM, KNOWN_VICTIM, SMART_VICTIM)
                     + SPLIT_VICTIMS + (PDC_VICTIM,)):  # 6b-h
            ldif.append(u(name, PW, mail=name + "@" + DOM))
        ldif.append(u("erin", None, mail="erin@" + DOM))
        ldif.append(u("frank", None, mail="frank@lab.dirmx.test"))
        ldif.append(u("gina", None, mail="gina@" + DOM,
                      attrs={"dirmxNextHop": "[192.0.2.30]:2525"}))
        ldif.append("\n".join([
            "dn: CN=partner-pat,%s" % users, "objectClass: contact",
            "mail: pat@" + DOM, "targetAddress: SMTP:someone@partner.example",
            "proxyAddresses: SMTP:pat@" + DOM]) + "\n\n")

        def group(name, members, mail=None, gtype=8):
            lines = ["dn: CN=%s,%s" % (name, users), "objectClass: group",
                     "sAMAccountName: " + name, "groupType: %d" % gtype]
            if mail:
                lines.append("mail: " + mail)
            lines += ["member: " + m for m in members]
            return "\n".join(lines) + "\n\n"

        ldif.append(group("team-inner", [dc.user_dn("alice"), dc.user_dn("carol")]))
        ldif.append(group("team-outer", ["CN=team-inner," + users, dc.user_dn("erin")],
                          mail="team@" + DOM))
        for i in range(BIG):
            ldif.append(u("bulk%04d" % i, None, mail="bulk%04d@%s" % (i, DOM)))
        ldif.append(group("all-staff", [dc.user_dn("bulk%04d" % i) for i in range(BIG)],
                          mail="allstaff@" + DOM))
        # Directory-driven domains (schemas/dirmx-ad.ldif is applied).
        for name, dtype, hop in (("lab.dirmx.test", "local", None),
                                 ("routed.example", "route", "[192.0.2.25]:25")):
            lines = ["dn: CN=dom-%s,%s" % (name, users), "objectClass: dirmxDomain",
                     "dirmxDomainName: " + name, "dirmxDomainType: " + dtype]
            if hop:
                lines.append("dirmxNextHop: " + hop)
            ldif.append("\n".join(lines) + "\n\n")
        dc.add_ldif("".join(ldif))

    # ---- authd configurations ------------------------------------------------

    @classmethod
    def gss_settings(cls, **over):
        s = {"bind": "gssapi", "keytab": cls.keytab, "tls": "none"}
        s.update(over)
        return s

    @classmethod
    def tls_settings(cls, **over):
        s = {"bind": "simple", "bind_dn": cls.svc_dn,
             "bind_password_file": cls.pwfile, "tls": "starttls",
             "ca_file": cls.dc.ca_cert}
        s.update(over)
        return s

    @classmethod
    def gc_settings(cls, **over):
        """The third configuration: GSSAPI as gss_settings(), plus the
        Global Catalog (owners searched forest-wide on _gc._tcp.<forest>,
        port 3268; what they lead to read through the domain's DCs)."""
        s = cls.gss_settings(global_catalog="yes")
        s.update(over)
        return s

    @classmethod
    def write_conf(cls, name, settings):
        sock = cls.lab.path(name + ".sock")
        a = {"directory": "ad", "domain": DOM, "timeout": "%ds" % TIMEOUT_S,
             "socket": sock}
        a.update(settings)
        state = cls.lab.path(name + ".state")
        os.makedirs(state, exist_ok=True)
        lines = ["[global]", "log_level = debug", "state_dir = " + state, "",
                 "[dns]", "servers = " + cls.dc.ip, "timeout = 1s", "",
                 "[authd]"]
        for k, v in a.items():
            if v is None:
                continue
            for item in (v if isinstance(v, list) else [v]):
                lines.append("%s = %s" % (k, item))
        lines += ["", "[routerd]", "local_domains = " + DOM, ""]
        return cls.lab.write(name + ".conf", "\n".join(lines))

    @classmethod
    def start_authd(cls, name, settings):
        conf = cls.write_conf(name, settings)
        argv = cls.dc.netns.exec_argv([authd_bin(), "-f", "-c", conf])
        proc = cls.lab.spawn("authd-" + name, argv, env=cls.dc.env())
        a = Authd(cls, name, conf, proc)
        deadline = time.monotonic() + 10
        while not os.path.exists(a.sock) and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError("authd %s exited %s:\n%s"
                                     % (name, proc.returncode, a.log()))
            time.sleep(0.02)
        return a

    def assertDests(self, out, expected):
        self.assertEqual(out.rc, 0, out.text)
        self.assertEqual(sorted(out.dests), sorted(expected), out.text)

    # ---- 1. discovery, site, LDAP ping -------------------------------------

    def test_1_discovery_through_srv_and_site(self):
        a = self.gss
        # The client site comes from the LDAP ping, then discovery re-runs
        # on the site's own SRV name.
        deadline = time.monotonic() + 10
        while True:
            tab = a.dc()
            if (tab.client_site == SITE and len(tab.rows) == 2
                    and all(r["state"] == "up" for r in tab.rows)) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(tab.client_site, SITE, tab.text)
        self.assertEqual(tab.source, "srv _ldap._tcp.%s._sites.dc._msdcs.%s" % (SITE, DOM),
                         tab.text)
        uris = sorted(r["uri"] for r in tab.rows)
        self.assertEqual(uris, ["ldap://dc1.%s:389" % DOM, "ldap://dc2.%s:389" % DOM],
                         tab.text)
        for r in tab.rows:
            self.assertEqual(r["state"], "up", tab.text)
            self.assertEqual((r["prio"], r["weight"]), ("0", "100"), tab.text)
        log = a.log()
        # It started from the domain-wide name (no site known yet).
        self.assertIn("event=discovered name=_ldap._tcp.dc._msdcs.%s records=2" % DOM, log)
        self.assertIn("event=discovered name=_ldap._tcp.%s._sites.dc._msdcs.%s records=2"
                      % (SITE, DOM), log)
        # 4a: the real DC's Netlogon answer decoded: CLDAP over UDP, or,
        # when the DC is too slow for the UDP phase (the 2 s timeout on a
        # loaded 2-core machine: seen in a full CI run), the LDAP ping over
        # TCP that follows it; both carry the same Netlogon structure.
        self.assertRegex(log, r"dcping event=ping_answer dc=ldap://dc[12]\.%s:389 via=(udp|tcp) "
                              r"dc_site=%s client_site=%s" % (re.escape(DOM), SITE, SITE))
        self.assertNotIn("bad_netlogon", log)
        self.assertNotIn("bad_cldap", log)
        # Each DC's site. Both DCs are in the site (the site's SRV name
        # lists them), so both rows must say so.
        self.assertEqual([r["site"] for r in tab.rows], [SITE, SITE],
                         "a DC found through the site's SRV record shows no site "
                         "(only the first DC to answer the ping gets one):\n" + tab.text)

    # ---- 2. binds --------------------------------------------------------------

    def test_2a_gssapi_keytab_lookups(self):
        a = self.gss
        with open(a.conf) as f:
            conf = f.read()
        self.assertNotIn("password", conf)
        self.assertNotIn(SVC_PW, conf)
        self.assertIn("bind = gssapi", conf)
        self.assertIn("tls = none", conf)
        self.assertIn("event=authd_start directory=ad domain=%s bind=gssapi tls=none" % DOM,
                      a.log())
        self.assertDests(a.lookup("carol@" + DOM, nocache=True), [("carol@" + DOM, "local")])
        # Both DCs take GSSAPI binds (each with its own ldap/ SPN).
        self.assertRegex(a.log(), r"ldpool event=connected dc=ldap://dc1\.")
        self.assertRegex(a.log(), r"ldpool event=connected dc=ldap://dc2\.")
        self.assertNotIn("GSSAPI Error", a.log())

    def test_2b_gssapi_bad_keytab_fails_cleanly(self):
        a = self.start_authd("gss-nokeytab",
                             self.gss_settings(keytab=self.lab.path("missing.keytab")))
        self.assertTrue(a.wait_log(r"event=dc_down dc=ldap://dc1\..*bind failed", 15), a.log())
        tab = a.dc()
        for r in tab.rows:
            self.assertEqual(r["state"], "down", tab.text)
            self.assertIn("bind failed", r["error"], tab.text)
        out = a.lookup("carol@" + DOM)
        self.assertEqual(out.rc, 3, out.text)  # TEMPFAIL, never NOTFOUND

    def test_2c_simple_bind_without_tls(self):
        # authd's own check: no password in clear unless explicitly allowed.
        conf = self.write_conf("simple-none", self.tls_settings(tls="none", ca_file=None))
        r = self.dc.run([authd_bin(), "-t", "-c", conf], check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("bind simple with tls none would send the password in clear",
                      r.stdout + r.stderr)
        proc = self.lab.spawn("authd-simple-none", self.dc.netns.exec_argv(
            [authd_bin(), "-f", "-c", conf]), env=self.dc.env())
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("authd started with a plaintext simple bind configured")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("use tls starttls or ldaps", self.lab.log_text("authd-simple-none"))
        # Allowed: then AD refuses it itself (strong auth required).
        a = self.start_authd("simple-plain", self.tls_settings(
            tls="none", ca_file=None, allow_plaintext_bind="yes"))
        self.assertTrue(a.wait_log(r"event=dc_down .*Strong\(er\) authentication required",
                                   15), a.log())
        # each DC refuses in its own time (the second is tried once the
        # first failed): wait until every row says so
        def all_down():
            t = a.dc()
            return t.rows and all(r["state"] == "down" for r in t.rows)

        wait_for(all_down, timeout=30, step=0.2)
        tab = a.dc()
        self.assertTrue(tab.rows, tab.text)
        for r in tab.rows:
            self.assertEqual(r["state"], "down", tab.text)
            self.assertIn("Strong(er) authentication required", r["error"], tab.text)
        self.assertEqual(a.lookup("carol@" + DOM).rc, 3)

    def test_2d_simple_bind_over_starttls_and_ldaps(self):
        a = self.tls
        self.assertDests(a.lookup("carol@" + DOM, nocache=True), [("carol@" + DOM, "local")])
        self.assertEqual(a.auth("carol", PW), (0, "yes: authenticated as carol"))
        l = self.start_authd("ldaps", self.tls_settings(tls="ldaps"))
        l.wait_ready()
        out = l.lookup("carol@" + DOM, nocache=True)
        self.assertDests(out, [("carol@" + DOM, "local")])
        self.assertRegex(out.dc, r"^ldaps://dc[12]\.%s:636$" % re.escape(DOM))
        tab = l.dc()
        self.assertEqual(sorted(r["uri"] for r in tab.rows),
                         ["ldaps://dc1.%s:636" % DOM, "ldaps://dc2.%s:636" % DOM], tab.text)
        self.assertEqual(l.auth("carol", PW), (0, "yes: authenticated as carol"))

    def test_2e_auth_with_gssapi_service_bind(self):
        # The AD way (GSSAPI on plain 389) must still verify passwords: the
        # user's simple bind needs TLS of its own (StartTLS with ca_file).
        a = self.start_authd("gss-auth", self.gss_settings(ca_file=self.dc.ca_cert))
        a.wait_ready()
        rc, out = a.auth("carol", PW)
        self.assertEqual((rc, out), (0, "yes: authenticated as carol"),
                         "AUTH with bind=gssapi tls=none:\n" + a.log()[-2000:])

    # ---- 3. failover -------------------------------------------------------------

    def test_3_failover_frozen_dc(self):
        a = self.start_authd("failover", self.tls_settings())
        a.wait_ready()
        # Both DCs bound (the standby too) before the freeze.
        self.assertTrue(a.wait_log(r"connected dc=ldap://dc1\.", 10), a.log())
        self.assertTrue(a.wait_log(r"connected dc=ldap://dc2\.", 10), a.log())
        cl = ProtoClient(a.sock)
        self.addCleanup(cl.close)
        addr = "carol@" + DOM
        stop = threading.Event()

        def pump():
            while not stop.is_set():
                cl.lookup(addr)
                time.sleep(0.1)

        th = threading.Thread(target=pump, daemon=True)
        victim = None
        th.start()
        try:
            time.sleep(1.0)
            with cl.lock:
                used = [dict(f).get("dc") for v, f, _ in cl.answers.values()]
            self.assertTrue(used and used[-1], "no answers before the freeze")
            victim_uri = used[-1]
            victim = self.dc if "//dc1." in victim_uri else self.dc2
            other = self.dc2 if victim is self.dc else self.dc
            victim.freeze()
            t_freeze = time.monotonic()
            with cl.lock:
                inflight = [rid for rid in cl.sent if rid not in cl.answers]
            time.sleep(TIMEOUT_S * 3)
            tab_frozen = a.dc()
            victim.thaw()
            t_thaw = time.monotonic()
            # After the backoff the thawed DC takes the traffic back.
            back = None
            deadline = t_thaw + 60
            while time.monotonic() < deadline and back is None:
                time.sleep(0.5)
                with cl.lock:
                    for rid, (v, f, at) in sorted(cl.answers.items()):
                        if at > t_thaw and dict(f).get("dc") == victim_uri:
                            back = at
                            break
        finally:
            stop.set()
            th.join()
            if victim is not None:
                victim.thaw()
        time.sleep(TIMEOUT_S + 1)  # the last ones come back
        with cl.lock:
            answers = dict(cl.answers)
            sent = dict(cl.sent)
        report = []
        for rid in sorted(sent):
            v, f, at = answers.get(rid, ("(none)", [], None))
            report.append("%4d sent=%+.2f %s %s %s" % (
                rid, sent[rid] - t_freeze, v,
                ("lat=%.2f" % (at - sent[rid])) if at else "",
                dict(f).get("dc", dict(f).get("reason", ""))))
        report = "\n".join(report)
        self.assertEqual(len(answers), len(sent), "unanswered requests:\n" + report)
        verbs = [answers[r][0] for r in sent]
        self.assertEqual(verbs.count("NOTFOUND"), 0, report)
        self.assertLessEqual(verbs.count("TEMPFAIL"), len(inflight), report)
        # Every answer within the timeout (plus the one retry's own time).
        lat = max(answers[r][2] - sent[r] for r in sent)
        self.assertLess(lat, TIMEOUT_S + 1.5, report)
        # While frozen (after the first timeout) the other DC answered.
        during = [dict(answers[r][1]).get("dc") for r in sent
                  if t_freeze + TIMEOUT_S + 0.5 < sent[r] < t_thaw]
        self.assertTrue(during, report)
        other_uri = victim_uri.replace(victim.hostname + ".", other.hostname + ".")
        self.assertEqual(set(during), {other_uri}, report)
        # The locator's view while frozen.
        row = tab_frozen.row(victim.fqdn)
        self.assertIsNotNone(row, tab_frozen.text)
        self.assertEqual(row["state"], "down", tab_frozen.text)
        self.assertTrue(row["error"], tab_frozen.text)
        self.assertEqual(tab_frozen.row(other.fqdn)["state"], "up", tab_frozen.text)
        self.assertIn("event=dc_down dc=%s" % victim_uri, a.log())
        self.assertIsNotNone(back, "the thawed DC never answered again:\n" + report
                             + "\n" + a.dc().text)
        sys.stderr.write("\nfailover: max latency %.2fs, %d TEMPFAIL (%d in flight at "
                         "the freeze), back to %s %.1fs after thaw\n"
                         % (lat, verbs.count("TEMPFAIL"), len(inflight), victim.hostname,
                            back - t_thaw))

    def test_3b_frozen_dc_costs_no_lookup_the_timeout(self):
        """Issue 15 part 5: 20 uncached lookups a second, the DC authd uses
        frozen for 8 s (request timeout 5 s): no lookup fails or comes near
        the timeout; once another DC has answered first what the frozen
        one held (a hedge won), new lookups go there at once instead of
        each waiting out the hedge delay on the frozen DC; after SIGCONT a
        probe finds the DC answering and it takes the traffic back."""
        a = self.start_authd("freeze", self.tls_settings(timeout="5s"))
        a.wait_ready()
        self.assertTrue(a.wait_log(r"connected dc=ldap://dc1\.", 10), a.log())
        self.assertTrue(a.wait_log(r"connected dc=ldap://dc2\.", 10), a.log())
        addrs = ["bulk%04d@%s" % (i, DOM) for i in range(BIG)]
        load = Load(a.sock, addrs, rate=20)
        load.start()
        self.addCleanup(lambda: load.stop_ev.is_set() or load.stop())
        time.sleep(3)
        victim_uri = load.recent_dc()
        victim = self.dc if "//dc1." in victim_uri else self.dc2
        outage = Outage(victim, "freeze")
        self.addCleanup(outage.close)  # nothing stays frozen, whatever fails
        outage.begin()
        time.sleep(8)
        outage.end()
        time.sleep(6)
        records = load.stop()
        report = describe(records, outage)
        fig = analyse(records, outage, victim_uri)
        sys.stderr.write("\nfrozen DC: %s\n" % json.dumps(fig))
        self.assertEqual(fig["failed"], 0, report)
        self.assertGreater(fig["during"]["n"], 100, report)
        # Nowhere near the 5 s request timeout (the < 1 s target is the
        # benchmark's, tests/bench/adfreeze.py: this machine is shared).
        self.assertLess(fig["during"]["max_ms"], 2500, report)
        # While frozen (after a generous second), the other DC answered.
        later = [r for r in records if outage.t_begin + 1 < r["sent"] < outage.t_end]
        self.assertTrue(later, report)
        self.assertEqual(len({r["dc"] for r in later}), 1, report)
        self.assertNotEqual(later[0]["dc"], victim_uri, report)
        # Suspect after the first hedge won: only the lookups already on
        # their way to the frozen DC were hedged, not every lookup until
        # a timeout marked the DC down (5 s at 20/s: ~100 before).
        log = a.log()
        hedged = log.count("event=hedge_won")
        self.assertLessEqual(hedged, 20, "%d hedges won:\n%s" % (hedged, report))
        self.assertTrue("event=dc_suspect dc=%s" % victim_uri in log, log[-3000:])
        # Back on the thawed DC, through a probe.
        self.assertIsNotNone(fig["back_s"], report + "\n" + log[-3000:])
        self.assertLess(fig["back_s"], 4.0, report)
        self.assertTrue("event=dc_recovered dc=%s" % victim_uri in log, log[-3000:])

    # ---- 4. bad inputs -----------------------------------------------------------

    def test_4b_static_list_first_server_never_answers(self):
        hole = Hole(make_socket=self.dc.netns.socket)
        self.addCleanup(hole.close)
        # StartTLS + simple: the first thing sent to the hole (the StartTLS
        # request) is what never gets an answer. (With GSSAPI the ticket
        # request for ldap/127.0.0.1 would fail before anything is sent.)
        a = self.start_authd("static", self.tls_settings(
            servers=["ldap://127.0.0.1:%d" % hole.port, "ldap://%s" % self.dc.fqdn]))
        a.wait_ready(timeout=TIMEOUT_S * 5)
        for i in range(5):
            t = time.monotonic()
            out = a.lookup("carol@" + DOM, nocache=True)
            took = time.monotonic() - t
            self.assertDests(out, [("carol@" + DOM, "local")])
            self.assertLess(took, TIMEOUT_S, out.text)
            self.assertEqual(out.dc, "ldap://%s" % self.dc.fqdn)
        self.assertGreaterEqual(hole.accepted, 1)
        self.assertTrue(a.wait_log(r"event=dc_down dc=ldap://127\.0\.0\.1:%d" % hole.port,
                                   TIMEOUT_S * 3), a.log())
        tab = a.dc()
        self.assertEqual(tab.source, "static", tab.text)
        hole_row = tab.row("127.0.0.1")
        self.assertEqual(hole_row["state"], "down", tab.text)
        self.assertTrue(hole_row["error"], tab.text)
        self.assertEqual(tab.row(self.dc.fqdn)["state"], "up", tab.text)
        # dcloc.h: "A configured static list overrides discovery and is
        # tried in the order given" -- the site learned by the LDAP ping
        # must not reorder it.
        self.assertEqual([r["uri"] for r in tab.rows],
                         ["ldap://127.0.0.1:%d" % hole.port, "ldap://%s" % self.dc.fqdn],
                         "static list reordered by the site preference:\n" + tab.text)

    # ---- 5. lookups on AD --------------------------------------------------------

    def test_5a_proxy_addresses(self):
        a = self.gss
        for addr in ("alice.primary@" + DOM, "alice.alias@" + DOM, "alice@" + DOM,
                     "ALICE.Alias@" + DOM.upper()):
            out = a.lookup(addr, nocache=True)
            self.assertEqual(out.rc, 0, out.text)
            self.assertEqual(len(out.dests), 1, out.text)
            # The alias answer keeps the alias as the recipient.
            self.assertEqual(out.dests[0][0].lower(), addr.lower(), out.text)
            self.assertEqual(out.dests[0][1], "local", out.text)
        # X500: is not a mail address.
        self.assertEqual(a.lookup("/o=old/cn=alice@" + DOM).rc, 1)
        # Cached answer the second time.
        a.lookup("alice.alias@" + DOM)
        self.assertIn("(from the cache)", a.lookup("alice.alias@" + DOM).text)

    def test_5b_contact_target_address(self):
        out = self.gss.lookup("pat@" + DOM, nocache=True)
        self.assertDests(out, [("someone@partner.example", "external")])

    def test_5c_nested_groups(self):
        out = self.gss.lookup("team@" + DOM, nocache=True)
        self.assertDests(out, [("alice.primary@" + DOM, "local"), ("carol@" + DOM, "local"),
                               ("erin@" + DOM, "local")])
        self.assertTrue(any("team-inner" in t for t in out.trace), out.text)

    def test_5d_large_group_range_retrieval(self):
        dc = self.dc
        g = "CN=all-staff,CN=Users," + dc.base_dn
        # What Samba does: a plain "member" comes back whole (no range);
        # asked for a range, it answers AD's way.
        plain = dc.search("(objectClass=*)", ["member"], base=g, scope="base")
        names = list(plain[0][1].keys())
        self.assertEqual(names, ["member"], names)
        self.assertEqual(len(plain[0][1]["member"]), BIG)
        ranged = dc.search("(objectClass=*)", ["member;range=0-1499"], base=g, scope="base")
        self.assertEqual(list(ranged[0][1].keys()), ["member;range=0-1499"])
        self.assertEqual(len(ranged[0][1]["member;range=0-1499"]), 1500)
        rest = dc.search("(objectClass=*)", ["member;range=1500-*"], base=g, scope="base")
        self.assertEqual(list(rest[0][1].keys()), ["member;range=1500-*"])
        self.assertEqual(len(rest[0][1]["member;range=1500-*"]), BIG - 1500)
        # authd: every member, once.
        t = time.monotonic()
        out = self.gss.lookup("allstaff@" + DOM, nocache=True)
        took = time.monotonic() - t
        self.assertEqual(out.rc, 0, out.text[-3000:])
        want = sorted(("bulk%04d@%s" % (i, DOM), "local") for i in range(BIG))
        self.assertEqual(sorted(out.dests), want)
        m = re.findall(r"event=lookup id=\d+ status=ok dests=%d searches=(\d+)" % BIG,
                       self.gss.log())
        self.assertTrue(m, "no log line for the expansion")
        searches = int(m[-1])
        # One search for the group, then the members 400 at a time by DN
        # ((|(distinguishedName=..)..)); a range request would add one and
        # cut a batch in two (Samba sends the plain attribute whole).
        batches = -(-BIG // 400)
        self.assertIn(searches, (1 + batches, 2 + batches + 1), searches)
        sys.stderr.write("\nlarge group: %d members in %.2fs, %d searches\n"
                         % (BIG, took, searches))

    def test_5e_disabled_account(self):
        out = self.gss.lookup("bob@" + DOM, nocache=True)
        self.assertEqual(out.rc, 1, out.text)
        self.assertEqual(out.reason, "account disabled", out.text)

    def test_5f_domains(self):
        a = self.gss
        # Local domain from the configuration: unknown address NOTFOUND.
        out = a.lookup("nobody@" + DOM, nocache=True)
        self.assertEqual(out.rc, 1, out.text)
        self.assertEqual(out.reason, "no such recipient")
        # Not ours.
        self.assertDests(a.lookup("x@elsewhere.example"), [("x@elsewhere.example", "external")])
        # dirmxDomain objects in AD (schemas/dirmx-ad.ldif applied).
        self.assertIn("domains event=loaded dc=", a.log())
        self.assertRegex(a.log(), r"domains event=loaded dc=\S+ domains=3")
        self.assertDests(a.lookup("frank@lab.dirmx.test", nocache=True),
                         [("frank@lab.dirmx.test", "local")])
        self.assertEqual(a.lookup("nobody@lab.dirmx.test", nocache=True).rc, 1)
        self.assertDests(a.lookup("y@routed.example"), [("y@routed.example", "[192.0.2.25]:25")])
        # A mailbox's own next hop (dirmxNextHop on an AD user).
        self.assertDests(a.lookup("gina@" + DOM, nocache=True),
                         [("gina@" + DOM, "[192.0.2.30]:2525")])

    def test_5g_global_catalog(self):
        # The GC itself, as Samba serves it in the namespace: _gc._tcp SRV
        # records for both DCs, port 3268 (checked before authd so a lab
        # problem is told apart from an authd one).
        srv = self.dc.dig("_gc._tcp." + DOM, "SRV")
        self.assertRegex(srv, r"3268 dc1\.%s" % re.escape(DOM), srv)
        self.assertRegex(srv, r"3268 dc2\.%s" % re.escape(DOM), srv)
        a = self.start_authd("gc", self.gc_settings())
        a.wait_ready()
        gc_conn = r"ldpool event=connected dc=ldap://dc[12]\.%s:3268" % re.escape(DOM)
        self.assertTrue(a.wait_log(gc_conn, 15),
                        "no GC connection on 3268:\n" + a.log()[-4000:])
        self.assertTrue(a.wait_log(r"event=discovered name=_gc\._tcp\.%s records=2"
                                   % re.escape(DOM), 5), a.log()[-4000:])
        gc_uri = r"^ldap://dc[12]\.%s:3268$" % re.escape(DOM)
        owner_search = 'search base="" filter='
        # A proxyAddresses alias: owner found forest-wide on the GC, the
        # alias stays the recipient.
        addr = "alice.alias@" + DOM
        out = a.lookup(addr, nocache=True)
        self.assertDests(out, [(addr, "local")])
        self.assertTrue(any(t.startswith(owner_search) and "alice.alias@" in t
                            for t in out.trace), out.text)
        self.assertFalse(any(t.startswith("search base=\"DC=") or
                             t.startswith("search base=\"dc=") for t in out.trace), out.text)
        self.assertRegex(out.dc or "", gc_uri, out.text)
        # A group: the owner on the GC, the members (nested group included)
        # read through the domain connections.
        out = a.lookup("team@" + DOM, nocache=True)
        self.assertDests(out, [("alice.primary@" + DOM, "local"), ("carol@" + DOM, "local"),
                               ("erin@" + DOM, "local")])
        self.assertTrue(any(t.startswith(owner_search) and "team@" in t
                            for t in out.trace), out.text)
        self.assertTrue(any("team-inner" in t for t in out.trace), out.text)
        self.assertRegex(out.dc or "", gc_uri, out.text)
        # The domain pool (389) is still there, for the members and domains.
        self.assertRegex(a.log(), r"ldpool event=connected dc=ldap://dc[12]\.%s:389"
                         % re.escape(DOM))
        self.assertNotIn("GSSAPI Error", a.log())
        # The normal configuration (no GC) is unchanged: base is the domain's.
        out = self.gss.lookup("alice.alias@" + DOM, nocache=True)
        self.assertDests(out, [("alice.alias@" + DOM, "local")])
        self.assertFalse(any(t.startswith(owner_search) for t in out.trace), out.text)
        self.assertRegex(out.dc or "", r"^ldap://dc[12]\.%s:389$" % re.escape(DOM), out.text)

    # ---- 6. lockout safety -------------------------------------------------------

    def read_lockout(self, dcx, user):
        res = dcx.search("(sAMAccountName=%s)" % user, ["badPwdCount", "lockoutTime"])
        attrs = res[0][1]
        bad = int(attrs.get("badPwdCount", [b"0"])[0])
        lt = int(attrs.get("lockoutTime", [b"0"])[0])
        return bad, lt

    def test_6_lockout_safety(self):
        a = self.tls
        self.assertTrue(a.wait_log(r"event=lockout_policy threshold=4 window_ms=1800000", 10),
                        a.log())
        answers = [a.auth("dave", "Wrong!Guess%d" % i) for i in range(10)]
        for rc, out in answers:
            self.assertEqual(rc, 1, answers)
            self.assertTrue(out.startswith("no: "), answers)
        per_dc = {d.hostname: self.read_lockout(d, "dave") for d in (self.dc, self.dc2)}
        total_bad = sum(b for b, _ in per_dc.values())
        self.assertLess(total_bad, 4, per_dc)
        self.assertGreaterEqual(total_bad, 1, per_dc)  # some did reach AD
        for host, (bad, lt) in per_dc.items():
            self.assertEqual(lt, 0, "dave locked out on %s: %s" % (host, per_dc))
        log = a.log()
        self.assertIn('event=auth_throttled user="dave"', log)
        self.assertRegex(log, r'event=auth_throttled user="dave" failures=\d+ threshold=4')
        self.assertEqual(len(re.findall(r'event=auth_failed user="dave"', log)), 10)
        # Another user is not affected.
        self.assertEqual(a.auth("carol", PW), (0, "yes: authenticated as carol"))
        self.assertEqual(a.auth("carol", "Wrong!Once")[0], 1)
        self.assertEqual(a.auth("carol", PW), (0, "yes: authenticated as carol"))
        sys.stderr.write("\nlockout: badPwdCount per DC %s\n" % per_dc)

    # ---- 6b. lockout safety when the policy changes under authd --------------

    # argv[1]: JSON [host, port, ca_file, user, [password...], [source...],
    # parallel]. One session per password from its own source address (so
    # that no client counter helps: only the account's guard stands between
    # the guesses and AD): EHLO, STARTTLS, EHLO, AUTH PLAIN, QUIT. Prints the
    # AUTH reply codes as JSON, in the order of the passwords.
    SMTP_GUESSER = r"""
import base64, json, smtplib, ssl, sys, threading
host, port, ca, user, passwords, sources, parallel = json.loads(sys.argv[1])
codes = [None] * len(passwords)
def one(i):
    try:
        s = smtplib.SMTP(host, port, local_hostname="guesser.example", timeout=60,
                         source_address=(sources[i], 0))
        s.ehlo()
        s.starttls(context=ssl.create_default_context(cafile=ca))
        s.ehlo()
        auth = base64.b64encode(("\0%s\0%s" % (user, passwords[i])).encode()).decode()
        codes[i] = s.docmd("AUTH", "PLAIN " + auth)[0]
        s.docmd("QUIT")
        s.close()
    except Exception as e:
        codes[i] = repr(e)
if parallel:
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(passwords))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
else:
    for i in range(len(passwords)):
        one(i)
print(json.dumps(codes))
"""

    def smtp_guesses(self, port, user, passwords, subnet, parallel):
        sources = ["127.0.%d.%d" % (subnet, i + 1) for i in range(len(passwords))]
        r = self.dc.run(["/usr/bin/python3", "-c", self.SMTP_GUESSER,
                         json.dumps([self.lock_addr, port, self.dc.ca_cert, user,
                                     passwords, sources, parallel])],
                        check=False, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)

    def test_6b_lockout_policy_changed_while_authd_runs(self):
        # Issue 11, item 5: authd reads lockoutThreshold 0 (no lockout) at
        # start, the administrator sets it to 5 while authd runs, and 50
        # wrong passwords per path (dirmxctl auth and SMTP AUTH through
        # routerd) arrive for one account, first all at once, then (for a
        # second account) one after the other. AD must never lock either
        # account, and the right password must still work.
        lab, dc, dc2 = self.lab, self.dc, self.dc2
        t0 = time.monotonic()

        def set_threshold(n):
            dc.set_password_policy(lockout_threshold=n)
            # On both DCs before anyone relies on it (~12 s by replication).
            self.replicate(dc2, dc, dc.base_dn)

        self.addCleanup(set_threshold, 4)   # the class's policy (test_6)
        set_threshold(0)
        self.lock_addr = "127.0.0.13"
        a, port, _ = self.start_routerd("lockout", self.lock_addr)
        self.assertTrue(a.wait_log(r"event=lockout_policy threshold=0 ", 10), a.log())
        set_threshold(NEW_THRESHOLD)
        t_changed = time.monotonic()

        def guesses(user, tag):
            return ["Wrong!%s%s%02d" % (user, tag, i) for i in range(50)]

        def ctl_guess(user, pw):
            return a.auth(user, pw)

        report = {}

        def check_not_locked(user, phase, ctl_answers, smtp_codes):
            per_dc = {d.hostname: self.read_lockout(d, user) for d in (dc, dc2)}
            report[phase] = {"user": user, "badPwdCount/lockoutTime": per_dc,
                             "ctl": sorted(set(rc for rc, _ in ctl_answers)),
                             "smtp": sorted(set(map(str, smtp_codes)))}
            sys.stderr.write("\nlockout 6b %s: %s\n" % (phase, report[phase]))
            for host, (bad, lt) in per_dc.items():
                self.assertEqual(lt, 0, "%s locked out on %s after %s: %s\n%s"
                                 % (user, host, phase, per_dc, a.log()[-3000:]))
            total = sum(b for b, _ in per_dc.values())
            self.assertLessEqual(total, NEW_THRESHOLD - 2, (phase, per_dc))
            self.assertGreaterEqual(total, 1, (phase, per_dc))   # some reached AD
            # Every guess was refused as a wrong password, none tempfailed.
            for rc, out in ctl_answers:
                self.assertEqual(rc, 1, (phase, ctl_answers))
                self.assertTrue(out.startswith("no: "), (phase, ctl_answers))
            self.assertEqual(set(smtp_codes), {535}, (phase, smtp_codes))

        # 1. All at once, right after the change: 50 dirmxctl auth and 50
        # SMTP AUTH sessions in flight together.
        user = LOCK_VICTIMS[0]
        ctl_answers = [None] * 50
        smtp_codes = []

        def ctl_worker(i, pw):
            ctl_answers[i] = ctl_guess(user, pw)

        def smtp_worker():
            smtp_codes.extend(self.smtp_guesses(port, user, guesses(user, "s"), 1, True))

        threads = [threading.Thread(target=smtp_worker)]
        threads += [threading.Thread(target=ctl_worker, args=(i, pw))
                    for i, pw in enumerate(guesses(user, "c"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        check_not_locked(user, "concurrent", ctl_answers, smtp_codes)

        # 2. One after the other: 50 through dirmxctl, then 50 through SMTP.
        user = LOCK_VICTIMS[1]
        ctl_answers = [ctl_guess(user, pw) for pw in guesses(user, "c")]
        smtp_codes = self.smtp_guesses(port, user, guesses(user, "s"), 2, False)
        check_not_locked(user, "sequence", ctl_answers, smtp_codes)

        # authd followed the change (not an hour later).
        self.assertRegex(a.log(), r"event=lockout_policy threshold=%d " % NEW_THRESHOLD)
        # The right password still works: AD takes it on both DCs (a locked
        # account refuses it) ...
        for user in LOCK_VICTIMS:
            for d in (dc, dc2):
                r = d.run(["ldapsearch", "-LLL", "-x", "-H", d.ldap_uri(tls=True),
                           "-D", d.user_dn(user), "-w", PW, "-b", d.user_dn(user),
                           "-s", "base", "(objectClass=*)", "sAMAccountName"],
                          check=False)
                self.assertEqual(r.returncode, 0, "%s on %s: %s"
                                 % (user, d.hostname, r.stdout + r.stderr))
        # ... and through authd: this one still counts the guesses of its
        # window (it refuses even the right password meanwhile: it never
        # saw that password work, test_6e shows one it did see), a fresh
        # one does not.
        fresh = self.start_authd("lockout-after", self.tls_settings())
        self.addCleanup(lab.stop, fresh.proc)
        fresh.wait_ready()
        for user in LOCK_VICTIMS:
            self.assertEqual(fresh.auth(user, PW), (0, "yes: authenticated as " + user),
                             fresh.log()[-3000:])
        sys.stderr.write("lockout 6b: %.1fs (storms %.1fs)\n"
                         % (time.monotonic() - t0, time.monotonic() - t_changed))

    def test_6c_lockout_policy_unreadable_gets_the_small_cap(self):
        # No domain configured and the accounts under an OU: the policy
        # read finds an entry without lockoutThreshold. That is no policy
        # (not "threshold 0"): authd logs it and lets only
        # unknown_policy_max_failures (2) wrong passwords reach the DC, of
        # which strangers (no client here is familiar) only half: 1.
        dc = self.dc
        a = self.start_authd("policy-unread", self.tls_settings(
            domain=None, servers=["ldap://%s" % dc.fqdn], base_dn="CN=Users," + dc.base_dn))
        self.assertTrue(a.wait_log(r"event=lockout_policy_unreadable .*"
                                   r'error="no lockoutThreshold"', 15), a.log()[-3000:])
        answers = [a.auth(UNREAD_VICTIM, "Wrong!Unread%d" % i) for i in range(8)]
        self.assertTrue(all(rc == 1 for rc, _ in answers), answers)
        bad, lt = self.read_lockout(dc, UNREAD_VICTIM)
        self.assertEqual((bad, lt), (1, 0), a.log()[-3000:])
        self.assertRegex(a.log(), r'event=auth_throttled user="%s" failures=1 threshold=0 '
                                  r'cap=1 policy=unknown' % UNREAD_VICTIM)
        self.assertNotRegex(a.log(), r"event=lockout_policy threshold=")

    def status(self, a, user):
        """`dirmxctl auth --status USER` parsed: {label: value}."""
        r = a.ctl("auth", "--status", user)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = {}
        for line in r.stdout.splitlines():
            if ":" in line and not line.startswith(" "):
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
        out["text"] = r.stdout
        return out

    def test_6d_lockout_fine_grained_policy(self):
        # Issue 16, item 4: domain threshold 10 (8 guesses would pass), a
        # PSO applied to the user locks at 3. While the service account
        # may not read the PSO (Samba's default: the PSO is listed, its
        # msDS-LockoutThreshold is not returned), authd logs it and keeps
        # the small cap; once the admin grants read access to the Password
        # Settings Container (the step dirmx-attributes(7) documents), the
        # PSO's own budget applies: 1 failure (T - 2), from anyone.
        dc, dc2 = self.dc, self.dc2
        user = PSO_VICTIM

        def set_threshold(n):
            dc.set_password_policy(lockout_threshold=n)
            self.replicate(dc2, dc, dc.base_dn)

        def total():
            per_dc = {d.hostname: self.read_lockout(d, user) for d in (dc, dc2)}
            for host, (bad, lt) in per_dc.items():
                self.assertEqual(lt, 0, "%s locked on %s: %s" % (user, host, per_dc))
            return sum(b for b, _ in per_dc.values())

        self.addCleanup(set_threshold, 4)   # the class's policy (test_6)
        dc.samba_tool("domain", "passwordsettings", "pso", "create", "pso-strict", "1",
                      "--account-lockout-threshold=3", "--reset-account-lockout-after=30",
                      "--account-lockout-duration=30")
        self.addCleanup(dc.samba_tool, "domain", "passwordsettings", "pso", "delete",
                        "pso-strict")
        dc.samba_tool("domain", "passwordsettings", "pso", "apply", "pso-strict", user)
        set_threshold(10)
        a = self.start_authd("pso", self.tls_settings())
        self.addCleanup(self.lab.stop, a.proc)
        self.assertTrue(a.wait_log(r"event=lockout_policy threshold=10 ", 15), a.log()[-3000:])
        # 1. The PSO cannot be read: the small cap (2; strangers 1).
        answers = [a.auth(user, "Wrong!Pso%d" % i) for i in range(10)]
        self.assertTrue(all(rc == 1 for rc, _ in answers), answers)
        self.assertEqual(total(), 1, a.log()[-3000:])
        self.assertRegex(a.log(), r'event=pso_unreadable .*dn="CN=pso-strict,CN=Password '
                                  r'Settings Container')
        self.assertRegex(a.log(), r'event=auth_throttled user="%s" failures=1 threshold=10 '
                                  r'cap=1 policy=pso-unread' % user)
        st = self.status(a, user)
        self.assertEqual(st["policy"], "pso-unread, threshold 10", st["text"])
        self.assertTrue(st["budget"].startswith("2 failures per window"), st["text"])
        # The user's own bind on the PDC (dc1) clears its count there;
        # authd's own count is cleared with dirmxctl auth --reset.
        dc.run(["ldapsearch", "-LLL", "-x", "-H", dc.ldap_uri(tls=True), "-D", dc.user_dn(user),
                "-w", PW, "-b", dc.user_dn(user), "-s", "base", "(objectClass=*)", "cn"])
        self.assertIn("cleared", a.ctl("auth", "--reset", user).stdout)
        # 2. The admin step: read access to the PSOs for the service account.
        out = dc.samba_tool("user", "show", SVC, "--attributes=objectSid").stdout
        sid = re.search(r"objectSid: (S-[0-9-]+)", out).group(1)
        dc.samba_tool("dsacl", "set", "--objectdn=CN=Password Settings Container,CN=System,"
                      + dc.base_dn, "--sddl=(A;CI;RPLCLORC;;;%s)" % sid,
                      "-U", "Administrator%" + dc.admin_password)
        # authd reads the PSO again every LOCKPOLICY_RETRY_MS (5 s) after a
        # failed read, from whichever DC its pool picks: the grant made on
        # dc1 reaches dc2 by replication (up to ~12 s here). A fixed wait
        # raced it; wait for the read itself.
        self.assertTrue(a.wait_log(r'event=pso_policy threshold=3 ', 40), a.log()[-3000:])
        answers = [a.auth(user, "Wrong!PsoRead%d" % i) for i in range(10)]
        self.assertTrue(all(rc == 1 for rc, _ in answers), answers)
        self.assertEqual(total(), 1, a.log()[-3000:])
        self.assertRegex(a.log(), r'event=pso_policy threshold=3 window_ms=1800000 .*'
                                  r'dn="CN=pso-strict,')
        self.assertRegex(a.log(), r'event=auth_throttled user="%s" failures=1 threshold=3 '
                                  r'cap=1 policy=pso' % user)
        st = self.status(a, user)
        self.assertEqual(st["policy"], "pso, threshold 3", st["text"])
        self.assertTrue(st["budget"].startswith("1 failures per window reach the directory, "
                                                "1 of them"), st["text"])
        self.assertEqual(st["familiar clients"], "throttled", st["text"])

    def test_6e_strangers_do_not_lock_the_user_out_of_submission(self):
        # DESIGN.md invariant 9, second half. lockoutThreshold 4 (the
        # class's): the cap is 2 failures per window, 1 for strangers. The
        # user logs in once through dirmxctl (no client address: nothing
        # becomes familiar); then a stranger sends 30 wrong passwords for
        # the account through SMTP AUTH, each from its own address (no
        # client counter helps), and uses up the strangers' part. The
        # user's password that worked is still accepted at once by the
        # same authd (it keeps a salted, slow verifier of it:
        # authd/goodpw.h), while the strangers' guesses never reach AD past
        # their part and the account is never locked.
        dc, dc2 = self.dc, self.dc2
        user = KNOWN_VICTIM
        self.lock_addr = "127.0.0.14"
        a, port, _ = self.start_routerd("goodpw", self.lock_addr)
        self.assertTrue(a.wait_log(r"event=lockout_policy threshold=4 ", 15), a.log())
        report = {}

        def storm(phase, subnet):
            pws = ["Wrong!%s%s%02d" % (user, phase, i) for i in range(30)]
            codes = self.smtp_guesses(port, user, pws, subnet, False)
            per_dc = {d.hostname: self.read_lockout(d, user) for d in (dc, dc2)}
            report[phase] = per_dc
            self.assertEqual(set(codes), {535}, (phase, codes))
            for host, (bad, lt) in per_dc.items():
                self.assertEqual(lt, 0, "%s locked out on %s after %s: %s\n%s"
                                 % (user, host, phase, per_dc, a.log()[-3000:]))
            self.assertLessEqual(sum(b for b, _ in per_dc.values()), 4 - 2,
                                 (phase, per_dc))
            return per_dc

        def binds_refused():
            return len(re.findall(r'event=auth_failed user="%s" .*reason="wrong password'
                                  % user, a.log()))

        ok = (0, "yes: authenticated as " + user)
        self.assertEqual(a.auth(user, PW), ok, a.log()[-3000:])
        per_dc = storm("first", 3)
        self.assertGreaterEqual(sum(b for b, _ in per_dc.values()), 1, per_dc)  # AD saw some
        self.assertEqual(binds_refused(), 1, a.log()[-3000:])
        self.assertRegex(a.log(), r'event=auth_throttled user="%s" failures=1 threshold=4 '
                                  r'cap=1 policy=domain client=127\.0\.3\.\d+ familiar=no'
                         % user)
        # Capped, and still the user's own password gets in at once.
        self.assertEqual(a.auth(user, PW), ok, a.log()[-3000:])
        self.assertRegex(a.log(), r'event=auth_familiar user="%s" client=- '
                                  r'familiar=known-password failures=1 cap=2' % user)
        # The strangers go on: none of their guesses reaches AD any more
        # (the verifier lets the password that worked through, nothing
        # else, and its success leaves the window's count at the cap).
        storm("again", 4)
        self.assertEqual(a.auth(user, PW), ok, a.log()[-3000:])
        self.assertEqual(a.auth(user, "Wrong!AfterKnown")[0], 1)
        self.assertEqual(binds_refused(), 1, a.log()[-3000:])
        per_dc = {d.hostname: self.read_lockout(d, user) for d in (dc, dc2)}
        for host, (bad, lt) in per_dc.items():
            self.assertEqual(lt, 0, (host, per_dc))
            self.assertLess(bad, 4, (host, per_dc))
        self.assertNotIn(PW, a.log())
        sys.stderr.write("\nlockout 6e: badPwdCount/lockoutTime per DC %s, end %s\n"
                         % (report, per_dc))

    def test_6f_smart_lockout_familiar_client_through_smtp(self):
        # Issue 16, item 5: the user submits from 127.0.6.1 once; an
        # attacker then sends 50 wrong passwords from 127.0.7.1. The
        # account is never locked, the right password from the familiar
        # address is accepted (SMTP 235), from the attacker's address and
        # from a third, unfamiliar one it is refused (535). No password
        # verifier helps here (known_password_ttl = 0): familiarity alone
        # lets the user in.
        dc, dc2 = self.dc, self.dc2
        user = SMART_VICTIM
        self.lock_addr = "127.0.0.15"
        a, port, _ = self.start_routerd("smart", self.lock_addr, known_password_ttl="0")
        self.assertTrue(a.wait_log(r"event=lockout_policy threshold=4 ", 15), a.log())
        home, attacker, elsewhere = "127.0.6.1", "127.0.7.1", "127.0.8.1"

        def smtp(passwords, source, parallel=False):
            r = self.dc.run(["/usr/bin/python3", "-c", self.SMTP_GUESSER,
                             json.dumps([self.lock_addr, port, self.dc.ca_cert, user, passwords,
                                         [source] * len(passwords), parallel])],
                            check=False, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return json.loads(r.stdout)

        for src in (home, attacker, elsewhere):
            dc.netns.add_addr(src)
        self.assertEqual(smtp([PW], home), [235], a.log()[-3000:])
        # Two rounds of 25 sessions at once: one after the other, routerd's
        # growing delay for a failing client (up to 8 s) would take minutes.
        codes = [c for k in range(2)
                 for c in smtp(["Wrong!Smart%d%02d" % (k, i) for i in range(25)], attacker,
                               parallel=True)]
        self.assertEqual(set(codes), {535}, codes)
        per_dc = {d.hostname: self.read_lockout(d, user) for d in (dc, dc2)}
        for host, (bad, lt) in per_dc.items():
            self.assertEqual(lt, 0, "%s locked on %s: %s" % (user, host, per_dc))
        # Strangers' part of the cap (2): 1 failure reached AD, at the PDC.
        self.assertEqual(sum(b for b, _ in per_dc.values()), 1, per_dc)
        self.assertEqual(per_dc[dc.hostname][0], 1, per_dc)
        st = self.status(a, user)
        self.assertEqual(st["unfamiliar clients"], "throttled", st["text"])
        self.assertEqual(st["familiar clients"], "open", st["text"])
        self.assertRegex(st["text"], r"familiar:\n  127\.0\.6\.1 +last login 20")
        self.assertIn("at ldap://dc1.%s:389" % DOM, st["failures"])
        # The right password: in from home, refused elsewhere.
        self.assertEqual(smtp([PW], elsewhere), [535], a.log()[-3000:])
        self.assertEqual(smtp([PW], attacker), [535], a.log()[-3000:])
        self.assertEqual(smtp([PW], home), [235], a.log()[-3000:])
        self.assertRegex(a.log(), r'event=auth_familiar user="%s" client=%s familiar=yes '
                                  r'failures=1 cap=2' % (user, re.escape(home)))
        self.assertIn("event=client_throttled client=%s" % attacker, a.log())
        per_dc = {d.hostname: self.read_lockout(d, user) for d in (dc, dc2)}
        for host, (bad, lt) in per_dc.items():
            self.assertEqual(lt, 0, (host, per_dc))
            self.assertLess(bad, 4 - 1, (host, per_dc))
        sys.stderr.write("\nlockout 6f: badPwdCount/lockoutTime per DC %s\n" % per_dc)

    def test_6g_two_authds_share_the_count_at_the_pdc(self):
        # Issue 16, item 4: two dirmx hosts against one domain. authd "a"
        # searches the domain's DCs, authd "b" only dc2 (a static list),
        # yet both read badPwdCount at the PDC emulator (dc1, by
        # _ldap._tcp.pdc._msdcs) and bind there, so each counts the other's
        # failures. 20 wrong passwords split between them, alternating, for
        # one account, then at once for another: never locked, and no
        # more failures reach AD than one authd alone would let through
        # (strangers' part of the cap: 1), all of them at the PDC.
        dc, dc2 = self.dc, self.dc2
        a = self.start_authd("split-a", self.tls_settings())
        b = self.start_authd("split-b", self.tls_settings(
            servers=["ldap://%s" % dc2.fqdn]))
        for x in (a, b):
            self.addCleanup(self.lab.stop, x.proc)
            x.wait_ready()
        for x in (a, b):
            self.assertTrue(x.wait_log(r"event=pdc_found srv=_ldap\._tcp\.pdc\._msdcs\.%s "
                                       r"server=dc1\.%s:389" % (re.escape(DOM), re.escape(DOM)),
                                       15), x.log()[-3000:])
        user = SPLIT_VICTIMS[0]
        answers = [(a if i % 2 else b).auth(user, "Wrong!Split%02d" % i) for i in range(20)]
        self.assertTrue(all(rc == 1 for rc, _ in answers), answers)
        user2 = SPLIT_VICTIMS[1]
        answers = [None] * 20

        def guess(i):
            answers[i] = (a if i % 2 else b).auth(user2, "Wrong!SplitC%02d" % i)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertTrue(all(x is not None and x[0] == 1 for x in answers), answers)
        report = {}
        for u in SPLIT_VICTIMS:
            per_dc = {d.hostname: self.read_lockout(d, u) for d in (dc, dc2)}
            report[u] = per_dc
            for host, (bad, lt) in per_dc.items():
                self.assertEqual(lt, 0, "%s locked on %s: %s" % (u, host, per_dc))
            # Every bind at the PDC: dc2 saw none, even from "b".
            self.assertEqual(per_dc[dc2.hostname][0], 0, per_dc)
        self.assertEqual(report[user][dc.hostname][0], 1, report)
        # At once, two hosts may each send one before either sees the
        # other's: still within the cap (2) that a single authd honours.
        self.assertIn(report[user2][dc.hostname][0], (1, 2), report)
        self.assertRegex(b.log(), r'event=auth_throttled user="%s" failures=1 ' % user)
        # Each host sees the count the other raised, at the PDC.
        for x in (a, b):
            st = self.status(x, user)
            self.assertIn("the directory's 1 at ldap://dc1.%s:389" % DOM, st["failures"],
                          st["text"])
            self.assertEqual(st["unfamiliar clients"], "throttled", st["text"])
        sys.stderr.write("\nlockout 6g: badPwdCount/lockoutTime per DC %s\n" % report)

    def test_6h_pdc_down_falls_back_to_the_searched_dc(self):
        # The PDC emulator (dc1) freezes: authd cannot read the count
        # there, logs it once (event=pdc_fallback), and uses the searched
        # DC's count and a bind on it (dc2), as before issue 16: checks
        # still work, and the account is not locked.
        dc, dc2 = self.dc, self.dc2
        user = PDC_VICTIM
        a = self.start_authd("pdc-down", self.tls_settings())
        self.addCleanup(self.lab.stop, a.proc)
        a.wait_ready()
        self.assertTrue(a.wait_log(r"event=pdc_found ", 15), a.log()[-3000:])
        dc.freeze()
        try:
            right = a.auth(user, PW)
            answers = [a.auth(user, "Wrong!PdcDown%d" % i) for i in range(6)]
            # The guesses were counted where they were bound: dc2.
            at_dc2 = self.read_lockout(dc2, user)
        finally:
            dc.thaw()
        self.assertTrue(all(rc == 1 for rc, _ in answers), (answers, a.log()[-3000:]))
        self.assertEqual(at_dc2, (1, 0), a.log()[-3000:])
        self.assertEqual(right, (0, "yes: authenticated as " + user), a.log()[-3000:])
        log = a.log()
        self.assertEqual(len(re.findall(r"event=pdc_fallback ", log)), 1, log[-3000:])
        self.assertRegex(log, r'event=auth_ok user="%s"' % user)
        for d in (dc, dc2):
            self.assertEqual(self.read_lockout(d, user)[1], 0, d.hostname)

    # ---- 7. SENDERS --------------------------------------------------------------

    def test_7_senders(self):
        for a in (self.gss, self.tls):
            r = a.ctl("senders", "alice")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            got = sorted(r.stdout.split())
            self.assertEqual(got, sorted(["alice@" + DOM, "alice.primary@" + DOM,
                                          "alice.alias@" + DOM]), r.stdout)
        r = self.gss.ctl("senders", "nosuchuser")
        self.assertEqual(r.returncode, 1, r.stdout)

    # ---- 8. SMTP AUTH through authd on AD ----------------------------------------

    def start_routerd(self, name, addr, **authd_over):
        """An authd of the GSSAPI configuration that routerd (dropped to
        nobody) may use, and routerd with a submission listener on addr (a
        loopback address of the namespace, added here), STARTTLS with a
        certificate of the lab CA. Returns (authd, port, spool)."""
        lab, dc = self.lab, self.dc
        # routerd drops to nobody: it needs the lab directory, its files and
        # authd's socket (authd's client_user is nobody; the shared gss
        # authd keeps the default client_user dirmx, i.e. root only, so an
        # authd of the same GSSAPI configuration is started for routerd,
        # with ca_file for the users' own binds as in test_2e).
        os.chmod(lab.dir, 0o755)
        a = self.start_authd(name, self.gss_settings(ca_file=dc.ca_cert,
                                                     client_user="nobody", **authd_over))
        self.addCleanup(lab.stop, a.proc)
        a.wait_ready()
        self.assertIn("event=listening socket=%s client_user=nobody" % a.sock, a.log())
        os.chmod(a.sock, 0o666)
        # The submission listener on its own loopback address of the
        # namespace, a free port there, a certificate of the lab CA for it.
        dc.netns.add_addr(addr)
        ports = []
        for host in (addr, "127.0.0.1"):   # the listener's; a dead DNS port
            probe = dc.netns.socket()
            probe.bind((host, 0))
            ports.append(probe.getsockname()[1])
            probe.close()
        port, dead_port = ports
        rname = "routerd-" + name
        rdir = os.path.dirname(lab.path(rname, "x"))
        os.chmod(rdir, 0o755)
        cert, key = lab_ca(lab).server_cert(["mx." + DOM], [addr], name=rname)
        for f in (cert, key):
            os.chmod(f, 0o644)
        os.chmod(os.path.dirname(cert), 0o755)
        spool = os.path.join(rdir, "spool")
        # routerd's file: authd's, but [dns] on a dead loopback port (no
        # delivery ever leaves routerd) and the [routerd] part added.
        with open(a.conf) as f:
            conf = f.read()
        dns = "[dns]\nservers = %s\ntimeout = 1s\n" % dc.ip
        self.assertIn(dns, conf)
        conf = conf.replace(dns, "[dns]\nservers = 127.0.0.1:%d\ntimeout = 500ms\ntries = 1\n"
                            % dead_port)
        conf += """\
user = nobody
hostname = mx.%(dom)s
authd_socket = %(sock)s
spool_dir = %(spool)s
control_socket = %(dir)s/routerd.sock
tls_cert = %(cert)s
tls_key = %(key)s

[listener submission]
address = %(addr)s:%(port)d
role = submission
""" % {"dom": DOM, "sock": a.sock, "spool": spool, "dir": rdir, "cert": cert,
            "key": key, "addr": addr, "port": port}
        rconf = lab.write(rname + "/dirmx.conf", conf)
        proc = lab.spawn(rname, dc.netns.exec_argv([routerd_bin(), "-f", "-c", rconf]))
        self.addCleanup(lab.stop, proc)
        deadline = time.monotonic() + 20
        while True:
            log = lab.log_text(rname)
            if proc.poll() is not None:
                self.fail("routerd exited %s:\n%s" % (proc.returncode, log[-3000:]))
            if "event=routerd_start" in log:
                try:
                    with dc.netns.connect(addr, port, timeout=2) as c:
                        c.settimeout(5)
                        if c.recv(100).startswith(b"220 "):
                            break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self.fail("routerd not ready:\n" + log[-3000:])
            time.sleep(0.05)
        return a, port, spool

    def test_8_smtp_auth_routerd_on_ad(self):
        lab, dc = self.lab, self.dc
        addr = "127.0.0.12"
        a, port, spool = self.start_routerd("smtp", addr)

        body = ("From: <alice.primary@%s>\r\nTo: <carol@%s>\r\nSubject: smtp on ad\r\n"
                "\r\nHello from AD.\r\n" % (DOM, DOM))
        sessions = [
            {"mech": "PLAIN", "user": "alice", "password": PW,
             "from": "alice.primary@" + DOM, "rcpts": ["carol@" + DOM], "body": body},
            {"mech": "LOGIN", "user": "alice", "password": "Wrong!Passw0rd9"},
            {"mech": "PLAIN", "user": "bob", "password": PW},   # disabled
        ]
        # argv[1]: JSON [host, port, ca_file, sessions]. Each session: EHLO,
        # STARTTLS (CA verified, the address is the server name), EHLO, AUTH
        # (PLAIN in one line, or LOGIN step by step), then optionally MAIL, RCPTs,
        # DATA. Prints [[step, code, text], ...] per session as JSON.
        smtp_client = r"""
import base64, json, smtplib, ssl, sys
host, port, ca, sessions = json.loads(sys.argv[1])
b64 = lambda v: base64.b64encode(v.encode()).decode()
out = []
for sess in sessions:
    got = []
    def step(name, r):
        got.append([name, r[0], r[1].decode("utf-8", "replace")])
    s = smtplib.SMTP(local_hostname="client.ad.example", timeout=30)
    step("connect", s.connect(host, port))
    step("ehlo", s.ehlo())
    step("starttls", s.docmd("STARTTLS"))
    ctx = ssl.create_default_context(cafile=ca)   # verifies chain and address
    s.sock = ctx.wrap_socket(s.sock, server_hostname=host)
    s.file, s.ehlo_resp, s.esmtp_features = None, None, {}
    got.append(["tls", 0, s.sock.version()])
    step("ehlo", s.ehlo())
    user, pw = sess["user"], sess["password"]
    if sess["mech"] == "PLAIN":
        step("auth", s.docmd("AUTH", "PLAIN " + b64("\0%s\0%s" % (user, pw))))
    else:
        step("auth", s.docmd("AUTH", "LOGIN"))
        step("auth-user", s.docmd(b64(user)))
        step("auth-pass", s.docmd(b64(pw)))
    if "from" in sess:
        step("mail", s.docmd("MAIL", "FROM:<%s>" % sess["from"]))
        for rcpt in sess["rcpts"]:
            step("rcpt " + rcpt, s.docmd("RCPT", "TO:<%s>" % rcpt))
        step("data", s.docmd("DATA"))
        s.send(sess["body"] + ".\r\n")   # body ends in CRLF, has no leading dots
        step("dot", s.getreply())
    step("quit", s.docmd("QUIT"))
    s.close()
    out.append(got)
print(json.dumps(out))
"""
        r = dc.run(["/usr/bin/python3", "-c", smtp_client,
                    json.dumps([addr, port, dc.ca_cert, sessions])], check=False, timeout=120)
        logs = ("\n--- routerd:\n" + lab.log_text("routerd-smtp")[-3000:]
                + "\n--- authd:\n" + a.log()[-3000:])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + logs)
        got = json.loads(r.stdout)
        report = json.dumps(got, indent=1) + logs

        def codes(sess):
            return [(name, code) for name, code, _ in sess]

        def text(sess, step):
            return [t for name, _, t in sess if name == step][-1]

        ok, wrong, disabled = got
        for sess in got:
            self.assertEqual(codes(sess)[:4], [("connect", 220), ("ehlo", 250),
                                               ("starttls", 220), ("tls", 0)], report)
            self.assertIn("AUTH PLAIN LOGIN", text(sess, "ehlo").upper(), report)
        self.assertEqual(codes(ok)[4:], [
            ("ehlo", 250), ("auth", 235), ("mail", 250), ("rcpt carol@" + DOM, 250),
            ("data", 354), ("dot", 250), ("quit", 221)], report)
        self.assertTrue(text(ok, "auth").startswith("2.7.0 "), report)
        self.assertTrue(text(ok, "mail").startswith("2.1.0 "), report)
        self.assertTrue(text(ok, "rcpt carol@" + DOM).startswith("2.1.5 "), report)
        m = re.match(r"2\.0\.0 Ok: queued as (\S+)$", text(ok, "dot"))
        self.assertTrue(m, report)
        self.assertEqual(codes(wrong)[4:], [("ehlo", 250), ("auth", 334), ("auth-user", 334),
                                            ("auth-pass", 535), ("quit", 221)], report)
        self.assertTrue(text(wrong, "auth-pass").startswith("5.7.8 "), report)
        self.assertEqual(codes(disabled)[4:], [("ehlo", 250), ("auth", 535), ("quit", 221)],
                         report)
        self.assertTrue(text(disabled, "auth").startswith("5.7.8 "), report)
        # The queued message: the AD user as the AUTH identity, the
        # recipient a local mailbox as authd answered from AD.
        msg = SpoolMsg(os.path.join(spool, "q", m.group(1)), spool_view(spool)[m.group(1)])
        self.assertEqual((msg.auth, msg.mail_from), ("alice", "alice.primary@" + DOM))
        self.assertEqual(msg.rcpt_hops(), [("carol@" + DOM, "local")])
        # authd decided on AD: one good bind, one bad password, one refusal.
        alog = a.log()
        self.assertIn('event=auth_ok user="alice"', alog)
        self.assertIn('event=auth_failed user="alice"', alog)
        self.assertIn('event=auth_refused user="bob" reason="account disabled"', alog)


if __name__ == "__main__":
    unittest.main()
