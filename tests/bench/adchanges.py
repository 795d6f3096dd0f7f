"""run.py --directory samba --changes N: directory changes on Active
Directory (a Samba AD DC), measured through authd alone.

No SMTP here: the Samba DC lives in a network namespace (dirmxlab.samba)
and the bench's MTAs, sinks and Postfix stay on the host. The load is a
modest lookup load on authd: `--ad-lookup-rate` cached LOOKUPs per second
(open loop, in 10 ms ticks, over 2 connections), drawn at random from
every address of the generated users: a closed loop would have the
script and authd take both cores (authd answers ~50,000 cached lookups a
second) and starve the DC. Runs, per repeat: "steady" (the load alone, as
long as the changes run) and "changes" (the load while N users get a new
dirmxNextHop, written with one ldapmodify each over LDAPS as
Administrator, inside the DC's namespace). The propagation figures come from
changes.py, as on slapd. Searches per lookup come from authd's own STATS
counters (Samba logs no searches): all searches / all lookups during the
run, the poller's lookups included.

Samba re-runs a pending change-notification search when a write is made
in the same LDAP server process, else every 5 s (source4/ldap_server,
ldapsrv_notification_retry_setup); its prefork model spreads connections
over 4 LDAP worker processes by default. --samba-prefork-children 1 puts
every connection in one process (the DC's smb.conf "prefork children").
"""

import os
import random
import select
import statistics
import threading
import time

from changes import AuthdClient, Changes, parse_answer, percentile

SVC = "svc-dirmx"
SVC_PW = "Svc!Passw0rd-1"


class SambaHops:
    """The next hop on AD: dirmxNextHop (schemas/dirmx-ad.ldif), replaced
    with ldapmodify inside the DC's namespace (it has returned when the DC
    has written the change)."""
    attr = "dirmxNextHop"

    def __init__(self, dc):
        self.dc = dc

    def set_hop(self, dn, hop):
        self.dc.run(["ldapmodify", "-H", self.dc.ldap_uri(), "-x", "-D", self.dc.admin_dn,
                     "-w", self.dc.admin_password],
                    input="dn: %s\nchangetype: modify\nreplace: dirmxNextHop\n"
                          "dirmxNextHop: %s\n-\n" % (dn, hop))


def authd_stats(sock):
    c = AuthdClient(sock)
    try:
        c.send("STATS 1\n")
        deadline = time.monotonic() + 15
        lines = []
        while not lines and time.monotonic() < deadline:
            select.select([c.sock], [], [], 0.5)
            lines = c.lines()
    finally:
        c.close()
    parts = lines[0].split(" ")
    vals, name = {}, None
    for p in parts[2:]:
        k, _, v = p.partition("=")
        if k == "counter":
            name = v
        elif k == "value":
            vals[name] = int(v)
    return vals


class LookupLoad:
    """rate cached LOOKUPs a second over clients connections (open loop,
    10 ms ticks) until stop()."""

    def __init__(self, sock, addrs, clients, rate, seed):
        self.sock, self.addrs = sock, addrs
        self.clients, self.per_tick = clients, rate / clients / 100.0
        self.rng = random.Random(seed)
        self.stop_ev = threading.Event()
        self.done = [0] * clients
        self.bad = [0] * clients
        self.errors = []
        self.threads = []

    def start(self):
        self.t0 = time.monotonic()
        for i in range(self.clients):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, i):
        try:
            c = AuthdClient(self.sock)
            rng = random.Random(self.rng.random())
            owed, tick = 0.0, time.monotonic()
            while not self.stop_ev.is_set():
                now = time.monotonic()
                if now >= tick:
                    owed += self.per_tick
                    tick += 0.01
                    out = []
                    while owed >= 1:
                        out.append(c.lookup_line(rng.choice(self.addrs))[1])
                        owed -= 1
                    if out:
                        c.send("".join(out))
                select.select([c.sock], [], [], max(0.0, tick - time.monotonic()))
                for line in c.lines():
                    _, verb, _, _ = parse_answer(line)
                    self.done[i] += 1
                    if verb != "OK":
                        self.bad[i] += 1
            c.close()
        except Exception as e:  # reported by stop()
            self.errors.append(repr(e))

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)
        self.wall = time.monotonic() - self.t0
        if self.errors:
            raise RuntimeError("lookup load failed: %s" % self.errors)
        return sum(self.done), sum(self.bad), self.wall


