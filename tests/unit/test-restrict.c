/*
 * test-restrict - who may send to a recipient: each rule allowing and
 * refusing, nobody (an unauthenticated sender the admin does not trust),
 * refusals winning over allowances, reading the rules from an entry
 * under both attribute spellings, and the cached form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "restrict.h"

#define G_STAFF "cn=staff,ou=groups,dc=example,dc=com"
#define G_SALES "cn=sales,ou=groups,dc=example,dc=com"
#define G_BAD "cn=blocked,ou=groups,dc=example,dc=com"
#define U_ALICE "uid=alice,ou=people,dc=example,dc=com"
#define U_BOB "uid=bob,ou=people,dc=example,dc=com"

static void dns_set(struct restrict_dns *l, const char *dn)
{
	l->v = calloc(1, sizeof(char *));
	l->v[0] = strdup(dn);
	l->n = 1;
}

/* alice: authenticated, member of staff (through sales: nested) */
static const char *const alice_groups[] = {G_SALES, G_STAFF};
static const struct restrict_sender alice = {.authenticated = true,
                                             .dn = U_ALICE,
                                             .groups = alice_groups,
                                             .n_groups = 2};
/* the same alice, unauthenticated but trusted by envelope sender */
static const struct restrict_sender alice_mx = {
    .dn = U_ALICE, .groups = alice_groups, .n_groups = 2};
static const char *const bob_groups[] = {G_BAD};
static const struct restrict_sender bob = {
    .authenticated = true, .dn = U_BOB, .groups = bob_groups, .n_groups = 1};
/* unauthenticated, not trusted: nobody */
static const struct restrict_sender nobody = {0};

static void test_none(void **state)
{
	struct restrict_rules r = {0};

	(void)state;
	assert_false(restrict_rules_any(&r));
	assert_int_equal(restrict_decide(&nobody, &r, 0), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_ALLOWED);
}

static void test_require_auth(void **state)
{
	struct restrict_rules r = {.require_auth = true};

	(void)state;
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_ALLOWED);
	/* Known by envelope sender is still not authenticated. */
	assert_int_equal(restrict_decide(&alice_mx, &r, 0),
	                 RESTRICT_REQUIRE_AUTH);
	assert_int_equal(restrict_decide(&nobody, &r, 0),
	                 RESTRICT_REQUIRE_AUTH);
}

static void test_auth_orig(void **state)
{
	struct restrict_rules r = {0};

	(void)state;
	dns_set(&r.auth_orig, U_ALICE);
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&alice_mx, &r, 0), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&bob, &r, 0), RESTRICT_ONLY_LISTED);
	assert_int_equal(restrict_decide(&nobody, &r, 0), RESTRICT_ONLY_LISTED);
	restrict_rules_clear(&r);
}

static void test_unauth_orig(void **state)
{
	struct restrict_rules r = {0};

	(void)state;
	dns_set(&r.unauth_orig, U_BOB);
	assert_int_equal(restrict_decide(&bob, &r, 0), RESTRICT_UNAUTH_ORIG);
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_ALLOWED);
	/* Nobody never matches a refusal list. */
	assert_int_equal(restrict_decide(&nobody, &r, 0), RESTRICT_ALLOWED);
	restrict_rules_clear(&r);
}

static void test_submit_perms(void **state)
{
	struct restrict_rules r = {0};

	(void)state;
	dns_set(&r.submit_perms, G_STAFF); /* alice is in it through sales */
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&bob, &r, 0), RESTRICT_ONLY_LISTED);
	assert_int_equal(restrict_decide(&nobody, &r, 0), RESTRICT_ONLY_LISTED);
	/* authOrig and dLMemSubmitPerms are one allow list. */
	dns_set(&r.auth_orig, U_BOB);
	assert_int_equal(restrict_decide(&bob, &r, 0), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_ALLOWED);
	restrict_rules_clear(&r);
}

