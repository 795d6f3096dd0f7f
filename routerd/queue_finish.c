/*
 * queue_finish - the end of a delivery attempt, for queue_deliver.c.
 *
 * The outcome is made durable in this order: bounces for newly failed
 * recipients are committed to the spool as new messages first, then the
 * message's new recipient states are written (spool_update), or the
 * message is removed when every recipient is done (spool_remove). A crash
 * in between can at worst send a bounce twice; it never loses one, and a
 * delivered recipient is never retried. The one delay notice of a message
 * (delay_warning_time, NOTIFY=DELAY) goes in the same notice as that
 * attempt's failures, and the record says it was sent (delay_notified). A
 * bounce to <> is never made: the postmaster gets a report instead, once, and a
 * report that fails too is kept in the alert store (alerts.h).
 *
 * A recipient reached through a group whose delivery reports go
 * elsewhere (its copy's envelope sender, spoolrec_rcpt_from()) is
 * reported there: one notice per address, after the sender's, each
 * committed before the next is made; one whose group reports nowhere
 * (<>) is reported to no one.
 */
#include "queue_private.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "alloc.h"
#include "authc.h"
#include "dsn.h"
#include "evloop.h"
#include "log.h"
#include "rstats.h"
#include "sbuf.h"

#define DSN_ORIG_MAX (1024u * 1024)
#define POSTMASTER_ENVID "dirmx-postmaster-report"

static bool all_done(const struct spoolrec *env)
{
	for (size_t i = 0; i < env->rcpt_count; i++)
		if (env->rcpts[i].state != SPOOLREC_DELIVERED &&
		    env->rcpts[i].state != SPOOLREC_BOUNCED)
			return false;
	return true;
}

static void persisted(void *ctx, int result, const char *error)
{
	struct attempt *a = ctx;
	struct qmsg *m = a->m;
	bool removed = all_done(m->env) && result == 0;

	if (result < 0)
		log_error(m->id, "event=persist_failed error=\"%s\"", error);
	else if (removed)
		log_info(m->id, "event=done");
	queue_attempt_free(a);
	queue_attempt_done(m, removed);
}

/* Write the new states, or remove the message when every rcpt is done. */
static void write_states(struct attempt *a)
{
	struct qmsg *m = a->m;
	const char *error;
	int r = all_done(m->env)
	            ? spool_remove(m->q->spool, m->id, persisted, a, &error)
	            : spool_update(m->q->spool, m->env, persisted, a, &error);

	if (r < 0) {
		log_error(m->id, "event=persist_failed error=\"%s\"", error);
		queue_attempt_free(a);
		queue_attempt_done(m, false);
	}
}

static void finish_next(struct attempt *a);

static void dsn_committed(void *ctx, int result, const char *error)
{
	struct attempt *a = ctx;
	struct qmsg *m = a->m;
	char id[SPOOL_ID_LEN + 1];

	snprintf(id, sizeof(id), "%s", spool_msg_id(a->dsn_msg));
	a->dsn_msg = NULL; /* the spool frees it */
	if (result < 0) {
		/* The states are not written: the next attempt bounces again.
		 */
		log_error(m->id, "event=bounce_failed error=\"%s\"", error);
		for (size_t i = 0; i < m->env->rcpt_count; i++)
			if (a->dsn_in_round[i])
				m->env->rcpts[i].state = SPOOLREC_DEFERRED;
		if (a->dsn_delayed)
			m->env->delay_notified = false;
		finish_next(a);
		return;
	}
	rstats.dsn_sent++;
	if (a->dsn_failed)
		log_info(m->id, "event=bounced dsn=%s to=<%s>", id,
		         a->dsn_env->rcpts[0].addr);
	if (a->dsn_delayed)
		log_info(m->id, "event=delay_notified dsn=%s to=<%s>", id,
		         a->dsn_env->rcpts[0].addr);
	queue_add(m->q, id, &a->dsn_env);
	finish_next(a);
}

static void dsn_inject(struct attempt *a, const char *hop)
{
	const char *error;

	spoolrec_set(&a->dsn_env->rcpts[0].hop, hop);
	if (spool_msg_commit(a->dsn_msg, a->dsn_env, dsn_committed, a, &error) <
	    0) {
		log_error(a->m->id, "event=bounce_failed error=\"%s\"", error);
		spool_msg_abort(&a->dsn_msg);
		if (a->dsn_delayed)
			a->m->env->delay_notified = false;
		finish_next(a);
	}
}

static void dsn_rcpt_looked_up(const struct authc_lookup_result *r, void *ctx)
{
	struct attempt *a = ctx;

	a->lreq = NULL;
	/* The bounce goes where mail for the sender goes (its mailbox
	 * server for a local sender); without an answer, by our routes. A
	 * report for the postmaster that the directory does not know goes
	 * to the alert store rather than on a journey that fails. */
	if (r->status == AUTHC_OK && r->n_dests > 0)
		dsn_inject(a, r->dests[0].hop);
	else if (a->dsn_env->envid != NULL &&
	         strcmp(a->dsn_env->envid, POSTMASTER_ENVID) == 0)
		dsn_inject(a, ALERTS_HOP);
	else
		dsn_inject(a, "local");
}

