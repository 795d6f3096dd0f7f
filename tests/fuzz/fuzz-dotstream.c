/*
 * fuzz-dotstream - the DATA / BDAT body reader on arbitrary bytes.
 *
 * Byte 0 picks the mode and limits, byte 1 seeds the chunking; the rest is
 * the stream. Checked, abort() otherwise:
 *   - fed in one call and in pseudo-random chunks, the output, return
 *     value, consumed count and statistics are identical;
 *   - the output never holds a bare CR or a bare LF;
 *   - DATA: when the end was seen and nothing was cut, dot-stuffing the
 *     output (as routerd does when relaying) and feeding it back gives
 *     the same output, with no bare CR / LF and the end exactly at its
 *     final CR LF "." CR LF - what we relay reads the same at the next hop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotstream.h"
#include "sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_LIMIT (4u << 20)

struct run {
	int rc;
	size_t consumed;
	struct sbuf *out;
	struct dotstream_stats st;
};

static void feed(const uint8_t *in, size_t len, unsigned mode, uint32_t seed,
                 struct run *r)
{
	uint64_t max_size = (mode & 2) != 0 ? 64 : 0;
	size_t max_line = (mode & 4) != 0 ? 8 : 998, pos = 0;
	struct dotstream *ds = (mode & 1) != 0
	                           ? dotstream_new_bdat(max_size, max_line)
	                           : dotstream_new(max_size, max_line);

	r->out = sbuf_new(OUT_LIMIT);
	r->rc = 0;
	r->consumed = 0;
	do {
		size_t n = len - pos, used;

		if (seed != 0 && n > 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (n < 16 ? n : 16);
		}
		used = n;
		if ((mode & 1) != 0)
			dotstream_bdat_feed(ds, in + pos, n, r->out);
		else
			r->rc = dotstream_feed(ds, in + pos, n, &used, r->out);
		if (used > n || (r->rc == 0 && used != n))
			abort();
		pos += used;
	} while (r->rc == 0 && pos < len);
	r->consumed = pos;
	if ((mode & 1) != 0)
		dotstream_bdat_finish(ds, r->out);
	dotstream_stats(ds, &r->st);
	dotstream_deinit(&ds);
}

static bool stats_equal(const struct dotstream_stats *a,
                        const struct dotstream_stats *b)
{
	return a->size == b->size && a->bare_lf == b->bare_lf &&
	       a->bare_cr == b->bare_cr && a->nul_bytes == b->nul_bytes &&
	       a->lines == b->lines && a->longest_line == b->longest_line &&
	       a->too_big == b->too_big &&
	       a->line_too_long == b->line_too_long &&
	       a->final_eol_added == b->final_eol_added &&
	       a->received == b->received &&
	       a->headers_seen == b->headers_seen &&
	       a->header_end_seen == b->header_end_seen &&
	       a->header_bytes == b->header_bytes &&
	       a->header_8bit == b->header_8bit;
}

static void no_bare(const struct sbuf *out)
{
	const char *p = sbuf_data(out);
	size_t n = sbuf_len(out);

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] != '\n')
			abort();
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			abort();
	}
}

/* Relay the output as routerd does (stuff, add the end), read it back. */
static void relay_round_trip(const struct run *r)
{
	const char *p = sbuf_data(r->out);
	size_t n = sbuf_len(r->out);
	struct sbuf *wire = sbuf_new(OUT_LIMIT * 2 + 8);
	struct run back;
	bool bol = true;

	/* Complete lines only: the DATA end always follows a CR LF. */
	if (n > 0 && (n < 2 || p[n - 1] != '\n'))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (bol && p[i] == '.' && !sbuf_append(wire, ".", 1))
			abort();
		if (!sbuf_append(wire, p + i, 1))
			abort();
		bol = p[i] == '\n';
	}
	if (!sbuf_append(wire, ".\r\nQUIT\r\n", 9))
		abort();
	feed((const uint8_t *)sbuf_data(wire), sbuf_len(wire), 0, 0, &back);
	if (back.rc != 1 || back.consumed != sbuf_len(wire) - 6 ||
	    back.st.bare_cr != 0 || back.st.bare_lf != 0 ||
	    sbuf_len(back.out) != n || memcmp(sbuf_data(back.out), p, n) != 0 ||
	    back.st.received != r->st.received)
		abort();
	sbuf_deinit(&back.out);
	sbuf_deinit(&wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run one, chunked;
	unsigned mode;
	uint32_t seed;

	if (size < 2)
		return 0;
	mode = data[0];
	seed = (uint32_t)data[1] + 1;
	data += 2;
	size -= 2;

	feed(data, size, mode, 0, &one);
	feed(data, size, mode, seed, &chunked);
	if (one.rc != chunked.rc || one.consumed != chunked.consumed ||
	    sbuf_len(one.out) != sbuf_len(chunked.out) ||
	    memcmp(sbuf_data(one.out), sbuf_data(chunked.out),
	           sbuf_len(one.out)) != 0 ||
	    !stats_equal(&one.st, &chunked.st))
		abort();
	no_bare(one.out);
	if ((mode & 1) != 0 && !one.st.too_big && sbuf_len(one.out) > 0 &&
	    sbuf_data(one.out)[sbuf_len(one.out) - 1] != '\n')
		abort(); /* BDAT: dotstream_bdat_finish() ends the last line */
	if ((mode & 1) == 0 && one.rc == 1 && !one.st.too_big)
		relay_round_trip(&one);
	sbuf_deinit(&one.out);
	sbuf_deinit(&chunked.out);
	return 0;
}
