/*
 * NAME
 *	addr - RFC 5321 / RFC 6531 envelope address parser; see addr.h.
 *
 * DESCRIPTION
 *	A hand-written recursive-descent parser over the bounded buf cursor,
 *	one function per ABNF rule of RFC 5321 section 4.1.2 (Path,
 *	A-d-l, Mailbox, Dot-string, Quoted-string, Domain, address-literal),
 *	with the RFC 6531 extensions behind ADDR_ALLOW_UTF8. Every part is
 *	built in a fixed buffer sized by the RFC 5321 4.5.3.1 limits, so an
 *	over-long input is refused as soon as it passes a limit and nothing
 *	is allocated until the address is known to be good.
 *
 *	No library fits: libc has no RFC 5321 parser, and the RFC 5322
 *	parsers of mail libraries accept comments, folding and obsolete
 *	forms that an SMTP envelope must refuse.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "str.h"

struct addr {
	char *local;
	char *domain;
	char *full;
	unsigned flags;
	bool null;
};

struct parser {
	struct buf b;
	unsigned allow;  /* ADDR_ALLOW_* */
	unsigned result; /* ADDR_F_* */
	const char *error;
	char local[ADDR_LOCAL_MAX + 1];
	size_t local_len;
	char domain[ADDR_DOMAIN_MAX + 1];
	size_t domain_len;
};

/* The longest literal we look at: "IPv6:" and a full IPv4-mapped form. */
#define ADDR_LITERAL_MAX 64

static int fail(struct parser *p, const char *msg)
{
	if (p->error == NULL)
		p->error = msg;
	return -1;
}

/* Append c to dst (capacity max bytes, NUL excluded); false when full. */
static bool put(char *dst, size_t *len, size_t max, uint8_t c)
{
	if (*len >= max)
		return false;
	dst[(*len)++] = (char)c;
	dst[*len] = '\0';
	return true;
}

static bool is_atext(uint8_t c)
{
	return str_is_alpha_ascii(c) || str_is_digit_ascii(c) ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_term(uint8_t c, const char *terms)
{
	return c != '\0' && strchr(terms, c) != NULL;
}

/* Why the byte c cannot be where it is. */
static const char *bad_char(uint8_t c, bool in_domain)
{
	if (c == '\0')
		return "NUL character in address";
	if (c == '\r' || c == '\n')
		return "CR or LF in address";
	if (c < 0x20 || c == 0x7f)
		return "control character in address";
	if (c == ' ')
		return "space in address";
	if (c >= 0x80)
		return "8-bit characters in address need SMTPUTF8";
	if (c == '<' || c == '>')
		return "unexpected angle bracket in address";
	if (c == '@')
		return "more than one @ in address";
	if (c == '"')
		return "misplaced quote in address";
	return in_domain ? "invalid character in domain"
	                 : "invalid character in local part";
}

/*
 * Copy one UTF-8 sequence from the input to dst. Returns the number of
 * bytes, or 0 with p->error set (not allowed, malformed, C1 control, or
 * no room: too_long is then the error).
 */
static size_t fetch_utf8(struct parser *p, char *dst, size_t *len, size_t max,
                         const char *too_long)
{
	uint32_t cp;
	size_t n;
	const unsigned char *seq;

	if ((p->allow & ADDR_ALLOW_UTF8) == 0) {
		fail(p, "8-bit characters in address need SMTPUTF8");
		return 0;
	}
	buf_tag(&p->b);
	if (!str_utf8_next(&p->b, &cp)) {
		fail(p, "invalid UTF-8 in address");
		return 0;
	}
	if (cp < 0xa0) {
		fail(p, "control character in address");
		return 0;
	}
	seq = buf_tag_data(&p->b);
	n = buf_tag_len(&p->b);
	for (size_t i = 0; i < n; i++) {
		if (!put(dst, len, max, seq[i])) {
			fail(p, too_long);
			return 0;
		}
	}
	p->result |= ADDR_F_UTF8;
	return n;
}

/* Dot-string, canonical as sent; stops before '@', a term or the end. */
static int parse_dot_string(struct parser *p, const char *terms)
{
	size_t atom = 0;
	uint8_t c;

	while (buf_peek_u8(&p->b, &c) && c != '@' && !is_term(c, terms)) {
		if (c == '.') {
			if (atom == 0)
				return fail(
				    p, p->local_len == 0
				           ? "local part starts with a dot"
				           : "consecutive dots in local part");
			atom = 0;
		} else if (c >= 0x80) {
			if (fetch_utf8(p, p->local, &p->local_len,
			               ADDR_LOCAL_MAX,
			               "local part too long") == 0)
				return -1;
			atom++;
			continue;
		} else if (is_atext(c)) {
			atom++;
		} else {
			return fail(p, bad_char(c, false));
		}
		if (!put(p->local, &p->local_len, ADDR_LOCAL_MAX, c))
			return fail(p, "local part too long");
		buf_skip(&p->b, 1);
	}
	if (p->local_len == 0)
		return fail(p, "empty local part");
	if (atom == 0)
		return fail(p, "local part ends with a dot");
	return 0;
}

static bool is_dot_string(const char *s, size_t len)
{
	bool in_atom = false;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];

		if (c == '.') {
			if (!in_atom)
				return false;
			in_atom = false;
		} else if (is_atext(c) || c >= 0x80) {
			in_atom = true;
		} else {
			return false;
		}
	}
	return in_atom;
}

