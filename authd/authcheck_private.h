/*
 * authcheck_private.h - shared by authcheck.c (finding the account, and
 * AUTH: lockout safety, the bind) and authcheck_senders.c (SENDERS: the
 * addresses an account may send as). Not for other modules.
 */
#ifndef DIRMX_AUTHCHECK_PRIVATE_H
#define DIRMX_AUTHCHECK_PRIVATE_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>

#include "authcheck.h"
#include "lockguard.h"

struct cache;
struct dcloc;
struct event_base;
struct evloop_timer;
struct goodpw;
struct ldpool;
struct ldpool_req;
struct lockpolicy;

enum req_kind { REQ_AUTH, REQ_SENDERS };

struct authcheck {
	struct event_base *base;
	struct ldpool *pool;
	struct dcloc *loc;
	struct authcheck_options opts;
	char *base_dn, *filter;
	char **send_as;
	/* Failure counters, apart so that clients rotating through many
	 * addresses can only evict each other, never an account's count. */
	struct cache *account_fails, *client_fails;
	struct goodpw *known;      /* passwords that last worked */
	struct lockpolicy *policy; /* AD only */
	struct lockguard_limits guard;
	LIST_HEAD(, authcheck_req) reqs;
	/* User binds in flight, and the checks waiting for one to end. */
	unsigned binds;
	struct authcheck_stats stats;
	TAILQ_HEAD(, authcheck_req) bind_wait;
	size_t n_bind_wait;
	bool closing;
};

struct authcheck_req {
	struct authcheck *ac;
	enum req_kind kind;
	char *user, *password, *client;
	authcheck_cb *cb;
	void *ctx;
	struct ldpool_req *search;
	struct ldconn *bind;
	bool binding; /* a bind is in flight: its result is not counted yet */
	bool policy_wait;      /* waits for the policy read in flight */
	bool policy_confirmed; /* a policy read succeeded while it waited */
	unsigned bad_pwd;      /* the directory's badPwdCount */
	bool pso;              /* AD: a fine-grained password policy applies */
	bool known_tested;     /* known is set */
	bool known;            /* the password is the one that last worked */
	bool known_forward;    /* it went out through lockguard's spare */
	char *dn;
	struct evloop_timer *timer;
	struct authcheck_answer ans;
	char *account, *reason;
	char **addrs;
	size_t n_addrs;
	LIST_ENTRY(authcheck_req) link;
	TAILQ_ENTRY(authcheck_req) wait_link;
	bool bind_waiting; /* in bind_wait */
};

/* authcheck_senders.c */
/* Collect the addresses r's account, found as e, may send as into
 * r->addrs; false when there is none. */
bool authcheck_senders_collect(struct authcheck_req *r,
                               const struct ldconn_entry *e);

#endif
