/*
 * ldfilter - RFC 4515 filter escaping, validation and templates.
 *
 * SYNOPSIS
 *	ldfilter_escape(value, len, sbuf)
 *	ldfilter_validate(filter, len, &error)
 *	ldfilter_shape(filter, len, &shape, &error)
 *	ldfilter_template_check(template, &error)
 *	ldfilter_expand(template, address, len, &filter, &error)
 *
 * DESCRIPTION
 *	The only place where user input (an envelope address, an AUTH user
 *	name) becomes part of an LDAP filter. Values are escaped byte by byte,
 *	so they can only ever be assertion values; the expanded filter is then
 *	re-parsed by a strict RFC 4515 checker and its shape compared with the
 *	template's before it is handed out. Either check failing is a refusal,
 *	never a best effort.
 *
 *	The checker is a recursive-descent parser over struct buf. It is
 *	stricter than the RFC 4515 ABNF in one place: a substring filter needs
 *	at least one non-empty component and no empty component between two
 *	'*' ("(a=**)" is refused), because RFC 4511's SubstringFilter cannot
 *	carry an empty "any" and servers differ on what they make of it.
 *
 *	Pure: no I/O, no clock, no logging.
 */
#include "ldfilter.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"
#include "str.h"

/* What the template check substitutes: only valid inside a value. */
#define SAMPLE_VALUE "\\2a"

struct parser {
	struct buf b;
	struct sbuf *shape; /* NULL: only validate */
	unsigned depth;
	const char *error;
};

static bool fail(struct parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	return false;
}

static bool emit(struct parser *p, const void *data, size_t len)
{
	if (p->shape != NULL && !sbuf_append(p->shape, data, len))
		return fail(p, "filter too long");
	return true;
}

static bool peek_is(const struct parser *p, char c)
{
	uint8_t v;

	return buf_peek_u8(&p->b, &v) && v == (uint8_t)c;
}

static bool expect(struct parser *p, char c, const char *error)
{
	if (!buf_consume_char(&p->b, c))
		return fail(p, error);
	return emit(p, &c, 1);
}

static bool is_keychar(uint8_t c)
{
	return str_is_alpha_ascii(c) || str_is_digit_ascii(c) || c == '-';
}

