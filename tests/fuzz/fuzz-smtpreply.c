/*
 * fuzz-smtpreply - smtpreply_parse() on arbitrary bytes, whole and in
 * random chunks.
 *
 * The first byte seeds the chunk sizes and, by its low bit, chooses
 * SMTPREPLY_BARE_LF (the delivery client's setting) or the strict parser;
 * the rest is the server's output.
 * It is parsed once in one piece and once in chunks of 1 to 16 bytes;
 * both must give the same replies (code, enhanced code, text, line count)
 * and fail, if they fail, after the same number of replies with the same
 * error. Every reply must keep the header's promises (code range, no
 * control octet in the text, enhanced class = code class), and
 * smtpreply_ehlo_caps(), smtpreply_format_diag() and
 * smtpreply_format_text() are run on it; any
 * difference abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "smtpreply.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REPLIES 64

struct run {
	struct smtpreply r[MAX_REPLIES];
	size_t n;
	int rc;
	const char *error;
};

static void check_reply(const struct smtpreply *r)
{
	struct smtpreply_caps caps;
	struct sbuf *s = sbuf_new(SMTPREPLY_DIAG_MAX + 64);
	size_t i, n = strlen(r->text);

	if (r->code < 200 || r->code > 559 || r->line_count == 0 ||
	    r->line_count > SMTPREPLY_LINES_MAX)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
			abort();
	}
	if (r->enhanced[0] != '\0' &&
	    (unsigned)(r->enhanced[0] - '0') != smtpreply_status_class(r->code))
		abort();
	if (smtpreply_format_diag(r, s) < 0 ||
	    !str_is_printable_ascii(sbuf_data(s), sbuf_len(s)))
		abort();
	sbuf_deinit(&s);
	s = sbuf_new((size_t)SMTPREPLY_LINES_MAX * SMTPREPLY_LINE_MAX + 64);
	if (smtpreply_format_text(r, s) < 0 || sbuf_len(s) < 3)
		abort();
	if (smtpreply_ehlo_caps(r, &caps) == 0 &&
	    strlen(caps.auth_mechs) >= sizeof(caps.auth_mechs))
		abort();
	sbuf_deinit(&s);
}

static void run_parser(const char *in, size_t len, uint32_t seed,
                       unsigned flags, struct run *run)
{
	struct smtpreply_parser *p = smtpreply_parser_new(flags);
	size_t off = 0, used, chunk;

	memset(run, 0, sizeof(*run));
	while (off < len && run->n < MAX_REPLIES) {
		if (seed == 0) {
			chunk = len - off;
		} else {
			seed = seed * 1103515245u + 12345u;
			chunk = 1 + (seed >> 16) % 16;
			if (chunk > len - off)
				chunk = len - off;
		}
		run->rc = smtpreply_parse(p, in + off, chunk, &used,
		                          &run->r[run->n], &run->error);
		if (run->rc < 0)
			break;
		if (used > chunk || (run->rc == 0 && used != chunk))
			abort();
		if (run->rc == 1)
			check_reply(&run->r[run->n++]);
		off += used;
	}
	smtpreply_parser_deinit(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, parts;
	unsigned flags;
	size_t i;

	if (size < 1)
		return 0;
	flags = (data[0] & 1) != 0 ? SMTPREPLY_BARE_LF : 0;
	run_parser((const char *)data + 1, size - 1, 0, flags, &whole);
	run_parser((const char *)data + 1, size - 1, 1u + data[0], flags,
	           &parts);
	if (whole.n != parts.n || (whole.rc < 0) != (parts.rc < 0))
		abort();
	if (whole.rc < 0 &&
	    (whole.error == NULL || parts.error == NULL ||
	     strcmp(whole.error, parts.error) != 0 ||
	     !str_is_printable_ascii(whole.error, strlen(whole.error))))
		abort();
	for (i = 0; i < whole.n; i++) {
		if (whole.r[i].code != parts.r[i].code ||
		    whole.r[i].line_count != parts.r[i].line_count ||
		    strcmp(whole.r[i].enhanced, parts.r[i].enhanced) != 0 ||
		    strcmp(whole.r[i].text, parts.r[i].text) != 0)
			abort();
		smtpreply_clear(&whole.r[i]);
		smtpreply_clear(&parts.r[i]);
	}
	return 0;
}
