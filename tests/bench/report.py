"""What run.py prints: the figures of every (MTA, variant) as median
[min-max] over the repeats, the runs in the order they were made with the
machine's load, the ceilings, the idle sessions, the dirmx/Postfix ratios
and the targets of issue 15 with the measured value and a verdict. The
same data go into the JSON line (summarize, ratios, targets)."""

import statistics

FIGURES = ["accepted_msgs_per_s", "e2e_msgs_per_s", "dot_p50_ms", "dot_p99_ms", "dot_max_ms",
           "envelope_p99_ms", "envelope_max_ms", "cpu_s_per_1000", "peak_pss_mb",
           "ldap_searches", "ldap_searches_per_msg", "ldap_searches_per_distinct_rcpt",
           "loadavg_before", "other_cpu_busy_frac", "group_cold_ms", "idle_routerd_pss_mb",
           "idle_routerd_rss_mb", "idle_sessions_held"]
THROUGHPUT = ("accepted_msgs_per_s", "e2e_msgs_per_s")


def summarize(results):
    groups = {}
    for r in results:
        groups.setdefault((r["mta"], r["variant"]), []).append(r)
    summary = {}
    for (mta, variant), rs in groups.items():
        s = {}
        for f in FIGURES:
            # a run without every message accepted is no throughput figure
            # (kept in runs, counted in failed_runs)
            vals = [r[f] for r in rs if r.get(f) is not None
                    and (f not in THROUGHPUT or r["accepted"] == r["messages"])]
            if vals:
                s[f] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                        "n": len(vals)}
                if f in THROUGHPUT:
                    s[f]["max_over_min"] = max(vals) / min(vals) if min(vals) > 0 else None
            else:
                s[f] = None
        s["other_cpu_busy_frac_max"] = max((r["other_cpu_busy_frac"] or 0) for r in rs)
        s["runs"] = len(rs)
        # a run that did not get every message accepted (or smtp-source
        # stopped early): its msg/s is not a figure of the shape
        s["failed_runs"] = sum(1 for r in rs if r["accepted"] != r["messages"])
        summary.setdefault(mta, {})[variant] = s
    return summary


def ratios(summary):
    out = {}
    if "dirmx" not in summary or "postfix" not in summary:
        return out
    for variant, d in summary["dirmx"].items():
        p = summary["postfix"].get(variant)
        if not p:
            continue
        rv = {}
        for f in FIGURES:
            if d.get(f) and p.get(f) and p[f]["median"]:
                rv[f] = d[f]["median"] / p[f]["median"]
            else:
                rv[f] = None
        out[variant] = rv
    return out


def ceilings(summary, shapes):
    """Per generator shape: the no-MTA ceiling and each MTA's share of it
    (accepted msg/s, medians)."""
    out = {}
    ceil = summary.get("ceiling", {})
    for shape in shapes:
        c = (ceil.get(shape) or {}).get("accepted_msgs_per_s")
        if not c:
            continue
        variants = (["r%s-cold" % shape[6:], "r%s-warm" % shape[6:]]
                    if shape.startswith("pipe-r") else [shape])
        row = {"ceiling_msgs_per_s": c, "variants": {}}
        for v in variants:
            for mta in ("dirmx", "postfix"):
                m = (summary.get(mta, {}).get(v) or {}).get("accepted_msgs_per_s")
                row["variants"].setdefault(v, {})[mta] = {
                    "msgs_per_s": m["median"] if m else None,
                    "share_of_ceiling": m["median"] / c["median"] if m and c["median"] else None}
        out[shape] = row
    return out


def fmt(s, f, digits=1):
    if not s or not s.get(f):
        return "n/a"
    m = s[f]
    spread = ""
    if m["n"] > 1:
        spread = " [%.*f-%.*f]" % (digits, m["min"], digits, m["max"])
    return "%.*f%s" % (digits, m["median"], spread)


COLS = [("accepted msg/s", "accepted_msgs_per_s", 0, 16), ("max/min", None, 2, 7),
        ("e2e msg/s", "e2e_msgs_per_s", 0, 16), ("p50 ms", "dot_p50_ms", 1, 16),
        ("p99 ms", "dot_p99_ms", 1, 17), ("env p99 ms", "envelope_p99_ms", 1, 17),
        ("cpu ms/msg", "cpu_s_per_1000", 2, 17), ("PSS MB", "peak_pss_mb", 1, 16),
        ("ldap/msg", "ldap_searches_per_msg", 3, 12),
        ("ldap/distinct", "ldap_searches_per_distinct_rcpt", 3, 13),
        ("load1", "loadavg_before", 1, 14), ("other%", "other_cpu_busy_frac", 0, 10),
        ("fail", None, 0, 4)]


