/*
 * authproto_wire - the authd protocol's line format: framing, strict
 * decoding of a line into a message, encoding a message into a line.
 *
 * Grammar (include/authproto.txt has the full text):
 *   line  = verb SP id *(SP key "=" value) LF
 *   verb  = 1*16 %x41-5A, one of the known verbs
 *   id    = "0" / %x31-39 *19DIGIT, at most 18446744073709551615
 *   key   = 1*32 (%x61-7A / DIGIT / "_")
 *   value = *(safe / "%" HEX HEX)   ; safe = %x21-7E except "%" and "="
 * with exactly one spelling per value: a byte that may stand for itself
 * must not be escaped, and hex digits are uppercase. So a line that parses
 * formats back to the same bytes, which the fuzz target checks.
 */
#include "authproto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authproto_private.h"
#include "buf.h"
#include "sbuf.h"
#include "str.h"

static bool must_escape(uint8_t c)
{
	return c < 0x21 || c > 0x7e || c == '%' || c == '=';
}

int authproto_frame(const struct sbuf *in, const char **line_r, size_t *len_r,
                    size_t *consumed_r, const char **error_r)
{
	const char *data = sbuf_data(in);
	size_t n = sbuf_len(in);
	size_t scan = n < AUTHPROTO_LINE_MAX ? n : AUTHPROTO_LINE_MAX;
	/* memchr on a known length: a search, not parsing, and much faster
	   than a byte loop when a big answer arrives in many reads. */
	const char *lf = memchr(data, '\n', scan);

	if (lf == NULL) {
		if (n >= AUTHPROTO_LINE_MAX) {
			*error_r = "line too long";
			return -1;
		}
		return 0;
	}
	*line_r = data;
	*len_r = (size_t)(lf - data);
	*consumed_r = *len_r + 1;
	return 1;
}

static enum authproto_verb verb_lookup(const unsigned char *p, size_t n)
{
	for (int v = AUTHPROTO_HELLO; v < AUTHPROTO_VERB_COUNT; v++) {
		const char *name = authproto_table_verb_name(v);

		if (strlen(name) == n && memcmp(name, p, n) == 0)
			return v;
	}
	return AUTHPROTO_NONE;
}

static const char *head_parse(struct buf *b, enum authproto_verb *verb_r,
                              uint64_t *id_r)
{
	const unsigned char *p;
	size_t n;

	n = buf_fetch_until(b, " ", &p);
	*verb_r = verb_lookup(p, n);
	if (!buf_consume_char(b, ' '))
		return "missing ID";
	n = buf_fetch_until(b, " ", &p);
	if (!authproto_uint_parse((const char *)p, n, UINT64_MAX, id_r))
		return "bad ID";
	return NULL;
}

int authproto_parse_head(const char *line, size_t len,
                         enum authproto_verb *verb_r, uint64_t *id_r,
                         const char **error_r)
{
	struct buf b;
	const char *err;

	if (len >= AUTHPROTO_LINE_MAX) {
		*error_r = "line too long";
		return -1;
	}
	buf_init(&b, line, len);
	err = head_parse(&b, verb_r, id_r);
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	return 0;
}

static bool key_ok(const unsigned char *p, size_t n)
{
	if (n == 0 || n > AUTHPROTO_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return false;
	}
	return true;
}

/* Uppercase only: one spelling per byte. */
static int hex_value(uint8_t c)
{
	return str_hex_value(c, STR_HEX_UPPER);
}

/* Decode raw[0..n) into out (room for n bytes); *len_r bytes written. */
static const char *value_decode(const unsigned char *raw, size_t n, char *out,
                                size_t *len_r)
{
	struct buf b;
	uint8_t c, h, l;
	size_t o = 0;

	buf_init(&b, raw, n);
	while (buf_fetch_u8(&b, &c)) {
		if (c == '%') {
			if (!buf_fetch_u8(&b, &h) || !buf_fetch_u8(&b, &l) ||
			    hex_value(h) < 0 || hex_value(l) < 0)
				return "bad escape";
			c = (uint8_t)(hex_value(h) * 16 + hex_value(l));
			if (c == '\0')
				return "NUL in value";
			if (!must_escape(c))
				return "needless escape";
		} else if (c == '\r') {
			return "CR in line";
		} else if (must_escape(c)) {
			return "unescaped byte in value";
		}
		out[o++] = (char)c;
	}
	*len_r = o;
	return NULL;
}

static const char *fields_parse(struct buf *b, struct authproto_msg *m)
{
	const struct authproto_fieldspec *spec;
	const unsigned char *p;
	const char *err;
	size_t n, idx, vlen;

	while (buf_remaining(b) > 0) {
		if (!buf_consume_char(b, ' '))
			return "bad separator";
		n = buf_fetch_until(b, "= ", &p);
		if (n == 0)
			return "empty field";
		if (!key_ok(p, n))
			return memchr(p, '\r', n) != NULL ? "CR in line"
			                                  : "bad key";
		spec = authproto_spec_find(m->schema, (const char *)p, n, &idx);
		if (spec == NULL)
			return "unknown key";
		if (!buf_consume_char(b, '='))
			return "missing '='";
		n = buf_fetch_until(b, " ", &p);
		/* The arena holds remaining + 1 bytes: every field spends at
		   least "k=" on the wire for a value that decodes no longer
		   than it is, plus one NUL. */
		err = value_decode(p, n, m->arena + m->used, &vlen);
		if (err == NULL)
			err = authproto_value_check(spec, m->arena + m->used,
			                            vlen);
		if (err != NULL)
			return err;
		m->arena[m->used + vlen] = '\0';
		authproto_field_push(m, idx, m->used, vlen);
		m->used += vlen + 1;
	}
	return authproto_msg_check(m);
}

