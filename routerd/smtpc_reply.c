/*
 * smtpc_reply - the SMTP client's reply reader, EHLO capabilities, xtext.
 *
 *	smtpc_reply_read(&r, in, &err)	1 reply, 0 more input, -1 malformed
 *	smtpc_reply_text(&r)		"550 5.1.1 text" for logs and results
 *	smtpc_caps_parse(&r, &caps)	the EHLO keywords smtpc uses
 *	smtpc_xtext(out, s, utf8)	RFC 3461 xtext / RFC 6533 addr-xtext
 *
 * Private to smtpc: routerd/smtpreply.h (written in parallel) did not
 * exist when this was written; when it lands, this file is what it
 * replaces. Pure: no sockets, clock or logging.
 *
 * A reply is one or more lines "ddd-text" ending with "ddd text" (or a
 * bare "ddd"), all with the same code, first digit 2-5. Lines end in LF
 * (a CR before it is dropped); a line longer than SMTPC_LINE_MAX or a
 * reply longer than SMTPC_REPLY_MAX is an error, so a hostile server
 * cannot make routerd buffer without bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"
#include "smtpc_private.h"
#include "str.h"

void smtpc_reply_init(struct smtpc_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->lines = sbuf_new(SMTPC_REPLY_MAX);
}

void smtpc_reply_free(struct smtpc_reply *r)
{
	sbuf_deinit(&r->lines);
}

/* "d.d{1,3}.d{1,3}" then a space or the end, class matching the code. */
static size_t status_len(const char *s, size_t len, int code)
{
	size_t i = 0, part;

	if (len < 5 || s[0] != (char)('0' + code / 100) || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		size_t start = i;

		while (i < len && i - start < 3 && str_is_digit_ascii(s[i]))
			i++;
		if (i == start)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

static int parse_line(struct smtpc_reply *r, const char *line, size_t len,
                      bool *last_r, const char **error_r)
{
	int code;

	if (len < 3 || !str_is_digit_ascii(line[0]) ||
	    !str_is_digit_ascii(line[1]) || !str_is_digit_ascii(line[2]) ||
	    line[0] < '2' || line[0] > '5' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		*error_r = "malformed reply line";
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->partial && code != r->code) {
		*error_r = "reply code changed inside a multi-line reply";
		return -1;
	}
	*last_r = len == 3 || line[3] == ' ';
	line += len > 3 ? 4 : 3;
	len -= len > 3 ? 4 : 3;
	if (!r->partial) {
		size_t sl = status_len(line, len, code);

		r->code = code;
		r->status[0] = '\0';
		sbuf_reset(r->lines);
		if (sl > 0)
			snprintf(r->status, sizeof(r->status), "%.*s", (int)sl,
			         line);
		r->partial = true;
	} else if (!sbuf_append(r->lines, "\n", 1)) {
		*error_r = "reply too long";
		return -1;
	}
	if (!sbuf_append(r->lines, line, len)) {
		*error_r = "reply too long";
		return -1;
	}
	return 0;
}

int smtpc_reply_read(struct smtpc_reply *r, struct sbuf *in,
                     const char **error_r)
{
	for (;;) {
		const char *data = sbuf_data(in);
		const char *lf = memchr(data, '\n', sbuf_len(in));
		size_t len;
		bool last = false;

		if (lf == NULL) {
			if (sbuf_len(in) > SMTPC_LINE_MAX) {
				*error_r = "reply line too long";
				return -1;
			}
			return 0;
		}
		len = (size_t)(lf - data);
		if (len > SMTPC_LINE_MAX) {
			*error_r = "reply line too long";
			return -1;
		}
		if (len > 0 && data[len - 1] == '\r')
			len--;
		if (parse_line(r, data, len, &last, error_r) < 0)
			return -1;
		sbuf_consume(in, (size_t)(lf - data) + 1);
		if (last) {
			r->partial = false;
			return 1;
		}
	}
}

char *smtpc_reply_text(const struct smtpc_reply *r)
{
	char *s = alloc_printf("%d %s", r->code, sbuf_data(r->lines));
	char *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '\n')
			*p = ' ';
	}
	return s;
}

static bool word_is(const char *w, size_t len, const char *kw)
{
	return str_eq_case(w, len, kw, strlen(kw));
}

static void parse_auth(const char *p, size_t len, struct smtpc_caps *caps)
{
	struct buf b;

	buf_init(&b, p, len);
	while (buf_remaining(&b) > 0) {
		const unsigned char *w;
		size_t wl;

		while (buf_consume_char(&b, ' '))
			;
		wl = buf_fetch_until(&b, " ", &w);
		if (wl == 0)
			break;
		if (word_is((const char *)w, wl, "PLAIN"))
			caps->auth_plain = true;
		else if (word_is((const char *)w, wl, "LOGIN"))
			caps->auth_login = true;
	}
}

static void parse_cap(const char *line, size_t len, struct smtpc_caps *caps)
{
	size_t kl = 0;
	const char *arg;
	size_t al;

	while (kl < len && line[kl] != ' ' && line[kl] != '=')
		kl++;
	arg = line + kl;
	al = len - kl;
	if (al > 0) {
		arg++;
		al--;
	}
	if (word_is(line, kl, "PIPELINING")) {
		caps->pipelining = true;
	} else if (word_is(line, kl, "SIZE")) {
		struct buf b;
		uint64_t v;

		caps->size = true;
		buf_init(&b, arg, al);
		if (buf_fetch_uint(&b, UINT64_MAX / 2, &v))
			caps->size_max = v;
	} else if (word_is(line, kl, "8BITMIME")) {
		caps->eightbit = true;
	} else if (word_is(line, kl, "SMTPUTF8")) {
		caps->smtputf8 = true;
	} else if (word_is(line, kl, "CHUNKING")) {
		caps->chunking = true;
	} else if (word_is(line, kl, "DSN")) {
		caps->dsn = true;
	} else if (word_is(line, kl, "STARTTLS")) {
		caps->starttls = true;
	} else if (word_is(line, kl, "ENHANCEDSTATUSCODES")) {
		caps->enhanced = true;
	} else if (word_is(line, kl, "AUTH")) {
		parse_auth(arg, al, caps);
	}
}

void smtpc_caps_parse(const struct smtpc_reply *r, struct smtpc_caps *caps_r)
{
	const char *p = sbuf_data(r->lines);
	const char *end = p + sbuf_len(r->lines);
	bool first = true;

	memset(caps_r, 0, sizeof(*caps_r));
	caps_r->esmtp = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		/* The first line is the server's name and greeting. */
		if (!first)
			parse_cap(p, len, caps_r);
		first = false;
		p += len + (nl != NULL ? 1 : 0);
	}
}

void smtpc_xtext(struct sbuf *out, const char *s, bool utf8_addr)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (utf8_addr) {
			/* RFC 6533 utf-8-addr-unitext: UTF-8 as is (only
			 * sent with SMTPUTF8), specials as \x{HEX}. */
			if (*p <= 0x20 || *p == '+' || *p == '=' ||
			    *p == '\\' || *p == 0x7f)
				sbuf_printf(out, "\\x{%02X}", *p);
			else
				sbuf_append(out, p, 1);
		} else if (*p < 0x21 || *p > 0x7e || *p == '+' || *p == '=') {
			sbuf_printf(out, "+%02X", *p);
		} else {
			sbuf_append(out, p, 1);
		}
	}
}
