/*
 * NAME
 *	dsn_text - the text helpers of dsn.c: dates, folding, cleaning
 *
 * SYNOPSIS
 *	#include "dsn_private.h"
 *
 *	struct dsn_writer w = {sbuf, true};
 *	dsn_text_put(&w, "Action: %s\r\n", name);
 *	dsn_text_put_clean(&w, addr, utf8);
 *	dsn_text_fold(&w, "Diagnostic-Code: ", text, " ", false);
 *	dsn_text_put_date(&w, "Arrival-Date", t);
 *	dsn_text_put_addr_field(&w, "Final-Recipient", addr, global);
 *
 * DESCRIPTION
 *	Everything that writes a string from the envelope or from a remote
 *	server into a notice: RFC 5322 dates in UTC without the locale,
 *	header text folded at spaces and cut so that no line passes 998
 *	octets, control octets replaced, 8-bit octets kept only when valid
 *	UTF-8 is allowed, and addresses as RFC 6533 utf-8-addr-unitext.
 *	The writer's first failure sticks: later writes are no-ops and the
 *	caller checks w.ok once. Pure: no I/O, no clock.
 *
 * SEE ALSO
 *	dsn.c, dsn.h; dsn_private.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dsn_private.h"
#include "intl.h"
#include "sbuf.h"
#include "str.h"

#define FOLD_AT 76 /* preferred width of folded text */

void dsn_text_put(struct dsn_writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (w->ok && !sbuf_vprintf(w->s, fmt, ap))
		w->ok = false;
	va_end(ap);
}

void dsn_text_put_bytes(struct dsn_writer *w, const void *p, size_t n)
{
	if (w->ok && !sbuf_append(w->s, p, n))
		w->ok = false;
}

bool dsn_text_has_8bit(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] >= 0x80)
			return true;
	}
	return false;
}

/* RFC 5322 3.3 date, always in UTC. Not strftime(): locale-free. */
bool dsn_text_fmt_date(time_t t, char *out, size_t size)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 ||
	    tm.tm_year > 9999 - 1900 || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return false;
	snprintf(out, size, "%.3s, %d %.3s %04d %02d:%02d:%02d +0000",
	         days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return true;
}

void dsn_text_put_date(struct dsn_writer *w, const char *field, time_t t)
{
	char d[64];

	w->ok = w->ok && dsn_text_fmt_date(t, d, sizeof(d));
	dsn_text_put(w, "%s: %s\r\n", field, d);
}

/*
 * s with control octets as "?" and 8-bit octets kept only when utf8 is
 * allowed and s is well-formed UTF-8. Short strings only (token length).
 */
void dsn_text_put_clean(struct dsn_writer *w, const char *s, bool utf8)
{
	size_t n = strlen(s), i;
	bool keep8 = utf8 && str_utf8_valid(s, n);
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if ((unsigned char)c < 0x20 || c == 0x7f ||
		    ((unsigned char)c >= 0x80 && !keep8))
			c = '?';
		dsn_text_put_bytes(w, &c, 1);
	}
}

/*
 * prefix, then text folded at spaces near FOLD_AT columns, continuation
 * lines starting with cont (which begins with white space); a word too
 * long for one line is cut at DSN_LINE_MAX_OCTETS. Ends with CR LF.
 */
void dsn_text_fold(struct dsn_writer *w, const char *prefix, const char *text,
                   const char *cont, bool utf8)
{
	size_t n = strlen(text), i, col, wlen, take;
	size_t clen = strlen(cont);
	bool keep8 = utf8 && str_utf8_valid(text, n), line_start = true;
	char *t = alloc_strdup(text);
	const char *p;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c < 0x20 || c == 0x7f)
			t[i] = ' ';
		else if (c >= 0x80 && !keep8)
			t[i] = '?';
	}
	dsn_text_put(w, "%s", prefix);
	col = strlen(prefix);
	for (p = t; *p != '\0';) {
		if (*p == ' ') {
			p++;
			continue;
		}
		wlen = strcspn(p, " ");
		if (!line_start && col + 1 + wlen > FOLD_AT) {
			dsn_text_put(w, "\r\n%s", cont);
			col = clen;
		} else if (!line_start) {
			dsn_text_put_bytes(w, " ", 1);
			col++;
		}
		line_start = false;
		while (wlen > DSN_LINE_MAX_OCTETS - col) {
			take = DSN_LINE_MAX_OCTETS - col;
			/* never cut inside a UTF-8 sequence */
			while (take > 0 &&
			       ((unsigned char)p[take] & 0xc0) == 0x80)
				take--;
			dsn_text_put_bytes(w, p, take);
			dsn_text_put(w, "\r\n%s", cont);
			col = clen;
			p += take;
			wlen -= take;
		}
		dsn_text_put_bytes(w, p, wlen);
		col += wlen;
		p += wlen;
	}
	dsn_text_put(w, "\r\n");
	free(t);
}

