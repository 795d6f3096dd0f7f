/*
 * queue.h - the queue manager: from the spool to the next hops.
 *
 * Every message in the spool has a queue entry. A delivery attempt
 * groups the message's pending recipients by next hop (nexthop.c: the
 * directory's hop, a configured route, the smarthost or the MX), resolves
 * each hop (resolve.c) and hands each group to the SMTP client (smtpc.c)
 * as one transaction. Per recipient: 2xx done, 4xx retry, 5xx bounce.
 * The outcome is made durable before anything else happens: delivered and
 * bounced recipients are written to the spool (spool_update) so a restart
 * never sends them again, bounces (RFC 3464 DSNs, dsn.c) are committed to
 * the spool as new messages, and a message leaves the spool only when
 * every recipient is done. Retries back off exponentially from retry_min
 * to retry_max; past max_lifetime what is left is bounced. No bounce ever
 * goes to the null sender; a message from the null sender that fails is
 * reported to the postmaster once, and a failure of that report stops.
 *
 * Ownership: the queue keeps its own copies; views handed to callbacks
 * are valid only during the callback.
 */
#ifndef DIRMX_QUEUE_H
#define DIRMX_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct spool;
struct spoolrec;
struct resolve;
struct smtpc;
struct authc;
struct settings_routerd;

struct queue_options {
	const char *hostname;   /* ours: HELO name, DSN Reporting-MTA */
	const char *postmaster; /* where failed bounces are reported */
	const char *alerts_dir; /* alerts.h: when even that fails */
	/* routes and smarthost, read once by queue_new() */
	const struct settings_routerd *settings;
	const char *tls_ca_file;
	/* Outbound TLS (enum smtpc_tls) by default, and per destination:
	 * "destination policy" items matched against the next hop's host
	 * (the recipient domain for an MX hop), ASCII case-insensitive. */
	int tls_policy;
	const char *const *tls_map;
	size_t n_tls_map;
	const char *smarthost_user;     /* AUTH to the smarthost */
	const char *smarthost_password; /* copied and wiped by the queue */
	uint64_t retry_min_ms;
	uint64_t retry_max_ms;
	uint64_t max_lifetime_ms;
	/* A message still waiting this long after arrival: one "delayed"
	 * notice (RFC 3464) to its sender, for recipients that asked with
	 * NOTIFY=DELAY; never to <>. 0: never. */
	uint64_t delay_warning_ms;
	unsigned max_active; /* messages in delivery at once */
};

struct queue;

struct queue *queue_new(struct event_base *base, struct spool *spool,
                        struct resolve *resolve, struct smtpc *smtpc,
                        struct authc *authc, const struct queue_options *opts);
void queue_deinit(struct queue **q);

/* Take every message the spool held at open (after recovery). */
void queue_recover(struct queue *q);
/*
 * A message just committed to the spool: deliver it now. *env, when env
 * is not NULL, is the envelope that was committed for id: the queue takes
 * it over (and sets *env to NULL) instead of reading back and parsing
 * what it has just written, which for a message to a large group costs as
 * much as writing it. env or *env NULL: the queue reads the envelope
 * from the spool.
 */
void queue_add(struct queue *q, const char *id, struct spoolrec **env);

struct queue_view {
	const char *id;
	const struct spoolrec *env; /* recipients with their states */
	uint64_t next_attempt;      /* unix seconds, 0 = now */
	bool active;                /* a delivery attempt is running */
	bool held;
	const char *last_error;
};
typedef void queue_view_cb(void *ctx, const struct queue_view *v);

/* Every message in id (= arrival) order. */
void queue_foreach(struct queue *q, queue_view_cb *cb, void *ctx);
/* Look one up; false when there is no such message. */
bool queue_show(struct queue *q, const char *id, queue_view_cb *cb, void *ctx);
/* Try now: one message (id) or all (NULL). Returns how many. */
size_t queue_flush(struct queue *q, const char *id);
/*
 * Hold, release and delete are durable: a hold is part of the spool
 * record (spoolrec.h), so it outlives a restart. They answer:
 *   QUEUE_CTL_PENDING        cb(ctx, 0, NULL) follows once the spool
 *                            has it, or cb(ctx, -1, reason) when it
 *                            could not (the flag is then put back);
 *   QUEUE_CTL_DONE           nothing to write (already held/released);
 *   QUEUE_CTL_AFTER_ATTEMPT  (hold/release) a delivery attempt is
 *                            running: the flag applies now and is
 *                            written with the attempt's outcome;
 *   QUEUE_CTL_NOT_FOUND, QUEUE_CTL_BUSY (delete: being delivered),
 *   QUEUE_CTL_FAILED         (the spool refused the write at once).
 * cb is called only for PENDING, and may be NULL.
 */
enum queue_ctl {
	QUEUE_CTL_PENDING,
	QUEUE_CTL_DONE,
	QUEUE_CTL_AFTER_ATTEMPT,
	QUEUE_CTL_NOT_FOUND,
	QUEUE_CTL_BUSY,
	QUEUE_CTL_FAILED,
};
typedef void queue_ctl_cb(void *ctx, int result, const char *error);
/* Hold (no delivery attempts) or release. */
int queue_hold(struct queue *q, const char *id, bool hold, queue_ctl_cb *cb,
               void *ctx);
/* Remove without delivering or bouncing. */
int queue_delete(struct queue *q, const char *id, queue_ctl_cb *cb, void *ctx);

#endif
