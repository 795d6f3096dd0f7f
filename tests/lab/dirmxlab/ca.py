"""Throwaway certificate authorities for the lab, made with GnuTLS certtool.

    ca = CA(lab)                                   # <lab>/ca-ca/ca.pem
    cert, key = ca.server_cert(["localhost", "dc1.dirmx.test"], ["127.0.0.1"])
    cert, key = ca.client_cert("dirmx-svc")        # for SASL EXTERNAL
    other = CA(lab, "rogue")                       # unrelated: must be refused

Keys are ECDSA P-256 (fast to make). Every certificate's template is kept
next to it (<name>.tmpl) so a failing test can show what was asked for.
"""

import os
import subprocess

from .core import LabError, find_program


class CA:
    """A self-signed CA in <lab>/ca-<name>/ that signs server and client certs."""

    def __init__(self, lab, name="ca", days=30):
        self.lab = lab
        self.name = name
        self.days = days
        self.dir = os.path.dirname(lab.path("ca-" + name, "x"))
        self.certtool = find_program("certtool")
        self.key = self._genkey("ca")
        self.cert = os.path.join(self.dir, "ca.pem")
        tmpl = self._template("ca", [
            'cn = "dirmx lab CA %s"' % name,
            'organization = "dirmx lab"',
            "expiration_days = %d" % days,
            "ca",
            "cert_signing_key",
            "crl_signing_key",
        ])
        self._run(["--generate-self-signed", "--load-privkey", self.key,
                   "--template", tmpl, "--outfile", self.cert])
        self._serial = 1

    def _run(self, args):
        argv = [self.certtool] + args
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=30)
        if r.returncode != 0:
            raise LabError("certtool failed (%s): %s"
                           % (" ".join(argv), r.stdout.decode(errors="replace")[-2000:]))

    def _genkey(self, base):
        path = os.path.join(self.dir, base + ".key")
        self._run(["--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1",
                   "--no-text", "--outfile", path])
        os.chmod(path, 0o600)
        return path

    def _template(self, base, lines):
        path = os.path.join(self.dir, base + ".tmpl")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _unique(self, base):
        self._serial += 1
        return "%s-%d" % (base, self._serial)

    def _sign(self, base, lines):
        key = self._genkey(base)
        cert = os.path.join(self.dir, base + ".pem")
        tmpl = self._template(base, lines + ["serial = %d" % self._serial])
        self._run(["--generate-certificate", "--load-privkey", key,
                   "--load-ca-certificate", self.cert, "--load-ca-privkey", self.key,
                   "--template", tmpl, "--outfile", cert])
        return cert, key

    def server_cert(self, dns_names, ip_addresses=(), name=None, days=None):
        """A TLS server certificate for dns_names (first one is the CN) and
        ip_addresses as SANs. Returns (cert_path, key_path)."""
        if not dns_names and not ip_addresses:
            raise LabError("server_cert needs at least one name or address")
        cn = dns_names[0] if dns_names else ip_addresses[0]
        base = self._unique(name or "server-" + cn)
        lines = ['cn = "%s"' % cn, 'organization = "dirmx lab"',
                 "expiration_days = %d" % (days or self.days),
                 "tls_www_server", "signing_key"]
        lines += ['dns_name = "%s"' % n for n in dns_names]
        lines += ['ip_address = "%s"' % a for a in ip_addresses]
        return self._sign(base, lines)

    def client_cert(self, cn, email=None, name=None, days=None):
        """A TLS client certificate whose subject is exactly CN=<cn> (what a
        SASL EXTERNAL bind presents as its identity). Returns (cert, key)."""
        base = self._unique(name or "client-" + cn)
        lines = ['cn = "%s"' % cn, "expiration_days = %d" % (days or self.days),
                 "tls_www_client", "signing_key"]
        if email:
            lines.append('email = "%s"' % email)
        return self._sign(base, lines)


def lab_ca(lab):
    """The lab's default CA, made on first use and shared by its servers."""
    ca = getattr(lab, "_dirmx_ca", None)
    if ca is None:
        ca = CA(lab, "ca")
        lab._dirmx_ca = ca
    return ca