static void test_reject_perms(void **state)
{
	struct restrict_rules r = {0};

	(void)state;
	dns_set(&r.reject_perms, G_BAD);
	assert_int_equal(restrict_decide(&bob, &r, 0), RESTRICT_REJECT_PERMS);
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&nobody, &r, 0), RESTRICT_ALLOWED);
	/* A refusal wins over being listed. */
	dns_set(&r.auth_orig, U_BOB);
	assert_int_equal(restrict_decide(&bob, &r, 0), RESTRICT_REJECT_PERMS);
	restrict_rules_clear(&r);
	dns_set(&r.unauth_orig, U_ALICE);
	dns_set(&r.submit_perms, G_STAFF);
	assert_int_equal(restrict_decide(&alice, &r, 0), RESTRICT_UNAUTH_ORIG);
	restrict_rules_clear(&r);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(restrict_rule_attr(RESTRICT_REQUIRE_AUTH),
	                    "msExchRequireAuthToSendTo");
	assert_string_equal(restrict_rule_attr(RESTRICT_ONLY_LISTED),
	                    "authOrig/dLMemSubmitPerms");
	assert_non_null(
	    strstr(restrict_rule_why(RESTRICT_REJECT_PERMS), "refused group"));
}

static void test_recip_limit(void **state)
{
	(void)state;
	assert_false(restrict_recip_over(0, 100000));
	assert_false(restrict_recip_over(3, 2));
	assert_true(restrict_recip_over(3, 3));
	assert_true(restrict_recip_over(1, 1));
}

static void test_dn_key(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"CN=Staff,OU=Groups,DC=Example,DC=com",
	     "cn=staff,ou=groups,dc=example,dc=com"},
	    {"cn = a , dc=x", "cn=a,dc=x"},
	    {"cn=Two Words,dc=x", "cn=two words,dc=x"},
	    {"", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *k = restrict_dn_key(cases[i].in);

		assert_string_equal(k, cases[i].out);
		free(k);
	}
}

/* An entry with attributes (name, value) pairs; NULL ends it. */
struct fake {
	struct ldconn_entry e;
	struct ldconn_attr a[8];
	struct ldconn_value v[8];
};

static void fake_init(struct fake *f, const char *const *pairs)
{
	memset(f, 0, sizeof(*f));
	f->e.dn = "cn=x,dc=example,dc=com";
	f->e.attrs = f->a;
	for (size_t i = 0; pairs[2 * i] != NULL; i++) {
		f->v[i].data = pairs[2 * i + 1];
		f->v[i].len = strlen(pairs[2 * i + 1]);
		f->a[i].name = pairs[2 * i];
		f->a[i].n_values = 1;
		f->a[i].values = &f->v[i];
		f->e.n_attrs++;
	}
}

static void test_read(void **state)
{
	static const char *const ad[] = {
	    "msExchRequireAuthToSendTo",
	    "TRUE",
	    "authOrig",
	    "CN=Alice,CN=Users,DC=Example,DC=com",
	    "dLMemRejectPerms",
	    "CN=Blocked,CN=Users,DC=Example,DC=com",
	    "mail",
	    "x@example.com",
	    NULL};
	static const char *const ldap[] = {
	    "dirmxUnauthOrig",
	    "uid=bob,ou=people,dc=example,dc=com",
	    "dirmxMemSubmitPerms",
	    "cn=staff,ou=groups,dc=example,dc=com",
	    "dirmxRequireAuthToSendTo",
	    "FALSE",
	    NULL};
	static const char *const none[] = {"mail", "x@example.com",
	                                   "msExchRequireAuthToSendTo", "FALSE",
	                                   NULL};
	static const char *const bad[] = {"msExchRequireAuthToSendTo", "yes",
	                                  NULL};
	struct restrict_rules r;
	struct fake f;
	const char *error = NULL;

	(void)state;
	fake_init(&f, ad);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), 1);
	assert_true(r.require_auth);
	assert_int_equal(r.auth_orig.n, 1);
	assert_string_equal(r.auth_orig.v[0],
	                    "cn=alice,cn=users,dc=example,dc=com");
	assert_int_equal(r.reject_perms.n, 1);
	assert_int_equal(r.unauth_orig.n + r.submit_perms.n, 0);
	restrict_rules_clear(&r);

	fake_init(&f, ldap);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), 1);
	assert_false(r.require_auth);
	assert_int_equal(r.unauth_orig.n, 1);
	assert_int_equal(r.submit_perms.n, 1);
	restrict_rules_clear(&r);

	fake_init(&f, none);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), 0);
	assert_false(restrict_rules_any(&r));

	fake_init(&f, bad);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), -1);
	assert_non_null(strstr(error, "TRUE or FALSE"));
}

