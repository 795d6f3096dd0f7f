#!/usr/bin/env python3
"""A frozen domain controller (issue 15 part 5): what a hung DC costs the
lookups, against two real Samba AD DCs.

    python3 tests/bench/adfreeze.py --build-dir build [--rate 20] [--seconds 20]
        [--before 10] [--repeat 3] [--variants freeze,restart] [--timeout 5s]

Two Samba AD DCs of one domain (the lab's cached pair, dirmxlab.samba), a
service account and enough mail users replicated to both. For each repeat
and variant a fresh authd (the AD preset: DCs from the SRV records of the
DCs' own DNS, simple bind over StartTLS) gets `--rate` uncached LOOKUPs a
second (open loop, each a new address and nocache=1: every lookup
searches the directory) for `--before` seconds; then the DC that answered
most of the last 2 s (the one authd prefers) is hit for `--seconds`:
  freeze:  SIGSTOP of its whole process tree, then SIGCONT;
  restart: stopped (connections refused), then started again;
and the load goes on `--seconds` after it is back. Reported per variant,
median [min-max] over the repeats: lookups sent / answered / failed,
latency p50 / p99 / max before, during (in flight at any time of the
outage) and after, the lookups of 1 s or more, who answered during the
outage, and how long after the DC's return (SIGCONT, or the restarted DC
listening again) authd's first answer from it came. A table, then the
whole result as one JSON line (the last line).

The issue's target: max latency < 1 s while a DC is frozen, 0 failed.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "lab"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

from failovertest import AdPair, Load, Outage, analyse  # noqa: E402


def log(msg):
    sys.stderr.write("[adfreeze %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def one_run(ad, name, kind, a, addrs):
    authd = ad.start_authd(name, timeout=a.timeout)
    load = Load(authd.sock, addrs, a.rate)
    outage = None
    try:
        load.start()
        time.sleep(a.before)
        victim = ad.dc_of(load.recent_dc())
        outage = Outage(victim, kind)
        outage.begin()
        time.sleep(a.seconds)
        outage.end()
        time.sleep(a.seconds)
        records = load.stop()
    finally:
        if outage is not None:
            outage.close()
        if not victim_alive(outage):
            outage.dc.start()
        log_text = authd.log()
        authd.stop()
    fig = analyse(records, outage, ad.uri(victim))
    fig["hedges_won"] = log_text.count("event=hedge_won")
    fig["dc_down_events"] = log_text.count("event=dc_down dc=" + ad.uri(victim))
    return fig


def victim_alive(outage):
    return outage is None or outage.dc.alive()


def med(vals):
    """median [min-max] of the non-None values, as text and as numbers."""
    v = [x for x in vals if x is not None]
    if not v:
        return "n/a", None
    m = statistics.median(v)
    f = (lambda x: "%.0f" % x) if max(abs(x) for x in v) >= 10 else (lambda x: "%.2f" % x)
    return "%s [%s-%s]" % (f(m), f(min(v)), f(max(v))), {"median": m, "min": min(v),
                                                          "max": max(v)}


ROWS = [
    ("lookups sent", lambda f: f["sent"]),
    ("answered", lambda f: f["answered"]),
    ("failed (not OK or no answer)", lambda f: f["failed"]),
    ("outage length s", lambda f: f["outage_s"]),
    ("before: p50 / p99 / max ms", ("before",)),
    ("during: p50 / p99 / max ms", ("during",)),
    ("after: p50 / p99 / max ms", ("after",)),
    ("during: lookups >= 100 ms", lambda f: f["during"]["over_100ms"]),
    ("during: lookups >= 1 s", lambda f: f["during"]["over_1s"]),
    ("during: answered by the other DC", lambda f: f["during_by_other"]),
    ("during: answered by the hit DC", lambda f: f["during_by_victim"]),
    ("back on the hit DC after its return, s", lambda f: f["back_s"]),
    ("share of the hit DC, last third of after", lambda f: f["tail_victim_share"]),
    ("hedges won (authd log)", lambda f: f["hedges_won"]),
]


def summarise(runs):
    table, out = [], {}
    for label, get in ROWS:
        if isinstance(get, tuple):
            ph = get[0]
            cells = []
            for k in ("p50_ms", "p99_ms", "max_ms"):
                text, num = med([r[ph][k] for r in runs])
                cells.append(text)
                out["%s_%s" % (ph, k)] = num
            table.append((label, " / ".join(cells)))
        else:
            vals = [get(r) for r in runs]
            text, num = med(vals)
            missing = sum(1 for v in vals if v is None)
            if missing:  # the DC never came back within the run
                text += " (never, in %d of %d runs)" % (missing, len(vals))
                if num is not None:
                    num["never"] = missing
            table.append((label, text))
            out[label] = num
    return table, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--rate", type=float, default=20.0, help="LOOKUPs per second")
    ap.add_argument("--seconds", type=float, default=20.0,
                    help="length of the outage, and of the run after it")
    ap.add_argument("--before", type=float, default=10.0, help="load before the outage, s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variants", default="freeze,restart")
    ap.add_argument("--timeout", default=None,
                    help="authd's [authd] timeout (default: authd's own, 5s)")
    ap.add_argument("--keep", action="store_true", help="keep the lab directory")
    a = ap.parse_args()
    os.environ["DIRMX_BUILD_DIR"] = os.path.abspath(a.build_dir)
    from dirmxlab import Lab

    kinds = [k.strip() for k in a.variants.split(",") if k.strip()]
    per_run = int(a.rate * (a.before + 2 * a.seconds + 20))
    lab = Lab("adfreeze", keep=a.keep or None)
    results = {k: [] for k in kinds}
    try:
        ad = AdPair(lab, per_run, log=log)
        n = 0
        for rep in range(a.repeat):
            for kind in kinds:
                n += 1
                fig = one_run(ad, "r%d-%s" % (rep, kind), kind, a, ad.addrs)
                results[kind].append(fig)
                log("%s rep %d: sent %d failed %d; during p50/p99/max %s/%s/%s ms, >=1 s: %d; "
                    "back after %s s" % (kind, rep, fig["sent"], fig["failed"],
                                         *("%.0f" % (fig["during"][k] or -1)
                                           for k in ("p50_ms", "p99_ms", "max_ms")),
                                         fig["during"]["over_1s"],
                                         "%.2f" % fig["back_s"] if fig["back_s"] is not None
                                         else "never"))
    finally:
        lab.close()
    summary = {"rate": a.rate, "seconds": a.seconds, "before": a.before,
               "repeat": a.repeat, "timeout": a.timeout or "5s (default)", "variants": {}}
    print("A hung domain controller (issue 15 part 5): two Samba AD DCs, %.0f uncached "
          "LOOKUPs/s through authd, the preferred DC hit for %.0f s; median [min-max] over "
          "%d repeats" % (a.rate, a.seconds, a.repeat))
    for kind in kinds:
        table, nums = summarise(results[kind])
        summary["variants"][kind] = {"summary": nums, "runs": results[kind]}
        print("\n%s (%s)" % (kind, "SIGSTOP, then SIGCONT" if kind == "freeze"
                             else "stopped, then started"))
        w = max(len(label) for label, _ in table)
        for label, text in table:
            print("  %-*s  %s" % (w, label, text))
    fz = results.get("freeze", [])
    if fz:
        worst = max(r["during"]["max_ms"] or 0 for r in fz)
        failed = sum(r["failed"] for r in fz)
        summary["target_met"] = worst < 1000 and failed == 0
        print("\ntarget (freeze): max < 1000 ms and 0 failed: worst %.0f ms, %d failed: %s"
              % (worst, failed, "met" if summary["target_met"] else "NOT met"))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
