/*
 * queue_private.h - shared by queue.c (entries, scheduling, the control
 * operations), queue_deliver.c (one delivery attempt: grouping, routing,
 * sending) and queue_finish.c (the end of an attempt: bounces, then the
 * new states). Not for other modules.
 */
#ifndef DIRMX_QUEUE_PRIVATE_H
#define DIRMX_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "nexthop.h"
#include "queue.h"
#include "queue_group.h"
#include "spool.h"
#include "spoolrec.h"

struct evloop_timer;
struct attempt;
struct ctl_op;
struct rehop;

struct qmsg {
	struct queue *q;
	char id[SPOOL_ID_LEN + 1];
	struct spoolrec *env;
	uint64_t next_ms;   /* monotonic; 0: now */
	uint64_t next_unix; /* for dirmxctl */
	unsigned attempts;
	bool active, removing; /* held: env->held */
	char *last_error;
	struct attempt *att;
	TAILQ_ENTRY(qmsg) link; /* in arrival (id) order */
};

struct queue {
	struct event_base *base;
	struct spool *spool;
	struct resolve *resolve;
	struct smtpc *smtpc;
	struct authc *authc;
	struct queue_options opts;
	char *hostname, *postmaster, *ca_file, *alerts_dir;
	char **tls_map; /* "destination policy" */
	size_t n_tls_map;
	char *sh_user, *sh_password;
	struct nexthop_config *nhcfg;
	TAILQ_HEAD(, qmsg) msgs;
	LIST_HEAD(, ctl_op) ctl_ops; /* hold/release/delete being written */
	struct qmsg *scan; /* where the next tick goes on; NULL: head */
	size_t n_msgs;
	unsigned n_active;
	struct evloop_timer *tick;
};

struct group {
	struct attempt *a;
	struct nexthop nh;
	enum nexthop_source src;
	char key[QUEUE_GROUP_KEY_MAX];
	size_t *idx;
	size_t n;
	struct resolve_req *rreq;
	struct smtpc_req *sreq;
};

struct attempt {
	struct qmsg *m;
	struct spool_data data;
	struct group *groups;
	size_t n_groups;
	size_t pending;
	bool *bounced_now; /* per rcpt: failed in this attempt */
	/* after the groups: the bounce being injected */
	struct authc_req *lreq;
	struct spool_msg *dsn_msg;
	struct spoolrec *dsn_env;
	bool dsn_failed, dsn_delayed; /* what the notice reports */
	/* One notice per report address (queue_finish.c): the rounds so
	 * far, the recipients of this one, those reported (or suppressed)
	 * by any, and this one's address (NULL: the message's sender). */
	unsigned dsn_rounds;
	bool *dsn_in_round, *dsn_reported;
	const char *dsn_to;
	/* before the groups: next hops asked again (queue_rehop.c) */
	struct rehop *rehops;
	size_t n_rehops, rehop_pending;
	void (*rehop_next)(struct attempt *a);
};

/* queue.c */
void queue_kick(struct queue *q);
void queue_msg_free(struct qmsg *m);
/* The attempt is over: reschedule or forget the message. */
void queue_attempt_done(struct qmsg *m, bool removed);

/* queue_deliver.c */
void queue_attempt_start(struct qmsg *m);
void queue_attempt_cancel(struct qmsg *m);
void queue_attempt_free(struct attempt *a);
/*
 * A result decided here, not by a server's reply (its code field stays
 * 0, no rhost): "<status> <reason>", or "<code> <status> <reason>" for
 * the verdicts written as replies (550), with the summary as its
 * Diagnostic-Code.
 */
void queue_rcpt_local(struct attempt *a, size_t i, enum spoolrec_state st,
                      unsigned code, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* queue_rehop.c: a retry asks authd again where each waiting recipient's
 * mail goes, then calls next(a); the first attempt calls it at once. */
void queue_rehop_start(struct attempt *a, void (*next)(struct attempt *a));
void queue_rehop_cancel(struct attempt *a);

/* queue_finish.c */
/* Every group answered: bounces first, then the states (or removal). */
void queue_attempt_persist(struct attempt *a);

#endif
