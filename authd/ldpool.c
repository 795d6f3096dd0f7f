/*
 * ldpool - bound service connections with failover; see ldpool.h.
 *
 * The pool's one timer (maintain) runs every second and whenever
 * something changed: it opens the connections the primary and standby DC
 * should have, closes connections to DCs that are neither once they are
 * idle, sends keepalives, and hands waiting searches to connections that
 * came up. Everything that could re-enter a connection from inside its
 * own callback is left to this timer.
 *
 * Hedging: a search not answered within the hedge delay of its DC (four
 * times that DC's recent mean latency, at least 100 ms, at most 1 s) is
 * sent to the next DC that has a connection up as well, and the first
 * answer goes to the caller. The slow copy is left to finish: its timeout
 * marks its DC down (new searches then go elsewhere at once), its late
 * answer only updates that DC's latency. A frozen DC then costs a search
 * about the hedge delay, not the request timeout. Paged searches are not
 * hedged: their cookie belongs to one DC.
 */
#include "ldpool.h"

#include <ldap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"

#define POOL_TICK_MS 1000
#define HEDGE_MIN_MS 100u
#define HEDGE_MAX_MS 1000u

struct pool_conn {
	struct ldpool *pool;
	struct pool_dc *pdc;
	struct ldconn *conn;
	uint64_t last_used_ms;
	bool keepalive_pending;
};

struct pool_dc {
	struct dcloc_dc *dc;
	struct pool_conn **conns;
	size_t n_conns;
	struct ldpool_dc_stats stats;
	uint64_t mean_us; /* recent latency: an EWMA, 1/16 per answer */
};

/* One copy of a search on one connection (two while hedged). */
struct req_slot {
	struct ldpool_req *r;
	struct ldconn_req *creq;
	struct pool_conn *pc;
	uint64_t sent_us; /* on pc, for the latency */
};

struct ldpool_req {
	struct ldpool *pool;
	struct ldconn_search s; /* private copy */
	char **attrs;
	struct ldconn_value cookie;
	ldpool_result_cb *cb;
	void *ctx;
	unsigned attempts;
	struct pool_dc *tried;      /* the DC of the failed attempt */
	struct req_slot slot[2];    /* in flight: [0], and a hedge */
	struct evloop_timer *timer; /* while waiting for a connection */
	struct evloop_timer *hedge; /* while in flight, not yet hedged */
	bool answered; /* the caller has its answer; a slow copy runs on */
	TAILQ_ENTRY(ldpool_req) link; /* waiting queue, when queued */
	bool queued;
};

struct ldpool {
	struct event_base *base;
	struct dcloc *loc;
	struct ldpool_options opts;
	struct pool_dc **dcs;
	size_t n_dcs;
	struct evloop_timer *tick;
	TAILQ_HEAD(, ldpool_req) wait;
	size_t n_waiting;
	bool closing;
};

static void pool_kick(struct ldpool *pool);
static void req_dispatch(struct ldpool_req *r);

static struct pool_dc *pool_dc_get(struct ldpool *pool, struct dcloc_dc *dc)
{
	struct pool_dc *pdc;

