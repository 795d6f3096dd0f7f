"""Directory changes route mail within seconds (issue 14), on Active Directory.

Two real Samba AD DCs (dirmxlab.samba: dc1 127.0.0.10, dc2 127.0.0.11, in
the lab's network namespace; the pair comes from the lab's cache) and a
real authd bound with GSSAPI (keytab) on plain 389, servers = dc1 then dc2,
watch = auto (AD: the change notification control plus a uSNChanged
sweep), watch_poll_interval = 1s. For each kind of change the answer is
first cached (a second lookup says "from the cache"), the directory is
changed with ldapmodify (over LDAPS, as Administrator) or samba-tool, and
`dirmxctl lookup` (which uses the cache) is polled until the new answer
shows. A test fails when that takes more than 5 s or when the old answer
comes back in the second after.

Kinds: new alias (proxyAddresses smtp:), alias removed, next hop changed
(dirmxNextHop), account disabled (samba-tool user disable), new user after
a 550 (samba-tool user create), member added to and removed from a nested
group, a contact's targetAddress changed, object deleted (tombstone),
object renamed (modrdn) and moved (samba-tool user move). Faults: dc1
stopped while a change is made (a second authd, on dc1 only: it reconnects
and catches up by uSNChanged, no flush), dc1 frozen with SIGSTOP while a
change is made on dc2 (replicated to dc1 after the thaw), and failover of the watcher to the other DC (one logged
flush). Each delay is printed and summed up at the end.

Delays measured here (2 cores shared, 2026-12-06; with the sweep): every
change kind 0.03-1.1 s. Without the sweep (notifications only, first
run) the same changes took 3.4-4.2 s when the write went through another
process (samba-tool, or an ldapmodify served by another LDAP worker) and
0.02 s when ldapmodify was served by the watcher's own worker; deletions
never showed - see the findings.

REPLICATION (test_x): a change made on dc2 (ldapmodify) while authd watches
dc1 showed in authd's answer after 0.7-4.9 s (five runs: 4.93, 3.11, 4.67,
2.44, 0.68 s): Samba's DRS replication dc2 -> dc1 plus at most one sweep
(1 s). Before the sweep it was 9.7 s (replication, then Samba's 5 s
notification re-run). Windows AD's default intra-site delay is ~15 s; the
test allows 60 s and only prints the figure.

FINDINGS about Samba 4.17 as an AD DC (shared/NOTES-samba-ad.md style):
- Samba implements the notification control (1.2.840.113556.1.4.528) by
  re-running the search: the dsdb_notification module turns the filter
  into (uSNChanged>N) and remembers the highest USN; the LDAP server
  re-runs pending notification searches every 5 s, or at once when a
  write (add/modify/delete/modrdn) went through the same LDAP server
  process. Writes by samba-tool (straight into sam.ldb), by replication,
  or through another prefork LDAP worker wait for the 5 s tick. The
  first run only records the USN (nothing is sent).
- It accepts a subtree search on the NC head with (objectClass=*) (also
  present-filters on objectGUID, distinguishedName, name); from Samba's
  source, not exercised here: other filters fail with unwillingToPerform
  (WERR_DS_NOTIFY_FILTER_TOO_COMPLEX), at most MaxNotificationPerConn
  notification searches per connection (adminLimitExceeded beyond), and a
  connection with one pending is not closed as idle.
- Entries arrive as ordinary SearchResultEntry messages of the pending
  search, with the attributes asked for; objectGUID is the 16-byte binary
  value. The Show Deleted control (non-critical) is passed down: deletions
  arrive as the tombstone (DN "CN=name\0ADEL:guid,CN=Deleted Objects,...",
  isDeleted: TRUE, the same objectGUID) - but only to an account that may
  list CN=Deleted Objects. Its default DACL is
  D:PAI(A;;RPWPCCDCLCRCWOWDSDSW;;;SY)(A;;RPLC;;;BA): SYSTEM and
  Administrators only, as on Windows. A plain service account sees no
  tombstone, by notification or by (uSNChanged>=N) with Show Deleted:
  deletions are invisible to it. A base read of the container itself
  succeeds for anyone, without attributes (so authd checks isDeleted).
  The remedy is to grant the account List Contents + Read Property (LCRP)
  on the container; `samba-tool dsacl set` cannot (it reads the container
  without Show Deleted and asserts), so this test does it through SamDB
  with the show_deleted and sd_flags controls (_GRANT_DELETED); on
  Windows: dsacls "CN=Deleted Objects,DC=..." /takeownership, then
  /G DOMAIN\svc:LCRP.
- AD's member links hold the GUID: renaming or moving a user keeps it in
  its groups (unlike OpenLDAP without refint), and the group object does
  not change (no notification for it); the user's change (its GUID) is
  what drops the group's cached answer.
- The root DSE says vendorName "Samba Team (https://www.samba.org)" and
  vendorVersion "4.17.12-Debian", and highestCommittedUSN.
- A DC stopped: the notification search ends at once (connection lost).
  Frozen (SIGSTOP): TCP stays up and the pending notification search just
  waits; only the watcher's own timeouts (its sweep, the connection's
  timeout) notice. A frozen DC's sam.ldb cannot take a change from
  outside either: a frozen child (samba_dnsupdate, a worker) may hold its
  lock, and the writer waits until the thaw.

Run alone: cd tests/integration && PYTHONPATH=../lab DIRMX_BUILD_DIR=...
/usr/bin/python3 -m unittest -v test_watch_samba (about 1.5-2.5 min, most
of it the lab: DCs from the cache, schemas, content, replication).
"""

