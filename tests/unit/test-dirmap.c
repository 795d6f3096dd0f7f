/*
 * test-dirmap - what AD and OpenLDAP entries mean for mail: tables of
 * entries of every kind the labs hold (users with proxyAddresses variants,
 * contacts with targetAddress, groups, disabled and locked accounts,
 * forwards, own next hops), read as recipients and as accounts, under the
 * presets and under mapped attributes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dirmap.h"

#define MAXL 16 /* "attr: value" lines of one fixture */
#define MAXV 8  /* values expected in a list */

/* An entry written as LDIF-like lines; values of one name are grouped. */
struct entry_buf {
	struct ldconn_entry e;
	struct ldconn_attr attrs[MAXL];
	struct ldconn_value values[MAXL];
	char names[MAXL][64];
};

static void entry_build(struct entry_buf *b, const char *dn,
                        const char *const *lines)
{
	size_t n = 0;

	memset(b, 0, sizeof(*b));
	b->e.dn = dn;
	b->e.attrs = b->attrs;
	for (size_t i = 0; i < MAXL && lines[i] != NULL; i++) {
		const char *colon = strstr(lines[i], ": ");
		size_t len;
		struct ldconn_attr *a = NULL;

		assert_non_null(colon);
		len = (size_t)(colon - lines[i]);
		assert_true(len < sizeof(b->names[0]));
		for (size_t k = 0; k < b->e.n_attrs; k++)
			if (strlen(b->attrs[k].name) == len &&
			    strncmp(b->attrs[k].name, lines[i], len) == 0)
				a = &b->attrs[k];
		if (a == NULL) {
			/* Values of one attribute must be written together. */
			a = &b->attrs[b->e.n_attrs];
			memcpy(b->names[b->e.n_attrs], lines[i], len);
			a->name = b->names[b->e.n_attrs++];
			a->values = &b->values[n];
		}
		assert_ptr_equal(&a->values[a->n_values], &b->values[n]);
		b->values[n].data = colon + 2;
		b->values[n].len = strlen(colon + 2);
		a->n_values++;
		n++;
	}
}

/* A mapping: the preset, with what a fixture overrides. */
static struct dirmap *map_new(bool ad, const char *disabled_attr,
                              const char *member_attr)
{
	struct dirmap_settings s;
	const char *members[] = {member_attr, NULL};

	dirmap_preset(&s, ad);
	if (disabled_attr != NULL)
		s.disabled_attr = disabled_attr;
	if (member_attr != NULL)
		s.member_attrs = members;
	return dirmap_new(&s);
}

#define NONE "(none)" /* a forward value that holds no mail address */

struct rcpt_case {
	const char *name;
	bool ad;
	const char *disabled_attr; /* NULL: the preset's */
	const char *member_attr;   /* NULL: the preset's */
	const char *lines[MAXL];
	int ret;
	bool disabled, group, forwards;
	const char *hop, *primary;
	const char *targets[MAXV]; /* forward targets, NONE for no mail */
};

