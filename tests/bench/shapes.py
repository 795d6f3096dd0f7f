"""The load shapes of issue 15 (see README.md), run for every MTA and for
the no-MTA ceiling, interleaved: repeat after repeat, shape after shape,
each MTA in turn (the order rotates with the repeat), so that a slow
stretch of a shared machine falls on both MTAs alike.

    pipe-rN      loadgen, MAIL/RCPT pipelined, N random recipients per
                 message; a cold run (authd's cache flushed) then a warm one
                 (variants rN-cold, rN-warm)
    np-fixed     loadgen without pipelining, one fixed recipient, 1 KiB
    smtp-source  Postfix's smtp-source: no pipelining, one fixed
                 recipient, 1 KiB, timed by wall clock
    idle         dirmx: IDLE sessions held open (idle.py) while a normal
                 client runs; Postfix: n/a (a process per session)
    group        the large group, cold (variant groupNNNN)

Every run goes through run.measure (CPU, memory, end-to-end delivery,
LDAP searches, the machine's load); ctx carries what it needs.
"""

import copy
import re
import subprocess
import time

import idle as idlemod

ALL_SHAPES = ["pipe-r1", "pipe-r5", "np-fixed", "smtp-source", "idle", "group"]
FIXED_SIZE = 1024  # np-fixed and smtp-source: 1 KiB bodies
SOURCE_HELO = "source.bench.example"


def parse_shapes(text, rcpts=None, group_messages=1):
    """The --shapes list, checked. --rcpts (older commands) replaces the
    pipe-rN shapes; --group-messages 0 drops the group."""
    shapes = []
    for s in (x.strip() for x in text.split(",")):
        if not s:
            continue
        if not (s in ALL_SHAPES or re.fullmatch(r"pipe-r([1-9]|[1-5][0-9]|6[0-4])", s)):
            raise SystemExit("unknown shape %r (known: %s, pipe-rN for N <= 64)"
                             % (s, ",".join(ALL_SHAPES)))
        if s not in shapes:
            shapes.append(s)
    if rcpts:
        pipes = ["pipe-r%d" % r for r in rcpts]
        at = next((i for i, s in enumerate(shapes) if s.startswith("pipe-r")), 0)
        shapes = [s for s in shapes if not s.startswith("pipe-r")]
        shapes[at:at] = pipes
    if not group_messages:
        shapes = [s for s in shapes if s != "group"]
    return shapes


def pipe_rcpts(shape):
    return int(shape[len("pipe-r"):])


class Ceiling:
    """The generator straight into one smtp-sink (127.0.0.1): no MTA."""
    name = "ceiling"

    def __init__(self, sinks):
        self.sinks, self.port = sinks, sinks.port

    def roots(self):
        return self.sinks.pids()[:1]


def fixed_load(ctx):
    """a and files for the fixed-recipient shapes: one known user, 1 KiB,
    no pipelining, one message per connection."""
    a = copy.copy(ctx.a)
    a.size, a.no_pipelining, a.per_conn = FIXED_SIZE, True, 1
    files = dict(ctx.files, users=ctx.files["fixed"], addr_hosts=[ctx.files["fixed_host"]])
    return a, files


