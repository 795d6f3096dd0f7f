/*
 * resolve.h - resolve a next hop to the addresses to connect to.
 *
 * Given a struct nexthop (nexthop.h), resolve_resolve() finds the list of
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
 * - RESOLVE_OK with at least one target. An exchanger whose addresses could
 *   not be found is skipped when others have addresses.
 * - RESOLVE_PERMFAIL 5.1.2: the domain (or literal host) does not exist
 *   (NXDOMAIN). 5.1.10: null MX (RFC 7505), the domain accepts no mail.
 *   5.4.4: the names exist but no address was found for any of them.
 * - RESOLVE_TEMPFAIL 4.4.3: DNS timeout, SERVFAIL, REFUSED or any other
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
 *   event loop, never from inside resolve_resolve(), unless the request is
 *   cancelled first with resolve_cancel() (then never).
 * - Every request ends: it waits only for DNS lookups, which dns.h bounds
 *   by its timeouts and tries.
 * - The result and all it points to belong to the library and are valid
 *   only during the callback. The request handle is invalid after it.
 * - Cache: answers (OK and PERMFAIL, never TEMPFAIL) are kept per (host,
 *   literal-or-MX) for the minimum TTL of the records behind them (capped
 *   at RESOLVE_CACHE_TTL_MAX; permanent failures at RESOLVE_NEG_TTL_MAX; a
 *   TTL of 0 is not cached). At most RESOLVE_CACHE_MAX entries, the oldest
 *   dropped first. A cached answer has ties among equal MX preferences
 *   shuffled again, so load still spreads over equal exchangers.
 * - resolve_deinit() must come before dns_deinit() of the struct dns it was
 *   given. It ends every outstanding request: its callback is called with
 *   RESOLVE_TEMPFAIL 4.4.3 "shutting down" before resolve_deinit() returns,
 *   and must not start a new request on the same struct resolve.
 */
#ifndef DIRMX_RESOLVE_H
#define DIRMX_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nexthop.h"

struct event_base;
struct dns;
struct resolve;
struct resolve_req;

#define RESOLVE_CACHE_MAX 10000
#define RESOLVE_CACHE_TTL_MAX 86400
#define RESOLVE_NEG_TTL_MAX 3600
/* Exchangers of one MX answer that are looked up at most. */
#define RESOLVE_MAX_MX 16

enum resolve_status {
	RESOLVE_OK = 0,
	RESOLVE_TEMPFAIL, /* 4xx: retry later */
	RESOLVE_PERMFAIL, /* 5xx: bounce (see the note above) */
};

struct resolve_target {
	const char *host;    /* exchanger or literal host, no trailing dot */
	uint16_t preference; /* MX preference; 0 for implicit MX and literals */
	struct sockaddr_storage addr; /* with the hop's port */
	socklen_t addrlen;
};

struct resolve_result {
	enum resolve_status status;
	const char *code;   /* "2.0.0", "4.4.3", "5.1.10" ... */
	const char *reason; /* human text; NULL for RESOLVE_OK */
	const struct resolve_target *targets;
	size_t n_targets;
	uint32_t ttl;  /* seconds the answer may be reused; 0: do not */
	bool implicit; /* no MX records: the domain's own addresses */
	bool cached;   /* answered from the cache */
};

typedef void resolve_cb(const struct resolve_result *result, void *ctx);

/*
 * my_names: this server's host name and aliases (copied), used to detect
 * an MX that points back to us. The random source defaults to one seeded
 * from getrandom().
 */
struct resolve *resolve_new(struct event_base *base, struct dns *dns,
                            const char *const *my_names, size_t n);
void resolve_deinit(struct resolve **r);

/* Replace the random source (tests, resolve_drive -e SEED). */
void resolve_set_rand(struct resolve *r, nexthop_rand_fn *rand_fn, void *ctx);
/* Bound the cache (entries); 0 turns it off and empties it. */
void resolve_set_cache_max(struct resolve *r, size_t max);
size_t resolve_cache_count(const struct resolve *r);

/* Never NULL. nh is copied. */
struct resolve_req *resolve_resolve(struct resolve *r, const struct nexthop *nh,
                                    resolve_cb *cb, void *ctx);
/* The callback is not called; sets *req to NULL. NULL *req is a no-op. */
void resolve_cancel(struct resolve_req **req);

const char *resolve_status_str(enum resolve_status status);

#endif