static const struct rcpt_case rcpt_cases[] = {
    /* --- Active Directory ----------------------------------------------- */
    {.name = "ad user: SMTP: primary beats mail, X500 ignored",
     .ad = true,
     .lines = {"objectClass: top", "objectClass: person", "objectClass: user",
               "mail: alice@lab.test", "proxyAddresses: X500:/o=old/cn=alice",
               "proxyAddresses: smtp:alice.alias@lab.test",
               "proxyAddresses: SMTP:alice.primary@lab.test",
               "userAccountControl: 66048"},
     .primary = "alice.primary@lab.test"},
    {.name = "ad user: only smtp: aliases, primary is mail",
     .ad = true,
     .lines = {"objectClass: user", "mail: carol@lab.test",
               "proxyAddresses: smtp:c@lab.test", "userAccountControl: 512"},
     .primary = "carol@lab.test"},
    {.name = "ad user: no mail, SMTP: primary only",
     .ad = true,
     .lines = {"objectClass: user", "proxyAddresses: SMTP:erin@lab.test",
               "userAccountControl: 512"},
     .primary = "erin@lab.test"},
    {.name = "ad user: no address at all",
     .ad = true,
     .lines = {"objectClass: user", "userAccountControl: 512"}},
    {.name = "ad user: disabled (514)",
     .ad = true,
     .lines = {"objectClass: user", "mail: bob@lab.test",
               "userAccountControl: 514"},
     .disabled = true,
     .primary = "bob@lab.test"},
    {.name = "ad user: disabled, flags written signed",
     .ad = true,
     .lines = {"objectClass: user", "mail: bob@lab.test",
               "userAccountControl: -2147483134"},
     .disabled = true,
     .primary = "bob@lab.test"},
    {.name = "ad user: enabled, flags written signed",
     .ad = true,
     .lines = {"objectClass: user", "mail: bob@lab.test",
               "userAccountControl: -2147483136"},
     .primary = "bob@lab.test"},
    {.name = "ad user: userAccountControl not a number",
     .ad = true,
     .lines = {"objectClass: user", "mail: bob@lab.test",
               "userAccountControl: 514x"},
     .ret = -1},
    {.name = "ad user: userAccountControl with a space",
     .ad = true,
     .lines = {"objectClass: user", "userAccountControl:  512"},
     .ret = -1},
    {.name = "ad user: userAccountControl past 32 bits",
     .ad = true,
     .lines = {"objectClass: user", "userAccountControl: 4294967298"},
     .ret = -1},
    {.name = "ad user: locked out is still a recipient",
     .ad = true,
     .lines = {"objectClass: user", "mail: dave@lab.test",
               "userAccountControl: 512", "lockoutTime: 133500000000000000"},
     .primary = "dave@lab.test"},
    {.name = "ad user: the preset's dirmxAccountDisabled",
     .ad = true,
     .lines = {"objectClass: user", "mail: d@lab.test",
               "userAccountControl: 512", "dirmxAccountDisabled: TRUE"},
     .disabled = true,
     .primary = "d@lab.test"},
    {.name = "ad user: a mapped disabled attribute",
     .ad = true,
     .disabled_attr = "extensionAttribute1",
     .lines = {"objectClass: user", "mail: d@lab.test",
               "userAccountControl: 512", "extensionAttribute1: true"},
     .disabled = true,
     .primary = "d@lab.test"},
    {.name = "ad user: mapped away, dirmxAccountDisabled means nothing",
     .ad = true,
     .disabled_attr = "extensionAttribute1",
     .lines = {"objectClass: user", "mail: d@lab.test",
               "userAccountControl: 512", "dirmxAccountDisabled: TRUE"},
     .primary = "d@lab.test"},
    {.name = "ad user: own next hop, smtp: cut",
     .ad = true,
     .lines = {"objectClass: user", "mail: gina@lab.test",
               "userAccountControl: 512",
               "dirmxNextHop: smtp:[192.0.2.30]:2525"},
     .hop = "[192.0.2.30]:2525",
     .primary = "gina@lab.test"},
    {.name = "ad user: dirmxForwardTo, several",
     .ad = true,
     .lines = {"objectClass: user", "mail: f@lab.test",
               "userAccountControl: 512", "dirmxForwardTo: one@partner.example",
               "dirmxForwardTo: two@partner.example"},
     .forwards = true,
     .primary = "f@lab.test",
     .targets = {"one@partner.example", "two@partner.example", NULL}},
    {.name = "ad contact: targetAddress SMTP:",
     .ad = true,
     .lines = {"objectClass: top", "objectClass: contact", "mail: pat@lab.test",
               "proxyAddresses: SMTP:pat@lab.test",
               "targetAddress: SMTP:someone@partner.example"},
     .forwards = true,
     .primary = "pat@lab.test",
     .targets = {"someone@partner.example", NULL}},
    {.name = "ad contact: targetAddress of another type",
     .ad = true,
     .lines = {"objectClass: contact", "mail: x4@lab.test",
               "targetAddress: X400:c=US;a= ;p=Org;o=Ex;s=Smith;"},
     .forwards = true,
     .primary = "x4@lab.test",
     .targets = {NONE, NULL}},
    {.name = "ad contact: targetAddress SIP: with an @",
     .ad = true,
     .lines = {"objectClass: contact",
               "targetAddress: SIP:pat@partner.example"},
     .forwards = true,
     .targets = {NONE, NULL}},
    {.name = "ad group: member values",
     .ad = true,
     .lines = {"objectClass: top", "objectClass: group", "mail: team@lab.test",
               "member: CN=alice,CN=Users,DC=lab,DC=test"},
     .group = true,
     .primary = "team@lab.test"},
    {.name = "ad group: empty, still a group",
     .ad = true,
     .lines = {"objectClass: group", "mail: empty@lab.test"},
     .group = true,
     .primary = "empty@lab.test"},
    {.name = "ad group: a range slice of member",
     .ad = true,
     .lines = {"objectClass: top", "mail: big@lab.test",
               "member;range=0-1499: CN=bulk0000,CN=Users,DC=lab,DC=test"},
     .group = true,
     .primary = "big@lab.test"},
    {.name = "ad group: userAccountControl is not read for groups' sake",
     .ad = true,
     .lines = {"objectClass: group", "mail: g@lab.test"},
     .group = true,
     .primary = "g@lab.test"},
    /* --- OpenLDAP ------------------------------------------------------- */
    {.name = "ldap user: mail, aliases, mailHost",
     .lines = {"objectClass: inetOrgPerson",
               "objectClass: inetLocalMailRecipient", "uid: user00001",
               "mail: user00001@dirmx.test",
               "mailLocalAddress: user.00001@dirmx.test",
               "mailHost: mbx2.dirmx.test"},
     .hop = "mbx2.dirmx.test",
     .primary = "user00001@dirmx.test"},
    {.name = "ldap user: dirmxNextHop before mailHost",
     .lines = {"objectClass: inetOrgPerson", "mail: nh@dirmx.test",
               "mailHost: mbx1.dirmx.test",
               "dirmxNextHop: [legacy-mx.dirmx.test]:2525"},
     .hop = "[legacy-mx.dirmx.test]:2525",
     .primary = "nh@dirmx.test"},
    {.name = "ldap user: mailRoutingAddress",
     .lines = {"objectClass: inetOrgPerson", "mail: fwd-a@dirmx.test",
               "mailRoutingAddress: fwd-b@dirmx.test"},
     .forwards = true,
     .primary = "fwd-a@dirmx.test",
     .targets = {"fwd-b@dirmx.test", NULL}},
    {.name = "ldap user: mailRoutingAddress and dirmxForwardTo, in map order",
     .lines = {"objectClass: inetOrgPerson", "mail: both@dirmx.test",
               "dirmxForwardTo: copy1@partner.example",
               "dirmxForwardTo: nothing-here",
               "mailRoutingAddress: r@dirmx.test"},
     .forwards = true,
     .primary = "both@dirmx.test",
     .targets = {"r@dirmx.test", "copy1@partner.example", NONE, NULL}},
    {.name = "ldap user: dirmxAccountDisabled TRUE",
     .lines = {"objectClass: inetOrgPerson", "mail: disabled-user@dirmx.test",
               "dirmxAccountDisabled: TRUE"},
     .disabled = true,
     .primary = "disabled-user@dirmx.test"},
    {.name = "ldap user: dirmxAccountDisabled FALSE",
     .lines = {"objectClass: inetOrgPerson", "mail: on@dirmx.test",
               "dirmxAccountDisabled: FALSE"},
     .primary = "on@dirmx.test"},
    {.name = "ldap user: mapped disabled attribute (employeeType)",
     .disabled_attr = "employeeType",
     .lines = {"objectClass: inetOrgPerson", "mail: suspended-user@dirmx.test",
               "employeeType: TRUE"},
     .disabled = true,
     .primary = "suspended-user@dirmx.test"},
    {.name = "ldap user: employeeType under the preset means nothing",
     .lines = {"objectClass: inetOrgPerson", "mail: suspended-user@dirmx.test",
               "employeeType: TRUE"},
     .primary = "suspended-user@dirmx.test"},
    {.name = "ldap user: userAccountControl is AD's, not read",
     .lines = {"objectClass: inetOrgPerson", "mail: u@dirmx.test",
               "userAccountControl: garbage"},
     .primary = "u@dirmx.test"},
    {.name = "ldap user: proxyAddresses is AD's, mail is primary",
     .lines = {"objectClass: inetOrgPerson", "mail: u@dirmx.test",
               "proxyAddresses: SMTP:other@dirmx.test"},
     .primary = "u@dirmx.test"},
    {.name = "ldap user: ppolicy lock is no matter for mail",
     .lines = {"objectClass: inetOrgPerson", "mail: l@dirmx.test",
               "pwdAccountLockedTime: 000001010000Z"},
     .primary = "l@dirmx.test"},
    {.name = "ldap contact: external mail",
     .lines = {"objectClass: inetOrgPerson", "cn: contact-00000",
               "mail: contact-00000@partner.example"},
     .primary = "contact-00000@partner.example"},
    {.name = "ldap group: groupOfNames with mail",
     .lines = {"objectClass: groupOfNames", "objectClass: dirmxRecipient",
               "mail: staff@dirmx.test", "member: uid=user00000,ou=people"},
     .group = true,
     .primary = "staff@dirmx.test"},
    {.name = "ldap group: groupOfUniqueNames, class in another case",
     .lines = {"objectClass: GROUPOFUNIQUENAMES", "mail: team-c@dirmx.test",
               "uniqueMember: uid=user00004,ou=people#'0101'B"},
     .group = true,
     .primary = "team-c@dirmx.test"},
    {.name = "ldap group: without mail (reached as a member)",
     .lines = {"objectClass: groupOfNames", "member: cn=team-c,ou=groups"},
     .group = true},
    {.name = "ldap group: a class of its own, members mapped",
     .member_attr = "roleOccupant",
     .lines = {"objectClass: organizationalRole", "mail: role@dirmx.test",
               "roleOccupant: uid=user00002,ou=people"},
     .group = true,
     .primary = "role@dirmx.test"},
    {.name = "ldap group: mapped away, uniqueMember is no member",
     .member_attr = "roleOccupant",
     .lines = {"objectClass: top", "mail: nogroup@dirmx.test",
               "uniqueMember: uid=user00002,ou=people"},
     .primary = "nogroup@dirmx.test"},
    {.name = "ldap group: disabled wins over group",
     .lines = {"objectClass: groupOfNames", "mail: off@dirmx.test",
               "member: uid=a,ou=people", "dirmxAccountDisabled: TRUE"},
     .disabled = true,
     .group = true,
     .primary = "off@dirmx.test"},
};

