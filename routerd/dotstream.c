/*
 * dotstream - DATA / BDAT body reader; see dotstream.h.
 *
 * SYNOPSIS
 *	ds = dotstream_new(max_size, max_line);
 *	while ((rc = dotstream_feed(ds, p, n, &used, out)) == 0)
 *		... read more ...
 *	dotstream_stats(ds, &st);
 *	dotstream_deinit(&ds);
 *
 * DESCRIPTION
 *	One byte at a time through a small state machine whose whole state
 *	lives in struct dotstream, so any split of the input gives the same
 *	result; inside a line of a header field or of the body, the octets
 *	up to the next CR, LF or NUL go through in one run (text_run), with
 *	the same effect as one at a time - most of a message is such runs. Three
 *layers, each with its own counters:
 *	  - wire: the input line (line length on the wire, bare CR / LF);
 *	  - output: unstuffed, normalised octets (size limit, staging);
 *	  - header scan: field names of the header section ("Received:").
 *	The end of data needs a line that began after a real CR LF, holds
 *	"." alone and ends with a real CR LF; nothing else ends it.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "dotstream.h"
#include "str.h"

enum wire_state {
	W_START,  /* at the start of a line */
	W_TEXT,   /* inside a line */
	W_CR,     /* a CR was read: CR LF, or a bare CR */
	W_DOT,    /* "." at the start of a line */
	W_DOT_CR, /* "." CR at the start of a line */
};

enum hdr_state {
	H_START, /* start of a header line */
	H_NAME,  /* inside a field name */
	H_WSP,   /* WSP between the name and the colon (obs-syntax) */
	H_FIELD, /* a field or continuation line: the rest is its value */
	H_BODY,  /* the header section is over */
};

#define STAGE_SIZE 4096
#define TEXT_WINDOW 512 /* octets text_run() looks at, at most */

struct dotstream {
	bool bdat;
	bool done;
	uint64_t max_size;
	size_t max_line;

	enum wire_state ws;
	bool real_start; /* this line began after a real CR LF */
	uint64_t line_len;

	enum hdr_state hs;
	unsigned name_len;
	bool recv_match;
	bool mid_match; /* the name so far is a prefix of "message-id" */
	bool in_msgid;  /* capturing the first Message-ID's value */
	size_t msgid_len;
	uint64_t line_out_start; /* output offset of this line */

	struct dotstream_stats st;

	size_t nstage;
	unsigned char stage[STAGE_SIZE];
};

static struct dotstream *create(uint64_t max_size, size_t max_line, bool bdat)
{
	struct dotstream *ds = alloc_new(struct dotstream);

	ds->bdat = bdat;
	ds->max_size = max_size;
	ds->max_line = max_line;
	ds->ws = W_START;
	ds->real_start = true; /* the CR LF of the DATA command */
	ds->hs = H_START;
	return ds;
}

struct dotstream *dotstream_new(uint64_t max_size, size_t max_line)
{
	return create(max_size, max_line, false);
}

struct dotstream *dotstream_new_bdat(uint64_t max_size, size_t max_line)
{
	return create(max_size, max_line, true);
}

void dotstream_deinit(struct dotstream **ds)
{
	free(*ds);
	*ds = NULL;
}

/* ---- output layer ---- */

static void flush(struct dotstream *ds, struct sbuf *out)
{
	size_t room = sbuf_limit(out) - sbuf_len(out);

	if (ds->nstage == 0)
		return;
	if (room < ds->nstage) {
		/* Fill to the limit: deterministic whatever the staging. */
		sbuf_append(out, ds->stage, room);
		ds->st.too_big = true;
	} else {
		sbuf_append(out, ds->stage, ds->nstage);
	}
	ds->nstage = 0;
}

static void put(struct dotstream *ds, struct sbuf *out, unsigned char c)
{
	ds->st.size++;
	if (ds->st.too_big)
		return;
	if (ds->max_size != 0 && ds->st.size > ds->max_size) {
		ds->st.too_big = true;
		return;
	}
	ds->stage[ds->nstage++] = c;
	if (ds->nstage == STAGE_SIZE)
		flush(ds, out);
}

/* put() of each of p[0..n), in one go: the same octets, counts and cut. */
static void put_run(struct dotstream *ds, struct sbuf *out,
                    const unsigned char *p, size_t n)
{
	uint64_t before = ds->st.size;

	ds->st.size += n;
	if (ds->st.too_big)
		return;
	if (ds->max_size != 0 && ds->st.size > ds->max_size) {
		/* before <= max_size, or too_big would be set already */
		n = (size_t)(ds->max_size - before);
		ds->st.too_big = true;
	}
	while (n > 0) {
		size_t k = STAGE_SIZE - ds->nstage;

		if (k > n)
			k = n;
		memcpy(ds->stage + ds->nstage, p, k);
		ds->nstage += k;
		p += k;
		n -= k;
		if (ds->nstage == STAGE_SIZE) {
			flush(ds, out);
			if (ds->st.too_big)
				return; /* out's own limit cut it */
		}
	}
}

/* ---- header scan ---- */

