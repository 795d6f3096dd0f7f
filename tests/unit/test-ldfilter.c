/*
 * test-ldfilter - RFC 4515 escaping, the strict filter checker, templates
 * and expansion, with the injection attempts invariant 6 is about.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldfilter.h"
#include "sbuf.h"
#include "str.h"

#define S(lit) lit, sizeof(lit) - 1

struct esc_case {
	const char *in;
	size_t len;
	const char *out;
};

static void test_escape(void **state)
{
	static const struct esc_case cases[] = {
	    {S("jdoe"), "jdoe"},
	    {S(""), ""},
	    {S("*"), "\\2a"},
	    {S("()"), "\\28\\29"},
	    {S("\\"), "\\5c"},
	    {S("a\0b"), "a\\00b"},
	    {S("*)(mail=*"), "\\2a\\29\\28mail=\\2a"},
	    {S("a\\2a@x"), "a\\5c2a@x"},
	    {S("j\xc3\xbcrgen"), "j\\c3\\bcrgen"},
	    {S("\n\r\t\x1f\x7f\xff"), "\\0a\\0d\\09\\1f\\7f\\ff"},
	    {S("100%@x!~=<>:&|"), "100%@x!~=<>:&|"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = ldfilter_escape_str(cases[i].in, cases[i].len);

		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void test_escape_all_bytes(void **state)
{
	unsigned char all[256];
	struct sbuf *out = sbuf_new(4096);
	const char *s;
	size_t n;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	assert_int_equal(ldfilter_escape(all, sizeof(all), out), 0);
	s = sbuf_data(out);
	n = sbuf_len(out);
	assert_true(str_is_printable_ascii(s, n));
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i] != '(' && s[i] != ')' && s[i] != '*');
		if (s[i] == '\\') {
			/* Always a complete escape. */
			assert_true(i + 2 < n);
			assert_non_null(strchr("0123456789abcdef", s[i + 1]));
			assert_non_null(strchr("0123456789abcdef", s[i + 2]));
			i += 2;
		}
	}
	sbuf_deinit(&out);

	/* Over the limit: -1 and nothing appended. */
	out = sbuf_new(7);
	assert_true(sbuf_append_str(out, "ab"));
	assert_int_equal(ldfilter_escape("**", 2, out), -1);
	assert_int_equal(sbuf_len(out), 2);
	assert_int_equal(ldfilter_escape("*", 1, out), 0);
	assert_string_equal(sbuf_data(out), "ab\\2a");
	sbuf_deinit(&out);
}

static const char *const good_filters[] = {
    "(cn=x)",
    "(cn=)",
    "(cn=*)",
    "(cn=a*)",
    "(cn=*a)",
    "(cn=*a*)",
    "(cn=a*b*c)",
    "(cn=a*b)",
    "(cn=*a*b*)",
    "(cn~=x)",
    "(cn>=5)",
    "(cn<=5)",
    "(&(a=b)(c=d))",
    "(|(a=b))",
    "(!(a=b))",
    "(&(|(a=b)(c=d))(!(e=*)))",
    "(cn:=x)",
    "(cn:dn:=x)",
    "(cn:DN:=x)",
    "(cn:caseExactMatch:=x)",
    "(cn:dn:2.5.13.5:=x)",
    "(:1.2.840.113556.1.4.803:=2)",
    "(:dn:2.4.6.8.10:=Dino)",
    "(userAccountControl:1.2.840.113556.1.4.803:=2)",
    "(2.5.4.3=x)",
    "(cn;lang-en=x)",
    "(cn;lang-en;binary=x)",
    "(o=Parens R Us \\28for all your parenthetical needs\\29)",
    "(cn=*\\2A*)",
    "(filename=C:\\5cMyFile)",
    "(bin=\\00\\00\\00\\04)",
    "(sn=Lu\\c4\\8di\\c4\\87)",
    "(sn=Lu\xc4\x8di\xc4\x87)",
    "(1.3.6.1.4.1.1466.0=\\04\\02\\48\\69)",
    "(proxyAddresses=smtp:a@b)",
    "(cn=100%)",
    "(cn=a b\t)",
    "(|(mail=a@b)(proxyAddresses=smtp:a@b)(mailLocalAddress=a@b))",
    "(0.0=x)",
};

