"""A real Active Directory domain controller (Samba) in a network namespace.

    dc = SambaDC(lab)                       # AD.DIRMX.TEST, dc1.ad.dirmx.test, 127.0.0.10
    dc.run(["dig", "@127.0.0.10", "SRV", "_ldap._tcp.dc._msdcs.ad.dirmx.test"])
    dn = dc.add_user("alice", "Alice!Passw0rd", mail="alice@ad.dirmx.test",
                     proxy_addresses=["SMTP:alice@ad.dirmx.test", "smtp:al@ad.dirmx.test"])
    dc.search("(sAMAccountName=alice)", ["mail"])      # LDAPS, Administrator, lab CA
    dc.export_keytab("svc-dirmx@AD.DIRMX.TEST", lab.path("svc.keytab"))
    dc2 = dc.join_second_dc("127.0.0.11")   # dc2.ad.dirmx.test, same namespace
    dc.freeze(); ...; dc.thaw()

Everything runs inside a network namespace owned by the lab (NetNS): the DC
listens on its own 127.0.0.x address there, its DNS answers the domain's SRV
records, and clients run with dc.run() (or dc.netns.exec_argv() for spawn).
Programs run in the namespace resolve names through the DC's DNS (the
namespace's resolv.conf), so GSSAPI can use the DC's host name.

Provisioning takes ~6 s; the provisioned target directory is cached under
$DIRMX_LAB_CACHE (default /var/tmp/dirmx-lab-cache), keyed by a hash of the
parameters and the Samba version, and copied per run. A second DC joined to
a freshly started, unmodified first DC is cached as a pair the same way.

Facts this relies on are in shared/NOTES-samba-ad.md.
"""

import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

from .ca import lab_ca
from .core import LabError, freeze_pids
from .netns import NetNS

PYTHON = "/usr/bin/python3"  # Samba's Python modules live there only
SAMBA_TOOL = "/usr/bin/samba-tool"
CACHE_FORMAT = 4  # bump when what gets cached changes

UF_ACCOUNTDISABLE = 0x2
UF_PASSWD_NOTREQD = 0x20
UF_NORMAL_ACCOUNT = 0x200
UF_DONT_EXPIRE_PASSWD = 0x10000

# Run inside /usr/bin/python3: apply LDIF to the DC's sam.ldb directly
# (the way samba-tool does it), which is much faster than one samba-tool
# call per object. argv: smb.conf ldif|schema; LDIF on stdin. Records
# without a changetype are adds. "schema" allows schema changes and makes
# each record visible (schemaUpdateNow) before the next one.
_SAMDB_SCRIPT = r"""
import sys
import ldb
from samba.param import LoadParm
from samba.auth import system_session
from samba.samdb import SamDB
lp = LoadParm()
lp.load(sys.argv[1])
schema = sys.argv[2] == "schema"
if schema:
    lp.set("dsdb:schema update allowed", "true")
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
db.transaction_start()
try:
    for changetype, msg in db.parse_ldif(sys.stdin.read()):
        if changetype in (ldb.CHANGETYPE_NONE, ldb.CHANGETYPE_ADD):
            db.add(msg)
        elif changetype == ldb.CHANGETYPE_MODIFY:
            db.modify(msg)
        elif changetype == ldb.CHANGETYPE_DELETE:
            db.delete(msg.dn)
        else:
            raise SystemExit("unsupported changetype in %s" % msg.dn)
        if schema:
            db.set_schema_update_now()
    db.transaction_commit()
except BaseException:
    db.transaction_cancel()
    raise
"""

# Exchange's own attribute definitions (OIDs, syntaxes, ranges).
_EXCHANGE_ATTRS = [
    ("ms-Exch-Target-Address", "targetAddress", "1.2.840.113556.1.2.352",
     "2.5.5.4", "20", "1", "1123"),
    ("ms-Exch-Mail-Nickname", "mailNickname", "1.2.840.113556.1.2.447",
     "2.5.5.12", "64", "1", "64"),
]