def _cell(s, mta, variant, name, f, dg):
    if name == "max/min":
        m = s.get("accepted_msgs_per_s")
        return "%.2f" % m["max_over_min"] if m and m.get("max_over_min") else "n/a"
    if name == "fail":
        return "%d/%d" % (s["failed_runs"], s["runs"])
    if f == "other_cpu_busy_frac":
        m = s.get(f)
        return "%.0f [max %.0f]" % (100 * m["median"], 100 * m["max"]) if m else "n/a"
    if variant.startswith("group") and f in ("accepted_msgs_per_s", "e2e_msgs_per_s"):
        dg = 2  # a few messages per second: 0 decimals would say 0
    v = fmt(s, f, dg)
    if f == "e2e_msgs_per_s" and mta == "ceiling":
        v = "-"  # a sink delivers nothing
    elif f == "e2e_msgs_per_s" and v == "n/a":
        v = "n/a (not delivered)" if s.get("accepted_msgs_per_s") else "n/a"
    return v


def print_table(summary, runs, notes):
    """notes: {(mta, variant): text} for rows that are not measured."""
    print("Figures: median [min-max] over the repeats. accepted: messages answered 2xx to the "
          "final dot / generator wall time; e2e: accepted / time from the first connect until "
          "the MTA's queue is empty and the sinks have every transaction; p50/p99: final dot "
          "to its reply; env: MAIL to the last RCPT reply; cpu: the MTA's whole process tree "
          "(routerd + authd for dirmx), receiving and delivering; load1: loadavg before the "
          "run; other%: CPU used by anything outside the bench during the run; fail: runs "
          "without every message accepted (their msg/s is left out).")
    bad = [r for r in runs if r.get("all_delivered") is False]
    print("Delivery: %s" % ("every message of every run reached the sinks (%d runs)"
                            % sum(1 for r in runs if r.get("all_delivered"))
                            if not bad else "NOT everything reached the sinks in: "
                            + ", ".join("%s %s rep %s" % (r["mta"], r["variant"], r.get("rep"))
                                        for r in bad)))
    head = "%-8s %-11s" % ("MTA", "variant") + "".join(" %-*s" % (w, c) for c, _, _, w in COLS)
    print(head)
    print("-" * len(head))
    rows = sorted(set((m, v) for m in summary for v in summary[m]) | set(notes))
    for mta, variant in rows:
        line = "%-8s %-11s" % (mta, variant)
        if (mta, variant) in notes:
            print(line + " " + notes[(mta, variant)])
            continue
        s = summary[mta][variant]
        for c, f, dg, w in COLS:
            line += " %-*s" % (w, _cell(s, mta, variant, c, f, dg))
        if s["other_cpu_busy_frac_max"] > 0.15:
            line += "  (machine busy)"
        print(line)


def print_runs(runs):
    print("\nRuns in the order they were made (load1 = loadavg before, other = CPU used by "
          "anything outside the bench):")
    for i, r in enumerate(runs):  # appended as they were made
        v = r["accepted_msgs_per_s"]
        print("  %3d  rep %-4s %-8s %-11s %9s msg/s  load1 %5.2f  other %3.0f%%%s" % (
            i, r.get("rep"), r["mta"], r["variant"],
            "%.1f" % v if v is not None else "n/a", r["loadavg_before"],
            100 * (r["other_cpu_busy_frac"] or 0),
            "" if r["accepted"] == r["messages"] else "  FAILED: %d of %d accepted: %s" % (
                r["accepted"], r["messages"], r.get("first_error"))))


def print_ceilings(ceil, fsyncs):
    if not ceil:
        return
    print("\nCeilings: the same generator straight into one smtp-sink (no MTA), accepted "
          "msg/s, median [min-max]; each MTA's median as a share of it. fsync rate in the "
          "spool dir: %.0f/s" % fsyncs)
    for shape, row in ceil.items():
        c = row["ceiling_msgs_per_s"]
        print("  %-12s ceiling %s" % (shape, "%.0f [%.0f-%.0f]" % (c["median"], c["min"],
                                                                     c["max"])))
        for v, by in row["variants"].items():
            print("      %-12s %s" % (v, "  ".join(
                "%s %s (%s)" % (mta, "%.0f" % x["msgs_per_s"] if x["msgs_per_s"] else "n/a",
                                "%.0f%%" % (100 * x["share_of_ceiling"])
                                if x["share_of_ceiling"] else "n/a")
                for mta, x in by.items())))


