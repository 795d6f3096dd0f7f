/*
 * ldpool_req - the pool's searches: dispatch, retry and hedging; see
 * ldpool.h.
 *
 * A search goes to the connection ldpool_pick() gives (the best DC that is
 * neither down nor suspect). One that fails with a timeout or a lost
 * connection is retried once on another DC; one that finds no connection
 * waits in the pool's queue, bounded by the request timeout.
 *
 * Hedging: a search not answered within the hedge delay of its DC (four
 * times that DC's recent mean latency, at least 100 ms, at most 1 s) is
 * sent to the next DC that has a connection up as well, and the first
 * answer goes to the caller. When the other DC wins, the slow one becomes
 * suspect (ldpool_dc_slow): new searches go elsewhere at once, and it is
 * probed until it answers normally again. The slow copy is left to
 * finish: its timeout marks its DC down, its late answer only updates that
 * DC's latency. A frozen DC then costs a search about the hedge delay, and
 * only the searches sent before a hedge first won. Paged searches are not
 * hedged: their cookie belongs to one DC.
 */
#include "ldpool_private.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"

void ldpool_req_unqueue(struct ldpool_req *r)
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

static void req_free(struct ldpool_req *r)
{
	if (r->batch != NULL)
		ldpool_batch_leave(r);
	evloop_timer_free(&r->timer);
	evloop_timer_free(&r->hedge);
	for (size_t i = 0; i < 2; i++)
		ldconn_req_cancel(&r->slot[i].creq);
	free(r->attrs);
	free((char *)r->s.base);
	free((char *)r->s.filter);
	free((char *)r->cookie.data);
	free(r);
}

void ldpool_req_complete(struct ldpool_req *r, const struct ldconn_result *res,
                         const char *dc_uri)
{
	r->cb(res, dc_uri, r->ctx);
	req_free(r);
}

void ldpool_req_fail(struct ldpool_req *r, enum ldconn_status status,
                     const char *reason)
{
	struct ldconn_result res = {.status = status, .error = reason};

	ldpool_req_complete(r, &res, NULL);
}

static void req_wait_timeout(void *ctx)
{
	struct ldpool_req *r = ctx;
	const char *e = dcloc_last_error(r->pool->loc);
	char *reason = alloc_printf("no directory server available%s%s",
	                            e != NULL ? ": " : "", e != NULL ? e : "");

	ldpool_req_unqueue(r);
	ldpool_req_fail(r, LDCONN_TIMEOUT, reason);
	free(reason);
}

static bool slot_busy(const struct ldpool_req *r, size_t i)
{
	return r->slot[i].creq != NULL;
}

static void observe(struct pool_dc *pdc, uint64_t took)
{
	metrics_hist_observe(&pdc->stats.latency, took);
}

static void req_result(const struct ldconn_result *res, void *ctx)
{
	struct req_slot *sl = ctx;
	struct ldpool_req *r = sl->r;
	struct pool_conn *pc = sl->pc;
	struct pool_dc *pdc = pc->pdc;
	size_t other = sl == &r->slot[0] ? 1 : 0;
	bool failed =
	    res->status == LDCONN_CONN_LOST || res->status == LDCONN_TIMEOUT;
	uint64_t took = metrics_now_us() - sl->sent_us;

	sl->creq = NULL;
	sl->pc = NULL;
	pc->last_used_ms = evloop_now_ms();
	if (r->answered) {
		/* The slow copy of a hedged search, done at last. */
		if (failed)
			ldpool_conn_failed(r->pool, pc, res);
		else if (res->status != LDCONN_CANCELLED)
			observe(pdc, took);
		req_free(r);
		return;
	}
	if (failed) {
		/* This DC failed us: the hedge may still answer, else try
		 * the next DC once. */
		ldpool_conn_failed(r->pool, pc, res);
		if (slot_busy(r, other))
			return;
		if (r->attempts < 2) {
			r->tried = pdc;
			log_info("ldpool", "event=retry dc=%s error=\"%s\"",
			         pdc->dc->uri,
			         res->error != NULL ? res->error : "?");
			ldpool_req_dispatch(r);
			ldpool_kick(r->pool);
			return;
		}
	}
	if (failed) {
		/* Tried twice: the caller's TEMPFAIL, and no latency. */
		ldpool_req_complete(r, res, pdc->dc->uri);
		return;
	}
	pdc->stats.searches++;
	observe(pdc, took);
	pdc->mean_us = pdc->mean_us == 0
	                   ? took
	                   : pdc->mean_us - pdc->mean_us / 16 + took / 16;
	if (slot_busy(r, other)) {
		/* The first answer goes to the caller; the other copy runs
		 * on, to tell whether its DC is slow or gone. */
		if (other == 0) {
			log_info("ldpool", "event=hedge_won dc=%s slow_dc=%s",
			         pdc->dc->uri, r->slot[0].pc->pdc->dc->uri);
			ldpool_dc_slow(r->pool, r->slot[0].pc->pdc);
		}
		evloop_timer_stop(r->hedge);
		r->answered = true;
		r->cb(res, pdc->dc->uri, r->ctx);
		return;
	}
	ldpool_req_complete(r, res, pdc->dc->uri);
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
	pc = ldpool_pick(r->pool, r->slot[0].pc->pdc);
	if (pc == NULL)
		return;
	if (slot_start(r, 1, pc, &error))
		log_debug("ldpool", "event=hedge slow_dc=%s dc=%s",
		          r->slot[0].pc->pdc->dc->uri, pc->pdc->dc->uri);
	else
		ldconn_close(pc->conn, error);
}

