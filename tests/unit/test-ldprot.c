/*
 * test-ldprot - the order of bind protections, what counts as the server
 * refusing one, their names, the LDAPS-to-plain URI and the memo.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldprot.h"

static void plan_is(bool tls, bool layered, int remembered, size_t n,
                    const enum ldprot *want)
{
	enum ldprot got[LDPROT_PLAN_MAX];

	assert_int_equal(ldprot_plan(tls, layered, remembered, got), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

static void test_plan(void **state)
{
	(void)state;
	/* GSSAPI with TLS: Windows' way first, then a layer inside TLS,
	 * then Samba's default (a layer on plain LDAP). */
	plan_is(true, true, -1, 3,
	        (enum ldprot[]){LDPROT_TLS, LDPROT_TLS_SEAL, LDPROT_SEAL});
	/* What worked last comes first; the others keep their order. */
	plan_is(true, true, LDPROT_SEAL, 3,
	        (enum ldprot[]){LDPROT_SEAL, LDPROT_TLS, LDPROT_TLS_SEAL});
	plan_is(true, true, LDPROT_TLS_SEAL, 3,
	        (enum ldprot[]){LDPROT_TLS_SEAL, LDPROT_TLS, LDPROT_SEAL});
	/* A memo from another configuration (CLEAR) changes nothing. */
	plan_is(true, true, LDPROT_CLEAR, 3,
	        (enum ldprot[]){LDPROT_TLS, LDPROT_TLS_SEAL, LDPROT_SEAL});
	/* GSSAPI without TLS: the layer, and nothing else, ever. */
	plan_is(false, true, -1, 1, (enum ldprot[]){LDPROT_SEAL});
	plan_is(false, true, LDPROT_TLS, 1, (enum ldprot[]){LDPROT_SEAL});
	/* No layer possible: what the configuration says. */
	plan_is(true, false, -1, 1, (enum ldprot[]){LDPROT_TLS});
	plan_is(false, false, LDPROT_SEAL, 1, (enum ldprot[]){LDPROT_CLEAR});
}

static void test_refused(void **state)
{
	(void)state;
	/* Samba's two answers, slapd's, and confidentialityRequired. */
	assert_true(
	    ldprot_refused(LDAP_STRONG_AUTH_REQUIRED,
	                   "SASL:[GSSAPI]: Sign or Seal are required."));
	assert_true(
	    ldprot_refused(LDAP_UNWILLING_TO_PERFORM,
	                   "SASL:[GSSAPI]: Sign or Seal are not allowed "
	                   "if TLS is used"));
	assert_true(ldprot_refused(LDAP_INAPPROPRIATE_AUTH,
	                           "SASL(-15): mechanism too weak for this "
	                           "user: mech GSSAPI is too weak"));
	assert_true(ldprot_refused(LDAP_CONFIDENTIALITY_REQUIRED, NULL));
	assert_true(ldprot_refused(LDAP_AUTH_UNKNOWN,
	                           "SASL(-15): mechanism too weak for this "
	                           "user: Unable to find a callback: 32775"));
	/* Credentials, Kerberos, the network, a missing plugin: no. */
	assert_false(ldprot_refused(LDAP_INVALID_CREDENTIALS, "52e"));
	assert_false(ldprot_refused(LDAP_LOCAL_ERROR,
	                            "SASL(-1): generic failure: GSSAPI Error: "
	                            "(Clock skew too great)"));
	assert_false(ldprot_refused(LDAP_SERVER_DOWN, NULL));
	assert_false(ldprot_refused(LDAP_AUTH_UNKNOWN,
	                            "SASL(-4): no mechanism available"));
	assert_false(ldprot_refused(LDAP_AUTH_UNKNOWN, NULL));
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(ldprot_name(LDPROT_TLS, false), "starttls");
	assert_string_equal(ldprot_name(LDPROT_TLS, true), "ldaps");
	assert_string_equal(ldprot_name(LDPROT_TLS_SEAL, false),
	                    "starttls+sasl-seal");
	assert_string_equal(ldprot_name(LDPROT_TLS_SEAL, true),
	                    "ldaps+sasl-seal");
	assert_string_equal(ldprot_name(LDPROT_SEAL, true), "sasl-seal");
	assert_string_equal(ldprot_name(LDPROT_CLEAR, false), "none");
}

static void plain_is(const char *uri, const char *want)
{
	char *got = ldprot_plain_uri(uri);

	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_plain_uri(void **state)
{
	(void)state;
	plain_is("ldaps://dc1.example.com:636", "ldap://dc1.example.com:389");
	plain_is("ldaps://dc1.example.com", "ldap://dc1.example.com:389");
	plain_is("LDAPS://dc1.example.com:636/", "ldap://dc1.example.com:389");
	plain_is("ldaps://gc.example.com:3269", "ldap://gc.example.com:3268");
	plain_is("ldaps://[2001:db8::1]:636", "ldap://[2001:db8::1]:389");
	plain_is("ldaps://[2001:db8::1]", "ldap://[2001:db8::1]:389");
	/* Another port: the plain one is unknown. */
	plain_is("ldaps://dc1.example.com:10636", NULL);
	/* Not LDAPS, or not a server URI. */
	plain_is("ldap://dc1.example.com:389", NULL);
	plain_is("ldaps://dc1.example.com:636/dc=x", NULL);
	plain_is("ldaps://:636", NULL);
	plain_is("ldaps://dc1:", NULL);
	plain_is("ldaps://dc1:99999", NULL);
	plain_is("ldaps://dc1:63x", NULL);
	plain_is("ldaps://[2001:db8::1", NULL);
	plain_is("ldaps://[::1]x", NULL);
}

static void test_memo(void **state)
{
	struct ldprot_memo *m = ldprot_memo_new();
	char uri[64];

	(void)state;
	assert_int_equal(ldprot_memo_get(NULL, "ldap://a"), -1);
	assert_int_equal(ldprot_memo_get(m, "ldap://a"), -1);
	ldprot_memo_set(m, "ldap://a", LDPROT_SEAL);
	ldprot_memo_set(m, "ldap://b", LDPROT_TLS);
	assert_int_equal(ldprot_memo_get(m, "ldap://a"), LDPROT_SEAL);
	assert_int_equal(ldprot_memo_get(m, "ldap://b"), LDPROT_TLS);
	ldprot_memo_set(m, "ldap://a", LDPROT_TLS_SEAL);
	assert_int_equal(ldprot_memo_get(m, "ldap://a"), LDPROT_TLS_SEAL);
	/* Bounded: past LDPROT_MEMO_MAX servers the oldest go. */
	for (int i = 0; i < LDPROT_MEMO_MAX; i++) {
		snprintf(uri, sizeof(uri), "ldap://dc%d", i);
		ldprot_memo_set(m, uri, LDPROT_TLS);
	}
	assert_int_equal(ldprot_memo_get(m, "ldap://a"), -1);
	assert_int_equal(ldprot_memo_get(m, "ldap://b"), -1);
	assert_int_equal(ldprot_memo_get(m, "ldap://dc255"), LDPROT_TLS);
	assert_int_equal(ldprot_memo_get(m, "ldap://dc2"), LDPROT_TLS);
	ldprot_memo_deinit(&m);
	assert_null(m);
	ldprot_memo_deinit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plan),  cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_names), cmocka_unit_test(test_plain_uri),
	    cmocka_unit_test(test_memo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
