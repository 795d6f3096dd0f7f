"""A real OpenLDAP slapd on loopback, with dirmx's schema and lab data.

    lab = Lab("ldap")
    ldif, info = ldapdata.generate(users=2000)
    s = Slapd(lab, data=ldif)          # slapadd offline, then start
    s.uri(), s.ldaps_uri(), s.ldapi_uri()
    s.svc_dn, s.svc_pw                 # the read-only bind account dirmx uses
    s.search("(mail=user00001@dirmx.test)", ["mailHost"])
    s.stop(); s.start()                # same data, same ports
    s.freeze(); s.thaw()               # SIGSTOP / SIGCONT: a DC that hangs
    s.searches_count()                 # SRCH operations seen so far

Each instance lives in <lab>/<name>/: slapd.d (cn=config built with
slapadd -n0 from a generated LDIF, which includes core, cosine,
inetorgperson, nis, misc and the repository's schemas/dirmx.ldif), db/
(mdb), and the ldapi socket. slapd runs in the foreground with -d stats, so
<lab>/logs/<name>.log holds one "SRCH base=..." line per search.

Access: rootdn (cn=admin,<suffix>) can do anything; the service account
cn=dirmx-svc,ou=services,<suffix> and every bound user (as in AD) read
everything but passwords; anonymous sees only the root DSE and the schema;
userPassword is usable for binds only. Over ldapi, uid 0 is manager of
cn=config (modify_config). A TLS client certificate with subject
CN=dirmx-svc maps to the service account (SASL EXTERNAL).
"""

import os
import signal
import socket
import subprocess
import time
import urllib.parse

from .ca import lab_ca
from .core import LabError, find_program, free_port, freeze_pids, source_dir
from .ldapdata import ssha

SYSTEM_SCHEMAS = ("core", "cosine", "inetorgperson", "nis", "misc")
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"


def _rdn_entry(suffix):
    """The suffix entry for dc=/o=/ou= suffixes."""
    rdn = suffix.split(",", 1)[0]
    attr, _, value = rdn.partition("=")
    attr = attr.strip().lower()
    if attr == "dc":
        return [("objectClass", ["dcObject", "organization"]), ("dc", value), ("o", value)]
    if attr == "o":
        return [("objectClass", "organization"), ("o", value)]
    if attr == "ou":
        return [("objectClass", "organizationalUnit"), ("ou", value)]
    raise LabError("Slapd: unsupported suffix %r (use dc=, o= or ou=)" % suffix)


def _ldif_entry(dn, attrs):
    lines = ["dn: " + dn]
    for name, values in attrs:
        for v in ([values] if isinstance(values, str) else values):
            lines.append("%s: %s" % (name, v))
    return "\n".join(lines) + "\n"


def parse_ldif(text):
    """Entries of ldapsearch -LLL -o ldif-wrap=no output: a list of dicts
    {"dn": dn, attr: [values]} (base64 values decoded, attribute names as
    returned)."""
    import base64
    entries = []
    for block in text.strip().split("\n\n"):
        entry = None
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
            else:
                value = value[1:] if value.startswith(" ") else value
            if name == "dn":
                entry = {"dn": value}
                entries.append(entry)
            elif entry is not None:
                entry.setdefault(name, []).append(value)
    return entries


