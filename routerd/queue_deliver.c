/*
 * queue_deliver - one delivery attempt of one message, for queue.c.
 *
 * The pending recipients are grouped by next hop (queue_group.c, with
 * nexthop_choose): each group is resolved (resolve.c) and sent as one SMTP
 * transaction (smtpc.c).
 * When every group has answered, queue_finish.c makes the outcome
 * durable (bounces first, then the states).
 *
 * A failure to route to a hop that comes from our own configuration or
 * directory (a route, the smarthost, a mailbox server) is deferred, not
 * bounced: it is ours to fix. Past the maximum lifetime, what is still
 * deferred is bounced (5.4.7).
 *
 * Every recipient's result goes into its spool record as fields (reply
 * code, enhanced status, Diagnostic-Code, remote MTA; spoolrec.h), beside
 * a one-line summary for people (dirmxctl queue). The bounce is built from
 * the fields; nothing reads the summary back.
 */
#include "queue_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "alloc.h"
#include "authc.h"
#include "dsn.h"
#include "evloop.h"
#include "intl.h"
#include "log.h"
#include "queue_group.h"
#include "resolve.h"
#include "rstats.h"
#include "sbuf.h"
#include "smtpc.h"

/* One recipient's result, as its spool record keeps it. */
struct verdict {
	unsigned code;       /* the reply's; 0: decided here */
	const char *status;  /* "5.1.1"; NULL: none */
	const char *diag;    /* Diagnostic-Code; NULL: none */
	const char *rhost;   /* whose reply it is; NULL: none */
	const char *summary; /* for people only */
};

static void rcpt_set(struct attempt *a, size_t i, enum spoolrec_state st,
                     const struct verdict *v)
{
	struct spoolrec_rcpt *r = &a->m->env->rcpts[i];

	r->state = st;
	r->attempts++;
	spoolrec_set(&r->error, v->summary != NULL ? v->summary : "");
	r->code = v->code;
	spoolrec_set(&r->status, v->status != NULL ? v->status : "");
	spoolrec_set(&r->diag, v->diag != NULL ? v->diag : "");
	spoolrec_set(&r->rhost, v->rhost != NULL ? v->rhost : "");
	if (st == SPOOLREC_BOUNCED)
		a->bounced_now[i] = true;
	if (st == SPOOLREC_DEFERRED && v->summary != NULL) {
		free(a->m->last_error);
		a->m->last_error = alloc_strdup(v->summary);
	}
}

static void rcpt_delivered(struct attempt *a, size_t i)
{
	const struct verdict v = {0};

	rcpt_set(a, i, SPOOLREC_DELIVERED, &v);
}

/*
 * A result decided here, not by a server's reply (its code field stays
 * 0, no rhost): "<status> <reason>", or "<code> <status> <reason>" for
 * the verdicts written as replies (550), with the summary as its
 * Diagnostic-Code - "smtp; " when it has a reply code, "x-dirmx; "
 * otherwise: the bounce says what it always said.
 */
void queue_rcpt_local(struct attempt *a, size_t i, enum spoolrec_state st,
                      unsigned code, const char *status, const char *fmt, ...)
{
	struct verdict v = {.status = status};
	char reason[700], summary[720], diag[740];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (code != 0)
		snprintf(summary, sizeof(summary), "%u %s %s", code, status,
		         reason);
	else
		snprintf(summary, sizeof(summary), "%s %s", status, reason);
	snprintf(diag, sizeof(diag), "%s; %s", code != 0 ? "smtp" : "x-dirmx",
	         summary);
	v.diag = diag;
	v.summary = summary;
	rcpt_set(a, i, st, &v);
}

void queue_attempt_free(struct attempt *a)
{
	for (size_t g = 0; g < a->n_groups; g++) {
		resolve_cancel(&a->groups[g].rreq);
		smtpc_cancel(&a->groups[g].sreq);
		free(a->groups[g].idx);
	}
	free(a->groups);
	queue_rehop_cancel(a);
	authc_cancel(&a->lreq);
	if (a->dsn_msg != NULL)
		spool_msg_abort(&a->dsn_msg);
	spoolrec_deinit(&a->dsn_env);
	spool_data_close(&a->data);
	free(a->bounced_now);
	free(a->dsn_in_round);
	free(a->dsn_reported);
	a->m->att = NULL;
	free(a);
}

