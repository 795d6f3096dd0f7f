/*
 * smtpreply - SMTP reply parser for the delivery client; see smtpreply.h.
 *
 * SYNOPSIS
 *	p = smtpreply_parser_new();
 *	while ((rc = smtpreply_parse(p, data, len, &used, &reply, &err)) == 1) {
 *		... use reply; smtpreply_clear(&reply) ...
 *		data += used; len -= used;
 *	}
 *	rc == 0: read more; rc == -1: drop the connection (4xx for all)
 *	smtpreply_parser_deinit(&p);
 *
 * DESCRIPTION
 *	Two layers. The line layer cuts the input at CR LF into a fixed
 *	buffer inside the parser (so a line split over reads costs nothing
 *	special and no line can grow past SMTPREPLY_LINE_MAX). The reply
 *	layer reads each whole line through buf.h: code, separator,
 *	enhanced code, text; it checks that the code does not change and
 *	joins the texts. smtpreply_ehlo_caps() walks those lines again.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"
#include "smtpreply.h"
#include "str.h"

/* line content without its CR LF */
#define LINE_CONTENT_MAX (SMTPREPLY_LINE_MAX - 2)

struct smtpreply_parser {
	bool failed;
	bool bare_lf; /* SMTPREPLY_BARE_LF */
	bool cr;      /* the line so far ends with a CR (not stored) */
	size_t line_len;
	unsigned char line[LINE_CONTENT_MAX];

	/* the reply being read; code 0 = no line yet */
	unsigned code;
	char enhanced[SMTPREPLY_ENHANCED_MAX];
	size_t lines;
	struct sbuf *text;
};

struct smtpreply_parser *smtpreply_parser_new(unsigned flags)
{
	struct smtpreply_parser *p = alloc_new(struct smtpreply_parser);

	p->bare_lf = (flags & SMTPREPLY_BARE_LF) != 0;
	p->text = sbuf_new((size_t)SMTPREPLY_LINES_MAX * SMTPREPLY_LINE_MAX);
	return p;
}

void smtpreply_parser_deinit(struct smtpreply_parser **pp)
{
	struct smtpreply_parser *p = *pp;

	if (p == NULL)
		return;
	sbuf_deinit(&p->text);
	free(p);
	*pp = NULL;
}

