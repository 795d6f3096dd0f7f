/*
 * ldpool - bound service connections with failover; see ldpool.h. The
 * searches themselves (dispatch, retry, hedging) are in ldpool_req.c.
 *
 * The pool's one timer (maintain) runs every second, more often while a
 * DC is suspect, and whenever something changed: it opens the connections
 * the serving and standby DC should have, closes connections to DCs that
 * are neither once they are idle, probes the DCs that are preferred but
 * not usable, sends keepalives, and hands waiting searches to connections
 * that came up. Everything that could re-enter a connection from inside
 * its own callback is left to this timer.
 *
 * Health: a DC is down (the locator's state, with its backoff) when it
 * refused, dropped or timed out; it is suspect (the pool's) when another
 * DC answered first a search it held past its hedge delay: it accepts
 * and holds, as a frozen DC does. The serving DC is the first in order
 * that is neither. A suspect DC keeps one connection, and a probe (a root
 * DSE read, one at a time, PROBE_GAP_MS apart) asks it until an answer
 * comes within its hedge delay: then it takes the traffic back. A probe
 * that times out marks it down. A down DC preferred over the serving one
 * is connected again every PROBE_RECONNECT_MS whatever its backoff (its
 * failures then change neither the backoff nor the log), so a DC that
 * restarts or thaws is used again within about a second (the first
 * PROBE_AHEAD_MAX DCs in order; any further keep their backoff).
 */
#include "ldpool_private.h"

#include <ldap.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"

#define POOL_TICK_MS 1000
#define HEDGE_MIN_MS 100u
#define HEDGE_MAX_MS 1000u
#define PROBE_GAP_MS 200u
#define PROBE_RECONNECT_MS 1000u
#define PROBE_AHEAD_MAX 2u

struct pool_dc *ldpool_dc_get(struct ldpool *pool, struct dcloc_dc *dc)
{
	struct pool_dc *pdc;

	for (size_t i = 0; i < pool->n_dcs; i++)
		if (pool->dcs[i]->dc == dc)
			return pool->dcs[i];
	pdc = alloc_new(struct pool_dc);
	pdc->pool = pool;
	pdc->dc = dc;
	metrics_hist_init(&pdc->stats.latency, metrics_latency_bounds_us,
	                  metrics_latency_n_bounds);
	pool->dcs =
	    alloc_resize(pool->dcs, pool->n_dcs + 1, sizeof(*pool->dcs));
	pool->dcs[pool->n_dcs++] = pdc;
	return pdc;
}

unsigned ldpool_hedge_ms(const struct pool_dc *pdc)
{
	uint64_t ms = pdc->mean_us * 4 / 1000;

	return ms < HEDGE_MIN_MS   ? HEDGE_MIN_MS
	       : ms > HEDGE_MAX_MS ? HEDGE_MAX_MS
	                           : (unsigned)ms;
}

static unsigned pdc_up(const struct pool_dc *pdc)
{
	unsigned n = 0;

	for (size_t i = 0; i < pdc->n_conns; i++)
		if (ldconn_get_state(pdc->conns[i]->conn) == LDCONN_STATE_UP)
			n++;
	return n;
}

static void conn_state(struct ldconn *c, enum ldconn_state state,
                       const char *reason, void *ctx)
{
	struct pool_conn *pc = ctx;
	struct ldpool *pool = pc->pool;

	if (pool->closing)
		return;
	if (state == LDCONN_STATE_UP) {
		log_info("ldpool", "event=connected dc=%s", ldconn_uri(c));
		dcloc_mark_up(pool->loc, pc->pdc->dc);
		pc->last_used_ms = evloop_now_ms();
	} else if (state == LDCONN_STATE_DOWN) {
		dcloc_mark_down(pool->loc, pc->pdc->dc, reason,
		                evloop_now_ms());
	}
	ldpool_kick(pool);
}

static struct pool_conn *pdc_add_conn(struct ldpool *pool, struct pool_dc *pdc)
{
	struct pool_conn *pc = alloc_new(struct pool_conn);
	struct ldconn_options o = pool->opts.conn;

	o.uri = pdc->dc->uri;
	pc->pool = pool;
	pc->pdc = pdc;
	pc->conn = ldconn_new(pool->base, &o, conn_state, pc);
	pdc->conns =
	    alloc_resize(pdc->conns, pdc->n_conns + 1, sizeof(*pdc->conns));
	pdc->conns[pdc->n_conns++] = pc;
	return pc;
}

