"""Metrics (issue 13): both daemons' /metrics, promtool, a real Prometheus,
and `dirmxctl queue summary`.

One DeliveryLab (slapd, dnsmasq, authd, routerd, mailbox sinks) with
metrics_listen on loopback in [authd] and [routerd], and a submission
listener beside the mx one. Traffic:
- a message to a local user, delivered to mailbox sink A;
- a message to someone@example.net, whose directory route
  [mx.example.net]:25 resolves to a loopback address where nothing
  listens: accepted, then deferred (it stays in the queue);
- a RCPT to an unknown local user (550 5.1.1);
- on submission: STARTTLS, one AUTH that fails and one that succeeds.

Then each daemon is scraped and the expected series are checked by value;
`promtool check metrics` must pass on each scrape (its output is shown);
a Prometheus server on loopback (its own config and storage in the lab
directory, scrape_interval 1s) scrapes both daemons and one series is
read back through its HTTP API. HTTP details: 404 off /metrics, 405 for
POST. `dirmxctl queue summary` shows the deferred message under
example.net in qshape's layout.

promtool and prometheus come from Debian's prometheus package
(deploy/install-deps.sh): when they are missing the test fails.
Every process is started through the lab and stopped by PID.
"""

import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from deliverytest import DeliveryLab, PASSWORD, wait_for
from dirmxlab import free_port