static void test_recipient_table(void **state)
{
	for (size_t c = 0; c < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]);
	     c++) {
		const struct rcpt_case *tc = &rcpt_cases[c];
		struct dirmap *m =
		    map_new(tc->ad, tc->disabled_attr, tc->member_attr);
		struct entry_buf b;
		struct dirmap_recipient r;
		struct dirmap_iter it = {0};
		const char *error = NULL, *value, *target;
		size_t n = 0;

		print_message("case: %s\n", tc->name);
		entry_build(&b, "cn=fixture", tc->lines);
		assert_int_equal(dirmap_recipient(m, &b.e, &r, &error),
		                 tc->ret);
		if (tc->ret < 0) {
			assert_non_null(error);
			dirmap_deinit(&m);
			continue;
		}
		assert_int_equal(r.disabled, tc->disabled);
		assert_int_equal(r.group, tc->group);
		assert_int_equal(r.forwards, tc->forwards);
		if (tc->hop == NULL)
			assert_null(r.hop);
		else
			assert_string_equal(r.hop, tc->hop);
		if (tc->primary == NULL)
			assert_null(r.primary);
		else
			assert_string_equal(r.primary, tc->primary);
		while (dirmap_forward_next(m, &b.e, &it, &value, &target)) {
			assert_true(n < MAXV);
			assert_non_null(tc->targets[n]);
			assert_non_null(value);
			assert_string_equal(target != NULL ? target : NONE,
			                    tc->targets[n]);
			n++;
		}
		assert_null(tc->targets[n]);
		assert_int_equal(n > 0, tc->forwards);
		dirmap_deinit(&m);
		assert_null(m);
	}
}

