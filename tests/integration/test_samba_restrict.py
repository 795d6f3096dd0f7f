"""Who may send to a recipient (issue 16, section 1) on Active Directory:
Exchange's msExchRequireAuthToSendTo, authOrig, unauthOrig,
dLMemSubmitPerms and dLMemRejectPerms on users and groups of a real Samba
AD DC (with Exchange's attributes added to its schema, as Exchange's
schema preparation does), through SMTP on routerd's MX and submission
listeners.

One Samba DC (dirmxlab.samba, from the lab's cache) in its network
namespace; authd (simple bind over StartTLS), routerd (MX and submission
listeners) and one recording mailbox sink (MBX, every user's
dirmxNextHop) in that namespace. Entries, in CN=Users:
  alice       password; member of "senders"; the submission sender
  bob         password; member of "inner", itself a member of "senders"
  grace       password; in no group (until a test adds her to "inner")
  frank       no rule: the recipient anyone may write to
  authonly    msExchRequireAuthToSendTo TRUE
  onlyalice   authOrig: alice
  notalice    unauthOrig: alice
  members     dLMemSubmitPerms: senders
  nonmembers  dLMemRejectPerms: senders
  closed      group (closed@), msExchRequireAuthToSendTo TRUE: carol, dave
  open        group (open@), no rule: erin and authonly
  sized       delivContLength 10 (KB): SIZE= above it refused at RCPT
  bigsender   password; submissionContLength 10 (KB)
  owned       group (owned@), reportToOwner TRUE, managedBy alice: carol
  quiet       group (quiet@), reportToOriginator and reportToOwner FALSE:
              dave
routerd runs with trust_envelope_sender_for_restrictions = yes. On the MX
listener the sender is then the entry that owns MAIL FROM, and an
Internet stranger (no entry) is nobody. On submission it is the account's
entry and its groups, nested (authd's in-chain search).

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
/usr/bin/python3 -m unittest -v test_samba_restrict
"""

import os
import ssl
import sys
import time
import unittest

from dirmxlab import Lab, source_dir
from dirmxlab.samba import SambaDC

from deliverytest import smtp_transaction
from sambamail import MailDaemons, NsSink, NsSMTP, ns_free_port
from smtptest import wait_for

DOM = "ad.dirmx.test"
SVC, SVC_PW = "svc-restrict", "Svc!Passw0rd-5"
PW = "Alice!Passw0rd-7"
HOST = "127.0.0.1"
REFUSED = "sender not allowed to send to this recipient"


class SambaRestrictTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.lab = Lab("samba-restrict")
        try:
            cls._setup()
        except BaseException:
            cls.lab.close()
            raise
        sys.stderr.write("\nsamba_restrict setup %.1fs\n" % (time.monotonic() - t0))

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    @classmethod
    def _setup(cls):
        lab = cls.lab
        os.chmod(lab.dir, 0o755)
        cls.dc = dc = SambaDC(lab)
        with open(os.path.join(source_dir(), "schemas", "dirmx-ad.ldif")) as f:
            dc.apply_schema_ldif(f.read())
        dc.add_exchange_restrictions()
        dc.create_service_account(SVC, SVC_PW)
        ports = {k: ns_free_port(dc.netns, HOST) for k in ("mbx", "mx", "sub", "dns")}
        cls.hop = "[%s]:%d" % (HOST, ports["mbx"])
        cls.mbx = NsSink(dc.netns, "mbx", HOST, ports["mbx"]).start()
        lab.on_close(cls.mbx.stop)
        cls.add_content()
        cls.mx, cls.sub = ports["mx"], ports["sub"]
        cls.start_daemons(ports["dns"])

    @classmethod
    def add_content(cls):
        dc = cls.dc
        users = "CN=Users," + dc.base_dn
        senders = "CN=senders," + users

        def user(name, password=None, **attrs):
            attrs["dirmxNextHop"] = cls.hop
            return dc.user_ldif(name, password, mail="%s@%s" % (name, DOM), attrs=attrs)

        def group(name, members, mail=None, **attrs):
            lines = ["dn: CN=%s,%s" % (name, users), "objectClass: group",
                     "sAMAccountName: " + name, "groupType: 8"]
            if mail:
                lines.append("mail: " + mail)
            lines += ["member: " + m for m in members]
            lines += ["%s: %s" % kv for kv in attrs.items()]
            return "\n".join(lines) + "\n\n"

        alice = dc.user_dn("alice")
        dc.add_ldif("".join([
            user("alice", PW), user("bob", PW), user("grace", PW), user("frank"), user("carol"), user("dave"), user("erin"),
            user("authonly", msExchRequireAuthToSendTo="TRUE"),
            user("onlyalice", authOrig=alice),
            user("notalice", unauthOrig=alice),
            group("inner", [dc.user_dn("bob")]),
            group("senders", [alice, "CN=inner," + users]),
            user("members", dLMemSubmitPerms=senders),
            user("nonmembers", dLMemRejectPerms=senders),
            user("sized", delivContLength="10"),
            user("bigsender", PW, submissionContLength="10"),
            group("owned", [dc.user_dn("carol")], "owned@" + DOM, reportToOwner="TRUE",
                  managedBy=alice),
            group("quiet", [dc.user_dn("dave")], "quiet@" + DOM, reportToOriginator="FALSE",
                  reportToOwner="FALSE"),
            group("closed", [dc.user_dn("carol"), dc.user_dn("dave")], "closed@" + DOM,
                  msExchRequireAuthToSendTo="TRUE"),
            group("open", [dc.user_dn("erin"), dc.user_dn("authonly")], "open@" + DOM)]))

    @classmethod
    def start_daemons(cls, dead_dns_port):
        d = MailDaemons(cls.lab, cls.dc, DOM, HOST, SVC, SVC_PW, cls.mx, dead_dns_port,
                        sub=cls.sub,
                        routerd_extra="trust_envelope_sender_for_restrictions = yes\n")
        cls.ca = d.ca

    # -- helpers ----------------------------------------------------------
    def logs(self):
        return ("--- routerd:\n" + self.lab.log_text("routerd")[-2500:]
                + "\n--- authd:\n" + self.lab.log_text("authd")[-2500:])

    def over_mx(self, rcpts, tag):
        with NsSMTP(self.dc.netns, HOST, self.mx) as s:
            s.ehlo()
            return smtp_transaction(self, s, "stranger@elsewhere.example", rcpts, tag)

    def over_submission(self, rcpts, tag, who="alice"):
        with NsSMTP(self.dc.netns, HOST, self.sub) as s:
            s.ehlo()
            s.starttls(context=ssl.create_default_context(cafile=self.ca.cert))
            s.ehlo()
            s.login(who, PW)
            return smtp_transaction(self, s, "%s@%s" % (who, DOM), rcpts, tag)

    def sub_rcpt(self, who, name):
        """RCPT name as who on submission: (code, text)."""
        with NsSMTP(self.dc.netns, HOST, self.sub) as s:
            s.ehlo()
            s.starttls(context=ssl.create_default_context(cafile=self.ca.cert))
            s.ehlo()
            s.login(who, PW)
            self.assertEqual(s.mail("%s@%s" % (who, DOM))[0], 250)
            code, text = s.rcpt(self.a(name))
            return code, text.decode()

    def received(self, tag):
        return sorted(r for t in self.mbx.delivered() if t.header("X-Test-Id") == tag
                      for r in t.rcpts)

    def wait_received(self, tag, name):
        addr = "%s@%s" % (name, DOM)
        self.assertTrue(wait_for(lambda: addr in self.received(tag), 30, 0.1),
                        "%s never received %s\n%s" % (addr, tag, self.logs()))
        return self.received(tag)

    def assertRefused(self, reply, addr):
        code, text = reply
        self.assertEqual(code, 550, "%s: %s\n%s" % (addr, text, self.logs()))
        self.assertTrue(text.startswith("5.7.1"), text)
        self.assertIn("<%s>: %s" % (addr, REFUSED), text)

    def a(self, name):
        return "%s@%s" % (name, DOM)

    def settle(self, tag, name):
        """What the mailbox server received of tag once name has it: every
        user's next hop is MBX, so the recipients of one message travel in
        one transaction and arrive together."""
        self.wait_received(tag, name)
        return self.received(tag)

    # -- the rules ----------------------------------------------------------
    def test_require_auth(self):
        got = self.over_mx([self.a("authonly"), self.a("frank")], "ra-mx")
        self.assertRefused(got[self.a("authonly")], self.a("authonly"))
        self.assertEqual(self.settle("ra-mx", "frank"), [self.a("frank")])
        got = self.over_submission([self.a("authonly")], "ra-sub")
        self.assertEqual(got[self.a("authonly")][0], 250, got)
        self.assertEqual(self.wait_received("ra-sub", "authonly"), [self.a("authonly")])

    def test_only_listed_refuse_nobody(self):
        for name in ("onlyalice", "members"):
            with self.subTest(name=name):
                got = self.over_mx([self.a(name), self.a("frank")], "listed-" + name)
                self.assertRefused(got[self.a(name)], self.a(name))
                self.assertEqual(self.settle("listed-" + name, "frank"), [self.a("frank")])

    def test_refusal_lists_never_match_nobody(self):
        for name in ("notalice", "nonmembers"):
            with self.subTest(name=name):
                got = self.over_mx([self.a(name)], "refusal-" + name)
                self.assertEqual(got[self.a(name)][0], 250, got)
                self.assertEqual(self.wait_received("refusal-" + name, name), [self.a(name)])

    def test_restricted_group(self):
        got = self.over_mx([self.a("closed"), self.a("frank")], "closed-mx")
        self.assertRefused(got[self.a("closed")], self.a("closed"))
        self.assertEqual(self.settle("closed-mx", "frank"), [self.a("frank")])
        got = self.over_submission([self.a("closed")], "closed-sub")
        self.assertEqual(got[self.a("closed")][0], 250, got)
        self.wait_received("closed-sub", "carol")
        self.assertEqual(self.wait_received("closed-sub", "dave"),
                         [self.a("carol"), self.a("dave")])

    def test_restricted_member_drops_out(self):
        got = self.over_mx([self.a("open")], "open-mx")
        self.assertEqual(got[self.a("open")][0], 250, got)
        self.assertEqual(self.settle("open-mx", "erin"), [self.a("erin")])
        self.assertIn("member=<%s> action=dropped" % self.a("authonly"),
                      self.lab.log_text("authd"))

    def test_size_limit(self):
        """delivContLength (Exchange's Integer, KB): a declared SIZE= above
        it gets 552 5.2.3 at RCPT; a message within it goes through."""
        with NsSMTP(self.dc.netns, HOST, self.mx) as s:
            s.ehlo()
            self.assertEqual(s.mail("stranger@elsewhere.example", ["SIZE=%d" % (10 * 1024 + 1)])[0],
                             250)
            code, text = s.rcpt(self.a("sized"))
            self.assertEqual(code, 552, "%s\n%s" % (text, self.logs()))
            self.assertTrue(text.decode().startswith("5.2.3"), text)
            self.assertEqual(s.rcpt(self.a("frank"))[0], 250)
        got = self.over_mx([self.a("sized")], "sized-mx")
        self.assertEqual(got[self.a("sized")][0], 250, "%s\n%s" % (got, self.logs()))
        self.assertEqual(self.wait_received("sized-mx", "sized"), [self.a("sized")])

    def mx_rcpt(self, mail_from, name, size=None):
        with NsSMTP(self.dc.netns, HOST, self.mx) as s:
            s.ehlo()
            code, text = s.mail(mail_from, ["SIZE=%d" % size] if size else [])
            if code != 250:
                return code, text.decode()
            code, text = s.rcpt(self.a(name))
            return code, text.decode()

    def test_trusted_envelope_sender(self):
        """With the setting on, MAIL FROM names the sender: its entry and
        groups (nested) decide; a stranger is still nobody."""
        self.assertEqual(self.mx_rcpt(self.a("alice"), "onlyalice")[0], 250, self.logs())
        self.assertRefused(self.mx_rcpt(self.a("bob"), "onlyalice"), self.a("onlyalice"))
        self.assertRefused(self.mx_rcpt(self.a("alice"), "notalice"), self.a("notalice"))
        self.assertEqual(self.mx_rcpt(self.a("bob"), "members")[0], 250, self.logs())
        self.assertRefused(self.mx_rcpt("stranger@elsewhere.example", "members"),
                           self.a("members"))
        self.assertRefused(self.mx_rcpt(self.a("alice"), "authonly"), self.a("authonly"))

    def test_sender_size_limit(self):
        """submissionContLength: SIZE= above it is 552 5.3.4 at MAIL, for
        the authenticated account and for the trusted envelope sender."""
        with NsSMTP(self.dc.netns, HOST, self.sub) as s:
            s.ehlo()
            s.starttls(context=ssl.create_default_context(cafile=self.ca.cert))
            s.ehlo()
            s.login("bigsender", PW)
            code, text = s.mail(self.a("bigsender"), ["SIZE=%d" % (20 * 1024)])
            self.assertEqual(code, 552, "%s\n%s" % (text, self.logs()))
            self.assertTrue(text.decode().startswith("5.3.4"), text)
        code, text = self.mx_rcpt(self.a("bigsender"), "frank", 20 * 1024)
        self.assertEqual(code, 552, text)
        self.assertTrue(text.startswith("5.3.4"), text)
        self.assertEqual(self.mx_rcpt(self.a("alice"), "frank", 20 * 1024)[0], 250)

    def test_recipient_size_limit_at_end_of_data(self):
        """Without SIZE=, delivContLength is checked against the message
        that came: sized gets nothing and the sender a DSN (5.2.3), frank
        gets the message."""
        body = "x" * 1000 + "\r\n"
        with NsSMTP(self.dc.netns, HOST, self.sub) as s:
            s.ehlo()
            s.starttls(context=ssl.create_default_context(cafile=self.ca.cert))
            s.ehlo()
            s.login("alice", PW)
            self.assertEqual(s.mail(self.a("alice"))[0], 250)
            for name in ("sized", "frank"):
                self.assertEqual(s.rcpt(self.a(name))[0], 250)
            code, text = s.data(("Subject: big\r\nX-Test-Id: eod-ad\r\n\r\n"
                                 + body * 12).encode())
            self.assertEqual(code, 250, text)
        self.wait_received("eod-ad", "frank")

        def dsn():
            return [t for t in self.mbx.delivered()
                    if t.mail_from == "" and t.rcpts == [self.a("alice")]
                    and b"X-Test-Id: eod-ad" in t.data]
        self.assertTrue(wait_for(dsn, 30, 0.2), self.logs())
        self.assertIn(b"Status: 5.2.3", dsn()[0].data)
        self.assertIn(self.a("sized").encode(), dsn()[0].data)
        self.assertEqual(self.received("eod-ad"), [self.a("frank")])

    def test_group_reports_go_where_the_group_says(self):
        """reportToOwner + managedBy: the member's copy comes from the
        owner's address; reportToOriginator and reportToOwner FALSE: from
        <>."""
        self.over_mx([self.a("owned"), self.a("quiet")], "rr-ad")

        def froms():
            return {r: t.mail_from for t in self.mbx.delivered()
                    if t.header("X-Test-Id") == "rr-ad" for r in t.rcpts}
        self.assertTrue(wait_for(lambda: len(froms()) == 2, 30, 0.2), self.logs())
        self.assertEqual(froms(), {self.a("carol"): self.a("alice"), self.a("dave"): ""})

    # -- authenticated senders: their entry and groups (nested) --------------
    def test_authorig_and_unauthorig_for_authenticated_senders(self):
        got = self.over_submission([self.a("onlyalice")], "ao-alice")
        self.assertEqual(got[self.a("onlyalice")][0], 250, got)
        self.wait_received("ao-alice", "onlyalice")
        self.assertRefused(self.sub_rcpt("bob", "onlyalice"), self.a("onlyalice"))
        self.assertRefused(self.sub_rcpt("alice", "notalice"), self.a("notalice"))
        self.assertEqual(self.sub_rcpt("bob", "notalice")[0], 250)

    def test_group_lists_count_nested_members(self):
        for who in ("alice", "bob"):  # direct, and through "inner"
            with self.subTest(who=who):
                self.assertEqual(self.sub_rcpt(who, "members")[0], 250, self.logs())
                self.assertRefused(self.sub_rcpt(who, "nonmembers"), self.a("nonmembers"))
        self.assertRefused(self.sub_rcpt("grace", "members"), self.a("members"))
        self.assertEqual(self.sub_rcpt("grace", "nonmembers")[0], 250)

    def test_sender_added_to_a_group_is_allowed_within_seconds(self):
        self.assertRefused(self.sub_rcpt("grace", "members"), self.a("members"))
        self.dc.modify_ldif("dn: CN=inner,CN=Users,%s\nchangetype: modify\nadd: member\n"
                            "member: %s\n\n" % (self.dc.base_dn, self.dc.user_dn("grace")))
        self.assertTrue(wait_for(lambda: self.sub_rcpt("grace", "members")[0] == 250, 30, 0.5),
                        self.logs())
        self.dc.modify_ldif("dn: CN=inner,CN=Users,%s\nchangetype: modify\ndelete: member\n"
                            "member: %s\n\n" % (self.dc.base_dn, self.dc.user_dn("grace")))
        self.assertTrue(wait_for(lambda: self.sub_rcpt("grace", "members")[0] == 550, 30, 0.5),
                        self.logs())


if __name__ == "__main__":
    unittest.main()