/* Make pdc have at least want connections up or connecting. */
static void pdc_ensure(struct ldpool *pool, struct pool_dc *pdc, unsigned want)
{
	unsigned live = 0;

	for (size_t i = 0; i < pdc->n_conns; i++) {
		struct ldconn *c = pdc->conns[i]->conn;

		if (ldconn_get_state(c) != LDCONN_STATE_DOWN)
			live++;
	}
	for (size_t i = 0; i < pdc->n_conns && live < want; i++) {
		struct ldconn *c = pdc->conns[i]->conn;

		if (ldconn_get_state(c) == LDCONN_STATE_DOWN) {
			ldconn_connect(c);
			live++;
		}
	}
	while (live < want) {
		ldconn_connect(pdc_add_conn(pool, pdc)->conn);
		live++;
	}
}

/* Close idle connections of a DC that is neither primary nor standby. */
static void pdc_release(struct pool_dc *pdc)
{
	for (size_t i = 0; i < pdc->n_conns; i++) {
		struct ldconn *c = pdc->conns[i]->conn;

		if (ldconn_get_state(c) == LDCONN_STATE_UP &&
		    ldconn_pending(c) == 0)
			ldconn_close(c, "no longer needed");
	}
}

static struct pool_conn *pdc_best_conn(struct pool_dc *pdc)
{
	struct pool_conn *best = NULL;

	for (size_t i = 0; i < pdc->n_conns; i++) {
		struct pool_conn *pc = pdc->conns[i];

		if (ldconn_get_state(pc->conn) != LDCONN_STATE_UP)
			continue;
		if (best == NULL ||
		    ldconn_pending(pc->conn) < ldconn_pending(best->conn))
			best = pc;
	}
	return best;
}

/* The cheapest question a DC answers: for keepalives and probes. */
static struct ldconn_search root_dse_read(int timeout_ms)
{
	static const char *const attrs[] = {"supportedLDAPVersion", NULL};
	const struct ldconn_search s = {.base = "",
	                                .scope = LDAP_SCOPE_BASE,
	                                .filter = "(objectClass=*)",
	                                .attrs = attrs,
	                                .timeout_ms = timeout_ms};

	return s;
}

struct pool_conn *ldpool_pick(struct ldpool *pool, const struct pool_dc *avoid)
{
	uint64_t now = evloop_now_ms();
	struct dcloc_dc *dc = NULL;
	struct pool_conn *suspect = NULL;

	while ((dc = dcloc_next_up(pool->loc, dc, now)) != NULL) {
		struct pool_dc *pdc = ldpool_dc_get(pool, dc);
		struct pool_conn *pc;

		if (pdc == avoid || (pc = pdc_best_conn(pdc)) == NULL)
			continue;
		if (!pdc->suspect)
			return pc;
		if (suspect == NULL)
			suspect = pc;
	}
	return suspect;
}

void ldpool_dc_slow(struct ldpool *pool, struct pool_dc *pdc)
{
	if (pdc->suspect)
		return;
	pdc->suspect = true;
	pdc->probe_next_ms = 0;
	log_info("ldpool", "event=dc_suspect dc=%s hedge_ms=%u", pdc->dc->uri,
	         ldpool_hedge_ms(pdc));
	ldpool_kick(pool);
}

void ldpool_conn_failed(struct ldpool *pool, struct pool_conn *pc,
                        const struct ldconn_result *res)
{
	dcloc_mark_down(pool->loc, pc->pdc->dc, res->error, evloop_now_ms());
	if (res->status == LDCONN_TIMEOUT)
		ldconn_close(pc->conn, res->error);
	pc->pdc->stats.failovers++;
	ldpool_kick(pool);
}

static void probe_done(const struct ldconn_result *res, void *ctx)
{
	struct pool_dc *pdc = ctx;
	struct ldpool *pool = pdc->pool;
	uint64_t now = evloop_now_ms();
	uint64_t took_ms = (metrics_now_us() - pdc->probe_sent_us) / 1000;
	struct pool_conn *pc = pdc->probe_pc;

	pdc->probe = NULL;
	pdc->probe_pc = NULL;
	if (pool->closing || res->status == LDCONN_CANCELLED)
		return;
	pdc->probe_next_ms = now + PROBE_GAP_MS;
	if (res->status == LDCONN_TIMEOUT) {
		/* Holding still: down, and connected afresh later. */
		dcloc_mark_down(pool->loc, pdc->dc, res->error, now);
		ldconn_close(pc->conn, res->error);
	} else if (res->status != LDCONN_CONN_LOST &&
	           took_ms <= ldpool_hedge_ms(pdc)) {
		pdc->suspect = false;
		log_info("ldpool", "event=dc_recovered dc=%s probe_ms=%llu",
		         pdc->dc->uri, (unsigned long long)took_ms);
	}
	ldpool_kick(pool);
}

