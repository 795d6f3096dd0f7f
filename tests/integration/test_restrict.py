"""Who may send to a recipient (issue 16, section 1), against slapd with
dirmx's schema, through SMTP on the MX and the submission listeners.

The lab is deliverytest's (slapd, authd, routerd, mailbox sinks A and B)
with a submission listener added, and these entries:

  authonly@dirmx.test   dirmxRequireAuthToSendTo TRUE            (sink A)
  onlyone@dirmx.test    dirmxAuthOrig: user 1                    (sink A)
  notuser2@dirmx.test   dirmxUnauthOrig: user 2                  (sink A)
  members@dirmx.test    dirmxMemSubmitPerms: group "senders"       (sink A)
  nonmembers@dirmx.test dirmxMemRejectPerms: group "senders"       (sink A)
  closed@dirmx.test     group, dirmxRequireAuthToSendTo TRUE: users 3, 4
  open@dirmx.test       group, no rule: user 5 and authonly (restricted)
  senders               group: user 1, user 12 and group "inner"
  inner                 group: user 10 and user 12 (nested in "senders")
  user 13               dirmxRecipLimit 2: at most 2 recipients per message
  user 14               dirmxMaxSendSize 10: sends at most 10 KB
  sized@dirmx.test      dirmxMaxReceiveSize 10 (KB)               (sink A)
  sizedgroup@dirmx.test group, dirmxMaxReceiveSize 10: user 6
  withsized@dirmx.test  group, no rule: sized and user 9
  toowner@dirmx.test    group, dirmxReportToOwner TRUE, owner user 11: user 4
                        and group "tonobody"
  tonobody@dirmx.test   group, dirmxReportToOriginator FALSE,
                        dirmxReportToOwner FALSE: user 3

On the MX listener the sender is unauthenticated and, with
trust_envelope_sender_for_restrictions off (the default), nobody: refused
where only authenticated or listed senders may send, never matched by a
refusal list. On submission the sender is authenticated, and authd reads
its account's entry and groups (nested): every rule applies to it.
TrustedSenderTest runs a second lab with the setting on: there the MX
listener's sender is the entry that owns MAIL FROM, when one does.

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
python3 -m unittest -v test_restrict
"""

import re
import smtplib
import ssl
import subprocess
import unittest

from dirmxlab import free_port
from dirmxlab.ldapdata import PASSWORD

from deliverytest import DeliveryLab, bin_path, parse_dsn, smtp_transaction
from smtptest import wait_for

CLIENT = "127.0.0.2"  # not in relay_networks: an Internet client
REFUSED = "sender not allowed to send to this recipient"


def recipient(uid, mail, mailhost, people, extra):
    return ("dn: uid=%s,%s\nobjectClass: inetOrgPerson\n"
            "objectClass: inetLocalMailRecipient\nobjectClass: dirmxRecipient\n"
            "uid: %s\ncn: %s\nsn: %s\nmail: %s\nmailHost: %s\n%s\n"
            % (uid, people, uid, uid, uid, mail, mailhost, extra))


def group(name, mail, members, groups_dn, extra=""):
    return ("dn: cn=%s,%s\nobjectClass: groupOfNames\nobjectClass: dirmxRecipient\n"
            "cn: %s\nmail: %s\n%s%s\n"
            % (name, groups_dn, name, mail, "".join("member: %s\n" % m for m in members),
               extra))


