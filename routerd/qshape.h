/*
 * qshape.h - the shape of the queue, as Postfix's qshape(1) shows it:
 * messages per recipient domain and age bucket, for dirmxctl queue
 * summary; and the queue state of a message, shared with the metrics.
 *
 * A message counts once for each domain among its recipients still
 * pending (not yet delivered or bounced). Columns: T (the total), then
 * the age buckets 5 10 20 40 80 160 320 640 1280 1280+ minutes (a
 * message in "10" is at least 5 and under 10 minutes old). Rows: TOTAL
 * first, then the domains by total, largest first (then by name).
 *
 * qshape.c is pure; qshape_queue.c walks the live queue.
 */
#ifndef DIRMX_QSHAPE_H
#define DIRMX_QSHAPE_H

#include <stdint.h>

struct queue;
struct queue_view;
struct sbuf;

enum qshape_state {
	QSHAPE_INCOMING, /* waiting for its first attempt */
	QSHAPE_ACTIVE,   /* an attempt is running */
	QSHAPE_DEFERRED, /* some recipient failed for now: waiting to retry */
	QSHAPE_HELD,
	QSHAPE_N
};

#define QSHAPE_BUCKETS 10

enum qshape_state qshape_state_of(const struct queue_view *v);
/* "incoming", "active", "deferred", "held" */
const char *qshape_state_name(enum qshape_state st);
/* The name for a state, -1 when unknown ("all" is not one). */
int qshape_state_parse(const char *name);

struct qshape;

struct qshape *qshape_new(void);
void qshape_deinit(struct qshape **q);
/* One message's view at now (unix seconds). */
void qshape_add(struct qshape *q, const struct queue_view *v, uint64_t now);
/* The table, appended to out (sorts the rows). */
void qshape_render(struct qshape *q, struct sbuf *out);

/* The table of the messages of q in state (-1: all), appended to out. */
void qshape_queue(struct queue *q, int state, uint64_t now, struct sbuf *out);

#endif