/* Ask a suspect DC the root DSE, unless a probe is out or it is early. */
static void pdc_probe(struct ldpool *pool, struct pool_dc *pdc, uint64_t now)
{
	const struct ldconn_search s =
	    root_dse_read((int)pool->opts.request_timeout_ms);
	struct pool_conn *pc;
	const char *error;

	if (pdc->probe != NULL || now < pdc->probe_next_ms ||
	    (pc = pdc_best_conn(pdc)) == NULL)
		return;
	pdc->probe_sent_us = metrics_now_us();
	pdc->probe = ldconn_search_start(pc->conn, &s, probe_done, pdc, &error);
	if (pdc->probe == NULL) {
		ldconn_close(pc->conn, error);
		return;
	}
	pdc->probe_pc = pc;
	pc->last_used_ms = now;
}

static void send_keepalive_done(const struct ldconn_result *res, void *ctx)
{
	struct pool_conn *pc = ctx;

	pc->keepalive_pending = false;
	if (res->status == LDCONN_TIMEOUT)
		ldconn_close(pc->conn, "keepalive timed out");
}

static void pool_keepalive(struct ldpool *pool, uint64_t now)
{
	const struct ldconn_search s = root_dse_read(0);

	for (size_t i = 0; i < pool->n_dcs; i++) {
		struct pool_dc *pdc = pool->dcs[i];

		for (size_t j = 0; j < pdc->n_conns; j++) {
			struct pool_conn *pc = pdc->conns[j];
			const char *error;

			if (pc->keepalive_pending ||
			    ldconn_get_state(pc->conn) != LDCONN_STATE_UP ||
			    now - pc->last_used_ms <
			        pool->opts.idle_keepalive_ms)
				continue;
			pc->last_used_ms = now;
			if (ldconn_search_start(pc->conn, &s,
			                        send_keepalive_done, pc,
			                        &error) != NULL)
				pc->keepalive_pending = true;
		}
	}
}

/* The first DC after skip that is not down, nor suspect unless any. */
static struct pool_dc *pool_next_usable(struct ldpool *pool,
                                        const struct dcloc_dc *skip,
                                        uint64_t now, bool any)
{
	struct dcloc_dc *dc = (struct dcloc_dc *)skip;

	while ((dc = dcloc_next_up(pool->loc, dc, now)) != NULL) {
		struct pool_dc *pdc = ldpool_dc_get(pool, dc);

		if (any || !pdc->suspect)
			return pdc;
	}
	return NULL;
}

/*
 * The DCs the locator prefers over the serving one: keep one connection
 * to a suspect one (for its probes), and connect again to one that is
 * down every PROBE_RECONNECT_MS, its backoff notwithstanding. Only the
 * first PROBE_AHEAD_MAX in order: a long list of dead DCs (or all of them,
 * with none serving) keeps the backoff beyond those.
 */
static void pool_watch_preferred(struct ldpool *pool, struct pool_dc *serving,
                                 uint64_t now)
{
	for (size_t i = 0; i < dcloc_count(pool->loc) && i < PROBE_AHEAD_MAX;
	     i++) {
		struct dcloc_dc *dc = dcloc_get(pool->loc, i);
		struct pool_dc *pdc = ldpool_dc_get(pool, dc);

		if (pdc == serving)
			break;
		if (dc->state != DCLOC_DC_DOWN || now >= dc->down_until_ms) {
			if (pdc->suspect)
				pdc_ensure(pool, pdc, 1);
		} else if (now - pdc->reconnect_ms >= PROBE_RECONNECT_MS) {
			pdc->reconnect_ms = now;
			pdc_ensure(pool, pdc, 1);
		}
	}
}