def print_idle(runs):
    idle = [r for r in runs if r.get("idle")]
    if not idle:
        return
    med = (lambda k: statistics.median(r["idle"][k] for r in idle))
    i0 = idle[0]["idle"]
    print("\nIdle sessions (dirmx): %d wanted per run, from %d loopback source addresses "
          "(%d each, client_connection_limit 50), listener max_sessions %d; routerd's "
          "descriptor limit %s%s" % (
              i0["sessions_wanted"], i0["source_addresses"], i0["per_source_address"],
              i0["max_sessions"], i0["routerd_nofile_limit"],
              "" if all(r["idle"]["routerd_nofile_enough"] for r in idle)
              else " -- TOO LOW for the idle sessions"))
    for r in idle:
        i = r["idle"]
        print("  rep %s: held %d (%d after the load, %d failed to open%s) in %.1f s; routerd "
              "PSS %.1f MB RSS %.1f MB (before %.1f / %.1f), %.2f KB PSS per session; authd "
              "PSS %.1f MB RSS %.1f MB; normal client p99 %s ms, envelope p99 %s ms" % (
                  r.get("rep"), i["sessions_held"], i["sessions_held_after_load"],
                  i["sessions_failed_to_open"],
                  ": " + i["first_error"] if i["first_error"] else "", i["open_s"],
                  i["routerd_pss_mb"], i["routerd_rss_mb"], i["routerd_pss_mb_before"],
                  i["routerd_rss_mb_before"], i["routerd_kb_per_session"] or 0,
                  i["authd_pss_mb"], i["authd_rss_mb"],
                  "%.1f" % r["dot_p99_ms"] if r["dot_p99_ms"] is not None else "n/a",
                  "%.1f" % r["envelope_p99_ms"] if r["envelope_p99_ms"] is not None
                  else "n/a"))
    print("  medians: routerd PSS %.1f MB, RSS %.1f MB; authd PSS %.1f MB" % (
        med("routerd_pss_mb"), med("routerd_rss_mb"), med("authd_pss_mb")))


def print_ratios(rat):
    if not rat:
        return
    print("\ndirmx/Postfix ratios (medians):")
    for variant in sorted(rat):
        rv = rat[variant]
        print("  %-11s accepted %s  e2e %s  p99 %s  cpu %s  PSS %s  ldap/msg %s" % (
            variant, *("%.2fx" % rv[f] if rv.get(f) is not None else "n/a"
                       for f in ("accepted_msgs_per_s", "e2e_msgs_per_s", "dot_p99_ms",
                                 "cpu_s_per_1000", "peak_pss_mb", "ldap_searches_per_msg"))))


# -- the targets of issue 15 ------------------------------------------------------

def _med(summary, mta, variant, f):
    m = ((summary.get(mta) or {}).get(variant) or {}).get(f)
    return m["median"] if m else None


