/*
 * test-intl - when a message needs SMTPUTF8 (RFC 6531 3.4) and U-label
 * domains to A-labels (IDNA2008 with UTS #46 non-transitional mapping):
 * ASCII untouched, conversion and its lowercase mapping, domains that can
 * never be valid, addresses with and without an ASCII form, and the
 * envelope verdict for sender, recipients and 8-bit headers; and the
 * terminal-safe form dirmxctl shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "intl.h"
#include "sbuf.h"

struct dom_case {
	const char *in;
	int rc;
	const char *out;
};

static const struct dom_case dom_cases[] = {
    {"example.com", 0, "example.com"},
    {"Example.COM.", 0, "Example.COM"}, /* ASCII: left to nexthop.c */
    {"xn--bcher-kva.example", 0, "xn--bcher-kva.example"},
    {"b\303\274cher.example", 1, "xn--bcher-kva.example"},
    {"B\303\234CHER.example.", 1, "xn--bcher-kva.example"},
    {"\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95", 1,
     "xn--fsqu00a.xn--0zwm56d"},
    /* non-transitional: sharp s stays (fa\xc3\x9f -> xn--fa-hia) */
    {"fa\xc3\x9f.example", 1, "xn--fa-hia.example"},
    {"\xff\xfe.example", -1, NULL},                  /* not UTF-8 */
    {"b\303\274cher..example", -1, NULL},            /* empty label */
    {"\xe2\x98\x83-\xe2\x80\x8d.example", -1, NULL}, /* ZWJ context */
    {"-b\303\274cher.example", -1, NULL},            /* leading '-' */
};

static void test_domains(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dom_cases) / sizeof(dom_cases[0]); i++) {
		const struct dom_case *c = &dom_cases[i];
		const char *error = NULL;
		char *out = NULL;
		int rc =
		    intl_domain_to_ascii(c->in, strlen(c->in), &out, &error);

		if (rc != c->rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, c->rc);
		if (c->out != NULL)
			assert_string_equal(out, c->out);
		else
			assert_non_null(error);
		free(out);
	}
}

/* A label of 64 octets in A-label form can never be looked up. */
static void test_too_long(void **state)
{
	char d[200], *out = NULL;
	const char *error = NULL;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 30; i++) {
		memcpy(d + n, "\xc3\xbc", 2); /* U+00FC */
		n += 2;
	}
	memcpy(d + n, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", 38);
	n += 38;
	d[n] = '\0';
	assert_int_equal(intl_domain_to_ascii(d, n, &out, &error), -1);
	assert_null(out);
	assert_non_null(error);
}

static void test_addresses(void **state)
{
	const char *error;
	char *out;

	(void)state;
	assert_int_equal(intl_addr_to_ascii("a@b.example", &out, &error), 0);
	assert_string_equal(out, "a@b.example");
	free(out);
	assert_int_equal(intl_addr_to_ascii("", &out, &error), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(
	    intl_addr_to_ascii("Anna@b\303\274cher.example", &out, &error), 1);
	assert_string_equal(out, "Anna@xn--bcher-kva.example");
	free(out);
	assert_int_equal(
	    intl_addr_to_ascii("j\xc3\xb6rg@example.org", &out, &error), -1);
	assert_null(out);
	assert_int_equal(intl_addr_to_ascii("x@\xff.example", &out, &error),
	                 -1);
	assert_false(intl_addr_needs_utf8("a@b.example"));
	assert_false(intl_addr_needs_utf8("a@b\303\274cher.example"));
	assert_true(intl_addr_needs_utf8("j\xc3\xb6rg@example.org"));
	assert_true(intl_addr_needs_utf8("a@\xff.example"));
	assert_true(intl_is_ascii("plain@ascii"));
	assert_false(intl_is_ascii("b\xc3\xbc"));
}

static void test_need(void **state)
{
	const char *ascii[] = {"bob@example.com", "bob@b\303\274cher.example",
	                       "bob@\xff.example"};
	const char *mixed[] = {"bob@example.com", "j\xc3\xb6rg@example.com"};

	(void)state;
	/* the message: RFC 6532 headers, or a sender with no ASCII form;
	 * an 8-bit body alone does not count (the caller passes only the
	 * header section's flag) */
	assert_false(intl_msg_needs_utf8("alice@example.org", false));
	assert_true(intl_msg_needs_utf8("alice@example.org", true));
	assert_true(intl_msg_needs_utf8("j\xc3\xb6rg@example.org", false));
	assert_false(intl_msg_needs_utf8("a@b\303\274cher.example", false));
	assert_false(intl_msg_needs_utf8("", false));
	assert_false(intl_msg_needs_utf8(NULL, false));
	/* a transaction's recipients: a U-label domain has an ASCII form,
	 * a hopeless domain bounces on its own, a UTF-8 local part needs it */
	assert_false(intl_rcpts_need_utf8(ascii, 3));
	assert_true(intl_rcpts_need_utf8(mixed, 2));
	assert_false(intl_rcpts_need_utf8(mixed, 1));
	assert_false(intl_rcpts_need_utf8(NULL, 0));
}

static void test_printable(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"plain@example.org", "plain@example.org"},
	    {"j\xc3\xb6rg@b\303\274cher.example",
	     "j\xc3\xb6rg@b\303\274cher.example"},
	    {"\xe4\xbe\x8b@x", "\xe4\xbe\x8b@x"},
	    {"a\r\nb\\", "a\\x0d\\x0ab\\x5c"},
	    {"bad\xc3", "bad\\xc3"},
	    {"\xc0\xaf", "\\xc0\\xaf"}, /* overlong */
	    {"\xc2\x85", "\\xc2\\x85"}, /* C1 NEL */
	    {"a\xe2\x80\xae"
	     "b",
	     "a\\xe2\\x80\\xaeb"}, /* RLO */
	    {"\x7f", "\\x7f"},
	    {"", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbuf *out = sbuf_new(4096);

		intl_put_printable(out, cases[i].in);
		assert_true(sbuf_append(out, "", 1));
		assert_string_equal(sbuf_data(out), cases[i].out);
		sbuf_deinit(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domains),   cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_addresses), cmocka_unit_test(test_need),
	    cmocka_unit_test(test_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