/* RFC 6533 3: utf-8-addr-unitext, "+", "=", "\" and non-graphic as \x{HH}. */
static void put_unitext(struct dsn_writer *w, const char *s)
{
	bool keep8 = str_utf8_valid(s, strlen(s));
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == '+' || *p == '=' ||
		    *p == '\\')
			dsn_text_put(w, "\\x{%02X}", *p);
		else if (*p >= 0x80 && !keep8)
			dsn_text_put_bytes(w, "?", 1);
		else
			dsn_text_put_bytes(w, p, 1);
	}
}

/* "Field: rfc822;addr", or "utf-8;" for non-ASCII in a global report. */
void dsn_text_put_addr_field(struct dsn_writer *w, const char *field,
                             const char *addr, bool global)
{
	if (global && dsn_text_has_8bit(addr, strlen(addr))) {
		dsn_text_put(w, "%s: utf-8;", field);
		put_unitext(w, addr);
	} else {
		dsn_text_put(w, "%s: rfc822;", field);
		dsn_text_put_clean(w, addr, false);
	}
	dsn_text_put(w, "\r\n");
}

/* RFC 2047 "B" encoded-words of s, whole UTF-8 sequences in each, at
 * most 45 octets (60 of base64, 72 in all) a word, folded between. */
static void put_encoded_words(struct dsn_writer *w, const char *s)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t take = n - i < 45 ? n - i : 45;

		/* do not cut a UTF-8 sequence: back off continuation bytes */
		while (i + take < n && take > 1 && (p[i + take] & 0xc0) == 0x80)
			take--;
		dsn_text_put(w, "%s=?utf-8?B?", i > 0 ? "\r\n " : "");
		for (size_t k = 0; k < take; k += 3) {
			unsigned v = (unsigned)p[i + k] << 16;
			char q[4];

			if (k + 1 < take)
				v |= (unsigned)p[i + k + 1] << 8;
			if (k + 2 < take)
				v |= p[i + k + 2];
			q[0] = b64[(v >> 18) & 63];
			q[1] = b64[(v >> 12) & 63];
			q[2] = k + 1 < take ? b64[(v >> 6) & 63] : '=';
			q[3] = k + 2 < take ? b64[v & 63] : '=';
			dsn_text_put_bytes(w, q, 4);
		}
		dsn_text_put_bytes(w, "?=", 2);
		i += take;
	}
}

void dsn_text_put_to(struct dsn_writer *w, const char *addr, bool global)
{
	const char *error;
	char *ascii = NULL;

	if (dsn_text_has_8bit(addr, strlen(addr)) &&
	    str_utf8_valid(addr, strlen(addr)) &&
	    intl_addr_to_ascii(addr, &ascii, &error) >= 0) {
		dsn_text_put_bytes(w, "To: ", 4);
		put_encoded_words(w, addr);
		dsn_text_put_bytes(w, "\r\n <", 4);
		dsn_text_put_clean(w, ascii, false);
		dsn_text_put_bytes(w, ">\r\n", 3);
	} else {
		dsn_text_put_bytes(w, "To: <", 5);
		dsn_text_put_clean(w, addr, global);
		dsn_text_put_bytes(w, ">\r\n", 3);
	}
	free(ascii);
}

/* spoolrec keeps ORCPT as "type;decoded address" (session_cmd.c). */
void dsn_text_put_orcpt(struct dsn_writer *w, const char *orcpt, bool global)
{
	const char *semi = strchr(orcpt, ';');

	if (semi == NULL || semi[1] == '\0')
		return;
	if (str_eq_case(orcpt, (size_t)(semi - orcpt), "rfc822", 6) &&
	    !dsn_text_has_8bit(semi + 1, strlen(semi + 1)))
		dsn_text_put_addr_field(w, "Original-Recipient", semi + 1,
		                        false);
	else if (global)
		dsn_text_put_addr_field(w, "Original-Recipient", semi + 1,
		                        true);
	/* else a UTF-8 ORCPT without SMTPUTF8: not representable, left out */
}