class RestrictTest(unittest.TestCase):
    maxDiff = None
    routerd_extra = ""  # more [routerd] settings

    @classmethod
    def setUpClass(cls):
        cls.sub = free_port()
        cls.dl = dl = DeliveryLab(
            "restrict", start=False, users=15,
            routerd=cls.routerd_extra + "\n[listener submission]\naddress = 127.0.0.1:%d\n"
                    "role = submission\n" % cls.sub)
        try:
            info = dl.info
            people, groups_dn = info["people_dn"], info["groups_dn"]
            cls.mbx_a = "[127.0.0.1]:%d" % dl.port_a
            u = info["users"]
            staff = "cn=senders,%s" % groups_dn
            dl.slapd.add_ldif(
                group("inner", "inner@dirmx.test", [u[10]["dn"], u[12]["dn"]], groups_dn)
                + group("senders", "senders@dirmx.test",
                        [u[1]["dn"], u[12]["dn"], "cn=inner,%s" % groups_dn], groups_dn)
                + recipient("authonly", "authonly@dirmx.test", cls.mbx_a, people,
                            "dirmxRequireAuthToSendTo: TRUE\n")
                + recipient("onlyone", "onlyone@dirmx.test", cls.mbx_a, people,
                            "dirmxAuthOrig: %s\n" % u[1]["dn"])
                + recipient("notuser2", "notuser2@dirmx.test", cls.mbx_a, people,
                            "dirmxUnauthOrig: %s\n" % u[2]["dn"])
                + recipient("members", "members@dirmx.test", cls.mbx_a, people,
                            "dirmxMemSubmitPerms: %s\n" % staff)
                + recipient("nonmembers", "nonmembers@dirmx.test", cls.mbx_a, people,
                            "dirmxMemRejectPerms: %s\n" % staff)
                + group("closed", "closed@dirmx.test", [u[3]["dn"], u[4]["dn"]], groups_dn,
                        "dirmxRequireAuthToSendTo: TRUE\n")
                + group("open", "open@dirmx.test",
                        [u[5]["dn"], "uid=authonly,%s" % people], groups_dn)
                + recipient("sized", "sized@dirmx.test", cls.mbx_a, people,
                            "dirmxMaxReceiveSize: 10\n")
                + group("sizedgroup", "sizedgroup@dirmx.test", [u[6]["dn"]], groups_dn,
                        "dirmxMaxReceiveSize: 10\n")
                + group("withsized", "withsized@dirmx.test",
                        ["uid=sized,%s" % people, u[9]["dn"]], groups_dn)
                + group("tonobody", "tonobody@dirmx.test", [u[3]["dn"]], groups_dn,
                        "dirmxReportToOriginator: FALSE\ndirmxReportToOwner: FALSE\n")
                + group("toowner", "toowner@dirmx.test",
                        [u[4]["dn"], "cn=tonobody,%s" % groups_dn], groups_dn,
                        "dirmxReportToOwner: TRUE\nowner: %s\n" % u[11]["dn"]))
            dl.slapd.modify_ldif(
                "dn: %s\nchangetype: modify\nadd: objectClass\nobjectClass: dirmxRecipient\n"
                "-\nadd: dirmxRecipLimit\ndirmxRecipLimit: 2\n-\n\n" % u[13]["dn"])
            dl.slapd.modify_ldif(
                "dn: %s\nchangetype: modify\nadd: objectClass\nobjectClass: dirmxRecipient\n"
                "-\nadd: dirmxMaxSendSize\ndirmxMaxSendSize: 10\n-\n\n" % u[14]["dn"])
            dl.start_authd()
            dl.start_routerd()
        except BaseException:
            dl.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dl.close()

    # -- helpers ----------------------------------------------------------
    def mx(self):
        s = smtplib.SMTP("127.0.0.1", self.dl.mx, local_hostname="client.test",
                         timeout=30, source_address=(CLIENT, 0))
        s.ehlo()
        return s

    def submission(self, i):
        """Logged in as lab user i, on the submission listener."""
        s = smtplib.SMTP("127.0.0.1", self.sub, local_hostname="client.test", timeout=30)
        s.ehlo()
        s.starttls(context=ssl.create_default_context(cafile=self.dl.ca.cert))
        s.ehlo()
        s.login(self.dl.info["users"][i]["uid"], PASSWORD)
        return s

    def over_mx(self, rcpts, tag):
        with self.mx() as s:
            return smtp_transaction(self, s, "someone@elsewhere.test", rcpts, tag)

    def over_submission(self, i, rcpts, tag):
        with self.submission(i) as s:
            return smtp_transaction(self, s, self.dl.info["users"][i]["mail"], rcpts, tag)

    def received(self, tag):
        """Every address any sink received the message tagged tag for."""
        return sorted(r for sink in self.dl.sinks for t in sink.delivered()
                      if t.header("X-Test-Id") == tag for r in t.rcpts)

    def wait_received(self, tag, addr):
        self.assertTrue(wait_for(lambda: addr in self.received(tag), 30, 0.1),
                        "%s never received %s\n%s" % (addr, tag, self.logs()))
        return self.received(tag)

    def assertRefused(self, reply, addr):
        code, text = reply
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith("5.7.1"), text)
        self.assertIn("<%s>: %s" % (addr, REFUSED), text)

    def logs(self):
        return ("--- routerd:\n" + self.dl.log()[-2500:]
                + "\n--- authd:\n" + self.dl.lab.log_text("authd")[-2500:])

    def user(self, i):
        return self.dl.info["users"][i]["mail"]

    # -- msExchRequireAuthToSendTo ------------------------------------------
    def test_require_auth_refuses_the_internet(self):
        # A recipient anyone may write to travels along: the message goes
        # out, and only to it.
        got = self.over_mx(["authonly@dirmx.test", self.user(6)], "ra-mx")
        self.assertRefused(got["authonly@dirmx.test"], "authonly@dirmx.test")
        self.assertEqual(got[self.user(6)][0], 250)
        self.assertEqual(self.wait_received("ra-mx", self.user(6)), [self.user(6)])
        self.assertIn("event=rcpt_restricted rcpt=<authonly@dirmx.test> "
                      "rule=msExchRequireAuthToSendTo", self.dl.log())

    def test_require_auth_passes_submission(self):
        got = self.over_submission(1, ["authonly@dirmx.test"], "ra-sub")
        self.assertEqual(got["authonly@dirmx.test"][0], 250, got)
        self.assertEqual(self.wait_received("ra-sub", "authonly@dirmx.test"),
                         ["authonly@dirmx.test"])

    # -- allowed and refused senders, for nobody -----------------------------
    def test_only_listed_refuse_nobody(self):
        for addr in ("onlyone@dirmx.test", "members@dirmx.test"):
            with self.subTest(addr=addr):
                got = self.over_mx([addr, self.user(6)], "listed-" + addr)
                self.assertRefused(got[addr], addr)
                self.assertEqual(self.wait_received("listed-" + addr, self.user(6)),
                                 [self.user(6)])

    def test_refusal_lists_never_match_nobody(self):
        for addr in ("notuser2@dirmx.test", "nonmembers@dirmx.test"):
            with self.subTest(addr=addr):
                got = self.over_mx([addr], "refusal-" + addr)
                self.assertEqual(got[addr][0], 250, got)
                self.assertEqual(self.wait_received("refusal-" + addr, addr), [addr])

    # -- groups --------------------------------------------------------------
    def test_restricted_group_expands_to_no_one(self):
        got = self.over_mx(["closed@dirmx.test", self.user(6)], "closed-mx")
        self.assertRefused(got["closed@dirmx.test"], "closed@dirmx.test")
        # Once the other recipient has it, the members never will.
        self.assertEqual(self.wait_received("closed-mx", self.user(6)), [self.user(6)])
        self.assertTrue(self.dl.wait_queue_empty(30))
        self.assertEqual(self.received("closed-mx"), [self.user(6)])

    def test_restricted_group_reaches_members_on_submission(self):
        got = self.over_submission(1, ["closed@dirmx.test"], "closed-sub")
        self.assertEqual(got["closed@dirmx.test"][0], 250, got)
        self.wait_received("closed-sub", self.user(3))
        self.assertEqual(self.wait_received("closed-sub", self.user(4)),
                         sorted([self.user(3), self.user(4)]))

    def test_restricted_member_of_an_open_group_drops_out(self):
        got = self.over_mx(["open@dirmx.test"], "open-mx")
        self.assertEqual(got["open@dirmx.test"][0], 250, got)
        self.wait_received("open-mx", self.user(5))
        self.assertTrue(self.dl.wait_queue_empty(30))
        self.assertEqual(self.received("open-mx"), [self.user(5)])
        self.assertIn("event=rcpt_restricted", self.dl.lab.log_text("authd"))
        self.assertIn("member=<authonly@dirmx.test> action=dropped",
                      self.dl.lab.log_text("authd"))
        # Authenticated, the restricted member receives it too.
        self.over_submission(1, ["open@dirmx.test"], "open-sub")
        self.wait_received("open-sub", self.user(5))
        self.assertEqual(self.wait_received("open-sub", "authonly@dirmx.test"),
                         sorted(["authonly@dirmx.test", self.user(5)]))

    # -- the cache: one answer, decided per sender ----------------------------
    def test_cached_answer_is_decided_per_sender(self):
        addr = "closed@dirmx.test"
        for i in range(2):
            with self.subTest(round=i):
                with self.mx() as s:
                    self.assertEqual(s.mail("someone@elsewhere.test")[0], 250)
                    self.assertRefused(tuple((lambda c, t: (c, t.decode()))(*s.rcpt(addr))),
                                       addr)
                with self.submission(2) as s:
                    self.assertEqual(s.mail(self.user(2))[0], 250)
                    self.assertEqual(s.rcpt(addr)[0], 250)
        # Both answers came from one cached expansion.
        rc, out = self.ctl_lookup(addr)
        self.assertEqual(rc, 1, out)
        self.assertIn("sender: unauthenticated (MX listener): nobody", out)
        self.assertIn("restriction: msExchRequireAuthToSendTo refuses this sender "
                      "(550 5.7.1)", out)
        self.assertIn("NOTFOUND: only authenticated senders may send to this recipient", out)
        rc, out = self.ctl_lookup(addr, "--from", self.user(2))
        self.assertEqual(rc, 0, out)
        self.assertIn("(from the cache)", out)
        self.assertNotIn("restriction:", out)
        self.assertIn(self.user(3), out)

    def test_a_new_restriction_shows_within_seconds(self):
        """The rules are cached with the recipient's answer; a change to
        them drops it as any change of the entry does (dirwatch)."""
        u = self.dl.info["users"][7]
        got = self.over_mx([u["mail"]], "change-before")
        self.assertEqual(got[u["mail"]][0], 250, got)
        self.dl.slapd.modify_ldif(
            "dn: %s\nchangetype: modify\nadd: objectClass\nobjectClass: dirmxRecipient\n-\n"
            "add: dirmxRequireAuthToSendTo\ndirmxRequireAuthToSendTo: TRUE\n-\n\n" % u["dn"])

        def refused():
            with self.mx() as s:
                s.mail("someone@elsewhere.test")
                return s.rcpt(u["mail"])[0] == 550
        self.assertTrue(wait_for(refused, 30, 0.2), self.logs())

    def test_ctl_lookup_traces_the_restrictions(self):
        rc, out = self.ctl_lookup("open@dirmx.test", "--no-cache")
        self.assertEqual(rc, 0, out)
        self.assertIn("sender restrictions of uid=authonly,%s: a"
                      % self.dl.info["people_dn"], out)
        self.assertNotIn("authonly@dirmx.test", out.split("=> deliver to:")[1])
        rc, out = self.ctl_lookup("open@dirmx.test", "--from", self.user(1))
        self.assertEqual(rc, 0, out)
        self.assertIn("authonly@dirmx.test", out.split("=> deliver to:")[1])

    def test_size_limit_is_read_with_the_rules(self):
        """dirmxMaxReceiveSize travels with the recipient's rules (the
        cached 'm:KB' token); a message within it goes through."""
        rc, out = self.ctl_lookup("sized@dirmx.test", "--no-cache")
        self.assertEqual(rc, 0, out)
        self.assertIn("sender restrictions of uid=sized,%s: m:10"
                      % self.dl.info["people_dn"], out)
        got = self.over_mx(["sized@dirmx.test"], "sized-small")
        self.assertEqual(got["sized@dirmx.test"][0], 250, got)
        self.wait_received("sized-small", "sized@dirmx.test")

    def rcpt_with_size(self, size, rcpts):
        with self.mx() as s:
            code, text = s.mail("someone@elsewhere.test", ["SIZE=%d" % size])
            self.assertEqual(code, 250, text)
            return {r: (lambda c, t: (c, t.decode()))(*s.rcpt(r)) for r in rcpts}

    def test_declared_size_over_the_recipients_limit_is_refused_at_rcpt(self):
        """SIZE= above delivContLength: 552 5.2.3 at RCPT, for a user and
        for a group as a whole (its limit is every member's); the other
        recipients and a smaller message pass."""
        over = 10 * 1024 + 1
        got = self.rcpt_with_size(over, ["sized@dirmx.test", "sizedgroup@dirmx.test",
                                         self.user(3)])
        for addr in ("sized@dirmx.test", "sizedgroup@dirmx.test"):
            code, text = got[addr]
            self.assertEqual(code, 552, "%s: %s\n%s" % (addr, text, self.logs()))
            self.assertTrue(text.startswith("5.2.3"), text)
            self.assertIn("<%s>" % addr, text)
        self.assertEqual(got[self.user(3)][0], 250, got)
        got = self.rcpt_with_size(10 * 1024, ["sized@dirmx.test", "sizedgroup@dirmx.test"])
        self.assertEqual([c for c, _ in got.values()], [250, 250], got)

    def dsns_to(self, rcpt, tag):
        """The DSNs to rcpt about the message tagged tag."""
        return [t for sink in self.dl.sinks for t in sink.delivered()
                if t.rcpts == [rcpt] and t.mail_from == ""
                and ("X-Test-Id: %s\r\n" % tag).encode() in t.data]

    def test_recipient_size_limits_at_end_of_data(self):
        """Without SIZE=, each final recipient's delivContLength decides at
        the end of DATA: those over it (a user, a group member through the
        group's limit) get nothing and the sender one DSN for them, 5.2.3;
        the others get the message."""
        sender, other = self.user(8), self.user(3)
        member = self.user(6)  # of sizedgroup, 10 KB
        with self.mx() as s:
            self.assertEqual(s.mail(sender)[0], 250)
            for r in ("sized@dirmx.test", "sizedgroup@dirmx.test", other):
                self.assertEqual(s.rcpt(r)[0], 250, r)
            code, text = s.data(self.big_message(sender, "eod-1", 12))
            self.assertEqual(code, 250, text)
        self.wait_received("eod-1", other)
        dsn = wait_for(lambda: self.dsns_to(sender, "eod-1"), 30, 0.2)
        self.assertTrue(dsn, self.logs())
        self.assertTrue(self.dl.wait_queue_empty(30))
        self.assertEqual(self.received("eod-1"), [other])
        self.assertEqual(len(dsn), 1, dsn)
        d = parse_dsn(dsn[0].data)
        got = sorted((r["final-recipient"].lower(), r["action"], r["status"])
                     for r in d["per_rcpt"])
        self.assertEqual(got, sorted([("rfc822; sized@dirmx.test", "failed", "5.2.3"),
                                      ("rfc822; %s" % member, "failed", "5.2.3")]))
        # A message within the limits reaches them all.
        got = self.over_mx(["sized@dirmx.test", "sizedgroup@dirmx.test"], "eod-small")
        self.wait_received("eod-small", member)
        self.wait_received("eod-small", "sized@dirmx.test")

    def test_member_over_its_own_limit_inside_a_group(self):
        """A member's own smaller limit inside a group without one: that
        member alone gets nothing (and a DSN says so), with or without
        SIZE=; the other member gets the message."""
        sender, member = self.user(8), self.user(9)
        for n, size in enumerate((None, 12 * 1024 + 4096)):
            tag = "ws-%d" % n
            with self.subTest(size=size), self.mx() as s:
                self.assertEqual(s.mail(sender, ["SIZE=%d" % size] if size else [])[0], 250)
                self.assertEqual(s.rcpt("withsized@dirmx.test")[0], 250)
                code, text = s.data(self.big_message(sender, tag, 12))
                self.assertEqual(code, 250, text)
            self.wait_received(tag, member)
            self.assertTrue(wait_for(lambda: self.dsns_to(sender, tag), 30, 0.2),
                            self.logs())
            self.assertTrue(self.dl.wait_queue_empty(30))
            self.assertEqual(self.received(tag), [member])

    def test_every_recipient_over_its_limit_refuses_the_message(self):
        """All over: 552 5.2.3 at the end of DATA, no DSN; an understated
        SIZE= passes RCPT and is caught there too."""
        for size in (None, 1000):
            with self.subTest(size=size), self.mx() as s:
                self.assertEqual(s.mail(self.user(8), ["SIZE=%d" % size] if size else [])[0],
                                 250)
                self.assertEqual(s.rcpt("sized@dirmx.test")[0], 250)
                code, text = s.data(self.big_message(self.user(8), "eod-all", 12))
                self.assertEqual(code, 552, text)
                self.assertTrue(text.decode().startswith("5.2.3"), text)
        self.assertTrue(self.dl.wait_queue_empty(30))
        self.assertEqual(self.received("eod-all"), [])

    def searches(self):
        r = subprocess.run([bin_path("routerd", "dirmxctl"), "-c", self.dl.conf, "stats"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return int(re.search(r"(?m)^searches\s+(\d+)$", r.stdout).group(1))

    def test_warm_restrictions_cost_no_search(self):
        """Half the recipients restricted, senders on both listeners: once
        the answers are cached, no message costs an LDAP search (issue 16:
        < 0.1 per message warm)."""
        restricted = ["authonly@dirmx.test", "onlyone@dirmx.test", "closed@dirmx.test",
                      "notuser2@dirmx.test", "open@dirmx.test"]
        plain = [self.user(i) for i in (3, 4, 5, 6, 8)]
        self.over_mx(restricted + plain, "warm-0")
        self.over_submission(1, restricted + plain, "warm-0s")
        self.over_submission(2, restricted + plain, "warm-0s2")
        before = self.searches()
        for n in range(5):
            self.over_mx(restricted + plain, "warm-%d" % n)
            self.over_submission(2, restricted + plain, "warm-%ds" % n)
        self.assertEqual(self.searches() - before, 0, self.logs())

    # -- where a group's delivery reports go ---------------------------------
    def test_report_routing_is_in_the_answer(self):
        """reportToOwner: the members' copies carry the owner's address as
        envelope sender; reportToOriginator and reportToOwner FALSE: <>,
        also inside a group that reports to its owner; a group that says
        nothing: the message's own sender."""
        rc, out = self.ctl_lookup("toowner@dirmx.test", "--no-cache")
        self.assertEqual(rc, 0, out)
        dests = out.split("=> deliver to:")[1]
        self.assertRegex(dests, r"%s\s+via \S+\n\s+reports to %s\n"
                         % (re.escape(self.user(4)), re.escape(self.user(11))))
        self.assertRegex(dests, r"%s\s+via \S+\n\s+reports to <>\n"
                         % re.escape(self.user(3)))
        rc, out = self.ctl_lookup("open@dirmx.test")
        self.assertEqual(rc, 0, out)
        self.assertNotIn("reports to", out)

    def mail_from_of(self, tag):
        """{recipient: the MAIL FROM its copy of the message tagged tag
        came with}, over every sink."""
        return {r: t.mail_from for sink in self.dl.sinks for t in sink.delivered()
                if t.data is not None and ("X-Test-Id: %s\r\n" % tag).encode() in t.data
                for r in t.rcpts}

    def test_copies_carry_where_reports_go(self):
        """The members' copies go out with the envelope sender their group
        says: the owner's address, <>, or the message's own sender; one
        MAIL FROM per transaction, so one message becomes several."""
        sender = "someone@elsewhere.test"  # over_mx's
        got = self.over_mx(["toowner@dirmx.test", "open@dirmx.test"], "rr-1")
        self.assertEqual([c for c, _ in got.values()], [250, 250], got)
        want = {self.user(4): self.user(11), self.user(3): "", self.user(5): sender}
        self.assertTrue(wait_for(lambda: len(self.mail_from_of("rr-1")) == 3, 30, 0.2),
                        "%s\n%s" % (self.mail_from_of("rr-1"), self.logs()))
        self.assertEqual(self.mail_from_of("rr-1"), want)

    def test_queue_shows_where_a_copy_reports(self):
        """dirmxctl queue show names the MAIL FROM of a waiting copy whose
        group's reports go elsewhere, and only of that one."""
        member = self.user(4)
        for sink in self.dl.sinks:
            sink.set_reply(member, "451 4.3.0 <%s>: later" % member)
        try:
            with self.mx() as s:
                smtp_transaction(self, s, self.user(8), ["toowner@dirmx.test", self.user(5)],
                                 "rr-q")

            def shown():
                for qid in self.dl.queue_ids():
                    out = self.dl.queue("show", qid).stdout
                    if "<%s>" % member in out and "deferred" in out:
                        return out
                return None
            out = wait_for(shown, 30, 0.2)
            self.assertTrue(out, self.logs())
            self.assertRegex(out, r"<%s>  via \S+  deferred  attempts 1  from <%s>"
                             % (re.escape(member), re.escape(self.user(11))))
            self.assertRegex(out, r"<%s>  via \S+  delivered  attempts 1  from <>\n"
                             % re.escape(self.user(3)))
            self.assertRegex(out, r"<%s>  via \S+  delivered  attempts 1\n"
                             % re.escape(self.user(5)))
        finally:
            for sink in self.dl.sinks:
                sink.set_reply(member, None)
        self.dl.queue("flush")
        self.assertTrue(self.dl.wait_queue_empty(60), self.logs())

    def test_bounces_go_where_the_group_says(self):
        """The mailbox server refuses every member: the DSN for the member
        of the group reporting to its owner goes to the owner, none is
        made for the one whose group reports nowhere, and the one of a
        group that says nothing goes to the sender."""
        sender, owner = self.user(8), self.user(11)
        refused = (self.user(4), self.user(3), self.user(5))
        for r in refused:
            for sink in self.dl.sinks:
                sink.set_reply(r, "550 5.1.1 <%s>: no such mailbox here" % r)
        try:
            with self.mx() as s:
                got = smtp_transaction(self, s, sender,
                                       ["toowner@dirmx.test", "open@dirmx.test"], "rr-b")
            self.assertEqual([c for c, _ in got.values()], [250, 250], got)
            self.assertTrue(wait_for(lambda: self.dsns_to(owner, "rr-b")
                                     and self.dsns_to(sender, "rr-b"), 30, 0.2), self.logs())
            self.assertTrue(self.dl.wait_queue_empty(30))
        finally:
            for r in refused:
                for sink in self.dl.sinks:
                    sink.set_reply(r, None)

        def failed(dsns):
            self.assertEqual(len(dsns), 1, dsns)
            return sorted(r["final-recipient"].lower()
                          for r in parse_dsn(dsns[0].data)["per_rcpt"])
        self.assertEqual(failed(self.dsns_to(owner, "rr-b")), ["rfc822; " + self.user(4)])
        self.assertEqual(failed(self.dsns_to(sender, "rr-b")), ["rfc822; " + self.user(5)])
        self.assertIn("event=bounce_suppressed rcpt=<%s>" % self.user(3), self.dl.log())

    # -- authenticated senders: their entry and groups ----------------------
    def sub_rcpt(self, i, addr):
        """RCPT addr as lab user i on submission: (code, text)."""
        with self.submission(i) as s:
            self.assertEqual(s.mail(self.user(i))[0], 250)
            code, text = s.rcpt(addr)
            return code, text.decode()

    def test_authorig_for_authenticated_senders(self):
        got = self.over_submission(1, ["onlyone@dirmx.test"], "ao-1")
        self.assertEqual(got["onlyone@dirmx.test"][0], 250, got)
        self.wait_received("ao-1", "onlyone@dirmx.test")
        self.assertRefused(self.sub_rcpt(2, "onlyone@dirmx.test"), "onlyone@dirmx.test")

    def test_unauthorig_for_authenticated_senders(self):
        self.assertRefused(self.sub_rcpt(2, "notuser2@dirmx.test"), "notuser2@dirmx.test")
        got = self.over_submission(1, ["notuser2@dirmx.test"], "uo-1")
        self.assertEqual(got["notuser2@dirmx.test"][0], 250, got)
        self.wait_received("uo-1", "notuser2@dirmx.test")

    def test_submit_perms_count_nested_members(self):
        for i in (1, 10):  # a direct member, a member through "inner"
            with self.subTest(user=i):
                self.assertEqual(self.sub_rcpt(i, "members@dirmx.test")[0], 250)
        self.assertRefused(self.sub_rcpt(3, "members@dirmx.test"), "members@dirmx.test")

    def test_reject_perms_count_nested_members(self):
        for i in (1, 10):
            with self.subTest(user=i):
                self.assertRefused(self.sub_rcpt(i, "nonmembers@dirmx.test"),
                                   "nonmembers@dirmx.test")
        self.assertEqual(self.sub_rcpt(3, "nonmembers@dirmx.test")[0], 250)

    def test_sender_added_to_a_group_is_allowed_within_seconds(self):
        u = self.dl.info["users"][11]
        self.assertRefused(self.sub_rcpt(11, "members@dirmx.test"), "members@dirmx.test")
        self.dl.slapd.modify_ldif(
            "dn: cn=inner,%s\nchangetype: modify\nadd: member\nmember: %s\n-\n\n"
            % (self.dl.info["groups_dn"], u["dn"]))
        self.assertTrue(wait_for(lambda: self.sub_rcpt(11, "members@dirmx.test")[0] == 250,
                                 30, 0.2), self.logs())

    def test_identity_read_failing_is_a_temporary_failure(self):
        """User 12's groups cannot be read (two groups, a size limit of 1):
        a restricted recipient is 451, never a pass; one without rules
        passes."""
        self.over_mx(["members@dirmx.test"], "tf-warm")  # cache the recipient
        old = self.dl.slapd.size_limit
        self.dl.slapd.set_size_limit(1)
        try:
            code, text = self.sub_rcpt(12, "members@dirmx.test")
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith("4.4.3"), text)
            self.assertIn("event=sender_identity", self.dl.lab.log_text("authd"))
        finally:
            self.dl.slapd.set_size_limit(old)
        self.assertTrue(wait_for(
            lambda: self.sub_rcpt(12, "members@dirmx.test")[0] == 250, 30, 0.2),
            self.logs())

    # -- msExchRecipLimit -------------------------------------------------
    def test_recipient_limit_of_the_sender(self):
        rcpts = [self.user(i) for i in (3, 4, 5)]
        got = self.over_submission(13, rcpts, "rl-13")
        self.assertEqual([got[r][0] for r in rcpts], [250, 250, 452], got)
        self.assertEqual(got[rcpts[2]][1], "4.5.3 Too many recipients")
        self.wait_received("rl-13", rcpts[1])
        self.assertTrue(self.dl.wait_queue_empty(30))
        self.assertEqual(self.received("rl-13"), sorted(rcpts[:2]))
        # Another sender has no limit of its own.
        got = self.over_submission(1, rcpts, "rl-1")
        self.assertEqual([got[r][0] for r in rcpts], [250, 250, 250], got)

    # -- trust_envelope_sender_for_restrictions (off here) -------------------
    def mx_rcpt(self, mail_from, addr, size=None):
        """RCPT addr on the MX listener after MAIL FROM mail_from."""
        with self.mx() as s:
            code, text = s.mail(mail_from, ["SIZE=%d" % size] if size else [])
            self.assertEqual(code, 250, text)
            code, text = s.rcpt(addr)
            return code, text.decode()

    def test_envelope_sender_is_not_trusted_by_default(self):
        """Off: naming an allowed sender in MAIL FROM gets nothing; the
        sender is nobody, and nobody has no size limit of its own."""
        self.assertRefused(self.mx_rcpt(self.user(1), "onlyone@dirmx.test"),
                           "onlyone@dirmx.test")
        with self.mx() as s:
            code, text = s.mail(self.user(14), ["SIZE=%d" % (20 * 1024)])
            self.assertEqual(code, 250, text)

    # -- submissionContLength (dirmxMaxSendSize) ----------------------------
    def big_message(self, mail_from, tag, kb):
        return ("From: <%s>\r\nSubject: %s\r\nX-Test-Id: %s\r\n\r\n%s"
                % (mail_from, tag, tag, ("x" * 1000 + "\r\n") * kb)).encode()

    def test_sender_size_limit_at_mail(self):
        """SIZE= above the sender's own limit: 552 5.3.4 at MAIL; at or
        below it, and for a sender without a limit, 250."""
        with self.submission(14) as s:
            code, text = s.mail(self.user(14), ["SIZE=%d" % (10 * 1024 + 1)])
            self.assertEqual(code, 552, text)
            self.assertTrue(text.decode().startswith("5.3.4"), text)
            self.assertIn("sender's limit of 10 KB", text.decode())
            s.rset()
            code, text = s.mail(self.user(14), ["SIZE=%d" % (10 * 1024)])
            self.assertEqual(code, 250, text)
        with self.submission(3) as s:
            code, text = s.mail(self.user(3), ["SIZE=%d" % (20 * 1024)])
            self.assertEqual(code, 250, text)

    def test_sender_size_limit_at_end_of_data(self):
        """Without SIZE=, a message over the sender's limit is refused at
        the end of DATA (552 5.3.4) and no one receives it; a small one
        goes through."""
        rcpt = self.user(3)
        with self.submission(14) as s:
            self.assertEqual(s.mail(self.user(14))[0], 250)
            self.assertEqual(s.rcpt(rcpt)[0], 250)
            code, text = s.data(self.big_message(self.user(14), "ss-big", 12))
            self.assertEqual(code, 552, text)
            self.assertTrue(text.decode().startswith("5.3.4"), text)
        got = self.over_submission(14, [rcpt], "ss-small")
        self.assertEqual(got[rcpt][0], 250, got)
        self.wait_received("ss-small", rcpt)
        self.assertTrue(self.dl.wait_queue_empty(30))
        self.assertEqual(self.received("ss-big"), [])

    def ctl_lookup(self, addr, *opts):
        r = subprocess.run([bin_path("routerd", "dirmxctl"), "-c", self.dl.conf, "lookup"]
                           + list(opts) + [addr], capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr


class TrustedSenderTest(unittest.TestCase):
    """trust_envelope_sender_for_restrictions = yes: on the MX listener the
    sender is the directory entry that owns MAIL FROM (anyone can forge
    it: the setting is off by default); an address no entry owns is still
    nobody."""
    maxDiff = None
    routerd_extra = "trust_envelope_sender_for_restrictions = yes\n"
    setUpClass = classmethod(RestrictTest.setUpClass.__func__)
    tearDownClass = classmethod(RestrictTest.tearDownClass.__func__)
    mx, mx_rcpt, user, logs = RestrictTest.mx, RestrictTest.mx_rcpt, RestrictTest.user, \
        RestrictTest.logs
    assertRefused, received = RestrictTest.assertRefused, RestrictTest.received
    wait_received, big_message = RestrictTest.wait_received, RestrictTest.big_message
    ctl_lookup = RestrictTest.ctl_lookup

    def test_allowed_sender_by_envelope(self):
        self.assertEqual(self.mx_rcpt(self.user(1), "onlyone@dirmx.test")[0], 250,
                         self.logs())
        self.assertRefused(self.mx_rcpt(self.user(2), "onlyone@dirmx.test"),
                           "onlyone@dirmx.test")
        with self.mx() as s:
            got = smtp_transaction(self, s, self.user(1), ["onlyone@dirmx.test"], "tr-1")
        self.assertEqual(got["onlyone@dirmx.test"][0], 250, got)
        self.wait_received("tr-1", "onlyone@dirmx.test")

    def test_ctl_lookup_as_envelope_sender(self):
        """dirmxctl lookup --envelope-from judges the sender as routerd
        does with this setting: the entry that owns MAIL FROM."""
        rc, out = self.ctl_lookup("onlyone@dirmx.test", "--envelope-from", self.user(1))
        self.assertEqual(rc, 0, out)
        self.assertIn("sender: %s, unauthenticated (MX listener): the entry that owns it"
                      % self.user(1), out)
        self.assertNotIn("restriction:", out)
        rc, out = self.ctl_lookup("onlyone@dirmx.test", "--envelope-from", self.user(2))
        self.assertEqual(rc, 1, out)
        self.assertIn("restriction: authOrig/dLMemSubmitPerms refuses this sender (550 5.7.1)",
                      out)
        rc, out = self.ctl_lookup("onlyone@dirmx.test", "--envelope-from",
                                  "someone@elsewhere.test")
        self.assertEqual(rc, 1, out)
        rc, out = self.ctl_lookup("onlyone@dirmx.test", "--from", self.user(1),
                                  "--envelope-from", self.user(1))
        self.assertEqual(rc, 2, out)
        self.assertIn("usage:", out)

    def test_unknown_envelope_sender_is_still_nobody(self):
        for sender in ("someone@elsewhere.test", "nosuchuser@dirmx.test", ""):
            with self.subTest(sender=sender):
                self.assertRefused(self.mx_rcpt(sender, "onlyone@dirmx.test"),
                                   "onlyone@dirmx.test")

    def test_refusal_and_group_rules_by_envelope(self):
        self.assertRefused(self.mx_rcpt(self.user(2), "notuser2@dirmx.test"),
                           "notuser2@dirmx.test")
        self.assertEqual(self.mx_rcpt(self.user(1), "notuser2@dirmx.test")[0], 250)
        # dirmxMemSubmitPerms: user 10 is a member through "inner".
        self.assertEqual(self.mx_rcpt(self.user(10), "members@dirmx.test")[0], 250)
        self.assertRefused(self.mx_rcpt(self.user(3), "members@dirmx.test"),
                           "members@dirmx.test")
        self.assertRefused(self.mx_rcpt(self.user(10), "nonmembers@dirmx.test"),
                           "nonmembers@dirmx.test")

    def test_require_auth_still_refuses(self):
        """A named sender is still unauthenticated."""
        self.assertRefused(self.mx_rcpt(self.user(1), "authonly@dirmx.test"),
                           "authonly@dirmx.test")

    def test_two_senders_in_one_session_are_judged_apart(self):
        with self.mx() as s:
            for sender, want in ((self.user(1), 250), (self.user(2), 550),
                                 (self.user(1), 250)):
                self.assertEqual(s.mail(sender)[0], 250)
                self.assertEqual(s.rcpt("onlyone@dirmx.test")[0], want, sender)
                s.rset()

    def test_sender_size_limit_of_the_envelope_sender(self):
        with self.mx() as s:
            code, text = s.mail(self.user(14), ["SIZE=%d" % (20 * 1024)])
            self.assertEqual(code, 552, text)
            self.assertTrue(text.decode().startswith("5.3.4"), text)
            s.rset()
            self.assertEqual(s.mail(self.user(14))[0], 250)
            self.assertEqual(s.rcpt(self.user(3))[0], 250)
            code, text = s.data(self.big_message(self.user(14), "tr-big", 12))
            self.assertEqual(code, 552, text)
            s.rset()
            code, text = s.mail("someone@elsewhere.test", ["SIZE=%d" % (20 * 1024)])
            self.assertEqual(code, 250, text)


if __name__ == "__main__":
    unittest.main()