static void test_recip_limit_read(void **state)
{
	static const struct {
		const char *attr, *value;
		int ret;
		unsigned limit;
	} cases[] = {
	    {"msExchRecipLimit", "50", 0, 50},
	    {"dirmxRecipLimit", "2", 0, 2},
	    {"msExchRecipLimit", "0", 0, 0},
	    {"msExchRecipLimit", "4294967295", 0, 4294967295u},
	    {"msExchRecipLimit", "4294967296", -1, 0},
	    {"msExchRecipLimit", "-1", -1, 0},
	    {"msExchRecipLimit", "12x", -1, 0},
	    {"msExchRecipLimit", "", -1, 0},
	    {"mail", "a@example.com", 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const pairs[] = {cases[i].attr, cases[i].value,
		                             NULL};
		struct fake f;
		unsigned limit = 99;

		fake_init(&f, pairs);
		assert_int_equal(restrict_recip_limit_read(&f.e, &limit),
		                 cases[i].ret);
		assert_int_equal(limit, cases[i].limit);
	}
}

static void test_cached_form(void **state)
{
	struct restrict_rules r = {.require_auth = true}, back;
	char *line, *again;

	(void)state;
	line = restrict_rules_format(&r);
	assert_string_equal(line, "a");
	free(line);
	dns_set(&r.auth_orig, "cn=a b,dc=x");
	dns_set(&r.reject_perms, "cn=100%:\xc3\xa9,dc=x");
	line = restrict_rules_format(&r);
	assert_string_equal(line,
	                    "a o:cn=a%20b,dc=x r:cn=100%25%3A%C3%A9,dc=x");
	assert_int_equal(restrict_rules_parse(line, &back), 0);
	again = restrict_rules_format(&back);
	assert_string_equal(line, again);
	assert_true(back.require_auth);
	assert_string_equal(back.reject_perms.v[0], "cn=100%:\xc3\xa9,dc=x");
	free(line);
	free(again);
	restrict_rules_clear(&back);
	restrict_rules_clear(&r);

	line = restrict_rules_format(&r);
	assert_string_equal(line, "");
	free(line);
	assert_int_equal(restrict_rules_parse("", &back), 0);
	assert_false(restrict_rules_any(&back));

	static const char *const bad[] = {
	    "a ",    "a a",   " o:x",   "o:x ",   "o:x  u:y", "x:dn",
	    "o:",    "o:a%2", "o:a%2g", "o:%41",  "o:%00",    "o:a%3a",
	    "o:a b", "oo:x",  "o:a:b",  "a\to:x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(restrict_rules_parse(bad[i], &back), -1);
	assert_int_equal(restrict_rules_parse("s:x u:y", &back), 0);
	assert_string_equal(back.submit_perms.v[0], "x");
	assert_string_equal(back.unauth_orig.v[0], "y");
	restrict_rules_clear(&back);
}

/* delivContLength: the recipient's limit, after the sender rules. */
static void test_size(void **state)
{
	static const char *const ad[] = {"delivContLength", "10", NULL};
	static const char *const ldap[] = {"dirmxMaxReceiveSize", "2048", NULL};
	static const char *const zero[] = {"delivContLength", "0", NULL};
	static const char *const bad[] = {"delivContLength", "-1", NULL};
	static const char *const send[] = {"submissionContLength", "5", NULL};
	static const char *const send_ldap[] = {"dirmxMaxSendSize", "7", NULL};
	struct restrict_rules r = {.max_kb = 10};
	struct fake f;
	const char *error = NULL;
	uint64_t kb;

	(void)state;
	assert_true(restrict_rules_any(&r));
	assert_int_equal(restrict_decide(&nobody, &r, 0), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&nobody, &r, 10240), RESTRICT_ALLOWED);
	assert_int_equal(restrict_decide(&nobody, &r, 10241), RESTRICT_SIZE);
	assert_int_equal(restrict_decide(&alice, &r, 10241), RESTRICT_SIZE);
	assert_string_equal(restrict_rule_attr(RESTRICT_SIZE),
	                    "delivContLength");
	/* A sender refused by name hears that, not the size. */
	r.require_auth = true;
	assert_int_equal(restrict_decide(&nobody, &r, 1 << 20),
	                 RESTRICT_REQUIRE_AUTH);
	r.require_auth = false;

	assert_false(restrict_size_over(0, UINT64_MAX));
	assert_false(restrict_size_over(1, 1024));
	assert_true(restrict_size_over(1, 1025));
	assert_false(restrict_size_over(UINT64_MAX, UINT64_MAX));

	fake_init(&f, ad);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), 1);
	assert_int_equal(r.max_kb, 10);
	fake_init(&f, ldap);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), 1);
	assert_int_equal(r.max_kb, 2048);
	fake_init(&f, zero);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), 0);
	fake_init(&f, bad);
	assert_int_equal(restrict_rules_read(&f.e, &r, &error), -1);
	assert_non_null(strstr(error, "size limit"));

	fake_init(&f, send);
	assert_int_equal(
	    restrict_size_read(&f.e, restrict_send_size_attrs(), &kb, &error),
	    1);
	assert_int_equal(kb, 5);
	fake_init(&f, send_ldap);
	assert_int_equal(
	    restrict_size_read(&f.e, restrict_send_size_attrs(), &kb, &error),
	    1);
	assert_int_equal(kb, 7);
	fake_init(&f, ad); /* the recipient's limit is not the sender's */
	assert_int_equal(
	    restrict_size_read(&f.e, restrict_send_size_attrs(), &kb, &error),
	    0);
	assert_int_equal(kb, 0);
}

