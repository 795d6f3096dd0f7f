/*
 * fuzz-nexthop - nexthop_parse_n(), nexthop_choose() and
 * nexthop_order_mx() on arbitrary bytes.
 *
 * Whatever parses must be a valid hop (port 1..65535, a host without
 * brackets or a trailing dot, mx exactly when neither literal nor an IP)
 * and must format to a text that parses back to the same host, port and
 * kind; a failure must give a printable error. The bytes are also used as
 * the directory's answer for nexthop_choose(), and as an MX answer
 * (preference byte, name) for nexthop_order_mx(), whose order must be a
 * permutation of the non-"." records sorted by preference.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexthop.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const char *error)
{
	if (error == NULL || !str_is_printable_ascii(error, strlen(error)))
		abort();
}

static void check_hop(const struct nexthop *nh)
{
	size_t len = strlen(nh->host);
	char buf[400];
	struct nexthop back;
	const char *error = NULL;

	if (len == 0 || len > NEXTHOP_HOST_MAX || nh->port == 0 ||
	    nh->host[len - 1] == '.' || strpbrk(nh->host, "[] \t") != NULL ||
	    nh->mx != (!nh->literal && !nh->is_ip))
		abort();
	nexthop_format(nh, buf, sizeof(buf));
	if (nexthop_parse(buf, &back, &error) < 0 ||
	    strcmp(back.host, nh->host) != 0 || back.port != nh->port ||
	    back.is_ip != nh->is_ip || back.mx != nh->mx)
		abort();
}

static uint32_t byte_rand(void *ctx)
{
	uint32_t *st = ctx;

	*st = *st * 1103515245u + 12345u;
	return *st;
}

static void fuzz_order(const uint8_t *data, size_t size)
{
	struct dns_mx mx[16];
	char names[16][4];
	size_t n = 0, *order = NULL, count = 0, real = 0;
	uint32_t st = 1;
	int null_mx = 0;

	for (size_t i = 0; i + 1 < size && n < 16; i += 2, n++) {
		names[n][0] = (data[i + 1] & 3) == 0 ? '.' : 'a';
		names[n][1] = '\0';
		mx[n].preference = data[i] & 7;
		mx[n].ttl = 60;
		mx[n].exchange = names[n];
		real += names[n][0] != '.';
	}
	if (nexthop_order_mx(mx, n, byte_rand, &st, &order, &count, &null_mx) <
	    0)
		abort();
	if (count != real || (null_mx != 0) != (n > 0 && real == 0))
		abort();
	for (size_t i = 0; i < count; i++) {
		if (order[i] >= n || mx[order[i]].exchange[0] == '.')
			abort();
		if (i > 0 &&
		    mx[order[i]].preference < mx[order[i - 1]].preference)
			abort();
		for (size_t k = 0; k < i; k++)
			if (order[k] == order[i])
				abort();
	}
	free(order);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nexthop nh;
	enum nexthop_source src;
	const char *error = NULL;
	char *s;

	if (nexthop_parse_n(data, size, &nh, &error) == 0)
		check_hop(&nh);
	else
		check_error(error);

	s = malloc(size + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	error = NULL;
	if (nexthop_choose(s, "fuzz.example", NULL, &nh, &src, &error) == 0)
		check_hop(&nh);
	else
		check_error(error);
	error = NULL;
	if (nexthop_choose("external", s, NULL, &nh, &src, &error) == 0) {
		if (src != NEXTHOP_SOURCE_MX || !nh.mx)
			abort();
		check_hop(&nh);
	} else {
		check_error(error);
	}
	free(s);
	fuzz_order(data, size);
	return 0;
}