struct account_case {
	const char *name;
	bool ad;
	const char *disabled_attr;
	const char *lines[MAXL];
	int ret;
	const char *account, *blocked;
	unsigned bad_pwd;
	bool pso;
	const char *addrs[MAXV]; /* what dirmap_address_next() yields */
};

static const struct account_case account_cases[] = {
    /* --- Active Directory ----------------------------------------------- */
    {.name = "ad user: addresses from mail and SMTP/smtp proxies",
     .ad = true,
     .lines = {"sAMAccountName: alice", "userPrincipalName: alice@lab.test",
               "mail: alice@lab.test",
               "proxyAddresses: SMTP:alice.primary@lab.test",
               "proxyAddresses: smtp:alice.alias@lab.test",
               "proxyAddresses: X500:/o=old/cn=alice@x",
               "proxyAddresses: nosmtp@x", "userAccountControl: 512"},
     .account = "alice",
     .addrs = {"alice@lab.test", "alice.primary@lab.test",
               "alice.alias@lab.test", NULL}},
    {.name = "ad user: disabled",
     .ad = true,
     .lines = {"sAMAccountName: bob", "mail: bob@lab.test",
               "userAccountControl: 514"},
     .account = "bob",
     .blocked = "account disabled",
     .addrs = {"bob@lab.test", NULL}},
    {.name = "ad user: disabled and locked: disabled is said",
     .ad = true,
     .lines = {"sAMAccountName: bob", "userAccountControl: 546",
               "lockoutTime: 133500000000000000"},
     .account = "bob",
     .blocked = "account disabled"},
    {.name = "ad user: locked out",
     .ad = true,
     .lines = {"sAMAccountName: dave", "userAccountControl: 512",
               "lockoutTime: 133500000000000000", "badPwdCount: 5"},
     .account = "dave",
     .blocked = "account locked out",
     .bad_pwd = 5},
    {.name = "ad user: lockoutTime 0 is unlocked",
     .ad = true,
     .lines = {"sAMAccountName: dave", "userAccountControl: 512",
               "lockoutTime: 0", "badPwdCount: 2"},
     .account = "dave",
     .bad_pwd = 2},
    {.name = "ad user: lockoutTime not a number",
     .ad = true,
     .lines = {"sAMAccountName: dave", "userAccountControl: 512",
               "lockoutTime: soon"},
     .ret = -1},
    {.name = "ad user: badPwdCount not a number",
     .ad = true,
     .lines = {"sAMAccountName: dave", "userAccountControl: 512",
               "badPwdCount: 0x3"},
     .ret = -1},
    {.name = "ad user: userAccountControl not a number",
     .ad = true,
     .lines = {"sAMAccountName: dave", "userAccountControl: "},
     .ret = -1},
    {.name = "ad user: fine-grained password policy",
     .ad = true,
     .lines = {"sAMAccountName: pso-victim", "userAccountControl: 512",
               "msDS-ResultantPSO: CN=strict,CN=Password Settings Container"},
     .account = "pso-victim",
     .pso = true},
    {.name = "ad user: mapped disabled attribute blocks AUTH",
     .ad = true,
     .disabled_attr = "extensionAttribute1",
     .lines = {"sAMAccountName: sus", "userAccountControl: 512",
               "extensionAttribute1: TRUE"},
     .account = "sus",
     .blocked = "account disabled"},
    {.name = "ad user: uid is not AD's account name",
     .ad = true,
     .lines = {"uid: someone", "userAccountControl: 512"}},
    /* --- OpenLDAP ------------------------------------------------------- */
    {.name = "ldap user: uid, mail and mailLocalAddress",
     .lines = {"uid: user00007", "mail: user00007@dirmx.test",
               "mailLocalAddress: user.00007@dirmx.test",
               "mailLocalAddress: user00007@alias.dirmx.test",
               "mailLocalAddress: no-domain"},
     .account = "user00007",
     .addrs = {"user00007@dirmx.test", "user.00007@dirmx.test",
               "user00007@alias.dirmx.test", NULL}},
    {.name = "ldap user: dirmxAccountDisabled",
     .lines = {"uid: disabled-user", "mail: disabled-user@dirmx.test",
               "dirmxAccountDisabled: TRUE"},
     .account = "disabled-user",
     .blocked = "account disabled",
     .addrs = {"disabled-user@dirmx.test", NULL}},
    {.name = "ldap user: the mapped disabled attribute (the defect: AUTH "
             "ignored it)",
     .disabled_attr = "employeeType",
     .lines = {"uid: suspended-user", "mail: suspended-user@dirmx.test",
               "employeeType: TRUE"},
     .account = "suspended-user",
     .blocked = "account disabled",
     .addrs = {"suspended-user@dirmx.test", NULL}},
    {.name = "ldap user: same entry under the preset",
     .lines = {"uid: suspended-user", "mail: suspended-user@dirmx.test",
               "employeeType: TRUE"},
     .account = "suspended-user",
     .addrs = {"suspended-user@dirmx.test", NULL}},
    {.name = "ldap user: ppolicy lock",
     .lines = {"uid: l", "pwdAccountLockedTime: 000001010000Z"},
     .account = "l",
     .blocked = "account locked"},
    {.name = "ldap user: AD's lockoutTime and PSO are not read",
     .lines = {"uid: x", "lockoutTime: garbage",
               "msDS-ResultantPSO: CN=strict"},
     .account = "x"},
    {.name = "ldap user: sAMAccountName is not the ldap account name",
     .lines = {"sAMAccountName: x", "mail: x@dirmx.test"},
     .addrs = {"x@dirmx.test", NULL}},
};

