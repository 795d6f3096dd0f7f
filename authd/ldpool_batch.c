/*
 * ldpool_batch - several waiting searches sent as one; see
 * ldpool_search_batchable() in ldpool.h.
 *
 * When the pool's tick hands the waiting searches to connections, the
 * batchable ones that can travel together are taken out of the queue and
 * a carrier takes the place of the first: an ordinary request whose filter
 * is the OR of theirs, so it has the retry, hedging and timeouts every
 * search has. The riders keep their requests (the callers hold them) but
 * neither wait nor fly. The carrier's answer is shared out: each entry to
 * every rider whose filter it satisfies (ldmatch_entry()). When that
 * cannot be done exactly, the riders queue again, each alone (solo), and
 * cost one more round trip: correctness never rests on the batch.
 *
 * A rider cancelled meanwhile leaves its seat; the carrier is cancelled
 * when the last one leaves. While the answer is shared out, callbacks may
 * cancel other riders or start searches: the seats are walked by index.
 */
#include "ldpool_private.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "evloop.h"
#include "ldmatch.h"
#include "log.h"
#include "sbuf.h"

/* At most this many searches in one, and this long a combined filter:
 * well under what OpenLDAP and AD accept (AD: MaxReceiveBuffer 10 MB). */
#define BATCH_MAX 32
#define BATCH_FILTER_MAX 16384
/* How far down the queue to look for companions of the first. */
#define BATCH_SCAN 256

struct ldpool_batch {
	struct ldpool *pool;
	struct ldpool_req *carrier; /* NULL once it answered */
	struct ldpool_req *seats[BATCH_MAX];
	size_t n, riding;
	bool sharing;
};

static bool can_ride(const struct ldpool_req *r)
{
	return r->batchable && !r->solo && r->batch == NULL &&
	       r->attempts == 0 && r->s.size_limit > 0 && r->s.page_size == 0 &&
	       r->s.page_cookie == NULL && r->s.n_controls == 0 &&
	       r->s.stream_cb == NULL;
}

static bool same_attrs(const char *const *a, const char *const *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	for (i = 0; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return a[i] == NULL && b[i] == NULL;
}

static bool together(const struct ldpool_req *a, const struct ldpool_req *b)
{
	return a->s.scope == b->s.scope && a->s.timeout_ms == b->s.timeout_ms &&
	       strcmp(a->s.base, b->s.base) == 0 &&
	       same_attrs(a->s.attrs, b->s.attrs);
}

static void batch_done(const struct ldconn_result *res, const char *dc_uri,
                       void *ctx);

/* The carrier of riders[0..n), in the queue where riders[0] was. */
static struct ldpool_req *carrier_new(struct ldpool *pool,
                                      struct ldpool_req **riders, size_t n)
{
	struct ldpool_batch *b = alloc_new(struct ldpool_batch);
	struct sbuf *f = sbuf_new(SIZE_MAX / 2);
	struct ldconn_search s = riders[0]->s;
	struct ldpool_req *c;
	long limit = 0;
	char *filter;

	sbuf_append_str(f, "(|");
	for (size_t i = 0; i < n; i++) {
		sbuf_append_str(f, riders[i]->s.filter);
		limit += riders[i]->s.size_limit;
	}
	sbuf_append_str(f, ")");
	filter = sbuf_steal(f, NULL);
	sbuf_deinit(&f);
	s.filter = filter;
	s.size_limit = limit > INT_MAX ? INT_MAX : (int)limit;
	b->pool = pool;
	b->carrier = c = ldpool_req_new(pool, &s, batch_done, b);
	free(filter);
	TAILQ_INSERT_BEFORE(riders[0], c, link);
	c->queued = true;
	pool->n_waiting++;
	evloop_timer_start(c->timer, pool->opts.request_timeout_ms);
	for (size_t i = 0; i < n; i++) {
		struct ldpool_req *r = riders[i];

		ldpool_req_unqueue(r);
		evloop_timer_stop(r->timer);
		r->batch = b;
		r->batch_slot = i;
		b->seats[i] = r;
	}
	b->n = b->riding = n;
	return c;
}

void ldpool_batch_form(struct ldpool *pool)
{
	struct ldpool_req *r, *next;

	for (r = TAILQ_FIRST(&pool->wait); r != NULL; r = next) {
		struct ldpool_req *riders[BATCH_MAX], *q;
		size_t n = 1, len = strlen(r->s.filter) + 3, scanned = 0;

		next = TAILQ_NEXT(r, link);
		if (!can_ride(r))
			continue;
		riders[0] = r;
		for (q = next;
		     q != NULL && n < BATCH_MAX && scanned < BATCH_SCAN;
		     q = TAILQ_NEXT(q, link), scanned++) {
			size_t ql = strlen(q->s.filter);

			if (can_ride(q) && together(r, q) &&
			    len + ql <= BATCH_FILTER_MAX) {
				riders[n++] = q;
				len += ql;
			}
		}
		if (n > 1)
			next = TAILQ_NEXT(carrier_new(pool, riders, n), link);
	}
}

static void batch_free(struct ldpool_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->seats[i] != NULL)
			b->seats[i]->batch = NULL;
	free(b);
}