# Exchange's delivery restrictions (issue 16), with Exchange's syntaxes:
# msExchRequireAuthToSendTo Boolean (2.5.5.8), msExchRecipLimit Integer
# (2.5.5.9), authOrig / unauthOrig / dLMemSubmitPerms / dLMemRejectPerms
# multi-valued Object(OR-Name) (2.5.5.7, oMSyntax 127, the OR-Name
# oMObjectClass). authOrig's OID is Exchange's (1.2.840.113556.1.2.129, as
# Samba's own dsdb syntax test declares it); the others' OIDs could not be
# checked here, so they are lab stand-ins under dirmx's arc (.3.N), which
# changes nothing authd reads. Exchange declares the four lists as forward
# links (authOrig: linkID 110); the lab leaves the links out, which changes
# nothing authd reads either.
_RESTRICT_ARC = "1.2.840.113556.1.8000.2554.58836.31139.37255.18437.35415.3930526.12277151.3."
_OR_NAME = ("2.5.5.7", "127", "VgYBAgULHQ==")
_EXCHANGE_RESTRICT_ATTRS = [
    # cn, lDAPDisplayName, OID, (syntax, oMSyntax, oMObjectClass), single
    ("ms-Exch-Require-Auth-To-Send-To", "msExchRequireAuthToSendTo", _RESTRICT_ARC + "1",
     ("2.5.5.8", "1", None), True),
    ("ms-Exch-Auth-Orig", "authOrig", "1.2.840.113556.1.2.129", _OR_NAME, False),
    ("ms-Exch-Unauth-Orig", "unauthOrig", _RESTRICT_ARC + "2", _OR_NAME, False),
    ("ms-Exch-DL-Mem-Submit-Perms", "dLMemSubmitPerms", _RESTRICT_ARC + "3", _OR_NAME, False),
    ("ms-Exch-DL-Mem-Reject-Perms", "dLMemRejectPerms", _RESTRICT_ARC + "4", _OR_NAME, False),
    ("ms-Exch-Recip-Limit", "msExchRecipLimit", _RESTRICT_ARC + "5", ("2.5.5.9", "2", None),
     True),
    # The size limits, in KB: Integer, single-valued, as Exchange has them.
    ("Deliv-Cont-Length", "delivContLength", _RESTRICT_ARC + "6", ("2.5.5.9", "2", None),
     True),
    ("Submission-Cont-Length", "submissionContLength", _RESTRICT_ARC + "7",
     ("2.5.5.9", "2", None), True),
    # Where a group's delivery reports go (its owner is AD's own managedBy).
    ("Report-To-Originator", "reportToOriginator", _RESTRICT_ARC + "8",
     ("2.5.5.8", "1", None), True),
    ("Report-To-Owner", "reportToOwner", _RESTRICT_ARC + "9", ("2.5.5.8", "1", None), True),
]


def samba_version():
    r = subprocess.run(["samba", "-V"], capture_output=True, text=True)
    return r.stdout.strip()


def cache_root():
    d = os.environ.get("DIRMX_LAB_CACHE") or "/var/tmp/dirmx-lab-cache"
    os.makedirs(d, exist_ok=True)
    return d


def _cache_key(kind, params):
    blob = json.dumps({"kind": kind, "format": CACHE_FORMAT, "samba": samba_version(),
                       "params": params}, sort_keys=True)
    return "samba-%s-%s" % (kind, hashlib.sha256(blob.encode()).hexdigest()[:16])