/* Whether this attempt's end is when the message's delay notice is due. */
static bool delay_notice_due(const struct qmsg *m)
{
	const struct queue_options *o = &m->q->opts;

	return o->delay_warning_ms > 0 && !m->env->delay_notified &&
	       m->env->mail_from[0] != '\0' &&
	       (uint64_t)time(NULL) >=
	           m->env->arrival + o->delay_warning_ms / 1000;
}

/* Add the recipients still waiting that asked for a delay notice. */
static size_t add_delayed(struct attempt *a, struct dsn_rcpt *dr, size_t n)
{
	const struct spoolrec *env = a->m->env;
	const struct queue_options *o = &a->m->q->opts;

	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct spoolrec_rcpt *r = &env->rcpts[i];

		/* the sender's notice: not for a copy whose group's
		 * reports go elsewhere */
		if (a->bounced_now[i] ||
		    (r->state != SPOOLREC_DEFERRED &&
		     r->state != SPOOLREC_PENDING) ||
		    !dsn_should_report(r, DSN_ACTION_DELAYED) ||
		    strcmp(spoolrec_rcpt_from(env, r),
		           env->mail_from != NULL ? env->mail_from : "") != 0)
			continue;
		dsn_rcpt_from_result(&dr[n], env, i, DSN_ACTION_DELAYED,
		                     time(NULL));
		if (o->max_lifetime_ms > 0)
			dr[n].will_retry_until =
			    (time_t)(env->arrival + o->max_lifetime_ms / 1000);
		n++;
	}
	return n;
}

/* Build the notice for this attempt's failures, and the delay notice when
 * it is due; true when one is made. */
static bool dsn_prepare(struct attempt *a)
{
	struct qmsg *m = a->m;
	struct queue *q = m->q;
	struct spoolrec *env = m->env;
	struct dsn_rcpt *dr = alloc_array(env->rcpt_count + 1, sizeof(*dr));
	bool null_sender = env->mail_from[0] == '\0';
	struct dsn_input in = {0};
	struct spoolrec *report_env = NULL;
	struct sbuf *out = NULL;
	unsigned char *orig = NULL;
	char *mailer_daemon = NULL;
	size_t n = 0, orig_len = 0;
	const char *error;
	bool made = false;
	ssize_t got;
	int built;

	spoolrec_deinit(&a->dsn_env); /* a round before that failed */
	a->dsn_delayed = false;
	for (size_t i = 0; i < env->rcpt_count; i++) {
		if (!a->dsn_in_round[i])
			continue;
		/* NOTIFY is the sender's wish; a message from <> has no
		 * sender to tell, and its failures (our own bounces carry
		 * NOTIFY=NEVER) go to the postmaster whatever NOTIFY says;
		 * a group's owner gets its members' failures. */
		if (!null_sender && a->dsn_to == NULL &&
		    !dsn_should_report(&env->rcpts[i], DSN_ACTION_FAILED))
			continue;
		/* from the result's fields, as rcpt_set() stored them */
		dsn_rcpt_from_result(&dr[n++], env, i, DSN_ACTION_FAILED,
		                     time(NULL));
	}
	a->dsn_failed = n > 0;
	if (a->dsn_to == NULL && delay_notice_due(m)) {
		/* Once per message, asked for or not: the record says so. */
		size_t before = n;

		env->delay_notified = true;
		n = add_delayed(a, dr, n);
		a->dsn_delayed = n > before;
	}
	if (n == 0)
		goto done;
	if (a->dsn_to != NULL) {
		/* to the group's owner, whatever the sender asked */
		report_env = spoolrec_dup(env);
		spoolrec_set(&report_env->mail_from, a->dsn_to);
		for (size_t i = 0; i < report_env->rcpt_count; i++)
			report_env->rcpts[i].notify = 0;
	} else if (env->mail_from[0] == '\0') {
		/* Never a bounce to <>. A failed bounce is reported to the
		 * postmaster once; a failed report stops there. */
		if (strcmp(env->envid != NULL ? env->envid : "",
		           POSTMASTER_ENVID) == 0) {
			/* The report to the postmaster failed too: keep it
			 * in the alert store, never drop it. */
			if (alerts_store(q->alerts_dir, m->id,
			                 "a report to the postmaster about a "
			                 "failed bounce could not be delivered",
			                 a->data.fd, a->data.mem,
			                 a->data.offset, a->data.len,
			                 &error) == 0)
				log_warn(m->id,
				         "event=double_bounce_stored "
				         "dir=%s",
				         q->alerts_dir);
			else
				log_error(m->id,
				          "event=double_bounce_lost "
				          "error=\"%s\"",
				          error);
			goto done;
		}
		report_env = spoolrec_dup(env);
		spoolrec_set(&report_env->mail_from, q->postmaster);
		/* dsn_build() applies NOTIFY again: the report ignores it. */
		for (size_t i = 0; i < report_env->rcpt_count; i++)
			report_env->rcpts[i].notify = 0;
	}
	orig = alloc_zero(DSN_ORIG_MAX);
	orig_len =
	    a->data.len < DSN_ORIG_MAX ? (size_t)a->data.len : DSN_ORIG_MAX;
	if (a->data.mem != NULL) {
		memcpy(orig, a->data.mem, orig_len);
	} else {
		got = pread(a->data.fd, orig, orig_len, (off_t)a->data.offset);
		orig_len = got > 0 ? (size_t)got : 0;
	}
	mailer_daemon = alloc_printf("MAILER-DAEMON@%s", q->hostname);
	in.reporting_mta = q->hostname;
	in.postmaster = mailer_daemon;
	in.env = report_env != NULL ? report_env : env;
	in.rcpts = dr;
	in.rcpt_count = n;
	in.orig = orig;
	in.orig_len = orig_len;
	in.orig_complete = orig_len == a->data.len;
	in.full_max = DSN_ORIG_MAX;
	in.now = time(NULL);
	in.boundary_seed = evloop_now_ms() ^ (uint64_t)(uintptr_t)a;
	out = sbuf_new(4u * 1024 * 1024);
	built = dsn_build(&in, out, &error);
	if (built == 0)
		goto done; /* every recipient's NOTIFY says: no report */
	if (built < 0 || spool_msg_begin(q->spool, &a->dsn_msg, &error) < 0 ||
	    spool_msg_write(a->dsn_msg, sbuf_data(out), sbuf_len(out), &error) <
	        0 ||
	    dsn_envelope(&in, spool_msg_id(a->dsn_msg), sbuf_data(out),
	                 sbuf_len(out), &a->dsn_env, &error) < 0) {
		log_error(m->id, "event=bounce_failed error=\"%s\"", error);
		if (a->dsn_msg != NULL)
			spool_msg_abort(&a->dsn_msg);
		if (a->dsn_delayed)
			env->delay_notified =
			    false; /* the next attempt tries */
		goto done;
	}
	if (report_env != NULL && a->dsn_to == NULL)
		spoolrec_set(&a->dsn_env->envid, POSTMASTER_ENVID);
	made = true;
done:
	sbuf_deinit(&out);
	spoolrec_deinit(&report_env);
	free(orig);
	free(mailer_daemon);
	free(dr);
	return made;
}