static const char *const bad_filters[] = {
    "",
    "cn=x",
    "(cn=x",
    "(cn=x))",
    "((cn=x))",
    "(cn=x)(cn=y)",
    " (cn=x)",
    "(cn=x) ",
    "(=x)",
    "(cn)",
    "(cn~x)",
    "(cn>x)",
    "(cn x=y)",
    "(&)",
    "(|)",
    "(!)",
    "(!(a=b)(c=d))",
    "(&(a=b)c=d)",
    "(cn=a(b)",
    "(cn=a)b)",
    "(cn=\\2)",
    "(cn=\\zz)",
    "(cn=\\)",
    "(cn=\xc3)",
    "(cn=\xff)",
    "(cn=\xed\xa0\x80)",
    "(c_n=x)",
    "(1cn=x)",
    "(1.=x)",
    "(01.2=x)",
    "(1=x)",
    "(cn;=x)",
    "(-cn=x)",
    "(cn:=a*)",
    "(cn~=a*)",
    "(cn>=*)",
    "(cn=**)",
    "(cn=a**b)",
    "(:=x)",
    "(cn:x:y:=v)",
    "(cn:dn:a:b:=v)",
    "(cn:dn=x)",
    "(cn:=x",
    "(cn:1.2.:=x)",
};

static void test_validate(void **state)
{
	const char *error;

	for (size_t i = 0; i < sizeof(good_filters) / sizeof(*good_filters);
	     i++) {
		error = NULL;
		if (ldfilter_validate(good_filters[i], strlen(good_filters[i]),
		                      &error) < 0)
			fail_msg("%s: %s", good_filters[i], error);
	}
	for (size_t i = 0; i < sizeof(bad_filters) / sizeof(*bad_filters);
	     i++) {
		error = NULL;
		if (ldfilter_validate(bad_filters[i], strlen(bad_filters[i]),
		                      &error) == 0)
			fail_msg("accepted: %s", bad_filters[i]);
		assert_non_null(error);
		assert_true(str_is_printable_ascii(error, strlen(error)));
	}
	/* A NUL inside the value, and one after a good filter. */
	assert_int_equal(ldfilter_validate(S("(cn=a\0b)"), &error), -1);
	assert_int_equal(ldfilter_validate(S("(cn=a)\0"), &error), -1);
}

static char *nested(unsigned depth)
{
	size_t n = depth * 3 + 8;
	char *s = malloc(n), *p = s;

	assert_non_null(s);
	for (unsigned i = 1; i < depth; i++) {
		*p++ = '(';
		*p++ = '!';
	}
	memcpy(p, "(a=b)", 5);
	p += 5;
	for (unsigned i = 1; i < depth; i++)
		*p++ = ')';
	*p = '\0';
	return s;
}

static void test_validate_depth(void **state)
{
	char *ok = nested(LDFILTER_MAX_DEPTH);
	char *deep = nested(LDFILTER_MAX_DEPTH + 1);
	const char *error;

	assert_int_equal(ldfilter_validate(ok, strlen(ok), &error), 0);
	assert_int_equal(ldfilter_validate(deep, strlen(deep), &error), -1);
	assert_string_equal(error, "filter nested too deeply");
	free(ok);
	free(deep);
}

static void test_shape(void **state)
{
	static const char *const cases[][2] = {
	    {"(|(mail=a@b)(proxyAddresses=smtp:a@b))",
	     "(|(mail=?)(proxyAddresses=?))"},
	    {"(cn=*)", "(cn=*)"},
	    {"(cn=)", "(cn=)"},
	    {"(cn=a*b*)", "(cn=?*?*)"},
	    {"(cn=*\\2a)", "(cn=*?)"},
	    {"(!(cn>=\\c3\\a9))", "(!(cn>=?))"},
	    {"(cn:dn:1.2.3:=x)", "(cn:dn:1.2.3:=?)"},
	    {"(:rule:=)", "(:rule:=)"},
	    {"(cn;x-a~=v)", "(cn;x-a~=?)"},
	};
	const char *error;
	char *shape;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ldfilter_shape(cases[i][0],
		                                strlen(cases[i][0]), &shape,
		                                &error),
		                 0);
		assert_string_equal(shape, cases[i][1]);
		free(shape);
	}
	assert_int_equal(ldfilter_shape(S("(cn=x"), &shape, &error), -1);
	assert_null(shape);
}

