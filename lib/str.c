/*
 * NAME
 *	str - ASCII case helpers and a UTF-8 checker; see str.h.
 *
 * DESCRIPTION
 *	Locale-independent replacements for the <ctype.h> and strcasecmp()
 *	calls that protocol code would otherwise make, and a strict RFC 3629
 *	UTF-8 decoder that reads through the bounded buf cursor.
 */
#include "str.h"

bool str_is_alpha_ascii(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool str_is_digit_ascii(int c)
{
	return c >= '0' && c <= '9';
}

int str_to_lower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int str_hex_value(int c, enum str_hex_case cs)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F' && cs != STR_HEX_LOWER)
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f' && cs != STR_HEX_UPPER)
		return c - 'a' + 10;
	return -1;
}

char str_hex_digit(unsigned v, enum str_hex_case cs)
{
	return (cs == STR_HEX_LOWER ? "0123456789abcdef"
	                            : "0123456789ABCDEF")[v & 15];
}

void str_lower_ascii(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		s[i] = (char)str_to_lower_ascii((unsigned char)s[i]);
}

bool str_eq_case(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		if (str_to_lower_ascii((unsigned char)a[i]) !=
		    str_to_lower_ascii((unsigned char)b[i]))
			return false;
	}
	return true;
}

bool str_has_prefix_case(const char *s, size_t len, const char *prefix)
{
	size_t i;

	for (i = 0; prefix[i] != '\0'; i++) {
		if (i >= len ||
		    str_to_lower_ascii((unsigned char)s[i]) !=
		        str_to_lower_ascii((unsigned char)prefix[i]))
			return false;
	}
	return true;
}

bool str_is_printable_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e)
			return false;
	}
	return true;
}

bool str_utf8_next(struct buf *b, uint32_t *cp_r)
{
	size_t start = buf_pos(b);
	uint8_t c, lo = 0x80, hi = 0xbf;
	unsigned n;
	uint32_t cp;

	if (!buf_fetch_u8(b, &c))
		return false;
	if (c < 0x80) {
		*cp_r = c;
		return true;
	}
	/* RFC 3629 table 4: the second byte's range excludes overlongs,
	   surrogates and code points above U+10FFFF. */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		goto bad;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!buf_fetch_u8(b, &c) || c < lo || c > hi)
			goto bad;
		cp = (cp << 6) | (c & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp_r = cp;
	return true;
bad:
	buf_seek(b, start);
	return false;
}

bool str_utf8_valid(const void *s, size_t len)
{
	struct buf b;
	uint32_t cp;

	buf_init(&b, s, len);
	while (buf_remaining(&b) > 0) {
		if (!str_utf8_next(&b, &cp))
			return false;
	}
	return true;
}
