"""Directory changes route mail within seconds (issue 14), on OpenLDAP.

A real slapd with the syncprov overlay and a real authd that follows its
changes (watch = auto: syncrepl refreshAndPersist). For each kind of
change, the answer is first cached (a second lookup says "from the
cache"), the directory is changed with ldapmodify/ldapadd/ldapdelete/
modrdn, and `dirmxctl lookup` (which uses the cache) is polled until the
new answer shows. A test fails when that takes more than 5 s (a generous
bound: the target is under 2 s, measured by the benchmark) or when the
old answer comes back afterwards.

The fault tests stop, restart and freeze (SIGSTOP) slapd while changes are
made; once it is back, every change must show (syncrepl resumes from its
cookie, or authd flushes its cache once and says so).
"""

import time
import unittest

from dirmxlab import Lab, Slapd, ldapdata

from authdtest import Authd, describe
from smtptest import SmtpLab
from watchtest import BOUND_S, WatchAsserts


class WatchTest(WatchAsserts, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("watch")
        cls.addClassCleanup(cls.lab.close)
        cls.ldif, cls.info = ldapdata.generate(users=60)
        cls.slapd = Slapd(cls.lab, data=cls.ldif)
        cls.authd = Authd(cls.lab, cls.slapd, extra="watch_poll_interval = 1s\n")
        if not cls.authd_in_sync(20):
            raise RuntimeError("authd never followed slapd's changes:\n%s"
                               % cls.authd.log()[-3000:])

    @classmethod
    def authd_in_sync(cls, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "event=in_sync" in cls.authd.log():
                return True
            time.sleep(0.1)
        return False

    # -- helpers ---------------------------------------------------------------
    def user(self, i):
        return self.info["users"][i]

    def lookup(self, addr, who="authd"):
        return self.authd.lookup(addr)

    def log(self, who="authd"):
        return self.authd.log()

    def write(self, ldif, dc=None):
        self.slapd.modify_ldif(ldif)

    # -- each kind of change ---------------------------------------------------
    def test_new_alias(self):
        u = self.user(1)
        alias = "fresh-alias-1@dirmx.test"
        self.assertTrue(self.notfound(self.cached(alias)))
        self.modify(u["dn"], ("add", "mailLocalAddress", [alias]))
        self.until(alias, lambda r: self.ok(r) and r.dests == [(alias, u["mailhost"])],
                   "new alias")

    def test_alias_removed(self):
        u = self.user(2)
        alias = u["aliases"][0]
        self.assertTrue(self.ok(self.cached(alias)))
        self.modify(u["dn"], ("delete", "mailLocalAddress", [alias]))
        self.until(alias, self.notfound, "alias removed")

    def test_mailhost_changed(self):
        u = self.user(3)
        self.assertEqual(self.cached(u["mail"]).dests, [(u["mail"], u["mailhost"])])
        self.modify(u["dn"], ("replace", "mailHost", ["mbx9.dirmx.test"]))
        self.until(u["mail"], lambda r: r.dests == [(u["mail"], "mbx9.dirmx.test")],
                   "mailHost changed")

    def test_account_disabled(self):
        u = self.user(4)
        self.assertTrue(self.ok(self.cached(u["mail"])))
        self.modify(u["dn"], ("add", "objectClass", ["dirmxRecipient"]),
                    ("replace", "dirmxAccountDisabled", ["TRUE"]))
        self.until(u["mail"], self.notfound, "account disabled")

    def test_new_user_after_a_550(self):
        addr = "newcomer@dirmx.test"
        self.assertTrue(self.notfound(self.cached(addr)))
        self.slapd.add_ldif("\n".join([
            "dn: uid=newcomer,%s" % self.info["people_dn"],
            "objectClass: inetOrgPerson", "objectClass: inetLocalMailRecipient",
            "uid: newcomer", "cn: Newcomer", "sn: Newcomer",
            "mail: %s" % addr, "mailHost: mbx1.dirmx.test", ""]))
        self.until(addr, lambda r: r.dests == [(addr, "mbx1.dirmx.test")], "new user")

    def test_member_added_to_and_removed_from_a_nested_group(self):
        outer = self.info["nested"]
        inner = dict(self.info["groups"])["team-c"]
        u = self.user(20)
        before = self.cached(outer)
        self.assertTrue(self.ok(before), describe(before))
        self.assertNotIn(u["mail"], [d[0] for d in before.dests])
        self.modify(inner["dn"], ("add", "uniqueMember", [u["dn"]]))
        self.until(outer, lambda r: u["mail"] in [d[0] for d in r.dests],
                   "member added to a nested group")
        self.cached(outer)
        self.modify(inner["dn"], ("delete", "uniqueMember", [u["dn"]]))
        self.until(outer, lambda r: self.ok(r) and u["mail"] not in [d[0] for d in r.dests],
                   "member removed from a nested group")

    def test_forward_target_changed(self):
        fwd = dict(self.info["forward_external"])
        addr = fwd["address"]
        self.assertEqual(self.cached(addr).dests, [(fwd["target"], "external")])
        dn = self.slapd.search("(mail=%s)" % addr, ["dn"])[0]["dn"]
        self.modify(dn, ("replace", "mailRoutingAddress", ["elsewhere@partner.example"]))
        self.until(addr, lambda r: r.dests == [("elsewhere@partner.example", "external")],
                   "forward target changed")

    def test_object_deleted(self):
        u = self.user(5)
        self.assertTrue(self.ok(self.cached(u["mail"])))
        self.slapd.modify_ldif("dn: %s\nchangetype: delete\n" % u["dn"])
        self.until(u["mail"], self.notfound, "object deleted")

    def test_object_renamed_and_moved(self):
        # staff lists user 6 by DN: once the user is renamed, that DN
        # names nothing and the group no longer reaches the user (no
        # referential integrity overlay here); the user's own address
        # keeps working under the new DN.
        u = self.user(6)
        staff = dict(self.info["groups"])["staff"]
        self.modify(staff["dn"], ("add", "member", [u["dn"]]))
        self.until(staff["mail"], lambda r: u["mail"] in [d[0] for d in r.dests],
                   "member added")
        self.cached(staff["mail"])
        self.assertTrue(self.ok(self.cached(u["mail"])))
        self.slapd.modify_ldif("\n".join([
            "dn: %s" % u["dn"], "changetype: modrdn", "newrdn: uid=moved-user06",
            "deleteoldrdn: 0", "newsuperior: %s" % self.info["contacts_dn"], ""]))
        self.until(staff["mail"], lambda r: self.ok(r) and
                   u["mail"] not in [d[0] for d in r.dests], "member renamed away")
        r = self.authd.lookup(u["mail"])
        self.assertTrue(self.ok(r), describe(r))
        self.assertIn("uid=moved-user06,%s" % self.info["contacts_dn"], r.out)

    # -- faults ------------------------------------------------------------------
    def test_z_changes_while_slapd_is_down_or_frozen_show_after(self):
        a, b = self.user(7), self.user(8)
        self.assertTrue(self.ok(self.cached(a["mail"])))
        self.assertTrue(self.ok(self.cached(b["mail"])))
        # Restart: the change is made while authd's connection is gone.
        self.slapd.stop()
        self.slapd.start()
        self.modify(a["dn"], ("replace", "mailHost", ["after-restart.dirmx.test"]))
        self.until(a["mail"], lambda r: r.dests == [(a["mail"], "after-restart.dirmx.test")],
                   "change made across a restart of slapd")
        # Frozen: the change waits in slapd; it must show after the thaw.
        self.slapd.freeze()
        try:
            time.sleep(1.0)
        finally:
            self.slapd.thaw()
        self.modify(b["dn"], ("replace", "mailHost", ["after-freeze.dirmx.test"]))
        self.until(b["mail"], lambda r: r.dests == [(b["mail"], "after-freeze.dirmx.test")],
                   "change made after a freeze")
        log = self.authd.log()
        self.assertIn("event=lost", log)
        self.assertGreaterEqual(log.count("event=in_sync"), 2, log[-3000:])

    def test_dirmxctl_dc_says_how_changes_are_followed(self):
        u = self.user(9)
        self.modify(u["dn"], ("replace", "mailHost", ["shown.dirmx.test"]))
        self.until(u["mail"], lambda r: r.dests == [(u["mail"], "shown.dirmx.test")],
                   "change")
        out = self.authd.ctl("dc").out
        self.assertRegex(out, r"changes: +syncrepl, in-sync on ldap://localhost:\d+; "
                              r"\d+ seen, \d+ cached answers dropped, \d+ flushes")
        self.assertRegex(out, r"last change: \S+Z .*uid=user\d+,ou=")


class WatchSmtpTest(unittest.TestCase):
    """The same through routerd: an RCPT refused with 550 is accepted
    within seconds of the user's creation, and a next hop change shows in
    the RCPT's answer; routerd keeps nothing about recipients itself."""

    @classmethod
    def setUpClass(cls):
        cls.lab = SmtpLab("watch-smtp")
        cls.addClassCleanup(cls.lab.close)

    def rcpt(self, addr):
        with self.lab.client() as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<someone@partner.example>").code, 250)
            return c.cmd("RCPT TO:<%s>" % addr)

    def test_rcpt_550_then_250_after_the_user_is_created(self):
        addr = "arrives-later@dirmx.test"
        self.assertEqual(self.rcpt(addr).code, 550)
        self.assertEqual(self.rcpt(addr).code, 550)  # now from authd's cache
        self.lab.slapd.add_ldif("\n".join([
            "dn: uid=arrives-later,%s" % self.lab.info["people_dn"],
            "objectClass: inetOrgPerson", "objectClass: inetLocalMailRecipient",
            "uid: arrives-later", "cn: Later", "sn: Later",
            "mail: %s" % addr, "mailHost: mbx2.dirmx.test", ""]))
        t0 = time.monotonic()
        while True:
            r = self.rcpt(addr)
            if r.code == 250:
                break
            self.assertEqual(r.code, 550, r)
            self.assertLess(time.monotonic() - t0, BOUND_S,
                            "still refused %.0f s after the user was created" % BOUND_S)
            time.sleep(0.1)
        for _ in range(5):
            self.assertEqual(self.rcpt(addr).code, 250)
            time.sleep(0.2)


if __name__ == "__main__":
    unittest.main()
