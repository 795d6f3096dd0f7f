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
    {"ad user: SMTP: primary beats mail, X500 ignored",
     true,
     NULL,
     NULL,
     {"objectClass: top", "objectClass: person", "objectClass: user",
      "mail: alice@lab.test", "proxyAddresses: X500:/o=old/cn=alice",
      "proxyAddresses: smtp:alice.alias@lab.test",
      "proxyAddresses: SMTP:alice.primary@lab.test",
      "userAccountControl: 66048"},
     0,
     false,
     false,
     false,
     NULL,
     "alice.primary@lab.test",
     {NULL}},
    {"ad user: only smtp: aliases, primary is mail",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: carol@lab.test",
      "proxyAddresses: smtp:c@lab.test", "userAccountControl: 512"},
     0,
     false,
     false,
     false,
     NULL,
     "carol@lab.test",
     {NULL}},
    {"ad user: no mail, SMTP: primary only",
     true,
     NULL,
     NULL,
     {"objectClass: user", "proxyAddresses: SMTP:erin@lab.test",
      "userAccountControl: 512"},
     0,
     false,
     false,
     false,
     NULL,
     "erin@lab.test",
     {NULL}},
    {"ad user: no address at all",
     true,
     NULL,
     NULL,
     {"objectClass: user", "userAccountControl: 512"},
     0,
     false,
     false,
     false,
     NULL,
     NULL,
     {NULL}},
    {"ad user: disabled (514)",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: bob@lab.test", "userAccountControl: 514"},
     0,
     true,
     false,
     false,
     NULL,
     "bob@lab.test",
     {NULL}},
    {"ad user: disabled, flags written signed",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: bob@lab.test",
      "userAccountControl: -2147483134"},
     0,
     true,
     false,
     false,
     NULL,
     "bob@lab.test",
     {NULL}},
    {"ad user: enabled, flags written signed",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: bob@lab.test",
      "userAccountControl: -2147483136"},
     0,
     false,
     false,
     false,
     NULL,
     "bob@lab.test",
     {NULL}},
    {"ad user: userAccountControl not a number",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: bob@lab.test", "userAccountControl: 514x"},
     -1,
     false,
     false,
     false,
     NULL,
     NULL,
     {NULL}},
    {"ad user: userAccountControl with a space",
     true,
     NULL,
     NULL,
     {"objectClass: user", "userAccountControl:  512"},
     -1,
     false,
     false,
     false,
     NULL,
     NULL,
     {NULL}},
    {"ad user: userAccountControl past 32 bits",
     true,
     NULL,
     NULL,
     {"objectClass: user", "userAccountControl: 4294967298"},
     -1,
     false,
     false,
     false,
     NULL,
     NULL,
     {NULL}},
    {"ad user: locked out is still a recipient",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: dave@lab.test", "userAccountControl: 512",
      "lockoutTime: 133500000000000000"},
     0,
     false,
     false,
     false,
     NULL,
     "dave@lab.test",
     {NULL}},
    {"ad user: the preset's dirmxAccountDisabled",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: d@lab.test", "userAccountControl: 512",
      "dirmxAccountDisabled: TRUE"},
     0,
     true,
     false,
     false,
     NULL,
     "d@lab.test",
     {NULL}},
    {"ad user: a mapped disabled attribute",
     true,
     "extensionAttribute1",
     NULL,
     {"objectClass: user", "mail: d@lab.test", "userAccountControl: 512",
      "extensionAttribute1: true"},
     0,
     true,
     false,
     false,
     NULL,
     "d@lab.test",
     {NULL}},
    {"ad user: mapped away, dirmxAccountDisabled means nothing",
     true,
     "extensionAttribute1",
     NULL,
     {"objectClass: user", "mail: d@lab.test", "userAccountControl: 512",
      "dirmxAccountDisabled: TRUE"},
     0,
     false,
     false,
     false,
     NULL,
     "d@lab.test",
     {NULL}},
    {"ad user: own next hop, smtp: cut",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: gina@lab.test", "userAccountControl: 512",
      "dirmxNextHop: smtp:[192.0.2.30]:2525"},
     0,
     false,
     false,
     false,
     "[192.0.2.30]:2525",
     "gina@lab.test",
     {NULL}},
    {"ad user: dirmxForwardTo, several",
     true,
     NULL,
     NULL,
     {"objectClass: user", "mail: f@lab.test", "userAccountControl: 512",
      "dirmxForwardTo: one@partner.example",
      "dirmxForwardTo: two@partner.example"},
     0,
     false,
     false,
     true,
     NULL,
     "f@lab.test",
     {"one@partner.example", "two@partner.example", NULL}},
    {"ad contact: targetAddress SMTP:",
     true,
     NULL,
     NULL,
     {"objectClass: top", "objectClass: contact", "mail: pat@lab.test",
      "proxyAddresses: SMTP:pat@lab.test",
      "targetAddress: SMTP:someone@partner.example"},
     0,
     false,
     false,
     true,
     NULL,
     "pat@lab.test",
     {"someone@partner.example", NULL}},
    {"ad contact: targetAddress of another type",
     true,
     NULL,
     NULL,
     {"objectClass: contact", "mail: x4@lab.test",
      "targetAddress: X400:c=US;a= ;p=Org;o=Ex;s=Smith;"},
     0,
     false,
     false,
     true,
     NULL,
     "x4@lab.test",
     {NONE, NULL}},
    {"ad contact: targetAddress SIP: with an @",
     true,
     NULL,
     NULL,
     {"objectClass: contact", "targetAddress: SIP:pat@partner.example"},
     0,
     false,
     false,
     true,
     NULL,
     NULL,
     {NONE, NULL}},
    {"ad group: member values",
     true,
     NULL,
     NULL,
     {"objectClass: top", "objectClass: group", "mail: team@lab.test",
      "member: CN=alice,CN=Users,DC=lab,DC=test"},
     0,
     false,
     true,
     false,
     NULL,
     "team@lab.test",
     {NULL}},
    {"ad group: empty, still a group",
     true,
     NULL,
     NULL,
     {"objectClass: group", "mail: empty@lab.test"},
     0,
     false,
     true,
     false,
     NULL,
     "empty@lab.test",
     {NULL}},
    {"ad group: a range slice of member",
     true,
     NULL,
     NULL,
     {"objectClass: top", "mail: big@lab.test",
      "member;range=0-1499: CN=bulk0000,CN=Users,DC=lab,DC=test"},
     0,
     false,
     true,
     false,
     NULL,
     "big@lab.test",
     {NULL}},
    {"ad group: userAccountControl is not read for groups' sake",
     true,
     NULL,
     NULL,
     {"objectClass: group", "mail: g@lab.test"},
     0,
     false,
     true,
     false,
     NULL,
     "g@lab.test",
     {NULL}},

    /* --- OpenLDAP ------------------------------------------------------- */
    {"ldap user: mail, aliases, mailHost",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "objectClass: inetLocalMailRecipient",
      "uid: user00001", "mail: user00001@dirmx.test",
      "mailLocalAddress: user.00001@dirmx.test", "mailHost: mbx2.dirmx.test"},
     0,
     false,
     false,
     false,
     "mbx2.dirmx.test",
     "user00001@dirmx.test",
     {NULL}},
    {"ldap user: dirmxNextHop before mailHost",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: nh@dirmx.test",
      "mailHost: mbx1.dirmx.test", "dirmxNextHop: [legacy-mx.dirmx.test]:2525"},
     0,
     false,
     false,
     false,
     "[legacy-mx.dirmx.test]:2525",
     "nh@dirmx.test",
     {NULL}},
    {"ldap user: mailRoutingAddress",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: fwd-a@dirmx.test",
      "mailRoutingAddress: fwd-b@dirmx.test"},
     0,
     false,
     false,
     true,
     NULL,
     "fwd-a@dirmx.test",
     {"fwd-b@dirmx.test", NULL}},
    {"ldap user: mailRoutingAddress and dirmxForwardTo, in map order",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: both@dirmx.test",
      "dirmxForwardTo: copy1@partner.example", "dirmxForwardTo: nothing-here",
      "mailRoutingAddress: r@dirmx.test"},
     0,
     false,
     false,
     true,
     NULL,
     "both@dirmx.test",
     {"r@dirmx.test", "copy1@partner.example", NONE, NULL}},
    {"ldap user: dirmxAccountDisabled TRUE",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: disabled-user@dirmx.test",
      "dirmxAccountDisabled: TRUE"},
     0,
     true,
     false,
     false,
     NULL,
     "disabled-user@dirmx.test",
     {NULL}},
    {"ldap user: dirmxAccountDisabled FALSE",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: on@dirmx.test",
      "dirmxAccountDisabled: FALSE"},
     0,
     false,
     false,
     false,
     NULL,
     "on@dirmx.test",
     {NULL}},
    {"ldap user: mapped disabled attribute (employeeType)",
     false,
     "employeeType",
     NULL,
     {"objectClass: inetOrgPerson", "mail: suspended-user@dirmx.test",
      "employeeType: TRUE"},
     0,
     true,
     false,
     false,
     NULL,
     "suspended-user@dirmx.test",
     {NULL}},
    {"ldap user: employeeType under the preset means nothing",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: suspended-user@dirmx.test",
      "employeeType: TRUE"},
     0,
     false,
     false,
     false,
     NULL,
     "suspended-user@dirmx.test",
     {NULL}},
    {"ldap user: userAccountControl is AD's, not read",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: u@dirmx.test",
      "userAccountControl: garbage"},
     0,
     false,
     false,
     false,
     NULL,
     "u@dirmx.test",
     {NULL}},
    {"ldap user: proxyAddresses is AD's, mail is primary",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: u@dirmx.test",
      "proxyAddresses: SMTP:other@dirmx.test"},
     0,
     false,
     false,
     false,
     NULL,
     "u@dirmx.test",
     {NULL}},
    {"ldap user: ppolicy lock is no matter for mail",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "mail: l@dirmx.test",
      "pwdAccountLockedTime: 000001010000Z"},
     0,
     false,
     false,
     false,
     NULL,
     "l@dirmx.test",
     {NULL}},
    {"ldap contact: external mail",
     false,
     NULL,
     NULL,
     {"objectClass: inetOrgPerson", "cn: contact-00000",
      "mail: contact-00000@partner.example"},
     0,
     false,
     false,
     false,
     NULL,
     "contact-00000@partner.example",
     {NULL}},
    {"ldap group: groupOfNames with mail",
     false,
     NULL,
     NULL,
     {"objectClass: groupOfNames", "objectClass: dirmxRecipient",
      "mail: staff@dirmx.test", "member: uid=user00000,ou=people"},
     0,
     false,
     true,
     false,
     NULL,
     "staff@dirmx.test",
     {NULL}},
    {"ldap group: groupOfUniqueNames, class in another case",
     false,
     NULL,
     NULL,
     {"objectClass: GROUPOFUNIQUENAMES", "mail: team-c@dirmx.test",
      "uniqueMember: uid=user00004,ou=people#'0101'B"},
     0,
     false,
     true,
     false,
     NULL,
     "team-c@dirmx.test",
     {NULL}},
    {"ldap group: without mail (reached as a member)",
     false,
     NULL,
     NULL,
     {"objectClass: groupOfNames", "member: cn=team-c,ou=groups"},
     0,
     false,
     true,
     false,
     NULL,
     NULL,
     {NULL}},
    {"ldap group: a class of its own, members mapped",
     false,
     NULL,
     "roleOccupant",
     {"objectClass: organizationalRole", "mail: role@dirmx.test",
      "roleOccupant: uid=user00002,ou=people"},
     0,
     false,
     true,
     false,
     NULL,
     "role@dirmx.test",
     {NULL}},
    {"ldap group: mapped away, uniqueMember is no member",
     false,
     NULL,
     "roleOccupant",
     {"objectClass: top", "mail: nogroup@dirmx.test",
      "uniqueMember: uid=user00002,ou=people"},
     0,
     false,
     false,
     false,
     NULL,
     "nogroup@dirmx.test",
     {NULL}},
    {"ldap group: disabled wins over group",
     false,
     NULL,
     NULL,
     {"objectClass: groupOfNames", "mail: off@dirmx.test",
      "member: uid=a,ou=people", "dirmxAccountDisabled: TRUE"},
     0,
     true,
     true,
     false,
     NULL,
     "off@dirmx.test",
     {NULL}},
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
    {"ad user: addresses from mail and SMTP/smtp proxies",
     true,
     NULL,
     {"sAMAccountName: alice", "userPrincipalName: alice@lab.test",
      "mail: alice@lab.test", "proxyAddresses: SMTP:alice.primary@lab.test",
      "proxyAddresses: smtp:alice.alias@lab.test",
      "proxyAddresses: X500:/o=old/cn=alice@x", "proxyAddresses: nosmtp@x",
      "userAccountControl: 512"},
     0,
     "alice",
     NULL,
     0,
     false,
     {"alice@lab.test", "alice.primary@lab.test", "alice.alias@lab.test",
      NULL}},
    {"ad user: disabled",
     true,
     NULL,
     {"sAMAccountName: bob", "mail: bob@lab.test", "userAccountControl: 514"},
     0,
     "bob",
     "account disabled",
     0,
     false,
     {"bob@lab.test", NULL}},
    {"ad user: disabled and locked: disabled is said",
     true,
     NULL,
     {"sAMAccountName: bob", "userAccountControl: 546",
      "lockoutTime: 133500000000000000"},
     0,
     "bob",
     "account disabled",
     0,
     false,
     {NULL}},
    {"ad user: locked out",
     true,
     NULL,
     {"sAMAccountName: dave", "userAccountControl: 512",
      "lockoutTime: 133500000000000000", "badPwdCount: 5"},
     0,
     "dave",
     "account locked out",
     5,
     false,
     {NULL}},
    {"ad user: lockoutTime 0 is unlocked",
     true,
     NULL,
     {"sAMAccountName: dave", "userAccountControl: 512", "lockoutTime: 0",
      "badPwdCount: 2"},
     0,
     "dave",
     NULL,
     2,
     false,
     {NULL}},
    {"ad user: lockoutTime not a number",
     true,
     NULL,
     {"sAMAccountName: dave", "userAccountControl: 512", "lockoutTime: soon"},
     -1,
     NULL,
     NULL,
     0,
     false,
     {NULL}},
    {"ad user: badPwdCount not a number",
     true,
     NULL,
     {"sAMAccountName: dave", "userAccountControl: 512", "badPwdCount: 0x3"},
     -1,
     NULL,
     NULL,
     0,
     false,
     {NULL}},
    {"ad user: userAccountControl not a number",
     true,
     NULL,
     {"sAMAccountName: dave", "userAccountControl: "},
     -1,
     NULL,
     NULL,
     0,
     false,
     {NULL}},
    {"ad user: fine-grained password policy",
     true,
     NULL,
     {"sAMAccountName: pso-victim", "userAccountControl: 512",
      "msDS-ResultantPSO: CN=strict,CN=Password Settings Container"},
     0,
     "pso-victim",
     NULL,
     0,
     true,
     {NULL}},
    {"ad user: mapped disabled attribute blocks AUTH",
     true,
     "extensionAttribute1",
     {"sAMAccountName: sus", "userAccountControl: 512",
      "extensionAttribute1: TRUE"},
     0,
     "sus",
     "account disabled",
     0,
     false,
     {NULL}},
    {"ad user: uid is not AD's account name",
     true,
     NULL,
     {"uid: someone", "userAccountControl: 512"},
     0,
     NULL,
     NULL,
     0,
     false,
     {NULL}},

    /* --- OpenLDAP ------------------------------------------------------- */
    {"ldap user: uid, mail and mailLocalAddress",
     false,
     NULL,
     {"uid: user00007", "mail: user00007@dirmx.test",
      "mailLocalAddress: user.00007@dirmx.test",
      "mailLocalAddress: user00007@alias.dirmx.test",
      "mailLocalAddress: no-domain"},
     0,
     "user00007",
     NULL,
     0,
     false,
     {"user00007@dirmx.test", "user.00007@dirmx.test",
      "user00007@alias.dirmx.test", NULL}},
    {"ldap user: dirmxAccountDisabled",
     false,
     NULL,
     {"uid: disabled-user", "mail: disabled-user@dirmx.test",
      "dirmxAccountDisabled: TRUE"},
     0,
     "disabled-user",
     "account disabled",
     0,
     false,
     {"disabled-user@dirmx.test", NULL}},
    {"ldap user: the mapped disabled attribute (the defect: AUTH ignored it)",
     false,
     "employeeType",
     {"uid: suspended-user", "mail: suspended-user@dirmx.test",
      "employeeType: TRUE"},
     0,
     "suspended-user",
     "account disabled",
     0,
     false,
     {"suspended-user@dirmx.test", NULL}},
    {"ldap user: same entry under the preset",
     false,
     NULL,
     {"uid: suspended-user", "mail: suspended-user@dirmx.test",
      "employeeType: TRUE"},
     0,
     "suspended-user",
     NULL,
     0,
     false,
     {"suspended-user@dirmx.test", NULL}},
    {"ldap user: ppolicy lock",
     false,
     NULL,
     {"uid: l", "pwdAccountLockedTime: 000001010000Z"},
     0,
     "l",
     "account locked",
     0,
     false,
     {NULL}},
    {"ldap user: AD's lockoutTime and PSO are not read",
     false,
     NULL,
     {"uid: x", "lockoutTime: garbage", "msDS-ResultantPSO: CN=strict"},
     0,
     "x",
     NULL,
     0,
     false,
     {NULL}},
    {"ldap user: sAMAccountName is not the ldap account name",
     false,
     NULL,
     {"sAMAccountName: x", "mail: x@dirmx.test"},
     0,
     NULL,
     NULL,
     0,
     false,
     {"x@dirmx.test", NULL}},
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