static void group_done(struct group *g)
{
	struct attempt *a = g->a;

	if (--a->pending == 0)
		queue_attempt_persist(a);
}

static void group_delivered(const struct smtpc_result *res, void *ctx)
{
	struct group *g = ctx;
	struct attempt *a = g->a;
	size_t n[RSTATS_DELIVERY_N] = {0};

	g->sreq = NULL;
	for (size_t k = 0; k < g->n && k < res->n_rcpts; k++) {
		const struct smtpc_rcpt_result *r = &res->rcpts[k];
		struct verdict v = {.code = (unsigned)r->code,
		                    .status = r->status};
		char err[600], diag[620];

		n[r->verdict == SMTPC_DONE     ? RSTATS_DELIVERY_SENT
		  : r->verdict == SMTPC_BOUNCE ? RSTATS_DELIVERY_BOUNCED
		                               : RSTATS_DELIVERY_DEFERRED]++;
		if (r->verdict == SMTPC_DONE) {
			rcpt_delivered(a, g->idx[k]);
			continue;
		}
		/* A local decision's text has no status of its own: keep
		 * its status for the DSN (5.6.7, not 5.0.0). */
		snprintf(err, sizeof(err), "%s%s%s%s%s",
		         res->host != NULL ? res->host : "",
		         res->host ? ": " : "",
		         r->code == 0 && r->status[0] != '\0' ? r->status : "",
		         r->code == 0 && r->status[0] != '\0' ? " " : "",
		         r->text != NULL ? r->text : "");
		v.summary = err;
		if (r->code != 0) {
			/* the server's reply, and the server that gave it */
			v.diag = r->diag;
			v.rhost = res->host;
		} else {
			snprintf(diag, sizeof(diag), "x-dirmx; %s", err);
			v.diag = diag;
		}
		rcpt_set(a, g->idx[k],
		         r->verdict == SMTPC_BOUNCE ? SPOOLREC_BOUNCED
		                                    : SPOOLREC_DEFERRED,
		         &v);
	}
	for (size_t i = 0; i < RSTATS_DELIVERY_N; i++)
		rstats_delivery(g->key, (enum rstats_delivery)i, n[i]);
	group_done(g);
}

/* The TLS policy for a next hop: the map's entry for its host, else the
 * default. */
static enum smtpc_tls tls_policy_for(const struct queue *q,
                                     const struct nexthop *nh)
{
	static const char *const names[] = {"none", "may", "encrypt", "verify"};

	for (size_t i = 0; i < q->n_tls_map; i++) {
		const char *item = q->tls_map[i];
		size_t n = strcspn(item, " \t");
		const char *policy = item + n + strspn(item + n, " \t");

		if (n != strlen(nh->host) ||
		    strncasecmp(item, nh->host, n) != 0)
			continue;
		for (int k = 0; k < 4; k++)
			if (strcmp(policy, names[k]) == 0)
				return (enum smtpc_tls)k;
	}
	return (enum smtpc_tls)q->opts.tls_policy;
}

/* A recipient of this transaction has a UTF-8 local part (intl.h). */
static bool group_needs_utf8(const struct group *g)
{
	const struct spoolrec *env = g->a->m->env;

	for (size_t k = 0; k < g->n; k++) {
		const char *addr = env->rcpts[g->idx[k]].addr;

		if (intl_rcpts_need_utf8(&addr, 1))
			return true;
	}
	return false;
}

/*
 * A message that does not need SMTPUTF8 is sent without it (RFC 6531
 * 3.4), so every address goes in ASCII: U-label domains as A-labels
 * (intl.h). A recipient with no ASCII form is bounced (5.6.7) and taken
 * out of the group; false when none is left. *from_r and (*ascii_r)[k]
 * are the group's addresses in ASCII, NULL when unchanged.
 */
