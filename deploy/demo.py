"""dirmx local demo: a directory, DNS, and authd routing from the directory.

Run through deploy/demo.sh, which installs and builds first. Everything
listens on 127.0.0.1 only and lives in one temporary directory; the demo
stops what it started (by PID) when it ends, unless --keep is given, in
which case `bash deploy/demo.sh stop` stops it later.

What it shows (the parts of dirmx that exist so far):
  1. authd finds the directory server through DNS SRV records, as Windows
     clients find domain controllers, and binds over StartTLS;
  2. for each address, where its mail goes and why: a mailbox with its
     mailbox server, an alias, a distribution group expanded, a forward, a
     disabled account, an address nobody owns, a routed partner domain and
     an Internet domain;
  3. a password check, and the addresses a user may send as.
"""

import json
import os
import signal
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
os.environ.setdefault("DIRMX_SOURCE_DIR", TOP)
os.environ.setdefault("DIRMX_BUILD_DIR", os.path.join(TOP, "build"))

import smtplib  # noqa: E402
import ssl  # noqa: E402
from email.message import EmailMessage  # noqa: E402

from dirmxlab import Dnsmasq, Lab, Slapd, free_port, ldapdata  # noqa: E402
from dirmxlab.ca import lab_ca  # noqa: E402

STATE = os.environ.get("DIRMX_DEMO_STATE", "/run/dirmx-demo.json")
BUILD = os.environ["DIRMX_BUILD_DIR"]


def say(text=""):
    print(text, flush=True)


def ctl(conf, *args, stdin=None):
    cmd = [os.path.join(BUILD, "routerd", "dirmxctl"), "-c", conf] + list(args)
    shown = " ".join(args) + ("   (password on stdin)" if stdin else "")
    say("$ dirmxctl %s" % shown)
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).rstrip()
    say(out)
    say()
    return r


def start_sink(lab, name, ip, port):
    """Postfix's smtp-sink, keeping every message it receives in a dir."""
    d = lab.path("sinks", name, "x")
    d = os.path.dirname(d)
    os.chmod(os.path.dirname(d), 0o777)
    os.chmod(d, 0o777)
    lab.spawn("sink-" + name, ["/usr/sbin/smtp-sink", "-u", "nobody", "-d",
                               d + "/%M.", "%s:%d" % (ip, port), "64"])
    return d


def smtp(port, sender, rcpts, subject, login=None, cafile=None):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = subject
    msg.set_content("Hello from the dirmx demo.\n")
    say("$ SMTP to port %d: MAIL FROM:<%s> RCPT TO:%s" % (port, sender, rcpts))
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            if login:
                s.starttls(context=ssl.create_default_context(cafile=cafile))
                s.login(*login)
            refused = s.send_message(msg, from_addr=sender, to_addrs=rcpts)
            say("  accepted%s" % (" (refused: %s)" % refused if refused else ""))
    except smtplib.SMTPRecipientsRefused as e:
        for rcpt, (code, text) in e.recipients.items():
            say("  refused %s: %d %s" % (rcpt, code, text.decode()))
    except smtplib.SMTPException as e:
        say("  failed: %s" % e)
    say()


def stop_kept():
    try:
        with open(STATE) as f:
            state = json.load(f)
    except OSError:
        say("no demo is running (%s not found)" % STATE)
        return 0
    for pid in state.get("pids", []):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    os.unlink(STATE)
    say("stopped the demo (pids %s); its files are in %s"
        % (state.get("pids"), state.get("dir")))
    return 0


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="deploy/demo.sh", description=__doc__.split("\n\n")[0],
        epilog="Without arguments: run the demo, then stop everything it started.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true",
                    help="leave the servers running afterwards (stop them with "
                         "'bash deploy/demo.sh stop')")
    ap.add_argument("action", nargs="?", choices=["run", "stop"], default="run",
                    help="'stop': stop the servers a --keep run left running")
    a = ap.parse_args(argv[1:])
    if a.action == "stop":
        return stop_kept()
    lab = Lab("demo", keep=a.keep)
    ok = False
    try:
        rc = run(lab, a.keep)
        ok = True
        return rc
    finally:
        if a.keep and ok:
            # The servers go on: nothing may stop them at exit (the lab's
            # atexit handler included); 'demo.sh stop' does, by PID.
            lab.detach()
        else:
            lab.close()


