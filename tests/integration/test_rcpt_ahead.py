"""Cold directory, pipelined and concurrent RCPTs: lookups go out together.

What is proved, against slapd + authd + routerd from the build tree, with
slapd frozen (SIGSTOP) so that no lookup can be answered while the test
counts what reached authd (authd's STATS "lookups": requests it got):
  - five pipelined RCPTs to five uncached users all reach authd before
    any of them is answered (one round trip, not five in a row); once
    slapd runs again the five replies come in command order, and the
    message is accepted for the four users that exist, the unknown one
    refused with 550 5.1.1 in its place;
  - five sessions sending to one uncached group at once cost authd one
    LOOKUP: routerd's authd client shares the lookup in flight (its
    debug log says so four times), and each session gets its own 250.
No timing is asserted: the waits only bound how long the test waits.
"""

import os
import re
import signal
import unittest

from dirmxlab import freeze_pids
from smtptest import SmtpLab, queued_id, simple_message, wait_for


class RcptAheadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rd = SmtpLab("rcpt-ahead", users=20, start=False)
        try:
            # A frozen slapd must not make authd give up while the test
            # counts (routerd's own wait for authd is 10 s).
            with open(cls.rd.conf) as f:
                conf = f.read()
            assert "timeout = 2s\n" in conf
            with open(cls.rd.conf, "w") as f:
                f.write(conf.replace("timeout = 2s\n", "timeout = 30s\n", 1))
            cls.rd.start_authd()
            cls.rd.start_routerd()
        except BaseException:
            cls.rd.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.rd.close()

    def setUp(self):
        self.assertTrue(self.rd.routerd_alive(), "routerd died:\n" + self.rd.log()[-3000:])

    def freeze_slapd(self):
        pid = self.rd.slapd.proc.pid
        freeze_pids([pid])
        thawed = []

        def thaw():
            if not thawed:
                thawed.append(True)
                os.kill(pid, signal.SIGCONT)
        self.addCleanup(thaw)
        return thaw

    def lookups(self):
        return self.rd.authd.stats()["lookups"]

    def test_pipelined_rcpts_reach_authd_together(self):
        rd = self.rd
        rcpts = [rd.user(i)["mail"] for i in (11, 12, 13)] + [
            "nobody-ahead@dirmx.test", rd.user(14)["mail"]]
        c = rd.client("mx")
        self.addCleanup(c.close)
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<ahead@example.org>").code, 250)
        before = self.lookups()
        thaw = self.freeze_slapd()
        c.send("".join("RCPT TO:<%s>\r\n" % r for r in rcpts))
        got = wait_for(lambda: self.lookups() - before >= len(rcpts), timeout=8)
        in_flight = self.lookups() - before
        silent = c.silent(0.2)
        thaw()
        self.assertTrue(got, "authd got %d of the %d lookups before the first answer"
                        % (in_flight, len(rcpts)))
        self.assertEqual(in_flight, len(rcpts))
        self.assertTrue(silent, "a RCPT was answered while slapd was frozen")
        replies = [c.reply() for _ in rcpts]
        self.assertEqual([r.code for r in replies], [250, 250, 250, 550, 250],
                         [str(r) for r in replies])
        self.assertIn("<nobody-ahead@dirmx.test>", replies[3].text)
        r354, final = c.data(simple_message("ahead") + ".\r\n")
        self.assertEqual(r354.code, 354)
        self.assertEqual(final.code, 250, str(final))
        m = rd.spool_msg(queued_id(final))
        self.assertEqual(sorted(r for r, _ in m.rcpt_hops()),
                         sorted(r for r in rcpts if not r.startswith("nobody")))
        self.assertEqual(self.lookups() - before, len(rcpts))

    def test_sessions_share_one_group_lookup(self):
        rd = self.rd
        group = rd.info["large_group"]["mail"]
        n = 5
        clients = []
        for _ in range(n):
            c = rd.client("mx")
            self.addCleanup(c.close)
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<share@example.org>").code, 250)
            clients.append(c)
        mark = len(rd.log())
        before = self.lookups()
        thaw = self.freeze_slapd()
        for c in clients:
            c.send("RCPT TO:<%s>\r\n" % group)

        def shared():
            return len(re.findall(r"authc event=lookup_shared ", rd.log()[mark:]))
        wait_for(lambda: shared() >= n - 1 or self.lookups() - before >= 2, timeout=8)
        sent = self.lookups() - before
        joined = shared()
        thaw()
        self.assertEqual(sent, 1, "authd got %d lookups of %s" % (sent, group))
        self.assertEqual(joined, n - 1)
        for c in clients:
            r = c.reply()
            self.assertEqual(r.code, 250, str(r))
        self.assertEqual(self.lookups() - before, 1)
        size = rd.info["large_group"]["size"]
        for c in clients:
            r354, final = c.data(simple_message("group") + ".\r\n")
            self.assertEqual(final.code, 250, str(final))
            self.assertEqual(len(rd.spool_msg(queued_id(final)).rcpt_hops()), size)


if __name__ == "__main__":
    unittest.main()
