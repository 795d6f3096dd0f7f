/*
 * fuzz-intl - IDNA conversion, the SMTPUTF8 verdicts and the terminal-safe
 * form on arbitrary bytes (addresses come from the network).
 *
 * The input, cut at its first NUL, is used as a domain and as an address.
 * Checked, abort() otherwise:
 *   - intl_domain_to_ascii: 0 only for ASCII input (then a copy without
 *     one trailing dot), 1 only for non-ASCII input, and then ASCII
 *     output of labels 1..63 octets, 253 in all; -1 leaves NULL and a
 *     printable error;
 *   - intl_addr_to_ascii agrees with intl_addr_needs_utf8, and what it
 *     returns is ASCII;
 *   - intl_put_printable gives valid UTF-8 without C0, DEL or C1
 *     controls, and is the input itself when that was already so and
 *     holds no '\' nor a bidi control.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intl.h"
#include "sbuf.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_domain(const char *s)
{
	const char *error = NULL;
	char *out = NULL;
	size_t n = strlen(s);
	int rc = intl_domain_to_ascii(s, n, &out, &error);

	if (rc < 0) {
		if (out != NULL || error == NULL ||
		    !str_is_printable_ascii(error, strlen(error)))
			abort();
		return;
	}
	if (out == NULL || !intl_is_ascii(out) || (rc == 0) != intl_is_ascii(s))
		abort();
	if (rc == 1) {
		size_t len = strlen(out), label = 0;

		if (len == 0 || len > 253)
			abort();
		for (size_t i = 0; i <= len; i++) {
			if (out[i] == '.' || out[i] == '\0') {
				if (label == 0 || label > 63)
					abort();
				label = 0;
			} else {
				label++;
			}
		}
	}
	free(out);
}

static void check_addr(const char *s)
{
	const char *error = NULL;
	char *out = NULL;
	int rc = intl_addr_to_ascii(s, &out, &error);

	if ((rc < 0) != intl_addr_needs_utf8(s))
		abort();
	if (rc >= 0 && (out == NULL || !intl_is_ascii(out)))
		abort();
	if (rc < 0 && out != NULL)
		abort();
	free(out);
}

static void check_printable(const char *s)
{
	struct sbuf *out = sbuf_new(SIZE_MAX);
	const unsigned char *p;
	size_t n;

	intl_put_printable(out, s);
	p = (const unsigned char *)sbuf_data(out);
	n = sbuf_len(out);
	if (!str_utf8_valid(p, n))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			abort();
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0)
			abort(); /* U+0080..U+009F */
	}
	if (str_utf8_valid(s, strlen(s)) && strchr(s, '\\') == NULL &&
	    strstr(s, "\xe2\x80") == NULL && strstr(s, "\xe2\x81") == NULL &&
	    strstr(s, "\xc2") == NULL) {
		bool plain = true;

		for (const unsigned char *q = (const unsigned char *)s; *q; q++)
			plain = plain && *q >= 0x20 && *q != 0x7f;
		if (plain && (n != strlen(s) || memcmp(p, s, n) != 0))
			abort();
	}
	sbuf_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	check_domain(s);
	check_addr(s);
	check_printable(s);
	free(s);
	return 0;
}
