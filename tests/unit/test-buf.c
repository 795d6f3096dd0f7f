/*
 * test-buf - the bounded read cursor (and its big-endian stores) and the
 * limited string buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sbuf.h"

static void test_fetch_bounds(void **state)
{
	const unsigned char data[] = {0x12, 0x34, 0x56, 0x78, 0x9a};
	struct buf b;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	unsigned char out[8];

	buf_init(&b, data, sizeof(data));
	assert_true(buf_fetch_be16(&b, &u16));
	assert_int_equal(u16, 0x1234);
	assert_true(buf_fetch_le16(&b, &u16));
	assert_int_equal(u16, 0x7856);
	/* Only one byte left: 16- and 32-bit fetches fail and consume nothing.
	 */
	assert_false(buf_fetch_be16(&b, &u16));
	assert_false(buf_fetch_be32(&b, &u32));
	assert_false(buf_fetch_le32(&b, &u32));
	assert_false(buf_fetch_bytes(&b, out, 2));
	assert_false(buf_skip(&b, 2));
	assert_int_equal(buf_remaining(&b), 1);
	assert_true(buf_fetch_u8(&b, &u8));
	assert_int_equal(u8, 0x9a);
	assert_false(buf_fetch_u8(&b, &u8));
	assert_false(buf_peek_u8(&b, &u8));
	assert_false(buf_seek(&b, 6));
	assert_true(buf_seek(&b, 1));
	assert_true(buf_fetch_be32(&b, &u32));
	assert_int_equal(u32, 0x3456789a);
	assert_true(buf_seek(&b, 0));
	assert_true(buf_fetch_le32(&b, &u32));
	assert_int_equal(u32, 0x78563412);
}

static void test_be_store_and_fetch(void **state)
{
	unsigned char out[12] = {0};
	const unsigned char want[12] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x23,
	                                0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	struct buf b;
	uint32_t u32;
	uint64_t u64;

	buf_store_be32(out, 0xdeadbeef);
	buf_store_be64(out + 4, UINT64_C(0x0123456789abcdef));
	assert_memory_equal(out, want, sizeof(want));
	buf_init(&b, out, sizeof(out));
	assert_true(buf_fetch_be32(&b, &u32));
	assert_int_equal(u32, 0xdeadbeef);
	assert_true(buf_fetch_be64(&b, &u64));
	assert_true(u64 == UINT64_C(0x0123456789abcdef));
	/* Seven bytes are not a be64: nothing consumed. */
	buf_init(&b, out, 7);
	assert_false(buf_fetch_be64(&b, &u64));
	assert_int_equal(buf_remaining(&b), 7);
}

static void test_null_and_empty(void **state)
{
	struct buf b;
	uint8_t u8;
	const unsigned char *p;

	buf_init(&b, NULL, 10);
	assert_int_equal(buf_remaining(&b), 0);
	assert_false(buf_fetch_u8(&b, &u8));
	assert_int_equal(buf_fetch_until(&b, " ", &p), 0);
}

static void test_fetch_until_and_tag(void **state)
{
	const char s[] = "EHLO\0x host\r\n";
	struct buf b;
	const unsigned char *p;
	size_t n;

	buf_init(&b, s, sizeof(s) - 1);
	buf_tag(&b);
	/* An embedded NUL is data, never a stop character. */
	n = buf_fetch_until(&b, " \r", &p);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "EHLO\0x", 6);
	assert_int_equal(buf_tag_len(&b), 6);
	assert_true(buf_consume_char(&b, ' '));
	assert_false(buf_consume_char(&b, ' '));
	n = buf_fetch_until(&b, "\r", &p);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "host", 4);
	n = buf_fetch_until(&b, "z", &p);
	assert_int_equal(n, 2);
	assert_int_equal(buf_remaining(&b), 0);
}

static void test_fetch_uint(void **state)
{
	static const struct {
		const char *in;
		uint64_t max;
		bool ok;
		uint64_t v;
		size_t consumed;
	} cases[] = {
	    {"0", 10, true, 0, 1},
	    {"10", 10, true, 10, 2},
	    {"11", 10, false, 0, 0},
	    {"7", 5, false, 0, 0},
	    {"", 10, false, 0, 0},
	    {"-1", 10, false, 0, 0},
	    {"+1", 10, false, 0, 0},
	    {" 1", 10, false, 0, 0},
	    {"42abc", 100, true, 42, 2},
	    {"18446744073709551615", UINT64_MAX, true, UINT64_MAX, 20},
	    {"18446744073709551616", UINT64_MAX, false, 0, 0},
	    {"99999999999999999999999", UINT64_MAX, false, 0, 0},
	    {"65535", 65535, true, 65535, 5},
	    {"65536", 65535, false, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		uint64_t v = 12345;

		buf_init(&b, cases[i].in, strlen(cases[i].in));
		assert_int_equal(buf_fetch_uint(&b, cases[i].max, &v),
		                 cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(v, cases[i].v);
		else
			assert_int_equal(v, 12345);
		assert_int_equal(buf_pos(&b), cases[i].consumed);
	}
}

static void test_sbuf_limit(void **state)
{
	struct sbuf *b = sbuf_new(10);
	char *s;
	size_t n;

	assert_true(sbuf_append_str(b, "hello"));
	assert_true(sbuf_printf(b, "%d", 12345));
	assert_int_equal(sbuf_len(b), 10);
	assert_string_equal(sbuf_data(b), "hello12345");
	/* Past the limit: refused, buffer unchanged. */
	assert_false(sbuf_append(b, "x", 1));
	assert_false(sbuf_printf(b, "%s", "y"));
	assert_string_equal(sbuf_data(b), "hello12345");
	sbuf_consume(b, 5);
	assert_string_equal(sbuf_data(b), "12345");
	assert_true(sbuf_append(b, "\0z", 2));
	assert_int_equal(sbuf_len(b), 7);
	s = sbuf_steal(b, &n);
	assert_int_equal(n, 7);
	assert_memory_equal(s, "12345\0z", 7);
	free(s);
	assert_int_equal(sbuf_len(b), 0);
	sbuf_consume(b, 100);
	assert_int_equal(sbuf_len(b), 0);
	sbuf_deinit(&b);
	assert_null(b);
	sbuf_deinit(&b);
}

static void test_sbuf_grow(void **state)
{
	static const char big[(1 << 20) - 1000000 + 1];
	struct sbuf *b = sbuf_new(1 << 20);

	for (int i = 0; i < 100000; i++)
		assert_true(sbuf_append(b, "0123456789", 10));
	assert_int_equal(sbuf_len(b), 1000000);
	assert_false(sbuf_append(b, big, sizeof(big)));
	assert_int_equal(sbuf_len(b), 1000000);
	sbuf_reset(b);
	assert_string_equal(sbuf_data(b), "");
	sbuf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fetch_bounds),
	    cmocka_unit_test(test_be_store_and_fetch),
	    cmocka_unit_test(test_null_and_empty),
	    cmocka_unit_test(test_fetch_until_and_tag),
	    cmocka_unit_test(test_fetch_uint),
	    cmocka_unit_test(test_sbuf_limit),
	    cmocka_unit_test(test_sbuf_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