static void test_template_check(void **state)
{
	static const char *const good[] = {
	    "(|(mail=%s)(proxyAddresses=smtp:%s))",
	    "(&(objectClass=user)(sAMAccountName=%u))",
	    "(mail=%u@%d)",
	    "(cn=100%%)",
	    "(objectClass=*)",
	    "(mail=*%s*)",
	    "(cn:dn:=%s)",
	    "(&(|(mail=%s)(mailLocalAddress=%s))(!(cn=%%%u%%)))",
	    "(mail=\\2a%s)",
	};
	static const struct {
		const char *tmpl;
		const char *error; /* NULL: any error */
	} bad[] = {
	    {NULL, "empty template"},
	    {"", "empty template"},
	    {"mail=%s", "template must start with '('"},
	    {" (mail=%s)", "template must start with '('"},
	    {"(mail=%s", "unbalanced parentheses in the template"},
	    {"(mail=%s))", "unbalanced parentheses in the template"},
	    {"()(mail=%s", "unbalanced parentheses in the template"},
	    {"(mail=%x)", "unknown %-directive in the template "
	                  "(only %s, %u, %d and %%)"},
	    {"(mail=%S)", NULL},
	    {"(mail=%s%)", NULL},
	    {"(mail=x)%", "'%' at the end of the template"},
	    {"(%s=x)", "a placeholder is outside an assertion value"},
	    {"(mail%s=x)", "a placeholder is outside an assertion value"},
	    {"(mail:%s:=x)", "a placeholder is outside an assertion value"},
	    {"(mail=\\%s)", "bad escape in an assertion value"},
	    {"(mail=\\4%s)", "bad escape in an assertion value"},
	    {"(|(mail=%s)%s)", NULL},
	    {"(&%s)", NULL},
	    {"(mail=%s) ", NULL},
	    {"(mail=%s)(uid=%u)", NULL},
	    {"(mail=x*%s**)", NULL},
	};
	const char *error;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		error = NULL;
		if (ldfilter_template_check(good[i], &error) < 0)
			fail_msg("%s: %s", good[i], error);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		if (ldfilter_template_check(bad[i].tmpl, &error) == 0)
			fail_msg("accepted: %s", bad[i].tmpl);
		assert_non_null(error);
		if (bad[i].error != NULL)
			assert_string_equal(error, bad[i].error);
	}
}

/* Expand, and prove the result valid and shaped like the template. */
static void expect_expand(const char *tmpl, const char *addr, size_t len,
                          const char *want)
{
	char *filter = NULL, *shape, *ref, *tshape;
	const char *error = NULL;

	if (ldfilter_expand(tmpl, addr, len, &filter, &error) < 0)
		fail_msg("%s: %s", tmpl, error);
	if (want != NULL)
		assert_string_equal(filter, want);
	assert_int_equal(ldfilter_validate(filter, strlen(filter), &error), 0);
	assert_int_equal(ldfilter_shape(filter, strlen(filter), &shape, &error),
	                 0);
	assert_int_equal(ldfilter_expand(tmpl, S("u@d"), &ref, &error), 0);
	assert_int_equal(ldfilter_shape(ref, strlen(ref), &tshape, &error), 0);
	assert_string_equal(shape, tshape);
	free(filter);
	free(shape);
	free(ref);
	free(tshape);
}

static void expect_expand_error(const char *tmpl, const char *addr, size_t len,
                                const char *want_error)
{
	char *filter = (char *)"untouched";
	const char *error = NULL;

	assert_int_equal(ldfilter_expand(tmpl, addr, len, &filter, &error), -1);
	assert_null(filter);
	assert_string_equal(error, want_error);
}

#define T_MAIL "(mail=%s)"
#define T_PROXY "(|(mail=%s)(proxyAddresses=smtp:%s))"
#define T_SPLIT "(&(uid=%u)(dc=%d))"

