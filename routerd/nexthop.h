/*
 * nexthop.h - where a recipient's mail goes next: parse a next hop, choose
 * it, order an MX answer, recognise ourselves.
 *
 * Contract:
 * - Pure: no sockets, files, clock or logging; randomness comes from the
 *   caller. Nothing here allocates except nexthop_order_mx() and
 *   nexthop_config_build(), whose results the caller frees as said below
 *   (nexthop_choose() uses a temporary copy for IDNA, intl.h).
 * - A next hop is written "host", "host:port", "[host]", "[host]:port",
 *   "[1.2.3.4]:25", "[IPv6:2001:db8::1]:25", "[2001:db8::1]" or a bare
 *   IPv6 address, optionally after "smtp:" (Postfix transport style;
 *   "smtp:25" alone is the host "smtp", port 25). The
 *   brackets mean "this host, no MX lookup" (literal). The port defaults
 *   to 25. A host is either an IP address (inet_pton) or a name of LDH
 *   labels (1..63 bytes, no leading or trailing '-', at most 253 bytes,
 *   one trailing dot allowed and dropped). An unbracketed name is looked
 *   up as a mail domain (MX, then its own addresses, RFC 5321 5.1); an
 *   unbracketed IP address is its own target.
 * - Decision order (nexthop_choose): the directory's answer from authd,
 *   unless it is "local", "external" or empty; then a configured route
 *   for the recipient's domain (exact, ASCII case-insensitive, trailing
 *   dot ignored); then the smarthost; then the domain's MX. "local" (ours,
 *   no directory hop) and "external" (not ours) both fall through: a
 *   "local" domain with no route and no smarthost goes to its MX, which
 *   may name this very server - resolve.c catches that with
 *   nexthop_is_self() and defers ("MX for X points back to this host")
 *   rather than looping.
 * - Errors: -1 with *error_r set to a static text; the output is then
 *   unspecified. An invalid hop from the directory or a route is a
 *   configuration problem the caller defers (4.3.5), never bounces.
 */
#ifndef DIRMX_NEXTHOP_H
#define DIRMX_NEXTHOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

struct settings_routerd;

/* Longest host name kept (RFC 1035: 253 bytes of text, no trailing dot). */
#define NEXTHOP_HOST_MAX 253
#define NEXTHOP_DEFAULT_PORT 25

struct nexthop {
	char host[NEXTHOP_HOST_MAX + 1]; /* no brackets, no trailing dot */
	uint16_t port;                   /* 1..65535; 25 when none given */
	bool literal; /* written in [brackets]: no MX lookup */
	bool is_ip;   /* host is an IPv4 or IPv6 address */
	bool mx;      /* look up MX of host: !literal && !is_ip */
};

enum nexthop_source {
	NEXTHOP_SOURCE_DIRECTORY = 0, /* authd's answer */
	NEXTHOP_SOURCE_ROUTE,         /* [routerd] routes */
	NEXTHOP_SOURCE_SMARTHOST,     /* [routerd] smarthost */
	NEXTHOP_SOURCE_MX,            /* the recipient domain's MX */
};

struct nexthop_route {
	char domain[NEXTHOP_HOST_MAX + 1]; /* no trailing dot */
	struct nexthop hop;
};

struct nexthop_config {
	const struct nexthop_route *routes;
	size_t n_routes;
	bool have_smarthost;
	struct nexthop smarthost;
};

/* Uniform 32-bit random value. */
typedef uint32_t nexthop_rand_fn(void *ctx);

/* Parse a NUL-terminated next hop (see above). */
int nexthop_parse(const char *s, struct nexthop *nh_r, const char **error_r);
/* The same over len bytes; a NUL byte among them is an error. */
int nexthop_parse_n(const void *s, size_t len, struct nexthop *nh_r,
                    const char **error_r);

/* One [routerd] routes item: "domain nexthop" (spaces or tabs between). */
int nexthop_route_parse(const char *item, struct nexthop_route *route_r,
                        const char **error_r);

/*
 * Build a config from the loaded settings: every route and the smarthost
 * (port 0 in the settings means 25). *cfg_r and its routes array are
 * allocated here; nexthop_config_deinit() frees them and sets *cfg to NULL.
 */
int nexthop_config_build(const struct settings_routerd *set,
                         struct nexthop_config **cfg_r, const char **error_r);
void nexthop_config_deinit(struct nexthop_config **cfg);

/*
 * The next hop of one recipient (decision order above). authd_hop may be
 * NULL; rcpt_domain is the domain part of the recipient address (an
 * address literal domain is the caller's business). cfg may be NULL (no
 * routes, no smarthost). -1 when the chosen hop is invalid (the error
 * names the source) or rcpt_domain is not a valid domain for the MX
 * case; *src_r is set even then, so the caller can log which source was
 * at fault. A non-ASCII (U-label) rcpt_domain is converted to A-labels
 * first (intl.h), for the routes, the smarthost and the MX alike; when it
 * has no valid A-label form, -1 with *src_r NEXTHOP_SOURCE_MX: the
 * domain can never be valid (the caller bounces, 5.1.2).
 */
int nexthop_choose(const char *authd_hop, const char *rcpt_domain,
                   const struct nexthop_config *cfg, struct nexthop *nh_r,
                   enum nexthop_source *src_r, const char **error_r);

/*
 * Order an MX answer: ascending preference; equal preferences shuffled
 * (Fisher-Yates over each run of ties, from the last position down, with
 * rand_fn reduced to the range without modulo bias: one call per swap
 * position unless a value is rejected). Records whose exchange is "." are
 * dropped; when nothing else remains (RFC 7505 null MX) *null_mx_r = 1,
 * *order_r = NULL and *n_r = 0. An empty answer gives *null_mx_r = 0 and
 * nothing to try. *order_r is an array of indexes into mx, freed by the
 * caller with free(). -1 only for a caller error (NULL exchange, no
 * rand_fn).
 */
int nexthop_order_mx(const struct dns_mx *mx, size_t n,
                     nexthop_rand_fn *rand_fn, void *ctx, size_t **order_r,
                     size_t *n_r, int *null_mx_r);

/*
 * RFC 5321 5.1 with ourselves in the list: given order (as returned by
 * nexthop_order_mx), drop the exchangers whose preference is equal to or
 * worse than the best preference at which one of my_names appears. Returns
 * the new count (order is compacted in place); 0 with *self_r true means
 * the best MX is this host (configuration error: defer, do not loop).
 */
size_t nexthop_trim_self(const struct dns_mx *mx, size_t *order, size_t n,
                         const char *const *my_names, size_t n_names,
                         bool *self_r);

/*
 * host names this server: equal to one of my_names, ASCII case-insensitive,
 * one trailing dot ignored on either side.
 */
bool nexthop_is_self(const char *host, const char *const *my_names, size_t n);

/* "directory", "route", "smarthost", "mx". */
const char *nexthop_source_name(enum nexthop_source src);

/* "host:port", "[host]:port" or "[v6]:port" into buf; returns buf. */
const char *nexthop_format(const struct nexthop *nh, char *buf, size_t size);

#endif
