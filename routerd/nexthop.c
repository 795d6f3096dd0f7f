/*
 * NAME
 *	nexthop - parse, choose and order next hops (pure)
 *
 * SYNOPSIS
 *	#include "nexthop.h"
 *
 *	nexthop_parse(), nexthop_route_parse(), nexthop_choose(),
 *	nexthop_order_mx(), nexthop_trim_self(), nexthop_is_self()
 *
 * DESCRIPTION
 *	The decisions of delivery routing, kept free of I/O so that they are
 *	unit-tested table by table and fuzzed: what a next-hop string means
 *	(host, port, whether brackets forbid the MX lookup), which of the
 *	directory's answer, a configured route, the smarthost or the MX
 *	applies to a recipient, in which order to try the exchangers of an
 *	MX answer (RFC 5321 5.1, RFC 7505 null MX), and whether an exchanger
 *	is this very server. resolve.c does the DNS around these.
 *
 *	All parsing goes through buf.h. Names are checked as LDH labels;
 *	addresses with inet_pton().
 *
 * SEE ALSO
 *	nexthop.h for the contract, resolve.c for the asynchronous half.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "intl.h"
#include "nexthop.h"
#include "settings.h"
#include "str.h"

/* Longest next-hop text: "smtp:[IPv6:" + 253 + "]:65535", with room. */
#define NEXTHOP_TEXT_MAX 300

static bool is_ldh(unsigned char c)
{
	return str_is_alpha_ascii(c) || str_is_digit_ascii(c) || c == '-';
}

/* LDH labels, 1..63 bytes each, no '-' at either end, not all-numeric
 * top label (it would be an address typo such as "10.0.0.256"). */
static bool name_valid(const char *s, size_t len)
{
	struct buf b;
	const unsigned char *label = NULL;
	size_t llen = 0;
	bool all_digits = false;

	if (len == 0 || len > NEXTHOP_HOST_MAX)
		return false;
	buf_init(&b, s, len);
	while (buf_remaining(&b) > 0) {
		llen = buf_fetch_until(&b, ".", &label);
		if (llen == 0 || llen > 63 || label[0] == '-' ||
		    label[llen - 1] == '-')
			return false;
		all_digits = true;
		for (size_t i = 0; i < llen; i++) {
			if (!is_ldh(label[i]))
				return false;
			all_digits = all_digits && str_is_digit_ascii(label[i]);
		}
		if (buf_consume_char(&b, '.') && buf_remaining(&b) == 0)
			return false; /* trailing dots were stripped before */
	}
	return !all_digits;
}

/*
 * Set nh's host from s[0..len): an IPv4 or IPv6 address or a host name
 * (only an IPv6 address when v6_only: "[IPv6:...]"). One trailing dot is
 * dropped from names, which are lowercased. nh->literal must be set.
 */
static int set_host(struct nexthop *nh, const char *s, size_t len, bool v6_only,
                    const char **error_r)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char tmp[NEXTHOP_HOST_MAX + 2];

	if (len == 0) {
		*error_r = "empty host";
		return -1;
	}
	if (len > NEXTHOP_HOST_MAX + 1) {
		*error_r = "host name too long";
		return -1;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	nh->is_ip = false;
	if (!v6_only && inet_pton(AF_INET, tmp, addr) == 1) {
		nh->is_ip = true;
	} else if (memchr(s, ':', len) != NULL || v6_only) {
		if (inet_pton(AF_INET6, tmp, addr) != 1) {
			*error_r = "invalid IPv6 address";
			return -1;
		}
		nh->is_ip = true;
	} else {
		if (len > 1 && tmp[len - 1] == '.')
			tmp[--len] = '\0';
		if (!name_valid(tmp, len)) {
			*error_r = len > NEXTHOP_HOST_MAX ? "host name too long"
			                                  : "invalid host name";
			return -1;
		}
		str_lower_ascii(tmp, len);
	}
	if (len > NEXTHOP_HOST_MAX) {
		*error_r = "host name too long";
		return -1;
	}
	memcpy(nh->host, tmp, len + 1);
	nh->mx = !nh->literal && !nh->is_ip;
	return 0;
}