void ldpool_req_dispatch(struct ldpool_req *r)
{
	struct ldpool *pool = r->pool;
	struct pool_conn *pc;
	const char *error;

	while ((pc = ldpool_pick(pool, r->tried)) != NULL) {
		r->attempts++;
		if (slot_start(r, 0, pc, &error)) {
			/* The connection's own timeout bounds it now. */
			evloop_timer_stop(r->timer);
			if (r->s.page_size == 0 && r->s.page_cookie == NULL)
				evloop_timer_start(r->hedge,
				                   ldpool_hedge_ms(pc->pdc));
			return;
		}
		/* The connection broke under us; it reports DOWN itself. */
		r->attempts--;
		ldconn_close(pc->conn, error);
	}
	if (pool->n_waiting >= pool->opts.queue_max) {
		ldpool_req_fail(r, LDCONN_TIMEOUT, "too many searches waiting");
		return;
	}
	/* Wait for a connection; the tick hands it over. Any DC will do
	 * now, the one that failed too if it comes back in time. */
	r->tried = NULL;
	req_enqueue(r);
	if (!evloop_timer_pending(r->timer))
		evloop_timer_start(r->timer, pool->opts.request_timeout_ms);
	ldpool_kick(pool);
}

struct ldpool_req *ldpool_req_new(struct ldpool *pool,
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
		/* One block: the pointers, then the names (an address
		 * search asks for thirty attributes or more). */
		size_t n = 0, bytes = 0;
		char *p;

		while (s->attrs[n] != NULL)
			bytes += strlen(s->attrs[n++]) + 1;
		r->attrs = alloc_zero((n + 1) * sizeof(char *) + bytes);
		p = (char *)(r->attrs + n + 1);
		for (size_t i = 0; i < n; i++) {
			size_t len = strlen(s->attrs[i]) + 1;

			r->attrs[i] = memcpy(p, s->attrs[i], len);
			p += len;
		}
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
	return r;
}

void ldpool_req_wait(struct ldpool_req *r)
{
	req_enqueue(r);
	evloop_timer_start(r->timer, r->pool->opts.request_timeout_ms);
	ldpool_kick(r->pool);
}

/* Never answer from inside the call: queue, and let the tick run. */
static struct ldpool_req *search(struct ldpool *pool,
                                 const struct ldconn_search *s,
                                 ldpool_result_cb *cb, void *ctx,
                                 bool batchable)
{
	struct ldpool_req *r = ldpool_req_new(pool, s, cb, ctx);

	r->batchable = batchable;
	ldpool_req_wait(r);
	return r;
}

struct ldpool_req *ldpool_search(struct ldpool *pool,
                                 const struct ldconn_search *s,
                                 ldpool_result_cb *cb, void *ctx)
{
	return search(pool, s, cb, ctx, false);
}

struct ldpool_req *ldpool_search_batchable(struct ldpool *pool,
                                           const struct ldconn_search *s,
                                           ldpool_result_cb *cb, void *ctx)
{
	return search(pool, s, cb, ctx, true);
}

void ldpool_req_cancel(struct ldpool_req **rp)
{
	struct ldpool_req *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	ldpool_req_unqueue(r);
	req_free(r);
}
