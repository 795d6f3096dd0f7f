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

from dirmxlab import Dnsmasq, Lab, Slapd, ldapdata  # noqa: E402

STATE = "/run/dirmx-demo.json"
BUILD = os.environ["DIRMX_BUILD_DIR"]


def say(text=""):
    print(text, flush=True)


def ctl(conf, *args, stdin=None):
    cmd = [os.path.join(BUILD, "lib", "dirmxctl"), "-c", conf] + list(args)
    shown = " ".join(args) + ("   (password on stdin)" if stdin else "")
    say("$ dirmxctl %s" % shown)
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).rstrip()
    say(out)
    say()
    return r


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
    if argv[1:2] == ["stop"]:
        return stop_kept()
    keep = "--keep" in argv[1:]
    lab = Lab("demo", keep=keep)
    try:
        return run(lab, keep)
    finally:
        if not keep:
            lab.close()


def run(lab, keep):
    say("== Starting a directory with a sample organisation (slapd, 200 users)")
    ldif, info = ldapdata.generate(users=200)
    ldap = Slapd(lab, data=ldif)
    say("   ldap://localhost:%d  suffix %s" % (ldap.port, ldap.suffix))

    say("== Publishing it in DNS (dnsmasq): _ldap._tcp.dirmx.test SRV")
    dns = Dnsmasq(lab, [("SRV", "_ldap._tcp.dirmx.test", "localhost", ldap.port, 0, 100)])
    say("   DNS server %s" % dns.server)

    pw = lab.write("bind.pw", ldap.svc_pw + "\n", 0o600)
    sock = lab.path("authd.sock")
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
lockout_threshold = 5

[routerd]
spool_dir = {spool}
""".format(dns=dns.server, suffix=ldap.suffix, ca=ldap.ca.cert, svc=ldap.svc_dn,
           pw=pw, sock=sock, spool=lab.path("spool")))

    say("== Starting authd (it finds the directory through DNS by itself)")
    authd = lab.spawn("authd", [os.path.join(BUILD, "authd", "authd"), "-f", "-c", conf])
    deadline = time.monotonic() + 15
    while not os.path.exists(sock) and time.monotonic() < deadline:
        if authd.poll() is not None:
            say(lab.log_text("authd"))
            raise SystemExit("authd exited early")
        time.sleep(0.1)
    time.sleep(0.5)
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

    say("== authd's log (last lines)")
    say("\n".join(lab.log_text("authd").splitlines()[-12:]))
    say()
    say("Everything ran on 127.0.0.1 in %s." % lab.dir)
    say("Not yet in the demo: routerd accepting and relaying mail (it is being built).")
    if keep:
        pids = [p.pid for _, p, _ in lab.procs]
        with open(STATE, "w") as f:
            json.dump({"pids": pids, "dir": lab.dir, "conf": conf}, f)
        say("The servers keep running (--keep). Try:")
        say("  %s -c %s lookup %s" % (os.path.join(BUILD, "lib", "dirmxctl"), conf,
                                    info["groups"]["staff"]["mail"]))
        say("Stop them with: bash deploy/demo.sh stop")
    else:
        say("Stopping the demo's servers. (Run with --keep to leave them up.)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
