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
	sbuf_consume(b, 5); /* drops "AUTH ": wiped, the rest stays put */
	assert_string_equal(sbuf_data(b), "PLAIN c2VjcmV0\n");
	assert_ptr_equal(sbuf_data(b), d + 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(d[i], 0);
	sbuf_reset(b);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(sbuf_data(b)[i], 0);
	/* growing (copy, wipe the old block) keeps every byte */
	for (int i = 0; i < 1000; i++)
		assert_true(sbuf_append_str(b, "0123456789"));
	assert_int_equal(sbuf_len(b), 10000);
	assert_memory_equal(sbuf_data(b) + 9990, "0123456789", 10);
	d = sbuf_data(b);
	sbuf_consume(b, 9995);
	assert_string_equal(sbuf_data(b), "56789");
	for (size_t i = 0; i < 9995; i++)
		assert_int_equal(d[i], 0);
	/* an append that needs the room in front moves the contents to the
	 * block's start (the block, 16 KiB, does not grow): the old copy is
	 * wiped */
	{
		static char x[7000];

		memset(x, 'x', sizeof(x));
		assert_true(sbuf_append(b, x, sizeof(x)));
	}
	assert_ptr_equal(sbuf_data(b), d);
	assert_memory_equal(sbuf_data(b), "56789xxxxx", 10);
	assert_int_equal(sbuf_len(b), 7005);
	for (size_t i = 9995; i < 9995 + 6; i++)
		assert_int_equal(d[i], 0);
	sbuf_deinit(&b);
}

/* Against a plain model: random appends, consumes and resets, in both
 * modes, with a small limit so that the room in front is needed. */
static void test_consume_model(void **state)
{
	(void)state;
	for (int secret = 0; secret < 2; secret++) {
		struct sbuf *b = secret ? sbuf_new_secret(300) : sbuf_new(300);
		char model[301];
		size_t mlen = 0;
		unsigned seed = 7;

		for (int step = 0; step < 20000; step++) {
			unsigned op;
			size_t n;

			seed = seed * 1103515245u + 12345u;
			op = (seed >> 16) % 10;
			n = (seed >> 4) % 97;
			if (op < 5) {
				char chunk[97];
				bool fits = mlen + n <= 300;

				for (size_t i = 0; i < n; i++)
					chunk[i] =
					    (char)('a' + (step + i) % 26);
				assert_int_equal(sbuf_append(b, chunk, n),
				                 fits);
				if (fits) {
					memcpy(model + mlen, chunk, n);
					mlen += n;
				}
			} else if (op < 9) {
				n = n > mlen ? mlen : n;
				sbuf_consume(b, n);
				memmove(model, model + n, mlen - n);
				mlen -= n;
			} else if (step % 7 == 0) {
				sbuf_reset(b);
				mlen = 0;
			}
			assert_int_equal(sbuf_len(b), mlen);
			assert_memory_equal(sbuf_data(b), model, mlen);
			assert_int_equal(sbuf_data(b)[mlen], '\0');
		}
		sbuf_deinit(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_and_text),
	    cmocka_unit_test(test_secret_wipes),
	    cmocka_unit_test(test_consume_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
