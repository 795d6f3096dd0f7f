/*
 * authc_private.h - what lib/authc*.c share; not for other modules.
 *
 * authc_result: turns an authd answer (or a failure) into the result
 * struct of authc.h and runs the caller's callback with it. The result
 * points into the message and into memory freed when the callback
 * returns, as authc.h promises.
 *
 * authc_merge: the LOOKUPs in flight by (address, context, user), so
 * that a LOOKUP asking what one in flight already asks waits for that
 * one's answer instead of sending its own (authc.c keeps the waiters).
 *
 * The client's output buffer and its request lines are secret sbufs
 * (sbuf_new_secret): AUTH lines carry passwords.
 */
#ifndef DIRMX_AUTHC_PRIVATE_H
#define DIRMX_AUTHC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "authc.h"
#include "authproto.h"

struct event;
struct evloop_timer;
struct sbuf;

union authc_cb {
	authc_lookup_cb *lookup;
	authc_auth_cb *auth;
	authc_senders_cb *senders;
};

/* Run cb (for a request of verb) with TEMPFAIL and reason. */
void authc_result_fail(enum authproto_verb verb, union authc_cb cb, void *ctx,
                       const char *reason);
/* Run cb with answer m (parsed for verb). ERROR becomes TEMPFAIL (and is
   logged with the request's id). */
void authc_result_deliver(enum authproto_verb verb, uint64_t id,
                          union authc_cb cb, void *ctx,
                          const struct authproto_msg *m);

struct authc_merge;
struct authc_merge_entry;

/*
 * A request lives on exactly one list (authc.c): queued, sent,
 * deferred, or (REQ_MERGED) the waiters of another request that asks
 * the same.
 */
enum req_state { REQ_QUEUED, REQ_SENT, REQ_DEFERRED, REQ_MERGED };
enum conn_state { CONN_CLOSED, CONN_HELLO, CONN_READY };

struct req_list {
	TAILQ_HEAD(, authc_req) q;
	size_t n;
};

struct authc_req {
	struct authc *c;
	TAILQ_ENTRY(authc_req) link;
	struct req_list *list;
	enum req_state state;
	bool zombie; /* sent, but nobody waits for the answer any more */
	enum authproto_verb verb;
	uint64_t id;
	union authc_cb cb;
	void *ctx;
	struct sbuf *line; /* until it is copied to the output buffer */
	char *fail_reason; /* deferred */
	struct evloop_timer *timer;
	struct authc_merge_entry *merge; /* new LOOKUPs may wait for it */
	struct req_list waiters;         /* REQ_MERGED, for its answer */
};

/* One client (authc.c). */
struct authc {
	struct event_base *base;
	char *path;
	char *hello; /* the HELLO line, LF included */
	unsigned int timeout_ms;
	enum conn_state state;
	int fd;
	struct event *ev_read, *ev_write;
	struct sbuf *in;
	struct sbuf *out; /* secret: AUTH lines carry passwords */
	struct evloop_timer *hello_timer, *defer_timer;
	struct req_list queued, sent, deferred;
	void *sent_by_id; /* the sent list's requests, by id (tsearch) */
	struct authc_merge *merge;
	size_t zombies;
	size_t merged; /* requests waiting for another one's answer */
	uint64_t next_id;
	unsigned int failures; /* consecutive failed connects */
	long long retry_at_ms;
	char *last_error;
	bool dying;
	unsigned mechs;     /* AUTHC_MECH_* of the last HELLO (authc_sasl.c) */
	uint64_t next_exch; /* SASL exchange numbers */
};

struct authc_merge *authc_merge_new(void);
/* The table must be empty. */
void authc_merge_deinit(struct authc_merge **m);
/* The request in flight for this key, or NULL. user and from (the
 * envelope sender the sender is known by, without user) may be NULL. */
struct authc_req *authc_merge_find(struct authc_merge *m, const char *addr,
                                   const char *context, const char *user,
                                   const char *from);
/* r is now the request in flight for its key (none may be there);
 *entry_r is what authc_merge_forget() takes. */
void authc_merge_add(struct authc_merge *m, const char *addr,
                     const char *context, const char *user, const char *from,
                     struct authc_req *r, struct authc_merge_entry **entry_r);
/* Take r's entry out of the table (NULL: not in it) and set it NULL. */
void authc_merge_forget(struct authc_merge *m,
                        struct authc_merge_entry **entry);

/* authc.c: a new request of verb (its message in *m_r, for the caller to
 * fill), and starting it (m is freed). */
struct authc_req *authc_req_new(struct authc *c, enum authproto_verb verb,
                                void *ctx, struct authproto_msg **m_r);
struct authc_req *authc_req_start(struct authc_req *r, struct authproto_msg *m);
/* A LOOKUP that waits for the answer to p, which asks the same. */
struct authc_req *authc_req_join(struct authc_req *p, authc_lookup_cb *cb,
                                 void *ctx);
/* Make progress: connect when closed, send what is queued. */
void authc_conn_kick(struct authc *c);

/* authc_sasl.c: remember the mechanisms a HELLO answer m lists. */
void authc_hello_mechs(struct authc *c, const struct authproto_msg *m);

/* Bytes waiting for authd at most (a secret sbuf, sbuf.h). */
#define AUTHC_OUT_MAX ((size_t)64 * 1024 * 1024)

#endif