/* The Message-ID value is complete: drop trailing white space. */
static void msgid_end(struct dotstream *ds)
{
	if (!ds->in_msgid)
		return;
	ds->in_msgid = false;
	while (ds->msgid_len > 0 &&
	       (ds->st.message_id[ds->msgid_len - 1] == ' ' ||
	        ds->st.message_id[ds->msgid_len - 1] == '\t'))
		ds->msgid_len--;
	ds->st.message_id[ds->msgid_len] = '\0';
	ds->msgid_len = DOTSTREAM_MSGID_MAX + 1; /* only the first one */
}

static void msgid_byte(struct dotstream *ds, unsigned char c)
{
	if (ds->msgid_len >= DOTSTREAM_MSGID_MAX ||
	    (ds->msgid_len == 0 && (c == ' ' || c == '\t')))
		return;
	ds->st.message_id[ds->msgid_len++] = (char)c;
}

static void header_over(struct dotstream *ds)
{
	msgid_end(ds);
	ds->hs = H_BODY;
	ds->st.header_end_seen = true;
	ds->st.header_bytes = ds->line_out_start;
}

static void header_field(struct dotstream *ds)
{
	if (ds->recv_match && ds->name_len == 8 && ds->st.received < ~0u)
		ds->st.received++;
	if (ds->mid_match && ds->name_len == 10 && ds->msgid_len == 0)
		ds->in_msgid = true;
	ds->st.headers_seen = true;
	ds->hs = H_FIELD;
}

/* RFC 5322 3.6.8 ftext: printable US-ASCII but ':'. */
static bool is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static void header_byte(struct dotstream *ds, unsigned char c)
{
	static const char received[] = "received";
	static const char message_id[] = "message-id";
	bool wsp = c == ' ' || c == '\t';

	switch (ds->hs) {
	case H_START:
		if (wsp && ds->st.headers_seen) {
			ds->hs = H_FIELD; /* continuation line */
			if (ds->in_msgid)
				msgid_byte(ds, ' ');
		} else if (is_ftext(c)) {
			msgid_end(ds);
			ds->hs = H_NAME;
			ds->name_len = 1;
			ds->recv_match = str_to_lower_ascii(c) == 'r';
			ds->mid_match = str_to_lower_ascii(c) == 'm';
		} else {
			header_over(ds);
		}
		break;
	case H_NAME:
		if (is_ftext(c)) {
			ds->recv_match =
			    ds->recv_match && ds->name_len < 8 &&
			    str_to_lower_ascii(c) == received[ds->name_len];
			ds->mid_match =
			    ds->mid_match && ds->name_len < 10 &&
			    str_to_lower_ascii(c) == message_id[ds->name_len];
			if (ds->name_len < 11)
				ds->name_len++;
		} else if (c == ':') {
			header_field(ds);
		} else if (wsp) {
			ds->hs = H_WSP;
		} else {
			header_over(ds);
		}
		break;
	case H_WSP:
		if (c == ':')
			header_field(ds);
		else if (!wsp)
			header_over(ds);
		break;
	case H_FIELD:
		if (ds->in_msgid && c != '\r' && c != '\n')
			msgid_byte(ds, c);
		break;
	case H_BODY:
		break;
	}
}

static void header_eol(struct dotstream *ds)
{
	if (ds->hs == H_FIELD)
		ds->hs = H_START;
	else if (ds->hs != H_BODY)
		header_over(
		    ds); /* the empty line, or a line that is no field */
}

/* ---- content and line ends ---- */

static void content(struct dotstream *ds, struct sbuf *out, unsigned char c)
{
	if (c == '\0')
		ds->st.nul_bytes++;
	header_byte(ds, c);
	if (c >= 0x80 && ds->hs == H_FIELD)
		ds->st.header_8bit = true;
	put(ds, out, c);
}

static void wire_byte(struct dotstream *ds)
{
	ds->line_len++;
	if (ds->line_len > ds->st.longest_line)
		ds->st.longest_line = ds->line_len;
	if (ds->max_line != 0 && ds->line_len > ds->max_line)
		ds->st.line_too_long = true;
}

/*
 * Octets inside a line that need no state machine: after the line's first
 * octet (W_TEXT), in a header field's value or in the body, up to the next
 * CR, LF or NUL. How many of the unread octets of b are such a run; 0 when
 * the next octet must go through step().
 */
static size_t text_run(const struct dotstream *ds, const struct buf *b)
{
	const unsigned char *p = buf_peek(b), *q;
	size_t n = buf_remaining(b);

	if (ds->ws != W_TEXT || (ds->hs != H_FIELD && ds->hs != H_BODY))
		return 0;
	/* memchr() over a bounded window: a run longer than it is taken in
	 * several, and a CR missing from a long input (bare LF lines) costs
	 * one window per run, never a scan to the end of the input. */
	if (n > TEXT_WINDOW)
		n = TEXT_WINDOW;
	if ((q = memchr(p, '\n', n)) != NULL)
		n = (size_t)(q - p);
	if ((q = memchr(p, '\r', n)) != NULL)
		n = (size_t)(q - p);
	if ((q = memchr(p, '\0', n)) != NULL)
		n = (size_t)(q - p);
	return n;
}