/* The searches ask for what the decisions read: a mapped disabled attribute
 * must reach both, or the check that reads it sees nothing. */
static bool has_attr(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcasecmp(list[i], name) == 0)
			return true;
	return false;
}

static void test_searched_attributes(void **state)
{
	struct dirmap *m = map_new(false, "employeeType", NULL);
	struct dirmap *ad = map_new(true, NULL, NULL);
	static const char *const ldap_rcpt[] = {
	    "mail",           "member",
	    "uniqueMember",   "dirmxNextHop",
	    "mailHost",       "mailRoutingAddress",
	    "dirmxForwardTo", "objectClass",
	    "employeeType",   NULL};
	static const char *const ad_rcpt[] = {"mail",
	                                      "member;range=0-*",
	                                      "dirmxNextHop",
	                                      "targetAddress",
	                                      "dirmxForwardTo",
	                                      "objectClass",
	                                      "proxyAddresses",
	                                      "userAccountControl",
	                                      "dirmxAccountDisabled",
	                                      NULL};
	const char *const *l;
	size_t n;

	l = dirmap_recipient_attrs(m);
	for (n = 0; l[n] != NULL; n++)
		assert_string_equal(l[n], ldap_rcpt[n]);
	assert_null(ldap_rcpt[n]);
	l = dirmap_recipient_attrs(ad);
	for (n = 0; l[n] != NULL; n++)
		assert_string_equal(l[n], ad_rcpt[n]);
	assert_null(ad_rcpt[n]);

	l = dirmap_account_attrs(m);
	assert_true(has_attr(l, "employeeType"));
	assert_false(has_attr(l, "dirmxAccountDisabled"));
	for (const char *const *w =
	         (const char *const[]){
	             "uid", "sAMAccountName", "userPrincipalName", "mail",
	             "proxyAddresses", "mailLocalAddress", "userAccountControl",
	             "lockoutTime", "badPwdCount", "msDS-ResultantPSO",
	             "pwdAccountLockedTime", NULL};
	     *w != NULL; w++)
		assert_true(has_attr(l, *w));
	/* No name twice. */
	for (size_t i = 0; l[i] != NULL; i++)
		for (size_t k = i + 1; l[k] != NULL; k++)
			assert_true(strcasecmp(l[i], l[k]) != 0);
	assert_true(has_attr(dirmap_account_attrs(ad), "dirmxAccountDisabled"));
	assert_false(dirmap_ad(m));
	assert_true(dirmap_ad(ad));
	dirmap_deinit(&m);
	dirmap_deinit(&ad);
	dirmap_deinit(&ad); /* harmless on NULL */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recipient_table),
	    cmocka_unit_test(test_account_table),
	    cmocka_unit_test(test_searched_attributes),
	    cmocka_unit_test(test_no_disabled_attribute),
	    cmocka_unit_test(test_member_attr),
	    cmocka_unit_test(test_mail_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