static bool ascii_envelope(struct group *g, const char *mail_from,
                           char **from_r, char ***ascii_r)
{
	struct attempt *a = g->a;
	const struct spoolrec *env = a->m->env;
	const char *error;
	char **ascii;
	size_t kept = 0;

	*from_r = NULL;
	*ascii_r = NULL;
	if (!intl_is_ascii(mail_from) &&
	    intl_addr_to_ascii(mail_from, from_r, &error) < 0)
		*from_r = NULL; /* needs SMTPUTF8: not here (intl.h) */
	ascii = alloc_array(g->n, sizeof(char *));
	for (size_t k = 0; k < g->n; k++) {
		const char *addr = env->rcpts[g->idx[k]].addr;
		char *conv = NULL;

		if (!intl_is_ascii(addr) &&
		    intl_addr_to_ascii(addr, &conv, &error) < 0) {
			queue_rcpt_local(a, g->idx[k], SPOOLREC_BOUNCED, 550,
			                 "5.6.7", "<%s> needs SMTPUTF8: %s",
			                 addr, error);
			continue;
		}
		g->idx[kept] = g->idx[k];
		ascii[kept++] = conv;
	}
	g->n = kept;
	*ascii_r = ascii;
	return kept > 0;
}

static void group_routed(const struct resolve_result *res, void *ctx)
{
	struct group *g = ctx;
	struct attempt *a = g->a;
	struct qmsg *m = a->m;
	struct queue *q = m->q;
	const struct spoolrec *env = m->env;
	struct smtpc_target *targets;
	struct smtpc_job job = {0};
	const char **rcpts;
	const char **orcpt;
	unsigned *notify;
	char **ascii = NULL, *from = NULL;
	/* one per group (queue_group.h): where its reports go */
	const char *mail_from = spoolrec_rcpt_from(env, &env->rcpts[g->idx[0]]);
	bool utf8;

	g->rreq = NULL;
	if (res->status != RESOLVE_OK) {
		/* Our own hop failing is ours to fix: never bounce for it. */
		for (size_t k = 0; k < g->n; k++)
			queue_rcpt_local(a, g->idx[k],
			                 res->status == RESOLVE_PERMFAIL &&
			                         g->src == NEXTHOP_SOURCE_MX
			                     ? SPOOLREC_BOUNCED
			                     : SPOOLREC_DEFERRED,
			                 0, res->code,
			                 "%s (next hop %s, from %s)",
			                 res->reason != NULL ? res->reason : "",
			                 g->key, nexthop_source_name(g->src));
		rstats_delivery(g->key,
		                res->status == RESOLVE_PERMFAIL &&
		                        g->src == NEXTHOP_SOURCE_MX
		                    ? RSTATS_DELIVERY_BOUNCED
		                    : RSTATS_DELIVERY_DEFERRED,
		                g->n);
		log_info(m->id,
		         "event=resolve_failed hop=%s status=%s error=\"%s\"",
		         g->key, res->code, res->reason ? res->reason : "");
		group_done(g);
		return;
	}
	utf8 = env->smtputf8 && (env->smtputf8_needed || group_needs_utf8(g));
	if (!utf8 && !ascii_envelope(g, mail_from, &from, &ascii)) {
		free(ascii);
		free(from);
		group_done(g);
		return;
	}
	targets = alloc_array(res->n_targets, sizeof(*targets));
	for (size_t t = 0; t < res->n_targets; t++) {
		targets[t].host = res->targets[t].host;
		targets[t].addr = res->targets[t].addr;
		targets[t].addrlen = res->targets[t].addrlen;
	}
	rcpts = alloc_array(g->n, sizeof(char *));
	orcpt = alloc_array(g->n, sizeof(char *));
	notify = alloc_array(g->n, sizeof(unsigned));
	for (size_t k = 0; k < g->n; k++) {
		const struct spoolrec_rcpt *r = &env->rcpts[g->idx[k]];

		rcpts[k] =
		    ascii != NULL && ascii[k] != NULL ? ascii[k] : r->addr;
		notify[k] = r->notify;
		orcpt[k] =
		    r->orcpt != NULL && *r->orcpt != '\0' ? r->orcpt : NULL;
	}
	job.queue_id = m->id;
	job.dest = g->key;
	job.helo_name = q->hostname;
	job.targets = targets;
	job.n_targets = res->n_targets;
	job.tls = tls_policy_for(q, &g->nh);
	if (g->src == NEXTHOP_SOURCE_SMARTHOST && q->sh_user != NULL) {
		job.auth_user = q->sh_user;
		job.auth_password = q->sh_password;
	}
	job.ca_file = q->ca_file;
	job.mail_from = from != NULL ? from : mail_from;
	job.need_smtputf8 = utf8;
	job.eightbit = env->body == SPOOLREC_BODY_8BITMIME;
	job.size = a->data.len;
	job.ret = (int)env->ret;
	job.envid = env->envid;
	job.rcpts = rcpts;
	job.notify = notify;
	job.orcpt = orcpt;
	job.n_rcpts = g->n;
	job.data_fd = a->data.fd;
	job.data_mem = a->data.mem;
	job.data_offset = a->data.offset;
	job.data_len = a->data.len;
	g->sreq = smtpc_deliver(q->smtpc, &job, group_delivered, g);
	free(targets);
	free(rcpts);
	free(orcpt);
	free(notify);
	for (size_t k = 0; ascii != NULL && k < g->n; k++)
		free(ascii[k]);
	free(ascii);
	free(from);
}

