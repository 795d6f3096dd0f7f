"""Shared helpers of the Kerberos SMTP AUTH tests (test_smtp_gssapi*).

Real clients only: msmtp (auth gssapi) submits mail, gsasl --smtp
authenticates, and gsasl without --connect prints a real client token
(an AP-REQ for smtp/HOST from the caller's ticket cache) for the tests
that need to send one by hand (replay, a ticket for another service).
Each client runs with the caller's KRB5_CONFIG and KRB5CCNAME only.
"""

import os
import subprocess


def msmtp(env, host, port, ca, user, sender, rcpts, body, implicit_tls=False, timeout=60):
    """Submit body with msmtp and auth gssapi as user (msmtp sends it as
    the SASL authorization identity); returns CompletedProcess."""
    argv = ["msmtp", "--host=%s" % host, "--user=%s" % user, "--port=%d" % port, "--tls=on",
            "--tls-starttls=%s" % ("off" if implicit_tls else "on"),
            "--tls-trust-file=%s" % ca, "--auth=gssapi", "--from=%s" % sender,
            "--domain=client.example", "--"] + list(rcpts)
    return subprocess.run(argv, input=body, capture_output=True, text=True, env=env,
                          timeout=timeout)


def gsasl_smtp(env, host, port, ca, service="smtp", timeout=20, authzid=""):
    """Authenticate with gsasl --smtp -m GSSAPI after STARTTLS, asking to
    act as authzid ("": the ticket's own identity)."""
    argv = ["gsasl", "--client", "--smtp", "--connect=%s:%d" % (host, port),
            "--mechanism=GSSAPI", "--service=%s" % service, "--hostname=%s" % host,
            "--x509-ca-file=%s" % ca, "--no-cb", "--verbose",
            "--authorization-id=" + authzid]
    try:
        return subprocess.run(argv, input="", capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("gsasl hung: %r %r" % (e.stdout, e.stderr))


def client_token(env, host, service="smtp", timeout=30, runner=None):
    """A real first GSSAPI token (base64) from the caller's tickets, as
    gsasl's client prints it without a server. runner: a lab run()
    (a namespace's) instead of subprocess.run."""
    argv = ["gsasl", "--client", "--mechanism=GSSAPI", "--service=%s" % service,
            "--hostname=%s" % host, "--authorization-id=", "--quiet"]
    if runner is not None:
        r = runner(argv, env=env, input="", check=False, timeout=timeout)
    else:
        r = subprocess.run(argv, input="", capture_output=True, text=True, env=env,
                           timeout=timeout)
    for line in r.stdout.splitlines():
        line = line.strip()
        if len(line) > 100:
            return line
    raise RuntimeError("gsasl printed no token: %s %s" % (r.stdout, r.stderr))


def message(sender, rcpt, subject):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nSent with a Kerberos ticket.\r\n"
            % (sender, rcpt, subject))


def client_env(krb5_conf, ccache):
    env = dict(os.environ)
    env.pop("KRB5_KTNAME", None)
    env.pop("KRB5_CLIENT_KTNAME", None)
    env["KRB5_CONFIG"] = krb5_conf
    env["KRB5CCNAME"] = "FILE:" + ccache
    env["HOME"] = "/nonexistent"  # no ~/.msmtprc
    return env
