/*
 * intl - SMTPUTF8 need and IDNA conversion for delivery; see intl.h.
 *
 * SYNOPSIS
 *	need = intl_msg_needs_utf8(from, st.header_8bit) ||
 *	       intl_rcpts_need_utf8(rcpts, n);
 *	rc = intl_addr_to_ascii("u@bücher.example", &a, &error);
 *
 * DESCRIPTION
 *	libidn2 does the IDNA work (idn2_to_ascii_8z with
 *	IDN2_NONTRANSITIONAL: UTS #46 mapping, so "Bücher.Example" and
 *	"bücher.example" give the same A-labels); this file only decides
 *	when to call it and checks the lengths of what comes back, which
 *	libidn2 leaves to the DNS.
 */
#include "intl.h"

#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"
#include "str.h"

#define INTL_DOMAIN_MAX 253
#define INTL_LABEL_MAX 63

bool intl_is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

static bool lengths_ok(const char *d)
{
	size_t len = strlen(d), label = 0;

	if (len == 0 || len > INTL_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (d[i] == '.' || d[i] == '\0') {
			if (label == 0 || label > INTL_LABEL_MAX)
				return false;
			label = 0;
		} else {
			label++;
		}
	}
	return true;
}

int intl_domain_to_ascii(const char *domain, size_t len, char **ascii_r,
                         const char **error_r)
{
	char *copy, *out = NULL;
	int rc;

	*ascii_r = NULL;
	if (len > 1 && domain[len - 1] == '.')
		len--;
	copy = alloc_strndup(domain, len);
	if (strlen(copy) != len) {
		free(copy);
		*error_r = "NUL in domain";
		return -1;
	}
	if (intl_is_ascii(copy)) {
		*ascii_r = copy;
		return 0;
	}
	rc = idn2_to_ascii_8z(copy, &out, IDN2_NONTRANSITIONAL);
	free(copy);
	if (rc != IDN2_OK) {
		*error_r = "domain not valid under IDNA2008";
		return -1;
	}
	if (!lengths_ok(out)) {
		idn2_free(out);
		*error_r = "domain or label too long in A-label form";
		return -1;
	}
	*ascii_r = alloc_strdup(out);
	str_lower_ascii(*ascii_r, strlen(*ascii_r));
	idn2_free(out);
	return 1;
}

int intl_addr_to_ascii(const char *addr, char **ascii_r, const char **error_r)
{
	const char *at = strrchr(addr, '@');
	char *domain;
	size_t local_len;
	int rc;

	*ascii_r = NULL;
	if (at == NULL || intl_is_ascii(addr)) {
		if (!intl_is_ascii(addr)) {
			*error_r = "non-ASCII address";
			return -1;
		}
		*ascii_r = alloc_strdup(addr);
		return 0;
	}
	local_len = (size_t)(at - addr);
	for (size_t i = 0; i < local_len; i++) {
		if ((unsigned char)addr[i] >= 0x80) {
			*error_r = "non-ASCII local part";
			return -1;
		}
	}
	rc = intl_domain_to_ascii(at + 1, strlen(at + 1), &domain, error_r);
	if (rc < 0)
		return -1;
	*ascii_r = alloc_printf("%.*s@%s", (int)local_len, addr, domain);
	free(domain);
	return rc;
}

static bool cp_printable(uint32_t cp)
{
	return cp >= 0xa0 && cp != 0x200e && cp != 0x200f &&
	       !(cp >= 0x2028 && cp <= 0x202e) &&
	       !(cp >= 0x2066 && cp <= 0x2069);
}

void intl_put_printable(struct sbuf *out, const char *s)
{
	struct buf b;

	if (s == NULL)
		return;
	buf_init(&b, s, strlen(s));
	while (buf_remaining(&b) > 0) {
		const unsigned char *p = buf_peek(&b);
		size_t before = buf_remaining(&b);
		uint32_t cp;
		uint8_t c;

		if (*p >= 0x80 && str_utf8_next(&b, &cp)) {
			if (cp_printable(cp)) {
				sbuf_append(out, p, before - buf_remaining(&b));
				continue;
			}
			/* escape each byte of the sequence */
			for (size_t i = 0; i < before - buf_remaining(&b);
			     i++) {
				char e[4] = {
				    '\\', 'x',
				    str_hex_digit(p[i] >> 4, STR_HEX_LOWER),
				    str_hex_digit(p[i], STR_HEX_LOWER)};

				sbuf_append(out, e, 4);
			}
			continue;
		}
		(void)buf_fetch_u8(&b, &c);
		if (c < 0x20 || c >= 0x7f || c == '\\') {
			char e[4] = {'\\', 'x',
			             str_hex_digit(c >> 4, STR_HEX_LOWER),
			             str_hex_digit(c, STR_HEX_LOWER)};

			sbuf_append(out, e, 4);
		} else {
			sbuf_append(out, &c, 1);
		}
	}
}

bool intl_addr_needs_utf8(const char *addr)
{
	const char *error;
	char *ascii;

	if (intl_addr_to_ascii(addr, &ascii, &error) < 0)
		return true;
	free(ascii);
	return false;
}

static bool local_is_ascii(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t n = at != NULL ? (size_t)(at - addr) : strlen(addr);

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)addr[i] >= 0x80)
			return false;
	}
	return true;
}

bool intl_msg_needs_utf8(const char *mail_from, bool header_8bit)
{
	return header_8bit ||
	       (mail_from != NULL && intl_addr_needs_utf8(mail_from));
}

/* A recipient whose domain can never be valid fails on its own (5.1.2)
 * and must not make the others need SMTPUTF8: only its local part
 * counts. */
bool intl_rcpts_need_utf8(const char *const *rcpts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!local_is_ascii(rcpts[i]))
			return true;
	}
	return false;
}