void smtpreply_clear(struct smtpreply *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

unsigned smtpreply_status_class(unsigned code)
{
	if (code < 200 || code > 599)
		return 0;
	return code / 100;
}

/* 1 to 3 digits; false (position unspecified) otherwise. */
static bool fetch_subcode(struct buf *b)
{
	size_t start = buf_pos(b);
	uint64_t v;

	return buf_fetch_uint(b, 999, &v) && buf_pos(b) - start <= 3;
}

/*
 * An RFC 3463 code at the start of text, of class cls, followed by a
 * space or the end: its length, or 0.
 */
static size_t enhanced_len(const unsigned char *text, size_t len, unsigned cls)
{
	struct buf b;
	uint8_t c;

	buf_init(&b, text, len);
	if (!buf_fetch_u8(&b, &c) || (c != '2' && c != '4' && c != '5') ||
	    (unsigned)(c - '0') != cls || !buf_consume_char(&b, '.') ||
	    !fetch_subcode(&b) || !buf_consume_char(&b, '.') ||
	    !fetch_subcode(&b))
		return 0;
	if (buf_remaining(&b) > 0 && !buf_peek_u8(&b, &c))
		return 0;
	if (buf_remaining(&b) > 0 && c != ' ')
		return 0;
	return buf_pos(&b);
}

static int fail(struct smtpreply_parser *p, const char *why,
                const char **error_r)
{
	p->failed = true;
	*error_r = why;
	return -1;
}

/* One whole line (without CR LF): 1 last line of a reply, 0 more, -1. */
static int reply_line(struct smtpreply_parser *p, const char **error_r)
{
	struct buf b;
	uint8_t d[3], sep = ' ';
	const unsigned char *text;
	size_t text_len, i, n;
	unsigned code;
	bool last;

	buf_init(&b, p->line, p->line_len);
	if (!buf_fetch_bytes(&b, d, 3) || d[0] < '2' || d[0] > '5' ||
	    d[1] < '0' || d[1] > '5' || d[2] < '0' || d[2] > '9')
		return fail(p, "reply line does not start with a reply code",
		            error_r);
	code = (d[0] - '0') * 100u + (d[1] - '0') * 10u + (d[2] - '0');
	if (buf_remaining(&b) > 0 && !buf_fetch_u8(&b, &sep))
		return fail(p, "internal error", error_r);
	if (sep != ' ' && sep != '-')
		return fail(p, "bad separator after the reply code", error_r);
	last = sep == ' ';
	text = buf_peek(&b);
	text_len = buf_remaining(&b);
	for (i = 0; i < text_len; i++) {
		if ((text[i] < 0x20 && text[i] != '\t') || text[i] == 0x7f)
			return fail(p, "control character in reply", error_r);
	}

	if (p->lines == 0) {
		p->code = code;
		n = enhanced_len(text, text_len, code / 100);
		if (n > 0)
			memcpy(p->enhanced, text, n);
		p->enhanced[n] = '\0';
	} else if (code != p->code) {
		return fail(p, "mixed reply codes in one reply", error_r);
	} else {
		n = strlen(p->enhanced);
		if (n == 0 || n > text_len ||
		    memcmp(text, p->enhanced, n) != 0 ||
		    (n < text_len && text[n] != ' '))
			n = 0;
	}
	if (n > 0 && n < text_len)
		n++; /* the space after the enhanced code */
	if (++p->lines > SMTPREPLY_LINES_MAX)
		return fail(p, "too many lines in reply", error_r);
	if ((p->lines > 1 && !sbuf_append(p->text, "\n", 1)) ||
	    !sbuf_append(p->text, text + n, text_len - n))
		return fail(p, "reply too long", error_r);
	return last ? 1 : 0;
}

static void reply_take(struct smtpreply_parser *p, struct smtpreply *reply_r)
{
	memset(reply_r, 0, sizeof(*reply_r));
	reply_r->code = p->code;
	memcpy(reply_r->enhanced, p->enhanced, sizeof(reply_r->enhanced));
	reply_r->text = sbuf_steal(p->text, NULL);
	reply_r->line_count = p->lines;
	p->code = 0;
	p->enhanced[0] = '\0';
	p->lines = 0;
}

int smtpreply_parse(struct smtpreply_parser *p, const char *data, size_t len,
                    size_t *consumed_r, struct smtpreply *reply_r,
                    const char **error_r)
{
	struct buf b;
	const unsigned char *run;
	size_t n;
	uint8_t c;
	int rc;

	*consumed_r = 0;
	if (p->failed)
		return fail(p, "reply parser failed earlier", error_r);
	buf_init(&b, data, len);
	for (;;) {
		n = buf_fetch_until(&b, "\r\n", &run);
		if (n > 0) {
			if (p->cr)
				return fail(p, "bare CR in reply", error_r);
			if (n > LINE_CONTENT_MAX - p->line_len)
				return fail(p, "reply line too long", error_r);
			memcpy(p->line + p->line_len, run, n);
			p->line_len += n;
		}
		if (!buf_fetch_u8(&b, &c))
			break;
		if (c == '\r') {
			if (p->cr)
				return fail(p, "bare CR in reply", error_r);
			p->cr = true;
			continue;
		}
		if (!p->cr && !p->bare_lf)
			return fail(p, "bare LF in reply", error_r);
		p->cr = false;
		rc = reply_line(p, error_r);
		p->line_len = 0;
		if (rc < 0)
			return -1;
		if (rc > 0) {
			reply_take(p, reply_r);
			*consumed_r = buf_pos(&b);
			return 1;
		}
	}
	*consumed_r = len;
	return 0;
}

/* "550 5.1.1 text": clean makes it printable ASCII and cuts it at
 * SMTPREPLY_DIAG_MAX text octets. */
static bool format_reply(const struct smtpreply *r, bool clean, struct sbuf *s)
{
	const char *t = r->text != NULL ? r->text : "";
	size_t tlen = strlen(t), i, keep;
	char c;

	keep = clean && tlen > SMTPREPLY_DIAG_MAX ? SMTPREPLY_DIAG_MAX : tlen;
	if (!sbuf_printf(s, "%u", r->code))
		return false;
	if (r->enhanced[0] != '\0' && !sbuf_printf(s, " %s", r->enhanced))
		return false;
	if (keep > 0 && !sbuf_append(s, " ", 1))
		return false;
	for (i = 0; i < keep; i++) {
		c = t[i];
		if (c == '\n' || (clean && c == '\t'))
			c = ' ';
		else if (clean && !str_is_printable_ascii(&c, 1))
			c = '?';
		if (!sbuf_append(s, &c, 1))
			return false;
	}
	return keep == tlen || sbuf_append_str(s, "...");
}

int smtpreply_format_diag(const struct smtpreply *r, struct sbuf *out)
{
	struct sbuf *s = sbuf_new(SMTPREPLY_DIAG_MAX + 64);
	int ret = -1;

	if (sbuf_append_str(s, "smtp; ") && format_reply(r, true, s) &&
	    sbuf_append(out, sbuf_data(s), sbuf_len(s)))
		ret = 0;
	sbuf_deinit(&s);
	return ret;
}

int smtpreply_format_text(const struct smtpreply *r, struct sbuf *out)
{
	struct sbuf *s = sbuf_new(sbuf_limit(out));
	int ret = -1;

	if (format_reply(r, false, s) &&
	    sbuf_append(out, sbuf_data(s), sbuf_len(s)))
		ret = 0;
	sbuf_deinit(&s);
	return ret;
}

/* RFC 4422 3.1: 1 to 20 of A-Z 0-9 - _ (lowercase accepted, uppercased). */
static bool mech_name_ok(const unsigned char *m, size_t len)
{
	size_t i;

	if (len == 0 || len > 20)
		return false;
	for (i = 0; i < len; i++) {
		if (!str_is_alpha_ascii(m[i]) && !str_is_digit_ascii(m[i]) &&
		    m[i] != '-' && m[i] != '_')
			return false;
	}
	return true;
}

static const struct {
	const char *name;
	unsigned flag;
} known_mechs[] = {
    {"PLAIN", SMTPREPLY_AUTH_PLAIN},       {"LOGIN", SMTPREPLY_AUTH_LOGIN},
    {"CRAM-MD5", SMTPREPLY_AUTH_CRAM_MD5}, {"GSSAPI", SMTPREPLY_AUTH_GSSAPI},
    {"XOAUTH2", SMTPREPLY_AUTH_XOAUTH2},
};

/* Whole word w (length n, no spaces) is in the space-separated list. */
static bool list_has(const char *list, const char *w, size_t n)
{
	const char *p = list;

	while (*p != '\0') {
		size_t l = strcspn(p, " ");

		if (l == n && memcmp(p, w, n) == 0)
			return true;
		p += l;
		if (*p == ' ')
			p++;
	}
	return false;
}

static void add_mechs(struct smtpreply_caps *caps, struct buf *b)
{
	const unsigned char *m;
	char name[21];
	size_t n, i, have;

	for (;;) {
		while (buf_consume_char(b, ' ') || buf_consume_char(b, '\t'))
			;
		n = buf_fetch_until(b, " \t", &m);
		if (n == 0)
			return;
		if (!mech_name_ok(m, n))
			continue;
		memcpy(name, m, n);
		name[n] = '\0';
		for (i = 0; i < n; i++)
			name[i] = (char)(name[i] >= 'a' && name[i] <= 'z'
			                     ? name[i] - 'a' + 'A'
			                     : name[i]);
		for (i = 0; i < sizeof(known_mechs) / sizeof(known_mechs[0]);
		     i++) {
			if (strcmp(name, known_mechs[i].name) == 0)
				caps->auth |= known_mechs[i].flag;
		}
		have = strlen(caps->auth_mechs);
		if (list_has(caps->auth_mechs, name, n) ||
		    have + (have > 0) + n >= sizeof(caps->auth_mechs))
			continue;
		if (have > 0)
			caps->auth_mechs[have++] = ' ';
		memcpy(caps->auth_mechs + have, name, n + 1);
	}
}

static const struct {
	const char *keyword;
	unsigned flag;
} keywords[] = {
    {"PIPELINING", SMTPREPLY_CAP_PIPELINING},
    {"SIZE", SMTPREPLY_CAP_SIZE},
    {"8BITMIME", SMTPREPLY_CAP_8BITMIME},
    {"SMTPUTF8", SMTPREPLY_CAP_SMTPUTF8},
    {"STARTTLS", SMTPREPLY_CAP_STARTTLS},
    {"CHUNKING", SMTPREPLY_CAP_CHUNKING},
    {"BINARYMIME", SMTPREPLY_CAP_BINARYMIME},
    {"ENHANCEDSTATUSCODES", SMTPREPLY_CAP_ENHANCEDSTATUSCODES},
    {"DSN", SMTPREPLY_CAP_DSN},
    {"AUTH", SMTPREPLY_CAP_AUTH},
};

static void ehlo_line(struct smtpreply_caps *caps, const unsigned char *line,
                      size_t len)
{
	struct buf b;
	const unsigned char *kw;
	size_t kw_len, i;
	uint64_t v;

	buf_init(&b, line, len);
	kw_len = buf_fetch_until(&b, " =", &kw);
	/* "AUTH=LOGIN PLAIN": the pre-RFC 4954 form some servers still send */
	if (str_eq_case((const char *)kw, kw_len, "AUTH", 4) &&
	    buf_consume_char(&b, '=')) {
		caps->flags |= SMTPREPLY_CAP_AUTH;
		add_mechs(caps, &b);
		return;
	}
	if (buf_remaining(&b) > 0 && !buf_consume_char(&b, ' '))
		return;
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (str_eq_case((const char *)kw, kw_len, keywords[i].keyword,
		                strlen(keywords[i].keyword)))
			break;
	}
	if (i == sizeof(keywords) / sizeof(keywords[0]))
		return;
	caps->flags |= keywords[i].flag;
	if (keywords[i].flag == SMTPREPLY_CAP_AUTH) {
		add_mechs(caps, &b);
	} else if (keywords[i].flag == SMTPREPLY_CAP_SIZE) {
		while (buf_consume_char(&b, ' '))
			;
		if (buf_fetch_uint(&b, UINT64_MAX, &v) &&
		    (buf_remaining(&b) == 0 || buf_consume_char(&b, ' ')))
			caps->size = v;
	}
}

int smtpreply_ehlo_caps(const struct smtpreply *r,
                        struct smtpreply_caps *caps_r)
{
	struct buf b;
	const unsigned char *line;
	size_t n;
	bool first = true;

	memset(caps_r, 0, sizeof(*caps_r));
	if (r->code != 250 || r->text == NULL)
		return -1;
	buf_init(&b, r->text, strlen(r->text));
	do {
		n = buf_fetch_until(&b, "\n", &line);
		if (!first)
			ehlo_line(caps_r, line, n);
		first = false;
	} while (buf_consume_char(&b, '\n'));
	return 0;
}
