"""routerd delivery under faults, and `dirmxctl queue`.

- A next hop that is down: the message waits (dirmxctl queue shows it with
  its last error and next attempt, never a bounce: DESIGN.md invariant 2),
  and is delivered once the hop comes up (retry_min 1s, retry_max 2s,
  and a `dirmxctl queue flush`).
- dirmxctl queue list / show / hold / release / delete / flush, and a
  clear error (exit 3) when routerd is not running.
- kill -9 routerd in the middle of deliveries (invariant 1): after the
  restart every acknowledged message arrives, and the only duplicates are
  of transactions in flight at the kill.
- The maximum queue lifetime (1 minute, the smallest the configuration
  accepts): a message whose hop never answers bounces with 5.4.7.
- Held, released and deleted messages stay so across a restart; the one
  delay notice (delay_warning_time 3s, NOTIFY=DELAY) is sent once, also
  across a restart, and never to <> nor unasked.

The directory's "nexthop-user" (dirmxNextHop [legacy-mx.dirmx.test]:2525)
is the down-then-up hop; the directory route of example.net
([mx.example.net]:25) is the hop that never answers. Both names resolve
through dnsmasq to loopback addresses of this lab.
"""

import collections
import os
import re
import time
import unittest

from deliverytest import DeliveryLab, Sink, parse_dsn, wait_for

LIFETIME_S = 60


def records(dl):
    return [
        ("A", "legacy-mx.dirmx.test", dl.net_addr(9)),
        ("A", "mx.example.net", dl.net_addr(10)),   # nothing ever listens
    ]


class DeliveryFaultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dl = DeliveryLab("delivery-faults", records_fn=records, routerd="""\
retry_min = 1s
retry_max = 2s
max_queue_lifetime = 1m
delay_warning_time = 3s
""")
        dl = cls.dl
        # Sent first: it must wait LIFETIME_S before it may bounce; the
        # other tests run meanwhile and test_zz_lifetime checks at the end.
        cls.expiry_sender = dl.user(28)          # sink A
        cls.expiry_t0 = time.monotonic()
        cls.expiry_id = dl.send(cls.expiry_sender, ["someone@example.net"], tag="expiry")

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    def queue_list(self):
        r = self.dl.queue("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def block(self, text, qid):
        """The lines of one message in `dirmxctl queue list` output."""
        m = re.search(r"(?ms)^%s  .*?(?=^\S|\Z)" % re.escape(qid), text)
        return m.group(0) if m else ""

    # -- a next hop that is down --------------------------------------------
    def test_a_next_hop_down_waits_then_delivers(self):
        dl = self.dl
        nh = dl.info["nexthop_user"]
        sender = dl.user(2)                      # sink A
        qid = dl.send(sender, [nh["address"], dl.user(4)], tag="down-1")
        # The reachable recipient goes at once; the other waits.
        self.assertTrue(wait_for(lambda: [t for t in dl.sink_a.delivered()
                                          if t.header("X-Test-Id") == "down-1"], 10))
        self.assertTrue(wait_for(lambda: len(dl.events(qid, "deferred")) >= 2, 15),
                        dl.log()[-2000:])
        out = self.queue_list()
        blk = self.block(out, qid)
        self.assertIn("from <%s>" % sender, blk)
        self.assertRegex(blk, r"age \d+s")
        self.assertRegex(blk, r"last error: .*(refused|connect)", blk)
        self.assertIn(dl.net_addr(9), blk)
        self.assertRegex(blk, r"<%s>  via \[legacy-mx\.dirmx\.test\]:2525  deferred  attempts [2-9]"
                         % re.escape(nh["address"]))
        self.assertRegex(blk, r"<%s>  via \S+  delivered  attempts 1" % re.escape(dl.user(4)))
        show = dl.queue("show", qid)
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertIn("client 127.0.0.1", show.stdout)
        # Hold it: no attempts while held, and list says so.
        self.assertEqual(dl.queue("hold", qid).returncode, 0)
        self.assertIn("held", self.block(self.queue_list(), qid).splitlines()[0])
        # Never a bounce for a hop that is down.
        self.assertEqual(dl.events(qid, "bounced"), [])
        # The hop comes up; nothing goes while the message is held.
        legacy = dl.add_sink(Sink("legacy", dl.net_addr(9), 2525))
        self.addCleanup(self.stop_sink, legacy)
        held_attempts = len(dl.events(qid, "deferred"))
        time.sleep(2.5)
        self.assertEqual(legacy.txns(), [])
        self.assertEqual(len(dl.events(qid, "deferred")), held_attempts)
        self.assertEqual(dl.queue("release", qid).returncode, 0)
        r = dl.queue("flush", qid)
        if r.returncode == 0:
            self.assertIn("1 scheduled now", r.stdout)
        else:
            # Its retry time passed while it was held: the release alone
            # sent it, and it is gone before the flush.
            self.assertIn("no such message", r.stderr)
            self.assertNotIn(qid, dl.queue_ids())
        self.assertTrue(wait_for(lambda: qid not in dl.queue_ids(), 10),
                        self.queue_list())
        got = [t for t in legacy.delivered() if t.header("X-Test-Id") == "down-1"]
        self.assertEqual([t.rcpts for t in got], [[nh["address"]]])
        # The reachable recipient was not sent again.
        again = [t for t in dl.sink_a.delivered() if t.header("X-Test-Id") == "down-1"]
        self.assertEqual([t.rcpts for t in again], [[dl.user(4)]])
        self.assertEqual([t for t in dl.sink_a.delivered() if t.mail_from == ""
                          and t.rcpts == [sender]], [])

    def stop_sink(self, sink):
        """Down again for the other tests, even when this one failed."""
        sink.stop()
        if sink in self.dl.sinks:
            self.dl.sinks.remove(sink)

    # -- hold, release and delete keep their word across restarts ---------
    def test_hold_release_delete_survive_a_restart(self):
        dl = self.dl
        nh = dl.info["nexthop_user"]["address"]     # its hop is down
        held = dl.send(dl.user(7), [nh], tag="restart-held")
        gone = dl.send(dl.user(7), [nh], tag="restart-deleted")
        for qid in (held, gone):
            self.assertTrue(wait_for(lambda: dl.events(qid, "deferred"), 15),
                            dl.log()[-2000:])
            r = dl.queue("hold", qid)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = dl.queue("delete", gone)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The answer came after the spool had it: the record says held.
        with open(os.path.join(dl.spool, "q", held + ".state"), "rb") as f:
            self.assertIn(b"\nheld=1\n", f.read())
        self.assertNotIn(gone, dl.spool_ids())
        mark = dl.restart_routerd()
        self.assertIn("held", self.block(self.queue_list(), held).splitlines()[0])
        self.assertNotIn(gone, dl.queue_ids())
        # retry_max is 2s: a released message would have been tried.
        time.sleep(3)
        after = [ln for ln in dl.log()[mark:].splitlines()
                 if held in ln and "event=deferred" in ln]
        self.assertEqual(after, [], "a held message was tried after the restart")
        r = dl.queue("release", held)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = dl.queue("release", held)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("already", r.stdout + r.stderr)
        mark = dl.restart_routerd()
        self.assertNotIn("held", self.block(self.queue_list(), held).splitlines()[0])
        self.assertTrue(wait_for(lambda: held in dl.log()[mark:] and
                                 "event=deferred" in dl.log()[mark:], 15),
                        dl.log()[mark:][-2000:])
        r = dl.queue("delete", held)
        if r.returncode != 0:
            # an attempt was running: delete waits for its end
            self.assertIn("being delivered", r.stderr)
            self.assertTrue(wait_for(lambda: dl.queue("delete", held).returncode == 0, 10))
        self.assertNotIn(held, dl.queue_ids())
        self.assertNotIn(held, dl.spool_ids())

    def notices_to(self, addr, tag):
        """DSNs (MAIL FROM:<>) that reached addr about the message tagged."""
        out = []
        for sink in self.dl.sinks:
            for t in sink.delivered():
                if t.mail_from == "" and t.rcpts == [addr] and \
                        ("X-Test-Id: %s" % tag).encode() in t.data:
                    out.append(t)
        return out

    def test_one_delay_notice_also_across_a_restart(self):
        dl = self.dl
        nh = dl.info["nexthop_user"]["address"]     # its hop is down
        sender = dl.user(10)
        asked = dl.send(sender, [nh], tag="delay-asked",
                        rcpt_options=("NOTIFY=DELAY,FAILURE",))
        unasked = dl.send(sender, [nh], tag="delay-unasked")
        null = dl.send("", [nh], tag="delay-null", rcpt_options=("NOTIFY=DELAY",))
        self.assertTrue(wait_for(lambda: dl.events(asked, "delay_notified"), 20),
                        dl.log()[-3000:])
        got = wait_for(lambda: self.notices_to(sender, "delay-asked"), 10)
        self.assertEqual(len(got), 1, got)
        d = parse_dsn(got[0].data)
        self.assertIn("Delayed Mail", d["msg"]["Subject"])
        r = d["per_rcpt"][0]
        self.assertEqual(r["action"], "delayed")
        self.assertEqual(r["final-recipient"].lower(), "rfc822; %s" % nh.lower())
        self.assertTrue(r["status"].startswith("4."), r)
        self.assertIn("will-retry-until", r)
        # The hop is still down: after a restart the message is tried
        # again, and the notice is not sent a second time.
        with open(os.path.join(dl.spool, "q", asked + ".state"), "rb") as f:
            self.assertIn(b"\ndelay_notified=1\n", f.read())
        mark = dl.restart_routerd()
        self.assertTrue(wait_for(lambda: sum(1 for ln in dl.log()[mark:].splitlines()
                                             if asked in ln and "event=deferred" in ln) >= 2,
                                 15), dl.log()[mark:][-2000:])
        self.assertEqual(len(self.notices_to(sender, "delay-asked")), 1)
        self.assertEqual(len(dl.events(asked, "delay_notified")), 1)
        # Not asked for: none; the null sender: none, ever.
        self.assertEqual(dl.events(unasked, "delay_notified"), [])
        self.assertEqual(self.notices_to(sender, "delay-unasked"), [])
        self.assertEqual(dl.events(null, "delay_notified"), [])
        for qid in (asked, unasked, null):
            self.assertTrue(wait_for(lambda: dl.queue("delete", qid).returncode == 0, 10),
                            qid)

    # -- a waiting message follows the directory ---------------------------
    def test_retry_follows_a_next_hop_changed_in_the_directory(self):
        """The user's dirmxNextHop points to a hop that is down; the admin
        moves the mailbox: the next retry goes to the new hop, not to the
        one the message was accepted with (authd drops its cached answer
        when the directory changes; routerd asks again before a retry)."""
        dl = self.dl
        nh = dl.info["nexthop_user"]
        dn = dl.slapd.search("(mail=%s)" % nh["address"], ["dn"])[0]["dn"]
        self.addCleanup(dl.slapd.modify_ldif,
                        "dn: %s\nchangetype: modify\nreplace: dirmxNextHop\n"
                        "dirmxNextHop: %s\n" % (dn, nh["nexthop"]))
        qid = dl.send(dl.user(16), [nh["address"]], tag="moved-mailbox")
        self.assertTrue(wait_for(lambda: dl.events(qid, "deferred"), 15), dl.log()[-2000:])
        dl.slapd.modify_ldif("dn: %s\nchangetype: modify\nreplace: dirmxNextHop\n"
                             "dirmxNextHop: [127.0.0.1]:%d\n" % (dn, dl.port_a))
        self.assertTrue(wait_for(lambda: qid not in dl.queue_ids(), 20),
                        self.queue_list() + dl.log()[-2000:])
        got = [t for t in dl.sink_a.delivered() if t.header("X-Test-Id") == "moved-mailbox"]
        self.assertEqual([t.rcpts for t in got], [[nh["address"]]])
        self.assertTrue(dl.events(qid, "rehop"), dl.log()[-2000:])

    # -- dirmxctl reload --------------------------------------------------------
    def dirmxctl(self, *args):
        import subprocess
        from dirmxlab import build_dir
        return subprocess.run([os.path.join(build_dir(), "routerd", "dirmxctl"),
                               "-c", self.dl.conf] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_reload_through_dirmxctl_says_what_applied_and_what_waits(self):
        dl = self.dl
        with open(dl.conf) as f:
            orig = f.read()

        def restore():
            with open(dl.conf, "w") as f:
                f.write(orig)
            self.dirmxctl("reload")
        self.addCleanup(restore)
        # Nothing changed: both say ok.
        r = self.dirmxctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("authd: reload ok", r.stdout)
        self.assertIn("routerd: reload ok", r.stdout)
        # One setting SIGHUP applies, one that needs a restart, in each.
        changed = orig.replace("[routerd]\n", "[routerd]\nmax_errors = 7\n", 1)
        changed = changed.replace("retry_min = 1s\n", "retry_min = 2s\n", 1)
        changed = changed.replace("timeout = 2s\n", "timeout = 3s\n", 1)
        self.assertNotEqual(changed, orig)
        with open(dl.conf, "w") as f:
            f.write(changed)
        r = self.dirmxctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("routerd: applied: routerd max_errors", r.stdout)
        self.assertIn("routerd: needs a restart: routerd retry_min", r.stdout)
        self.assertIn("routerd: reload partial", r.stdout)
        self.assertIn("authd: needs a restart: authd timeout", r.stdout)
        self.assertIn("authd: reload partial", r.stdout)
        # Sessions were not dropped: routerd still answers, same process.
        self.assertTrue(dl.routerd_alive())
        qid = dl.send(dl.user(12), [dl.user(14)], tag="after-reload")
        self.assertTrue(wait_for(lambda: qid not in dl.queue_ids(), 15))
        # Only one daemon, on request.
        r = self.dirmxctl("reload", "routerd")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("authd:", r.stdout)
        # A bad file: refused, named with its line; nothing is reloaded
        # and both keep running.
        with open(dl.conf, "w") as f:
            f.write(changed.replace("[routerd]\n", "[routerd]\nmax_errors = lots\n", 1))
        r = self.dirmxctl("reload")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"%s:\d+" % re.escape(dl.conf))
        self.assertIn("max_errors", r.stdout + r.stderr)
        self.assertTrue(dl.routerd_alive())
        self.assertIsNone(dl.authd.poll())
        self.assertEqual(self.dirmxctl("reload", "nosuchdaemon").returncode, 2)

    # -- dirmxctl queue ------------------------------------------------------
    def test_queue_tool_hold_release_delete_flush(self):
        dl = self.dl
        nh = dl.info["nexthop_user"]["address"]
        # Two messages to the legacy hop, which is down: hold them.
        ids = []
        for k in range(2):
            qid = dl.send(dl.user(6), [nh], tag="ctl-%d" % k)
            self.assertEqual(dl.queue("hold", qid).returncode, 0)
            ids.append(qid)
        out = self.queue_list()
        for qid in ids:
            self.assertIn(qid, out)
            self.assertIn("held", self.block(out, qid).splitlines()[0])
        # show: one message, details included; unknown IDs are errors.
        r = dl.queue("show", ids[0])
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith(ids[0] + "  "), r.stdout)
        self.assertNotIn(ids[1], r.stdout)
        self.assertIn("size ", r.stdout)
        for verb in ("show", "hold", "release", "delete", "flush"):
            r = dl.queue(verb, "00000000nosuch00")
            self.assertEqual(r.returncode, 1, (verb, r.stdout, r.stderr))
            self.assertIn("no such message", r.stderr)
        self.assertEqual(dl.queue("bogus").returncode, 2)
        self.assertEqual(dl.queue("show").returncode, 2)
        # flush skips held messages.
        r = dl.queue("flush", ids[0])
        self.assertEqual(r.returncode, 1, r.stdout)
        # delete: gone from the queue and from the spool, never delivered
        # nor bounced.
        r = dl.queue("delete", ids[0])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_for(lambda: ids[0] not in dl.queue_ids(), 5))
        self.assertNotIn(ids[0], dl.spool_ids())
        self.assertEqual(dl.queue("show", ids[0]).returncode, 1)
        # release + flush (all): the other one is tried now.
        self.assertEqual(dl.queue("release", ids[1]).returncode, 0)
        self.assertNotIn("held", self.block(self.queue_list(), ids[1]).splitlines()[0])
        r = dl.queue("flush")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\d+ scheduled now")
        legacy = dl.add_sink(Sink("legacy2", dl.net_addr(9), 2525))
        self.addCleanup(self.stop_sink, legacy)
        dl.queue("flush", ids[1])
        self.assertTrue(wait_for(lambda: ids[1] not in dl.queue_ids(), 10), self.queue_list())
        tags = [t.header("X-Test-Id") for t in legacy.delivered()]
        self.assertEqual(tags.count("ctl-1"), 1)
        self.assertEqual(tags.count("ctl-0"), 0)
        self.assertEqual(dl.events(ids[0], "bounced"), [])
        self.assertEqual(len(dl.events(ids[0], "deleted")), 1)

    def test_queue_tool_when_routerd_is_not_running(self):
        dl = self.dl
        with open(dl.conf) as f:
            conf = f.read()
        bad_conf = dl.lab.write("rd/noroute.conf", conf.replace(dl.ctl_sock,
                                                                 dl.ctl_sock + ".none"))
        for args in (("list",), ("show", "x"), ("flush",)):
            r = dl.queue(*args, conf=bad_conf)
            self.assertEqual(r.returncode, 3, (args, r.stdout, r.stderr))
            self.assertIn("cannot connect to routerd at %s.none" % dl.ctl_sock, r.stderr)
            self.assertIn("is routerd running?", r.stderr)
            self.assertEqual(r.stdout, "")

    # -- kill -9 during deliveries -------------------------------------------
    def test_kill_9_during_deliveries(self):
        dl = self.dl
        slow = dl.sink_b
        slow.data_delay = 0.4
        try:
            self._kill_9(slow)
        finally:
            slow.data_delay = 0.0

    def _kill_9(self, slow):
        dl = self.dl
        n = 50
        rcpt = dl.user(1)                           # sink B, the slow one
        acked = {}
        before = len(slow.txns())
        for k in range(n):
            tag = "crash-%02d" % k
            acked[tag] = dl.send(dl.user(0), [rcpt], tag=tag)
            if k == 30:
                break
        # Kill once some deliveries completed and others are in flight.
        def busy():
            ts = slow.txns()[before:]
            return (sum(1 for t in ts if t.state == "done") >= 8 and
                    sum(1 for t in ts if t.state == "open") >= 3)
        self.assertTrue(wait_for(busy, 20, 0.01))
        kill_t = time.monotonic()
        dl.kill_routerd()
        killed_t = time.monotonic()
        time.sleep(0.3)   # the sink sees the connections end
        txns_at_kill = slow.txns()[before:]
        dl.start_routerd()
        for k in range(len(acked), n):
            tag = "crash-%02d" % k
            acked[tag] = dl.send(dl.user(0), [rcpt], tag=tag)
        self.assertTrue(dl.wait_queue_empty(40, ignore=(self.expiry_id,)), self.queue_list())
        # Count arrivals per message (complete data = arrived).
        count = collections.Counter(t.header("X-Test-Id") for t in slow.txns()[before:]
                                    if t.data is not None)
        lost = [tag for tag in acked if count[tag] == 0]
        self.assertEqual(lost, [], "acknowledged and never delivered")
        self.assertEqual(set(count) - set(acked), set())
        dups = {tag: c - 1 for tag, c in count.items() if c > 1}
        # In flight at the kill, per message:
        #  - cut: the connection ended inside the transaction, or the
        #    sink's final reply was written only after the kill (routerd
        #    never read it: the sink cannot tell, the times can);
        #  - late: the 250 was written less than 1 s before the kill, so
        #    routerd may have read it without making it durable yet (the
        #    attempt's spool write and fsyncs, on a loaded machine).
        # A message whose transactions all ended earlier arrives once.
        inflight = collections.Counter()
        cut = late = 0
        for t in txns_at_kill:
            tag = t.header("X-Test-Id")
            if t.state in ("cut", "open") or (t.state == "done" and t.t_final > kill_t):
                cut += 1
                inflight[tag] += 1
            elif t.state == "done" and t.t_final >= kill_t - 1.0:
                late += 1
                inflight[tag] += 1
        print("kill -9: %d acked, %d transactions started before the kill: %d cut, "
              "%d finished just before it; duplicates %d %r"
              % (len(acked), len(txns_at_kill), cut, late, sum(dups.values()), sorted(dups)))
        self.assertGreater(cut, 0, "the kill hit no transaction in flight")
        for tag, d in dups.items():
            self.assertLessEqual(d, inflight[tag],
                                 "%s sent again but not in flight at the kill" % tag)
        self.assertLessEqual(sum(dups.values()), sum(inflight.values()))
        # Nothing bounced, nothing left in the spool but the expiry message.
        self.assertEqual([t for t in dl.sink_a.delivered() if t.mail_from == ""
                          and t.rcpts == [dl.user(0)]], [])
        self.assertEqual([i for i in dl.spool_ids() if i != self.expiry_id], [])

    # -- the maximum lifetime --------------------------------------------------
    def test_zz_lifetime_expiry_bounces(self):
        dl = self.dl
        qid = self.expiry_id
        left = LIFETIME_S + 8 - (time.monotonic() - self.expiry_t0)
        # Before the lifetime: waiting, never bounced.
        if time.monotonic() - self.expiry_t0 < LIFETIME_S - 5:
            self.assertIn(qid, dl.queue_ids())
            self.assertEqual(dl.events(qid, "bounced"), [])
        ok = wait_for(lambda: qid not in dl.queue_ids(), max(left, 5), 0.5)
        self.assertTrue(ok, self.queue_list())
        self.assertGreaterEqual(time.monotonic() - self.expiry_t0, LIFETIME_S - 1)
        dsn = wait_for(lambda: [t for t in dl.sink_a.delivered() if t.mail_from == ""
                                and t.rcpts == [self.expiry_sender]], 10)
        self.assertEqual(len(dsn), 1, dsn)
        d = parse_dsn(dsn[0].data)
        self.assertEqual(d["msg"].get_content_type(), "multipart/report")
        r = d["per_rcpt"][0]
        self.assertEqual(r["final-recipient"].lower(), "rfc822; someone@example.net")
        self.assertEqual(r["action"], "failed")
        self.assertEqual(r["status"], "5.4.7")
        self.assertIn("expired", r["diagnostic-code"])
        self.assertEqual(len(dl.events(qid, "bounced")), 1)


if __name__ == "__main__":
    unittest.main()
