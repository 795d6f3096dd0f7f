/*
 * test-smtpc-xtext - the DSN parameters' encoders of the SMTP client
 * (smtpc_xtext.c): RFC 3461 xtext for ENVID= and ORCPT=rfc822;, RFC 6533
 * utf-8-addr-xtext for ORCPT=utf-8; when the session has SMTPUTF8. Every
 * octet that could end the parameter (space, "=", "+", a control) is
 * encoded; nothing else is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "sbuf.h"
#include "smtpc_private.h"

static void xtext_is(const char *in, bool utf8, const char *want)
{
	struct sbuf *out = sbuf_new(4096);

	assert_true(sbuf_append_str(out, "X="));
	smtpc_xtext(out, in, utf8);
	assert_string_equal(sbuf_data(out) + 2, want);
	sbuf_deinit(&out);
}

static void test_xtext(void **state)
{
	(void)state;
	xtext_is("", false, "");
	xtext_is("QQ314159", false, "QQ314159");
	xtext_is("a b=c+d", false, "a+20b+3Dc+2Bd");
	xtext_is("x\r\ny\t\x7f", false, "x+0D+0Ay+09+7F");
	xtext_is("j\xc3\xb6rg@example", false, "j+C3+B6rg@example");
	xtext_is("!~\\<>", false, "!~\\<>");
}

static void test_utf8_addr_xtext(void **state)
{
	(void)state;
	xtext_is("j\xc3\xb6rg@b\xc3\xbc"
	         "cher.example",
	         true,
	         "j\xc3\xb6rg@b\xc3\xbc"
	         "cher.example");
	xtext_is("a b=c+d\\e", true, "a\\x{20}b\\x{3D}c\\x{2B}d\\x{5C}e");
	xtext_is("\r\n\x7f", true, "\\x{0D}\\x{0A}\\x{7F}");
	xtext_is("plain@x.test", true, "plain@x.test");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xtext),
	    cmocka_unit_test(test_utf8_addr_xtext),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