void ldpool_batch_leave(struct ldpool_req *r)
{
	struct ldpool_batch *b = r->batch;

	b->seats[r->batch_slot] = NULL;
	b->riding--;
	r->batch = NULL;
	if (b->riding == 0 && !b->sharing) {
		ldpool_req_cancel(&b->carrier);
		batch_free(b);
	}
}

/* Each rider queues again, alone; the pool's tick sends them. */
static void go_solo(struct ldpool_batch *b, const char *why)
{
	log_debug("ldpool", "event=batch_unsure searches=%zu reason=\"%s\"",
	          b->riding, why);
	for (size_t i = 0; i < b->n; i++) {
		struct ldpool_req *r = b->seats[i];

		if (r == NULL)
			continue;
		b->seats[i] = NULL;
		r->batch = NULL;
		r->solo = true;
		if (b->pool->closing)
			ldpool_req_fail(r, LDCONN_CANCELLED, "shutting down");
		else
			ldpool_req_wait(r);
	}
}

/* Share res out by the riders' filters, or send them alone when that
 * cannot be done exactly. */
static void share(struct ldpool_batch *b, const struct ldconn_result *res,
                  const char *dc_uri)
{
	size_t ne = res->n_entries;
	uint32_t *claims = alloc_array(ne > 0 ? ne : 1, sizeof(*claims));
	struct ldconn_entry *mine = alloc_array(ne > 0 ? ne : 1, sizeof(*mine));
	const char *why = NULL;

	for (size_t e = 0; e < ne && why == NULL; e++) {
		for (size_t i = 0; i < b->n && why == NULL; i++) {
			enum ldmatch m;

			if (b->seats[i] == NULL)
				continue;
			m = ldmatch_entry(b->seats[i]->s.filter,
			                  &res->entries[e]);
			if (m == LDMATCH_UNSURE)
				why = "a match the server must decide";
			else if (m == LDMATCH_YES)
				claims[e] |= 1u << i;
		}
		/* An entry no rider claims: the filters and the server
		 * disagree. (One a cancelled rider would have claimed is
		 * harmless.) */
		if (claims[e] == 0 && b->riding == b->n && why == NULL)
			why = "an entry no search claims";
	}
	if (why != NULL) {
		free(claims);
		free(mine);
		go_solo(b, why);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct ldpool_req *r = b->seats[i];
		struct ldconn_result sub = {.status = LDCONN_OK};

		if (r == NULL)
			continue;
		for (size_t e = 0; e < ne; e++)
			if ((claims[e] & (1u << i)) != 0)
				mine[sub.n_entries++] = res->entries[e];
		if (sub.n_entries > (size_t)r->s.size_limit) {
			sub.status = LDCONN_SIZELIMIT;
			sub.n_entries = (size_t)r->s.size_limit;
		}
		sub.entries = mine;
		ldpool_req_complete(r, &sub, dc_uri);
	}
	free(claims);
	free(mine);
}

static void batch_done(const struct ldconn_result *res, const char *dc_uri,
                       void *ctx)
{
	struct ldpool_batch *b = ctx;

	b->carrier = NULL; /* the pool frees it, or lets a slow copy run */
	b->sharing = true;
	if (res->status == LDCONN_OK) {
		share(b, res, dc_uri);
	} else if (res->status == LDCONN_SIZELIMIT ||
	           res->status == LDCONN_LDAP_ERROR) {
		go_solo(b, res->status == LDCONN_SIZELIMIT
		               ? "size limit"
		               : (res->error != NULL ? res->error : "error"));
	} else {
		for (size_t i = 0; i < b->n; i++)
			if (b->seats[i] != NULL)
				ldpool_req_complete(b->seats[i], res, dc_uri);
	}
	batch_free(b);
}