import os
import re
import subprocess
import sys
import time
import unittest

from dirmxlab import Lab, source_dir
from dirmxlab.samba import SambaDC

from authdtest import CtlRun, authd_bin, describe, dirmxctl_bin, parse_lookup
from watchtest import WatchAsserts, modify_ldif

DOM = "ad.dirmx.test"
SVC = "svc-watch"          # may list CN=Deleted Objects (granted below)
SVC_PW = "Svc!Passw0rd-2"
SVC_PLAIN = "svc-plain"    # may not: the default for any account but admins
SVC_PLAIN_PW = "Svc!Passw0rd-3"
PW = "User!Passw0rd1"
HOP = "[192.0.2.30]:2525"


# Run inside /usr/bin/python3 on the DC: give SID List Contents and Read
# Property on the Deleted Objects container (found by its well-known GUID),
# so that it sees tombstones. samba-tool dsacl cannot: it reads the
# container without the Show Deleted control. argv: smb.conf SID.
_GRANT_DELETED = r"""
import sys
import ldb
from samba.param import LoadParm
from samba.auth import system_session
from samba.samdb import SamDB
from samba.ndr import ndr_pack, ndr_unpack
from samba.dcerpc import security
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
dn = "<WKGUID=18e2ea80684f11d2b9aa00c04f79f805,%s>" % db.domain_dn()
ctl = ["show_deleted:1", "sd_flags:1:4"]
res = db.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["nTSecurityDescriptor"], controls=ctl)
dom = security.dom_sid(db.get_domain_sid())
sd = ndr_unpack(security.descriptor, res[0]["nTSecurityDescriptor"][0])
sddl = sd.as_sddl(dom) + "(A;;LCRP;;;%s)" % sys.argv[2]
m = ldb.Message()
m.dn = res[0].dn
m["nTSecurityDescriptor"] = ldb.MessageElement(
    ndr_pack(security.descriptor.from_sddl(sddl, dom)), ldb.FLAG_MOD_REPLACE,
    "nTSecurityDescriptor")
db.modify(m, controls=ctl)
"""


