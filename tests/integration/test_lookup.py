"""authd LOOKUP end to end: a real slapd with several thousand generated
users, a real authd started from a generated configuration, and questions
asked through dirmxctl or the raw protocol on authd's socket.

Every expected answer comes from ldapdata.generate()'s info dict, and what
reached the directory is read back from slapd's stats log (one SRCH line
per search), so cache, coalescing and filter escaping are proven by what
slapd saw, not by what authd says about itself.
"""

import os
import subprocess
import sys
import threading
import time
import unittest

from dirmxlab import Lab, Slapd, ldapdata

from authdtest import Authd, SlapdLog, describe

N_USERS = 3000


def strip_smtp(hop):
    return hop[5:] if hop.lower().startswith("smtp:") else hop


class LookupTest(unittest.TestCase):
    """One slapd (3,000 users and every special case) and one authd."""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("lookup")
        cls.addClassCleanup(cls.lab.close)
        cls.ldif, cls.info = ldapdata.generate(users=N_USERS)
        cls.slapd = Slapd(cls.lab, data=cls.ldif)
        cls.authd = Authd(cls.lab, cls.slapd)
        info = cls.info
        cls.hop_of = {}
        for u in info["users"]:
            cls.hop_of[u["mail"]] = u["mailhost"]
            for a in u["aliases"]:
                cls.hop_of[a] = u["mailhost"]
        for c in info["contacts"]:
            cls.hop_of[c["mail"]] = "external"

    # -- helpers ------------------------------------------------------------
    def lookup_ok(self, addr, expected, ordered=False):
        """dirmxctl lookup addr answers OK with exactly the expected
        (rcpt, hop) pairs, each once."""
        r = self.authd.lookup(addr)
        self.assertEqual(r.rc, 0, describe(r))
        self.assertIsNone(r.failure, describe(r))
        self.assertEqual(len(r.dests), len(set(r.dests)),
                         "a recipient listed twice:\n" + describe(r))
        if ordered:
            self.assertEqual(r.dests, list(expected), describe(r))
        else:
            self.assertEqual(sorted(r.dests), sorted(expected), describe(r))
        return r

    def lookup_fails(self, addr, rc, failure_prefix, reason_part=None):
        r = self.authd.lookup(addr)
        self.assertEqual(r.rc, rc, describe(r))
        self.assertEqual(r.dests, [], describe(r))
        self.assertIsNotNone(r.failure, describe(r))
        self.assertTrue(r.failure.startswith(failure_prefix), describe(r))
        if reason_part is not None:
            self.assertIn(reason_part, r.failure.lower(), describe(r))
        return r

    def ask_together_cold(self, cases):
        """Flush the cache, send a LOOKUP for each (address, verb, dests)
        in one write, check each answer; return the filters slapd saw."""
        self.authd.ctl("flush")
        mark = SlapdLog(self.slapd)
        with self.authd.client() as c:
            got = c.ask_many([("LOOKUP", i + 1, {"addr": a, "context": "mx"})
                              for i, (a, _, _) in enumerate(cases)])
        for i, (a, verb, dests) in enumerate(cases):
            m = got[i + 1]
            self.assertEqual(m.verb, verb, "%s: %r" % (a, m))
            self.assertEqual(sorted(m.dests()), sorted(dests), "%s: %r" % (a, m))
        return mark.filters()

    def group_expected(self, name):
        g = self.info["groups"][name]
        return [(a, self.hop_of[a]) for a in g["expands_to"]]

    # -- 1. every kind of answer ----------------------------------------------
    def test_user_by_mail_and_by_each_alias(self):
        for i in (0, 1, 2, 1234, N_USERS - 1):
            u = self.info["users"][i]
            for addr in [u["mail"]] + u["aliases"]:
                with self.subTest(addr=addr):
                    r = self.lookup_ok(addr, [(addr, u["mailhost"])])
                    self.assertIn("object %s" % u["dn"], r.trace, describe(r))

    def test_user_with_own_next_hop(self):
        nh = self.info["nexthop_user"]
        self.lookup_ok(nh["address"], [(nh["address"], nh["nexthop"])])

    def test_nested_groups_expand_to_their_leaves(self):
        self.assertGreaterEqual(len(self.info["groups"]["all-teams"]["expands_to"]), 5)
        self.lookup_ok(self.info["nested"], self.group_expected("all-teams"))
        self.lookup_ok(self.info["groups"]["staff"]["mail"], self.group_expected("staff"))
        # groupOfUniqueNames (uniqueMember) expands too.
        self.lookup_ok(self.info["groups"]["team-c"]["mail"], self.group_expected("team-c"))

    def test_group_cycle_lists_each_member_once_and_ends(self):
        for addr, name in zip(self.info["cycle"], ("cycle-a", "cycle-b")):
            with self.subTest(addr=addr):
                start = time.monotonic()
                self.lookup_ok(addr, self.group_expected(name))
                self.assertLess(time.monotonic() - start, 10.0)

    def test_large_group_expands_completely(self):
        lg = self.info["large_group"]
        self.assertGreater(lg["size"], 3000)
        expected = self.group_expected(lg["name"])
        self.assertEqual(len(expected), lg["size"])
        r = self.lookup_ok(lg["mail"], expected)
        got = dict(r.dests)
        # A sample, spelled out: first, middle and last user, a contact.
        for i in (0, 1500, N_USERS - 1):
            u = self.info["users"][i]
            self.assertEqual(got.get(u["mail"]), u["mailhost"])
        self.assertEqual(got.get(self.info["contacts"][-1]["mail"]), "external")

    def test_large_group_cold_takes_few_searches(self):
        """Members are read 400 at a time by DN ((|(entryDN=..)..)): the
        3,000-member group costs the group's own search and 8 batches,
        not one search per member (issue 15)."""
        lg = self.info["large_group"]
        expected = self.group_expected(lg["name"])
        mark = SlapdLog(self.slapd)
        t0 = time.monotonic()
        r = self.authd.lookup(lg["mail"], nocache=True)
        took = time.monotonic() - t0
        self.assertEqual(sorted(r.dests), sorted(expected), describe(r))
        n = mark.searches()
        self.assertLessEqual(n, 10, "%d searches for %d members" % (n, len(expected)))
        # (slapd cuts long log lines: read the raw SRCH lines)
        self.assertEqual(sum(1 for ln in mark.search_lines() if "(entryDN=" in ln), n - 1,
                         mark.filters()[:3])
        print("large group: %d members, %d searches, %.0f ms cold (dirmxctl included)"
              % (len(expected), n, took * 1000))

    def test_forwarding_chain_ends_at_the_final_mailbox(self):
        fc = self.info["forward_chain"]
        for addr in fc["addresses"]:
            with self.subTest(addr=addr):
                self.lookup_ok(addr, [(fc["final"], fc["mailhost"])])

    def test_offsite_forward_goes_external(self):
        fe = self.info["forward_external"]
        self.lookup_ok(fe["address"], [(fe["target"], "external")])

    def test_forwarding_loop_is_notfound(self):
        for addr in self.info["forward_loop"]:
            with self.subTest(addr=addr):
                self.lookup_fails(addr, 1, "NOTFOUND:", "loop")

    def test_forward_to_several_targets(self):
        ft = self.info["forward_to"]
        self.assertEqual(len(ft["targets"]), 2)
        self.lookup_ok(ft["address"], [(t, "external") for t in ft["targets"]])

    def test_disabled_user_is_notfound(self):
        self.lookup_fails(self.info["disabled"]["mail"], 1, "NOTFOUND:", "disabled")

    def test_duplicate_address_is_tempfail_and_logged_with_both_dns(self):
        dup = self.info["duplicate"]
        mark = self.authd.log_mark()
        self.lookup_fails(dup["address"], 3, "TEMPFAIL:")
        logged = [ln for ln in self.authd.log_since(mark).splitlines()
                  if "event=duplicate" in ln]
        self.assertEqual(len(logged), 1, self.authd.log_since(mark)[-3000:])
        for dn in dup["dns"]:
            self.assertIn(dn, logged[0])

    def test_unknown_address_is_notfound(self):
        self.lookup_fails("nobody-at-all@" + self.info["domain"], 1, "NOTFOUND:")
        self.lookup_fails("nobody-at-all@" + self.info["alias_domain"], 1, "NOTFOUND:")

    def test_routed_domain_goes_to_its_next_hop(self):
        route = [d for d in self.info["domains"] if d["type"] == "route"][0]
        self.assertEqual(route["name"], "example.net")
        mark = SlapdLog(self.slapd)
        addr = "someone@" + route["name"]
        self.lookup_ok(addr, [(addr, route["nexthop"])])
        self.assertEqual(mark.searches(), 0, "a route needs no search")

    def test_relay_domain_goes_to_its_gateway(self):
        relay = [d for d in self.info["domains"] if d["type"] == "relay"][0]
        addr = "anyone@" + relay["name"]
        self.lookup_ok(addr, [(addr, strip_smtp(relay["nexthop"]))])

    def test_external_domain_is_external(self):
        addr = "someone@elsewhere.example"
        self.lookup_ok(addr, [(addr, "external")])

    def test_subaddress_resolves_to_owner_and_keeps_the_address_as_sent(self):
        u = self.info["users"][42]
        local, domain = u["mail"].split("@")
        addr = "%s+news@%s" % (local, domain)
        r = self.authd.lookup(addr)
        self.assertEqual(r.rc, 0, describe(r))
        self.assertIn("object %s" % u["dn"], r.trace, describe(r))
        self.assertEqual(r.dests, [(addr, u["mailhost"])],
                         "the owner's mailbox, with the +detail address as sent:\n"
                         + describe(r))

    # -- 2. injection ------------------------------------------------------------
    def test_injection_invalid_addresses_never_reach_the_directory(self):
        d = self.info["domain"]
        for addr in ("*)(mail=*@" + d, "a\\2a@" + d, "user00001@%s)(uid=*" % d,
                     "(mail=*)", "user00001@" + d + "\\00"):
            with self.subTest(addr=addr):
                mark = SlapdLog(self.slapd)
                r = self.lookup_fails(addr, 1, "NOTFOUND:", "invalid address")
                self.assertEqual(mark.searches(), 0, mark.filters())

    def test_injection_wildcard_is_escaped_in_the_filter(self):
        d = self.info["domain"]
        cases = {
            "*@" + d: "\\2a@" + d,
            '"*)(uid=*"@' + d: '"\\2a\\29\\28uid=\\2a"@' + d,
        }
        for addr, escaped in cases.items():
            with self.subTest(addr=addr):
                mark = SlapdLog(self.slapd)
                self.lookup_fails(addr, 1, "NOTFOUND:", "no such recipient")
                filters = [f.lower() for f in mark.filters()]
                self.assertEqual(filters, ["(|(mail=%s)(maillocaladdress=%s))"
                                           % (escaped, escaped)])

    def test_injection_through_the_raw_protocol(self):
        d = self.info["domain"]
        u = self.info["users"][3]
        mark = SlapdLog(self.slapd)
        with self.authd.client() as c:
            # NUL: the codec refuses %00 in every field (ERROR, not a lookup).
            m = c.ask("LOOKUP", 1, addr=b"user00003\x00@" + d.encode(), context="mx")
            self.assertEqual(m.verb, "ERROR", m)
            self.assertEqual(m.id, 1)
            # A 2,000-character local part is over the protocol's 512.
            m = c.ask("LOOKUP", 2, addr="x" * 2000 + "@" + d, context="mx")
            self.assertEqual(m.verb, "ERROR", m)
            # 300 characters fit the protocol but not RFC 5321's 64.
            m = c.ask("LOOKUP", 3, addr="y" * 300 + "@" + d, context="mx")
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertIn("invalid address", m.get("reason"))
            m = c.ask("LOOKUP", 4, addr="user00001@%s)(uid=*" % d, context="mx")
            self.assertEqual(m.verb, "NOTFOUND", m)
            self.assertEqual(m.dests(), [])
            # The connection is still good after all that.
            m = c.ask("LOOKUP", 5, addr=u["mail"], context="mx", nocache="1")
            self.assertEqual((m.verb, m.dests()), ("OK", [(u["mail"], u["mailhost"])]))
        self.assertEqual(mark.filters(), ["(|(mail=%s)(mailLocalAddress=%s))"
                                          % (u["mail"], u["mail"])])

    # -- 3. cache and coalescing ----------------------------------------------
    def test_repeated_lookup_is_cached_without_a_search(self):
        u = self.info["users"][1001]
        before = self.authd.stats()
        mark = SlapdLog(self.slapd)
        r1 = self.lookup_ok(u["mail"], [(u["mail"], u["mailhost"])])
        self.assertFalse(r1.cached)
        self.assertEqual(mark.searches(), 1, mark.filters())
        mark = SlapdLog(self.slapd)
        r2 = self.lookup_ok(u["mail"], [(u["mail"], u["mailhost"])])
        self.assertTrue(r2.cached, describe(r2))
        self.assertEqual(mark.searches(), 0, mark.filters())
        after = self.authd.stats()
        self.assertEqual(after["cache_hits"] - before["cache_hits"], 1)
        # --no-cache goes to the directory again.
        mark = SlapdLog(self.slapd)
        r3 = self.authd.lookup(u["mail"], nocache=True)
        self.assertEqual((r3.rc, r3.cached, r3.dests), (0, False, r1.dests))
        self.assertEqual(mark.searches(), 1)

    def test_negative_answer_is_cached(self):
        addr = "never-was-here@" + self.info["domain"]
        mark = SlapdLog(self.slapd)
        self.lookup_fails(addr, 1, "NOTFOUND:", "no such recipient")
        self.assertEqual(mark.searches(), 1)
        before = self.authd.stats()
        mark = SlapdLog(self.slapd)
        self.lookup_fails(addr, 1, "NOTFOUND:", "no such recipient")
        self.assertEqual(mark.searches(), 0, mark.filters())
        self.assertEqual(self.authd.stats()["cache_hits"] - before["cache_hits"], 1)

    def test_negative_cache_expires_after_its_ttl(self):
        authd = Authd(self.lab, self.slapd, name="authd-negttl",
                      extra="negative_cache_ttl = 1s\ncache_ttl = 300s")
        self.addCleanup(authd.stop)
        addr = "not-yet@" + self.info["domain"]
        u = self.info["users"][1002]
        mark = SlapdLog(self.slapd)
        self.assertEqual(authd.lookup(addr).rc, 1)
        self.assertEqual(authd.lookup(u["mail"]).rc, 0)
        self.assertEqual(mark.searches(), 2)
        mark = SlapdLog(self.slapd)
        self.assertEqual(authd.lookup(addr).rc, 1)
        r = authd.lookup(u["mail"])
        self.assertTrue(r.cached)
        self.assertEqual(mark.searches(), 0, "both answers come from the cache")
        time.sleep(1.5)
        mark = SlapdLog(self.slapd)
        r = authd.lookup(addr)
        self.assertEqual(r.rc, 1, describe(r))
        r = authd.lookup(u["mail"])
        self.assertTrue(r.cached, "the positive TTL is 300 s")
        self.assertEqual(mark.searches(), 1, "the negative entry expired: one search")
        self.assertIn(addr, mark.filters()[0])

    def test_identical_lookups_in_flight_share_one_search(self):
        u = self.info["users"][2002]
        before = self.authd.stats()
        mark = SlapdLog(self.slapd)
        with self.authd.client() as c:
            lines = [c.format("LOOKUP", i, addr=u["mail"], context="mx")
                     for i in range(1, 51)]
            c.send_line("\n".join(lines))
            answers = [c.recv() for _ in range(50)]
        self.assertEqual(sorted(m.id for m in answers), list(range(1, 51)))
        for m in answers:
            self.assertEqual(m.verb, "OK", m)
            self.assertEqual(m.dests(), [(u["mail"], u["mailhost"])], m)
        self.assertEqual(mark.filters(), ["(|(mail=%s)(mailLocalAddress=%s))"
                                          % (u["mail"], u["mail"])])
        after = self.authd.stats()
        shared = (after["coalesced"] - before["coalesced"]
                  + after["cache_hits"] - before["cache_hits"])
        self.assertEqual(after["lookups"] - before["lookups"], 50)
        self.assertEqual(shared, 49, (before, after))

    def test_cold_lookups_arriving_together_share_searches(self):
        """Distinct addresses asked at once travel in shared searches (the
        OR of their filters), and each still gets exactly its own answer:
        by mail, by alias, in capitals, with a +detail, unknown, and one
        address two objects claim (TEMPFAIL, never a pick)."""
        users = self.info["users"][2100:2112]
        dup = self.info["duplicate"]
        dom = self.info["domain"]
        cases = []  # (address, expected verb, expected dests)
        for u in users[:6]:
            cases.append((u["mail"], "OK", [(u["mail"], u["mailhost"])]))
        for u in users[6:9]:
            a = u["aliases"][0]
            cases.append((a, "OK", [(a, u["mailhost"])]))
        u = users[9]
        up = u["mail"].split("@")[0].upper() + "@" + dom  # the domain comes back lowercased
        cases.append((u["mail"].upper(), "OK", [(up, u["mailhost"])]))
        u = users[10]
        local, d = u["mail"].split("@")
        plus = "%s+batch@%s" % (local, d)
        cases.append((plus, "OK", [(plus, u["mailhost"])]))
        for i in range(4):
            cases.append(("batch-nobody-%d@%s" % (i, dom), "NOTFOUND", []))
        cases.append((dup["address"], "TEMPFAIL", []))
        filters = self.ask_together_cold(cases)
        shared = [f for f in filters if f.count("(mail=") > 1]
        self.assertTrue(shared, "no search answered two addresses:\n" + "\n".join(filters))
        # 18 lookups; the +detail one needs a second search for its base
        self.assertLess(len(filters), 12, "\n".join(filters))
        # and the same answers again, one at a time, from the cache
        for a, verb, dests in cases:
            if verb == "OK":
                r = self.authd.lookup(a)
                self.assertEqual(sorted(r.dests), sorted(dests), describe(r))

    def test_shared_search_cut_by_its_size_limit_goes_alone(self):
        """Nine objects claim one address: the shared search's size limit
        (the sum of each lookup's two) cuts it, so its answer is not shared
        out; each lookup asks again alone and gets its own answer (the
        claimed address TEMPFAIL, the others OK)."""
        dom = self.info["domain"]
        mh = self.info["users"][0]["mailhost"]
        many = "batch-many@" + dom
        self.slapd.add_ldif("\n".join(
            "dn: uid=batch-many-%d,%s\nobjectClass: inetOrgPerson\n"
            "objectClass: inetLocalMailRecipient\nuid: batch-many-%d\ncn: b\nsn: b\n"
            "mail: batch-many-%d@%s\nmailLocalAddress: %s\nmailHost: %s\n"
            % (i, self.info["people_dn"], i, i, dom, many, mh) for i in range(9)))
        users = self.info["users"][2200:2203]
        cases = [(many, "TEMPFAIL", [])]
        cases += [(u["mail"], "OK", [(u["mail"], u["mailhost"])]) for u in users]
        filters = self.ask_together_cold(cases)
        self.assertTrue([f for f in filters if f.count("(mail=") > 1],
                        "the lookups did not travel together:\n" + "\n".join(filters))
        for a, _, _ in cases:
            alone = "(|(mail=%s)(mailLocalAddress=%s))" % (a, a)
            self.assertIn(alone, filters, "%s was not asked again alone:\n%s"
                          % (a, "\n".join(filters)))

    def test_flush_empties_the_cache(self):
        u = self.info["users"][1003]
        self.lookup_ok(u["mail"], [(u["mail"], u["mailhost"])])
        self.assertTrue(self.authd.lookup(u["mail"]).cached)
        r = self.authd.ctl("flush")
        self.assertEqual(r.rc, 0, describe(r))
        self.assertIn("cache flushed", r.out)
        mark = SlapdLog(self.slapd)
        r = self.lookup_ok(u["mail"], [(u["mail"], u["mailhost"])])
        self.assertFalse(r.cached, describe(r))
        self.assertEqual(mark.searches(), 1)

    def test_flush_of_one_address_keeps_the_others(self):
        # authproto.txt 5.1: CACHE op=flush addr=X drops "only this address".
        a, b = self.info["users"][1004], self.info["users"][1005]
        for u in (a, b):
            self.lookup_ok(u["mail"], [(u["mail"], u["mailhost"])])
            self.assertTrue(self.authd.lookup(u["mail"]).cached)
        with self.authd.client() as c:
            m = c.ask("CACHE", 1, op="flush", addr=a["mail"])
        self.assertEqual(m.verb, "OK", m)
        mark = SlapdLog(self.slapd)
        ra = self.authd.lookup(a["mail"])
        rb = self.authd.lookup(b["mail"])
        self.assertFalse(ra.cached, "the flushed address is looked up again")
        self.assertTrue(rb.cached, "CACHE op=flush addr=%s also dropped %s" % (a["mail"], b["mail"]))
        self.assertEqual(mark.filters(), ["(|(mail=%s)(mailLocalAddress=%s))"
                                          % (a["mail"], a["mail"])])

    def test_tempfail_is_never_cached(self):
        dup = self.info["duplicate"]["address"]
        self.authd.lookup(dup)
        mark = SlapdLog(self.slapd)
        r = self.authd.lookup(dup)
        self.assertEqual(r.rc, 3, describe(r))
        self.assertEqual(mark.searches(), 1, "a TEMPFAIL answer is asked again")

    def test_client_leaving_mid_lookup_cancels_cleanly(self):
        lg = self.info["large_group"]
        for _ in range(3):
            c = self.authd.client()
            c.send("LOOKUP", 1, addr=lg["mail"], context="mx", nocache="1")
            c.send("LOOKUP", 2, addr=lg["mail"], context="mx", nocache="1", trace="1")
            time.sleep(0.05)
            c.close()
        u = self.info["users"][1006]
        self.lookup_ok(u["mail"], [(u["mail"], u["mailhost"])])
        self.assertIsNone(self.authd.proc.poll(), "authd is still running")

    # -- 5. the size limit ----------------------------------------------------------
    def test_expansion_over_max_expansion_is_tempfail_not_a_partial_list(self):
        authd = Authd(self.lab, self.slapd, name="authd-max100", extra="max_expansion = 100")
        self.addCleanup(authd.stop)
        lg = self.info["large_group"]
        r = authd.lookup(lg["mail"])
        self.assertEqual(r.rc, 3, describe(r))
        self.assertEqual(r.dests, [])
        self.assertIsNotNone(r.failure)
        self.assertTrue(r.failure.startswith("TEMPFAIL:"), describe(r))
        self.assertIn("100", r.failure, describe(r))
        with authd.client() as c:
            m = c.ask("LOOKUP", 1, addr=lg["mail"], context="mx")
        self.assertEqual(m.verb, "TEMPFAIL", m)
        self.assertNotIn("rcpt", m.keys())
        self.assertIn("100", m.get("reason"))
        # Under the limit, the same authd answers as usual.
        r = authd.lookup(self.info["groups"]["staff"]["mail"])
        self.assertEqual(sorted(r.dests), sorted(self.group_expected("staff")), describe(r))

    # -- 6. protocol strictness --------------------------------------------------
    def test_proto_request_before_hello_is_error_and_close(self):
        with self.authd.client(hello=False) as c:
            c.send("LOOKUP", 1, addr="user00001@dirmx.test", context="mx")
            m = c.recv()
            self.assertIsNotNone(m)
            self.assertEqual((m.verb, m.id), ("ERROR", 0), m)
            self.assertTrue(m.get("reason"))
            self.assertTrue(c.closed_by_peer())

    def test_proto_wrong_version_is_error_with_supported_and_close(self):
        with self.authd.client(hello=False) as c:
            c.send_line("HELLO 0 version=3 client=future")
            m = c.recv()
            self.assertEqual((m.verb, m.id), ("ERROR", 0), m)
            self.assertEqual(m.all("supported"), ["1", "2"], m)
            self.assertTrue(c.closed_by_peer())

    def test_proto_version_1_has_no_sasl(self):
        """A version 1 client: HELLO without mech=, SASL refused."""
        with self.authd.client(hello=False) as c:
            c.send_line("HELLO 0 version=1 client=old")
            m = c.recv()
            self.assertEqual((m.verb, m.get("version"), m.all("mech")), ("OK", "1", []), m)
            c.send_line("SASL 3 exch=1 mech=GSSAPI")
            m = c.recv()
            self.assertEqual((m.verb, m.id), ("ERROR", 3), m)
            self.assertEqual(m.get("reason"), "not in this protocol version")
        with self.authd.client(hello=False) as c:
            c.send_line("HELLO 0 version=2 client=new")
            m = c.recv()
            self.assertEqual(m.all("mech"), ["PLAIN", "LOGIN"], m)
            # no keytab: GSSAPI is not offered, and asking is an error
            c.send_line("SASL 4 exch=1 mech=GSSAPI")
            m = c.recv()
            self.assertEqual((m.verb, m.id, m.get("reason")),
                             ("ERROR", 4, "mechanism not offered"), m)

    def test_proto_unknown_key_is_error_and_connection_stays(self):
        u = self.info["users"][7]
        with self.authd.client() as c:
            c.send_line("LOOKUP 7 addr=%s context=mx colour=blue" % u["mail"])
            m = c.recv()
            self.assertEqual((m.verb, m.id), ("ERROR", 7), m)
            c.send_line("LOOKUP 8 addr=%s context=mx" % u["mail"])
            m = c.recv()
            self.assertEqual((m.verb, m.id), ("OK", 8), m)
            self.assertEqual(m.dests(), [(u["mail"], u["mailhost"])])

    def test_proto_duplicate_inflight_id_is_error_0_and_close(self):
        lg = self.info["large_group"]
        with self.authd.client() as c:
            # The big group (no cache) takes a while: ID 5 is in flight.
            c.send_line("LOOKUP 5 addr=%s context=mx nocache=1\n"
                        "LOOKUP 5 addr=user00001@dirmx.test context=mx" % lg["mail"])
            m = c.recv()
            self.assertEqual((m.verb, m.id), ("ERROR", 0), m)
            self.assertIn("duplicate", m.get("reason"))
            self.assertTrue(c.closed_by_peer(), "no answer may follow the ERROR 0")

    def test_proto_peer_uid_not_allowed_is_refused(self):
        # A socket others can reach: the directories on the way and the
        # socket itself open to all, so only authd's uid check decides.
        pub = self.lab.path("pub", "x")
        os.chmod(self.lab.dir, 0o711)
        os.chmod(os.path.dirname(pub), 0o755)
        authd = Authd(self.lab, self.slapd, name="authd-peer",
                      socket_dir=os.path.dirname(pub), extra="client_user = nobody")
        self.addCleanup(authd.stop)
        os.chmod(authd.sock, 0o666)

        def hello_as(uid):
            code = ("import socket\n"
                    "s = socket.socket(socket.AF_UNIX)\n"
                    "s.settimeout(5)\n"
                    "s.connect(%r)\n"
                    "try:\n"
                    "    s.sendall(b'HELLO 0 version=1 client=peer\\n')\n"
                    "    print(repr(s.recv(4096)))\n"
                    "except (ConnectionResetError, BrokenPipeError):\n"
                    "    print('reset')\n" % authd.sock)
            r = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                                "--clear-groups", sys.executable, "-c", code],
                               capture_output=True, text=True, timeout=20)
            return r

        mark = authd.log_mark()
        r = hello_as(65534)  # nobody: the configured client_user
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK 0 version=1 server=authd", r.stdout, r.stderr)
        r = hello_as(65533)  # anyone else
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(r.stdout.strip(), ("b''", "reset"), r.stdout)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and "event=refused" not in authd.log_since(mark):
            time.sleep(0.05)
        refused = [ln for ln in authd.log_since(mark).splitlines() if "event=refused" in ln]
        self.assertEqual(len(refused), 1, authd.log_since(mark))
        self.assertIn("uid=65533", refused[0])


