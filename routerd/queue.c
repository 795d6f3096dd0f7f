/*
 * queue - the queue manager: entries, scheduling and the control
 * operations; see queue.h. One delivery attempt is queue_deliver.c.
 *
 * Entries are kept in arrival (= queue ID) order. One timer (the tick)
 * runs at least once a second and whenever something changes; it starts
 * attempts for every entry that is due, not held and not already active,
 * up to max_active at once. It starts one attempt per run and runs again
 * at once while there are more: starting one reads and parses the whole
 * envelope (thousands of recipients for a group), and the SMTP sessions'
 * 250s, written from the same loop, must not wait for several in a row.
 */
#include "queue_private.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"
#include "settings.h"

#define QUEUE_TICK_MS 1000

static void ctl_op_free(struct ctl_op *op);

void queue_kick(struct queue *q)
{
	q->scan = NULL;
	evloop_timer_start(q->tick, 0);
}

static void queue_tick(void *ctx)
{
	struct queue *q = ctx;
	uint64_t now = evloop_now_ms();
	struct qmsg *m = q->scan != NULL ? q->scan : TAILQ_FIRST(&q->msgs);

	for (; m != NULL && q->n_active < q->opts.max_active;
	     m = TAILQ_NEXT(m, link)) {
		if (m->active || m->env->held || m->removing ||
		    m->next_ms > now)
			continue;
		/* queue_msg_free() moves q->scan past a freed entry. */
		q->scan = TAILQ_NEXT(m, link);
		m->active = true;
		q->n_active++;
		queue_attempt_start(m);
		evloop_timer_start(q->tick, 0);
		return;
	}
	q->scan = NULL;
	evloop_timer_start(q->tick, QUEUE_TICK_MS);
}

static struct qmsg *find(struct queue *q, const char *id)
{
	struct qmsg *m;

	TAILQ_FOREACH(m, &q->msgs, link)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

void queue_msg_free(struct qmsg *m)
{
	struct queue *q = m->q;

	if (q->scan == m)
		q->scan = TAILQ_NEXT(m, link);
	TAILQ_REMOVE(&q->msgs, m, link);
	q->n_msgs--;
	spoolrec_deinit(&m->env);
	free(m->last_error);
	free(m);
}

static uint64_t backoff_ms(const struct queue *q, unsigned attempts)
{
	uint64_t ms = q->opts.retry_min_ms;

	for (unsigned i = 1; i < attempts && ms < q->opts.retry_max_ms; i++)
		ms *= 2;
	return ms > q->opts.retry_max_ms ? q->opts.retry_max_ms : ms;
}

void queue_attempt_done(struct qmsg *m, bool removed)
{
	struct queue *q = m->q;
	uint64_t wait;

	m->active = false;
	q->n_active--;
	if (removed) {
		queue_msg_free(m);
		queue_kick(q);
		return;
	}
	m->attempts++;
	wait = backoff_ms(q, m->attempts);
	m->next_ms = evloop_now_ms() + wait;
	m->next_unix = (uint64_t)time(NULL) + wait / 1000;
	log_info(m->id, "event=deferred attempts=%u retry_in_s=%llu",
	         m->attempts, (unsigned long long)(wait / 1000));
	queue_kick(q);
}

void queue_add(struct queue *q, const char *id, struct spoolrec **envp)
{
	struct spoolrec *env = NULL;
	struct spool_data data = {.fd = -1};
	const char *error;
	struct qmsg *m;
	int r;

	if (envp != NULL && *envp != NULL) {
		env = *envp;
		*envp = NULL;
		assert(strcmp(env->id, id) == 0);
	} else {
		r = spool_load(q->spool, id, &env, &data, &error);
		if (r <= 0) {
			log_error(id, "event=queue_load_failed error=\"%s\"",
			          r == 0 ? "no such message" : error);
			return;
		}
		spool_data_close(&data);
	}
	m = alloc_new(struct qmsg);
	m->q = q;
	memcpy(m->id, id, sizeof(m->id) - 1);
	m->env = env;
	TAILQ_INSERT_TAIL(&q->msgs, m, link);
	q->n_msgs++;
	queue_kick(q);
}

static void recover_one(void *ctx, const char *id)
{
	queue_add(ctx, id, NULL);
}

/* The client went away between DATA's end and its 250. */
static void orphan(void *ctx, const char *id)
{
	log_info(id, "event=accepted_unacknowledged");
	queue_add(ctx, id, NULL);
}

void queue_recover(struct queue *q)
{
	spool_foreach(q->spool, recover_one, q);
	if (q->n_msgs > 0)
		log_info(NULL, "event=queue_recovered messages=%zu", q->n_msgs);
}

struct queue *queue_new(struct event_base *base, struct spool *spool,
                        struct resolve *resolve, struct smtpc *smtpc,
                        struct authc *authc, const struct queue_options *opts)
{
	struct queue *q = alloc_new(struct queue);
	const char *error;