def smtp_source(ctx, port, messages):
    """Postfix's smtp-source: a.concurrency sessions, one message per
    connection, FIXED_SIZE bytes, the fixed recipient. It stops at the
    first reply that is not the expected one (no -A), with exit status 1:
    such a run has no msg/s figure (a run cut short must not look fast)."""
    a = ctx.a
    argv = [ctx.smtp_source, "-c", "-s", str(a.concurrency), "-m", str(messages),
            "-l", str(FIXED_SIZE), "-f", "source@bench.example", "-t", ctx.files["known"],
            "-M", SOURCE_HELO, "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, timeout=max(60, messages / 10))
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:  # run() has killed it (its own child)
        rc, out, err = None, e.stdout or b"", (e.stderr or b"") + b"\ntimed out"
    wall = time.monotonic() - t0
    # -c: the counter of completed DATA commands, "N\r" each
    counts = re.findall(rb"\d+", out)
    done = int(counts[-1]) if counts else 0
    ok = rc == 0 and done == messages
    errtxt = err.decode("utf-8", "replace").strip().splitlines()
    none = {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {"generator": "smtp-source", "sessions": a.concurrency, "size": FIXED_SIZE,
            "pipelining": False, "accepted": done,
            "rejected": 0 if ok else messages - done, "tempfailed": 0,
            "failed_sessions": 0 if ok else 1,
            "first_error": "" if ok else "smtp-source exit %s: %s" % (
                rc, errtxt[-1] if errtxt else "(no message)"),
            "exit_status": rc, "distinct_rcpts": 1, "wall_s": wall,
            "msgs_per_s": done / wall if ok and wall > 0 else None,
            "dot_ms": none, "envelope_ms": none}


def _line(ctx, r):
    f = (lambda k, fmt: fmt % r[k] if r.get(k) is not None else "n/a")
    ctx.log("  %-7s %-11s rep %s: %s acc/s  e2e %s  p99 %s ms  env p99 %s ms  ldap %d  "
            "cpu/1k %s s  pss %.1f MB  load %.2f  other-busy %.2f%s" % (
                r["mta"], r["variant"], r.get("rep"), f("accepted_msgs_per_s", "%7.1f"),
                f("e2e_msgs_per_s", "%.1f/s"), f("dot_p99_ms", "%.1f"),
                f("envelope_p99_ms", "%.1f"), r["ldap_searches"], f("cpu_s_per_1000", "%.2f"),
                r["peak_pss_mb"], r["loadavg_before"], r["other_cpu_busy_frac"] or 0,
                "" if r["accepted"] == r["messages"] else "  FAILED: %d of %d accepted (%s)"
                % (r["accepted"], r["messages"], r["first_error"])))


def _keep(ctx, r, shape, rep, results):
    r["shape"], r["rep"] = shape, rep
    results.append(r)
    _line(ctx, r)
    return r


def run_shape(ctx, mta, shape, rep, results):
    """One repeat of one shape for one MTA (or the ceiling)."""
    a, ceiling = ctx.a, mta.name == "ceiling"
    cmsgs = a.messages if a.smoke else max(a.messages, 2000)  # the sink is fast
    if shape.startswith("pipe-r"):
        rc = pipe_rcpts(shape)
        if ceiling:
            _keep(ctx, ctx.measure(mta, ctx.slapd, ctx.sinks, ctx.loadgen, ctx.files, a,
                                   9000 + rep, cmsgs, rc, shape), shape, rep, results)
            return
        # cold: authd's cache empty (flushed), then warm: the same load again
        mta.flush_cache()
        for variant in ("cold", "warm"):
            _keep(ctx, ctx.measure(mta, ctx.slapd, ctx.sinks, ctx.loadgen, ctx.files, a,
                                   1000 * rep + rc, a.messages, rc, "r%d-%s" % (rc, variant)),
                  shape, rep, results)
    elif shape == "np-fixed":
        fa, ff = fixed_load(ctx)
        _keep(ctx, ctx.measure(mta, ctx.slapd, ctx.sinks, ctx.loadgen, ff, fa, 3000 + rep,
                               cmsgs if ceiling else a.messages, 1, shape), shape, rep, results)
    elif shape == "smtp-source":
        fa, ff = fixed_load(ctx)
        n = cmsgs if ceiling else a.messages
        _keep(ctx, ctx.measure(mta, ctx.slapd, ctx.sinks, ctx.loadgen, ff, fa, 4000 + rep, n, 1,
                               shape, gen=lambda port: smtp_source(ctx, port, n)),
              shape, rep, results)
    elif shape == "group":
        if ceiling:
            return
        mta.flush_cache()
        r = ctx.measure(mta, ctx.slapd, ctx.sinks, ctx.loadgen, ctx.files, a, rep + 77,
                        a.group_messages, 1, "group%d" % ctx.files["group_size"], group=True)
        # the group's RCPT is answered once it is expanded: the slowest
        # envelope of the run is the cold expansion as a client sees it
        r["group_cold_ms"] = r["envelope_max_ms"]
        _keep(ctx, r, shape, rep, results)
    elif shape == "idle":
        if mta.name == "dirmx":
            run_idle(ctx, mta, rep, results)
    else:
        raise AssertionError(shape)


def run_idle(ctx, mta, rep, results):
    """ctx.a.idle_sessions idle sessions held against routerd; the normal
    client load (idle-base without them, then idle with them, the same
    messages on a warm cache); routerd's and authd's memory while they are
    held."""
    a = ctx.a
    na = copy.copy(a)
    na.concurrency, na.no_pipelining, na.per_conn = a.idle_client_sessions, False, 1
    seed = 7000 + rep

    def normal(variant):
        return ctx.measure(mta, ctx.slapd, ctx.sinks, ctx.loadgen, ctx.files, na, seed,
                           a.idle_messages, 1, variant)
    # unrecorded, so that idle-base and idle both find authd's cache warm
    # (measure() waits for delivery: nothing of it reaches the next run)
    normal("idle-warmup")
    _keep(ctx, normal("idle-base"), "idle", rep, results)
    rpid, apid = mta.routerd.pid, mta.authd.pid
    mem0 = {"routerd": idlemod.proc_mem_mb(rpid), "authd": idlemod.proc_mem_mb(apid)}
    fds0 = idlemod.proc_fds(rpid)
    flood = idlemod.IdleFlood("127.0.0.1", mta.port, a.idle_sessions)
    try:
        open_s = flood.open(timeout=max(60.0, a.idle_sessions / 50.0))
        held_open = len(flood.held)
        time.sleep(0.5)  # routerd settles (a session's buffers after EHLO)
        mem1 = {"routerd": idlemod.proc_mem_mb(rpid), "authd": idlemod.proc_mem_mb(apid)}
        fds1 = idlemod.proc_fds(rpid)
        r = normal("idle")
        mem2 = {"routerd": idlemod.proc_mem_mb(rpid), "authd": idlemod.proc_mem_mb(apid)}
        held_after, dropped = flood.check()
    finally:
        flood.close()
    # routerd closes them: wait until its descriptors are back (so that
    # the next run does not pay for 10,000 closes)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n = idlemod.proc_fds(rpid)
        if n is None or fds0 is None or n <= fds0 + 20:
            break
        time.sleep(0.2)
    nofile = idlemod.proc_nofile(rpid)
    peak = {k: (max(mem1[k][0], mem2[k][0]), max(mem1[k][1], mem2[k][1])) for k in mem1}
    r["idle"] = {
        "sessions_wanted": a.idle_sessions, "sessions_held": held_open,
        "sessions_held_after_load": held_after, "sessions_dropped_during_load": dropped,
        "sessions_failed_to_open": flood.failed, "first_error": flood.first_error,
        "open_s": open_s, "source_addresses": -(-a.idle_sessions // idlemod.PER_ADDR),
        "per_source_address": idlemod.PER_ADDR,
        "routerd_pss_mb": peak["routerd"][0], "routerd_rss_mb": peak["routerd"][1],
        "authd_pss_mb": peak["authd"][0], "authd_rss_mb": peak["authd"][1],
        "routerd_pss_mb_before": mem0["routerd"][0], "routerd_rss_mb_before": mem0["routerd"][1],
        "authd_pss_mb_before": mem0["authd"][0], "authd_rss_mb_before": mem0["authd"][1],
        "routerd_kb_per_session": ((peak["routerd"][0] - mem0["routerd"][0]) * 1024
                                   / held_open) if held_open else None,
        "routerd_fds_before": fds0, "routerd_fds_held": fds1,
        "routerd_nofile_limit": nofile,
        "routerd_nofile_enough": nofile is None or nofile >= a.idle_sessions + 64,
        "max_sessions": ctx.max_sessions,
    }
    # the figures of the table's idle row
    r["idle_routerd_pss_mb"] = peak["routerd"][0]
    r["idle_routerd_rss_mb"] = peak["routerd"][1]
    r["idle_sessions_held"] = held_after
    _keep(ctx, r, "idle", rep, results)
    i = r["idle"]
    ctx.log("  dirmx   idle        rep %d: %d of %d sessions held (%.1f s to open, %d "
            "failed: %s), %d still after the load; routerd PSS %.1f MB RSS %.1f MB (%.1f "
            "before), authd PSS %.1f MB; routerd fd limit %s" % (
                rep, held_open, a.idle_sessions, open_s, flood.failed,
                flood.first_error or "-", held_after, i["routerd_pss_mb"],
                i["routerd_rss_mb"], i["routerd_pss_mb_before"], i["authd_pss_mb"], nofile))
    if not i["routerd_nofile_enough"]:
        ctx.log("  WARNING: routerd's descriptor limit (%s) is below the %d idle sessions"
                % (nofile, a.idle_sessions))


def run_all(ctx, mtas, shapes, results):
    """Every repeat of every shape, for the ceiling and each MTA in turn;
    the order of the three rotates with the repeat."""
    who = [Ceiling(ctx.sinks)] + list(mtas)
    for rep in range(ctx.a.repeat):
        k = rep % len(who)
        order = who[k:] + who[:k]
        for shape in shapes:
            for m in order:
                run_shape(ctx, m, shape, rep, results)


def postfix_idle_note(process_limit):
    return ("n/a (process-per-session, default_process_limit %d: beyond %d idle clients, "
            "every client, the normal one included, waits in the listen queue)"
            % (process_limit, process_limit))


def find_smtp_source():
    from dirmxlab.core import find_program
    return find_program("smtp-source")


def fd_headroom(shapes, idle_sessions):
    """Descriptors this process needs: the idle sessions, and some."""
    return (idle_sessions + 4096) if "idle" in shapes else 0

