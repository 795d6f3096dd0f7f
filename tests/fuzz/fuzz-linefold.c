/*
 * fuzz-linefold - outbound folding and dot-stuffing on arbitrary bytes.
 *
 * Byte 0 picks max (2..33, or 0: no folding) and dot-stuffing, byte 1
 * seeds the chunking; the rest is the message. Checked, abort() otherwise:
 *   - fed in one call and in pseudo-random chunks, the output is the same;
 *   - every output line (up to LF, CRs not counted) is at most max octets;
 *   - for CR LF text (what the spool holds), DATA: adding ".\r\n" and
 *     reading it back with dotstream (the next hop) gives the input plus
 *     3 octets per fold, and the same text once every CR LF SP is taken
 *     out of both: folding loses and smuggles nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotstream.h"
#include "linefold.h"
#include "sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sbuf *fold(const uint8_t *in, size_t len, size_t max, bool stuff,
                         uint32_t seed, uint64_t *folds_r)
{
	struct sbuf *out = sbuf_new(SIZE_MAX);
	struct linefold lf;
	size_t pos = 0;

	linefold_init(&lf, max, stuff);
	while (pos < len) {
		size_t n = len - pos;

		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (n < 16 ? n : 16);
		}
		if (!linefold_feed(&lf, in + pos, n, out))
			abort();
		pos += n;
	}
	*folds_r = lf.folds;
	return out;
}

/* Whole CR LF lines, no other CR or LF. */
static bool crlf_text(const uint8_t *p, size_t n)
{
	if (n > 0 && (n < 2 || p[n - 1] != '\n'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

static void check_lines(const struct sbuf *out, size_t max, bool stuff)
{
	const char *p = sbuf_data(out);
	size_t n = sbuf_len(out), col = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			col = 0;
			continue;
		}
		if (p[i] == '\r')
			continue;
		if (++col > max && max != 0)
			abort();
	}
	(void)stuff;
}

/* Without every CR LF SP, s[0..n) into a new buffer of *len_r octets. */
static char *drop_folds(const char *s, size_t n, size_t *len_r)
{
	char *d = malloc(n + 1);
	size_t k = 0;

	if (d == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 2 < n && s[i + 1] == '\n' &&
		    s[i + 2] == ' ') {
			i += 2;
			continue;
		}
		d[k++] = s[i];
	}
	*len_r = k;
	return d;
}

/* The next hop reads it back: the input plus exactly the folds. */
static void round_trip(const uint8_t *in, size_t len, const struct sbuf *out,
                       uint64_t folds)
{
	struct sbuf *wire = sbuf_new(SIZE_MAX), *back = sbuf_new(SIZE_MAX);
	struct dotstream *ds = dotstream_new(0, 0);
	size_t used, n1, n2;
	char *a, *b;

	sbuf_append(wire, sbuf_data(out), sbuf_len(out));
	sbuf_append(wire, ".\r\n", 3);
	if (dotstream_feed(ds, sbuf_data(wire), sbuf_len(wire), &used, back) !=
	        1 ||
	    used != sbuf_len(wire) || sbuf_len(back) != len + 3 * folds)
		abort();
	a = drop_folds(sbuf_data(back), sbuf_len(back), &n1);
	b = drop_folds((const char *)in, len, &n2);
	if (n1 != n2 || memcmp(a, b, n1) != 0)
		abort();
	free(a);
	free(b);
	dotstream_deinit(&ds);
	sbuf_deinit(&back);
	sbuf_deinit(&wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf *one, *chunked;
	uint64_t f1, f2;
	size_t max;
	bool stuff;

	if (size < 2)
		return 0;
	max = (data[0] & 0x1f) == 0 ? 0 : 2 + (data[0] & 0x1f);
	stuff = (data[0] & 0x20) != 0;
	one = fold(data + 2, size - 2, max, stuff, 0, &f1);
	chunked =
	    fold(data + 2, size - 2, max, stuff, (uint32_t)data[1] + 1, &f2);
	if (f1 != f2 || sbuf_len(one) != sbuf_len(chunked) ||
	    memcmp(sbuf_data(one), sbuf_data(chunked), sbuf_len(one)) != 0)
		abort();
	check_lines(one, max, stuff);
	if (stuff && crlf_text(data + 2, size - 2))
		round_trip(data + 2, size - 2, one, f1);
	sbuf_deinit(&one);
	sbuf_deinit(&chunked);
	return 0;
}