static void test_expand(void **state)
{
	expect_expand(T_MAIL, S("user@example.com"), "(mail=user@example.com)");
	expect_expand(T_PROXY, S("a@b"),
	              "(|(mail=a@b)(proxyAddresses=smtp:a@b))");
	expect_expand("(&(objectClass=user)(sAMAccountName=%u))",
	              S("jdoe@corp.example"),
	              "(&(objectClass=user)(sAMAccountName=jdoe))");
	expect_expand(T_SPLIT, S("a@b@c"), "(&(uid=a@b)(dc=c))");
	expect_expand(T_SPLIT, S("a@@b"), "(&(uid=a@)(dc=b))");
	expect_expand(T_MAIL, S("@@"), "(mail=@@)");
	expect_expand(T_MAIL, S("@"), "(mail=@)");
	expect_expand("(cn=100%%)", S("x"), "(cn=100%)");
	expect_expand("(cn=%%%s%%)", S("x"), "(cn=%x%)");
	expect_expand(T_MAIL, S("100%@x"), "(mail=100%@x)");
	expect_expand(T_MAIL, S("%s%u%d%%@x"), "(mail=%s%u%d%%@x)");
	expect_expand("(mail=*%s)", S("a"), "(mail=*a)");
	expect_expand("(mail=*%s*)", S("*"), "(mail=*\\2a*)");
	expect_expand("(cn:dn:=%u)", S("a:=b@c"), "(cn:dn:=a:=b)");

	/* Injection attempts: each stays one assertion value. */
	expect_expand(T_MAIL, S("*)(mail=*"), "(mail=\\2a\\29\\28mail=\\2a)");
	expect_expand(T_MAIL, S("a\\2a@x"), "(mail=a\\5c2a@x)");
	expect_expand(T_MAIL, S("*"), "(mail=\\2a)");
	expect_expand(T_MAIL, S(")(|(objectClass=*)"),
	              "(mail=\\29\\28|\\28objectClass=\\2a\\29)");
	expect_expand(T_PROXY, S("*)(objectClass=*))(|(a=*"), NULL);
	expect_expand(T_SPLIT, S("*)(uid=*@*)(dc=*"),
	              "(&(uid=\\2a\\29\\28uid=\\2a)(dc=\\2a\\29\\28dc=\\2a))");
	expect_expand(T_MAIL, S("a\0@x"), "(mail=a\\00@x)");
	expect_expand(T_SPLIT, S("\0@\0"), "(&(uid=\\00)(dc=\\00))");
	expect_expand(T_MAIL, S("\\"), "(mail=\\5c)");
	expect_expand(T_MAIL, S("a\r\n@x"), "(mail=a\\0d\\0a@x)");
	expect_expand(T_MAIL, S("j\xc3\xbcrgen@b\xc3\xbc.example"),
	              "(mail=j\\c3\\bcrgen@b\\c3\\bc.example)");
	/* Malformed UTF-8 is just bytes to escape. */
	expect_expand(T_MAIL, S("\xff\xfe@x"), "(mail=\\ff\\fe@x)");

	expect_expand_error(T_MAIL, S(""), "empty address");
	expect_expand_error(T_SPLIT, S("jdoe"), "address has no '@'");
	expect_expand_error("(dc=%d)", S("jdoe"), "address has no '@'");
	expect_expand_error(T_SPLIT, S("@x"), "empty local part");
	expect_expand_error(T_SPLIT, S("@@"), "empty domain");
	expect_expand_error(T_SPLIT, S("x@"), "empty domain");
	expect_expand_error("(mail=*%s)", S(""), "empty address");
	expect_expand_error("(mail=%s", S("x"),
	                    "unbalanced parentheses in the template");
	expect_expand_error("(%s=x)", S("x"),
	                    "a placeholder is outside an assertion value");
	expect_expand_error("(mail=%q)", S("x"),
	                    "unknown %-directive in the template "
	                    "(only %s, %u, %d and %%)");
}

static void test_expand_long(void **state)
{
	size_t n = 2000;
	char *addr = malloc(n + 3), *want, *filter;
	const char *error;

	assert_non_null(addr);
	/* A 2,000-character local part. */
	memset(addr, 'a', n);
	memcpy(addr + n, "@x", 3);
	want = malloc(n + 32);
	assert_non_null(want);
	snprintf(want, n + 32, "(uid=%.*s)", (int)n, addr);
	expect_expand("(uid=%u)", addr, n + 2, want);
	expect_expand("(|(mail=%s)(uid=%u)(dc=%d))", addr, n + 2, NULL);

	/* The same made of metacharacters: three bytes each. */
	memset(addr, '*', n);
	expect_expand("(|(mail=%s)(uid=%u))", addr, n + 2, NULL);
	assert_int_equal(
	    ldfilter_expand("(uid=%u)", addr, n + 2, &filter, &error), 0);
	assert_int_equal(strlen(filter), n * 3 + 6);
	free(filter);
	free(want);
	free(addr);

	/* Past LDFILTER_MAX_LEN: refused, not truncated. */
	n = LDFILTER_MAX_LEN / 3 + 1;
	addr = malloc(n);
	assert_non_null(addr);
	memset(addr, '(', n);
	expect_expand_error("(mail=%s)", addr, n, "filter too long");
	free(addr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_escape_all_bytes),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_validate_depth),
	    cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_template_check),
	    cmocka_unit_test(test_expand),
	    cmocka_unit_test(test_expand_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