class Slapd:
    """One slapd instance; several may run in one lab (own dir, own ports)."""

    def __init__(self, lab, suffix="dc=dirmx,dc=test", tls=True, data=None, name=None,
                 port=None, ldaps_port=None, ca=None, server_names=None,
                 root_pw="lab-root-secret", svc_pw="lab-svc-secret",
                 size_limit=500, security=None, extra_config="", start=True,
                 start_timeout=20.0, syncprov=True, env=None):
        """data: LDIF text loaded offline with slapadd (fast for big sets).
        ca: the CA that signs the server certificate (default: the lab's).
        server_names: DNS names in the certificate (localhost and this
        machine's name are always in, and IP 127.0.0.1).
        size_limit: olcSizeLimit for non-root binds (OpenLDAP's default 500).
        security: an olcSecurity value, e.g. "simple_bind=128".
        extra_config: LDIF appended to the generated cn=config.
        syncprov: the syncprov overlay (RFC 4533 provider, with a session
        log) on the database, as most OpenLDAP deployments have it.
        env: more environment for slapd (KRB5_KTNAME, KRB5_CONFIG for
        GSSAPI).
        """
        self.lab = lab
        self.suffix = suffix
        self.tls = tls
        if name is None:
            n = 1
            while os.path.exists(os.path.join(lab.dir, "slapd%d" % n)):
                n += 1
            name = "slapd%d" % n
        self.name = name
        self.dir = os.path.dirname(lab.path(name, "x"))
        self.confdir = os.path.join(self.dir, "slapd.d")
        self.dbdir = os.path.join(self.dir, "db")
        self.ldapi_path = os.path.join(self.dir, "ldapi")
        self.port = port or free_port()
        self.ldaps_port = (ldaps_port or free_port()) if tls else None
        self.root_dn = "cn=admin," + suffix
        self.root_pw = root_pw
        self.svc_dn = "cn=dirmx-svc,ou=services," + suffix
        self.svc_pw = svc_pw
        self.size_limit = size_limit
        self.syncprov = syncprov
        self.env = env
        self.proc = None
        self.ca = None
        self.cert = self.key = None
        if tls:
            self.ca = ca or lab_ca(lab)
            # libldap checks "localhost" against the machine's FQDN.
            names = ["localhost"]
            for n in list(server_names or []) + [socket.getfqdn(), socket.gethostname()]:
                if n and n not in names:
                    names.append(n)
            self.cert, self.key = self.ca.server_cert(names, ["127.0.0.1"],
                                                      name="%s-server" % name)
        self.slapd = find_program("slapd")
        self.slapadd = find_program("slapadd")
        self._write_config(security, extra_config)
        self._load(self._base_ldif(), "base")
        if data:
            self._load(data, "data")
        if start:
            self.start(timeout=start_timeout)

    # -- set-up ----------------------------------------------------------
    def _write_config(self, security, extra_config):
        os.makedirs(self.confdir, exist_ok=True)
        os.makedirs(self.dbdir, exist_ok=True)
        g = ["dn: cn=config", "objectClass: olcGlobal", "cn: config",
             "olcPidFile: %s/slapd.pid" % self.dir,
             "olcArgsFile: %s/slapd.args" % self.dir,
             "olcLogLevel: none",  # -d stats logs to stderr; no syslog here
             'olcAuthzRegexp: {0}"^cn=dirmx-svc$" "%s"' % self.svc_dn]
        if self.tls:
            g += ["olcTLSCACertificateFile: %s" % self.ca.cert,
                  "olcTLSCertificateFile: %s" % self.cert,
                  "olcTLSCertificateKeyFile: %s" % self.key,
                  "olcTLSVerifyClient: try"]
        if security:
            g.append("olcSecurity: %s" % security)
        parts = ["\n".join(g) + "\n",
                 "dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n"
                 "olcModulePath: %s\nolcModuleLoad: {0}back_mdb\n"
                 "olcModuleLoad: {1}syncprov\n" % MODULE_DIR,
                 "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n"]
        schemas = [os.path.join(SCHEMA_DIR, s + ".ldif") for s in SYSTEM_SCHEMAS]
        schemas.append(os.path.join(source_dir(), "schemas", "dirmx.ldif"))
        for s in schemas:
            if not os.path.exists(s):
                raise LabError("Slapd: schema %s missing" % s)
            parts.append("include: file://%s\n" % s)
        peercred_root = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
        parts.append("dn: olcDatabase={-1}frontend,cn=config\n"
                     "objectClass: olcDatabaseConfig\nobjectClass: olcFrontendConfig\n"
                     "olcDatabase: {-1}frontend\n"
                     "olcAccess: {0}to dn.base=\"\" by * read\n"
                     "olcAccess: {1}to dn.base=\"cn=Subschema\" by * read\n")
        parts.append("dn: olcDatabase={0}config,cn=config\n"
                     "objectClass: olcDatabaseConfig\nolcDatabase: {0}config\n"
                     "olcAccess: {0}to * by dn.exact=\"%s\" manage by * none\n"
                     % peercred_root)
        svc = self.svc_dn
        parts.append("\n".join([
            "dn: olcDatabase={1}mdb,cn=config",
            "objectClass: olcDatabaseConfig", "objectClass: olcMdbConfig",
            "olcDatabase: {1}mdb",
            "olcSuffix: %s" % self.suffix,
            "olcDbDirectory: %s" % self.dbdir,
            "olcRootDN: %s" % self.root_dn,
            "olcRootPW: %s" % ssha(self.root_pw, "root"),
            "olcSizeLimit: %d" % self.size_limit,
            "olcDbMaxSize: 4294967296",
            "olcDbIndex: objectClass eq",
            "olcDbIndex: uid,cn,mail,mailLocalAddress,mailRoutingAddress eq",
            "olcDbIndex: member,uniqueMember eq",
            "olcDbIndex: dirmxDomainName,dirmxForwardTo eq",
            "olcDbIndex: entryUUID eq",
            'olcAccess: {0}to attrs=userPassword by anonymous auth by self =w by * none',
            'olcAccess: {1}to * by dn.exact="%s" read by users read by * none' % svc,
            self._svc_limits(),
        ]) + "\n")
        if self.syncprov:
            # What authd's change follower (syncrepl) talks to; the session
            # log lets it resume, deletions included, after a reconnect.
            parts.append("\n".join([
                "dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config",
                "objectClass: olcOverlayConfig", "objectClass: olcSyncProvConfig",
                "olcOverlay: {0}syncprov",
                "olcSpCheckpoint: 100 10",
                "olcSpSessionLog: 10000",
            ]) + "\n")
        if extra_config:
            parts.append(extra_config.strip() + "\n")
        path = os.path.join(self.dir, "config.ldif")
        with open(path, "w") as f:
            f.write("\n".join(parts))
        self._run([self.slapadd, "-n0", "-F", self.confdir, "-l", path], "slapadd -n0")

    def _base_ldif(self):
        return "\n".join([
            _ldif_entry(self.suffix, _rdn_entry(self.suffix)),
            _ldif_entry("ou=services," + self.suffix,
                        [("objectClass", "organizationalUnit"), ("ou", "services")]),
            _ldif_entry(self.svc_dn, [("objectClass", ["organizationalRole",
                                                       "simpleSecurityObject"]),
                                      ("cn", "dirmx-svc"),
                                      ("description", "dirmx authd bind account"),
                                      ("userPassword", ssha(self.svc_pw, "svc"))]),
        ])

    def _load(self, ldif, what):
        if self.proc is not None and self.proc.poll() is None:
            raise LabError("Slapd: offline load while %s is running" % self.name)
        path = os.path.join(self.dir, "%s.ldif" % what)
        with open(path, "w") as f:
            f.write(ldif)
        self._run([self.slapadd, "-q", "-F", self.confdir, "-b", self.suffix, "-l", path],
                  "slapadd (%s)" % what)

    def load_offline(self, ldif):
        """Add LDIF with slapadd while stopped (much faster than add_ldif)."""
        self._load(ldif, "extra-%d" % int(time.monotonic() * 1000))

    @staticmethod
    def _run(argv, what, input_text=None, env=None, timeout=120):
        r = subprocess.run(argv, input=input_text, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env, timeout=timeout)
        if r.returncode != 0:
            raise LabError("%s failed (exit %d): %s" % (what, r.returncode, r.stdout[-3000:]))
        return r.stdout

    # -- addresses ------------------------------------------------------
    def uri(self):
        return "ldap://127.0.0.1:%d/" % self.port

    def ldaps_uri(self):
        if not self.tls:
            raise LabError("Slapd %s has no TLS" % self.name)
        return "ldaps://127.0.0.1:%d/" % self.ldaps_port

    def ldapi_uri(self):
        return "ldapi://" + urllib.parse.quote(self.ldapi_path, safe="")

    def log_path(self):
        return self.lab.path("logs", self.name + ".log")

    def log_tail(self, n=30):
        return "\n".join(self.lab.log_text(self.name).splitlines()[-n:])

    # -- life cycle -----------------------------------------------------
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=20.0):
        """Start (or restart) on the same data and ports; wait until it answers."""
        if self.running():
            raise LabError("Slapd %s already running" % self.name)
        urls = [self.uri()]
        if self.tls:
            urls.append(self.ldaps_uri())
        urls.append(self.ldapi_uri())
        argv = [self.slapd, "-d", "stats", "-F", self.confdir, "-h", " ".join(urls)]
        mark = len(self.lab.log_text(self.name))
        self.proc = self.lab.spawn(self.name, argv, env=self.env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise LabError("slapd %s exited with status %s at start-up:\n%s"
                               % (self.name, self.proc.returncode,
                                  self.lab.log_text(self.name)[mark:][-3000:]))
            if os.path.exists(self.ldapi_path) and self._probe():
                if self.proc.poll() is None:
                    return
            if time.monotonic() > deadline:
                self.lab.stop(self.proc)
                raise LabError("slapd %s did not answer within %.0fs:\n%s"
                               % (self.name, timeout,
                                  self.lab.log_text(self.name)[mark:][-3000:]))
            time.sleep(0.05)

    def _probe(self):
        r = subprocess.run([find_program("ldapsearch"), "-x", "-LLL", "-H", self.ldapi_uri(),
                            "-s", "base", "-b", "", "-o", "nettimeout=2", "1.1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=10)
        return r.returncode == 0

    def stop(self, sig=signal.SIGTERM):
        """Stop by PID (SIGTERM: clean shutdown; SIGKILL: a crash)."""
        if self.proc is not None:
            self.lab.stop(self.proc, sig=sig)

    def freeze(self):
        """SIGSTOP: the server keeps its sockets but answers nothing."""
        if not self.running():
            raise LabError("Slapd %s is not running" % self.name)
        freeze_pids([self.proc.pid])

    def thaw(self):
        if not self.running():
            raise LabError("Slapd %s is not running" % self.name)
        os.kill(self.proc.pid, signal.SIGCONT)

    def searches_count(self):
        """SRCH operations in the log since the instance was made (restarts
        included, start-up probes too: compare two counts)."""
        return sum(1 for line in self.lab.log_text(self.name).splitlines()
                   if " SRCH base=" in line)

    # -- client helpers -------------------------------------------------
    def client_env(self, ca_file=None):
        """Environment for OpenLDAP's command-line tools: no system or user
        ldap.conf (LDAPNOINIT would also drop the LDAPTLS_* variables)."""
        env = dict(os.environ)
        env.pop("LDAPNOINIT", None)
        env["LDAPCONF"] = "/dev/null"
        env["LDAPRC"] = "dirmx-lab-no-ldaprc"
        if self.tls or ca_file:
            env["LDAPTLS_CACERT"] = ca_file or self.ca.cert
            env["LDAPTLS_REQCERT"] = "demand"
        return env

    def add_ldif(self, text):
        """ldapadd as rootdn over ldapi (for small changes while running)."""
        return self._run([find_program("ldapadd"), "-x", "-H", self.ldapi_uri(),
                          "-D", self.root_dn, "-w", self.root_pw], "ldapadd", text,
                         self.client_env())

    def modify_ldif(self, text):
        """ldapmodify (changetype records) as rootdn over ldapi."""
        return self._run([find_program("ldapmodify"), "-x", "-H", self.ldapi_uri(),
                          "-D", self.root_dn, "-w", self.root_pw], "ldapmodify", text,
                         self.client_env())

    def modify_config(self, text):
        """ldapmodify on cn=config as uid 0 over ldapi (SASL EXTERNAL)."""
        return self._run([find_program("ldapmodify"), "-Q", "-Y", "EXTERNAL",
                          "-H", self.ldapi_uri()], "ldapmodify cn=config", text,
                         self.client_env())

    def db_config_dn(self):
        """The cn=config entry of the data, for modify_config()
        (olcSizeLimit, olcLimits, olcAccess...)."""
        return "olcDatabase={1}mdb,cn=config"

    def _svc_limits(self):
        # As AD: at most size_limit entries per page or unpaged search, and
        # no limit on the total of a paged search.
        return ('olcLimits: {0}dn.exact="%s" size.soft=%d size.hard=%d '
                'size.prtotal=unlimited' % (self.svc_dn, self.size_limit, self.size_limit))

    def set_size_limit(self, n):
        """Change the per-search/per-page entry limit while running."""
        self.size_limit = n
        self.modify_config("dn: %s\nchangetype: modify\nreplace: olcSizeLimit\n"
                           "olcSizeLimit: %d\n-\nreplace: olcLimits\n%s\n"
                           % (self.db_config_dn(), n, self._svc_limits()))

    def search(self, filt, attrs=(), base=None, scope="sub", bind="svc", uri=None,
               starttls=False, timeout=10):
        """ldapsearch; bind is "svc", "root", "anon" or (dn, password).
        Returns parse_ldif() entries; raises LabError on an LDAP error."""
        argv = [find_program("ldapsearch"), "-LLL", "-o", "ldif-wrap=no",
                "-o", "nettimeout=%d" % timeout, "-l", str(timeout),
                "-H", uri or self.uri(), "-b", base or self.suffix, "-s", scope]
        if bind == "svc":
            argv += ["-x", "-D", self.svc_dn, "-w", self.svc_pw]
        elif bind == "root":
            argv += ["-x", "-D", self.root_dn, "-w", self.root_pw]
        elif bind == "anon":
            argv += ["-x"]
        else:
            argv += ["-x", "-D", bind[0], "-w", bind[1]]
        if starttls:
            argv.append("-ZZ")
        argv.append(filt)
        argv += list(attrs)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.client_env(), timeout=timeout + 5)
        if r.returncode not in (0, 4):  # 4: size limit exceeded, partial result
            raise LabError("ldapsearch %s failed (exit %d): %s"
                           % (filt, r.returncode, r.stderr.strip()))
        return parse_ldif(r.stdout)
