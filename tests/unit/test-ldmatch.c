/*
 * test-ldmatch - filters decided against entries on authd's side (what
 * lets one search answer several address lookups): what it decides, and
 * everything it must leave to the server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ldfilter.h"
#include "ldmatch.h"

#define V(s)                                                                   \
	{                                                                      \
		s, sizeof(s) - 1                                               \
	}

/* uid=jdoe: mail, two proxyAddresses, a non-ASCII alias, a ranged read. */
static struct ldconn_value mail_v[] = {V("JDoe@Example.ORG")};
static struct ldconn_value proxy_v[] = {V("SMTP:jdoe@example.org"),
                                        V("smtp:j.doe@example.net")};
static struct ldconn_value oc_v[] = {V("top"), V("user")};
static struct ldconn_value utf8_v[] = {V("j\xc3\xbc@example.org")};
static struct ldconn_value member_v[] = {V("cn=a,dc=x")};
static struct ldconn_value star_v[] = {V("a*b@example.org")};
static struct ldconn_attr attrs[] = {
    {"mail", 1, mail_v},
    {"proxyAddresses", 2, proxy_v},
    {"objectClass", 2, oc_v},
    {"otherMailbox", 1, utf8_v},
    {"member;range=0-0", 1, member_v},
    {"mailLocalAddress", 1, star_v},
};
static const struct ldconn_entry jdoe = {"uid=jdoe,dc=x", 6, attrs};
static const struct ldconn_entry empty = {"cn=empty,dc=x", 0, NULL};

static void yes(const char *f)
{
	if (ldmatch_entry(f, &jdoe) != LDMATCH_YES)
		fail_msg("%s: not YES", f);
}

static void no(const char *f)
{
	if (ldmatch_entry(f, &jdoe) != LDMATCH_NO)
		fail_msg("%s: not NO", f);
}

static void unsure(const char *f)
{
	if (ldmatch_entry(f, &jdoe) != LDMATCH_UNSURE)
		fail_msg("%s: not UNSURE", f);
}

static void test_equality_is_ascii_case_insensitive(void **state)
{
	(void)state;
	yes("(mail=jdoe@example.org)");
	yes("(MAIL=JDOE@EXAMPLE.ORG)");
	no("(mail=jdoe@example.or)");
	no("(mail=jdoe@example.orgx)");
	no("(mail=other@example.org)");
	/* "smtp:" finds the primary "SMTP:" and the aliases alike */
	yes("(proxyAddresses=smtp:jdoe@example.org)");
	yes("(proxyAddresses=SMTP:J.DOE@example.net)");
	no("(proxyAddresses=jdoe@example.org)");
	/* an attribute the entry lacks is absent */
	no("(cn=jdoe)");
	assert_int_equal(ldmatch_entry("(mail=a@b)", &empty), LDMATCH_NO);
}

static void test_escapes_are_values(void **state)
{
	(void)state;
	/* \2a is a literal '*', not a substring */
	yes("(mailLocalAddress=a\\2ab@example.org)");
	yes("(mailLocalAddress=\\61\\2A\\62@example.org)");
	no("(mailLocalAddress=a\\2ac@example.org)");
}

static void test_presence_and_logic(void **state)
{
	(void)state;
	yes("(mail=*)");
	no("(cn=*)");
	yes("(|(mail=x@y)(proxyAddresses=smtp:jdoe@example.org))");
	no("(|(mail=x@y)(proxyAddresses=smtp:x@y))");
	yes("(&(objectClass=user)(mail=jdoe@example.org))");
	no("(&(objectClass=group)(mail=jdoe@example.org))");
	yes("(!(objectClass=group))");
	no("(!(objectClass=user))");
	yes("(&(objectClass=user)(!(|(cn=*)(mail=x@y))))");
	/* what cannot be decided decides nothing, unless the rest does */
	yes("(|(mail=jdoe*)(mail=jdoe@example.org))");
	unsure("(|(mail=jdoe*)(mail=x@y))");
	no("(&(mail=jdoe*)(mail=x@y))");
	unsure("(&(mail=jdoe*)(mail=jdoe@example.org))");
	unsure("(!(mail=jdoe*))");
}