class _CacheLock:
    """flock on the cache directory, so parallel tests provision once."""

    def __enter__(self):
        self.f = open(os.path.join(cache_root(), ".lock"), "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()
        return False


CACHE_MAX_AGE = 20 * 86400  # re-provision now and then: nothing in AD ages well


def _cached(path):
    """Whether a usable cache entry is at path (a stale one is removed)."""
    if not os.path.isdir(path):
        return False
    if time.time() - os.stat(path).st_mtime > CACHE_MAX_AGE:
        shutil.rmtree(path, ignore_errors=True)
        return False
    return True


def _copytree(src, dst):
    # cp -a keeps the xattrs (sysvol NT ACLs) and modes Samba checks.
    r = subprocess.run(["cp", "-a", src, dst], capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError("cp -a %s %s: %s" % (src, dst, r.stderr))


def _children_map():
    kids = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                ppid = int(f.read().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(e))
    return kids


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def process_tree(pid):
    """pid and all its descendants (pid first)."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def unicode_pwd(password):
    """The unicodePwd value AD wants: the quoted password in UTF-16LE."""
    return base64.b64encode(('"%s"' % password).encode("utf-16-le")).decode()


def parse_ldif(text):
    """ldapsearch -LLL -o ldif-wrap=no output -> [(dn, {attr: [bytes]})].

    Attribute names keep their case as the server sent it; values are bytes
    (base64 ones decoded)."""
    entries = []
    cur = None
    for line in text.splitlines():
        if not line.strip():
            cur = None
            continue
        if line.startswith("#"):
            continue
        if line.startswith(" ") and cur is not None:
            continue  # wrapped lines are off (-o ldif-wrap=no)
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        if rest.startswith(":"):
            value = base64.b64decode(rest[1:].strip())
        else:
            value = rest[1:].encode() if rest.startswith(" ") else rest.encode()
        if name.lower() == "dn":
            cur = (value.decode(errors="replace"), {})
            entries.append(cur)
        elif cur is not None:
            cur[1].setdefault(name, []).append(value)
    return entries


class SambaDC:
    """One Samba AD DC. Attributes: realm, dns_domain, domain, ip, hostname,
    fqdn, base_dn, admin_password, netns, dir (its target directory),
    smb_conf, krb5_conf, ca_cert, pid (root process), proc."""

    def __init__(self, lab, realm="AD.DIRMX.TEST", domain="ADDIRMX", ip="127.0.0.10",
                 netns=None, hostname="dc1", admin_password="Admin!Passw0rd",
                 start=True, _joined_to=None):
        self.lab = lab
        self.realm = realm.upper()
        self.dns_domain = realm.lower()
        self.domain = domain.upper()
        self.ip = ip
        self.hostname = hostname.lower()
        self.fqdn = "%s.%s" % (self.hostname, self.dns_domain)
        self.base_dn = ",".join("DC=" + p for p in self.dns_domain.split("."))
        self.admin_password = admin_password
        self.admin_dn = "CN=Administrator,CN=Users," + self.base_dn
        self.first = _joined_to or self
        self.peers = [self]  # every DC of this domain started by this lab
        self.netns = netns or NetNS(lab)
        self.netns.add_addr(ip)
        self.dir = os.path.join(lab.dir, "samba-" + self.hostname)
        self.smb_conf = os.path.join(self.dir, "etc", "smb.conf")
        self.krb5_conf = os.path.join(lab.dir, "krb5-%s.conf" % self.dns_domain)
        self.ccache = os.path.join(lab.dir, "krb5cc-%s" % self.dns_domain)
        self.proc = None
        self.pid = None
        self.options = {}  # extra [global] settings (set_options)
        self._frozen = []
        self._dirty = False  # changed since it was started from the cache
        self.times = {}
        ca = lab_ca(lab)
        self.ca_cert = ca.cert
        self.tls_cert, self.tls_key = ca.server_cert(
            [self.fqdn, self.dns_domain, self.hostname], [ip], name="samba-" + self.hostname)
        if _joined_to is not None:
            return  # join_second_dc() fills self.dir
        self.netns.set_resolv([ip], search=self.dns_domain)
        self._write_krb5_conf([ip])
        self._provision_or_copy()
        if start:
            self.start()

    # ----- files -----------------------------------------------------------

    def _params(self):
        return {"realm": self.realm, "domain": self.domain, "ip": self.ip,
                "hostname": self.hostname, "admin_password": self.admin_password}

    def _write_krb5_conf(self, kdcs):
        kdc_lines = "".join("\t\tkdc = %s\n" % k for k in kdcs)
        text = ("[libdefaults]\n"
                "\tdefault_realm = %(realm)s\n"
                "\tdns_lookup_realm = false\n"
                "\tdns_lookup_kdc = false\n"
                "\trdns = false\n"
                "\tdns_canonicalize_hostname = false\n"
                "\tudp_preference_limit = 0\n"
                "[realms]\n"
                "\t%(realm)s = {\n%(kdcs)s"
                "\t\tadmin_server = %(first)s\n"
                "\t}\n"
                "[domain_realm]\n"
                "\t.%(dom)s = %(realm)s\n"
                "\t%(dom)s = %(realm)s\n"
                % {"realm": self.realm, "kdcs": kdc_lines, "first": kdcs[0],
                   "dom": self.dns_domain})
        with open(self.krb5_conf, "w") as f:
            f.write(text)

    def _write_smb_conf(self):
        t = self.dir
        text = """# written by dirmxlab.samba
[global]
	netbios name = {nb}
	realm = {realm}
	workgroup = {domain}
	server role = active directory domain controller
	interfaces = {ip}
	bind interfaces only = yes
	dns update command = /usr/sbin/samba_dnsupdate --current-ip={ip}
	binddns dir = {t}/bind-dns
	cache directory = {t}/cache
	lock directory = {t}
	private dir = {t}/private
	state directory = {t}/state
	pid directory = {t}/run
	ntp signd socket directory = {t}/ntp_signd
	winbindd socket directory = {t}/winbindd
	log file = {t}/log.%m
	log level = 1
	tls enabled = yes
	tls certfile = {cert}
	tls keyfile = {key}
	tls cafile = {ca}
{extra}[sysvol]
	path = {t}/state/sysvol
	read only = No
[netlogon]
	path = {t}/state/sysvol/{dom}/scripts
	read only = No
""".format(nb=self.hostname.upper(), realm=self.realm, domain=self.domain, ip=self.ip,
           t=t, cert=self.tls_cert, key=self.tls_key, ca=self.ca_cert, dom=self.dns_domain,
           extra="".join("\t%s = %s\n" % kv for kv in sorted(self.options.items())))
        os.makedirs(os.path.dirname(self.smb_conf), exist_ok=True)
        os.makedirs(os.path.join(t, "run"), exist_ok=True)
        with open(self.smb_conf, "w") as f:
            f.write(text)

    def _provision_or_copy(self):
        key = _cache_key("dc", self._params())
        cached = os.path.join(cache_root(), key)
        t0 = time.monotonic()
        with _CacheLock():
            if not _cached(cached):
                tmp = cached + ".tmp-%d" % os.getpid()
                shutil.rmtree(tmp, ignore_errors=True)
                os.makedirs(tmp)
                self._provision(os.path.join(tmp, "target"))
                os.rename(tmp, cached)
                self.times["provision"] = time.monotonic() - t0
            _copytree(os.path.join(cached, "target"), self.dir)
        self.times["prepare"] = time.monotonic() - t0
        self._write_smb_conf()

    def _provision(self, target):
        empty = self.lab.write("samba-empty.conf", "")
        argv = [PYTHON, SAMBA_TOOL, "domain", "provision", "-s", empty,
                "--targetdir=" + target, "--realm=" + self.realm, "--domain=" + self.domain,
                "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
                "--host-ip=" + self.ip, "--host-name=" + self.hostname,
                "--adminpass=" + self.admin_password,
                "--option=interfaces=" + self.ip, "--option=bind interfaces only=yes"]
        r = self.netns.run(argv, check=False, timeout=300)
        with open(self.lab.path("logs", "samba-provision.log"), "w") as f:
            f.write(r.stdout + r.stderr)
        if r.returncode != 0:
            raise LabError("samba-tool domain provision failed:\n%s" % (r.stdout + r.stderr)[-4000:])
        # smb.conf is written per run (paths, TLS); drop the provisioned one
        # and the host nameserver it copied into "dns forwarder".
        os.remove(os.path.join(target, "etc", "smb.conf"))

    # ----- processes -------------------------------------------------------

    def env(self, extra=None):
        """Environment for clients of this DC (use with run() / spawn)."""
        e = {"KRB5_CONFIG": self.krb5_conf, "KRB5CCNAME": "FILE:" + self.ccache,
             "LDAPTLS_CACERT": self.ca_cert, "LDAPTLS_REQCERT": "demand",
             "LDAPSASL_NOCANON": "on", "LDAPCONF": "/dev/null",
             "LDAPRC": "dirmx-lab-no-ldaprc",
             "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        if extra:
            e.update(extra)
        return e

    def run(self, argv, env=None, input=None, timeout=60, check=True, text=True):
        """Run a client command inside the DC's namespace with env()."""
        return self.netns.run(argv, env=self.env(env), input=input, timeout=timeout,
                              check=check, text=text)

    def samba_tool(self, *args, check=True, timeout=120):
        return self.run([PYTHON, SAMBA_TOOL] + list(args) + ["-s", self.smb_conf],
                        check=check, timeout=timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=60):
        if self.alive():
            return
        t0 = time.monotonic()
        pidfile = os.path.join(self.dir, "run", "samba.pid")
        if os.path.exists(pidfile):
            os.remove(pidfile)
        self.proc = self.lab.spawn(
            "samba-" + self.hostname,
            self.netns.exec_argv(["samba", "-F", "--debug-stdout", "-s", self.smb_conf]),
            env=self.env(), pidfile=pidfile)
        self.pid = self.proc.pid  # ip netns exec execs samba: same PID
        for port in (389, 636, 88, 53, 3268):
            self.netns.wait_tcp(self.ip, port, timeout=timeout, alive=self.alive,
                                what="samba %s (log: %s)" % (self.hostname, self._logname()))
            self.times["port%d" % port] = time.monotonic() - t0
        self._wait_dns(self.fqdn, "A", deadline=t0 + timeout)
        self._wait_ldaps(deadline=t0 + timeout)
        self.times["start"] = time.monotonic() - t0

    def _wait_ldaps(self, deadline):
        """Wait until an LDAPS search of the root DSE works: the port
        accepts before Samba's LDAP server completes a TLS handshake, and
        on a loaded machine a test's first LDAPS search then failed with
        "Can't contact LDAP server"."""
        while True:
            r = self.ldapsearch(base="", scope="base", auth="anonymous",
                                uri=self.ldap_uri(tls=True), check=False, timeout=20)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline or not self.alive():
                raise LabError("samba %s: LDAPS does not answer (log: %s): %s"
                               % (self.hostname, self._logname(), r.stderr.strip()))
            time.sleep(0.2)

    def _logname(self):
        return self.lab.path("logs", "samba-%s.log" % self.hostname)

    def _wait_dns(self, name, rtype, expect=None, server=None, deadline=None):
        """Wait until server's DNS answers name/rtype (containing expect)."""
        deadline = deadline or time.monotonic() + 60
        server = server or self.ip
        out = ""
        while time.monotonic() < deadline:
            out = self.dig(name, rtype, server=server)
            if out and (expect is None or expect in out):
                return out
            time.sleep(0.2)
        raise LabError("DNS on %s never answered %s %s with %r (last: %r)"
                       % (server, rtype, name, expect, out))

    def dig(self, name, rtype="A", server=None, short=True):
        argv = ["dig", "@" + (server or self.ip), "+time=2", "+tries=1", rtype, name]
        if short:
            argv.insert(1, "+short")
        return self.run(argv, check=False, timeout=15).stdout.strip()

    def set_options(self, **options):
        """Set smb.conf [global] options (underscores for spaces, None
        removes one) and restart the DC with them, e.g.
        set_options(ldap_server_require_strong_auth="allow_sasl_over_tls")."""
        for k, v in options.items():
            k = k.replace("_", " ")
            if v is None:
                self.options.pop(k, None)
            else:
                self.options[k] = v
        self.stop()
        self._write_smb_conf()
        self.start()

    def stop(self):
        """Stop the DC (SIGTERM to the root process; leftovers get SIGKILL)."""
        if self.proc is None:
            return
        self.thaw()
        tree = process_tree(self.pid)
        self.lab.stop(self.proc)
        # The children notice their parent is gone and exit by themselves.
        deadline = time.monotonic() + 10
        left = tree[1:]
        while left and time.monotonic() < deadline:
            left = [p for p in left if _running(p)]
            time.sleep(0.05)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None

    def freeze(self):
        """SIGSTOP the whole DC (root and every child): TCP connections are
        still accepted by the kernel, nothing answers."""
        if not self.alive():
            raise LabError("freeze(): %s is not running" % self.hostname)
        self._frozen = process_tree(self.pid)
        freeze_pids(self._frozen)

    def thaw(self):
        for pid in self._frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._frozen = []

    # ----- LDAP clients ----------------------------------------------------

    def ldap_uri(self, tls=True, host=None):
        return "%s://%s" % ("ldaps" if tls else "ldap", host or self.fqdn)

    def ldapsearch(self, filter="(objectClass=*)", attrs=(), base=None, scope="sub",
                   auth="simple", uri=None, extra=(), check=True, timeout=60, env=None):
        """Run ldapsearch in the namespace. auth: "simple" (Administrator,
        default LDAPS), "gssapi" (ticket in env()'s ccache, default ldap://
        fqdn) or "anonymous" (default ldap://fqdn)."""
        if uri is None:
            uri = self.ldap_uri(tls=(auth == "simple"))
        argv = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-H", uri]
        if auth == "simple":
            argv += ["-x", "-D", self.admin_dn, "-w", self.admin_password]
        elif auth == "gssapi":
            argv += ["-Y", "GSSAPI", "-N", "-Q"]
        elif auth == "anonymous":
            argv += ["-x"]
        else:
            raise LabError("ldapsearch: unknown auth %r" % auth)
        argv += list(extra)
        argv += ["-b", self.base_dn if base is None else base, "-s", scope, filter]
        argv += list(attrs)
        return self.run(argv, check=check, timeout=timeout, env=env)

    def search(self, filter="(objectClass=*)", attrs=(), **kw):
        """ldapsearch parsed: [(dn, {attr: [bytes]})]."""
        return parse_ldif(self.ldapsearch(filter, attrs, **kw).stdout)

    def kinit_keytab(self, principal, keytab, env=None):
        return self.run(["kinit", "-k", "-t", keytab, principal], env=env)

    # ----- directory content -----------------------------------------------

    def _samdb(self, op, ldif):
        self._dirty = True
        return self.run([PYTHON, "-c", _SAMDB_SCRIPT, self.smb_conf, op], input=ldif,
                        timeout=600)

    def add_ldif(self, ldif):
        """Apply ldif to this DC's sam.ldb in one transaction (fast: thousands
        of entries in seconds). Records without a changetype are adds;
        changetype modify/delete records work too."""
        self._samdb("ldif", ldif)

    modify_ldif = add_ldif

    def apply_schema_ldif(self, ldif, forest_dn_placeholder="DC=X"):
        """Apply a schema extension (ldifde form, e.g. schemas/dirmx-ad.ldif;
        its DC=X placeholder becomes this forest's DN) with schema updates
        allowed, then wait until LDAP serves the new schema."""
        if forest_dn_placeholder:
            ldif = ldif.replace("," + forest_dn_placeholder, "," + self.base_dn)
        self._samdb("schema", ldif)
        names = re.findall(r"(?mi)^lDAPDisplayName:\s*(\S+)", ldif)
        if not names:
            return
        # The running samba reloads its schema when it sees the change.
        schema_dn = "CN=Schema,CN=Configuration," + self.base_dn
        flt = "(|%s)" % "".join("(lDAPDisplayName=%s)" % n for n in names)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            res = self.search(flt, ["lDAPDisplayName"], base=schema_dn, scope="one")
            if len(res) >= len(set(n.lower() for n in names)):
                return
            time.sleep(0.2)
        raise LabError("schema extension not visible over LDAP: %s" % names)

    def user_dn(self, name, container=None):
        return "CN=%s,%s" % (name, container or "CN=Users," + self.base_dn)

    def user_ldif(self, name, password, mail=None, proxy_addresses=(), disabled=False,
                  container=None, upn=None, attrs=None):
        """The LDIF add record of a user (for add_ldif in bulk). password
        None: no password (UF_PASSWD_NOTREQD): ~5 ms per user instead of
        ~25 ms, since Samba derives Kerberos keys from every password."""
        uac = UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD | (UF_ACCOUNTDISABLE if disabled else 0)
        if password is None:
            uac |= UF_PASSWD_NOTREQD
        lines = ["dn: " + self.user_dn(name, container),
                 "objectClass: user",
                 "sAMAccountName: " + name,
                 "userPrincipalName: " + (upn or "%s@%s" % (name, self.dns_domain)),
                 "userAccountControl: %d" % uac]
        if password is not None:
            lines.append("unicodePwd:: " + unicode_pwd(password))
        if mail:
            lines.append("mail: " + mail)
        lines += ["proxyAddresses: " + a for a in proxy_addresses]
        for k, vs in (attrs or {}).items():
            for v in ([vs] if isinstance(vs, str) else vs):
                lines.append("%s: %s" % (k, v))
        return "\n".join(lines) + "\n\n"

    def add_user(self, name, password, mail=None, proxy_addresses=(), disabled=False,
                 container=None, upn=None, attrs=None):
        """Create an enabled (or disabled) user whose password never expires.
        Returns its DN."""
        self.add_ldif(self.user_ldif(name, password, mail, proxy_addresses, disabled,
                                     container, upn, attrs))
        return self.user_dn(name, container)

    def add_group(self, name, members=(), mail=None, proxy_addresses=(), container=None,
                  group_type=-2147483646, attrs=None):
        """A group (default: global security group; -2147483640 is universal
        security, 2 global distribution, 8 universal distribution) with the
        given member DNs. Returns its DN."""
        dn = "CN=%s,%s" % (name, container or "CN=Users," + self.base_dn)
        lines = ["dn: " + dn, "objectClass: group", "sAMAccountName: " + name,
                 "groupType: %d" % group_type]
        if mail:
            lines.append("mail: " + mail)
        lines += ["proxyAddresses: " + a for a in proxy_addresses]
        lines += ["member: " + m for m in members]
        for k, vs in (attrs or {}).items():
            for v in ([vs] if isinstance(vs, str) else vs):
                lines.append("%s: %s" % (k, v))
        self.add_ldif("\n".join(lines) + "\n\n")
        return dn

    def add_contact(self, name, mail=None, target_address=None, proxy_addresses=(),
                    container=None, attrs=None):
        """A contact (targetAddress needs add_exchange_schema()). Returns its DN."""
        dn = "CN=%s,%s" % (name, container or "CN=Users," + self.base_dn)
        lines = ["dn: " + dn, "objectClass: contact"]
        if mail:
            lines.append("mail: " + mail)
        if target_address:
            lines.append("targetAddress: " + target_address)
        lines += ["proxyAddresses: " + a for a in proxy_addresses]
        for k, vs in (attrs or {}).items():
            for v in ([vs] if isinstance(vs, str) else vs):
                lines.append("%s: %s" % (k, v))
        self.add_ldif("\n".join(lines) + "\n\n")
        return dn

    def add_ou(self, name, parent=None):
        dn = "OU=%s,%s" % (name, parent or self.base_dn)
        self.add_ldif("dn: %s\nobjectClass: organizationalUnit\nou: %s\n\n" % (dn, name))
        return dn

    def create_service_account(self, name, password, spns=()):
        """A user for a daemon to bind as (password never expires), with
        optional servicePrincipalNames. Returns its DN."""
        attrs = {"servicePrincipalName": list(spns)} if spns else None
        return self.add_user(name, password, attrs=attrs)

    def export_keytab(self, principal, path):
        """Keys of principal (name@REALM or an SPN) into keytab path."""
        if "@" not in principal:
            principal += "@" + self.realm
        if os.path.exists(path):
            os.remove(path)
        self.samba_tool("domain", "exportkeytab", path, "--principal=" + principal)
        os.chmod(path, 0o600)
        return path

    def set_password_policy(self, lockout_threshold=None, observation_window=None,
                            lockout_duration=None, complexity=None, min_pwd_age=None,
                            max_pwd_age=None, history_length=None, min_pwd_length=None):
        """samba-tool domain passwordsettings set (windows/durations in minutes,
        ages in days; complexity True/False)."""
        args = []
        for opt, v in (("--account-lockout-threshold", lockout_threshold),
                       ("--reset-account-lockout-after", observation_window),
                       ("--account-lockout-duration", lockout_duration),
                       ("--min-pwd-age", min_pwd_age), ("--max-pwd-age", max_pwd_age),
                       ("--history-length", history_length),
                       ("--min-pwd-length", min_pwd_length)):
            if v is not None:
                args.append("%s=%s" % (opt, v))
        if complexity is not None:
            args.append("--complexity=" + ("on" if complexity else "off"))
        if not args:
            return
        self._dirty = True
        self.samba_tool("domain", "passwordsettings", "set", *args)

    def add_exchange_schema(self):
        """Add Exchange's targetAddress and mailNickname attributes and let
        every mail recipient (user, contact, group: they all carry the
        mailRecipient auxiliary class) hold them. Idempotent."""
        schema_dn = "CN=Schema,CN=Configuration," + self.base_dn
        have = self.ldapsearch("(|(lDAPDisplayName=targetAddress)(lDAPDisplayName=mailNickname))",
                               ["lDAPDisplayName"], base=schema_dn, scope="one").stdout
        records = []
        for cn, ldap_name, oid, syntax, om, lo, hi in _EXCHANGE_ATTRS:
            if ("lDAPDisplayName: %s" % ldap_name) in have:
                continue
            records.append("\n".join([
                "dn: CN=%s,%s" % (cn, schema_dn),
                "objectClass: top", "objectClass: attributeSchema",
                "cn: " + cn, "attributeID: " + oid, "lDAPDisplayName: " + ldap_name,
                "adminDisplayName: " + cn, "attributeSyntax: " + syntax,
                "oMSyntax: " + om, "isSingleValued: TRUE",
                "rangeLower: " + lo, "rangeUpper: " + hi,
                "searchFlags: 1", "isMemberOfPartialAttributeSet: TRUE"]) + "\n")
        if not records:
            return
        mod = ["dn: CN=Mail-Recipient,%s" % schema_dn, "changetype: modify", "add: mayContain"]
        mod += ["mayContain: " + a[1] for a in _EXCHANGE_ATTRS
                if ("lDAPDisplayName: %s" % a[1]) not in have]
        records.append("\n".join(mod + ["-"]) + "\n")
        self.apply_schema_ldif("\n".join(records), forest_dn_placeholder=None)

    def add_exchange_restrictions(self):
        """Add Exchange's delivery restriction attributes
        (_EXCHANGE_RESTRICT_ATTRS) and let every mail recipient hold them.
        Idempotent."""
        schema_dn = "CN=Schema,CN=Configuration," + self.base_dn
        have = self.ldapsearch("(|%s)" % "".join(
            "(lDAPDisplayName=%s)" % a[1] for a in _EXCHANGE_RESTRICT_ATTRS),
            ["lDAPDisplayName"], base=schema_dn, scope="one").stdout
        new = [a for a in _EXCHANGE_RESTRICT_ATTRS
               if ("lDAPDisplayName: %s" % a[1]) not in have]
        if not new:
            return
        records = []
        for cn, ldap_name, oid, (syntax, om, om_class), single in new:
            lines = ["dn: CN=%s,%s" % (cn, schema_dn),
                     "objectClass: top", "objectClass: attributeSchema",
                     "cn: " + cn, "attributeID: " + oid, "lDAPDisplayName: " + ldap_name,
                     "adminDisplayName: " + cn, "attributeSyntax: " + syntax,
                     "oMSyntax: " + om, "isSingleValued: " + ("TRUE" if single else "FALSE"),
                     "searchFlags: 0", "isMemberOfPartialAttributeSet: TRUE"]
            if om_class:
                lines.append("oMObjectClass:: " + om_class)
            records.append("\n".join(lines) + "\n")
        mod = ["dn: CN=Mail-Recipient,%s" % schema_dn, "changetype: modify", "add: mayContain"]
        mod += ["mayContain: " + a[1] for a in new]
        records.append("\n".join(mod + ["-"]) + "\n")
        self.apply_schema_ldif("\n".join(records), forest_dn_placeholder=None)

    # ----- the second DC ---------------------------------------------------

    def join_second_dc(self, ip="127.0.0.11", hostname="dc2", timeout=120):
        """Join a second DC into this domain (same namespace), start it and
        wait until it serves LDAP and both DCs' SRV records answer. Returns
        the new SambaDC. ~10-15 s, or ~3 s from the pair cache (used when this
        DC was started from the cache and not modified since)."""
        t0 = time.monotonic()
        dc2 = SambaDC(self.lab, realm=self.realm, domain=self.domain, ip=ip,
                      netns=self.netns, hostname=hostname,
                      admin_password=self.admin_password, _joined_to=self)
        dc2.krb5_conf = self.krb5_conf
        dc2.ccache = self.ccache
        self.peers.append(dc2)
        dc2.peers = self.peers
        ips = [d.ip for d in self.peers]
        pair_params = {"first": self._params(), "second": dc2._params()}
        cached = os.path.join(cache_root(), _cache_key("pair", pair_params))
        use_cache = not self._dirty
        with _CacheLock():
            if use_cache and _cached(cached):
                self.stop()
                shutil.rmtree(self.dir)
                _copytree(os.path.join(cached, "dc1"), self.dir)
                _copytree(os.path.join(cached, "dc2"), dc2.dir)
                self._write_smb_conf()
                dc2._write_smb_conf()
                self.start()
                dc2.start()
                self.times["pair_from_cache"] = time.monotonic() - t0
            else:
                self._join(dc2)
                dc2._write_smb_conf()
                dc2.start()
                dc2._wait_registered()
                self._pull_own_spns(dc2)
                self.times["join"] = time.monotonic() - t0
                if use_cache:
                    self.stop()
                    dc2.stop()
                    tmp = cached + ".tmp-%d" % os.getpid()
                    shutil.rmtree(tmp, ignore_errors=True)
                    os.makedirs(tmp)
                    _copytree(self.dir, os.path.join(tmp, "dc1"))
                    _copytree(dc2.dir, os.path.join(tmp, "dc2"))
                    for d in ("dc1", "dc2"):
                        shutil.rmtree(os.path.join(tmp, d, "run"), ignore_errors=True)
                    os.rename(tmp, cached)
                    self.start()
                    dc2.start()
        self._dirty = True  # a later join must not reuse a two-DC snapshot
        self.netns.set_resolv(ips, search=self.dns_domain)
        self._write_krb5_conf(ips)
        dc2._wait_registered()
        self._wait_dns("_ldap._tcp.dc._msdcs." + self.dns_domain, "SRV", expect=dc2.fqdn)
        self.times["second_dc"] = time.monotonic() - t0
        return dc2

    def _pull_own_spns(self, dc2, timeout=60):
        """dc2 adds its own SPNs (ldap/dc2..., samba_spnupdate) to its
        database after the join; until they replicate to this DC, this
        DC's KDC answers "Server not found in Kerberos database" for
        ldap/dc2 and GSSAPI to dc2 fails. Wait for them on dc2 and pull
        them here, so the cached pair holds them on both DCs."""
        want = ("ldap/%s" % dc2.fqdn).encode().lower()
        deadline = time.monotonic() + timeout
        while True:
            res = dc2.search("(sAMAccountName=%s$)" % dc2.hostname.upper(),
                             ["servicePrincipalName"], uri=dc2.ldap_uri())
            spns = [v.lower() for v in res[0][1].get("servicePrincipalName", [])] if res else []
            if want in spns:
                break
            if time.monotonic() > deadline:
                raise LabError("%s never registered its ldap/ SPN" % dc2.hostname)
            time.sleep(0.5)
        self.samba_tool("drs", "replicate", self.fqdn, dc2.fqdn, self.base_dn,
                        "-U", "Administrator%" + self.admin_password)

    def _join(self, dc2):
        empty = self.lab.write("samba-empty.conf", "")
        argv = [PYTHON, SAMBA_TOOL, "domain", "join", self.dns_domain, "DC",
                "-s", empty, "--targetdir=" + dc2.dir,
                "--server=" + self.fqdn,
                "-U", "Administrator%" + self.admin_password,
                "--realm=" + self.realm, "--dns-backend=SAMBA_INTERNAL",
                "--option=netbios name=" + dc2.hostname.upper(),
                "--option=interfaces=" + dc2.ip, "--option=bind interfaces only=yes"]
        r = self.run(argv, check=False, timeout=300)
        with open(self.lab.path("logs", "samba-join-%s.log" % dc2.hostname), "w") as f:
            f.write(r.stdout + r.stderr)
        if r.returncode != 0:
            raise LabError("samba-tool domain join failed:\n%s" % (r.stdout + r.stderr)[-4000:])
        os.remove(dc2.smb_conf)

    def _wait_registered(self, timeout=60):
        """Wait until this DC's SRV record answers on its own DNS."""
        self._wait_dns("_ldap._tcp.dc._msdcs." + self.dns_domain, "SRV", expect=self.fqdn,
                       deadline=time.monotonic() + timeout)
