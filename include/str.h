/*
 * str.h - small, locale-independent string helpers.
 *
 * Everything here is ASCII-only on purpose: SMTP keywords, domain names and
 * configuration keys must compare the same way whatever LC_CTYPE says (a
 * Turkish locale must not make "I" and "i" different), so <ctype.h> and
 * strcasecmp() are not used on protocol data. Bytes >= 0x80 are never
 * letters here and are left alone by the case functions.
 *
 * Strings are (pointer, length) pairs unless said otherwise; they may hold
 * NUL bytes, which are simply bytes. Nothing here allocates or keeps a
 * pointer to its arguments.
 *
 * UTF-8 checking follows RFC 3629: overlong forms, surrogates (U+D800 to
 * U+DFFF) and code points above U+10FFFF are malformed.
 */
#ifndef DIRMX_STR_H
#define DIRMX_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

bool str_is_alpha_ascii(int c);
bool str_is_digit_ascii(int c);
/* 'A'-'Z' to 'a'-'z'; every other value unchanged. */
int str_to_lower_ascii(int c);

/* The one hex codec. A digit's value, 0..15, or -1 when c is no hex digit
 * in the spelling asked for (a format with one spelling rejects the
 * other); the digit of v & 15 in that spelling (ANY: uppercase). */
enum str_hex_case { STR_HEX_ANY, STR_HEX_UPPER, STR_HEX_LOWER };
int str_hex_value(int c, enum str_hex_case cs);
char str_hex_digit(unsigned v, enum str_hex_case cs);

/* Lowercase the ASCII letters of s[0..len) in place. */
void str_lower_ascii(char *s, size_t len);
/* Equal lengths and equal bytes, ASCII letters compared without case. */
bool str_eq_case(const char *a, size_t alen, const char *b, size_t blen);
/* s[0..len) starts with the NUL-terminated prefix, ignoring ASCII case. */
bool str_has_prefix_case(const char *s, size_t len, const char *prefix);
/* Every byte is in 0x20..0x7e (an empty string is printable). */
bool str_is_printable_ascii(const char *s, size_t len);

/*
 * Fetch one well-formed UTF-8 sequence (1 to 4 bytes) from b into *cp_r.
 * False, consuming nothing, when the bytes at the cursor are malformed or
 * truncated, or when b is empty.
 */
bool str_utf8_next(struct buf *b, uint32_t *cp_r);
/* The whole of s[0..len) is well-formed UTF-8. */
bool str_utf8_valid(const void *s, size_t len);

#endif