def run(a, lab, build_dir, src, log):
    """Everything for --directory samba; returns the JSON-able result."""
    from dirmxlab.samba import SambaDC

    t = time.monotonic()
    dc = SambaDC(lab, start=False)
    if a.samba_prefork_children:
        with open(dc.smb_conf) as f:
            conf = f.read()
        with open(dc.smb_conf, "w") as f:
            f.write(conf.replace("[global]\n", "[global]\n\tprefork children = %d\n"
                                 % a.samba_prefork_children, 1))
    dc.start()
    with open(os.path.join(src, "schemas", "dirmx-ad.ldif")) as f:
        dc.apply_schema_ldif(f.read())
    dc.create_service_account(SVC, SVC_PW)
    users = []
    ldif = []
    dom = dc.dns_domain
    for i in range(a.users):
        name = "u%05d" % i
        u = {"dn": dc.user_dn(name), "mail": "%s@%s" % (name, dom),
             "aliases": ["%s.alias@%s" % (name, dom)],
             "hop": "[127.0.0.%d]:25" % (11 + i % 3)}
        users.append(u)
        ldif.append(dc.user_ldif(name, None, mail=u["mail"],
                                 proxy_addresses=["SMTP:" + u["mail"],
                                                  "smtp:" + u["aliases"][0]],
                                 attrs={"dirmxNextHop": u["hop"]}))
    dc.add_ldif("".join(ldif))
    log("samba: DC up, schema, %d users in %.0f s" % (a.users, time.monotonic() - t))
    sock = lab.path("authd-ad", "authd.sock")
    pw = lab.write("authd-ad/svc.pw", SVC_PW + "\n", 0o600)
    conf = lab.write("authd-ad/dirmx.conf", "\n".join([
        "[global]", "log_level = info", "",
        "[dns]", "servers = " + dc.ip, "timeout = 1s", "",
        "[authd]", "directory = ad", "domain = " + dom, "socket = " + sock,
        "bind = simple", "bind_dn = " + dc.user_dn(SVC), "bind_password_file = " + pw,
        "tls = starttls", "ca_file = " + dc.ca_cert, "",
        "[routerd]", "local_domains = " + dom, ""]))
    authd = lab.spawn("authd-ad", dc.netns.exec_argv(
        [os.path.join(build_dir, "authd", "authd"), "-f", "-c", conf]), env=dc.env())
    deadline = time.monotonic() + 60
    while "event=in_sync" not in lab.log_text("authd-ad"):
        if authd.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("authd never followed the DC's changes:\n"
                               + lab.log_text("authd-ad")[-3000:])
        time.sleep(0.1)
    sync_line = [ln for ln in lab.log_text("authd-ad").splitlines()
                 if "event=in_sync" in ln][0]
    log("authd: " + sync_line.strip())
    addrs = [x for u in users for x in [u["mail"]] + u["aliases"]]
    c = AuthdClient(sock)
    for i in range(0, len(addrs), 500):  # warm: every address cached
        c.ask_all(addrs[i:i + 500], timeout=120)
    c.close()

    step = len(users) // (a.changes * a.repeat)
    moved = users[::step][:a.changes * a.repeat]
    duration = a.changes / a.change_rate + 2
    runs = []
    try:
        for rep in range(a.repeat):
            for variant in ("steady", "changes"):
                side = None
                if variant == "changes":
                    plan = [{"dn": u["dn"], "addr": u["mail"],
                             "new_hop": "mbx-moved-%04d.%s" % (rep * a.changes + i, dom)}
                            for i, u in enumerate(moved[rep * a.changes:(rep + 1) * a.changes])]
                    side = Changes(SambaHops(dc), sock, plan, rate=a.change_rate,
                                   poll_ms=a.change_poll_ms, stale_s=a.change_stale_s)
                    side.prepare()
                st0 = authd_stats(sock)
                load = LookupLoad(sock, addrs, 2, a.ad_lookup_rate, seed=rep)
                load.start()
                if side:
                    side.start()
                    deadline = side.t_start + duration
                else:
                    deadline = time.monotonic() + duration
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                if side:
                    while not side.writer_done.is_set():
                        time.sleep(0.05)
                n, bad, wall = load.stop()
                if side:
                    side.loadgen_done()
                    side.finish()
                st1 = authd_stats(sock)
                lookups = st1["lookups"] - st0["lookups"]
                r = {"variant": variant, "rep": rep, "load_lookups": n, "load_not_ok": bad,
                     "load_wall_s": wall, "lookups_per_s": n / wall,
                     "authd_lookups": lookups, "authd_searches": st1["searches"] - st0["searches"],
                     "searches_per_lookup": (st1["searches"] - st0["searches"]) / lookups
                     if lookups else None}
                if side:
                    r["changes"] = side.result()
                runs.append(r)
                ch = r.get("changes")
                log("  samba %-8s rep %d: %7.0f lookups/s  searches/lookup %.4f%s" % (
                    variant, rep, r["lookups_per_s"], r["searches_per_lookup"] or 0,
                    "  delay p50 %.0f p99 %.0f max %.0f ms, unseen %d, stale %d"
                    % (ch["delay_p50_ms"] or -1, ch["delay_p99_ms"] or -1,
                       ch["delay_max_ms"] or -1, ch["unseen"], ch["stale_after_delay"])
                    if ch else ""))
    finally:
        lab.stop(authd)
    chg = [r for r in runs if r["variant"] == "changes"]
    std = [r for r in runs if r["variant"] == "steady"]
    delays = [d for r in chg for d in r["changes"]["delays_ms"]]
    out = {
        "directory": "samba", "users": a.users, "addresses": len(addrs),
        "watch": sync_line.strip(),
        "load": "%d cached LOOKUPs/s asked (open loop, 2 connections), random addresses"
                % a.ad_lookup_rate,
        "samba_prefork_children": a.samba_prefork_children or "Samba's default (4)",
        "changes": sum(r["changes"]["changes"] for r in chg),
        "unseen": sum(r["changes"]["unseen"] for r in chg),
        "delay_p50_ms": percentile(delays, 50),
        "delay_p99_ms": percentile(delays, 99),
        "delay_max_ms": max(delays) if delays else None,
        "stale_after_delay": sum(r["changes"]["stale_after_delay"] for r in chg),
        "answers_checked_after_delay": sum(r["changes"]["answers_checked_after_delay"]
                                           for r in chg),
        "tempfail_answers": sum(r["changes"]["tempfail_answers"] for r in chg),
        "searches_per_lookup_steady": statistics.median(r["searches_per_lookup"] for r in std),
        "searches_per_lookup_changes": statistics.median(r["searches_per_lookup"]
                                                         for r in chg),
        "lookups_per_s_steady": statistics.median(r["lookups_per_s"] for r in std),
        "lookups_per_s_changes": statistics.median(r["lookups_per_s"] for r in chg),
        "runs": runs,
    }
    out["lookups_per_s_changes_over_steady"] = \
        out["lookups_per_s_changes"] / out["lookups_per_s_steady"]
    print("Directory changes on Active Directory (Samba %s), authd alone: %d changes in %d "
          "runs at %.0f/s; load: %s" % (dc.realm, out["changes"], len(chg), a.change_rate,
                                        out["load"]))
    f = (lambda v: "%.0f" % v if v is not None else "n/a")
    print("  authd follows: %s" % out["watch"])
    print("  delay from the write's return to authd's new answer: p50 %s ms, p99 %s ms, "
          "max %s ms; not seen within 30 s: %d" % (f(out["delay_p50_ms"]),
                                                    f(out["delay_p99_ms"]),
                                                    f(out["delay_max_ms"]), out["unseen"]))
    print("  stale answers after the delay: %d (of %d); TEMPFAIL answers: %d"
          % (out["stale_after_delay"], out["answers_checked_after_delay"],
             out["tempfail_answers"]))
    print("  LDAP searches per lookup (authd's STATS: every search / every lookup, the "
          "poller's included): %.4f without changes, %.4f with"
          % (out["searches_per_lookup_steady"], out["searches_per_lookup_changes"]))
    print("  Samba's prefork children: %s" % out["samba_prefork_children"])
    print("  lookups/s done (asked %d): %.0f without changes, %.0f with (x%.3f, medians)"
          % (a.ad_lookup_rate, out["lookups_per_s_steady"], out["lookups_per_s_changes"],
             out["lookups_per_s_changes_over_steady"]))
    return out
