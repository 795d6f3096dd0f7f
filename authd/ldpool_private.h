/*
 * ldpool_private.h - shared by ldpool.c (connections, health, probes) and
 * ldpool_req.c (searches, retries, hedging). Not for other modules.
 */
#ifndef DIRMX_LDPOOL_PRIVATE_H
#define DIRMX_LDPOOL_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "ldpool.h"

struct evloop_timer;

struct pool_conn {
	struct ldpool *pool;
	struct pool_dc *pdc;
	struct ldconn *conn;
	uint64_t last_used_ms;
	bool keepalive_pending;
};

struct pool_dc {
	struct ldpool *pool;
	struct dcloc_dc *dc;
	struct pool_conn **conns;
	size_t n_conns;
	struct ldpool_dc_stats stats;
	uint64_t mean_us; /* recent latency: an EWMA, 1/16 per answer */
	/*
	 * Suspect: another DC answered a search this one held past its hedge
	 * delay. New searches go elsewhere; a probe (one at a time) asks the
	 * root DSE until one answer comes within the hedge delay.
	 */
	bool suspect;
	struct ldconn_req *probe;
	struct pool_conn *probe_pc;
	uint64_t probe_sent_us;
	uint64_t probe_next_ms; /* no probe before (monotonic ms) */
	uint64_t reconnect_ms;  /* last connect tried while down */
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
	char **attrs;           /* one block: pointers, then the names */
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
	/* Batches (ldpool_batch.c): r may travel with others in one search;
	 * solo: a batch could not answer it, so it goes alone; batch: the
	 * batch it rides in now, at members[batch_slot]. */
	bool batchable, solo;
	struct ldpool_batch *batch;
	size_t batch_slot;
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

/* ldpool.c */
struct pool_dc *ldpool_dc_get(struct ldpool *pool, struct dcloc_dc *dc);
/*
 * The best connection up, not on the DC to avoid: on the first DC in the
 * locator's order that is not down or suspect, else on a suspect one.
 */
struct pool_conn *ldpool_pick(struct ldpool *pool, const struct pool_dc *avoid);
/* Run the maintenance (connect, probe, hand over waiting searches) soon. */
void ldpool_kick(struct ldpool *pool);
/* Another DC answered first what pdc held past its hedge delay. */
void ldpool_dc_slow(struct ldpool *pool, struct pool_dc *pdc);
/* A search on pc failed with a timeout or a lost connection. */
void ldpool_conn_failed(struct ldpool *pool, struct pool_conn *pc,
                        const struct ldconn_result *res);
/* The hedge delay of a DC: four times its mean latency, 100 ms to 1 s. */
unsigned ldpool_hedge_ms(const struct pool_dc *pdc);

/* ldpool_req.c */
/* A request, not yet queued; s is copied. */
struct ldpool_req *ldpool_req_new(struct ldpool *pool,
                                  const struct ldconn_search *s,
                                  ldpool_result_cb *cb, void *ctx);
/* Append r to the queue and start its wait timer. */
void ldpool_req_wait(struct ldpool_req *r);
void ldpool_req_complete(struct ldpool_req *r, const struct ldconn_result *res,
                         const char *dc_uri);
void ldpool_req_dispatch(struct ldpool_req *r);
void ldpool_req_unqueue(struct ldpool_req *r);
/* Fail a waiting search (the pool is shutting down). */
void ldpool_req_fail(struct ldpool_req *r, enum ldconn_status status,
                     const char *reason);

/* Merge the waiting batchable searches that can travel together. */
void ldpool_batch_form(struct ldpool *pool);
/* r (riding in a batch) is freed: leave it. */
void ldpool_batch_leave(struct ldpool_req *r);

#endif