def run(lab, keep):
    # routerd drops to an unprivileged user: let it reach its files.
    os.chmod(lab.dir, 0o755)
    say("== Starting sinks: two mailbox servers, a partner's MX and 'the Internet'")
    sinks = {}
    mbx = [("mbx1", "127.0.0.1", free_port()), ("mbx2", "127.0.0.1", free_port())]
    for name, ip, port in mbx + [("partner-mx", "127.0.0.3", 25),
                                 ("internet-mx", "127.0.0.2", 25)]:
        sinks[name] = start_sink(lab, name, ip, port)
        say("   %-12s %s:%d" % (name, ip, port))

    say("== Starting a directory with a sample organisation (slapd, 200 users)")
    ldif, info = ldapdata.generate(
        users=200, mailhosts=["[%s]:%d" % (ip, port) for _, ip, port in mbx])
    ldap = Slapd(lab, data=ldif)
    say("   ldap://localhost:%d  suffix %s" % (ldap.port, ldap.suffix))

    say("== Publishing it in DNS (dnsmasq): the directory's SRV record, and MX")
    say("   records for example.org (the Internet) and the partner example.net")
    dns = Dnsmasq(lab, [("SRV", "_ldap._tcp.dirmx.test", "localhost", ldap.port, 0, 100),
                        ("MX", "example.org", "mx.example.org", 10),
                        ("MX", "partner.example", "mx.example.org", 10),
                        ("A", "mx.example.org", "127.0.0.2"),
                        ("A", "mx.example.net", "127.0.0.3")],
                  domains=("test", "org", "net", "example"))
    say("   DNS server %s" % dns.server)

    pw = lab.write("bind.pw", ldap.svc_pw + "\n", 0o600)
    sock = lab.path("authd.sock")
    ca = lab_ca(lab)
    cert, key = ca.server_cert(["localhost"], ["127.0.0.1"], name="smtp")
    mx_port, sub_port = free_port(), free_port()
    conf = lab.write("dirmx.conf", """# dirmx demo configuration
[global]
log_level = info

[dns]
servers = {dns}

[authd]
# A plain LDAP directory: found through _ldap._tcp.<domain> SRV records.
directory = ldap
domain = dirmx.test
base_dn = {suffix}
tls = starttls
ca_file = {ca}
bind = simple
bind_dn = {svc}
bind_password_file = {pw}
socket = {sock}
# routerd runs as this user and may ask authd questions.
client_user = nobody
lockout_threshold = 5

[routerd]
user = nobody
hostname = mx.dirmx.test
spool_dir = {spool}
authd_socket = {sock}
control_socket = {ctl}
retry_min = 10s
local_domains = dirmx.test
tls_cert = {cert}
tls_key = {key}

[listener mx]
address = 127.0.0.1:{mx}
role = mx

[listener submission]
address = 127.0.0.1:{sub}
role = submission
""".format(dns=dns.server, suffix=ldap.suffix, ca=ldap.ca.cert, svc=ldap.svc_dn,
           pw=pw, sock=sock, spool=lab.path("spool"), cert=cert, key=key,
           ctl=lab.path("routerd.sock"),
           mx=mx_port, sub=sub_port))

    say("== Starting authd (it finds the directory through DNS by itself)")
    authd = lab.spawn("authd", [os.path.join(BUILD, "authd", "authd"), "-f", "-c", conf])
    deadline = time.monotonic() + 15
    while not os.path.exists(sock) and time.monotonic() < deadline:
        if authd.poll() is not None:
            say(lab.log_text("authd"))
            raise SystemExit("authd exited early")
        time.sleep(0.1)
    time.sleep(0.5)
    os.chmod(sock, 0o660)
    os.chown(sock, -1, 65534)  # nogroup: routerd's group
    say("== Starting routerd (SMTP: port %d for mail from anyone, %d for "
        "authenticated submission)" % (mx_port, sub_port))
    routerd = lab.spawn("routerd", [os.path.join(BUILD, "routerd", "routerd"), "-f",
                                    "-c", conf])
    time.sleep(0.8)
    if routerd.poll() is not None:
        say(lab.log_text("routerd"))
        raise SystemExit("routerd exited early")
    say()

    ctl(conf, "dc")
    user = info["users"][7]
    ctl(conf, "lookup", user["mail"])
    ctl(conf, "lookup", user["aliases"][0])
    ctl(conf, "lookup", info["nested"])
    ctl(conf, "lookup", info["forward_chain"]["addresses"][0])
    ctl(conf, "lookup", info["disabled"]["mail"])
    ctl(conf, "lookup", "nobody@dirmx.test")
    ctl(conf, "lookup", "anyone@example.net")
    ctl(conf, "lookup", "someone@example.org")
    ctl(conf, "lookup", user["mail"])
    ctl(conf, "auth", user["uid"], stdin=info["password"] + "\n")
    ctl(conf, "auth", user["uid"], stdin="not-the-password\n")
    ctl(conf, "senders", user["uid"])
    ctl(conf, "stats")

    say("== Mail: inbound to a group, to an unknown address, a relay attempt,")
    say("   and an authenticated submission to the outside")
    smtp(mx_port, "someone@example.org", [info["nested"]], "Inbound to a group")
    smtp(mx_port, "someone@example.org", ["nobody@dirmx.test"], "Unknown recipient")
    smtp(mx_port, "spammer@example.org", ["victim@example.com"], "Relay attempt")
    smtp(sub_port, user["mail"], ["friend@example.org", "buyer@example.net"],
         "Outbound", login=(user["uid"], info["password"]), cafile=ca.cert)
    smtp(mx_port, "someone@example.org", [info["forward_external"]["address"]],
         "To a user who forwards outside")
    time.sleep(2)
    say("== What routerd decided (its log)")
    for line in lab.log_text("routerd").splitlines():
        if any(k in line for k in ("event=rcpt", "event=accepted", "relay_denied",
                                   "rcpt_unknown", "auth_ok", "event=delivery",
                                   "event=done", "event=deferred")):
            say("   " + line.split(": ", 2)[-1])
    say()
    say("== What each sink received")
    for name, d in sinks.items():
        say("   %-12s %d message(s)" % (name, len(os.listdir(d))))
    say()
    ctl(conf, "queue")

    say("== authd's log (last lines)")
    say("\n".join(lab.log_text("authd").splitlines()[-12:]))
    say()
    say("Everything ran on 127.0.0.1 in %s." % lab.dir)
    say("Each recipient went where the directory (mailHost), the partner route")
    say("(example.net) or the destination's MX (example.org) said.")
    if keep:
        pids = [p.pid for _, p, _ in lab.procs]
        with open(STATE, "w") as f:
            json.dump({"pids": pids, "dir": lab.dir, "conf": conf}, f)
        say("The servers keep running (--keep). Try:")
        say("  %s -c %s lookup %s" % (os.path.join(BUILD, "routerd", "dirmxctl"), conf,
                                    info["groups"]["staff"]["mail"]))
        say("Stop them with: bash deploy/demo.sh stop")
    else:
        say("Stopping the demo's servers. (Run with --keep to leave them up.)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