/* r is still to be handled, and its next hop is the local one hop. */
static bool waits_at(const struct spoolrec_rcpt *r, const char *hop)
{
	return r->state != SPOOLREC_DELIVERED && r->state != SPOOLREC_BOUNCED &&
	       strcmp(r->hop, hop) == 0;
}

/* Recipients for the local alert store (alerts.h): write the message
 * there once, then they are delivered; a failure defers them. */
static void attempt_alerts(struct attempt *a)
{
	struct qmsg *m = a->m;
	const struct spoolrec *env = m->env;
	const char *error = NULL;
	bool stored = false, failed = false;

	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct spoolrec_rcpt *r = &env->rcpts[i];

		if (!waits_at(r, ALERTS_HOP))
			continue;
		if (!stored && !failed) {
			char reason[400];

			snprintf(reason, sizeof(reason),
			         "for <%s>: no postmaster mailbox to deliver "
			         "to",
			         r->addr);
			if (alerts_store(m->q->alerts_dir, m->id, reason,
			                 a->data.fd, a->data.mem,
			                 a->data.offset, a->data.len,
			                 &error) == 0) {
				stored = true;
				log_warn(m->id,
				         "event=alert_stored dir=%s "
				         "rcpt=<%s>",
				         m->q->alerts_dir, r->addr);
			} else {
				failed = true;
				log_error(m->id,
				          "event=alert_store_failed "
				          "dir=%s error=\"%s\"",
				          m->q->alerts_dir, error);
			}
		}
		if (stored)
			rcpt_delivered(a, i);
		else
			queue_rcpt_local(a, i, SPOOLREC_DEFERRED, 0, "4.3.0",
			                 "cannot store an alert: %s", error);
	}
}

/* Recipients found over their size limit at the end of DATA: bounced
 * now (552 5.2.3, RFC 3463: message length exceeds administrative
 * limit), so the sender's DSN says which and why. */
static void attempt_too_big(struct attempt *a)
{
	const struct spoolrec *env = a->m->env;

	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct spoolrec_rcpt *r = &env->rcpts[i];

		if (!waits_at(r, SPOOLREC_HOP_TOO_BIG))
			continue;
		queue_rcpt_local(a, i, SPOOLREC_BOUNCED, 552, "5.2.3",
		                 "<%s>: message of %llu octets larger than "
		                 "this recipient accepts",
		                 r->addr, (unsigned long long)env->size);
	}
}

/* Sort the pending recipients into one group per next hop; those
 * whose next hop is invalid are deferred: a bad hop is ours to fix. */
