/*
 * route.h - resolve a next hop to the addresses to connect to.
 *
 * Given a struct nexthop (nexthop.h), route_resolve() finds the list of
 * targets - {host name, address with port} - in the order to try them:
 * - an IP hop ("[192.0.2.1]:25", "10.0.0.5") is its own single target;
 * - a literal hop ("[mbx1.example.com]:2525") is the A and AAAA records
 *   of that host, no MX lookup;
 * - any other hop is a mail domain: its MX records, ordered by
 *   nexthop_order_mx() (preference, ties at random), then the A and AAAA
 *   records of each exchanger, looked up in parallel. With no MX records
 *   (NODATA) the domain's own addresses are used (implicit MX, RFC 5321
 *   5.1).
 * Within one host, IPv4 addresses come first, then IPv6, each in the
 * order received. Every target carries the hop's port. Hosts are named
 * without the trailing dot, lowercased (for TLS name checks and logs).
 *
 * Outcomes (status, enhanced code, reason):
 * - ROUTE_OK with at least one target. An exchanger whose addresses could
 *   not be found is skipped when others have addresses.
 * - ROUTE_PERMFAIL 5.1.2: the domain (or literal host) does not exist
 *   (NXDOMAIN). 5.1.10: null MX (RFC 7505), the domain accepts no mail.
 *   5.4.4: the names exist but no address was found for any of them.
 * - ROUTE_TEMPFAIL 4.4.3: DNS timeout, SERVFAIL, REFUSED or any other
 *   DNS failure without a usable target. 4.3.5: configuration error - the
 *   best MX (or the literal host, or the implicit-MX domain) is this
 *   server ("MX for X points back to this host"); when we are a
 *   less-preferred MX, only the better exchangers are kept (RFC 5321
 *   5.1). Note a PERMFAIL for a hop that came from the directory, a
 *   route or the smarthost is our own configuration error: the caller,
 *   which knows the source, should defer rather than bounce.
 *
 * Contract:
 * - The callback is called exactly once per request, always from the
 *   event loop, never from inside route_resolve(), unless the request is
 *   cancelled first with route_cancel() (then never).
 * - Every request ends: it waits only for DNS lookups, which dns.h bounds
 *   by its timeouts and tries.
 * - The result and all it points to belong to the library and are valid
 *   only during the callback. The request handle is invalid after it.
 * - Cache: answers (OK and PERMFAIL, never TEMPFAIL) are kept per (host,
 *   literal-or-MX) for the minimum TTL of the records behind them (capped
 *   at ROUTE_CACHE_TTL_MAX; permanent failures at ROUTE_NEG_TTL_MAX; a
 *   TTL of 0 is not cached). At most ROUTE_CACHE_MAX entries, the oldest
 *   dropped first. A cached answer has ties among equal MX preferences
 *   shuffled again, so load still spreads over equal exchangers.
 * - route_deinit() must come before dns_deinit() of the struct dns it was
 *   given. It ends every outstanding request: its callback is called with
 *   ROUTE_TEMPFAIL 4.4.3 "shutting down" before route_deinit() returns,
 *   and must not start a new request on the same struct route.
 */
#ifndef DIRMX_ROUTE_H
#define DIRMX_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nexthop.h"

struct event_base;
struct dns;
struct route;
struct route_req;

#define ROUTE_CACHE_MAX 10000
#define ROUTE_CACHE_TTL_MAX 86400
#define ROUTE_NEG_TTL_MAX 3600
/* Exchangers of one MX answer that are looked up at most. */
#define ROUTE_MAX_MX 16

enum route_status {
	ROUTE_OK = 0,
	ROUTE_TEMPFAIL, /* 4xx: retry later */
	ROUTE_PERMFAIL, /* 5xx: bounce (see the note above) */
};

struct route_target {
	const char *host;    /* exchanger or literal host, no trailing dot */
	uint16_t preference; /* MX preference; 0 for implicit MX and literals */
	struct sockaddr_storage addr; /* with the hop's port */
	socklen_t addrlen;
};

struct route_result {
	enum route_status status;
	const char *code;   /* "2.0.0", "4.4.3", "5.1.10" ... */
	const char *reason; /* human text; NULL for ROUTE_OK */
	const struct route_target *targets;
	size_t n_targets;
	uint32_t ttl;  /* seconds the answer may be reused; 0: do not */
	bool implicit; /* no MX records: the domain's own addresses */
	bool cached;   /* answered from the cache */
};

typedef void route_cb(const struct route_result *result, void *ctx);

/*
 * my_names: this server's host name and aliases (copied), used to detect
 * an MX that points back to us. The random source defaults to one seeded
 * from getrandom().
 */
struct route *route_new(struct event_base *base, struct dns *dns,
                        const char *const *my_names, size_t n);
void route_deinit(struct route **r);

/* Replace the random source (tests, route_drive -e SEED). */
void route_set_rand(struct route *r, nexthop_rand_fn *rand_fn, void *ctx);
/* Bound the cache (entries); 0 turns it off and empties it. */
void route_set_cache_max(struct route *r, size_t max);
size_t route_cache_count(const struct route *r);

/* Never NULL. nh is copied. */
struct route_req *route_resolve(struct route *r, const struct nexthop *nh,
                                route_cb *cb, void *ctx);
/* The callback is not called; sets *req to NULL. NULL *req is a no-op. */
void route_cancel(struct route_req **req);

const char *route_status_str(enum route_status status);

#endif
