/*
 * spool_private.h - what spool.c (open, recovery, reading) and
 * spool_commit.c (writing, the group-commit worker) share.
 *
 * Threads: the loop thread owns struct spool and every struct spool_msg.
 * The worker only touches the queue and done lists under s->lock, and the
 * spool_op it took from the queue (fd, names, result, error) until it
 * hands it back on the done list. An op's cancelled and msg fields belong
 * to the loop thread throughout.
 */
#ifndef DIRMX_SPOOL_PRIVATE_H
#define DIRMX_SPOOL_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>

#include "spool.h"

struct event;

/* "<id>.state.<seq>" fits, with room. */
#define SPOOL_NAME_MAX 64
#define SPOOL_ERROR_MAX 256

enum spool_op_kind {
	SPOOL_OP_COMMIT,
	SPOOL_OP_UPDATE,
	SPOOL_OP_REMOVE,
};

struct spool_op {
	struct spool_op *next;
	enum spool_op_kind kind;
	int fd;                        /* to fdatasync; -1 for REMOVE */
	char tmp_name[SPOOL_NAME_MAX]; /* in tmp/ */
	char q_name[SPOOL_NAME_MAX];   /* in q/ */
	char id[SPOOL_ID_LEN + 1];
	int result;
	char error[SPOOL_ERROR_MAX];
	/* loop thread only */
	spool_done_cb *cb;
	void *context;
	struct spool_msg *msg; /* COMMIT: freed after the callback */
	bool cancelled;
};

struct spool {
	struct event_base *base;
	int dir_fd, tmp_fd, q_fd, corrupt_fd, lock_fd;
	struct spool_id last_id;
	uint64_t tmp_seq;
	char (*recovered)[SPOOL_ID_LEN + 1];
	size_t recovered_count;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct spool_op *queue, **queue_tail; /* loop -> worker */
	struct spool_op *done, **done_tail;   /* worker -> loop */
	bool stopping;
	struct spool_stats stats;
	int notify_rd, notify_wr;
	struct event *notify_event;

	char error[SPOOL_ERROR_MAX];
};

/* Set s->error (printf style) and point *error_r at it; returns -1. */
int spool_fail(struct spool *s, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Move q/<name> to corrupt/ with a log line. */
void spool_move_corrupt(struct spool *s, const char *name, const char *why);

/* spool_commit.c: start and stop the worker and its notify event. */
int spool_worker_start(struct spool *s, const char **error_r);
void spool_worker_stop(struct spool *s);

#endif