static void test_account_table(void **state)
{
	for (size_t c = 0; c < sizeof(account_cases) / sizeof(account_cases[0]);
	     c++) {
		const struct account_case *tc = &account_cases[c];
		struct dirmap *m = map_new(tc->ad, tc->disabled_attr, NULL);
		struct entry_buf b;
		struct dirmap_account a;
		struct dirmap_iter it = {0};
		const char *error = NULL, *addr;
		size_t n = 0;

		print_message("case: %s\n", tc->name);
		entry_build(&b, "cn=fixture", tc->lines);
		assert_int_equal(dirmap_account(m, &b.e, &a, &error), tc->ret);
		if (tc->ret < 0) {
			assert_non_null(error);
			dirmap_deinit(&m);
			continue;
		}
		if (tc->account == NULL)
			assert_null(a.name);
		else
			assert_string_equal(a.name, tc->account);
		if (tc->blocked == NULL)
			assert_null(a.blocked);
		else
			assert_string_equal(a.blocked, tc->blocked);
		assert_int_equal(a.bad_pwd_count, tc->bad_pwd);
		assert_int_equal(a.pso, tc->pso);
		while (dirmap_address_next(m, &b.e, &it, &addr)) {
			assert_true(n < MAXV);
			assert_non_null(tc->addrs[n]);
			assert_string_equal(addr, tc->addrs[n]);
			n++;
		}
		assert_null(tc->addrs[n]);
		dirmap_deinit(&m);
	}
}

