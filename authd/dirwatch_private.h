/*
 * dirwatch_private.h - shared by dirwatch.c (the connection, its DC, the
 * state and what a change touches) and dirwatch_follow.c (the three ways
 * to follow changes: syncrepl, AD notification, polling). Not for other
 * modules.
 */
#ifndef DIRMX_DIRWATCH_PRIVATE_H
#define DIRMX_DIRWATCH_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "dirwatch.h"
#include "ldconn.h"

struct evloop_timer;
struct dcloc_dc;

enum dirwatch_mech {
	MECH_NONE = 0,
	MECH_SYNCREPL,
	MECH_NOTIFY,
	MECH_POLL,
};

enum dirwatch_state {
	WS_IDLE = 0,   /* no DC to watch yet */
	WS_CONNECTING, /* connection setup */
	WS_REFRESHING, /* the search runs; catching up */
	WS_IN_SYNC,    /* changes are followed */
	WS_POLLING,    /* OpenLDAP polling: changes, not deletions */
	WS_DOWN,       /* lost; a retry is scheduled */
};

struct dirwatch {
	struct event_base *base;
	struct dcloc *loc;
	struct dirwatch_options o; /* strings are ours */
	char *base_dn;
	struct dirwatch_hooks h;
	enum dirwatch_mech mech; /* what runs, or runs next */
	enum dirwatch_state state;
	struct ldconn *conn;
	struct ldconn *dead; /* closed in its own callback: freed later */
	struct dcloc_dc *dc;
	char *dc_uri;
	struct ldconn_req *search; /* the persistent search */
	struct ldconn_req *aux;    /* catch-up, root DSE or poll */
	struct evloop_timer *retry, *grace, *poll, *reap;
	unsigned backoff_ms;
	bool in_sync;
	bool ever_synced; /* the cache may hold answers from before */
	bool deletions_seen, deletions_known;
	/* syncrepl */
	struct ldconn_value cookie;
	bool have_cookie, resumed, present_phase;
	/* AD: the highest uSNChanged seen, and on which DC */
	uint64_t usn_hw;
	char *usn_dc;
	struct ldconn_value page; /* the catch-up's paged results cookie */
	/* OpenLDAP polling: modifyTimestamp seen so far (GeneralizedTime) */
	char poll_since[32];
	/* status */
	char *last_error, *last_dn;
	uint64_t changes, invalidated, flushes, last_change_unix;
};

/* dirwatch.c */
/* A change to the object e (id: its 32-hex object id, or NULL). */
void dirwatch_changed(struct dirwatch *w, const struct ldconn_entry *e,
                      const char *id);
/* A deleted object known by its id only. */
void dirwatch_deleted_id(struct dirwatch *w, const char *id);
void dirwatch_set_sync(struct dirwatch *w, bool in_sync);
/* AD: whether the bind account sees tombstones (on this DC). */
void dirwatch_set_deletions_seen(struct dirwatch *w, bool seen);
void dirwatch_flush(struct dirwatch *w, const char *reason);
/* The connection or the search failed: down, retry later. */
void dirwatch_lost(struct dirwatch *w, const char *reason);
/* The server refuses this mechanism: poll instead (mode auto), or stay
 * down with the reason (mode named). */
void dirwatch_refused(struct dirwatch *w, const char *reason);
void dirwatch_set_error(struct dirwatch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* dirwatch_follow.c */
void dirwatch_start_syncrepl(struct dirwatch *w);
void dirwatch_start_notify(struct dirwatch *w);
void dirwatch_poll_now(struct dirwatch *w);
/* Is this LDAP result code a refusal of the mechanism (not a fault)? */
bool dirwatch_code_refuses(int ldap_code);

#endif