class SambaWatchTest(WatchAsserts, unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        cls.times = {}
        cls.delays = {}
        cls.lab = Lab("watch-samba")
        try:
            cls._setup()
        except BaseException:
            cls.lab.close()
            raise
        sys.stderr.write("\nwatch_samba setup %.1fs: %s\n" % (
            time.monotonic() - cls.t0,
            " ".join("%s=%.1f" % kv for kv in cls.times.items())))

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()
        for what, took in cls.delays.items():
            sys.stderr.write("  %5.2f s  %s\n" % (took, what))
        sys.stderr.write("watch_samba total %.1fs\n" % (time.monotonic() - cls.t0))

    @classmethod
    def _step(cls, name, t):
        now = time.monotonic()
        cls.times[name] = now - t
        return now

    @classmethod
    def _setup(cls):
        lab = cls.lab
        t = time.monotonic()
        # The pair comes from the lab's cache when nothing was added to
        # the first DC before the join.
        cls.dc = dc = SambaDC(lab)
        cls.dc2 = dc2 = dc.join_second_dc("127.0.0.11")
        t = cls._step("dcs", t)
        cls.replicate(dc, dc2, dc.base_dn)  # dc2's own SPNs (see test_samba_authd)
        dc.add_exchange_schema()
        with open(os.path.join(source_dir(), "schemas", "dirmx-ad.ldif")) as f:
            dc.apply_schema_ldif(f.read())
        t = cls._step("schemas", t)
        dc.create_service_account(SVC, SVC_PW)
        dc.create_service_account(SVC_PLAIN, SVC_PLAIN_PW)
        cls.keytab = dc.export_keytab(SVC, lab.path("svc.keytab"))
        cls.keytab_plain = dc.export_keytab(SVC_PLAIN, lab.path("svc-plain.keytab"))
        sid = dc.samba_tool("user", "show", SVC, "--attributes=objectSid").stdout
        sid = re.search(r"objectSid: (S-[0-9-]+)", sid).group(1)
        dc.run(["/usr/bin/python3", "-c", _GRANT_DELETED, dc.smb_conf, sid])
        cls.add_content()
        schema_nc = "CN=Schema,CN=Configuration," + dc.base_dn
        cls.replicate(dc2, dc, schema_nc)
        cls.replicate(dc2, dc, dc.base_dn)
        t = cls._step("content", t)
        cls.start_authd()
        if not cls.wait_log(r"event=in_sync", 30):
            raise RuntimeError("authd never followed the DC's changes:\n%s"
                               % cls.log()[-4000:])
        cls._step("authd", t)

    @classmethod
    def replicate(cls, dest, src, nc):
        dest.samba_tool("drs", "replicate", dest.fqdn, src.fqdn, nc,
                        "-U", "Administrator%" + dest.admin_password)

    @classmethod
    def add_content(cls):
        dc = cls.dc
        cls.users_dn = users = "CN=Users," + dc.base_dn
        cls.moved_ou = dc.add_ou("Moved")
        u = dc.user_ldif
        ldif = []
        for name in ("w-alias", "w-hop", "w-dis", "w-del", "w-ren", "w-fault1",
                     "w-fault2", "w-fault3", "w-fail", "w-repl", "w-member"):
            ldif.append(u(name, None, mail="%s@%s" % (name, DOM)))
        ldif.append(u("w-alrm", None, mail="w-alrm@" + DOM,
                      proxy_addresses=["SMTP:w-alrm@" + DOM, "smtp:w-old-alias@" + DOM]))
        ldif.append("\n".join([
            "dn: CN=w-contact,%s" % users, "objectClass: contact",
            "mail: w-contact@" + DOM, "targetAddress: SMTP:first@partner.example",
            "proxyAddresses: SMTP:w-contact@" + DOM]) + "\n\n")

        def group(name, members, mail=None):
            lines = ["dn: CN=%s,%s" % (name, users), "objectClass: group",
                     "sAMAccountName: " + name, "groupType: 8"]
            if mail:
                lines.append("mail: " + mail)
            lines += ["member: " + m for m in members]
            return "\n".join(lines) + "\n\n"

        ldif.append(group("w-inner", [dc.user_dn("w-alias")]))
        ldif.append(group("w-outer", ["CN=w-inner," + users, dc.user_dn("w-hop")],
                          mail="w-outer@" + DOM))
        ldif.append(group("w-staff", [dc.user_dn("w-ren")], mail="w-staff@" + DOM))
        dc.add_ldif("".join(ldif))

    @classmethod
    def start_authd(cls):
        cls.main = cls.spawn_authd("authd", [cls.dc, cls.dc2], cls.keytab)
        cls.conf, cls.proc = cls.main

    @classmethod
    def spawn_authd(cls, name, dcs, keytab):
        """An authd with a static server list (the watcher follows the
        first DC that is up): (conf, proc)."""
        sock = cls.lab.path(name + ".sock")
        conf = "\n".join([
            "[global]", "log_level = debug", "",
            "[dns]", "servers = " + cls.dc.ip, "timeout = 1s", "",
            "[authd]", "directory = ad", "domain = " + DOM]
            + ["servers = ldap://%s" % d.fqdn for d in dcs]
            + ["bind = gssapi", "keytab = " + keytab, "tls = none",
               "timeout = 2s", "socket = " + sock,
               "watch = auto", "watch_poll_interval = 1s", "",
               "[routerd]", "local_domains = " + DOM, ""])
        conf = cls.lab.write(name + ".conf", conf)
        argv = cls.dc.netns.exec_argv([authd_bin(), "-f", "-c", conf])
        proc = cls.lab.spawn(name, argv, env=cls.dc.env())
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("authd exited %s:\n%s"
                                   % (proc.returncode, cls.lab.log_text(name)))
            time.sleep(0.02)
        return conf, proc

    @classmethod
    def log(cls, name="authd"):
        return cls.lab.log_text(name)

    @classmethod
    def wait_log(cls, pattern, timeout, since=0, name="authd"):
        deadline = time.monotonic() + timeout
        while True:
            if re.search(pattern, cls.log(name)[since:]):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    # -- helpers ---------------------------------------------------------------
    # who: the authd asked, "authd" (dc1 then dc2, may see tombstones) or
    # "solo" (dc1 only, may not).
    def lookup(self, addr, who="authd"):
        r = subprocess.run([dirmxctl_bin(), "-c", self.lab.path(who + ".conf"), "lookup",
                            addr], capture_output=True, text=True, timeout=30)
        return parse_lookup(CtlRun(r.returncode, r.stdout, r.stderr))

    def write(self, ldif, dc=None):
        """ldapmodify over LDAPS as Administrator, on dc (default dc1)."""
        dc = dc or self.dc
        dc.run(["ldapmodify", "-H", dc.ldap_uri(), "-x", "-D", dc.admin_dn,
                "-w", dc.admin_password], input=ldif)

    def dn(self, name):
        return self.dc.user_dn(name)

    # -- each kind of change ---------------------------------------------------
    def test_new_alias(self):
        alias = "w-fresh-alias@" + DOM
        self.assertTrue(self.notfound(self.cached(alias)))
        self.modify(self.dn("w-alias"), ("add", "proxyAddresses", ["smtp:" + alias]))
        self.until(alias, lambda r: self.ok(r) and r.dests == [(alias, "local")], "new alias")

    def test_alias_removed(self):
        alias = "w-old-alias@" + DOM
        self.assertTrue(self.ok(self.cached(alias)))
        self.modify(self.dn("w-alrm"), ("delete", "proxyAddresses", ["smtp:" + alias]))
        self.until(alias, self.notfound, "alias removed")

    def test_next_hop_changed(self):
        addr = "w-hop@" + DOM
        self.assertEqual(self.cached(addr).dests, [(addr, "local")])
        self.modify(self.dn("w-hop"), ("replace", "dirmxNextHop", [HOP]))
        self.until(addr, lambda r: r.dests == [(addr, HOP)], "next hop changed")

    def test_account_disabled(self):
        addr = "w-dis@" + DOM
        self.assertTrue(self.ok(self.cached(addr)))
        self.dc.samba_tool("user", "disable", "w-dis")
        self.until(addr, self.notfound, "account disabled (samba-tool)")

    def test_new_user_after_a_550(self):
        addr = "w-newcomer@" + DOM
        self.assertTrue(self.notfound(self.cached(addr)))
        self.dc.samba_tool("user", "create", "w-newcomer", PW, "--mail-address=" + addr)
        self.until(addr, lambda r: r.dests == [(addr, "local")], "new user (samba-tool)")

    def test_member_added_to_and_removed_from_a_nested_group(self):
        outer = "w-outer@" + DOM
        member = "w-member@" + DOM
        inner_dn = "CN=w-inner," + self.users_dn
        before = self.cached(outer)
        self.assertTrue(self.ok(before), describe(before))
        self.assertNotIn(member, [d[0] for d in before.dests])
        self.modify(inner_dn, ("add", "member", [self.dn("w-member")]))
        self.until(outer, lambda r: member in [d[0] for d in r.dests],
                   "member added to a nested group")
        self.cached(outer)
        self.modify(inner_dn, ("delete", "member", [self.dn("w-member")]))
        self.until(outer, lambda r: self.ok(r) and member not in [d[0] for d in r.dests],
                   "member removed from a nested group")

    def test_contact_target_address_changed(self):
        addr = "w-contact@" + DOM
        self.assertEqual(self.cached(addr).dests, [("first@partner.example", "external")])
        self.modify("CN=w-contact," + self.users_dn,
                    ("replace", "targetAddress", ["SMTP:second@partner.example"]))
        self.until(addr, lambda r: r.dests == [("second@partner.example", "external")],
                   "contact's targetAddress changed")

    def test_object_deleted(self):
        addr = "w-del@" + DOM
        self.assertTrue(self.ok(self.cached(addr)))
        self.write("dn: %s\nchangetype: delete\n" % self.dn("w-del"))
        self.until(addr, self.notfound, "object deleted (tombstone)")

    def test_object_renamed_and_moved(self):
        # AD's member links follow the object (they hold its GUID): after a
        # rename or a move the group still reaches the user and the user's
        # own answer is the same. What must not survive is an answer that
        # read the object under its old DN: both are dropped (the change
        # names the object's GUID) and the fresh answers read the new DN.
        addr = "w-ren@" + DOM
        staff = "w-staff@" + DOM
        for step, change, dn in (
                ("object renamed (modrdn)",
                 lambda: self.write("dn: %s\nchangetype: modrdn\nnewrdn: CN=w-renamed\n"
                                         "deleteoldrdn: 1\n" % self.dn("w-ren")),
                 "CN=w-renamed," + self.users_dn),
                ("object moved (samba-tool user move)",
                 lambda: self.dc.samba_tool("user", "move", "w-ren", self.moved_ou),
                 "CN=w-renamed," + self.moved_ou)):
            self.assertTrue(self.ok(self.cached(staff)))
            self.assertTrue(self.ok(self.cached(addr)))
            change()
            self.until(addr, lambda r: self.ok(r) and not r.cached
                       and dn.lower() in r.out.lower(), step,
                       stable=lambda r: self.ok(r) and r.dests == [(addr, "local")])
            r = self.lookup(staff)
            self.assertFalse(r.cached, describe(r))
            self.assertIn(addr, [d[0] for d in r.dests], describe(r))

    # -- faults ------------------------------------------------------------------
    def test_x_replication_delay_dc2_to_dc1(self):
        # The watcher follows dc1; the change is made on dc2 and shows
        # when replication brings it to dc1 (then within a sweep).
        self.assertIn("in_sync mechanism=notify dc=ldap://%s" % self.dc.fqdn, self.log())
        addr = "w-repl@" + DOM
        self.assertTrue(self.ok(self.cached(addr)))
        self.modify(self.dn("w-repl"), ("replace", "dirmxNextHop", ["[192.0.2.50]:25"]),
                    dc=self.dc2)
        took = self.until(addr, lambda r: r.dests == [(addr, "[192.0.2.50]:25")],
                          "change on dc2 seen through dc1 (replication)", bound=60)
        sys.stderr.write("replication dc2->dc1 then the watcher: %.1f s\n" % took)

    def test_y_changes_while_the_dc_is_down_or_frozen_show_after(self):
        # An authd of its own, on dc1 only, bound as an account that cannot
        # list the tombstones (the default for all but administrators).
        _, proc = self.spawn_authd("solo", [self.dc], self.keytab_plain)
        self.addCleanup(self.lab.stop, proc)
        self.assertTrue(self.wait_log(r"event=in_sync", 30, name="solo"), self.log("solo"))
        self.assertIn("event=deletions_unseen", self.log("solo"))
        self.assertIn("event=deletions_seen", self.log())
        a, b = "w-fault1@" + DOM, "w-fault2@" + DOM
        self.assertTrue(self.ok(self.cached(a, "solo")))
        self.assertTrue(self.ok(self.cached(b, "solo")))
        flushes = self.log("solo").count("event=cache_flush")
        # Stopped: the notification connection is gone while the change is
        # made (straight into dc1's database); after the restart the
        # watcher reconnects to the same DC and catches up from its
        # uSNChanged mark: no flush needed.
        mark = len(self.log("solo"))
        self.dc.stop()
        self.assertTrue(self.wait_log(r"dirwatch event=lost", 10, mark, "solo"),
                        self.log("solo")[mark:])
        self.dc.add_ldif(modify_ldif(self.dn("w-fault1"),
                                          ("replace", "dirmxNextHop", ["[192.0.2.41]:25"])))
        self.dc.start()
        self.until(a, lambda r: r.dests == [(a, "[192.0.2.41]:25")],
                   "change made while dc1 was stopped (after its restart)", bound=15,
                   who="solo")
        self.assertEqual(self.log("solo").count("event=cache_flush"), flushes,
                         self.log("solo")[mark:])
        # Frozen: the watcher's searches time out and it reconnects in
        # vain. The change is made on dc2 meanwhile (a frozen DC's database
        # cannot take it: one of its frozen processes may hold the lock)
        # and replicated to dc1 after the thaw; the watcher, back on dc1,
        # must show it.
        mark = len(self.log("solo"))
        self.dc.freeze()
        try:
            self.assertTrue(self.wait_log(r"dirwatch event=lost", 10, mark, "solo"),
                            self.log("solo")[mark:])
            self.modify(self.dn("w-fault2"), ("replace", "dirmxNextHop", ["[192.0.2.42]:25"]),
                        dc=self.dc2)
        finally:
            self.dc.thaw()
        self.replicate(self.dc, self.dc2, self.dc.base_dn)
        self.until(b, lambda r: r.dests == [(b, "[192.0.2.42]:25")],
                   "change made while dc1 was frozen (after the thaw)", bound=15,
                   who="solo")

    def test_z_failover_to_the_other_dc_flushes_once(self):
        # The watcher cannot know what it missed on another DC (USNs are
        # per DC): it flushes the cache once, says so, and follows the
        # other DC. (test_y stopped dc1 already: the watcher may be on
        # dc2 now; the one it follows is stopped here.)
        watched = re.findall(r"in_sync mechanism=notify dc=ldap://(\S+)", self.log())[-1]
        victim, other = (self.dc, self.dc2) if watched == self.dc.fqdn else (self.dc2, self.dc)
        a = "w-fail@" + DOM
        self.assertTrue(self.ok(self.cached(a)))
        mark = len(self.log())
        victim.stop()
        self.addCleanup(victim.start)
        self.assertTrue(self.wait_log(r"in_sync mechanism=notify dc=ldap://%s"
                                      % re.escape(other.fqdn), 20, mark), self.log()[mark:])
        after = self.log()[mark:]
        self.assertEqual(after.count("event=cache_flush"), 1, after)
        self.assertIn("following the changes of a DC from now on", after)
        self.assertFalse(self.lookup(a).cached)
        self.assertTrue(self.ok(self.cached(a)))
        self.modify(self.dn("w-fail"), ("replace", "dirmxNextHop", ["[192.0.2.60]:25"]),
                    dc=other)
        self.until(a, lambda r: r.dests == [(a, "[192.0.2.60]:25")],
                   "change on the other DC after the failover")


if __name__ == "__main__":
    unittest.main()