/*
 * Quoted-string: decode the content, then keep it unquoted when it is a
 * Dot-string, else re-quote it escaping only '"' and '\'.
 */
static int parse_quoted(struct parser *p)
{
	char content[ADDR_LOCAL_MAX + 1];
	size_t clen = 0, start = buf_pos(&p->b);
	uint8_t c;

	buf_skip(&p->b, 1);
	for (;;) {
		if (!buf_fetch_u8(&p->b, &c))
			return fail(p, "unbalanced quote in local part");
		if (c == '"')
			break;
		if (c == '\\') {
			if (!buf_fetch_u8(&p->b, &c))
				return fail(p,
				            "backslash at end of local part");
			if (c >= 0x80)
				return fail(p, "invalid escape in local part");
			if (c < 0x20 || c == 0x7f)
				return fail(p, bad_char(c, false));
		} else if (c >= 0x80) {
			buf_seek(&p->b, buf_pos(&p->b) - 1);
			if (fetch_utf8(p, content, &clen, ADDR_LOCAL_MAX,
			               "local part too long") == 0)
				return -1;
			continue;
		} else if (c < 0x20 || c == 0x7f) {
			return fail(p, bad_char(c, false));
		}
		if (!put(content, &clen, ADDR_LOCAL_MAX, c))
			return fail(p, "local part too long");
	}
	if (buf_pos(&p->b) - start > ADDR_LOCAL_MAX)
		return fail(p, "local part too long");
	if (clen == 0)
		return fail(p, "empty quoted local part");
	if (is_dot_string(content, clen)) {
		memcpy(p->local, content, clen + 1);
		p->local_len = clen;
		return 0;
	}
	/* Canonical form is never longer than what was sent. */
	p->result |= ADDR_F_QUOTED;
	put(p->local, &p->local_len, ADDR_LOCAL_MAX, '"');
	for (size_t i = 0; i < clen; i++) {
		c = (uint8_t)content[i];
		if ((c == '"' || c == '\\') &&
		    !put(p->local, &p->local_len, ADDR_LOCAL_MAX, '\\'))
			return fail(p, "local part too long");
		if (!put(p->local, &p->local_len, ADDR_LOCAL_MAX, c))
			return fail(p, "local part too long");
	}
	if (!put(p->local, &p->local_len, ADDR_LOCAL_MAX, '"'))
		return fail(p, "local part too long");
	return 0;
}