static bool is_hex(uint8_t c)
{
	return str_is_digit_ascii(c) || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* number = DIGIT / ( LDIGIT 1*DIGIT ): no leading zero. */
static bool parse_number(struct parser *p)
{
	uint8_t c;
	bool leading_zero;

	if (!buf_fetch_u8(&p->b, &c) || !str_is_digit_ascii(c))
		return fail(p, "expected a digit in a numeric OID");
	leading_zero = c == '0';
	if (buf_peek_u8(&p->b, &c) && str_is_digit_ascii(c)) {
		if (leading_zero)
			return fail(p, "leading zero in a numeric OID");
		while (buf_peek_u8(&p->b, &c) && str_is_digit_ascii(c))
			buf_skip(&p->b, 1);
	}
	return true;
}

/*
 * oid = descr / numericoid (RFC 4512); emitted as is. *is_dn_r says
 * whether it was the word "dn" (any case), for extensible matches.
 */
static bool parse_oid(struct parser *p, bool *is_dn_r)
{
	uint8_t c;

	buf_tag(&p->b);
	if (!buf_peek_u8(&p->b, &c))
		return fail(p, "unexpected end of filter");
	if (str_is_alpha_ascii(c)) {
		while (buf_peek_u8(&p->b, &c) && is_keychar(c))
			buf_skip(&p->b, 1);
	} else if (str_is_digit_ascii(c)) {
		if (!parse_number(p))
			return false;
		if (!peek_is(p, '.'))
			return fail(p, "numeric OID needs at least one dot");
		while (buf_consume_char(&p->b, '.')) {
			if (!parse_number(p))
				return false;
		}
	} else {
		return fail(p, "expected an attribute or matching rule");
	}
	if (is_dn_r != NULL) {
		*is_dn_r = str_eq_case((const char *)buf_tag_data(&p->b),
		                       buf_tag_len(&p->b), "dn", 2);
	}
	return emit(p, buf_tag_data(&p->b), buf_tag_len(&p->b));
}

/* attributedescription = attributetype *( ";" 1*keychar ) */
static bool parse_attr(struct parser *p)
{
	uint8_t c;

	if (!parse_oid(p, NULL))
		return false;
	while (buf_consume_char(&p->b, ';')) {
		buf_tag(&p->b);
		while (buf_peek_u8(&p->b, &c) && is_keychar(c))
			buf_skip(&p->b, 1);
		if (buf_tag_len(&p->b) == 0)
			return fail(p, "empty attribute option");
		if (!emit(p, ";", 1) ||
		    !emit(p, buf_tag_data(&p->b), buf_tag_len(&p->b)))
			return false;
	}
	return true;
}

/*
 * assertionvalue = *( UTF1SUBSET / UTFMB / "\" HEX HEX ): stops before
 * '(', ')', '*' or the end. Emits '?' for a non-empty value.
 */
static bool parse_value(struct parser *p, size_t *len_r)
{
	size_t start = buf_pos(&p->b);
	uint8_t c, h1, h2;
	uint32_t cp;

	while (buf_peek_u8(&p->b, &c) && c != '(' && c != ')' && c != '*') {
		if (c == '\0')
			return fail(p, "NUL byte in a filter");
		if (c == '\\') {
			buf_skip(&p->b, 1);
			if (!buf_fetch_u8(&p->b, &h1) ||
			    !buf_fetch_u8(&p->b, &h2) || !is_hex(h1) ||
			    !is_hex(h2))
				return fail(p, "bad escape in an assertion "
				               "value");
		} else if (c >= 0x80) {
			if (!str_utf8_next(&p->b, &cp))
				return fail(p, "malformed UTF-8 in an "
				               "assertion value");
		} else {
			buf_skip(&p->b, 1);
		}
	}
	*len_r = buf_pos(&p->b) - start;
	return *len_r == 0 || emit(p, "?", 1);
}

/* After "attr=": equality, presence or substring. */
static bool parse_eq_or_substring(struct parser *p)
{
	size_t len;

	/*
	 * v0 *v1 ... *vn: equality (n = 0), presence (n = 1, both empty),
	 * else substring, where the "any" parts v1..vn-1 must be non-empty.
	 */
	if (!parse_value(p, &len))
		return false;
	while (buf_consume_char(&p->b, '*')) {
		if (!emit(p, "*", 1) || !parse_value(p, &len))
			return false;
		if (len == 0 && peek_is(p, '*'))
			return fail(p, "empty substring component");
	}
	return true;
}

/*
 * extensible = ( attr [":dn"] [":" oid] ":=" value )
 *            / ( [":dn"] ":" oid ":=" value )
 * Entered at the first ':'.
 */
static bool parse_extensible(struct parser *p, bool have_attr)
{
	unsigned ntok = 0;
	bool first_is_dn = false, is_dn = false;
	size_t len;

	for (;;) {
		if (!expect(p, ':', "expected ':=' in an extensible match"))
			return false;
		if (buf_consume_char(&p->b, '='))
			break;
		if (ntok == 2)
			return fail(p, "too many parts in an extensible match");
		if (!parse_oid(p, &is_dn))
			return false;
		if (ntok++ == 0)
			first_is_dn = is_dn;
	}
	if (!have_attr && ntok == 0)
		return fail(p, "extensible match needs an attribute or rule");
	if (ntok == 2 && !first_is_dn)
		return fail(p, "extensible match: expected ':dn'");
	return emit(p, "=", 1) && parse_value(p, &len);
}

static bool parse_item(struct parser *p)
{
	uint8_t c;
	size_t len;

	if (peek_is(p, ':'))
		return parse_extensible(p, false);
	if (!parse_attr(p))
		return false;
	if (peek_is(p, ':'))
		return parse_extensible(p, true);
	if (!buf_fetch_u8(&p->b, &c))
		return fail(p, "unexpected end of filter");
	switch (c) {
	case '=':
		return emit(p, "=", 1) && parse_eq_or_substring(p);
	case '~':
	case '>':
	case '<':
		if (!emit(p, &c, 1) ||
		    !expect(p, '=', "expected '=' after '~', '>' or '<'"))
			return false;
		return parse_value(p, &len);
	default:
		return fail(p, "expected a filter type after the attribute");
	}
}

static bool parse_filter(struct parser *p)
{
	bool ok;

	if (!expect(p, '(', "expected '('"))
		return false;
	if (++p->depth > LDFILTER_MAX_DEPTH)
		return fail(p, "filter nested too deeply");
	if (peek_is(p, '&') || peek_is(p, '|')) {
		uint8_t op;

		if (!buf_fetch_u8(&p->b, &op) || !emit(p, &op, 1))
			return false;
		if (!peek_is(p, '('))
			return fail(p, "empty '&' or '|' filter list");
		ok = true;
		while (ok && peek_is(p, '('))
			ok = parse_filter(p);
	} else if (buf_consume_char(&p->b, '!')) {
		ok = emit(p, "!", 1) && parse_filter(p);
	} else {
		ok = parse_item(p);
	}
	if (!ok || !expect(p, ')', "expected ')'"))
		return false;
	p->depth--;
	return true;
}

static int parse_all(const char *filter, size_t len, struct sbuf *shape,
                     const char **error_r)
{
	struct parser p = {.shape = shape};

	buf_init(&p.b, filter, len);
	if (len == 0) {
		*error_r = "empty filter";
		return -1;
	}
	if (!parse_filter(&p)) {
		*error_r = p.error;
		return -1;
	}
	if (buf_remaining(&p.b) > 0) {
		*error_r = "trailing bytes after the filter";
		return -1;
	}
	return 0;
}

int ldfilter_validate(const char *filter, size_t len, const char **error_r)
{
	return parse_all(filter, len, NULL, error_r);
}

int ldfilter_shape(const char *filter, size_t len, char **shape_r,
                   const char **error_r)
{
	/* A shape is never longer than its filter. */
	struct sbuf *shape = sbuf_new(len);
	int ret = parse_all(filter, len, shape, error_r);

	*shape_r = ret < 0 ? NULL : sbuf_steal(shape, NULL);
	sbuf_deinit(&shape);
	return ret;
}

/* Escaping */

static bool needs_escape(uint8_t c)
{
	return c < 0x20 || c >= 0x7f || c == '*' || c == '(' || c == ')' ||
	       c == '\\';
}

char *ldfilter_escape_str(const void *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	struct buf b;
	size_t n = 0, max;
	uint8_t c;
	char *out;

	if (!alloc_mul_ok(len, 3, &max) || !alloc_add_ok(max, 1, &max))
		abort(); /* cannot happen for an object that fits in memory */
	out = alloc_array(max, 1);
	buf_init(&b, s, len);
	while (buf_fetch_u8(&b, &c)) {
		if (needs_escape(c)) {
			out[n++] = '\\';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 0x0f];
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return out;
}

int ldfilter_escape(const void *s, size_t len, struct sbuf *out)
{
	char *esc = ldfilter_escape_str(s, len);
	/* One append: on failure out is left as it was. */
	bool ok = sbuf_append_str(out, esc);

	free(esc);
	return ok ? 0 : -1;
}

/* Templates */

enum { VAL_ADDRESS, VAL_LOCAL, VAL_DOMAIN, VAL_COUNT };

struct tvalue {
	const char *s;     /* escaped; NULL when unavailable */
	const char *error; /* why it is unavailable */
};

static int template_fill(const char *tmpl, const struct tvalue vals[VAL_COUNT],
                         struct sbuf *out, const char **error_r)
{
	struct buf b;
	const unsigned char *lit;
	size_t n;
	uint8_t c;
	int idx;

	buf_init(&b, tmpl, strlen(tmpl));
	for (;;) {
		n = buf_fetch_until(&b, "%", &lit);
		if (!sbuf_append(out, lit, n))
			goto too_long;
		if (!buf_consume_char(&b, '%'))
			return 0;
		if (!buf_fetch_u8(&b, &c)) {
			*error_r = "'%' at the end of the template";
			return -1;
		}
		switch (c) {
		case '%':
			if (!sbuf_append(out, "%", 1))
				goto too_long;
			continue;
		case 's':
			idx = VAL_ADDRESS;
			break;
		case 'u':
			idx = VAL_LOCAL;
			break;
		case 'd':
			idx = VAL_DOMAIN;
			break;
		default:
			*error_r = "unknown %-directive in the template "
			           "(only %s, %u, %d and %%)";
			return -1;
		}
		if (vals[idx].s == NULL) {
			*error_r = vals[idx].error;
			return -1;
		}
		if (!sbuf_append_str(out, vals[idx].s))
			goto too_long;
	}
too_long:
	*error_r = "filter too long";
	return -1;
}

static int template_shape_with(const char *tmpl, const char *value,
                               char **shape_r, const char **error_r)
{
	const struct tvalue vals[VAL_COUNT] = {
	    {value, NULL}, {value, NULL}, {value, NULL}};
	struct sbuf *out = sbuf_new(LDFILTER_MAX_LEN);
	int ret;

	ret = template_fill(tmpl, vals, out, error_r);
	if (ret == 0)
		ret = ldfilter_shape(sbuf_data(out), sbuf_len(out), shape_r,
		                     error_r);
	sbuf_deinit(&out);
	return ret;
}

/* ldfilter_template_check(), giving the template's shape. */
static int template_check_shape(const char *tmpl, char **shape_r,
                                const char **error_r)
{
	char *plain = NULL, *sample = NULL;
	long depth = 0;
	int ret = -1;

	*shape_r = NULL;
	if (tmpl == NULL || tmpl[0] == '\0') {
		*error_r = "empty template";
		return -1;
	}
	if (tmpl[0] != '(') {
		*error_r = "template must start with '('";
		return -1;
	}
	for (const char *t = tmpl; *t != '\0'; t++) {
		depth += *t == '(' ? 1 : *t == ')' ? -1 : 0;
		if (depth < 0)
			break;
	}
	if (depth != 0) {
		*error_r = "unbalanced parentheses in the template";
		return -1;
	}
	/* With a plain value: is the template itself a filter? */
	if (template_shape_with(tmpl, "x", &plain, error_r) < 0)
		goto done;
	/*
	 * With a value that is only valid inside an assertion value: a
	 * placeholder in an attribute, rule or operator position fails here.
	 */
	if (template_shape_with(tmpl, SAMPLE_VALUE, &sample, error_r) < 0 ||
	    strcmp(plain, sample) != 0) {
		*error_r = "a placeholder is outside an assertion value";
		goto done;
	}
	*shape_r = sample;
	sample = NULL;
	ret = 0;
done:
	free(plain);
	free(sample);
	return ret;
}

int ldfilter_template_check(const char *tmpl, const char **error_r)
{
	char *shape;

	if (template_check_shape(tmpl, &shape, error_r) < 0)
		return -1;
	free(shape);
	return 0;
}

int ldfilter_expand(const char *tmpl, const char *address, size_t len,
                    char **filter_r, const char **error_r)
{
	struct tvalue vals[VAL_COUNT] = {{NULL, "empty address"},
	                                 {NULL, "address has no '@'"},
	                                 {NULL, "address has no '@'"}};
	char *tshape = NULL, *rshape = NULL, *esc[VAL_COUNT] = {NULL};
	struct sbuf *out = NULL;
	size_t at = SIZE_MAX;
	struct buf b;
	uint8_t c;
	int ret = -1;

	*filter_r = NULL;
	if (template_check_shape(tmpl, &tshape, error_r) < 0)
		goto done;

	/* Split at the last '@'. */
	buf_init(&b, address, len);
	while (buf_fetch_u8(&b, &c)) {
		if (c == '@')
			at = buf_pos(&b) - 1;
	}
	if (len > 0)
		vals[VAL_ADDRESS].s = esc[VAL_ADDRESS] =
		    ldfilter_escape_str(address, len);
	if (at != SIZE_MAX) {
		vals[VAL_LOCAL].error = "empty local part";
		vals[VAL_DOMAIN].error = "empty domain";
		if (at > 0)
			vals[VAL_LOCAL].s = esc[VAL_LOCAL] =
			    ldfilter_escape_str(address, at);
		if (at + 1 < len)
			vals[VAL_DOMAIN].s = esc[VAL_DOMAIN] =
			    ldfilter_escape_str(address + at + 1, len - at - 1);
	}

	out = sbuf_new(LDFILTER_MAX_LEN);
	if (template_fill(tmpl, vals, out, error_r) < 0)
		goto done;
	/*
	 * Cannot fail after the template check, as escaped values are plain
	 * value bytes; checked anyway, because this is the line between user
	 * input and the directory (invariant 6).
	 */
	if (ldfilter_shape(sbuf_data(out), sbuf_len(out), &rshape, error_r) <
	        0 ||
	    strcmp(rshape, tshape) != 0) {
		*error_r = "internal error: expansion changed the filter";
		goto done;
	}
	*filter_r = sbuf_steal(out, NULL);
	ret = 0;
done:
	for (int i = 0; i < VAL_COUNT; i++)
		free(esc[i]);
	free(tshape);
	free(rshape);
	sbuf_deinit(&out);
	return ret;
}
