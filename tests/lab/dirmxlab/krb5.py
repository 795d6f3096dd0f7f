"""An MIT Kerberos KDC for the lab (krb5kdc on 127.0.0.1, free port).

    kdc = KDC(lab)                                    # realm DIRMX.TEST
    kdc.add_principal("ldap/localhost")               # random key
    kdc.ktadd("ldap/localhost", lab.path("slapd.keytab"))
    kdc.add_principal("dirmx-svc", password="Svc!pw-1")
    kdc.ktadd("dirmx-svc", lab.path("svc.keytab"))     # keeps the password
    kdc.kinit("dirmx-svc", keytab=lab.path("svc.keytab"))
    subprocess.run([...], env=kdc.env())              # KRB5_CONFIG, KRB5CCNAME

Everything lives in <lab>/krb5-<realm>/: krb5.conf (clients: the realm's
only KDC is 127.0.0.1:<port>, no DNS, no reverse lookups), kdc.conf
(KRB5_KDC_PROFILE: the listen address, the database and its stash), the
database made with kdb5_util create -s, and the KDC's log. Principals are
managed with kadmin.local (no kadmind). krb5kdc runs in the foreground (-n)
and is stopped by PID.
"""

import os
import subprocess
import time

from .core import LabError, find_program, free_port, wait_tcp


class KDC:
    """MIT krb5kdc for one realm. Attributes: realm, port, dir, krb5_conf,
    kdc_conf, ccache, proc."""

    def __init__(self, lab, realm="DIRMX.TEST", master_password="Lab-Master!pw1",
                 host="127.0.0.1", port=None, domains=("localhost", ".dirmx.test"),
                 max_life="10h", start=True):
        self.lab = lab
        self.realm = realm.upper()
        self.host = host
        self.port = port or free_port(host, udp_too=True)
        self.dir = os.path.dirname(lab.path("krb5-" + self.realm.lower(), "x"))
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.ccache = os.path.join(self.dir, "ccache")
        self.db = os.path.join(self.dir, "principal")
        self.stash = os.path.join(self.dir, "stash")
        self.pidfile = os.path.join(self.dir, "krb5kdc.pid")
        self.proc = None
        self.krb5kdc = find_program("krb5kdc")
        self.kadmin_local = find_program("kadmin.local")
        self.kdb5_util = find_program("kdb5_util")
        self.kinit_bin = find_program("kinit")
        self._write_conf(domains, max_life)
        t0 = time.monotonic()
        self._run([self.kdb5_util, "create", "-s", "-r", self.realm, "-P", master_password],
                  "kdb5_util create")
        self.create_time = time.monotonic() - t0
        if start:
            self.start()

    def _write_conf(self, domains, max_life):
        hp = "%s:%d" % (self.host, self.port)
        with open(self.krb5_conf, "w") as f:
            f.write("[libdefaults]\n"
                    "\tdefault_realm = %(r)s\n"
                    "\tdns_lookup_realm = false\n"
                    "\tdns_lookup_kdc = false\n"
                    "\trdns = false\n"
                    "\tdns_canonicalize_hostname = false\n"
                    "\tudp_preference_limit = 0\n"
                    "[realms]\n"
                    "\t%(r)s = {\n\t\tkdc = %(hp)s\n\t}\n"
                    "[domain_realm]\n%(dr)s"
                    % {"r": self.realm, "hp": hp,
                       "dr": "".join("\t%s = %s\n" % (d, self.realm) for d in domains)})
        with open(self.kdc_conf, "w") as f:
            f.write("[kdcdefaults]\n"
                    "\tkdc_listen = %(hp)s\n"
                    "\tkdc_tcp_listen = %(hp)s\n"
                    "[realms]\n"
                    "\t%(r)s = {\n"
                    "\t\tdatabase_name = %(db)s\n"
                    "\t\tkey_stash_file = %(stash)s\n"
                    "\t\tacl_file = %(dir)s/kadm5.acl\n"
                    "\t\tmax_life = %(life)s\n"
                    "\t\tsupported_enctypes = aes256-cts-hmac-sha1-96:normal"
                    " aes128-cts-hmac-sha1-96:normal\n"
                    "\t}\n"
                    "[logging]\n"
                    "\tkdc = STDERR\n"
                    % {"hp": hp, "r": self.realm, "db": self.db, "stash": self.stash,
                       "dir": self.dir, "life": max_life})
        with open(os.path.join(self.dir, "kadm5.acl"), "w") as f:
            f.write("")

    def env(self, extra=None):
        """What a client (or a server reading a keytab) needs: KRB5_CONFIG,
        KRB5_KDC_PROFILE and KRB5CCNAME in the lab dir."""
        e = {"KRB5_CONFIG": self.krb5_conf, "KRB5_KDC_PROFILE": self.kdc_conf,
             "KRB5CCNAME": "FILE:" + self.ccache}
        if extra:
            e.update(extra)
        return e

    def _run(self, argv, what, input=None, check=True, env=None, timeout=60):
        full = dict(os.environ)
        full.update(self.env(env))
        r = subprocess.run(argv, input=input, capture_output=True, text=True, env=full,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise LabError("%s failed (exit %d): %s%s" % (what, r.returncode, r.stdout, r.stderr))
        return r

    def principal(self, name):
        return name if "@" in name else "%s@%s" % (name, self.realm)

    def kadmin(self, query):
        """Run one kadmin.local query; returns its output. kadmin.local
        reports some errors with exit status 0, so its stderr is checked."""
        r = self._run([self.kadmin_local, "-r", self.realm, "-q", query], "kadmin.local")
        errs = [l for l in r.stderr.splitlines()
                if l.strip() and not l.startswith("Authenticating as")
                and "no policy specified" not in l.lower()]
        if errs:
            raise LabError("kadmin.local %r: %s" % (query, "\n".join(errs)))
        return r.stdout

    def add_principal(self, name, password=None, options=()):
        """Create name@REALM with this password, or a random key when None.
        Returns the full principal name."""
        p = self.principal(name)
        opts = " ".join(options)
        if password is None:
            self.kadmin("addprinc -randkey %s %s" % (opts, p))
        else:
            if '"' in password:
                raise LabError("add_principal: no double quote in lab passwords")
            self.kadmin('addprinc -pw "%s" %s %s' % (password, opts, p))
        return p

    def ktadd(self, principal, keytab_path, norandkey=True):
        """Write principal's keys into keytab_path (appending). norandkey
        keeps the current keys, so a password principal keeps its password."""
        self.kadmin("ktadd -k %s %s %s" % (keytab_path, "-norandkey" if norandkey else "",
                                           self.principal(principal)))
        os.chmod(keytab_path, 0o600)
        return keytab_path

    def kinit(self, principal, keytab=None, password=None, ccache=None, check=True):
        """kinit from a keytab or a password; returns the CompletedProcess."""
        env = {"KRB5CCNAME": "FILE:" + ccache} if ccache else None
        p = self.principal(principal)
        if keytab:
            argv = [self.kinit_bin, "-k", "-t", keytab, p]
            inp = None
        else:
            argv = [self.kinit_bin, p]
            inp = (password or "") + "\n"
        return self._run(argv, "kinit " + p, input=inp, check=check, env=env)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=15.0):
        if self.alive():
            return
        self.proc = self.lab.spawn("krb5kdc-" + self.realm.lower(),
                                   [self.krb5kdc, "-n", "-r", self.realm, "-P", self.pidfile],
                                   env=self.env(), pidfile=self.pidfile)
        wait_tcp(self.host, self.port, timeout=timeout, proc=self.proc, what="krb5kdc")

    def stop(self):
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None