static void local_flags(struct parser *p)
{
	for (size_t i = 0; i < p->local_len; i++) {
		switch (p->local[i]) {
		case '%':
			p->result |= ADDR_F_PERCENT;
			break;
		case '!':
			p->result |= ADDR_F_BANG;
			break;
		case '@':
			p->result |= ADDR_F_AT_IN_LOCAL;
			break;
		}
	}
}

/* After a domain: the end of the input or one of terms. */
static int domain_end(struct parser *p, const char *terms, const char *msg)
{
	uint8_t c;

	if (!buf_peek_u8(&p->b, &c) || is_term(c, terms))
		return 0;
	return fail(p, msg != NULL ? msg : bad_char(c, true));
}

static int parse_literal(struct parser *p, const char *terms, char *out,
                         size_t *out_len)
{
	char lit[ADDR_LITERAL_MAX + 1], text[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t n = 0;
	uint8_t c;
	const char *s;

	buf_skip(&p->b, 1);
	for (;;) {
		if (!buf_fetch_u8(&p->b, &c))
			return fail(p, "unterminated address literal");
		if (c == ']')
			break;
		/* dcontent: %d33-90 / %d94-126 */
		if (c < 0x21 || c > 0x7e || c == '[' || c == '\\')
			return fail(p, "invalid address literal");
		if (n >= ADDR_LITERAL_MAX)
			return fail(p, "address literal too long");
		lit[n++] = (char)c;
	}
	lit[n] = '\0';
	if (domain_end(p, terms, "data after address literal") < 0)
		return -1;
	if (str_has_prefix_case(lit, n, "IPv6:")) {
		if (inet_pton(AF_INET6, lit + 5, bin) != 1 ||
		    inet_ntop(AF_INET6, bin, text, sizeof(text)) == NULL)
			return fail(p, "invalid IPv6 address literal");
		s = "[IPv6:";
	} else if (memchr(lit, ':', n) != NULL) {
		return fail(p, "unsupported address literal");
	} else {
		if (inet_pton(AF_INET, lit, bin) != 1 ||
		    inet_ntop(AF_INET, bin, text, sizeof(text)) == NULL)
			return fail(p, "invalid IPv4 address literal");
		s = "[";
	}
	/* At most 6 + INET6_ADDRSTRLEN + 1 octets: always fits. */
	*out_len = (size_t)snprintf(out, ADDR_DOMAIN_MAX + 1, "%s%s]", s, text);
	p->result |= ADDR_F_DOMAIN_LITERAL;
	return 0;
}

/*
 * Domain (or address-literal when allowed) into out[ADDR_DOMAIN_MAX + 1],
 * ASCII lowercased, up to the end of the input or one of terms.
 */
static int parse_domain(struct parser *p, const char *terms, bool allow_literal,
                        char *out, size_t *out_len)
{
	size_t label = 0;
	uint8_t c, last = 0;

	*out_len = 0;
	out[0] = '\0';
	if (buf_peek_u8(&p->b, &c) && c == '[') {
		if (!allow_literal)
			return fail(p, "address literal not allowed here");
		return parse_literal(p, terms, out, out_len);
	}
	while (buf_peek_u8(&p->b, &c) && !is_term(c, terms)) {
		if (c == '.') {
			if (label == 0)
				return fail(p, *out_len == 0
				                   ? "domain starts with a dot"
				                   : "empty label in domain");
			if (last == '-')
				return fail(p,
				            "domain label ends with a hyphen");
			label = 0;
		} else if (c >= 0x80) {
			label += fetch_utf8(p, out, out_len, ADDR_DOMAIN_MAX,
			                    "domain too long");
			if (p->error != NULL)
				return -1;
			if (label > ADDR_LABEL_MAX)
				return fail(p, "domain label too long");
			last = 0x80;
			continue;
		} else if (str_is_alpha_ascii(c) || str_is_digit_ascii(c) ||
		           c == '-') {
			if (c == '-' && label == 0)
				return fail(
				    p, "domain label starts with a hyphen");
			if (++label > ADDR_LABEL_MAX)
				return fail(p, "domain label too long");
		} else {
			return fail(p, bad_char(c, true));
		}
		if (!put(out, out_len, ADDR_DOMAIN_MAX,
		         (uint8_t)str_to_lower_ascii(c)))
			return fail(p, "domain too long");
		last = c;
		buf_skip(&p->b, 1);
	}
	if (*out_len == 0)
		return fail(p, "missing domain");
	if (label == 0)
		return fail(p, "domain ends with a dot");
	if (last == '-')
		return fail(p, "domain label ends with a hyphen");
	return 0;
}

/* A-d-l ":" -- checked, then dropped (RFC 5321 4.1.1.3, appendix C). */
static int parse_route(struct parser *p)
{
	char scratch[ADDR_DOMAIN_MAX + 1];
	size_t n;
	unsigned saved = p->result;

	while (buf_consume_char(&p->b, '@')) {
		if (buf_pos(&p->b) > ADDR_PATH_MAX)
			return fail(p, "path too long");
		if (parse_domain(p, ",:>", false, scratch, &n) < 0)
			return -1;
		if (buf_consume_char(&p->b, ':')) {
			p->result = saved | ADDR_F_SOURCE_ROUTE;
			return 0;
		}
		if (!buf_consume_char(&p->b, ','))
			break;
	}
	return fail(p, "invalid source route");
}

/* Mailbox: Local-part "@" ( Domain / address-literal ) */
static int parse_mailbox(struct parser *p, const char *terms)
{
	uint8_t c;
	int ret;

	if (buf_peek_u8(&p->b, &c) && c == '"')
		ret = parse_quoted(p);
	else
		ret = parse_dot_string(p, terms);
	if (ret < 0)
		return -1;
	if (!buf_consume_char(&p->b, '@')) {
		if (!buf_peek_u8(&p->b, &c) || is_term(c, terms))
			return fail(p, "address has no domain");
		return fail(p, bad_char(c, false));
	}
	local_flags(p);
	return parse_domain(p, terms, true, p->domain, &p->domain_len);
}

static void parser_init(struct parser *p, const char *s, size_t len,
                        unsigned allow)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->b, s, len);
	p->allow = allow;
}

