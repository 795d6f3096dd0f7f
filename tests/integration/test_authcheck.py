"""authd AUTH and SENDERS end to end: a real slapd with generated users, a
real authd (ldap directory, lockout_threshold configured), questions asked
through dirmxctl and the raw protocol.

What reached the directory is read from slapd's stats log: a BIND line
per password check ("BIND dn=... method=128") and a SRCH line per account
search, so "refused without a bind" is proven by slapd, not by authd.
"""

import os
import re
import time
import unittest

from dirmxlab import Lab, Slapd, ldapdata

from authdtest import Authd, SlapdLog, describe

THRESHOLD = 5          # lockout_threshold: binds stop after THRESHOLD - 2 failures
STRANGERS = 2          # of those, what unfamiliar clients may use: half, rounded up
CLIENT_MAX = 5         # client_max_failures

CONFIG = """\
lockout_threshold = %d
lockout_window = 10m
client_max_failures = %d
send_as = user00005 boss@dirmx.test
send_as = user00005 sales@dirmx.test, user00006 helpdesk@dirmx.test
""" % (THRESHOLD, CLIENT_MAX)


class AuthTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("authcheck")
        cls.addClassCleanup(cls.lab.close)
        cls.ldif, cls.info = ldapdata.generate(users=100, large_group=10)
        cls.slapd = Slapd(cls.lab, data=cls.ldif)
        cls.authd = Authd(cls.lab, cls.slapd, extra=CONFIG)
        cls.pw = cls.info["password"]

    def user(self, i):
        return self.info["users"][i]

    def auth(self, c, id_, user, password, client=None):
        return c.ask("AUTH", id_, mech="PLAIN", user=user, client=client,
                     **{"pass": password})

    # -- 7. passwords -----------------------------------------------------------
    def test_good_password_is_ok_with_the_canonical_user(self):
        for i, login in ((1, "user00001"), (2, "user00002@dirmx.test")):
            u = self.user(i)
            with self.subTest(login=login):
                mark = SlapdLog(self.slapd)
                r = self.authd.ctl("auth", login, input=self.pw + "\n")
                self.assertEqual(r.rc, 0, describe(r))
                self.assertEqual(r.out.strip(), "yes: authenticated as %s" % u["uid"])
                self.assertEqual(mark.binds(u["dn"]), 1, "the password is proven by a bind")
        with self.authd.client() as c:
            m = self.auth(c, 1, "user00003", self.pw)
        self.assertEqual((m.verb, m.get("user")), ("OK", "user00003"), m)

    def test_wrong_password_is_notfound(self):
        u = self.user(4)
        mark = SlapdLog(self.slapd)
        r = self.authd.ctl("auth", u["uid"], input="not-" + self.pw + "\n")
        self.assertEqual(r.rc, 1, describe(r))
        self.assertEqual(r.out.strip(), "no: authentication failed")
        self.assertEqual(mark.binds(u["dn"]), 1)
        self.assertTrue(any(" err=49 " in ln for ln in mark.lines()),
                        "slapd said invalid credentials")

    def test_empty_password_is_refused_without_a_bind(self):
        u = self.user(8)
        mark = SlapdLog(self.slapd)
        # dirmxctl refuses before it sends anything...
        r = self.authd.ctl("auth", u["uid"], input="\n")
        self.assertEqual(r.rc, 1, describe(r))
        self.assertIn("empty password", r.out)
        # ...and on the wire pass= may not be empty: the codec says ERROR.
        with self.authd.client() as c:
            c.send_line("AUTH 1 mech=PLAIN user=%s pass=" % u["uid"])
            m = c.recv()
            self.assertEqual((m.verb, m.id), ("ERROR", 1), m)
            m = c.ask("AUTH", 2, mech="PLAIN", user=u["uid"], client="192.0.2.99",
                      **{"pass": ""})
            self.assertEqual((m.verb, m.id), ("ERROR", 2), m)
            # The connection is still usable.
            m = c.ask("SENDERS", 3, user=u["uid"])
            self.assertEqual(m.verb, "OK", m)
        self.assertEqual(mark.binds(u["dn"]), 0, mark.all_binds())
        self.assertEqual(len(mark.all_binds()), 0, mark.all_binds())

    def test_unknown_user_gets_the_same_answer_as_a_wrong_password(self):
        u = self.user(9)
        with self.authd.client() as c:
            wrong = self.auth(c, 1, u["uid"], "wrong-password", client="192.0.2.11")
            unknown = self.auth(c, 2, "no-such-user", "wrong-password", client="192.0.2.12")
        self.assertEqual(wrong.verb, "NOTFOUND", wrong)
        self.assertEqual(unknown.verb, "NOTFOUND", unknown)
        self.assertEqual(wrong.fields, unknown.fields,
                         "the answers must not tell an unknown user from a wrong password")
        r1 = self.authd.ctl("auth", self.user(12)["uid"], input="wrong\n")
        r2 = self.authd.ctl("auth", "nobody-such", input="wrong\n")
        self.assertEqual((r1.rc, r1.out), (r2.rc, r2.out))
        self.assertEqual(r1.rc, 1)

    def test_login_name_cannot_change_the_account_filter(self):
        mark = SlapdLog(self.slapd)
        with self.authd.client() as c:
            for i, login in enumerate(("*", "user00001)(uid=*", "*)(|(uid=*"), 1):
                with self.subTest(login=login):
                    m = self.auth(c, i, login, self.pw)
                    self.assertEqual(m.verb, "NOTFOUND", m)
                    self.assertIsNone(m.get("user"))
        self.assertEqual(mark.all_binds(), [], "no account was matched, so no bind")
        filters = [f.lower() for f in mark.filters()]
        self.assertIn("(|(uid=\\2a)(mail=\\2a))", filters)
        self.assertIn("(|(uid=user00001\\29\\28uid=\\2a)(mail=user00001\\29\\28uid=\\2a))",
                      filters)

    # -- 8. lockout safety ------------------------------------------------------------
    def test_lockout_guard_binds_at_most_threshold_minus_2_times_then_lets_only_the_password_that_worked_through(self):
        """Strangers use up their part of an account's budget (STRANGERS of
        the THRESHOLD - 2 wrong binds: no client address is familiar
        here), then every further guess is refused without a bind. The user is not
        locked out of their own submission: the password that last worked
        for the account (authd keeps a salted, slow verifier of it, never
        the password) still goes out, and slapd takes it. A right password
        that authd never saw work is still refused while the window lasts:
        authd cannot tell it from a stranger's guess without a bind, and one
        more wrong bind could lock the account."""
        known, u, other = self.user(15), self.user(10), self.user(11)
        mark = SlapdLog(self.slapd)
        with self.authd.client() as c:
            m = self.auth(c, 1, known["uid"], self.pw)
            self.assertEqual((m.verb, m.get("user")), ("OK", known["uid"]), m)
            for victim in (known, u):
                answers = [self.auth(c, i, victim["uid"], "guess-%d" % i)
                           for i in range(2, 12)]
                for m in answers:
                    self.assertEqual(m.verb, "NOTFOUND", m)
                    self.assertEqual(m.get("reason"), answers[0].get("reason"))
            binds = {v["dn"]: mark.binds(v["dn"]) for v in (known, u)}
            self.assertEqual(binds[known["dn"]], 1 + STRANGERS, mark.all_binds())
            self.assertGreaterEqual(binds[u["dn"]], 1, "the first guesses are checked by slapd")
            self.assertLessEqual(binds[u["dn"]], STRANGERS, mark.all_binds())
            # The password that worked: in at once, with one bind.
            m = self.auth(c, 20, known["uid"], self.pw)
            self.assertEqual((m.verb, m.get("user")), ("OK", known["uid"]), m)
            self.assertEqual(mark.binds(known["dn"]), binds[known["dn"]] + 1)
            # Nothing else passes: a guess after it is refused without a bind.
            m = self.auth(c, 21, known["uid"], "guess-after")
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertEqual(mark.binds(known["dn"]), binds[known["dn"]] + 1)
            # Never seen to work: refused too, without a bind.
            m = self.auth(c, 22, u["uid"], self.pw)
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertEqual(mark.binds(u["dn"]), binds[u["dn"]])
            # Someone else is not affected.
            m = self.auth(c, 23, other["uid"], self.pw)
            self.assertEqual((m.verb, m.get("user")), ("OK", other["uid"]), m)
        # The account itself was never locked in the directory: its own
        # password still binds there.
        self.slapd.search("(uid=%s)" % u["uid"], ["uid"], bind=(u["dn"], self.pw))

    def test_lockout_guard_holds_for_concurrent_guesses(self):
        # An attacker does not wait for each answer: ten guesses in flight
        # at once must not put more than threshold - 2 binds on the account
        # either (each bind that fails is one more badPwdCount in AD).
        u = self.user(14)
        mark = SlapdLog(self.slapd)
        with self.authd.client() as c:
            got = c.ask_many([("AUTH", i, {"mech": "PLAIN", "user": u["uid"],
                                           "pass": "guess-%d" % i})
                              for i in range(1, 11)])
        self.assertTrue(all(m.verb == "NOTFOUND" for m in got.values()), got)
        binds = mark.binds(u["dn"])
        self.assertGreaterEqual(binds, 1)
        self.assertLessEqual(binds, THRESHOLD - 2,
                             "%d wrong-password binds reached the directory for one "
                             "account (threshold %d):\n%s"
                             % (binds, THRESHOLD, "\n".join(mark.all_binds())))

    def test_lockout_window_ends_and_the_right_password_works_again(self):
        authd = Authd(self.lab, self.slapd, name="authd-window",
                      extra="lockout_threshold = 5\nlockout_window = 2s")
        self.addCleanup(authd.stop)
        u = self.user(13)
        mark = SlapdLog(self.slapd)
        with authd.client() as c:
            for i in range(1, 5):
                self.assertEqual(self.auth(c, i, u["uid"], "bad").verb, "NOTFOUND")
            self.assertEqual(mark.binds(u["dn"]), STRANGERS)
            self.assertEqual(self.auth(c, 5, u["uid"], self.pw).verb, "NOTFOUND")
            time.sleep(2.3)
            m = self.auth(c, 6, u["uid"], self.pw)
            self.assertEqual((m.verb, m.get("user")), ("OK", u["uid"]), m)
        self.assertEqual(mark.binds(u["dn"]), STRANGERS + 1)

    def test_familiar_client_keeps_its_budget_across_a_restart(self):
        """Issue 16, item 5 (DESIGN.md invariant 9): the user logs in from
        an IPv6 address; authd restarts (the familiar clients are read back
        from state_dir); strangers then send 50 wrong passwords from 50
        addresses. Only STRANGERS of them reach slapd; from the user's /64
        a wrong password still gets a bind (its own part of the budget), and
        the right password, which authd has no verifier for after the
        restart, is accepted. The budget as a whole still holds: nothing
        past THRESHOLD - 2 failures reaches slapd."""
        authd = Authd(self.lab, self.slapd, name="authd-familiar", extra=CONFIG)
        self.addCleanup(authd.stop)
        u = self.user(70)
        home = "2001:db8:70:1::10"
        with authd.client() as c:
            m = self.auth(c, 1, u["uid"], self.pw, client=home)
            self.assertEqual(m.verb, "OK", m)
        authd.stop()
        with open(os.path.join(authd.dir, "authd", "familiar-clients")) as f:
            state = f.read()
        self.assertTrue(state.startswith("dirmx-familiar-clients 1\n"), state)
        self.assertIn(" 2001:db8:70:1::/64 ", state)
        authd.start()
        self.assertRegex(authd.log_since(0), r"event=familiar_loaded .* entries=1 ")
        mark = SlapdLog(self.slapd)
        with authd.client() as c:
            got = [self.auth(c, 10 + i, u["uid"], "guess-%d" % i,
                             client="198.51.100.%d" % (i + 1)) for i in range(50)]
            self.assertEqual({m.verb for m in got}, {"NOTFOUND"})
            self.assertEqual(mark.binds(u["dn"]), STRANGERS, mark.all_binds())
            self.assertIn("familiar=no", authd.log())
            # The right password from the user's /64 (another address in it).
            m = self.auth(c, 100, u["uid"], self.pw, client="2001:db8:70:1::99")
            self.assertEqual((m.verb, m.get("user")), ("OK", u["uid"]), m)
            self.assertRegex(authd.log(), r"event=auth_familiar user=\"%s\" "
                             r"client=2001:db8:70:1::99 familiar=yes failures=%d "
                             % (u["uid"], STRANGERS))
            # A stranger's right password: it is a stranger's check like any
            # other (no verifier matches a password authd never saw work).
            other = self.user(71)
            for i in range(STRANGERS):
                self.auth(c, 200 + i, other["uid"], "guess-%d" % i, client="198.51.100.99")
            m = self.auth(c, 210, other["uid"], self.pw, client="198.51.100.98")
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertEqual(mark.binds(other["dn"]), STRANGERS)
        self.assertLessEqual(mark.binds(u["dn"]) - 1, THRESHOLD - 2)
        # dirmxctl auth --status shows it all; --reset clears authd's own
        # count (slapd has no badPwdCount: the directory's count is 0).
        r = authd.ctl("auth", "--status", other["uid"])
        self.assertEqual(r.rc, 0, describe(r))
        self.assertIn("account:           %s" % other["dn"], r.out)
        self.assertIn("policy:            configured, threshold %d" % THRESHOLD, r.out)
        self.assertIn("budget:            %d failures per window reach the directory, "
                      "%d of them from unfamiliar clients" % (THRESHOLD - 2, STRANGERS), r.out)
        self.assertIn("failures:          %d (authd's own %d, the directory's 0)"
                      % (STRANGERS, STRANGERS), r.out)
        self.assertIn("unfamiliar clients: throttled", r.out)
        self.assertIn("familiar clients:  open", r.out)
        self.assertRegex(r.out, r"throttle ends in:  \d+ s")
        self.assertIn("familiar:          none", r.out)
        r = authd.ctl("auth", "--status", u["uid"])
        self.assertRegex(r.out, r"familiar:\n  2001:db8:70:1::/64 +last login 20\d\d-")
        r = authd.ctl("auth", "--reset", other["uid"])
        self.assertEqual(r.rc, 0, describe(r))
        self.assertIn("authd's own count of failures cleared", r.out)
        r = authd.ctl("auth", "--status", other["uid"])
        self.assertIn("unfamiliar clients: open", r.out)
        self.assertNotIn("throttle ends in", r.out)
        with authd.client() as c:
            m = self.auth(c, 1, other["uid"], self.pw, client="198.51.100.97")
            self.assertEqual(m.verb, "OK", m)
        r = authd.ctl("auth", "--status", "no-such-user")
        self.assertEqual(r.rc, 1, describe(r))

    def test_ipv6_client_counts_per_64(self):
        """A client rotating its IPv6 address inside one /64 is one client:
        its failures add up; another /64 is another client."""
        with self.authd.client() as c:
            for k in range(CLIENT_MAX):
                u = self.user(40 + k)
                m = self.auth(c, k + 1, u["uid"], "wrong",
                              client="2001:db8:77:1::%x" % (k + 1))
                self.assertEqual(m.verb, "NOTFOUND", m)
            mark = self.authd.log_mark()
            m = self.auth(c, 20, self.user(50)["uid"], self.pw, client="2001:db8:77:1:ffff::9")
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertIn("event=client_throttled client=2001:db8:77:1:ffff::9",
                          self.authd.log_since(mark))
            m = self.auth(c, 21, self.user(50)["uid"], self.pw, client="2001:db8:77:2::1")
            self.assertEqual(m.verb, "OK", m)

    def test_concurrent_binds_are_bounded(self):
        """max_concurrent_binds = 2: twelve checks at once, never more than
        two binds in flight; every check is answered."""
        authd = Authd(self.lab, self.slapd, name="authd-binds",
                      extra="max_concurrent_binds = 2\nlockout_threshold = 50")
        self.addCleanup(authd.stop)
        reqs = [("AUTH", i + 1, dict(mech="PLAIN", user=self.user(60 + i)["uid"],
                                     **{"pass": self.pw if i % 2 else "wrong"}))
                for i in range(12)]
        mark = authd.log_mark()
        with authd.client() as c:
            got = c.ask_many(reqs)
        verbs = [got[i + 1].verb for i in range(12)]
        self.assertEqual(verbs, ["NOTFOUND", "OK"] * 6, verbs)
        log = authd.log_since(mark)
        inflight = [int(x) for x in re.findall(r"event=auth_bind \S+ binds=(\d+)", log)]
        self.assertEqual(len(inflight), 12, log[-2000:])
        self.assertLessEqual(max(inflight), 2, inflight)
        self.assertIn(" waiting=", log)
        self.assertTrue(re.search(r"event=auth_bind \S+ binds=\d+ waiting=[1-9]", log), log[-3000:])

    def test_client_delay_grows_and_client_max_failures_refuses_without_a_bind(self):
        client = "192.0.2.77"
        delays = []
        with self.authd.client() as c:
            for k in range(CLIENT_MAX):
                u = self.user(20 + k)  # a new account each time: no account guard
                m = self.auth(c, k + 1, u["uid"], "wrong", client=client)
                self.assertEqual(m.verb, "NOTFOUND", m)
                self.assertIsNotNone(m.get("delay_ms"), m)
                delays.append(int(m.get("delay_ms")))
            self.assertGreater(delays[0], 0)
            self.assertEqual(delays, sorted(set(delays)), "delay_ms grows: %r" % delays)
            # Over client_max_failures: refused before any search or bind,
            # even with the right password.
            victim = self.user(30)
            mark = SlapdLog(self.slapd)
            m = self.auth(c, 10, victim["uid"], self.pw, client=client)
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertGreaterEqual(int(m.get("delay_ms")), delays[-1])
            self.assertEqual(mark.searches(), 0, mark.filters())
            self.assertEqual(mark.binds(victim["dn"]), 0)
            # Another client, and the same user, are fine.
            m = self.auth(c, 11, victim["uid"], self.pw, client="192.0.2.78")
            self.assertEqual((m.verb, m.get("user")), ("OK", victim["uid"]), m)
            self.assertIsNone(m.get("delay_ms"))
        self.assertEqual(mark.binds(victim["dn"]), 1)

    # -- 9. SENDERS ------------------------------------------------------------------
    def test_senders_lists_mail_and_aliases(self):
        u = self.user(7)
        r = self.authd.ctl("senders", u["uid"])
        self.assertEqual(r.rc, 0, describe(r))
        self.assertEqual(sorted(r.out.split()), sorted([u["mail"]] + u["aliases"]))
        with self.authd.client() as c:
            m = c.ask("SENDERS", 1, user=u["mail"])
        self.assertEqual(m.verb, "OK", m)
        self.assertEqual(sorted(m.all("addr")), sorted([u["mail"]] + u["aliases"]))

    def test_senders_includes_send_as_grants_from_the_config(self):
        u5, u6, u7 = self.user(5), self.user(6), self.user(7)
        r = self.authd.ctl("senders", u5["uid"])
        self.assertEqual(r.rc, 0, describe(r))
        self.assertEqual(sorted(r.out.split()), sorted(
            [u5["mail"]] + u5["aliases"] + ["boss@dirmx.test", "sales@dirmx.test"]))
        r = self.authd.ctl("senders", u6["uid"])
        self.assertEqual(sorted(r.out.split()),
                         sorted([u6["mail"]] + u6["aliases"] + ["helpdesk@dirmx.test"]))
        r = self.authd.ctl("senders", u7["uid"])
        self.assertNotIn("boss@dirmx.test", r.out)

    # -- the mapped disabled attribute --------------------------------------------
    def test_mapped_disabled_attribute_refuses_mail_to_and_auth_from_the_account(self):
        """disabled_attribute names another attribute: the account it marks
        gets no mail and no AUTH (once, AUTH looked only at
        dirmxAccountDisabled and let it in)."""
        s = self.info["suspended"]
        # Under the preset the marker means nothing: the password is good.
        r = self.authd.ctl("auth", s["uid"], input=self.pw + "\n")
        self.assertEqual((r.rc, r.out.strip()),
                         (0, "yes: authenticated as %s" % s["uid"]), describe(r))
        mapped = Authd(self.lab, self.slapd, name="authd-mapped-disabled",
                       extra=CONFIG + "disabled_attribute = %s\n" % s["attribute"])
        try:
            out = mapped.lookup(s["mail"], nocache=True)
            self.assertEqual(out.rc, 1, describe(out))
            self.assertEqual(out.failure, "NOTFOUND: account disabled", describe(out))
            mark = SlapdLog(self.slapd)
            r = mapped.ctl("auth", s["uid"], input=self.pw + "\n")
            self.assertEqual((r.rc, r.out.strip()), (1, "no: authentication failed"),
                             describe(r))
            with mapped.client() as c:
                m = self.auth(c, 1, s["mail"], self.pw, client="192.0.2.40")
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertEqual(mark.binds(s["dn"]), 0, "refused without a bind")
            self.assertIn('event=auth_refused user="%s" reason="account disabled"'
                          % s["uid"], mapped.log())
            # Another user under the same mapping is unaffected.
            r = mapped.ctl("auth", self.user(20)["uid"], input=self.pw + "\n")
            self.assertEqual(r.rc, 0, describe(r))
        finally:
            mapped.stop()

    def test_senders_unknown_user_is_notfound(self):
        r = self.authd.ctl("senders", "no-such-user")
        self.assertEqual(r.rc, 1, describe(r))
        self.assertTrue(r.out.startswith("NOTFOUND:"), describe(r))
        with self.authd.client() as c:
            m = c.ask("SENDERS", 1, user="*")
        self.assertEqual(m.verb, "NOTFOUND", m)
        self.assertEqual(m.all("addr"), [])


