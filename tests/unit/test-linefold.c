/*
 * test-linefold - folding long lines with CR LF SP and dot-stuffing for
 * the next hop: short lines untouched, a line of exactly max not folded,
 * one octet more folded, the stuffing dot counted, a continuation never
 * stuffed, every split of the input giving the same output, and a 64 KiB
 * line folding back to the original.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linefold.h"
#include "sbuf.h"

struct lf_case {
	const char *name;
	const char *in;
	size_t max;
	bool stuff;
	const char *out;
	uint64_t folds;
};

static const struct lf_case cases[] = {
    {"short", "ab\r\ncd\r\n", 4, true, "ab\r\ncd\r\n", 0},
    {"exactly max", "abcd\r\n", 4, true, "abcd\r\n", 0},
    {"one more", "abcde\r\n", 4, true, "abcd\r\n e\r\n", 1},
    {"twice", "abcdefghij\r\n", 4, false, "abcd\r\n efg\r\n hij\r\n", 2},
    {"stuffed dot counts", ".bcd\r\n", 4, true, "..bc\r\n d\r\n", 1},
    {"no stuffing for BDAT", ".bcd\r\n", 4, false, ".bcd\r\n", 0},
    {"lone dot", ".\r\n", 4, true, "..\r\n", 0},
    {"dot at fold point", "abcd.efg\r\n", 4, true, "abcd\r\n .ef\r\n g\r\n", 2},
    {"dot mid-line", "a.b\r\n.\r\n", 4, true, "a.b\r\n..\r\n", 0},
    {"no folding", "abcdefgh\r\n.x\r\n", 0, true, "abcdefgh\r\n..x\r\n", 0},
    {"no line end", "abcdef", 4, true, "abcd\r\n ef", 1},
    {"empty", "", 4, true, "", 0},
    {"header", "Subject: 0123456789\r\n\r\nbody\r\n", 10, true,
     "Subject: 0\r\n 123456789\r\n\r\nbody\r\n", 1},
};

static void run(const struct lf_case *c, size_t step)
{
	struct linefold lf;
	struct sbuf *out = sbuf_new(SIZE_MAX);
	size_t len = strlen(c->in);

	linefold_init(&lf, c->max, c->stuff);
	for (size_t pos = 0; pos < len; pos += step) {
		size_t n = len - pos < step ? len - pos : step;

		assert_true(linefold_feed(&lf, c->in + pos, n, out));
	}
	if (sbuf_len(out) != strlen(c->out) ||
	    memcmp(sbuf_data(out), c->out, sbuf_len(out)) != 0)
		fail_msg("%s (step %zu): got \"%.*s\"", c->name, step,
		         (int)sbuf_len(out), sbuf_data(out));
	assert_int_equal(lf.folds, c->folds);
	sbuf_deinit(&out);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run(&cases[i], SIZE_MAX / 2);
		run(&cases[i], 1);
		run(&cases[i], 3);
	}
}

/* A 65536-octet line at the SMTP limit: lines <= 998, unfolds intact. */
static void test_long_line(void **state)
{
	const size_t n = 65536;
	char *line = malloc(n + 2), *back = malloc(2 * n);
	struct linefold lf;
	struct sbuf *out = sbuf_new(SIZE_MAX);
	const char *p, *end;
	size_t blen = 0;

	(void)state;
	assert_non_null(line);
	assert_non_null(back);
	for (size_t i = 0; i < n; i++)
		line[i] = (char)('a' + i % 26);
	line[0] = '.';
	memcpy(line + n, "\r\n", 2);
	linefold_init(&lf, LINEFOLD_SMTP_MAX, true);
	assert_true(linefold_feed(&lf, line, n + 2, out));
	p = sbuf_data(out);
	end = p + sbuf_len(out);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		assert_non_null(eol);
		assert_true(eol > p && eol[-1] == '\r');
		assert_true((size_t)(eol - 1 - p) <= LINEFOLD_SMTP_MAX);
		/* unfold: drop the continuation's SP, unstuff the dot */
		if (p == sbuf_data(out)) {
			assert_true(p[0] == '.' && p[1] == '.');
			memcpy(back, p + 1, (size_t)(eol - 1 - p - 1));
			blen = (size_t)(eol - 1 - p - 1);
		} else {
			assert_true(p[0] == ' ');
			memcpy(back + blen, p + 1, (size_t)(eol - 1 - p - 1));
			blen += (size_t)(eol - 1 - p - 1);
		}
		p = eol + 1;
	}
	assert_int_equal(blen, n);
	assert_memory_equal(back, line, n);
	sbuf_deinit(&out);
	free(line);
	free(back);
}

static void test_out_limit(void **state)
{
	struct linefold lf;
	struct sbuf *out = sbuf_new(6);

	(void)state;
	linefold_init(&lf, 4, true);
	assert_false(linefold_feed(&lf, "abcdefgh\r\n", 10, out));
	assert_true(sbuf_len(out) <= 6);
	sbuf_deinit(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_out_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