	for (size_t i = 0; i < pool->n_dcs; i++)
		if (pool->dcs[i]->dc == dc)
			return pool->dcs[i];
	pdc = alloc_new(struct pool_dc);
	pdc->dc = dc;
	metrics_hist_init(&pdc->stats.latency, metrics_latency_bounds_us,
	                  metrics_latency_n_bounds);
	pool->dcs =
	    alloc_resize(pool->dcs, pool->n_dcs + 1, sizeof(*pool->dcs));
	pool->dcs[pool->n_dcs++] = pdc;
	return pdc;
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
	pool_kick(pool);
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

/* The best connection that is up, not on the DC to avoid. */
static struct pool_conn *pool_pick(struct ldpool *pool,
                                   const struct pool_dc *avoid)
{
	uint64_t now = evloop_now_ms();
	struct dcloc_dc *dc = NULL;

	while ((dc = dcloc_next_up(pool->loc, dc, now)) != NULL) {
		struct pool_dc *pdc = pool_dc_get(pool, dc);
		struct pool_conn *pc;

		if (pdc == avoid)
			continue;
		pc = pdc_best_conn(pdc);
		if (pc != NULL)
			return pc;
	}
	return NULL;
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
	static const char *const attrs[] = {"supportedLDAPVersion", NULL};
	const struct ldconn_search s = {.base = "",
	                                .scope = LDAP_SCOPE_BASE,
	                                .filter = "(objectClass=*)",
	                                .attrs = attrs};

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

static void req_unqueue(struct ldpool_req *r)
{
	struct ldpool *pool = r->pool;

	if (!r->queued)
		return;
	TAILQ_REMOVE(&pool->wait, r, link);
	r->queued = false;
	pool->n_waiting--;
}

/* Append to the queue of searches waiting for a connection. */
static void req_enqueue(struct ldpool_req *r)
{
	struct ldpool *pool = r->pool;

	TAILQ_INSERT_TAIL(&pool->wait, r, link);
	r->queued = true;
	pool->n_waiting++;
}

static void pool_maintain(void *ctx)
{
	struct ldpool *pool = ctx;
	uint64_t now = evloop_now_ms();
	struct dcloc_dc *primary, *standby = NULL;
	struct ldpool_req *r;

	primary = dcloc_next_up(pool->loc, NULL, now);
	if (primary != NULL)
		standby = dcloc_next_up(pool->loc, primary, now);
	if (primary != NULL)
		pdc_ensure(pool, pool_dc_get(pool, primary),
		           pool->opts.conns_per_dc);
	if (standby != NULL)
		pdc_ensure(pool, pool_dc_get(pool, standby), 1);
	/* Once the primary is up, DCs further down need no connections. */
	if (primary != NULL && pdc_up(pool_dc_get(pool, primary)) > 0) {
		for (size_t i = 0; i < pool->n_dcs; i++) {
			struct dcloc_dc *dc = pool->dcs[i]->dc;

			if (dc != primary && dc != standby)
				pdc_release(pool->dcs[i]);
		}
	}
	pool_keepalive(pool, now);
	if (!TAILQ_EMPTY(&pool->wait) && pool_pick(pool, NULL) != NULL) {
		/* Each waiting search once, in order: what cannot go yet
		 * queues again at the tail (a search cancelled meanwhile
		 * has left the queue: n bounds the loop, not the list). */
		for (size_t n = pool->n_waiting;
		     n > 0 && (r = TAILQ_FIRST(&pool->wait)) != NULL; n--) {
			req_unqueue(r);
			req_dispatch(r);
		}
	}
	evloop_timer_start(pool->tick, POOL_TICK_MS);
}

static void pool_kick(struct ldpool *pool)
{
	evloop_timer_start(pool->tick, 0);
}

static void req_free(struct ldpool_req *r)
{
	evloop_timer_free(&r->timer);
	evloop_timer_free(&r->hedge);
	for (size_t i = 0; i < 2; i++)
		ldconn_req_cancel(&r->slot[i].creq);
	for (size_t i = 0; r->attrs != NULL && r->attrs[i] != NULL; i++)
		free(r->attrs[i]);
	free(r->attrs);
	free((char *)r->s.base);
	free((char *)r->s.filter);
	free((char *)r->cookie.data);
	free(r);
}

static void req_complete(struct ldpool_req *r, const struct ldconn_result *res,
                         const char *dc_uri)
{
	r->cb(res, dc_uri, r->ctx);
	req_free(r);
}

static void req_fail(struct ldpool_req *r, enum ldconn_status status,
                     const char *reason)
{
	struct ldconn_result res = {.status = status, .error = reason};

	req_complete(r, &res, NULL);
}

static void req_wait_timeout(void *ctx)
{
	struct ldpool_req *r = ctx;
	const char *e = dcloc_last_error(r->pool->loc);
	char *reason = alloc_printf("no directory server available%s%s",
	                            e != NULL ? ": " : "", e != NULL ? e : "");

	req_unqueue(r);
	req_fail(r, LDCONN_TIMEOUT, reason);
	free(reason);
}

static bool slot_busy(const struct ldpool_req *r, size_t i)
{
	return r->slot[i].creq != NULL;
}

static unsigned hedge_ms(const struct pool_dc *pdc)
{
	uint64_t ms = pdc->mean_us * 4 / 1000;

	return ms < HEDGE_MIN_MS   ? HEDGE_MIN_MS
	       : ms > HEDGE_MAX_MS ? HEDGE_MAX_MS
	                           : (unsigned)ms;
}

static void req_result(const struct ldconn_result *res, void *ctx)
{
	struct req_slot *sl = ctx;
	struct ldpool_req *r = sl->r;
	struct pool_conn *pc = sl->pc;
	struct ldpool *pool = r->pool;
	size_t other = sl == &r->slot[0] ? 1 : 0;
	uint64_t now = evloop_now_ms(), took;

	sl->creq = NULL;
	sl->pc = NULL;
	pc->last_used_ms = now;
	if (r->answered) {
		/* The slow copy of a hedged search, done at last. */
		if (res->status == LDCONN_CONN_LOST ||
		    res->status == LDCONN_TIMEOUT) {
			dcloc_mark_down(pool->loc, pc->pdc->dc, res->error,
			                now);
			if (res->status == LDCONN_TIMEOUT)
				ldconn_close(pc->conn, res->error);
			pc->pdc->stats.failovers++;
			pool_kick(pool);
		} else if (res->status != LDCONN_CANCELLED) {
			took = metrics_now_us() - sl->sent_us;
			metrics_hist_observe(&pc->pdc->stats.latency, took);
		}
		req_free(r);
		return;
	}
	if (res->status == LDCONN_CONN_LOST || res->status == LDCONN_TIMEOUT) {
		/* This DC failed us: mark it; the hedge may still answer,
		 * else try the next DC once. */
		dcloc_mark_down(pool->loc, pc->pdc->dc, res->error, now);
		if (res->status == LDCONN_TIMEOUT)
			ldconn_close(pc->conn, res->error);
		pc->pdc->stats.failovers++;
		if (slot_busy(r, other))
			return;
		if (r->attempts < 2) {
			r->tried = pc->pdc;
			log_info("ldpool", "event=retry dc=%s error=\"%s\"",
			         pc->pdc->dc->uri,
			         res->error != NULL ? res->error : "?");
			req_dispatch(r);
			pool_kick(pool);
			return;
		}
	}
	took = metrics_now_us() - sl->sent_us;
	pc->pdc->stats.searches++;
	metrics_hist_observe(&pc->pdc->stats.latency, took);
	pc->pdc->mean_us =
	    pc->pdc->mean_us == 0
	        ? took
	        : pc->pdc->mean_us - pc->pdc->mean_us / 16 + took / 16;
	if (slot_busy(r, other)) {
		/* The first answer goes to the caller; the other copy runs
		 * on, to tell whether its DC is slow or gone. */
		if (other == 0)
			log_info("ldpool", "event=hedge_won dc=%s slow_dc=%s",
			         pc->pdc->dc->uri, r->slot[0].pc->pdc->dc->uri);
		evloop_timer_stop(r->hedge);
		r->answered = true;
		r->cb(res, pc->pdc->dc->uri, r->ctx);
		return;
	}
	req_complete(r, res, pc->pdc->dc->uri);
}

/* Send r on pc in slot i; false when the connection broke under us. */
static bool slot_start(struct ldpool_req *r, size_t i, struct pool_conn *pc,
                       const char **error_r)
{
	struct req_slot *sl = &r->slot[i];

	sl->r = r;
	sl->pc = pc;
	sl->sent_us = metrics_now_us();
	sl->creq =
	    ldconn_search_start(pc->conn, &r->s, req_result, sl, error_r);
	if (sl->creq == NULL) {
		sl->pc = NULL;
		return false;
	}
	return true;
}

/* Not answered within the hedge delay: the same search on another DC. */
static void req_hedge(void *ctx)
{
	struct ldpool_req *r = ctx;
	struct pool_conn *pc;
	const char *error;

	if (!slot_busy(r, 0) || slot_busy(r, 1))
		return;
	pc = pool_pick(r->pool, r->slot[0].pc->pdc);
	if (pc == NULL)
		return;
	if (slot_start(r, 1, pc, &error))
		log_debug("ldpool", "event=hedge slow_dc=%s dc=%s",
		          r->slot[0].pc->pdc->dc->uri, pc->pdc->dc->uri);
	else
		ldconn_close(pc->conn, error);
}

static void req_dispatch(struct ldpool_req *r)
{
	struct ldpool *pool = r->pool;
	struct pool_conn *pc;
	const char *error;

	while ((pc = pool_pick(pool, r->tried)) != NULL) {
		r->attempts++;
		if (slot_start(r, 0, pc, &error)) {
			/* The connection's own timeout bounds it now. */
			evloop_timer_stop(r->timer);
			if (r->s.page_size == 0 && r->s.page_cookie == NULL)
				evloop_timer_start(r->hedge, hedge_ms(pc->pdc));
			return;
		}
		/* The connection broke under us; it reports DOWN itself. */
		r->attempts--;
		ldconn_close(pc->conn, error);
	}
	if (pool->n_waiting >= pool->opts.queue_max) {
		req_fail(r, LDCONN_TIMEOUT, "too many searches waiting");
		return;
	}
	/* Wait for a connection; the tick hands it over. Any DC will do
	 * now, the one that failed too if it comes back in time. */
	r->tried = NULL;
	req_enqueue(r);
	if (!evloop_timer_pending(r->timer))
		evloop_timer_start(r->timer, pool->opts.request_timeout_ms);
	pool_kick(pool);
}

struct ldpool_req *ldpool_search(struct ldpool *pool,
                                 const struct ldconn_search *s,
                                 ldpool_result_cb *cb, void *ctx)
{
	struct ldpool_req *r = alloc_new(struct ldpool_req);

	r->pool = pool;
	r->cb = cb;
	r->ctx = ctx;
	r->s = *s;
	r->s.base = alloc_strdup(s->base);
	r->s.filter = alloc_strdup(s->filter);
	if (s->timeout_ms == 0)
		r->s.timeout_ms = (int)pool->opts.request_timeout_ms;
	if (s->attrs != NULL) {
		size_t n = 0;

		while (s->attrs[n] != NULL)
			n++;
		r->attrs = alloc_array(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			r->attrs[i] = alloc_strdup(s->attrs[i]);
		r->s.attrs = (const char *const *)r->attrs;
	}
	if (s->page_cookie != NULL) {
		r->cookie.data =
		    alloc_memdup(s->page_cookie->data, s->page_cookie->len);
		r->cookie.len = s->page_cookie->len;
		r->s.page_cookie = &r->cookie;
	}
	r->timer = evloop_timer_new(pool->base, req_wait_timeout, r);
	r->hedge = evloop_timer_new(pool->base, req_hedge, r);
	/* Never answer from inside the call: queue, and let the tick run. */
	req_enqueue(r);
	evloop_timer_start(r->timer, pool->opts.request_timeout_ms);
	pool_kick(pool);
	return r;
}

void ldpool_req_cancel(struct ldpool_req **rp)
{
	struct ldpool_req *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	req_unqueue(r);
	req_free(r);
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
	pool_kick(pool);
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

		req_unqueue(r);
		req_fail(r, LDCONN_CANCELLED, "shutting down");
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
