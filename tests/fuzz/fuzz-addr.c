/*
 * fuzz-addr - addr_parse_path(), addr_parse_mailbox() and
 * addr_split_path_arg() on arbitrary bytes.
 *
 * The first byte selects the ADDR_ALLOW_* flags, the rest is the input.
 * Whatever parses must format to a canonical form that parses back to the
 * same address (round trip), with printable-ASCII error texts otherwise;
 * any difference abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const char *error)
{
	if (error == NULL || !str_is_printable_ascii(error, strlen(error)))
		abort();
}

static void round_trip(const struct addr *a, unsigned allow)
{
	const char *fmt = addr_format(a), *error = NULL;
	size_t n = strlen(fmt);
	char *wrapped = malloc(n + 3);
	struct addr *b = NULL;

	if (wrapped == NULL)
		abort();
	wrapped[0] = '<';
	memcpy(wrapped + 1, fmt, n);
	wrapped[n + 1] = '>';
	wrapped[n + 2] = '\0';
	if (addr_parse_path(wrapped, n + 2, allow, &b, &error) < 0)
		abort();
	if (strcmp(addr_format(b), fmt) != 0 ||
	    strcmp(addr_local(b), addr_local(a)) != 0 ||
	    strcmp(addr_domain(b), addr_domain(a)) != 0 ||
	    addr_is_null(b) != addr_is_null(a) ||
	    (addr_flags(b) & ADDR_F_CANONICAL_MASK) !=
	        (addr_flags(a) & ADDR_F_CANONICAL_MASK))
		abort();
	/* A mailbox with a domain also parses bare. */
	if (addr_domain(a)[0] != '\0') {
		struct addr *c = NULL;

		if (addr_parse_mailbox(fmt, n, allow, &c, &error) < 0 ||
		    strcmp(addr_format(c), fmt) != 0)
			abort();
		addr_deinit(&c);
	}
	addr_deinit(&b);
	free(wrapped);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1, *error = NULL;
	struct addr *a = NULL;
	size_t path_len, params_off, base_len;
	unsigned allow;
	const char *detail;

	if (size < 1)
		return 0;
	allow = data[0] & (ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8 |
	                   ADDR_ALLOW_NO_BRACKETS | ADDR_ALLOW_POSTMASTER);
	size--;

	if (addr_parse_path(s, size, allow, &a, &error) == 0) {
		if (strlen(addr_format(a)) > ADDR_PATH_MAX)
			abort();
		round_trip(a, allow);
		if (addr_detail_split(a, '+', &base_len, &detail) &&
		    (base_len == 0 || base_len >= strlen(addr_local(a))))
			abort();
		addr_deinit(&a);
	} else {
		check_error(error);
		if (a != NULL)
			abort();
	}

	if (addr_parse_mailbox(s, size, allow, &a, &error) == 0) {
		round_trip(a, allow);
		addr_deinit(&a);
	} else {
		check_error(error);
	}

	if (addr_split_path_arg(s, size, allow, &path_len, &params_off,
	                        &error) == 0) {
		if (path_len > size || params_off > size ||
		    params_off < path_len)
			abort();
		if (addr_parse_path(s, path_len, allow, &a, &error) == 0)
			addr_deinit(&a);
	} else {
		check_error(error);
	}
	return 0;
}
