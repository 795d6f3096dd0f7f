/*
 * rmetrics - routerd's metrics families; see rmetrics.h.
 *
 * Everything is read at scrape time on the loop thread: the counters of
 * rstats.h, and one walk of the queue for its size by state and the age
 * of its oldest message (a scrape every few seconds costs one pass over
 * the in-memory queue, as dirmxctl queue does).
 */
#include "rmetrics.h"

#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "metrics.h"
#include "metrics_topn.h"
#include "qshape.h"
#include "queue.h"
#include "rstats.h"
#include "settings.h"
#include "spoolrec.h"

struct rmetrics {
	struct metrics *m;
	struct metrics_http *http;
	struct queue *q;
};

static const char *const refusal_names[RSTATS_REFUSE_N] = {
    "unknown_recipient",     "relay_denied",        "recipient_policy",
    "directory_unavailable", "too_many_recipients", "sender_not_owned",
    "insufficient_storage",  "message_too_big",     "mail_loop",
    "bad_content",           "spool_error",         "sender_restricted",
};
static const char *const tls_names[RSTATS_TLS_N] = {"TLSv1.2", "TLSv1.3",
                                                    "other"};
static const char *const delivery_names[RSTATS_DELIVERY_N] = {
    "sent", "deferred", "bounced"};

static const char *const l_listener[] = {"listener", NULL};
static const char *const l_listener_reason[] = {"listener", "reason", NULL};
static const char *const l_version[] = {"version", NULL};
static const char *const l_state[] = {"state", NULL};
static const char *const l_hop_result[] = {"nexthop", "result", NULL};

static const struct metrics_family f_accepted = {
    "dirmx_routerd_messages_accepted",
    "Messages accepted (250 after DATA or BDAT LAST: on stable storage).",
    METRICS_COUNTER, l_listener};
static const struct metrics_family f_refused = {
    "dirmx_routerd_refused",
    "Recipients and messages refused, by reason (fixed set).", METRICS_COUNTER,
    l_listener_reason};
static const struct metrics_family f_sessions = {"dirmx_routerd_sessions_open",
                                                 "SMTP sessions open now.",
                                                 METRICS_GAUGE, l_listener};
static const struct metrics_family f_tls = {
    "dirmx_routerd_tls_sessions",
    "Inbound TLS handshakes completed, by protocol version.", METRICS_COUNTER,
    l_version};
static const struct metrics_family f_commit = {
    "dirmx_routerd_spool_commit_duration_seconds",
    "From a message's commit request to its fsync (what the client waits "
    "for before the 250).",
    METRICS_HISTOGRAM, NULL};
static const struct metrics_family f_queue = {
    "dirmx_routerd_queue_messages",
    "Messages in the queue, by state (incoming: waiting for a first "
    "attempt).",
    METRICS_GAUGE, l_state};
static const struct metrics_family f_oldest = {
    "dirmx_routerd_queue_oldest_message_age_seconds",
    "Age of the oldest message in the queue (0 when empty).", METRICS_GAUGE,
    NULL};
static const struct metrics_family f_deliveries = {
    "dirmx_routerd_deliveries",
    "Recipients per delivery result and next hop (the 10 busiest next "
    "hops; the rest as \"other\").",
    METRICS_COUNTER, l_hop_result};
static const struct metrics_family f_dsn = {
    "dirmx_routerd_dsn_sent", "Bounces (RFC 3464 DSNs) queued to senders.",
    METRICS_COUNTER, NULL};