def records(dl):
    return [("A", "mx.example.net", dl.net_addr(10))]  # nothing listens


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, frozenset(labels.items())): float} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError("unparsable line: %r" % line)
        labels = dict(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def http(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def need(tool):
    path = shutil.which(tool) or (("/usr/bin/" + tool)
                                  if os.access("/usr/bin/" + tool, os.X_OK) else None)
    if path is None:
        raise AssertionError("%s not found: apt-get install prometheus "
                             "(deploy/install-deps.sh installs it)" % tool)
    return path


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.promtool = need("promtool")
        cls.prometheus = need("prometheus")
        cls.rd_port, cls.au_port, cls.sub = free_port(), free_port(), free_port()
        cls.dl = dl = DeliveryLab("metrics", records_fn=records, start=False, routerd="""\
retry_min = 10m
retry_max = 1h
metrics_listen = 127.0.0.1:%d

[listener sub]
address = 127.0.0.1:%d
role = submission
""" % (cls.rd_port, cls.sub))
        try:
            with open(dl.conf) as f:
                text = f.read()
            text = text.replace("[authd]\n", "[authd]\nmetrics_listen = 127.0.0.1:%d\n"
                                % cls.au_port, 1)
            with open(dl.conf, "w") as f:
                f.write(text)
            dl.start_authd()
            dl.start_routerd()
            cls.traffic()
        except BaseException:
            dl.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    @classmethod
    def traffic(cls):
        dl = cls.dl
        cls.local_id = dl.send(dl.user(1), [dl.user(2)], tag="local")
        cls.deferred_id = dl.send(dl.user(1), ["someone@example.net"], tag="away")
        with smtplib.SMTP("127.0.0.1", dl.mx, local_hostname="client.test", timeout=30) as s:
            s.ehlo()
            s.mail(dl.user(1))
            code, _ = s.rcpt("nobody-at-all@dirmx.test")
            assert code == 550, code
        ctx = ssl.create_default_context(cafile=dl.ca.cert)
        ctx.check_hostname = False
        uid = dl.info["users"][3]["uid"]
        for password, want in (("wrong-" + PASSWORD, 535), (PASSWORD, 235)):
            with smtplib.SMTP("127.0.0.1", cls.sub, local_hostname="client.test",
                              timeout=30) as s:
                s.starttls(context=ctx)
                s.ehlo()
                # One AUTH PLAIN (login() would try LOGIN after a 535).
                s.user, s.password = uid, password
                try:
                    code = s.auth("PLAIN", s.auth_plain)[0]
                except smtplib.SMTPAuthenticationError as e:
                    code = e.smtp_code
                assert code == want, (code, want)
        # The local message delivered; the other deferred after one attempt.
        ok = wait_for(lambda: dl.queue_ids() == [cls.deferred_id]
                      and "deferred" in dl.queue("show", cls.deferred_id).stdout, 30, 0.2)
        assert ok, dl.queue("list").stdout

    def scrape(self, port):
        status, headers, body = http("http://127.0.0.1:%d/metrics" % port)
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("Content-Type", "").startswith(
            "text/plain; version=0.0.4"), headers)
        return body

    def promtool_check(self, name, body):
        print("---- %s /metrics ----\n%s----" % (name, body))
        r = subprocess.run([self.promtool, "check", "metrics"], input=body,
                           capture_output=True, text=True, timeout=60)
        print("promtool check metrics (%s): exit %d%s" % (
            name, r.returncode, (":\n" + r.stdout + r.stderr) if (r.stdout + r.stderr).strip()
            else ", no output"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("error", (r.stdout + r.stderr).lower())

    def test_routerd_series(self):
        body = self.scrape(self.rd_port)
        self.promtool_check("routerd", body)
        s = parse(body)
        self.assertEqual(value(s, "dirmx_routerd_messages_accepted_total", listener="mx"), 2)
        self.assertEqual(value(s, "dirmx_routerd_messages_accepted_total", listener="sub"), 0)
        self.assertEqual(value(s, "dirmx_routerd_refused_total", listener="mx",
                               reason="unknown_recipient"), 1)
        self.assertEqual(value(s, "dirmx_routerd_refused_total", listener="mx",
                               reason="relay_denied"), 0)
        self.assertGreaterEqual(value(s, "dirmx_routerd_tls_sessions_total",
                                      version="TLSv1.3"), 2)
        self.assertEqual(value(s, "dirmx_routerd_spool_commit_duration_seconds_count"), 2)
        self.assertEqual(value(s, "dirmx_routerd_spool_commit_duration_seconds_bucket",
                               le="+Inf"), 2)
        self.assertEqual(value(s, "dirmx_routerd_queue_messages", state="deferred"), 1)
        self.assertEqual(value(s, "dirmx_routerd_queue_messages", state="active"), 0)
        self.assertEqual(value(s, "dirmx_routerd_queue_messages", state="held"), 0)
        self.assertGreaterEqual(value(s, "dirmx_routerd_queue_oldest_message_age_seconds"), 0)
        hop_a = "[127.0.0.1]:%d" % self.dl.port_a
        sent = {dict(k[1])["nexthop"]: v for k, v in s.items()
                if k[0] == "dirmx_routerd_deliveries_total" and dict(k[1])["result"] == "sent"}
        self.assertEqual(sent.get(hop_a), 1, sent)
        deferred = {dict(k[1])["nexthop"]: v for k, v in s.items()
                    if k[0] == "dirmx_routerd_deliveries_total"
                    and dict(k[1])["result"] == "deferred"}
        self.assertEqual(deferred.get("[mx.example.net]:25"), 1, deferred)
        self.assertIn("other", sent)
        self.assertEqual(value(s, "dirmx_routerd_dsn_sent_total"), 0)
        self.assertTrue(wait_for(lambda: value(parse(self.scrape(self.rd_port)),
                                               "dirmx_routerd_sessions_open",
                                               listener="mx") == 0, 10, 0.2))

    def test_authd_series(self):
        body = self.scrape(self.au_port)
        self.promtool_check("authd", body)
        s = parse(body)
        self.assertEqual(value(s, "dirmx_authd_auth_total", result="ok"), 1)
        self.assertEqual(value(s, "dirmx_authd_auth_total", result="failed"), 1)
        self.assertEqual(value(s, "dirmx_authd_auth_throttled_total"), 0)
        found = sum(v for k, v in s.items() if k[0] == "dirmx_authd_lookups_total"
                    and dict(k[1])["outcome"] == "ok")
        self.assertGreaterEqual(found, 2)
        self.assertGreaterEqual(value(s, "dirmx_authd_lookups_total", source="directory",
                                      outcome="notfound"), 1)
        self.assertGreaterEqual(value(s, "dirmx_authd_cache_entries"), 1)
        ratio = value(s, "dirmx_authd_cache_hit_ratio")
        self.assertTrue(0 <= ratio <= 1, ratio)
        dc = "ldap://localhost:%d" % self.dl.slapd.port
        self.assertEqual(value(s, "dirmx_authd_dc_state", pool="dc", dc=dc, state="up"), 1)
        self.assertEqual(value(s, "dirmx_authd_dc_state", pool="dc", dc=dc, state="down"), 0)
        self.assertEqual(value(s, "dirmx_authd_dc_preferred", pool="dc", dc=dc), 1)
        # The lab's slapd has syncprov: changes are followed by syncrepl.
        self.assertEqual(value(s, "dirmx_authd_watch_in_sync", mechanism="syncrepl",
                               state="in-sync"), 1)
        self.assertGreaterEqual(value(s, "dirmx_authd_watch_changes_total"), 0)
        self.assertGreaterEqual(value(s, "dirmx_authd_watch_flushes_total"), 0)
        self.assertGreaterEqual(value(s, "dirmx_authd_ldap_searches_total", pool="dc", dc=dc), 2)
        self.assertEqual(value(s, "dirmx_authd_ldap_search_duration_seconds_count",
                               pool="dc", dc=dc),
                         value(s, "dirmx_authd_ldap_searches_total", pool="dc", dc=dc))

    def test_http_edges(self):
        for port in (self.rd_port, self.au_port):
            self.assertEqual(http("http://127.0.0.1:%d/" % port)[0], 404)
            self.assertEqual(http("http://127.0.0.1:%d/metricsx" % port)[0], 404)
            status, headers, _ = http("http://127.0.0.1:%d/metrics" % port, "POST")
            self.assertEqual(status, 405)
            self.assertEqual(headers.get("Allow"), "GET")
            self.assertEqual(http("http://127.0.0.1:%d/metrics?x=1" % port)[0], 200)

    def test_queue_summary(self):
        r = self.dl.queue("summary")
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(),
                         ["T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"])
        rows = {ln.split()[0]: [int(x) for x in ln.split()[1:]] for ln in lines[1:]}
        self.assertEqual(rows["TOTAL"], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        self.assertEqual(rows["example.net"], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        self.assertEqual(len(rows), 2)
        r = self.dl.queue("summary", "deferred")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("example.net", r.stdout)
        r = self.dl.queue("summary", "held")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 2)  # header and TOTAL 0
        self.assertNotEqual(self.dl.queue("summary", "nonsense").returncode, 0)

    def test_prometheus_scrapes_both(self):
        lab = self.dl.lab
        port = free_port()
        conf = lab.write("prometheus/prometheus.yml", """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: routerd
    static_configs:
      - targets: ['127.0.0.1:%d']
  - job_name: authd
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % (self.rd_port, self.au_port))
        data = lab.path("prometheus", "data", "x")
        proc = lab.spawn("prometheus", [
            self.prometheus, "--config.file=" + conf,
            "--storage.tsdb.path=" + os.path.dirname(data),
            "--web.listen-address=127.0.0.1:%d" % port])
        try:
            base = "http://127.0.0.1:%d" % port

            def ready():
                if proc.poll() is not None:
                    raise AssertionError("prometheus exited:\n"
                                         + lab.log_text("prometheus")[-3000:])
                try:
                    return http(base + "/-/ready")[0] == 200
                except OSError:
                    return False
            self.assertTrue(wait_for(ready, 60, 0.3), lab.log_text("prometheus")[-3000:])

            def query(q):
                status, _, body = http(base + "/api/v1/query?" + urllib.parse.urlencode(
                    {"query": q}))
                self.assertEqual(status, 200, body)
                return json.loads(body)["data"]["result"]

            got = {}

            def scraped():
                got["r"] = query('dirmx_routerd_messages_accepted_total{listener="mx"}')
                got["a"] = query('dirmx_authd_auth_total{result="ok"}')
                got["up"] = query("up")
                return got["r"] and got["a"]
            self.assertTrue(wait_for(scraped, 60, 0.5), got)
            self.assertEqual(float(got["r"][0]["value"][1]), 2.0, got["r"])
            self.assertEqual(got["r"][0]["metric"]["job"], "routerd")
            self.assertEqual(float(got["a"][0]["value"][1]), 1.0, got["a"])
            self.assertEqual(sorted((u["metric"]["job"], u["value"][1]) for u in got["up"]),
                             [("authd", "1"), ("routerd", "1")])
            targets = json.loads(http(base + "/api/v1/targets")[2])["data"]["activeTargets"]
            self.assertEqual(sorted(t["health"] for t in targets), ["up", "up"], targets)
        finally:
            lab.stop(proc)


if __name__ == "__main__":
    unittest.main()