static int parse(const char *line, size_t len, bool want_request,
                 enum authproto_verb request, struct authproto_msg **msg_r,
                 const char **error_r)
{
	const struct authproto_schema *schema;
	struct authproto_msg *m = NULL;
	enum authproto_verb verb;
	const char *err;
	struct buf b;
	uint64_t id;

	*msg_r = NULL;
	if (len >= AUTHPROTO_LINE_MAX) {
		err = "line too long";
		goto done;
	}
	buf_init(&b, line, len);
	if ((err = head_parse(&b, &verb, &id)) != NULL)
		goto done;
	if (verb == AUTHPROTO_NONE) {
		err = "unknown verb";
		goto done;
	}
	if (want_request) {
		request = verb;
		if (!authproto_verb_is_request(verb)) {
			err = "not a request";
			goto done;
		}
	} else if (!authproto_verb_is_answer(verb)) {
		err = "not an answer";
		goto done;
	}
	schema = authproto_table_schema(verb, request);
	if (schema == NULL) {
		err = "answer not allowed to this request";
		goto done;
	}
	if (!authproto_id_allowed(request, id)) {
		err = "ID not allowed here";
		goto done;
	}
	m = authproto_msg_alloc(verb, request, id, schema,
	                        buf_remaining(&b) + 1);
	err = fields_parse(&b, m);
done:
	if (err != NULL) {
		authproto_msg_deinit(&m);
		*error_r = err;
		return -1;
	}
	*msg_r = m;
	return 0;
}

int authproto_parse_request(const char *line, size_t len,
                            struct authproto_msg **msg_r, const char **error_r)
{
	return parse(line, len, true, AUTHPROTO_NONE, msg_r, error_r);
}

int authproto_parse_answer(const char *line, size_t len,
                           enum authproto_verb request,
                           struct authproto_msg **msg_r, const char **error_r)
{
	return parse(line, len, false, request, msg_r, error_r);
}

static size_t encoded_len(const char *v, size_t len)
{
	size_t n = len;

	for (size_t i = 0; i < len; i++)
		n += must_escape((uint8_t)v[i]) ? 2 : 0;
	return n;
}

/* Fields in wire form, flushed to out through a small stack buffer that is
   wiped afterwards (it may have held a password). */
static void fields_append(const struct authproto_msg *m, struct sbuf *out)
{
	char chunk[512];
	size_t c = 0;
	bool ok = true;

	for (size_t i = 0; i < m->count; i++) {
		const struct authproto_rawfield *f = &m->fields[i];
		const char *key = m->schema->fields[f->spec].key;
		const char *v = m->arena + f->off;

		ok = ok && sbuf_append(out, chunk, c);
		c = 0;
		ok = ok && sbuf_printf(out, " %s=", key);
		for (size_t j = 0; j < f->len; j++) {
			uint8_t b = (uint8_t)v[j];

			if (c + 3 > sizeof(chunk)) {
				ok = ok && sbuf_append(out, chunk, c);
				c = 0;
			}
			if (must_escape(b)) {
				chunk[c++] = '%';
				chunk[c++] =
				    str_hex_digit(b >> 4, STR_HEX_UPPER);
				chunk[c++] = str_hex_digit(b, STR_HEX_UPPER);
			} else {
				chunk[c++] = (char)b;
			}
		}
	}
	ok = ok && sbuf_append(out, chunk, c);
	explicit_bzero(chunk, sizeof(chunk));
	/* format checked the room first: a failure here is a bug */
	if (!ok)
		abort();
}

int authproto_msg_format(const struct authproto_msg *m, struct sbuf *out,
                         const char **error_r)
{
	const char *name = authproto_table_verb_name(m->verb);
	char id[AUTHPROTO_ID_DIGITS_MAX + 2];
	const char *err = m->error;
	size_t n;

	if (err == NULL)
		err = authproto_msg_check(m);
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	snprintf(id, sizeof(id), " %" PRIu64, m->id);
	n = strlen(name) + strlen(id) + 1;
	for (size_t i = 0; i < m->count && n <= AUTHPROTO_LINE_MAX; i++) {
		const struct authproto_rawfield *f = &m->fields[i];

		n += 2 + strlen(m->schema->fields[f->spec].key) +
		     encoded_len(m->arena + f->off, f->len);
	}
	if (n > AUTHPROTO_LINE_MAX) {
		*error_r = "line too long";
		return -1;
	}
	if (n > sbuf_limit(out) - sbuf_len(out)) {
		*error_r = "output buffer full";
		return -1;
	}
	if (!sbuf_append_str(out, name) || !sbuf_append_str(out, id))
		abort();
	fields_append(m, out);
	if (!sbuf_append(out, "\n", 1))
		abort();
	return 0;
}