/* Whether a search asks for an attribute (test-dirmap-attrs.c has the
 * lists whole). */
static bool has_attr(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcasecmp(list[i], name) == 0)
			return true;
	return false;
}

static void test_no_disabled_attribute(void **state)
{
	struct dirmap_settings s;
	struct dirmap *m;
	struct entry_buf b;
	struct dirmap_recipient r;
	const char *error;
	const char *lines[] = {"objectClass: inetOrgPerson",
	                       "dirmxAccountDisabled: TRUE", NULL};

	dirmap_preset(&s, false);
	s.disabled_attr = NULL;
	m = dirmap_new(&s);
	entry_build(&b, "cn=x", lines);
	assert_int_equal(dirmap_recipient(m, &b.e, &r, &error), 0);
	assert_false(r.disabled);
	assert_false(
	    has_attr(dirmap_recipient_attrs(m), "dirmxAccountDisabled"));
	dirmap_deinit(&m);
}

static void test_member_attr(void **state)
{
	static const struct {
		const char *name;
		bool match;
		const char *base, *end;
	} cases[] = {
	    {"member", true, "member", NULL},
	    {"MEMBER", true, "member", NULL},
	    {"member;range=0-1499", true, "member", "1499"},
	    {"member;range=1500-*", true, "member", "*"},
	    {"uniqueMember", true, "uniqueMember", NULL},
	    {"memberOf", false, NULL, NULL},
	    {"member;binary", false, NULL, NULL},
	    {"member;range=", false, NULL, NULL},
	    {"mem", false, NULL, NULL},
	};
	struct dirmap *m = map_new(false, NULL, NULL);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *base = NULL, *end = NULL;

		print_message("name: %s\n", cases[i].name);
		assert_int_equal(
		    dirmap_member_attr(m, cases[i].name, &base, &end),
		    cases[i].match);
		if (!cases[i].match)
			continue;
		assert_string_equal(base, cases[i].base);
		if (cases[i].end == NULL)
			assert_null(end);
		else
			assert_string_equal(end, cases[i].end);
	}
	dirmap_deinit(&m);
}