class AuthDirectoryDownTest(unittest.TestCase):
    """10. The directory is down or hangs: AUTH is TEMPFAIL, never NOTFOUND."""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("authcheck-down")
        cls.addClassCleanup(cls.lab.close)
        cls.ldif, cls.info = ldapdata.generate(users=20, large_group=10)
        cls.slapd = Slapd(cls.lab, data=cls.ldif)
        cls.authd = Authd(cls.lab, cls.slapd, extra="lockout_threshold = 5\nlockout_window = 10m")
        cls.pw = cls.info["password"]

    def ask_all(self, c, first_id):
        """AUTH (right password, wrong password, unknown user) and SENDERS,
        all in flight at once; the answers in that order."""
        u = self.info["users"][3]
        reqs = [
            ("AUTH", first_id, dict(mech="PLAIN", user=u["uid"], **{"pass": self.pw})),
            ("AUTH", first_id + 1, dict(mech="PLAIN", user=u["uid"], **{"pass": "wrong"})),
            ("AUTH", first_id + 2, dict(mech="PLAIN", user="no-such-user",
                                        client="192.0.2.5", **{"pass": "wrong"})),
            ("SENDERS", first_id + 3, dict(user=u["uid"])),
        ]
        got = c.ask_many(reqs)
        return [got[i] for _, i, _ in reqs]

    def wait_ok(self, timeout=40):
        u = self.info["users"][3]
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            with self.authd.client() as c:
                last = c.ask("AUTH", 1, mech="PLAIN", user=u["uid"], **{"pass": self.pw})
            if last.verb == "OK":
                return last
            self.assertEqual(last.verb, "TEMPFAIL", last)
            time.sleep(0.3)
        self.fail("AUTH did not recover: %r" % last)

    def test_stopped_directory_is_tempfail_and_tempfails_do_not_count_as_failures(self):
        self.wait_ok()
        u = self.info["users"][3]
        self.slapd.stop()
        try:
            with self.authd.client(timeout=30) as c:
                # Twice: more right-password checks than threshold - 2.
                for round_ in range(2):
                    for m in self.ask_all(c, 10 * round_ + 1):
                        self.assertEqual(m.verb, "TEMPFAIL", m)
                        self.assertTrue(m.get("reason"), m)
            r = self.authd.ctl("auth", u["uid"], input=self.pw + "\n")
            self.assertEqual(r.rc, 3, describe(r))
        finally:
            self.slapd.start()
        # Back: the TEMPFAILs were not counted against the account.
        m = self.wait_ok()
        self.assertEqual(m.get("user"), u["uid"])

    def test_hanging_directory_is_tempfail_within_the_timeout(self):
        self.wait_ok()
        self.slapd.freeze()
        try:
            start = time.monotonic()
            with self.authd.client(timeout=30) as c:
                for m in self.ask_all(c, 1):
                    self.assertEqual(m.verb, "TEMPFAIL", m)
            # timeout = 2s in the configuration; the four run at once.
            self.assertLess(time.monotonic() - start, 2 + 4)
        finally:
            self.slapd.thaw()
        self.wait_ok()


if __name__ == "__main__":
    unittest.main()