static void attempt_group(struct attempt *a)
{
	struct qmsg *m = a->m;
	const struct spoolrec *env = m->env;
	struct queue_grouping gr;

	attempt_too_big(a);
	attempt_alerts(a);
	if (m->q->nhcfg == NULL) {
		for (size_t i = 0; i < env->rcpt_count; i++) {
			if (env->rcpts[i].state == SPOOLREC_DELIVERED ||
			    env->rcpts[i].state == SPOOLREC_BOUNCED)
				continue;
			queue_rcpt_local(a, i, SPOOLREC_DEFERRED, 0, "4.3.5",
			                 "bad next hop \"%s\": no routing "
			                 "configuration",
			                 env->rcpts[i].hop);
		}
		return;
	}
	queue_group_build(env, m->q->nhcfg, &gr);
	for (size_t b = 0; b < gr.n_bad; b++) {
		const struct spoolrec_rcpt *r = &env->rcpts[gr.bad[b].idx];

		if (gr.bad[b].src == NEXTHOP_SOURCE_MX) {
			/* No retry makes a bad domain good: bounce now. */
			queue_rcpt_local(a, gr.bad[b].idx, SPOOLREC_BOUNCED,
			                 550, "5.1.2",
			                 "bad destination domain in <%s>: %s",
			                 r->addr, gr.bad[b].error);
			log_info(m->id,
			         "event=bad_domain rcpt=<%s> error=\"%s\"",
			         r->addr, gr.bad[b].error);
			continue;
		}
		queue_rcpt_local(a, gr.bad[b].idx, SPOOLREC_DEFERRED, 0,
		                 "4.3.5", "bad next hop \"%s\": %s", r->hop,
		                 gr.bad[b].error);
	}
	a->groups = alloc_array(gr.n_groups, sizeof(*a->groups));
	a->n_groups = gr.n_groups;
	for (size_t g = 0; g < gr.n_groups; g++) {
		struct group *grp = &a->groups[g];

		grp->a = a;
		grp->nh = gr.groups[g].nh;
		grp->src = gr.groups[g].src;
		memcpy(grp->key, gr.groups[g].key, sizeof(grp->key));
		grp->idx = gr.groups[g].idx;
		grp->n = gr.groups[g].n;
		gr.groups[g].idx = NULL;
	}
	queue_group_free(&gr);
}

static void attempt_send(struct attempt *a);

void queue_attempt_start(struct qmsg *m)
{
	struct queue *q = m->q;
	struct attempt *a = alloc_new(struct attempt);
	struct spoolrec *env = NULL;
	const char *error;
	int r;

	a->m = m;
	a->data.fd = -1;
	m->att = a;
	r = spool_load(q->spool, m->id, &env, &a->data, &error);
	if (r <= 0) {
		log_error(m->id, "event=load_failed error=\"%s\"",
		          r == 0 ? "gone from the spool" : error);
		queue_attempt_free(a);
		queue_attempt_done(m, r == 0);
		return;
	}
	/* What the queue holds in memory wins over what was last written:
	 * a hold or release may still be on its way to the disk. */
	env->held = m->env->held;
	env->delay_notified = m->env->delay_notified;
	spoolrec_deinit(&m->env);
	m->env = env;
	a->bounced_now = alloc_array(env->rcpt_count + 1, sizeof(bool));
	a->dsn_in_round = alloc_array(env->rcpt_count + 1, sizeof(bool));
	a->dsn_reported = alloc_array(env->rcpt_count + 1, sizeof(bool));
	queue_rehop_start(a, attempt_send);
}

/* The hops are known: group by hop, resolve and send each group. */
static void attempt_send(struct attempt *a)
{
	struct queue *q = a->m->q;

	attempt_group(a);
	a->pending = a->n_groups + 1; /* +1: this function's own */
	for (size_t g = 0; g < a->n_groups; g++)
		a->groups[g].rreq = resolve_resolve(
		    q->resolve, &a->groups[g].nh, group_routed, &a->groups[g]);
	if (--a->pending == 0)
		queue_attempt_persist(a);
}

void queue_attempt_cancel(struct qmsg *m)
{
	if (m->att != NULL)
		queue_attempt_free(m->att);
}