static void test_size_cached_form(void **state)
{
	struct restrict_rules r = {.require_auth = true, .max_kb = 512}, back;
	char *line;

	(void)state;
	dns_set(&r.auth_orig, "cn=a,dc=x");
	line = restrict_rules_format(&r);
	assert_string_equal(line, "a o:cn=a,dc=x m:512");
	assert_int_equal(restrict_rules_parse(line, &back), 0);
	assert_int_equal(back.max_kb, 512);
	assert_true(back.require_auth);
	free(line);
	restrict_rules_clear(&back);
	restrict_rules_clear(&r);
	assert_int_equal(restrict_rules_parse("m:1", &back), 0);
	assert_int_equal(back.max_kb, 1);
	restrict_rules_clear(&back);

	static const char *const bad[] = {
	    "m:",
	    "m:0",
	    "m:01",
	    "m:1 m:2",
	    "m:1 o:x",
	    "m:1x",
	    "m:-1",
	    "m: 1",
	    "m:1 ",
	    "m:99999999999999999999",
	    "m:9007199254740992",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(restrict_rules_parse(bad[i], &back), -1);
}

/* A group's limit holds for every member; the smallest one on the way. */
static void test_path_limit(void **state)
{
	/* 1: group, 1000 KB; 2: nested group under 1, no limit but
	 * authOrig; 3: member under 2, 50 KB; 4: member under 1, 5000 KB. */
	static const struct restrict_node nodes[] = {
	    {0, true, "m:1000"},
	    {1, false, "o:x"},
	    {2, false, "m:50"},
	    {1, false, "m:5000"},
	};
	static const struct restrict_node bad[] = {{0, true, "m:0"}};
	static const struct restrict_node loop[] = {{1, true, "m:1"}};
	uint64_t kb = 7;

	(void)state;
	assert_int_equal(restrict_path_limit(nodes, 4, 0, &kb), 0);
	assert_int_equal(kb, 0);
	assert_int_equal(restrict_path_limit(nodes, 4, 1, &kb), 0);
	assert_int_equal(kb, 1000);
	assert_int_equal(restrict_path_limit(nodes, 4, 2, &kb), 0);
	assert_int_equal(kb, 1000);
	assert_int_equal(restrict_path_limit(nodes, 4, 3, &kb), 0);
	assert_int_equal(kb, 50);
	assert_int_equal(restrict_path_limit(nodes, 4, 4, &kb), 0);
	assert_int_equal(kb, 1000);
	assert_int_equal(restrict_path_limit(nodes, 4, 5, &kb), -1);
	assert_int_equal(restrict_path_limit(bad, 1, 1, &kb), -1);
	assert_int_equal(restrict_path_limit(loop, 1, 1, &kb), -1);
}

/* Where a group's reports go (restrict_report.c): read, cached form,
 * and the nearest group that says anything decides for a member. */
static void test_report_read(void **state)
{
	static const struct {
		const char *const pairs[7];
		enum restrict_report want;
		const char *owner;
		int ret;
	} cases[] = {
	    {{NULL}, RESTRICT_REPORT_INHERIT, NULL, 0},
	    {{"reportToOriginator", "TRUE", NULL},
	     RESTRICT_REPORT_ORIGINATOR,
	     NULL,
	     0},
	    {{"reportToOwner", "TRUE", "managedBy", "CN=Own,DC=x", NULL},
	     RESTRICT_REPORT_OWNER,
	     "CN=Own,DC=x",
	     0},
	    /* both: the owner (a copy has one envelope sender) */
	    {{"reportToOriginator", "TRUE", "reportToOwner", "TRUE", "owner",
	      "cn=o,dc=x", NULL},
	     RESTRICT_REPORT_OWNER,
	     "cn=o,dc=x",
	     0},
	    {{"dirmxReportToOriginator", "FALSE", "dirmxReportToOwner", "FALSE",
	      NULL},
	     RESTRICT_REPORT_NONE,
	     NULL,
	     0},
	    {{"reportToOriginator", "FALSE", NULL},
	     RESTRICT_REPORT_NONE,
	     NULL,
	     0},
	    {{"reportToOwner", "FALSE", NULL},
	     RESTRICT_REPORT_ORIGINATOR,
	     NULL,
	     0},
	    {{"reportToOwner", "yes", NULL}, RESTRICT_REPORT_INHERIT, NULL, -1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake f;
		struct restrict_rules r = {0};
		const char *owner, *error;

		fake_init(&f, cases[i].pairs);
		assert_int_equal(restrict_report_read(&f.e, &r, &owner, &error),
		                 cases[i].ret);
		if (cases[i].ret < 0)
			continue;
		assert_int_equal(r.report, cases[i].want);
		if (cases[i].owner == NULL)
			assert_null(owner);
		else
			assert_string_equal(owner, cases[i].owner);
		assert_int_equal(restrict_rules_any(&r),
		                 cases[i].want != RESTRICT_REPORT_INHERIT);
	}
}

static void test_report_cached_form(void **state)
{
	static const char *const good[] = {"p:o", "p:n", "p:w",
	                                   "a p:w w:o%20wn@x.test m:5"};
	static const char *const bad[] = {"p:x",     "p:?",     "p:o p:n",
	                                  "w:a@x",   "p:o w:a", "p:w w:a w:b",
	                                  "m:5 p:o", "p:w w:"};
	struct restrict_rules r = {0};
	char *line;

	(void)state;
	r.report = RESTRICT_REPORT_OWNER;
	r.report_to = strdup("o wn@x.test");
	r.max_kb = 5;
	r.require_auth = true;
	line = restrict_rules_format(&r);
	assert_string_equal(line, good[3]);
	free(line);
	restrict_rules_clear(&r);
	assert_null(r.report_to);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(restrict_rules_parse(good[i], &r), 0);
		line = restrict_rules_format(&r);
		assert_string_equal(line, good[i]);
		free(line);
		restrict_rules_clear(&r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(restrict_rules_parse(bad[i], &r), -1);
}

static void test_path_report(void **state)
{
	/* 1: group, reports to its owner; 2: nested group under 1 that
	 * says nothing (authOrig only); 3: nested under 2, nowhere; 4:
	 * under 1, to the sender; 5: group to an owner without address. */
	static const struct restrict_node nodes[] = {
	    {0, true, "p:w w:own@x.test"},
	    {1, false, "o:x"},
	    {2, false, "p:n"},
	    {1, false, "p:o"},
	    {0, true, "p:w"},
	};
	static const struct {
		unsigned path;
		const char *want;
	} cases[] = {{0, NULL}, {1, "own@x.test"}, {2, "own@x.test"},
	             {3, ""},   {4, NULL},         {5, NULL}};
	char *sender;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    restrict_path_report(nodes, 5, cases[i].path, &sender), 0);
		if (cases[i].want == NULL)
			assert_null(sender);
		else
			assert_string_equal(sender, cases[i].want);
		free(sender);
	}
	assert_int_equal(restrict_path_report(nodes, 5, 6, &sender), -1);
}

static void test_identity_unknown(void **state)
{
	struct restrict_sender s = {.authenticated = true,
	                            .identity_unknown = true};
	struct restrict_rules r = {.require_auth = true};

	(void)state;
	dns_set(&r.auth_orig, U_ALICE);
	/* Only what needs no identity is decided. */
	assert_int_equal(restrict_decide(&s, &r, 0), RESTRICT_ALLOWED);
	s.authenticated = false;
	assert_int_equal(restrict_decide(&s, &r, 0), RESTRICT_REQUIRE_AUTH);
	restrict_rules_clear(&r);
}

/* A group (top, auth only) with a nested group (only alice) holding a
 * member with its own rule (never bob), and a plain member. */
static void test_filter(void **state)
{
	static const struct restrict_node nodes[] = {
	    {0, true, "a"},
	    {1, false, "o:" U_ALICE},
	    {2, false, "u:" U_BOB},
	};
	static const unsigned paths[] = {1, 2, 3, 1};
	bool keep[4];
	enum restrict_rule rule;

	(void)state;
	assert_int_equal(
	    restrict_filter(&alice, nodes, 3, paths, 4, keep, &rule), 0);
	assert_int_equal(rule, RESTRICT_ALLOWED);
	assert_true(keep[0] && keep[1] && keep[2] && keep[3]);

	/* bob: the nested group and its member drop out, the rest stays */
	assert_int_equal(restrict_filter(&bob, nodes, 3, paths, 4, keep, &rule),
	                 0);
	assert_int_equal(rule, RESTRICT_ALLOWED);
	assert_true(keep[0] && !keep[1] && !keep[2] && keep[3]);

	/* nobody: the group itself refuses, nothing is delivered */
	assert_int_equal(
	    restrict_filter(&nobody, nodes, 3, paths, 4, keep, &rule), 0);
	assert_int_equal(rule, RESTRICT_REQUIRE_AUTH);
	assert_true(!keep[0] && !keep[1] && !keep[2] && !keep[3]);

	/* no rules at all */
	assert_int_equal(restrict_filter(&nobody, NULL, 0, (unsigned[]){0, 0},
	                                 2, keep, &rule),
	                 0);
	assert_int_equal(rule, RESTRICT_ALLOWED);
	assert_true(keep[0] && keep[1]);

	/* only a nested restriction, and every recipient behind it */
	static const struct restrict_node inner[] = {{0, false, "o:" U_ALICE}};
	assert_int_equal(
	    restrict_filter(&bob, inner, 1, (unsigned[]){1}, 1, keep, &rule),
	    0);
	assert_int_equal(rule, RESTRICT_ONLY_LISTED);

	/* malformed: a parent after its child, a path past the end, rules
	 * that do not parse */
	static const struct restrict_node loop[] = {{2, false, "a"},
	                                            {1, false, "a"}};
	static const struct restrict_node junk[] = {{0, true, "x:y"}};
	assert_int_equal(
	    restrict_filter(&alice, loop, 2, (unsigned[]){1}, 1, keep, &rule),
	    -1);
	assert_int_equal(
	    restrict_filter(&alice, nodes, 3, (unsigned[]){4}, 1, keep, &rule),
	    -1);
	assert_int_equal(
	    restrict_filter(&alice, junk, 1, (unsigned[]){1}, 1, keep, &rule),
	    -1);
}

static void test_attr_names(void **state)
{
	const char *const *names = restrict_attr_names();
	size_t n = 0;

	(void)state;
	while (names[n] != NULL)
		n++;
	assert_int_equal(n, 12);
	assert_string_equal(names[0], "msExchRequireAuthToSendTo");
	assert_string_equal(names[10], "delivContLength");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_require_auth),
	    cmocka_unit_test(test_auth_orig),
	    cmocka_unit_test(test_unauth_orig),
	    cmocka_unit_test(test_submit_perms),
	    cmocka_unit_test(test_reject_perms),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_recip_limit),
	    cmocka_unit_test(test_dn_key),
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_recip_limit_read),
	    cmocka_unit_test(test_cached_form),
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_size_cached_form),
	    cmocka_unit_test(test_path_limit),
	    cmocka_unit_test(test_report_read),
	    cmocka_unit_test(test_report_cached_form),
	    cmocka_unit_test(test_path_report),
	    cmocka_unit_test(test_identity_unknown),
	    cmocka_unit_test(test_filter),
	    cmocka_unit_test(test_attr_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
