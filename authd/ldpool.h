/*
 * ldpool.h - bound service connections to the directory, with failover.
 *
 * The pool keeps a few bound connections (conns_per_dc) to the first DC of
 * the locator's order that is not down, and one warm standby connection
 * to the next, so that losing a DC moves requests at once to a connection
 * that is already bound. Searches go to the best DC that has a connection
 * up, on its least-loaded connection; many are in flight on one
 * connection. A search whose connection fails or times out marks that DC
 * down and is retried once on another DC; a DC whose backoff has run out
 * is connected again and, once up, takes the traffic back.
 *
 * A search not answered within its DC's hedge delay (four times the DC's
 * recent mean latency, 100 ms to 1 s) is sent to the next DC as well and
 * the first answer is the caller's: a frozen DC costs a search about the
 * hedge delay, not the timeout (paged searches excepted). A DC that lost
 * such a race is suspect: new searches skip it, and it is probed in the
 * background until it answers within its hedge delay again. A down DC
 * that the locator prefers is tried again every second, so one that
 * restarts takes the traffic back about a second after it listens.
 *
 * Searches that find no connection up wait (bounded) for one until their
 * timeout, and then fail with LDCONN_TIMEOUT: the caller answers TEMPFAIL,
 * never NOTFOUND. Idle connections are kept alive with a cheap root DSE
 * read well below AD's 900-second idle cut-off.
 *
 * The connections used to verify user passwords are not this pool's: a
 * user bind changes a connection's identity.
 *
 * Ownership: the pool copies the search it is given; a result passed to a
 * callback is valid only during the callback.
 */
#ifndef DIRMX_LDPOOL_H
#define DIRMX_LDPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "dcloc.h"
#include "ldconn.h"
#include "metrics.h"

struct event_base;

struct ldpool_options {
	struct ldconn_options conn;  /* uri is ignored: each DC's is used */
	unsigned conns_per_dc;       /* default 2 */
	unsigned request_timeout_ms; /* default conn.timeout_ms */
	unsigned idle_keepalive_ms;  /* default 300000 (AD cuts at 900 s) */
	unsigned queue_max;          /* searches waiting; default 10000 */
};

struct ldpool;
struct ldpool_req;

/* dc_uri: the DC that answered, or NULL when none did. */
typedef void ldpool_result_cb(const struct ldconn_result *res,
                              const char *dc_uri, void *ctx);

struct ldpool *ldpool_new(struct event_base *base, struct dcloc *loc,
                          const struct ldpool_options *opts);
void ldpool_deinit(struct ldpool **pool);

/* The locator's list changed: connect where needed. */
void ldpool_dcs_changed(struct ldpool *pool);

/*
 * Start a search. The callback is called exactly once, never from inside
 * this call, unless the request is cancelled.
 */
struct ldpool_req *ldpool_search(struct ldpool *pool,
                                 const struct ldconn_search *s,
                                 ldpool_result_cb *cb, void *ctx);
/*
 * The same, for a search that may travel with others (an address lookup:
 * many arrive at once when the cache is cold). Searches waiting for the
 * same connection at the same time, with the same base, scope, attributes
 * and timeout, a size limit and nothing else (no paging, controls or
 * streaming), go as one search whose filter is the OR of theirs, with the
 * sum of their size limits; each caller gets the entries its own filter
 * matches, decided by ldmatch_entry() (so the caller promises that its
 * filter is ldmatch_decidable() with these attributes), cut at its own
 * size limit (LDCONN_SIZELIMIT when cut). When that cannot be decided
 * exactly (an entry no filter claims, an UNSURE match) or the combined
 * search fails with a size limit or an LDAP error, each goes again alone.
 * Other failures (timeout, lost connection after the retry) are every
 * rider's. Fewer searches: fewer round trips, less work for the DC.
 */
struct ldpool_req *ldpool_search_batchable(struct ldpool *pool,
                                           const struct ldconn_search *s,
                                           ldpool_result_cb *cb, void *ctx);
void ldpool_req_cancel(struct ldpool_req **req);

struct ldpool_dc_stats {
	unsigned conns_up;
	unsigned conns_total;
	uint64_t searches;           /* answered by this DC */
	uint64_t failovers;          /* searches moved away from this DC */
	struct metrics_hist latency; /* answered searches, sent -> result */
};
void ldpool_dc_stats(const struct ldpool *pool, const struct dcloc_dc *dc,
                     struct ldpool_dc_stats *stats_r);

#endif
