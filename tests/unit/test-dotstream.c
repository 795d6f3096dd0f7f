/*
 * test-dotstream - DATA end detection, dot-unstuffing, SMTP smuggling
 * variants, bare CR / LF normalisation, limits, Received counting and BDAT.
 *
 * Every case runs three ways - in one call, one byte at a time and in
 * random chunk sizes (seeded PRNG) - and all three must give the same
 * output, return value, consumed count and statistics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dotstream.h"
#include "sbuf.h"

struct ds_case {
	const char *name;
	const char *in;
	size_t len;
	bool bdat;
	uint64_t max_size;
	size_t max_line;
	int rc;      /* DATA: 1 end seen, 0 more needed */
	size_t tail; /* DATA: octets left after the end (pipelined) */
	const char *out;
	size_t out_len;
	uint64_t bare_lf, bare_cr, nul;
	bool too_big, line_too_long, eol_added;
	unsigned received;
	bool headers_seen;
	uint64_t header_bytes;
	const char *msgid; /* NULL: "" */
};

#define IN(s) .in = s, .len = sizeof(s) - 1
#define OUT(s) .out = s, .out_len = sizeof(s) - 1

static const struct ds_case cases[] = {
    {"plain", IN("Subject: x\r\n\r\nhello\r\n.\r\n"), .rc = 1,
     OUT("Subject: x\r\n\r\nhello\r\n"), .headers_seen = true,
     .header_bytes = 12},
    {"message-id",
     IN("From: a\r\nMessage-ID:  <x1@y.example> \r\n"
        "message-id: <second@y>\r\n\r\nMessage-ID: <body@y>\r\n.\r\n"),
     .rc = 1,
     OUT("From: a\r\nMessage-ID:  <x1@y.example> \r\n"
         "message-id: <second@y>\r\n\r\nMessage-ID: <body@y>\r\n"),
     .headers_seen = true, .header_bytes = 63, .msgid = "<x1@y.example>"},
    {"message-id folded", IN("Message-Id:\r\n <f@y>\r\nX: 1\r\n\r\n.\r\n"),
     .rc = 1, OUT("Message-Id:\r\n <f@y>\r\nX: 1\r\n\r\n"),
     .headers_seen = true, .header_bytes = 27, .msgid = "<f@y>"},
    {"message-ids not", IN("Message-IDs: <a@b>\r\nMessage: x\r\n\r\n.\r\n"),
     .rc = 1, OUT("Message-IDs: <a@b>\r\nMessage: x\r\n\r\n"),
     .headers_seen = true, .header_bytes = 32},
    {"pipelined", IN("a\r\n.\r\nQUIT\r\n"), .rc = 1, .tail = 6, OUT("a\r\n")},
    {"empty", IN(".\r\n"), .rc = 1, OUT("")},
    {"empty+pipelined", IN(".\r\nMAIL FROM:<a@b>\r\n"), .rc = 1, .tail = 17,
     OUT("")},
    {"incomplete", IN("abc\r\n"), .rc = 0, OUT("abc\r\n")},
    {"nothing", IN(""), .rc = 0, OUT("")},
    {"half end", IN("abc\r\n.\r"), .rc = 0, OUT("abc\r\n")},
    {"dot-stuffing", IN("..x\r\n..\r\n.y\r\n...\r\n.\r\n"), .rc = 1,
     OUT(".x\r\n.\r\ny\r\n..\r\n")},
    {"dot mid-line", IN("a.b\r\na.\r\n.\r\n"), .rc = 1, OUT("a.b\r\na.\r\n")},
    /* The smuggling variants: content, never an end. */
    {"smuggle \\n.\\n", IN("a\n.\nMAIL FROM:<x@y>\r\n.\r\n"), .rc = 1,
     OUT("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), .bare_lf = 2},
    {"smuggle \\r.\\r", IN("a\r.\rMAIL FROM:<x@y>\r\n.\r\n"), .rc = 1,
     OUT("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), .bare_cr = 2},
    {"smuggle \\n.\\r\\n", IN("a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n"), .rc = 1,
     OUT("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), .bare_lf = 1},
    {"smuggle \\r\\n.\\n", IN("a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n"), .rc = 1,
     OUT("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), .bare_lf = 1},
    {"smuggle \\r\\n.\\r", IN("a\r\n.\rMAIL FROM:<x@y>\r\n.\r\n"), .rc = 1,
     OUT("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), .bare_cr = 1},
    {"smuggle \\r.\\r\\n", IN("a\r.\r\nMAIL\r\n.\r\n"), .rc = 1,
     OUT("a\r\n.\r\nMAIL\r\n"), .bare_cr = 1},
    {"smuggle \\r\\n.\\r\\r\\n", IN("a\r\n.\r\r\nMAIL\r\n.\r\n"), .rc = 1,
     OUT("a\r\n.\r\n\r\nMAIL\r\n"), .bare_cr = 1},
    {"smuggle at start \\n.\\r\\n", IN("\n.\r\nRSET\r\n.\r\n"), .rc = 1,
     OUT("\r\n.\r\nRSET\r\n"), .bare_lf = 1},
    {"smuggle first line .\\n", IN(".\nRSET\r\n.\r\n"), .rc = 1,
     OUT(".\r\nRSET\r\n"), .bare_lf = 1},
    {"smuggle first line .\\r", IN(".\rRSET\r\n.\r\n"), .rc = 1,
     OUT(".\r\nRSET\r\n"), .bare_cr = 1},
    {"smuggle, no end", IN("a\r\n.\nMAIL FROM:<x@y>\r\n"), .rc = 0,
     OUT("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), .bare_lf = 1},
    {"smuggle \\n.\\n at the end", IN("a\n.\n"), .rc = 0, OUT("a\r\n.\r\n"),
     .bare_lf = 2},
    {"bare CR then CRLF", IN("x\r\r\n.\r\n"), .rc = 1, OUT("x\r\n\r\n"),
     .bare_cr = 1},
    {"CR CR", IN("x\r\ry\r\n.\r\n"), .rc = 1, OUT("x\r\n\r\ny\r\n"),
     .bare_cr = 2},
    {"LF LF", IN("x\n\ny\r\n.\r\n"), .rc = 1, OUT("x\r\n\r\ny\r\n"),
     .bare_lf = 2},
    {"LF CR", IN("x\n\ry\r\n.\r\n"), .rc = 1, OUT("x\r\n\r\ny\r\n"),
     .bare_lf = 1, .bare_cr = 1},
    /* Limits. */
    {"too big", IN("0123456789abc\r\n.\r\n"), .max_size = 10, .rc = 1,
     OUT("0123456789"), .too_big = true},
    {"at the size limit", IN("0123456789\r\n.\r\n"), .max_size = 12, .rc = 1,
     OUT("0123456789\r\n")},
    {"one over", IN("0123456789\r\n.\r\n"), .max_size = 11, .rc = 1,
     OUT("0123456789\r"), .too_big = true},
    {"too big, then pipelined", IN("abcdef\r\n.\r\nQUIT\r\n"), .max_size = 2,
     .rc = 1, .tail = 6, OUT("ab"), .too_big = true},
    {"line at the limit", IN("12345\r\n..345\r\n.\r\n"), .max_line = 5, .rc = 1,
     OUT("12345\r\n.345\r\n")},
    {"line too long", IN("12345\r\n123456\r\n.\r\n"), .max_line = 5, .rc = 1,
     OUT("12345\r\n123456\r\n"), .line_too_long = true},
    {"stuffed line too long", IN("..3456\r\n.\r\n"), .max_line = 5, .rc = 1,
     OUT(".3456\r\n"), .line_too_long = true},
    {"bare LF splits lines", IN("123\n456\r\n.\r\n"), .max_line = 5, .rc = 1,
     OUT("123\r\n456\r\n"), .bare_lf = 1},
    {"NUL kept", IN("a\0b\r\n.\r\n"), .rc = 1, OUT("a\0b\r\n"), .nul = 1},
    /* Received counting. */
    {"received",
     IN("Received: from a\r\n\tby b\r\nRECEIVED : x\r\n"
        "Subject: y\r\n\r\nReceived: body\r\n.\r\n"),
     .rc = 1,
     OUT("Received: from a\r\n\tby b\r\nRECEIVED : x\r\nSubject: y\r\n"
         "\r\nReceived: body\r\n"),
     .received = 2, .headers_seen = true, .header_bytes = 51},
    {"not received",
     IN("Received-SPF: pass\r\nX-Received: a\r\n"
        "Receive: b\r\nReceivedx: c\r\n\r\n.\r\n"),
     .rc = 1,
     OUT("Received-SPF: pass\r\nX-Received: a\r\nReceive: b\r\n"
         "Receivedx: c\r\n\r\n"),
     .headers_seen = true, .header_bytes = 61},
    {"no header section", IN("hello world\r\nReceived: x\r\n.\r\n"), .rc = 1,
     OUT("hello world\r\nReceived: x\r\n")},
    {"empty line first", IN("\r\nReceived: x\r\n.\r\n"), .rc = 1,
     OUT("\r\nReceived: x\r\n")},
    {"continuation first", IN(" x: y\r\nReceived: x\r\n.\r\n"), .rc = 1,
     OUT(" x: y\r\nReceived: x\r\n")},
    {"received after bare LF", IN("Received: a\nreceived: b\r\n\r\n.\r\n"),
     .rc = 1, OUT("Received: a\r\nreceived: b\r\n\r\n"), .bare_lf = 1,
     .received = 2, .headers_seen = true, .header_bytes = 26},
    {"header section ends at a non-field",
     IN("Received: a\r\nnot a header\r\nReceived: b\r\n.\r\n"), .rc = 1,
     OUT("Received: a\r\nnot a header\r\nReceived: b\r\n"), .received = 1,
     .headers_seen = true, .header_bytes = 13},
    {"stuffed header", IN("..Received: x\r\n.Received: y\r\n.\r\n"), .rc = 1,
     OUT(".Received: x\r\nReceived: y\r\n"), .received = 1,
     .headers_seen = true, .header_bytes = 27},
    {"headers only", IN("Received: a\r\nReceived: b\r\n.\r\n"), .rc = 1,
     OUT("Received: a\r\nReceived: b\r\n"), .received = 2, .headers_seen = true,
     .header_bytes = 26},
    /* BDAT: no dots, no end; the same normalisation. */
    {"bdat", IN("a\nb\rc\r\n"), .bdat = true, OUT("a\r\nb\r\nc\r\n"),
     .bare_lf = 1, .bare_cr = 1},
    {"bdat dots", IN(".\r\n..x\r\n.\r\n"), .bdat = true,
     OUT(".\r\n..x\r\n.\r\n")},
    {"bdat trailing CR", IN("abc\r"), .bdat = true, OUT("abc\r\n"),
     .bare_cr = 1},
    {"bdat unterminated", IN("abc"), .bdat = true, OUT("abc\r\n"),
     .eol_added = true},
    {"bdat empty", IN(""), .bdat = true, OUT("")},
    {"bdat limits", IN("Received: a\r\n1234567\r\n"), .bdat = true,
     .max_size = 20, .max_line = 6, OUT("Received: a\r\n1234567"),
     .too_big = true, .line_too_long = true, .received = 1,
     .headers_seen = true, .header_bytes = 13},
};

struct result {
	int rc;
	size_t consumed;
	struct sbuf *out;
	struct dotstream_stats st;
};

static uint64_t rng;

static uint64_t rng_next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/* chunk 0: all at once; 1: byte by byte; else random sizes. */
static void run(const struct ds_case *t, const char *in, size_t len,
                unsigned chunk, struct result *r)
{
	struct dotstream *ds =
	    t->bdat ? dotstream_new_bdat(t->max_size, t->max_line)
	            : dotstream_new(t->max_size, t->max_line);
	size_t pos = 0;

	r->out = sbuf_new(1 << 20);
	r->rc = 0;
	r->consumed = 0;
	while (pos < len || len == 0) {
		size_t n = len - pos, used = 0;

		if (chunk == 1 && n > 1)
			n = 1;
		else if (chunk > 1 && n > 0)
			n = 1 + rng_next() % (n < 40 ? n : 40);
		if (t->bdat) {
			dotstream_bdat_feed(ds, in + pos, n, r->out);
			used = n;
		} else {
			r->rc = dotstream_feed(ds, in + pos, n, &used, r->out);
			assert_true(used <= n);
			assert_true(r->rc == 1 || used == n);
		}
		pos += used;
		r->consumed += used;
		if (r->rc == 1 || len == 0)
			break;
	}
	if (t->bdat) {
		dotstream_bdat_finish(ds, r->out);
		assert_true(dotstream_done(ds));
	} else if (r->rc == 1) {
		size_t used = 99;

		/* After the end: nothing more is consumed. */
		assert_int_equal(dotstream_feed(ds, "x", 1, &used, r->out), 1);
		assert_int_equal(used, 0);
	}
	dotstream_stats(ds, &r->st);
	assert_int_equal(dotstream_received_count(ds), r->st.received);
	dotstream_deinit(&ds);
	assert_null(ds);
}

static void same_stats(const struct dotstream_stats *a,
                       const struct dotstream_stats *b)
{
	assert_true(a->size == b->size);
	assert_true(a->bare_lf == b->bare_lf && a->bare_cr == b->bare_cr);
	assert_true(a->nul_bytes == b->nul_bytes && a->lines == b->lines);
	assert_true(a->longest_line == b->longest_line);
	assert_int_equal(a->too_big, b->too_big);
	assert_int_equal(a->line_too_long, b->line_too_long);
	assert_int_equal(a->final_eol_added, b->final_eol_added);
	assert_int_equal(a->received, b->received);
	assert_int_equal(a->headers_seen, b->headers_seen);
	assert_int_equal(a->header_end_seen, b->header_end_seen);
	assert_true(a->header_bytes == b->header_bytes);
	assert_int_equal(a->header_8bit, b->header_8bit);
	assert_string_equal(a->message_id, b->message_id);
}

/* No bare CR or LF: every CR is followed by LF and every LF preceded. */
static void no_bare(const struct sbuf *out)
{
	const char *p = sbuf_data(out);
	size_t n = sbuf_len(out);

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			assert_true(i + 1 == n || p[i + 1] == '\n');
		if (p[i] == '\n')
			assert_true(i > 0 && p[i - 1] == '\r');
	}
}

static void check_splits(const struct ds_case *t, const char *in, size_t len,
                         struct result *one)
{
	run(t, in, len, 0, one);
	no_bare(one->out);
	for (unsigned way = 1; way < 22; way++) {
		struct result r;

		rng = 0x9e3779b97f4a7c15ULL + way;
		run(t, in, len, way, &r);
		assert_int_equal(r.rc, one->rc);
		assert_int_equal(r.consumed, one->consumed);
		assert_int_equal(sbuf_len(r.out), sbuf_len(one->out));
		assert_memory_equal(sbuf_data(r.out), sbuf_data(one->out),
		                    sbuf_len(one->out));
		same_stats(&r.st, &one->st);
		sbuf_deinit(&r.out);
	}
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ds_case *t = &cases[i];
		struct result r;

		printf("case %zu: %s\n", i, t->name);
		check_splits(t, t->in, t->len, &r);
		if (!t->bdat) {
			assert_int_equal(r.rc, t->rc);
			assert_int_equal(r.consumed, t->len - t->tail);
		}
		assert_int_equal(sbuf_len(r.out), t->out_len);
		assert_memory_equal(sbuf_data(r.out), t->out, t->out_len);
		assert_true(r.st.bare_lf == t->bare_lf);
		assert_true(r.st.bare_cr == t->bare_cr);
		assert_true(r.st.nul_bytes == t->nul);
		assert_int_equal(r.st.too_big, t->too_big);
		assert_int_equal(r.st.line_too_long, t->line_too_long);
		assert_int_equal(r.st.final_eol_added, t->eol_added);
		assert_int_equal(r.st.received, t->received);
		assert_int_equal(r.st.headers_seen, t->headers_seen);
		assert_true(r.st.header_bytes == t->header_bytes);
		assert_string_equal(r.st.message_id,
		                    t->msgid != NULL ? t->msgid : "");
		sbuf_deinit(&r.out);
	}
}

/* Random messages over a hostile alphabet, split every which way. */
static void test_random(void **state)
{
	static const char alphabet[] = "\r\n.\r\n.a:R\0 ";
	char msg[3000];

	(void)state;
	for (unsigned m = 0; m < 200; m++) {
		struct ds_case t = {.name = "random"};
		struct result r;
		size_t len;

		rng = 1000 + m;
		len = rng_next() % sizeof(msg);
		for (size_t i = 0; i < len; i++)
			msg[i] = alphabet[rng_next() % (sizeof(alphabet) - 1)];
		t.bdat = m % 3 == 0;
		t.max_size = m % 5 == 0 ? 100 : 0;
		t.max_line = 10;
		check_splits(&t, msg, len, &r);
		sbuf_deinit(&r.out);
	}
}

/*
 * Messages of long lines - the runs dotstream copies whole - with header
 * fields (Message-ID, Received, continuations, 8-bit octets), dots,
 * NULs, bare CRs and LFs among them, and size and line limits that cut
 * inside a run: the same result however they are split (one call, byte
 * by byte, random chunks), so a run does what its octets one at a time
 * do.
 */
static void test_random_runs(void **state)
{
	static const char *const pieces[] = {"Message-ID: <",
	                                     "Received: from x",
	                                     "Subject: ",
	                                     " folded",
	                                     "\r\n",
	                                     "\r\n",
	                                     "\r\n",
	                                     "\r\n.",
	                                     "\r\n..",
	                                     "\n",
	                                     "\r",
	                                     "\r\n\r\n",
	                                     "\xc3\xa9",
	                                     "\0",
	                                     ":",
	                                     " \t ",
	                                     ">"};
	static const uint64_t sizes[] = {0, 1, 137, 1000, 4096, 5000};
	char msg[20000];

	(void)state;
	for (unsigned m = 0; m < 120; m++) {
		struct ds_case t = {.name = "runs"};
		struct result r;
		size_t len = 0, want;

		rng = 7000 + m;
		want = 1 + rng_next() % (sizeof(msg) - 100);
		while (len < want) {
			size_t k = rng_next() % 3;

			if (k == 0) { /* a run of letters, up to 300 */
				size_t n = rng_next() % 300;

				for (size_t i = 0; i < n && len < want; i++)
					msg[len++] = (char)('a' + i % 26);
			} else {
				const char *p =
				    pieces[rng_next() % (sizeof(pieces) /
				                         sizeof(pieces[0]))];
				size_t n = p[0] == '\0' ? 1 : strlen(p);

				if (len + n > want)
					break;
				memcpy(msg + len, p, n);
				len += n;
			}
		}
		memcpy(msg + len, "\r\n.\r\n", 5);
		len += 5;
		t.bdat = m % 4 == 0;
		t.max_size = sizes[m % (sizeof(sizes) / sizeof(sizes[0]))];
		t.max_line = m % 3 == 0 ? 50 : 998;
		check_splits(&t, msg, len, &r);
		sbuf_deinit(&r.out);
	}
}

/* The out buffer's own limit acts as a size limit, deterministically. */
/* RFC 6532 UTF-8 in a header field sets header_8bit; in the body not. */
static void test_header_8bit(void **state)
{
	static const struct {
		const char *in;
		bool eight;
	} h8[] = {
	    {"Subject: plain\r\n\r\nbody \xc3\xa9\r\n.\r\n", false},
	    {"Subject: \xc3\xa9t\xc3\xa9\r\n\r\nbody\r\n.\r\n", true},
	    {"Subject: x\r\n \xc3\xa9\r\n\r\nbody\r\n.\r\n", true},
	    {"From: a\r\n\xc3\xa9 no field\r\n.\r\n", false},
	    {"\r\n\xc3\xa9\r\n.\r\n", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(h8) / sizeof(h8[0]); i++) {
		struct dotstream *ds = dotstream_new(0, 998);
		struct sbuf *out = sbuf_new(1 << 20);
		struct dotstream_stats st;
		size_t used;

		assert_int_equal(
		    dotstream_feed(ds, h8[i].in, strlen(h8[i].in), &used, out),
		    1);
		dotstream_stats(ds, &st);
		if (st.header_8bit != h8[i].eight)
			fail_msg("case %zu: header_8bit %d", i, st.header_8bit);
		sbuf_deinit(&out);
		dotstream_deinit(&ds);
	}
}

static void test_out_limit(void **state)
{
	char big[10000];
	struct dotstream *ds = dotstream_new(0, 0);
	struct sbuf *out = sbuf_new(5000);
	struct dotstream_stats st;
	size_t used;

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(dotstream_feed(ds, big, sizeof(big), &used, out), 0);
	assert_int_equal(dotstream_feed(ds, "\r\n.\r\n", 5, &used, out), 1);
	dotstream_stats(ds, &st);
	assert_true(st.too_big);
	assert_int_equal(sbuf_len(out), 5000);
	assert_true(st.size == sizeof(big) + 2);
	sbuf_deinit(&out);
	dotstream_deinit(&ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_random_runs),
	    cmocka_unit_test(test_out_limit),
	    cmocka_unit_test(test_header_8bit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