class LookupOutageTest(unittest.TestCase):
    """The directory goes away in the middle of a stream of lookups."""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab("lookup-outage")
        cls.addClassCleanup(cls.lab.close)
        cls.ldif, cls.info = ldapdata.generate(users=200, large_group=10)
        cls.slapd = Slapd(cls.lab, data=cls.ldif)
        cls.authd = Authd(cls.lab, cls.slapd)

    def test_directory_down_gives_tempfail_never_notfound_then_recovers(self):
        users = self.info["users"]
        sent = {}      # id -> (time sent, user, slapd up?)
        got = {}       # id -> (time answered, Msg)
        lock = threading.Lock()
        c = self.authd.client(timeout=60)
        self.addCleanup(c.close)

        def reader():
            while True:
                try:
                    m = c.recv(timeout=60)
                except (OSError, TimeoutError):
                    return
                if m is None:
                    return
                with lock:
                    got[m.id] = (time.monotonic(), m)

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        t0 = time.monotonic()
        up = True
        stopped_at = restarted_at = restart_begin = None
        next_id = 1

        def send_one():
            nonlocal next_id
            u = users[next_id % len(users)]
            with lock:
                sent[next_id] = (time.monotonic(), u, up)
            c.send("LOOKUP", next_id, addr=u["mail"], context="mx")
            next_id += 1

        # 50 distinct lookups over about 5 s; slapd stops after 0.8 s and
        # comes back (same port, same data) 3.2 s later.
        for i in range(50):
            if i == 8:
                self.slapd.stop()
                up = False
                stopped_at = time.monotonic()
            if i == 40:
                restart_begin = time.monotonic()
                self.slapd.start()
                up = True
                restarted_at = time.monotonic()
            send_one()
            time.sleep(0.1)
        # Then keep asking until authd answers OK again (at most 60 s).
        deadline = time.monotonic() + 60
        recovered_at = None
        while time.monotonic() < deadline:
            send_one()
            time.sleep(0.2)
            with lock:
                oks = [sent[i][0] for i, (_, m) in got.items()
                       if m.verb == "OK" and sent[i][0] > restarted_at]
            if len(oks) >= 3:
                recovered_at = min(oks)
                break
        # Every request gets its answer.
        wait_until = time.monotonic() + 15
        while time.monotonic() < wait_until:
            with lock:
                if len(got) == len(sent):
                    break
            time.sleep(0.05)
        c.close()
        th.join(5)
        with lock:
            self.assertEqual(sorted(got), sorted(sent), "every request is answered")
            verbs = {}
            for i, (ts, m) in got.items():
                verbs.setdefault(m.verb, []).append(i)
                _, u, _ = sent[i]
                self.assertIn(m.verb, ("OK", "TEMPFAIL"),
                              "request %d (%s): %r" % (i, u["mail"], m))
                if m.verb == "OK":
                    self.assertEqual(m.dests(), [(u["mail"], u["mailhost"])], m)
            self.assertIsNotNone(recovered_at, "no OK after slapd came back: %r"
                                 % sorted((i, got[i][1].verb) for i in got))
            # Requests sent while slapd was down: TEMPFAIL (or, for the last
            # few, a correct OK: a request waits up to timeout= = 2 s for a
            # DC, and slapd may be back by then). Never NOTFOUND (above).
            during = [i for i in sent if stopped_at + 0.05 < sent[i][0] < restart_begin]
            tf_during = [i for i in during if got[i][1].verb == "TEMPFAIL"]
            self.assertGreaterEqual(len(tf_during), 5, sorted(got.items()))
            # ...and a TEMPFAIL comes within the timeout, it does not hang.
            for i in tf_during:
                self.assertLess(got[i][0] - sent[i][0], 2.0 + 1.5, (i, got[i]))
            # The first requests of the outage can only be TEMPFAIL: slapd
            # was still down when their 2 s were over.
            early = [i for i in during if sent[i][0] + 2.5 < restart_begin]
            self.assertTrue(early)
            self.assertTrue(all(got[i][1].verb == "TEMPFAIL" for i in early),
                            [(i, got[i][1]) for i in early])
            before = [i for i in sent if sent[i][0] < stopped_at]
            self.assertTrue(all(got[i][1].verb == "OK" for i in before))
            tf = sorted(i for i in got if got[i][1].verb == "TEMPFAIL")
            first_tf = min(got[i][0] for i in tf)
            last_tf = max(got[i][0] for i in tf)
            sys.stderr.write(
                "\n  outage: slapd down %.2fs..%.2fs; %d TEMPFAIL answers from %.2fs to %.2fs "
                "(%.2fs); slapd restart took %.2fs; the first request sent after it that got OK "
                "left %.2fs after the restart; "
                "%d requests in all\n"
                % (stopped_at - t0, restarted_at - t0, len(tf), first_tf - t0, last_tf - t0,
                   last_tf - first_tf, restarted_at - restart_begin,
                   recovered_at - restarted_at, len(sent)))
            # Answers after recovery are all OK.
            late = [i for i in sent if sent[i][0] >= recovered_at]
            self.assertTrue(all(got[i][1].verb == "OK" for i in late),
                            [(i, got[i][1]) for i in late])


if __name__ == "__main__":
    unittest.main()