	TAILQ_INIT(&q->msgs);
	LIST_INIT(&q->ctl_ops);
	q->base = base;
	q->spool = spool;
	q->resolve = resolve;
	q->smtpc = smtpc;
	q->authc = authc;
	q->opts = *opts;
	spool_set_orphan_cb(spool, orphan, q);
	q->hostname = alloc_strdup(opts->hostname);
	q->postmaster = opts->postmaster != NULL
	                    ? alloc_strdup(opts->postmaster)
	                    : alloc_printf("postmaster@%s", opts->hostname);
	q->ca_file =
	    opts->tls_ca_file != NULL ? alloc_strdup(opts->tls_ca_file) : NULL;
	q->alerts_dir = alloc_strdup(opts->alerts_dir != NULL ? opts->alerts_dir
	                                                      : "alerts");
	q->tls_map = alloc_array(opts->n_tls_map + 1, sizeof(char *));
	for (size_t i = 0; i < opts->n_tls_map; i++)
		q->tls_map[i] = alloc_strdup(opts->tls_map[i]);
	q->n_tls_map = opts->n_tls_map;
	q->opts.tls_map = NULL;
	if (opts->smarthost_user != NULL && opts->smarthost_password != NULL) {
		q->sh_user = alloc_strdup(opts->smarthost_user);
		q->sh_password = alloc_strdup(opts->smarthost_password);
	}
	q->opts.smarthost_user = NULL;
	q->opts.smarthost_password = NULL;
	q->opts.hostname = q->hostname;
	q->opts.postmaster = q->postmaster;
	q->opts.tls_ca_file = q->ca_file;
	q->opts.alerts_dir = q->alerts_dir;
	if (q->opts.max_active == 0)
		q->opts.max_active = 200;
	if (q->opts.retry_min_ms == 0)
		q->opts.retry_min_ms = 300000;
	if (q->opts.retry_max_ms < q->opts.retry_min_ms)
		q->opts.retry_max_ms = q->opts.retry_min_ms;
	/* The routes and smarthost, in nexthop's form. */
	if (opts->settings != NULL &&
	    nexthop_config_build(opts->settings, &q->nhcfg, &error) < 0) {
		log_error(NULL, "event=queue_config error=\"%s\"", error);
		q->nhcfg = NULL;
	}
	q->opts.settings = NULL;
	q->tick = evloop_timer_new(base, queue_tick, q);
	evloop_timer_start(q->tick, QUEUE_TICK_MS);
	return q;
}

void queue_deinit(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	*qp = NULL;
	spool_set_orphan_cb(q->spool, NULL, NULL);
	/* The loop has stopped: their spool callbacks will not run. */
	while (!LIST_EMPTY(&q->ctl_ops))
		ctl_op_free(LIST_FIRST(&q->ctl_ops));
	while (!TAILQ_EMPTY(&q->msgs)) {
		struct qmsg *m = TAILQ_FIRST(&q->msgs);

		if (m->active)
			queue_attempt_cancel(m);
		queue_msg_free(m);
	}
	evloop_timer_free(&q->tick);
	nexthop_config_deinit(&q->nhcfg);
	for (size_t i = 0; i < q->n_tls_map; i++)
		free(q->tls_map[i]);
	free(q->tls_map);
	free(q->sh_user);
	if (q->sh_password != NULL) {
		explicit_bzero(q->sh_password, strlen(q->sh_password));
		free(q->sh_password);
	}
	free(q->hostname);
	free(q->postmaster);
	free(q->alerts_dir);
	free(q->ca_file);
	free(q);
}

static void view(const struct qmsg *m, queue_view_cb *cb, void *ctx)
{
	struct queue_view v = {.id = m->id,
	                       .env = m->env,
	                       .next_attempt =
	                           m->next_ms == 0 ? 0 : m->next_unix,
	                       .active = m->active,
	                       .held = m->env->held,
	                       .last_error = m->last_error};

	cb(ctx, &v);
}

void queue_foreach(struct queue *q, queue_view_cb *cb, void *ctx)
{
	struct qmsg *m;

	TAILQ_FOREACH(m, &q->msgs, link)
		if (!m->removing)
			view(m, cb, ctx);
}

bool queue_show(struct queue *q, const char *id, queue_view_cb *cb, void *ctx)
{
	struct qmsg *m = find(q, id);

	if (m == NULL || m->removing)
		return false;
	view(m, cb, ctx);
	return true;
}

size_t queue_flush(struct queue *q, const char *id)
{
	size_t n = 0;
	struct qmsg *m;

	TAILQ_FOREACH(m, &q->msgs, link) {
		if (id != NULL && strcmp(m->id, id) != 0)
			continue;
		if (m->removing || m->env->held)
			continue;
		m->next_ms = 0;
		n++;
	}
	queue_kick(q);
	return n;
}

/* A control operation waiting for the spool. */
struct ctl_op {
	LIST_ENTRY(ctl_op) link; /* in q->ctl_ops */
	struct queue *q;
	char id[SPOOL_ID_LEN + 1];
	bool hold;
	queue_ctl_cb *cb;
	void *ctx;
};

static struct ctl_op *ctl_op_new(struct queue *q, const char *id, bool hold,
                                 queue_ctl_cb *cb, void *ctx)
{
	struct ctl_op *op = alloc_new(struct ctl_op);

	op->q = q;
	memcpy(op->id, id, sizeof(op->id) - 1);
	op->hold = hold;
	op->cb = cb;
	op->ctx = ctx;
	LIST_INSERT_HEAD(&q->ctl_ops, op, link);
	return op;
}

static void ctl_op_free(struct ctl_op *op)
{
	LIST_REMOVE(op, link);
	free(op);
}

static void hold_written(void *ctx, int result, const char *error)
{
	struct ctl_op *op = ctx;
	struct qmsg *m = find(op->q, op->id);

	if (result < 0) {
		/* Not durable: say so, and act as the spool says. */
		log_error(op->id, "event=%s_failed error=\"%s\"",
		          op->hold ? "hold" : "release", error);
		if (m != NULL)
			m->env->held = !op->hold;
	} else {
		log_info(op->id, "event=%s", op->hold ? "held" : "released");
	}
	queue_kick(op->q);
	if (op->cb != NULL)
		op->cb(op->ctx, result, result < 0 ? error : NULL);
	ctl_op_free(op);
}

int queue_hold(struct queue *q, const char *id, bool hold, queue_ctl_cb *cb,
               void *ctx)
{
	struct qmsg *m = find(q, id);
	struct ctl_op *op;
	const char *error;

	if (m == NULL || m->removing)
		return QUEUE_CTL_NOT_FOUND;
	if (m->env->held == hold)
		return QUEUE_CTL_DONE;
	m->env->held = hold;
	if (m->active) {
		/* The attempt's end writes the record, flag included; a
		 * write now would publish its half-made states (a failed
		 * recipient before its bounce is spooled). */
		log_info(m->id, "event=%s persisted=after_attempt",
		         hold ? "held" : "released");
		return QUEUE_CTL_AFTER_ATTEMPT;
	}
	op = ctl_op_new(q, id, hold, cb, ctx);
	if (spool_update(q->spool, m->env, hold_written, op, &error) < 0) {
		m->env->held = !hold;
		log_error(m->id, "event=%s_failed error=\"%s\"",
		          hold ? "hold" : "release", error);
		ctl_op_free(op);
		return QUEUE_CTL_FAILED;
	}
	return QUEUE_CTL_PENDING;
}

static void deleted(void *ctx, int result, const char *error)
{
	struct ctl_op *op = ctx;
	struct qmsg *m = find(op->q, op->id);

	if (result < 0) {
		log_error(op->id, "event=delete_failed error=\"%s\"", error);
		if (m != NULL)
			m->removing = false;
	} else {
		log_info(op->id, "event=deleted by=dirmxctl");
		if (m != NULL)
			queue_msg_free(m);
	}
	if (op->cb != NULL)
		op->cb(op->ctx, result, result < 0 ? error : NULL);
	ctl_op_free(op);
}

int queue_delete(struct queue *q, const char *id, queue_ctl_cb *cb, void *ctx)
{
	struct qmsg *m = find(q, id);
	struct ctl_op *op;
	const char *error;

	if (m == NULL || m->removing)
		return QUEUE_CTL_NOT_FOUND;
	if (m->active)
		return QUEUE_CTL_BUSY;
	m->removing = true;
	op = ctl_op_new(q, id, false, cb, ctx);
	if (spool_remove(q->spool, m->id, deleted, op, &error) < 0) {
		m->removing = false;
		log_error(m->id, "event=delete_failed error=\"%s\"", error);
		ctl_op_free(op);
		return QUEUE_CTL_FAILED;
	}
	return QUEUE_CTL_PENDING;
}
