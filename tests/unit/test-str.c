/*
 * test-str - ASCII case helpers and the UTF-8 checker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <locale.h>
#include <string.h>

#include "str.h"

static void test_case(void **state)
{
	char s[] = "HeLLo-\xc3\x89T\xc3\xa9 1Z";

	str_lower_ascii(s, strlen(s));
	/* Only ASCII letters change; the UTF-8 bytes are left alone. */
	assert_string_equal(s, "hello-\xc3\x89t\xc3\xa9 1z");
	assert_int_equal(str_to_lower_ascii('Q'), 'q');
	assert_int_equal(str_to_lower_ascii('@'), '@');
	assert_int_equal(str_to_lower_ascii('['), '[');
	assert_int_equal(str_to_lower_ascii(0xc9), 0xc9);
	assert_true(str_is_alpha_ascii('a'));
	assert_true(str_is_alpha_ascii('Z'));
	assert_false(str_is_alpha_ascii('0'));
	assert_false(str_is_alpha_ascii(0xe9));
	assert_true(str_is_digit_ascii('9'));
	assert_false(str_is_digit_ascii('a'));
}

static void test_eq_prefix(void **state)
{
	/* A Turkish locale must not change anything. */
	setlocale(LC_CTYPE, "tr_TR.UTF-8");
	assert_true(str_eq_case("MAIL", 4, "mail", 4));
	assert_true(str_eq_case("I", 1, "i", 1));
	assert_false(str_eq_case("MAIL", 4, "mai", 3));
	assert_false(str_eq_case("MAIL", 4, "MAIM", 4));
	assert_true(str_eq_case("", 0, "", 0));
	assert_true(str_eq_case("a\0b", 3, "A\0B", 3));
	assert_false(str_eq_case("a\0b", 3, "a\0c", 3));
	assert_false(str_eq_case("[", 1, "{", 1));
	assert_true(str_has_prefix_case("FROM:<a@b>", 10, "from:"));
	assert_false(str_has_prefix_case("FRO", 3, "from:"));
	assert_true(str_has_prefix_case("x", 1, ""));
	assert_false(str_has_prefix_case("TO:", 3, "from:"));
	setlocale(LC_CTYPE, "C");
}

static void test_printable(void **state)
{
	assert_true(str_is_printable_ascii("Hello, world ~", 14));
	assert_true(str_is_printable_ascii("", 0));
	assert_false(str_is_printable_ascii("a\tb", 3));
	assert_false(str_is_printable_ascii("a\0b", 3));
	assert_false(str_is_printable_ascii("a\x7f", 2));
	assert_false(str_is_printable_ascii("\xc3\xa9", 2));
	assert_false(str_is_printable_ascii("a\r\n", 3));
}

struct utf8_case {
	const char *s;
	size_t len;
	bool valid;
};

#define U(s, v)                                                                \
	{                                                                      \
		s, sizeof(s) - 1, v                                            \
	}

static void test_utf8(void **state)
{
	static const struct utf8_case cases[] = {
	    U("", true),
	    U("plain ascii", true),
	    U("\xc3\xa9", true),          /* U+00E9 */
	    U("\xe2\x82\xac", true),      /* U+20AC */
	    U("\xf0\x9f\x98\x80", true),  /* U+1F600 */
	    U("\xf4\x8f\xbf\xbf", true),  /* U+10FFFF */
	    U("\xed\x9f\xbf", true),      /* U+D7FF */
	    U("\xee\x80\x80", true),      /* U+E000 */
	    U("a\0b", true),              /* NUL is valid UTF-8 */
	    U("\xc0\xaf", false),         /* overlong '/' */
	    U("\xc1\xbf", false),         /* overlong */
	    U("\xe0\x80\xaf", false),     /* overlong */
	    U("\xe0\x9f\xbf", false),     /* overlong */
	    U("\xf0\x80\x80\xaf", false), /* overlong */
	    U("\xf0\x8f\xbf\xbf", false), /* overlong */
	    U("\xed\xa0\x80", false),     /* U+D800 surrogate */
	    U("\xed\xbf\xbf", false),     /* U+DFFF surrogate */
	    U("\xf4\x90\x80\x80", false), /* U+110000 */
	    U("\xf5\x80\x80\x80", false),
	    U("\xf8\x88\x80\x80\x80", false), /* 5-byte form */
	    U("\xff", false),
	    U("\x80", false),     /* lone continuation */
	    U("\xc3", false),     /* truncated */
	    U("\xe2\x82", false), /* truncated */
	    U("\xc3\x28", false), /* bad continuation */
	    U("\xe2\x28\xa1", false),
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (str_utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
			fail_msg("case %zu", i);
	}
}

static void test_utf8_next(void **state)
{
	struct buf b;
	uint32_t cp;

	buf_init(&b,
	         "\xe2\x82\xac"
	         "a\xc3",
	         5);
	assert_true(str_utf8_next(&b, &cp));
	assert_int_equal(cp, 0x20ac);
	assert_true(str_utf8_next(&b, &cp));
	assert_int_equal(cp, 'a');
	/* A truncated sequence consumes nothing. */
	assert_false(str_utf8_next(&b, &cp));
	assert_int_equal(buf_pos(&b), 4);
	buf_skip(&b, 1);
	assert_false(str_utf8_next(&b, &cp));
	buf_init(&b, "\xf0\x9f\x98\x80", 4);
	assert_true(str_utf8_next(&b, &cp));
	assert_int_equal(cp, 0x1f600);
	assert_int_equal(buf_remaining(&b), 0);
}

/* The one hex codec, in the three spellings formats ask for. */
static void test_hex(void **state)
{
	(void)state;
	assert_int_equal(str_hex_value('0', STR_HEX_ANY), 0);
	assert_int_equal(str_hex_value('f', STR_HEX_ANY), 15);
	assert_int_equal(str_hex_value('F', STR_HEX_ANY), 15);
	assert_int_equal(str_hex_value('F', STR_HEX_UPPER), 15);
	assert_int_equal(str_hex_value('f', STR_HEX_UPPER), -1);
	assert_int_equal(str_hex_value('a', STR_HEX_LOWER), 10);
	assert_int_equal(str_hex_value('A', STR_HEX_LOWER), -1);
	assert_int_equal(str_hex_value('g', STR_HEX_ANY), -1);
	assert_int_equal(str_hex_value('/', STR_HEX_ANY), -1);
	assert_int_equal(str_hex_value(':', STR_HEX_ANY), -1);
	assert_int_equal(str_hex_value(0x100 + '1', STR_HEX_ANY), -1);
	for (unsigned v = 0; v < 16; v++) {
		assert_int_equal(str_hex_value(str_hex_digit(v, STR_HEX_UPPER),
		                               STR_HEX_UPPER),
		                 (int)v);
		assert_int_equal(str_hex_value(str_hex_digit(v, STR_HEX_LOWER),
		                               STR_HEX_LOWER),
		                 (int)v);
	}
	assert_int_equal(str_hex_digit(0x1c, STR_HEX_ANY), 'C');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_case),      cmocka_unit_test(test_eq_prefix),
	    cmocka_unit_test(test_printable), cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_utf8_next), cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