/* s[from..len) is one or more ASCII digits. */
static bool all_digits(const char *s, size_t from, size_t len)
{
	if (from >= len)
		return false;
	for (size_t i = from; i < len; i++)
		if (!str_is_digit_ascii((unsigned char)s[i]))
			return false;
	return true;
}

int nexthop_parse_n(const void *s, size_t len, struct nexthop *nh_r,
                    const char **error_r)
{
	struct buf b;
	const unsigned char *host;
	size_t hlen, colons = 0;
	uint64_t port = NEXTHOP_DEFAULT_PORT;
	bool v6_only = false;

	memset(nh_r, 0, sizeof(*nh_r));
	if (len > NEXTHOP_TEXT_MAX) {
		*error_r = "next hop too long";
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		*error_r = "NUL byte in next hop";
		return -1;
	}
	buf_init(&b, s, len);
	/* "smtp:" is a transport prefix, except in "smtp:25" (the host
	 * "smtp", port 25). */
	if (str_has_prefix_case(s, len, "smtp:") && !all_digits(s, 5, len))
		buf_skip(&b, 5);
	if (buf_consume_char(&b, '[')) {
		nh_r->literal = true;
		hlen = buf_fetch_until(&b, "]", &host);
		if (!buf_consume_char(&b, ']')) {
			*error_r = "missing ']'";
			return -1;
		}
		if (str_has_prefix_case((const char *)host, hlen, "IPv6:")) {
			host += 5;
			hlen -= 5;
			v6_only = true;
		}
	} else {
		for (size_t i = buf_pos(&b); i < len; i++)
			colons += ((const char *)s)[i] == ':';
		if (colons > 1) {
			/* A bare IPv6 address: no port possible. */
			host = buf_peek(&b);
			hlen = buf_remaining(&b);
			buf_skip(&b, hlen);
		} else {
			hlen = buf_fetch_until(&b, ":", &host);
		}
	}
	if (set_host(nh_r, (const char *)host, hlen, v6_only, error_r) < 0)
		return -1;
	if (buf_consume_char(&b, ':')) {
		if (!buf_fetch_uint(&b, 65535, &port) || port == 0) {
			*error_r = "port must be a number from 1 to 65535";
			return -1;
		}
	}
	if (buf_remaining(&b) != 0) {
		*error_r = "unexpected characters after the host";
		return -1;
	}
	nh_r->port = (uint16_t)port;
	return 0;
}

int nexthop_parse(const char *s, struct nexthop *nh_r, const char **error_r)
{
	return nexthop_parse_n(s, strlen(s), nh_r, error_r);
}

