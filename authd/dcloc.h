/*
 * dcloc.h - where are the directory servers? The domain controller locator.
 *
 * Finds the directory servers of a domain as Windows clients do, through
 * DNS SRV records: _ldap._tcp.<site>._sites.dc._msdcs.<domain> when the
 * site is known, then _ldap._tcp.dc._msdcs.<domain>, then the plain
 * _ldap._tcp.<domain> that any LDAP directory can publish; for the Global
 * Catalog, _gc._tcp.<forest>. A configured static list overrides
 * discovery and is tried in the order given.
 *
 * The list is ordered by RFC 2782 (srvorder.c), then DCs of the client's
 * site first. It is kept for the records' TTL and refreshed in the
 * background; a failed refresh keeps the last good list and retries with
 * backoff. Each DC carries a health state: one that refuses, times out or
 * drops is marked down by the connection pool and becomes eligible again
 * after a backoff; dcloc_next_up() never returns a DC that is down while
 * its backoff runs.
 *
 * Ownership: the locator owns every struct dcloc_dc; pointers to them stay
 * valid until the locator is freed (a DC that leaves DNS is kept, marked
 * gone, so nobody holds a dangling pointer).
 */
#ifndef DIRMX_DCLOC_H
#define DIRMX_DCLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ldconn.h"

struct event_base;
struct dns;

enum dcloc_state {
	DCLOC_DC_UNKNOWN = 0, /* not tried yet */
	DCLOC_DC_UP,
	DCLOC_DC_DOWN,
	DCLOC_DC_GONE, /* no longer in DNS */
};

struct dcloc_dc {
	char *host; /* SRV target without the trailing dot */
	uint16_t port;
	uint16_t priority;
	uint16_t weight;
	char *uri;  /* ldap://host:port or ldaps://host:port */
	char *site; /* the DC's site, when the LDAP ping told it */
	enum dcloc_state state;
	char *last_error;
	uint64_t down_until_ms; /* monotonic ms; 0 when not down */
	unsigned backoff_ms;
	unsigned failures;
	size_t rank; /* position in the current order, 0 = first */
};

struct dcloc_options {
	const char *domain; /* DNS domain; required unless servers given */
	const char *site;   /* known site, or NULL */
	const char *forest; /* for the Global Catalog; NULL = domain */
	bool gc;            /* locate Global Catalog servers */
	const char *const *servers; /* static override: URIs or host[:port] */
	size_t n_servers;
	enum ldconn_tls tls;  /* LDAPS maps ports 389→636 and 3268→3269 */
	unsigned down_min_ms; /* first retry of a down DC (default 1000) */
	unsigned down_max_ms; /* backoff cap (default 60000) */
	unsigned
	    refresh_min_ms; /* shortest refresh, for TTL 0 (default 30000) */
	unsigned refresh_fail_ms; /* first retry of a failed lookup (5000) */
	uint64_t seed;            /* for the weighted random order; 0: random */
};

struct dcloc;

/* Called whenever the list or its order changed (not on health alone). */
typedef void dcloc_changed_cb(struct dcloc *loc, void *ctx);

struct dcloc *dcloc_new(struct event_base *base, struct dns *dns,
                        const struct dcloc_options *opts, dcloc_changed_cb *cb,
                        void *ctx);
void dcloc_deinit(struct dcloc **loc);

/* Start discovery (or take the static list); the callback reports. */
void dcloc_start(struct dcloc *loc);
/* Learned from an LDAP ping: prefer this site's DCs from now on. */
void dcloc_set_client_site(struct dcloc *loc, const char *site);
void dcloc_set_dc_site(struct dcloc *loc, struct dcloc_dc *dc,
                       const char *site);
const char *dcloc_client_site(const struct dcloc *loc);

/* The DCs in the order to try them (GONE ones excluded). */
size_t dcloc_count(const struct dcloc *loc);
struct dcloc_dc *dcloc_get(const struct dcloc *loc, size_t i);
/*
 * The first DC after skip (NULL: from the start) in order that is not
 * down at now_ms; NULL when there is none.
 */
struct dcloc_dc *dcloc_next_up(const struct dcloc *loc,
                               const struct dcloc_dc *skip, uint64_t now_ms);

void dcloc_mark_up(struct dcloc *loc, struct dcloc_dc *dc);
void dcloc_mark_down(struct dcloc *loc, struct dcloc_dc *dc, const char *reason,
                     uint64_t now_ms);

/* How the list was found ("srv NAME", "static"), and the last error. */
const char *dcloc_source(const struct dcloc *loc);
const char *dcloc_last_error(const struct dcloc *loc);
bool dcloc_ready(const struct dcloc *loc);

#endif