static void pool_maintain(void *ctx)
{
	struct ldpool *pool = ctx;
	uint64_t now = evloop_now_ms();
	struct pool_dc *serving, *standby = NULL;
	struct ldpool_req *r;
	unsigned next_ms = POOL_TICK_MS;

	serving = pool_next_usable(pool, NULL, now, false);
	if (serving == NULL)
		serving = pool_next_usable(pool, NULL, now, true);
	if (serving != NULL) {
		standby = pool_next_usable(pool, serving->dc, now, false);
		if (standby == NULL)
			standby =
			    pool_next_usable(pool, serving->dc, now, true);
	}
	pool_watch_preferred(pool, serving, now);
	if (serving != NULL)
		pdc_ensure(pool, serving, pool->opts.conns_per_dc);
	if (standby != NULL)
		pdc_ensure(pool, standby, 1);
	for (size_t i = 0; i < pool->n_dcs; i++) {
		struct pool_dc *pdc = pool->dcs[i];

		/* Once the serving DC is up, DCs further down need no
		 * connections; those before it keep theirs, for probes. */
		if (serving != NULL && pdc_up(serving) > 0 && pdc != serving &&
		    pdc != standby &&
		    (pdc->dc->state == DCLOC_DC_GONE ||
		     pdc->dc->rank > serving->dc->rank))
			pdc_release(pdc);
		if (pdc->suspect) {
			pdc_probe(pool, pdc, now);
			next_ms = PROBE_GAP_MS;
		}
	}
	pool_keepalive(pool, now);
	if (!TAILQ_EMPTY(&pool->wait) && ldpool_pick(pool, NULL) != NULL) {
		ldpool_batch_form(pool);
		/* Each waiting search once, in order: what cannot go yet
		 * queues again at the tail (a search cancelled meanwhile
		 * has left the queue: n bounds the loop, not the list). */
		for (size_t n = pool->n_waiting;
		     n > 0 && (r = TAILQ_FIRST(&pool->wait)) != NULL; n--) {
			ldpool_req_unqueue(r);
			ldpool_req_dispatch(r);
		}
	}
	evloop_timer_start(pool->tick, next_ms);
}

void ldpool_kick(struct ldpool *pool)
{
	evloop_timer_start(pool->tick, 0);
}

struct ldpool *ldpool_new(struct event_base *base, struct dcloc *loc,
                          const struct ldpool_options *opts)
{
	struct ldpool *pool = alloc_new(struct ldpool);

	TAILQ_INIT(&pool->wait);
	pool->base = base;
	pool->loc = loc;
	pool->opts = *opts;
	if (pool->opts.conns_per_dc == 0)
		pool->opts.conns_per_dc = 2;
	if (pool->opts.conn.timeout_ms <= 0)
		pool->opts.conn.timeout_ms = 5000;
	if (pool->opts.request_timeout_ms == 0)
		pool->opts.request_timeout_ms =
		    (unsigned)pool->opts.conn.timeout_ms;
	if (pool->opts.idle_keepalive_ms == 0)
		pool->opts.idle_keepalive_ms = 300000;
	if (pool->opts.queue_max == 0)
		pool->opts.queue_max = 10000;
	pool->tick = evloop_timer_new(base, pool_maintain, pool);
	return pool;
}

void ldpool_dcs_changed(struct ldpool *pool)
{
	ldpool_kick(pool);
}

void ldpool_deinit(struct ldpool **poolp)
{
	struct ldpool *pool = *poolp;

	if (pool == NULL)
		return;
	*poolp = NULL;
	pool->closing = true;
	while (!TAILQ_EMPTY(&pool->wait)) {
		struct ldpool_req *r = TAILQ_FIRST(&pool->wait);

		ldpool_req_unqueue(r);
		ldpool_req_fail(r, LDCONN_CANCELLED, "shutting down");
	}
	for (size_t i = 0; i < pool->n_dcs; i++) {
		struct pool_dc *pdc = pool->dcs[i];

		for (size_t j = 0; j < pdc->n_conns; j++) {
			ldconn_deinit(&pdc->conns[j]->conn);
			free(pdc->conns[j]);
		}
		free(pdc->conns);
		free(pdc);
	}
	free(pool->dcs);
	evloop_timer_free(&pool->tick);
	free(pool);
}

void ldpool_dc_stats(const struct ldpool *pool, const struct dcloc_dc *dc,
                     struct ldpool_dc_stats *stats_r)
{
	memset(stats_r, 0, sizeof(*stats_r));
	for (size_t i = 0; i < pool->n_dcs; i++) {
		const struct pool_dc *pdc = pool->dcs[i];

		if (pdc->dc != dc)
			continue;
		*stats_r = pdc->stats;
		stats_r->conns_up = pdc_up(pdc);
		stats_r->conns_total = (unsigned)pdc->n_conns;
	}
}
