"""authd and routerd in a Samba AD DC's network namespace, with recording
SMTP sinks and an SMTP client there: what the Samba suites that send mail
(test_samba_domains, test_samba_restrict) share.
"""

import os
import smtplib
import socket

from dirmxlab.ca import lab_ca

from authdtest import authd_bin
from deliverytest import Sink, _run
from smtptest import routerd_bin, wait_for


class NsSink(Sink):
    """deliverytest's Sink, listening inside a network namespace."""

    def __init__(self, netns, *args, **kw):
        super().__init__(*args, **kw)
        self.netns = netns

    def start(self):
        sock = self.netns.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)

        async def go():
            import asyncio
            self.server = await asyncio.start_server(self._serve, sock=sock)
        _run(go())
        return self


class NsSMTP(smtplib.SMTP):
    """smtplib connecting from inside the namespace."""

    def __init__(self, netns, host, port):
        self.netns = netns
        super().__init__(host, port, local_hostname="stranger.example", timeout=30)

    def _get_socket(self, host, port, timeout):
        s = self.netns.connect(host, port, timeout=timeout)
        s.settimeout(timeout)
        return s


def ns_free_port(netns, host):
    s = netns.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


_CONF = """\
[global]
log_level = debug

[dns]
servers = %(dns)s
timeout = 1s

[authd]
directory = ad
domain = %(dom)s
timeout = 2s
socket = %(sock)s
client_user = nobody
bind = simple
bind_dn = %(svc_dn)s
bind_password_file = %(pw)s
tls = starttls
ca_file = %(ca)s
%(authd_extra)s
[routerd]
user = nobody
hostname = mx.%(dom)s
authd_socket = %(sock)s
spool_dir = %(rdir)s/spool
control_socket = %(rdir)s/routerd.sock
tls_cert = %(cert)s
tls_key = %(key)s
retry_min = 1s
local_domains = %(dom)s
%(routerd_extra)s
[listener mx]
address = %(host)s:%(mx)d
role = mx
%(listeners)s"""


class MailDaemons:
    """authd (simple bind over StartTLS as svc) and routerd (an MX listener
    on host:mx, and a submission listener on host:sub when sub is given)
    in dc's namespace; routerd never needs DNS (every hop is a literal):
    its servers are a dead port. conf is authd's file (for dirmxctl), ca
    the lab CA that signed routerd's certificate. Stopped with the lab."""

    def __init__(self, lab, dc, dom, host, svc, svc_pw, mx, dead_dns_port, sub=None,
                 routerd_extra="", authd_extra=""):
        self.sock = lab.path("authd.sock")
        pw = lab.write("svc.pw", svc_pw + "\n", 0o600)
        rdir = os.path.dirname(lab.path("rd", "x"))
        os.chmod(rdir, 0o755)
        self.ca = lab_ca(lab)
        cert, key = self.ca.server_cert(["mx." + dom], [host], name="rd")
        for f in (cert, key):
            os.chmod(f, 0o644)
        os.chmod(os.path.dirname(cert), 0o755)
        listeners = ("\n[listener submission]\naddress = %s:%d\nrole = submission\n"
                     % (host, sub)) if sub is not None else ""
        values = {"dom": dom, "sock": self.sock, "svc_dn": dc.user_dn(svc), "pw": pw,
                  "ca": dc.ca_cert, "rdir": rdir, "cert": cert, "key": key, "host": host,
                  "mx": mx, "routerd_extra": routerd_extra, "listeners": listeners,
                  "authd_extra": authd_extra}
        # authd resolves the DCs through the DC's DNS.
        self.conf = lab.write("authd.conf", _CONF % dict(values, dns=dc.ip))
        rconf = lab.write("rd/dirmx.conf", _CONF % dict(
            values, dns="127.0.0.1:%d" % dead_dns_port))
        self.authd = lab.spawn("authd", dc.netns.exec_argv([authd_bin(), "-f", "-c", self.conf]),
                               env=dc.env())
        if not wait_for(lambda: "domains event=loaded" in lab.log_text("authd")
                        or self.authd.poll() is not None, 30, 0.1):
            raise RuntimeError("authd not ready:\n" + lab.log_text("authd")[-3000:])
        if self.authd.poll() is not None:
            raise RuntimeError("authd exited:\n" + lab.log_text("authd")[-3000:])
        os.chmod(self.sock, 0o666)
        self.routerd = lab.spawn("routerd", dc.netns.exec_argv([routerd_bin(), "-f", "-c", rconf]))

        def ready():
            if self.routerd.poll() is not None:
                raise RuntimeError("routerd exited:\n" + lab.log_text("routerd")[-3000:])
            try:
                with dc.netns.connect(host, mx, timeout=2) as c:
                    c.settimeout(5)
                    return c.recv(100).startswith(b"220 ")
            except OSError:
                return False
        if not wait_for(ready, 20, 0.1):
            raise RuntimeError("routerd not ready:\n" + lab.log_text("routerd")[-3000:])
