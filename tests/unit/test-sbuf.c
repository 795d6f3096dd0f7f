/*
 * test-sbuf - the bounded buffer, and its secret mode: what a consume
 * drops or moves is wiped (the bytes past the new end are zero), a reset
 * wipes, growing keeps the contents, the limit holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sbuf.h"

static void test_limit_and_text(void **state)
{
	struct sbuf *b = sbuf_new(8);

	(void)state;
	assert_true(sbuf_append_str(b, "abcd"));
	assert_true(sbuf_printf(b, "%d", 123));
	assert_string_equal(sbuf_data(b), "abcd123");
	assert_false(sbuf_append_str(b, "xy")); /* 9 > 8 */
	assert_string_equal(sbuf_data(b), "abcd123");
	sbuf_consume(b, 2);
	assert_string_equal(sbuf_data(b), "cd123");
	sbuf_consume(b, 100);
	assert_int_equal(sbuf_len(b), 0);
	sbuf_deinit(&b);
	assert_null(b);
}

static void test_secret_wipes(void **state)
{
	struct sbuf *b = sbuf_new_secret(1 << 20);
	const char *d;

	(void)state;
	assert_true(sbuf_append_str(b, "AUTH PLAIN c2VjcmV0\n"));
	d = sbuf_data(b);
	sbuf_consume(b, 5); /* moves "PLAIN ...": its old tail is wiped */
	assert_string_equal(sbuf_data(b), "PLAIN c2VjcmV0\n");
	for (size_t i = sbuf_len(b); i < 20; i++)
		assert_int_equal(d[i], 0);
	sbuf_reset(b);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(sbuf_data(b)[i], 0);
	/* growing (copy, wipe the old block) keeps every byte */
	for (int i = 0; i < 1000; i++)
		assert_true(sbuf_append_str(b, "0123456789"));
	assert_int_equal(sbuf_len(b), 10000);
	assert_memory_equal(sbuf_data(b) + 9990, "0123456789", 10);
	sbuf_consume(b, 9995);
	assert_string_equal(sbuf_data(b), "56789");
	for (size_t i = 5; i < 10000; i++)
		assert_int_equal(sbuf_data(b)[i], 0);
	sbuf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_and_text),
	    cmocka_unit_test(test_secret_wipes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