static void collect_sessions(struct metrics_writer *w, void *ctx)
{
	metrics_family(w, &f_accepted);
	for (size_t i = 0; i < rstats.n_listeners; i++) {
		const struct rstats_listener *l = &rstats.listeners[i];
		const char *v[] = {l->name};

		metrics_counter(w, v, l->accepted);
	}
	metrics_family(w, &f_refused);
	for (size_t i = 0; i < rstats.n_listeners; i++) {
		const struct rstats_listener *l = &rstats.listeners[i];

		for (size_t r = 0; r < RSTATS_REFUSE_N; r++) {
			const char *v[] = {l->name, refusal_names[r]};

			metrics_counter(w, v, l->refused[r]);
		}
	}
	metrics_family(w, &f_sessions);
	for (size_t i = 0; i < rstats.n_listeners; i++) {
		const char *v[] = {rstats.listeners[i].name};

		metrics_gauge(w, v, (double)rstats.listeners[i].sessions);
	}
	metrics_family(w, &f_tls);
	for (size_t i = 0; i < RSTATS_TLS_N; i++) {
		const char *v[] = {tls_names[i]};

		metrics_counter(w, v, rstats.tls[i]);
	}
	metrics_family(w, &f_commit);
	metrics_histogram(w, NULL, &rstats.spool_commit);
}

struct queue_walk {
	uint64_t n[QSHAPE_N];
	uint64_t oldest; /* arrival, unix seconds; 0: none */
};

static void count_view(void *ctx, const struct queue_view *v)
{
	struct queue_walk *qw = ctx;

	qw->n[qshape_state_of(v)]++;
	if (v->env->arrival > 0 &&
	    (qw->oldest == 0 || v->env->arrival < qw->oldest))
		qw->oldest = v->env->arrival;
}

static void collect_queue(struct metrics_writer *w, void *ctx)
{
	struct rmetrics *rm = ctx;
	struct queue_walk qw = {{0}, 0};
	uint64_t now = (uint64_t)time(NULL);

	if (rm->q != NULL)
		queue_foreach(rm->q, count_view, &qw);
	metrics_family(w, &f_queue);
	for (size_t i = 0; i < QSHAPE_N; i++) {
		const char *v[] = {qshape_state_name((enum qshape_state)i)};

		metrics_gauge(w, v, (double)qw.n[i]);
	}
	metrics_one_gauge(
	    w, &f_oldest,
	    qw.oldest != 0 && now > qw.oldest ? (double)(now - qw.oldest) : 0);
}

static void collect_delivery(struct metrics_writer *w, void *ctx)
{
	struct metrics_topn *t = rstats.deliveries;

	metrics_family(w, &f_deliveries);
	if (t != NULL) {
		metrics_topn_rank(t);
		for (size_t i = 0; i < metrics_topn_n(t); i++) {
			const uint64_t *c;
			const char *hop = metrics_topn_get(t, i, &c);

			for (size_t r = 0; r < RSTATS_DELIVERY_N; r++) {
				const char *v[] = {hop, delivery_names[r]};

				metrics_counter(w, v, c[r]);
			}
		}
	}
	metrics_one_counter(w, &f_dsn, rstats.dsn_sent);
}

int rmetrics_new(struct event_base *base, const struct dirmx_config *cfg,
                 struct rmetrics **rm_r, const char **error_r)
{
	const char **names =
	    alloc_array(cfg->listener_count + 1, sizeof(char *));
	struct rmetrics *rm;

	for (size_t i = 0; i < cfg->listener_count; i++)
		names[i] = cfg->listeners[i].name;
	rstats_init(names, cfg->listener_count);
	free(names);
	*rm_r = NULL;
	if (cfg->routerd.metrics_listen.host == NULL)
		return 0;
	rm = alloc_new(struct rmetrics);
	rm->m = metrics_new();
	metrics_add(rm->m, collect_sessions, rm);
	metrics_add(rm->m, collect_queue, rm);
	metrics_add(rm->m, collect_delivery, rm);
	rm->http = metrics_http_new(base, &cfg->routerd.metrics_listen, rm->m,
	                            error_r);
	if (rm->http == NULL) {
		rmetrics_deinit(&rm);
		return -1;
	}
	*rm_r = rm;
	return 0;
}

void rmetrics_set_queue(struct rmetrics *rm, struct queue *q)
{
	if (rm != NULL)
		rm->q = q;
}

void rmetrics_deinit(struct rmetrics **rm)
{
	if (*rm == NULL)
		return;
	metrics_http_deinit(&(*rm)->http);
	metrics_deinit(&(*rm)->m);
	free(*rm);
	*rm = NULL;
}