void queue_attempt_persist(struct attempt *a)
{
	struct qmsg *m = a->m;
	struct queue *q = m->q;
	struct spoolrec *env = m->env;
	uint64_t now = (uint64_t)time(NULL);

	/* Past the maximum lifetime, what is still waiting bounces. */
	if (q->opts.max_lifetime_ms > 0 &&
	    now > env->arrival + q->opts.max_lifetime_ms / 1000) {
		for (size_t i = 0; i < env->rcpt_count; i++) {
			struct spoolrec_rcpt *r = &env->rcpts[i];

			if (r->state == SPOOLREC_DELIVERED ||
			    r->state == SPOOLREC_BOUNCED)
				continue;
			/* the last summary is quoted for people, not read */
			queue_rcpt_local(
			    a, i, SPOOLREC_BOUNCED, 0, "5.4.7",
			    "delivery time expired; last error: %s",
			    r->error != NULL && *r->error != '\0' ? r->error
			                                          : "none");
		}
	}
	finish_next(a);
}

/*
 * The recipients of the next notice into a->dsn_in_round, its address
 * into a->dsn_to: first the message's own sender (always a round: the
 * delay notice), then each other address a failed recipient's group
 * reports to. False when none is left.
 */
static bool dsn_round_next(struct attempt *a)
{
	const struct spoolrec *env = a->m->env;
	bool first = a->dsn_rounds++ == 0;
	const char *to = NULL;

	for (size_t i = 0; i < env->rcpt_count; i++) {
		const char *from = spoolrec_rcpt_from(env, &env->rcpts[i]);
		bool own = strcmp(from, env->mail_from != NULL ? env->mail_from
		                                               : "") == 0;

		a->dsn_in_round[i] = false;
		if (!a->bounced_now[i] || a->dsn_reported[i])
			continue;
		if (!own && *from == '\0') {
			a->dsn_reported[i] = true;
			log_info(a->m->id,
			         "event=bounce_suppressed rcpt=<%s> "
			         "reason=\"its group reports nowhere\"",
			         env->rcpts[i].addr);
			continue;
		}
		if (first ? !own : to != NULL && strcmp(from, to) != 0)
			continue;
		if (!first)
			to = from;
		a->dsn_in_round[i] = a->dsn_reported[i] = true;
	}
	a->dsn_to = to;
	return first || to != NULL;
}

/* Make and commit the next notice, or when none is left, write the
 * states. */
static void finish_next(struct attempt *a)
{
	struct queue *q = a->m->q;

	while (dsn_round_next(a)) {
		if (!dsn_prepare(a))
			continue;
		a->lreq =
		    authc_lookup(q->authc, a->dsn_env->rcpts[0].addr,
		                 "submission", NULL, dsn_rcpt_looked_up, a);
		return;
	}
	write_states(a);
}
