"""The filter of the milter runs (--milter, issue 18): the same filter for
both MTAs, plugged in the way each does it.

    sock = start(lab, "noop" | "dkim", domain)   # "inet:127.0.0.1:PORT"
    plug(mta, sock)                               # before mta.start()

noop: noop_milter.py, a process of its own answering CONTINUE to every
step. dkim: OpenDKIM signing every message from 127.0.0.1 (its default
InternalHosts) for the loadgen's sender domain, relaxed/relaxed, a
1024-bit key made by opendkim-genkey (nothing verifies it here: the
integration tests do).
"""

import os
import socket
import subprocess
import sys
import time

from dirmxlab import free_port

HERE = os.path.dirname(os.path.abspath(__file__))


def _wait(port, proc, lab, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited:\n%s" % (name, lab.log_text(name)[-2000:]))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s not listening" % name)


def start(lab, kind, domain):
    port = free_port()
    if kind == "noop":
        p = lab.spawn("noop-milter", [sys.executable, os.path.join(HERE, "noop_milter.py"),
                                      str(port)])
        _wait(port, p, lab, "noop-milter")
    elif kind == "dkim":
        d = os.path.dirname(lab.path("opendkim", "x"))
        subprocess.run(["opendkim-genkey", "-b", "1024", "-d", domain, "-s", "bench",
                        "-D", d], check=True, capture_output=True, timeout=60)
        conf = lab.write("opendkim/opendkim.conf", """\
Syslog no
Mode s
Socket inet:%d@127.0.0.1
Domain %s
Selector bench
KeyFile %s/bench.private
Canonicalization relaxed/relaxed
RequireSafeKeys false
PidFile %s/opendkim.pid
""" % (port, domain, d, d))
        p = lab.spawn("opendkim", ["opendkim", "-f", "-x", conf])
        _wait(port, p, lab, "opendkim")
    else:
        raise SystemExit("unknown milter %s" % kind)
    return "inet:127.0.0.1:%d" % port


def plug(mta, sock):
    """Make mta use the filter at sock, default action tempfail (both)."""
    if mta.name == "dirmx":
        # the configuration ends with the [listener mx] section
        with open(mta.conf, "a") as f:
            f.write("milters = bench\n\n[milter bench]\nsocket = %s\n"
                    "default_action = tempfail\n" % sock)
        mta.settings["routerd"] += "; milters = one filter at %s" % sock
    else:
        pf = sock  # Postfix reads the same inet:host:port form
        with open(os.path.join(mta.dir, "main.cf"), "a") as f:
            f.write("smtpd_milters = %s\nmilter_default_action = tempfail\n" % pf)
        mta.settings["smtpd_milters"] = pf
        mta.settings["milter_default_action"] = "tempfail"
        mta.settings_why["smtpd_milters"] = "the bench's filter (--milter)"
        mta.settings_why["milter_default_action"] = "as dirmx: a failed filter defers"