/* wire_byte() and content() of each octet of a text_run(). */
static void text(struct dotstream *ds, struct sbuf *out, const unsigned char *p,
                 size_t n)
{
	ds->line_len += n;
	if (ds->line_len > ds->st.longest_line)
		ds->st.longest_line = ds->line_len;
	if (ds->max_line != 0 && ds->line_len > ds->max_line)
		ds->st.line_too_long = true;
	if (ds->hs == H_FIELD) {
		for (size_t i = 0; i < n; i++) {
			if (ds->in_msgid)
				msgid_byte(ds, p[i]);
			if (p[i] >= 0x80)
				ds->st.header_8bit = true;
		}
	}
	put_run(ds, out, p, n);
}

/* End the current line with CR LF; real: it ended with a real CR LF. */
static void line_end(struct dotstream *ds, struct sbuf *out, bool real)
{
	header_eol(ds);
	put(ds, out, '\r');
	put(ds, out, '\n');
	ds->st.lines++;
	ds->line_out_start = ds->st.size;
	ds->line_len = 0;
	ds->real_start = real;
	ds->ws = W_START;
}

/* One input byte; true at the end of data. */
static bool step(struct dotstream *ds, struct sbuf *out, unsigned char c)
{
	for (;;) {
		switch (ds->ws) {
		case W_START:
			if (!ds->bdat && c == '.') {
				wire_byte(ds);
				ds->ws = W_DOT;
				return false;
			}
			/* FALLTHROUGH */
		case W_TEXT:
			if (c == '\r') {
				ds->ws = W_CR;
			} else if (c == '\n') {
				ds->st.bare_lf++;
				line_end(ds, out, false);
			} else {
				wire_byte(ds);
				content(ds, out, c);
				ds->ws = W_TEXT;
			}
			return false;
		case W_CR:
			if (c == '\n') {
				line_end(ds, out, true);
				return false;
			}
			ds->st.bare_cr++;
			line_end(ds, out, false);
			continue; /* c starts the next line */
		case W_DOT:
			if (c == '\r') {
				ds->ws = W_DOT_CR;
			} else if (c == '\n') {
				/* "." + bare LF: content, never an end. */
				content(ds, out, '.');
				ds->st.bare_lf++;
				line_end(ds, out, false);
			} else {
				/* Unstuff: the leading dot is dropped. */
				wire_byte(ds);
				content(ds, out, c);
				ds->ws = W_TEXT;
			}
			return false;
		case W_DOT_CR:
			if (c == '\n') {
				if (ds->real_start)
					return true;
				/* bare CR/LF before the "." CR LF line */
				content(ds, out, '.');
				line_end(ds, out, true);
				return false;
			}
			content(ds, out, '.');
			ds->st.bare_cr++;
			line_end(ds, out, false);
			continue;
		}
	}
}

/* Consume b up to the end of data (true) or to its end (false). */
static bool feed(struct dotstream *ds, struct buf *b, struct sbuf *out)
{
	uint8_t c;

	for (;;) {
		size_t n = text_run(ds, b);

		if (n > 0) {
			text(ds, out, buf_peek(b), n);
			buf_skip(b, n);
		} else if (!buf_fetch_u8(b, &c)) {
			return false;
		} else if (step(ds, out, c)) {
			return true;
		}
	}
}

int dotstream_feed(struct dotstream *ds, const void *data, size_t len,
                   size_t *consumed_r, struct sbuf *out)
{
	struct buf b;

	if (ds->bdat)
		abort(); /* internal bug: a BDAT stream fed as DATA */
	*consumed_r = 0;
	if (ds->done)
		return 1;
	buf_init(&b, data, len);
	if (feed(ds, &b, out))
		ds->done = true;
	flush(ds, out);
	*consumed_r = buf_pos(&b);
	return ds->done ? 1 : 0;
}

void dotstream_bdat_feed(struct dotstream *ds, const void *data, size_t len,
                         struct sbuf *out)
{
	struct buf b;

	if (!ds->bdat || ds->done)
		abort(); /* internal bug: wrong mode, or fed after LAST */
	buf_init(&b, data, len);
	(void)feed(ds, &b, out); /* BDAT: step() never sees an end */
	flush(ds, out);
}

void dotstream_bdat_finish(struct dotstream *ds, struct sbuf *out)
{
	if (!ds->bdat)
		abort();
	if (ds->done)
		return;
	if (ds->ws == W_CR) {
		ds->st.bare_cr++;
		line_end(ds, out, false);
	} else if (ds->ws == W_TEXT) {
		ds->st.final_eol_added = true;
		line_end(ds, out, false);
	}
	flush(ds, out);
	ds->done = true;
}

bool dotstream_done(const struct dotstream *ds)
{
	return ds->done;
}

void dotstream_stats(const struct dotstream *ds, struct dotstream_stats *st_r)
{
	*st_r = ds->st;
	if (!st_r->header_end_seen)
		st_r->header_bytes = ds->line_out_start;
}

unsigned dotstream_received_count(const struct dotstream *ds)
{
	return ds->st.received;
}