/* Copy a domain without its one trailing dot, validated and lowercased. */
static int domain_copy(char *dst, const char *s, size_t len,
                       const char **error_r)
{
	if (len > 1 && s[len - 1] == '.')
		len--;
	if (!name_valid(s, len)) {
		*error_r = "invalid domain";
		return -1;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	str_lower_ascii(dst, len);
	return 0;
}

int nexthop_route_parse(const char *item, struct nexthop_route *route_r,
                        const char **error_r)
{
	size_t dlen = strcspn(item, " \t");
	const char *hop = item + dlen;

	memset(route_r, 0, sizeof(*route_r));
	if (*hop == '\0') {
		*error_r = "expected 'domain nexthop'";
		return -1;
	}
	if (domain_copy(route_r->domain, item, dlen, error_r) < 0)
		return -1;
	hop += strspn(hop, " \t");
	return nexthop_parse(hop, &route_r->hop, error_r);
}

int nexthop_config_build(const struct settings_routerd *set,
                         struct nexthop_config **cfg_r, const char **error_r)
{
	struct nexthop_config *cfg = alloc_new(struct nexthop_config);
	struct nexthop_route *routes = NULL;
	const struct config_hostport *sh = &set->smarthost;

	*cfg_r = NULL;
	if (set->routes.count > 0)
		routes = alloc_array(set->routes.count, sizeof(*routes));
	cfg->routes = routes;
	for (size_t i = 0; i < set->routes.count; i++) {
		if (nexthop_route_parse(set->routes.items[i], &routes[i],
		                        error_r) < 0)
			goto fail;
		cfg->n_routes++;
	}
	if (sh->host != NULL) {
		cfg->smarthost.literal = sh->literal;
		if (set_host(&cfg->smarthost, sh->host, strlen(sh->host), false,
		             error_r) < 0)
			goto fail;
		if (sh->port > 65535) {
			*error_r = "smarthost port out of range";
			goto fail;
		}
		cfg->smarthost.port =
		    sh->port != 0 ? (uint16_t)sh->port : NEXTHOP_DEFAULT_PORT;
		cfg->have_smarthost = true;
	}
	*cfg_r = cfg;
	return 0;
fail:
	nexthop_config_deinit(&cfg);
	return -1;
}

void nexthop_config_deinit(struct nexthop_config **cfg)
{
	if (*cfg == NULL)
		return;
	free((void *)(*cfg)->routes);
	free(*cfg);
	*cfg = NULL;
}

static bool word_is(const char *s, const char *word)
{
	return str_eq_case(s, strlen(s), word, strlen(word));
}

static int choose_ascii(const char *rcpt_domain, size_t dlen,
                        const struct nexthop_config *cfg, struct nexthop *nh_r,
                        enum nexthop_source *src_r, const char **error_r);

int nexthop_choose(const char *authd_hop, const char *rcpt_domain,
                   const struct nexthop_config *cfg, struct nexthop *nh_r,
                   enum nexthop_source *src_r, const char **error_r)
{
	char *ascii = NULL;
	size_t dlen = strlen(rcpt_domain);
	int ret = -1;

	if (authd_hop != NULL && *authd_hop != '\0' &&
	    !word_is(authd_hop, "local") && !word_is(authd_hop, "external")) {
		*src_r = NEXTHOP_SOURCE_DIRECTORY;
		if (nexthop_parse(authd_hop, nh_r, error_r) < 0) {
			*error_r = "invalid next hop from the directory";
			return -1;
		}
		return 0;
	}
	/* Routes, the smarthost and the DNS all know the A-label form. */
	if (!intl_is_ascii(rcpt_domain)) {
		*src_r = NEXTHOP_SOURCE_MX;
		if (intl_domain_to_ascii(rcpt_domain, dlen, &ascii, error_r) <
		    0)
			return -1;
		rcpt_domain = ascii;
		dlen = strlen(ascii);
	}
	ret = choose_ascii(rcpt_domain, dlen, cfg, nh_r, src_r, error_r);
	free(ascii);
	return ret;
}

static int choose_ascii(const char *rcpt_domain, size_t dlen,
                        const struct nexthop_config *cfg, struct nexthop *nh_r,
                        enum nexthop_source *src_r, const char **error_r)
{
	if (dlen > 1 && rcpt_domain[dlen - 1] == '.')
		dlen--;
	for (size_t i = 0; cfg != NULL && i < cfg->n_routes; i++) {
		const char *d = cfg->routes[i].domain;

		if (str_eq_case(d, strlen(d), rcpt_domain, dlen)) {
			*src_r = NEXTHOP_SOURCE_ROUTE;
			*nh_r = cfg->routes[i].hop;
			return 0;
		}
	}
	if (cfg != NULL && cfg->have_smarthost) {
		*src_r = NEXTHOP_SOURCE_SMARTHOST;
		*nh_r = cfg->smarthost;
		return 0;
	}
	*src_r = NEXTHOP_SOURCE_MX;
	memset(nh_r, 0, sizeof(*nh_r));
	if (domain_copy(nh_r->host, rcpt_domain, dlen, error_r) < 0) {
		*error_r = "invalid recipient domain";
		return -1;
	}
	nh_r->port = NEXTHOP_DEFAULT_PORT;
	nh_r->mx = true;
	return 0;
}

static bool is_null_exchange(const char *x)
{
	return x[0] == '\0' || (x[0] == '.' && x[1] == '\0');
}

struct mx_key {
	uint16_t pref;
	size_t idx;
};

static int mx_key_cmp(const void *a, const void *b)
{
	const struct mx_key *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Uniform in [0, bound) without modulo bias; bound >= 1. */
static uint32_t rand_below(nexthop_rand_fn *rand_fn, void *ctx, uint32_t bound)
{
	uint32_t threshold = (uint32_t)(-bound) % bound, r;

	do
		r = rand_fn(ctx);
	while (r < threshold);
	return r % bound;
}

int nexthop_order_mx(const struct dns_mx *mx, size_t n,
                     nexthop_rand_fn *rand_fn, void *ctx, size_t **order_r,
                     size_t *n_r, int *null_mx_r)
{
	struct mx_key *keys;
	size_t *order, count = 0;

	*order_r = NULL;
	*n_r = 0;
	*null_mx_r = 0;
	if (rand_fn == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (mx[i].exchange == NULL)
			return -1;
	if (n == 0)
		return 0;
	keys = alloc_array(n, sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		if (is_null_exchange(mx[i].exchange))
			continue;
		keys[count].pref = mx[i].preference;
		keys[count].idx = i;
		count++;
	}
	if (count == 0) {
		free(keys);
		*null_mx_r = 1;
		return 0;
	}
	qsort(keys, count, sizeof(*keys), mx_key_cmp);
	order = alloc_array(count, sizeof(*order));
	for (size_t start = 0, end; start < count; start = end) {
		for (end = start + 1;
		     end < count && keys[end].pref == keys[start].pref; end++)
			;
		for (size_t i = end - start - 1; i > 0; i--) {
			size_t j = rand_below(rand_fn, ctx, (uint32_t)(i + 1));
			struct mx_key tmp = keys[start + i];

			keys[start + i] = keys[start + j];
			keys[start + j] = tmp;
		}
	}
	for (size_t i = 0; i < count; i++)
		order[i] = keys[i].idx;
	free(keys);
	*order_r = order;
	*n_r = count;
	return 0;
}

size_t nexthop_trim_self(const struct dns_mx *mx, size_t *order, size_t n,
                         const char *const *my_names, size_t n_names,
                         bool *self_r)
{
	size_t keep = 0;
	uint16_t mine;

	*self_r = false;
	for (size_t i = 0; i < n; i++) {
		if (!nexthop_is_self(mx[order[i]].exchange, my_names, n_names))
			continue;
		/* order is sorted: everything from the first entry with
		 * our preference on is no better than us. */
		mine = mx[order[i]].preference;
		*self_r = true;
		while (keep < n && mx[order[keep]].preference < mine)
			keep++;
		return keep;
	}
	return n;
}

bool nexthop_is_self(const char *host, const char *const *my_names, size_t n)
{
	size_t hlen = strlen(host);

	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	for (size_t i = 0; i < n; i++) {
		size_t mlen = strlen(my_names[i]);

		if (mlen > 1 && my_names[i][mlen - 1] == '.')
			mlen--;
		if (hlen > 0 && str_eq_case(host, hlen, my_names[i], mlen))
			return true;
	}
	return false;
}

const char *nexthop_source_name(enum nexthop_source src)
{
	switch (src) {
	case NEXTHOP_SOURCE_DIRECTORY:
		return "directory";
	case NEXTHOP_SOURCE_ROUTE:
		return "route";
	case NEXTHOP_SOURCE_SMARTHOST:
		return "smarthost";
	case NEXTHOP_SOURCE_MX:
		return "mx";
	}
	return "?";
}

const char *nexthop_format(const struct nexthop *nh, char *buf, size_t size)
{
	bool brackets = nh->literal || strchr(nh->host, ':') != NULL;

	snprintf(buf, size, "%s%s%s:%u", brackets ? "[" : "", nh->host,
	         brackets ? "]" : "", (unsigned)nh->port);
	return buf;
}