static void test_mail_address(void **state)
{
	static const struct {
		const char *value;
		bool typed;
		const char *want;
	} cases[] = {
	    {"a@x.test", false, "a@x.test"},
	    {"smtp:a@x.test", false, "a@x.test"},
	    {"SMTP:a@x.test", true, "a@x.test"},
	    {"a@x.test", true, NULL},
	    {"X500:/o=x/cn=a@b", true, NULL},
	    {"sip:a@x.test", false, NULL},
	    {"no-at-sign", false, NULL},
	    {"smtp:", false, NULL},
	    {"", false, NULL},
	    {"a@x.test:25", false, "a@x.test:25"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got =
		    dirmap_mail_address(cases[i].value, cases[i].typed);

		print_message("value: %s\n", cases[i].value);
		if (cases[i].want == NULL)
			assert_null(got);
		else
			assert_string_equal(got, cases[i].want);
	}
}

/* The object's own name, from either directory, as cache tags use it. */
static void test_object_id(void **state)
{
	struct dirmap *ldap = map_new(false, NULL, NULL);
	struct dirmap *ad = map_new(true, NULL, NULL);
	struct ldconn_value uuid = {
	    .data = "6A1F2B3C-0d4e-11ef-8a9b-0242ac120002", .len = 36};
	struct ldconn_value guid = {.data = "\x01\x23\x45\x67\x89\xab\xcd\xef"
	                                    "\x00\x10\x20\x30\x40\x50\x60\x70",
	                            .len = 16};
	struct ldconn_value bad = {
	    .data = "6a1f2b3c+0d4e-11ef-8a9b-0242ac120002", .len = 36};
	struct ldconn_attr a = {
	    .name = "entryUUID", .n_values = 1, .values = &uuid};
	struct ldconn_entry e = {.dn = "cn=x", .n_attrs = 1, .attrs = &a};
	char id[33];

	(void)state;
	assert_string_equal(dirmap_object_id_attr(ldap), "entryUUID");
	assert_string_equal(dirmap_object_id_attr(ad), "objectGUID");
	assert_true(dirmap_object_id(ldap, &e, id));
	assert_string_equal(id, "6a1f2b3c0d4e11ef8a9b0242ac120002");
	assert_false(dirmap_object_id(ad, &e, id)); /* no objectGUID */
	a.values = &bad;
	assert_false(dirmap_object_id(ldap, &e, id));
	a.name = "objectGUID";
	a.values = &guid;
	assert_true(dirmap_object_id(ad, &e, id));
	assert_string_equal(id, "0123456789abcdef0010203040506070");
	guid.len = 15;
	assert_false(dirmap_object_id(ad, &e, id));
	dirmap_deinit(&ldap);
	dirmap_deinit(&ad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recipient_table),
	    cmocka_unit_test(test_account_table),
	    cmocka_unit_test(test_object_id),
	    cmocka_unit_test(test_no_disabled_attribute),
	    cmocka_unit_test(test_member_attr),
	    cmocka_unit_test(test_mail_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