def targets(summary, rat, ceil, runs, restrict_half=False):
    """[{target, measured, met}]: met is True, False or None (not run).
    restrict_half: the run had sender restrictions on every other user
    (run.py --restrict-half): their warm LDAP searches per message too."""
    out = []

    def add(target, measured, met):
        out.append({"target": target, "measured": measured, "met": met})

    def ratio_row(variant, want, label):
        rv = rat.get(variant)
        if not rv or rv.get("accepted_msgs_per_s") is None:
            add(label, "not run", None)
            return
        acc, e2e = rv["accepted_msgs_per_s"], rv.get("e2e_msgs_per_s")
        worst = min(x for x in (acc, e2e) if x is not None)
        add(label, "%.2fx accepted, %s end to end (%s vs %s msg/s)" % (
            acc, "%.2fx" % e2e if e2e is not None else "n/a",
            "%.0f" % _med(summary, "dirmx", variant, "accepted_msgs_per_s"),
            "%.0f" % _med(summary, "postfix", variant, "accepted_msgs_per_s")), worst >= want)

    def steady_row(variant, label):
        m = ((summary.get("dirmx") or {}).get(variant) or {}).get("accepted_msgs_per_s")
        if not m or m["n"] < 2:
            add(label, "not run (needs >= 2 repeats)" if m else "not run", None)
            return
        add(label, "%.2f over %d runs [%.0f-%.0f msg/s]" % (m["max_over_min"] or 0, m["n"],
                                                            m["min"], m["max"]),
            m["max_over_min"] is not None and m["max_over_min"] <= 1.3)

    ratio_row("np-fixed", 4, "np-fixed (no pipelining, 1 fixed rcpt, 1 KiB): >= 4x Postfix")
    steady_row("np-fixed", "np-fixed: dirmx max/min <= 1.3 over the repeats")
    ratio_row("smtp-source", 4, "smtp-source (Postfix's generator, same shape): >= 4x Postfix")
    steady_row("smtp-source", "smtp-source: dirmx max/min <= 1.3 over the repeats")
    for v in ("r1-cold", "r1-warm"):
        ratio_row(v, 5, "pipe-r1 %s: >= 5x Postfix" % v[3:])
    row = (ceil.get("pipe-r1") or {}).get("variants", {})
    for v in ("r1-cold", "r1-warm"):
        x = (row.get(v) or {}).get("dirmx")
        if not x or x["share_of_ceiling"] is None:
            add("pipe-r1 %s: >= 40 %% of the no-MTA ceiling" % v[3:], "not run", None)
            continue
        add("pipe-r1 %s: >= 40 %% of the no-MTA ceiling" % v[3:], "%.0f %% (%.0f of %.0f msg/s)"
            % (100 * x["share_of_ceiling"], x["msgs_per_s"],
               ceil["pipe-r1"]["ceiling_msgs_per_s"]["median"]), x["share_of_ceiling"] >= 0.4)
    for v in ("r1-cold", "r1-warm"):
        c = _med(summary, "dirmx", v, "cpu_s_per_1000")
        add("pipe-r1 %s: <= 0.4 ms CPU per message, routerd + authd" % v[3:],
            "%.2f ms" % c if c is not None else "not run", c <= 0.4 if c is not None else None)
    idle = [r for r in runs if r.get("idle")]
    if idle:
        want = idle[0]["idle"]["sessions_wanted"]
        pss = statistics.median(r["idle"]["routerd_pss_mb"] for r in idle)
        rss = statistics.median(r["idle"]["routerd_rss_mb"] for r in idle)
        held = min(r["idle"]["sessions_held_after_load"] for r in idle)
        add("idle: %d sessions held, routerd < 100 MB" % want,
            "%d of %d held (fewest); routerd PSS %.1f MB, RSS %.1f MB (medians)"
            % (held, want, pss, rss), held == want and max(pss, rss) < 100)
        p99 = _med(summary, "dirmx", "idle", "dot_p99_ms")
        env = _med(summary, "dirmx", "idle", "envelope_p99_ms")
        add("idle: normal client p99 < 50 ms beside them",
            "dot-to-250 p99 %s ms, envelope p99 %s ms (medians)" % (
                "%.1f" % p99 if p99 is not None else "n/a",
                "%.1f" % env if env is not None else "n/a"),
            p99 < 50 and env < 50 if p99 is not None and env is not None else None)
    else:
        add("idle: 10,000 sessions held, routerd < 100 MB", "not run", None)
        add("idle: normal client p99 < 50 ms beside them", "not run", None)
    g = [v for v in (summary.get("dirmx") or {}) if v.startswith("group")]
    if g:
        n = _med(summary, "dirmx", g[0], "ldap_searches")
        ms = _med(summary, "dirmx", g[0], "group_cold_ms")
        add("%s cold: <= 10 LDAP searches" % g[0], "%.0f searches (median per cold run)" % n,
            n <= 10)
        add("%s cold: < 300 ms" % g[0], "%.0f ms (slowest MAIL-to-RCPT reply, median)" % ms
            if ms is not None else "n/a", ms < 300 if ms is not None else None)
    else:
        add("group cold: <= 10 LDAP searches", "not run", None)
        add("group cold: < 300 ms", "not run", None)
    add("hung DC: max lookup < 1 s, 0 failed", "not measured by this bench (the 2-DC Samba "
        "test)", None)
    # issue 16's, only in a run that has the restrictions (--restrict-half)
    warm = [v for v in (summary.get("dirmx") or {}) if v.startswith("r") and
            v.endswith("-warm")]
    for v in sorted(warm) if restrict_half else ():
        n = _med(summary, "dirmx", v, "ldap_searches_per_msg")
        add("%s, restrictions on half the recipients: < 0.1 LDAP searches per message "
            "(issue 16)" % v, "%.3f (median)" % n if n is not None else "n/a",
            n < 0.1 if n is not None else None)
    return out


def print_targets(tg):
    print("\nIssue 15 targets (measured in this run):")
    w = max(len(t["target"]) for t in tg)
    for t in tg:
        print("  %-*s  %-9s %s" % (w, t["target"], {True: "met", False: "NOT MET",
                                                     None: "-"}[t["met"]], t["measured"]))