static struct addr *addr_build(const struct parser *p, bool null)
{
	struct addr *a = alloc_new(struct addr);

	a->null = null;
	a->flags = p->result;
	a->local = alloc_strndup(p->local, p->local_len);
	a->domain = alloc_strndup(p->domain, p->domain_len);
	if (p->domain_len > 0)
		a->full = alloc_printf("%s@%s", a->local, a->domain);
	else
		a->full = alloc_strdup(a->local);
	return a;
}

static int parse_bracketed(struct parser *p, bool *null_r)
{
	size_t rest = buf_remaining(&p->b);
	uint8_t c;

	if (buf_consume_char(&p->b, '>')) {
		if (buf_remaining(&p->b) > 0)
			return fail(p, "unexpected data after address");
		if ((p->allow & ADDR_ALLOW_NULL) == 0)
			return fail(p, "null address not allowed here");
		*null_r = true;
		return 0;
	}
	if ((p->allow & ADDR_ALLOW_POSTMASTER) != 0 && rest == 11 &&
	    str_has_prefix_case((const char *)buf_peek(&p->b), rest,
	                        "postmaster>")) {
		buf_fetch_bytes(&p->b, p->local, 10);
		p->local_len = 10;
		p->local[10] = '\0';
		p->result |= ADDR_F_POSTMASTER;
		return 0;
	}
	if (buf_peek_u8(&p->b, &c) && c == '@' && parse_route(p) < 0)
		return -1;
	if (parse_mailbox(p, ">") < 0)
		return -1;
	if (!buf_consume_char(&p->b, '>'))
		return fail(p, "missing > after address");
	if (buf_remaining(&p->b) > 0)
		return fail(p, "unexpected data after address");
	return 0;
}

