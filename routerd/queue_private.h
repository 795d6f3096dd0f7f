/*
 * queue_private.h - shared by queue.c (entries, scheduling, the control
 * operations) and queue_deliver.c (one delivery attempt). Not for other
 * modules.
 */
#ifndef DIRMX_QUEUE_PRIVATE_H
#define DIRMX_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "nexthop.h"
#include "queue.h"
#include "spool.h"

struct evloop_timer;
struct attempt;

struct qmsg {
	struct queue *q;
	char id[SPOOL_ID_LEN + 1];
	struct spoolrec *env;
	uint64_t next_ms;   /* monotonic; 0: now */
	uint64_t next_unix; /* for dirmxctl */
	unsigned attempts;
	bool active, held, removing;
	char *last_error;
	struct attempt *att;
	struct qmsg *prev, *next;
};

struct queue {
	struct event_base *base;
	struct spool *spool;
	struct resolve *resolve;
	struct smtpc *smtpc;
	struct authc *authc;
	struct queue_options opts;
	char *hostname, *postmaster, *ca_file, *alerts_dir;
	char **tls_map;     /* "destination policy" */
	size_t n_tls_map;
	char *sh_user, *sh_password;
	struct nexthop_config *nhcfg;
	struct qmsg *head, *tail;
	struct qmsg *scan; /* where the next tick goes on; NULL: head */
	size_t n_msgs;
	unsigned n_active;
	struct evloop_timer *tick;
};

/* queue.c */
void queue_kick(struct queue *q);
void queue_msg_free(struct qmsg *m);
/* The attempt is over: reschedule or forget the message. */
void queue_attempt_done(struct qmsg *m, bool removed);

/* queue_deliver.c */
void queue_attempt_start(struct qmsg *m);
void queue_attempt_cancel(struct qmsg *m);

#endif
