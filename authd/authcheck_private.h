/*
 * authcheck_private.h - shared by authcheck.c (requests, finding the
 * account), authcheck_guard.c (AUTH: lockout safety, the bind) and
 * authcheck_senders.c (SENDERS: the addresses an account may send as).
 * Not for other modules.
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
struct pdc_req;
struct lockpolicy;

enum req_kind {
	REQ_AUTH,
	REQ_SENDERS,
	REQ_STATUS,
	REQ_RESET,
	REQ_IDENTITY,
	REQ_PRINCIPAL, /* a Kerberos login: map the principal */
};

struct authcheck {
	struct event_base *base;
	struct ldpool *pool;
	struct dcloc *loc;
	struct authcheck_options opts;
	char *base_dn, *filter;
	char *address_filter; /* NULL: none (authcheck_identity_from) */
	char **send_as;
	/* Failure counters, apart so that clients rotating through many
	 * addresses can only evict each other, never an account's count. */
	struct cache *account_fails, *client_fails;
	struct goodpw *known;      /* passwords that last worked */
	struct lockpolicy *policy; /* AD only */
	struct lockpolicy **psos;  /* AD: PSOs met so far */
	size_t n_psos;
	uint64_t refresh_ms;
	/* Clients from which accounts logged in lately (famclient.h). */
	struct famclient *familiar;
	char *familiar_path; /* NULL: kept in memory only */
	bool familiar_dirty; /* changed since the last save */
	struct evloop_timer *familiar_timer;
	struct lockguard_limits guard;
	LIST_HEAD(, authcheck_req) reqs;
	/* User binds in flight, and the checks waiting for one to end. */
	unsigned binds;
	struct authcheck_stats stats;
	TAILQ_HEAD(, authcheck_req) bind_wait;
	size_t n_bind_wait;
	bool closing;
	bool pdc_failing; /* the last PDC read failed (logged once) */
};

struct authcheck_req {
	struct authcheck *ac;
	enum req_kind kind;
	char *user, *password, *client;
	char *filter; /* the account search's own filter, or NULL */
	authcheck_cb *cb;
	void *ctx;
	struct ldpool_req *search;
	struct ldconn *bind;
	bool binding; /* a bind is in flight: its result is not counted yet */
	struct lockpolicy *policy_wait; /* waits for this policy's read */
	bool policy_confirmed;   /* a policy read succeeded while it waited */
	unsigned bad_pwd;        /* the directory's badPwdCount */
	char *pso_dn;            /* AD: the account's PSO (msDS-ResultantPSO) */
	uint64_t window_ms;      /* the deciding policy's window; 0: default */
	bool past_strangers;     /* went out past the strangers' part */
	struct pdc_req *pdc_req; /* reading the account at the PDC */
	bool pdc_read;           /* read there: bind there too */
	char *search_dc;         /* else: the DC that answered the search */
	char *blocked;           /* STATUS: why no bind may be tried */
	struct authcheck_status status;   /* STATUS's answer */
	struct famclient_entry *familiar; /* STATUS */
	bool known_tested;                /* known is set */
	bool known; /* the password is the one that last worked */
	char *dn;
	struct evloop_timer *timer;
	struct authcheck_answer ans;
	char *account, *reason;
	char **addrs;
	size_t n_addrs;
	/* IDENTITY: the groups found (DN keys), the nesting level read
	 * next and where its DNs start in groups */
	char **groups;
	size_t n_groups, level_start;
	unsigned group_depth;
	LIST_ENTRY(authcheck_req) link;
	TAILQ_ENTRY(authcheck_req) wait_link;
	bool bind_waiting; /* in bind_wait */
};

struct dirmap_account;
struct famclient_entry;

/* authcheck.c */
struct authcheck_req *authcheck_req_new(struct authcheck *ac,
                                        enum req_kind kind, const char *user,
                                        authcheck_cb *cb, void *ctx);
/* Find r's account: with r->filter when set (consumed), else the
 * account filter with r->user; then on by r's kind. */
void authcheck_account_search(struct authcheck_req *r);
/* Answer r from the loop, after the current callback has returned. */
void authcheck_req_finish(struct authcheck_req *r, enum lookup_status status,
                          const char *reason);

/* authcheck_guard.c */
/* A failed check: counted for r's client, and for its account when bound
 * (the directory refused a bind); answers NOTFOUND with a client delay. */
void authcheck_fail(struct authcheck_req *r, const char *why, bool bound);
/* Is r's client over its limit? true: r is answered already. */
bool authcheck_guard_client(struct authcheck_req *r);
/* r's account was found as acct: refuse, wait, or bind. */
void authcheck_guard_account(struct authcheck_req *r,
                             const struct dirmap_account *acct);
/* A user bind ended (its slot is free). */
void authcheck_bind_release(struct authcheck *ac);
/* Decide whether r's bind may go out (again, after a policy read). */
void authcheck_guard_decide(struct authcheck_req *r);
/* The failures that decide r: authd's own in the window, the directory's
 * count, binds in flight; *own_r and *ends_ms_r (may be NULL): authd's
 * own count, and when it ends (monotonic ms; 0: none). */
unsigned authcheck_guard_failures(const struct authcheck_req *r,
                                  unsigned *own_r, uint64_t *ends_ms_r);
/* Forget authd's own count for r's account; true when there was one. */
bool authcheck_guard_reset(struct authcheck_req *r);

/* authcheck_status.c */
/* STATUS: r's account is read (and at the PDC): answer. */
void authcheck_status_answer(struct authcheck_req *r);

/* authcheck_policy.c */
/* The policy that decides r into *p; returns the lockpolicy to read when
 * lockguard asks for a read (NULL: a configured threshold). */
struct lockpolicy *authcheck_policy_fill(struct authcheck_req *r,
                                         uint64_t now_ms,
                                         struct lockguard_policy *p);
/* The observation window of r's failures (after authcheck_policy_fill). */
uint64_t authcheck_policy_window_ms(const struct authcheck_req *r);
/* lockpolicy_cb: a read of lp ended. */
void authcheck_policy_wake(struct lockpolicy *lp, bool ok, void *ctx);
/* Free the domain's and the PSOs' policies. */
void authcheck_policy_deinit(struct authcheck *ac);

/* authcheck_familiar.c */
/* Make ac->familiar, and read it from state_dir (NULL: memory only). */
void authcheck_familiar_init(struct authcheck *ac, const char *state_dir);
/* Save what is unsaved, then free. */
void authcheck_familiar_deinit(struct authcheck *ac);
/* Is r's client familiar to its account (r->dn)? */
bool authcheck_familiar_is(const struct authcheck_req *r);
/* r's password check succeeded: its client is familiar from now on. */
void authcheck_familiar_seen(struct authcheck_req *r);
/* famclient_list() for r's account. */
size_t authcheck_familiar_list(const struct authcheck_req *r,
                               struct famclient_entry *out, size_t max);

/* authcheck_senders.c */
/* Collect the addresses r's account, found as e, may send as into
 * r->addrs; false when there is none. */
bool authcheck_senders_collect(struct authcheck_req *r,
                               const struct ldconn_entry *e);

/* authcheck_principal.c */
/* PRINCIPAL: r's account is found (r->dn) as acct: answer. */
void authcheck_principal_found(struct authcheck_req *r,
                               const struct dirmap_account *acct);

/* authcheck_identity.c */
/* IDENTITY: r's account is found (r->dn): read its groups, then answer. */
void authcheck_identity_groups(struct authcheck_req *r);

#endif