static int parse_path(struct parser *p, size_t len, bool *null_r)
{
	size_t max = ADDR_PATH_MAX;
	uint8_t c;

	if (buf_consume_char(&p->b, '<')) {
		if (parse_bracketed(p, null_r) < 0)
			return -1;
	} else if (!buf_peek_u8(&p->b, &c)) {
		return fail(p, "empty address");
	} else if ((p->allow & ADDR_ALLOW_NO_BRACKETS) != 0) {
		if (parse_mailbox(p, "") < 0)
			return -1;
		p->result |= ADDR_F_NO_BRACKETS;
		max -= 2;
	} else {
		return fail(p, c == ' ' ? "space before address"
		                        : "missing < before address");
	}
	if (len > max)
		return fail(p, "path too long");
	return 0;
}

int addr_parse_path(const char *s, size_t len, unsigned flags,
                    struct addr **addr_r, const char **error_r)
{
	struct parser p;
	bool null = false;

	parser_init(&p, s, len, flags);
	if (parse_path(&p, len, &null) < 0) {
		*addr_r = NULL;
		*error_r = p.error;
		return -1;
	}
	*addr_r = addr_build(&p, null);
	return 0;
}

int addr_parse_mailbox(const char *s, size_t len, unsigned flags,
                       struct addr **addr_r, const char **error_r)
{
	struct parser p;

	parser_init(&p, s, len, flags & ADDR_ALLOW_UTF8);
	if (parse_mailbox(&p, "") < 0 ||
	    (len > ADDR_PATH_MAX - 2 && fail(&p, "address too long") < 0)) {
		*addr_r = NULL;
		*error_r = p.error;
		return -1;
	}
	*addr_r = addr_build(&p, false);
	return 0;
}

int addr_split_path_arg(const char *arg, size_t len, unsigned flags,
                        size_t *path_len_r, size_t *params_off_r,
                        const char **error_r)
{
	struct buf b;
	const unsigned char *unused;
	bool quoted = false;
	uint8_t c;

	buf_init(&b, arg, len);
	if (!buf_peek_u8(&b, &c)) {
		*error_r = "missing address";
		return -1;
	}
	if (buf_consume_char(&b, '<')) {
		for (;;) {
			if (!buf_fetch_u8(&b, &c)) {
				*error_r = "missing > after address";
				return -1;
			}
			if (quoted && c == '\\')
				buf_skip(&b, 1);
			else if (c == '"')
				quoted = !quoted;
			else if (!quoted && c == '>')
				break;
		}
	} else if (c == ' ') {
		*error_r = "space before address";
		return -1;
	} else if ((flags & ADDR_ALLOW_NO_BRACKETS) != 0) {
		buf_fetch_until(&b, " ", &unused);
	} else {
		*error_r = "missing < before address";
		return -1;
	}
	*path_len_r = buf_pos(&b);
	if (buf_remaining(&b) > 0 && !buf_consume_char(&b, ' ')) {
		*error_r = "unexpected data after address";
		return -1;
	}
	while (buf_consume_char(&b, ' '))
		;
	*params_off_r = buf_pos(&b);
	return 0;
}

void addr_deinit(struct addr **a)
{
	if (*a == NULL)
		return;
	free((*a)->local);
	free((*a)->domain);
	free((*a)->full);
	free(*a);
	*a = NULL;
}

const char *addr_local(const struct addr *a)
{
	return a->local;
}

const char *addr_domain(const struct addr *a)
{
	return a->domain;
}

unsigned addr_flags(const struct addr *a)
{
	return a->flags;
}

const char *addr_format(const struct addr *a)
{
	return a->full;
}

bool addr_is_null(const struct addr *a)
{
	return a->null;
}

bool addr_detail_split(const struct addr *a, char delim, size_t *base_len_r,
                       const char **detail_r)
{
	const char *p;

	if (a->null || (a->flags & ADDR_F_QUOTED) != 0 || delim == '\0')
		return false;
	p = strchr(a->local, delim);
	if (p == NULL || p == a->local)
		return false;
	*base_len_r = (size_t)(p - a->local);
	*detail_r = p + 1;
	return true;
}