static void test_what_the_server_must_decide(void **state)
{
	(void)state;
	unsure("(mail=jdoe*)");
	unsure("(mail=*@example.org)");
	unsure("(mail~=jdoe@example.org)");
	unsure("(mail>=a)");
	unsure("(mail<=z)");
	unsure("(mail:caseExactMatch:=jdoe@example.org)");
	unsure("(mail;lang-en=jdoe@example.org)");
	unsure("(mail=)");
	/* a non-ASCII assertion, and a non-ASCII value compared */
	unsure("(mail=j\\c3\\bc@example.org)");
	unsure("(otherMailbox=ju@example.org)");
	/* but a non-ASCII value beside a match does not matter */
	yes("(|(mail=jdoe@example.org)(otherMailbox=x@y))");
	/* an attribute read in ranges */
	unsure("(member=cn=a,dc=x)");
	/* a NUL in the value */
	unsure("(mail=a\\00b)");
}

static void test_malformed_is_unsure(void **state)
{
	static const char *const bad[] = {
	    "",
	    "mail=jdoe@example.org",
	    "(mail=jdoe@example.org",
	    "(mail=jdoe@example.org))",
	    "(mail=jdoe@example.org)(cn=x)",
	    "(|)",
	    "(&)",
	    "(=x)",
	    "(mail=a\\2)",
	    "(mail=a\\zz)",
	    "(mail=(x))",
	    "(|(mail=jdoe@example.org)",
	    "(!)",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		unsure(bad[i]);
	assert_int_equal(ldmatch_entry("(mail=x)", NULL), LDMATCH_UNSURE);
}

static void test_deep_nesting_is_bounded(void **state)
{
	char f[256];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 40; i++)
		f[n++] = '(', f[n++] = '!';
	n--; /* the last "(!" becomes "(" */
	strcpy(f + n, "mail=x@y");
	n += strlen("mail=x@y");
	for (int i = 0; i < 40; i++)
		f[n++] = ')';
	f[n] = '\0';
	unsure(f);
}

static void test_decidable(void **state)
{
	static const char *const ldap_attrs[] = {"mail", "mailLocalAddress",
	                                         "mailHost", NULL};
	static const char *const ad_attrs[] = {"mail", "proxyAddresses",
	                                       "objectClass", NULL};
	static const char *const none[] = {NULL};
	char *f;
	const char *error;

	(void)state;
	assert_true(ldmatch_decidable("(|(mail=a@b)(mailLocalAddress=a@b))",
	                              ldap_attrs));
	assert_false(ldmatch_decidable("(|(mail=a@b)(proxyAddresses=smtp:a@b))",
	                               ldap_attrs));
	assert_true(ldmatch_decidable("(|(mail=a@b)(proxyAddresses=smtp:a@b))",
	                              ad_attrs));
	assert_true(ldmatch_decidable(
	    "(&(objectClass=user)(!(mail=*))(PROXYADDRESSES=x))", ad_attrs));
	/* an '&' whose NO part would hide the rest */
	assert_false(ldmatch_decidable("(&(mail=a@b)(cn=a@b))", ldap_attrs));
	assert_false(ldmatch_decidable("(&(mail=a@b)(mail=a*))", ldap_attrs));
	assert_false(ldmatch_decidable("(mail=a@b)", none));
	assert_true(ldmatch_decidable("(mail=a@b)", NULL));
	assert_false(ldmatch_decidable("(mail=a@b", ldap_attrs));
	/* the presets' templates, expanded as authd does */
	assert_int_equal(ldfilter_expand("(|(mail=%s)(mailLocalAddress=%s))",
	                                 "u@example.org", 13, &f, &error),
	                 0);
	assert_true(ldmatch_decidable(f, ldap_attrs));
	free(f);
	assert_int_equal(ldfilter_expand("(|(mail=%u*)(uid=%u))",
	                                 "u@example.org", 13, &f, &error),
	                 0);
	assert_false(ldmatch_decidable(f, ldap_attrs));
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_equality_is_ascii_case_insensitive),
	    cmocka_unit_test(test_escapes_are_values),
	    cmocka_unit_test(test_presence_and_logic),
	    cmocka_unit_test(test_what_the_server_must_decide),
	    cmocka_unit_test(test_malformed_is_unsure),
	    cmocka_unit_test(test_deep_nesting_is_bounded),
	    cmocka_unit_test(test_decidable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
