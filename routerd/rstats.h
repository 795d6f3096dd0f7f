/*
 * rstats.h - routerd's counters: plain numbers the hot paths increment,
 * read by the metrics collectors (rmetrics.c) at scrape time.
 *
 * One process-wide struct, touched only from the loop thread (the spool's
 * worker thread never: commit latency is recorded when the commit's
 * callback runs on the loop). Nothing here allocates or locks after
 * rstats_init(). Per-listener numbers are found once per session
 * (rstats_listener()), then incremented through the pointer.
 */
#ifndef DIRMX_RSTATS_H
#define DIRMX_RSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct metrics_topn;

/* Why a recipient or a message was refused (the "reason" label). */
enum rstats_refusal {
	RSTATS_REFUSE_UNKNOWN_RCPT, /* 550 5.1.1 */
	RSTATS_REFUSE_RELAY,        /* 550 5.7.1 relaying denied */
	RSTATS_REFUSE_RCPT_POLICY,  /* other refusals of the policy */
	RSTATS_REFUSE_DIRECTORY,    /* 451 4.4.3: authd could not say */
	RSTATS_REFUSE_TOO_MANY_RCPTS,
	RSTATS_REFUSE_SENDER,  /* 553 5.7.1 not the user's address */
	RSTATS_REFUSE_STORAGE, /* 452 4.3.1 spool_min_free */
	RSTATS_REFUSE_TOO_BIG,
	RSTATS_REFUSE_LOOP,
	RSTATS_REFUSE_CONTENT,    /* NUL bytes, lines too long */
	RSTATS_REFUSE_SPOOL,      /* 451 4.3.0 the spool failed */
	RSTATS_REFUSE_RESTRICTED, /* 550 5.7.1 the sender may not send */
	RSTATS_REFUSE_N
};

enum rstats_tls {
	RSTATS_TLS_12,
	RSTATS_TLS_13,
	RSTATS_TLS_OTHER,
	RSTATS_TLS_N
};

/* Delivery results per recipient (the "result" label). */
enum rstats_delivery {
	RSTATS_DELIVERY_SENT,
	RSTATS_DELIVERY_DEFERRED,
	RSTATS_DELIVERY_BOUNCED,
	RSTATS_DELIVERY_N
};

struct rstats_listener {
	char name[64];
	uint64_t accepted; /* messages, 250 after DATA/BDAT LAST */
	uint64_t refused[RSTATS_REFUSE_N];
	int64_t sessions; /* open now */
};

#define RSTATS_NEXTHOPS 10

struct rstats {
	struct rstats_listener *listeners;
	size_t n_listeners;
	uint64_t tls[RSTATS_TLS_N];       /* handshakes done, inbound */
	struct metrics_hist spool_commit; /* commit queued -> durable */
	uint64_t dsn_sent;                /* bounces committed */
	struct metrics_topn *deliveries;  /* next hop x enum rstats_delivery */
};

extern struct rstats rstats;

/* Set up for these listeners (start-up). Idempotent per name. */
void rstats_init(const char *const *listeners, size_t n);
void rstats_deinit(void);
/* The numbers of listener name; a shared spare for an unknown name. */
struct rstats_listener *rstats_listener(const char *name);
/* A TLS handshake finished with version ("TLS1.3", GnuTLS's name). */
void rstats_tls_done(const char *version);
/* n recipients delivered to (or failed at) next hop key. */
void rstats_delivery(const char *hop, enum rstats_delivery result, size_t n);

#endif
