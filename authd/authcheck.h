/*
 * authcheck.h - are these credentials good, and who may send as what?
 *
 * AUTH finds the account with the configured account filter through the
 * lookup pool, then proves the password by binding as that account over
 * TLS on a connection of its own (a user bind changes a connection's
 * identity, so it never touches the pool). The answer is OK (with the
 * canonical account name), NOTFOUND (bad credentials, unknown, disabled or
 * locked account, too many failures) or TEMPFAIL (directory trouble).
 *
 * It must never be the reason an account is locked out in AD: failures
 * are counted per account and per client address inside the lockout
 * observation window, and guesses for an account stop reaching the
 * directory before the domain's lockoutThreshold (read from the domain
 * object on AD, configured otherwise) — also counting the failures the
 * directory itself reports in badPwdCount (on AD read at the PDC emulator,
 * pdc.h, where the bind then goes too, so that several dirmx hosts meet in
 * one count). A user under a fine-grained password policy is protected at
 * its PSO's threshold when the PSO can be read. The policy may change at any
 * time: it is re-read every policy_refresh_ms, a check waits for a fresh
 * read when the last one is older than twice that, and a failure past
 * unknown_policy_max_failures reaches the directory only after a read made
 * for it (lockguard.h has the rules). With no lockout policy a guessing
 * brake (no_lockout_max_failures) still applies. Strangers who use up an
 * account's cap do not lock its user out: the password that last worked
 * (kept as a salted, slow verifier for known_password_ttl_ms, never as
 * itself) still goes out, once more than the cap allows at most (lockguard.h
 * says why that cannot lock). A disabled or locked account (what marks
 * one is dirmap's answer, under the configured mapping) answers "no"
 * without a bind. An empty password is refused at once: an
 * empty-password bind is an anonymous bind, which succeeds.
 *
 * Strangers cannot use up a user's budget: failures from clients that are
 * not familiar (famclient.h: no successful login from them within
 * familiar_client_days) may reach the directory only up to about half the
 * cap (lockguard.h); the rest is the familiar clients'.
 *
 * Failing clients are told to slow down (delay_ms in the answer grows with
 * their failures); routerd waits that long before it replies.
 *
 * SENDERS lists the addresses an account may use as envelope sender: its
 * mail, proxyAddresses and mailLocalAddress values, plus send-as grants
 * from the configuration ("user address" items).
 */
#ifndef DIRMX_AUTHCHECK_H
#define DIRMX_AUTHCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ldconn.h"
#include "lookup.h"

struct event_base;
struct ldpool;
struct dcloc;
struct dirmap;
struct famclient_entry;
struct pdc;

struct authcheck_options {
	struct ldconn_options conn; /* TLS settings for the user binds */
	const char *base_dn;
	const char *policy_dn;      /* AD: the domain object; NULL: base_dn */
	const char *account_filter; /* template: %s is the login name */
	bool ad;
	/* What an entry means (disabled, locked, addresses); must outlive
	 * the authcheck. */
	const struct dirmap *dirmap;
	unsigned lockout_threshold;   /* 0: the domain's (AD) or none */
	uint64_t lockout_window_ms;   /* default 30 min */
	unsigned client_max_failures; /* per window; default 20 */
	/* Per account and window, failures that may reach the directory while
	 * the domain's policy is unknown or stale (default 2), and when it
	 * has no lockout (threshold 0, a guessing brake; default 10). */
	unsigned unknown_policy_max_failures;
	unsigned no_lockout_max_failures;
	uint64_t policy_refresh_ms; /* AD: re-read period; default 30 s */
	/* Verifiers of the passwords that last worked (goodpw.h): how long
	 * one is kept, and how many; 0: none (a capped account then refuses
	 * every password). */
	uint64_t known_password_ttl_ms;
	size_t known_password_max;
	/* Familiar clients (famclient.h): a client from which the account
	 * logged in within familiar_client_days keeps the part of the budget
	 * that strangers cannot spend; at most familiar_clients_max accounts
	 * are remembered (0, or 0 days: every client is a stranger), in
	 * state_dir/familiar-clients (NULL: in memory only). */
	uint64_t familiar_client_days;
	size_t familiar_clients_max;
	const char *state_dir;
	/* User binds (password checks) in flight at most; more wait. 0: 16. */
	unsigned max_binds;
	/* AD: the PDC emulator, where badPwdCount and lockoutTime are read
	 * and passwords bound (pdc.h); NULL: the searched DC's. */
	struct pdc *pdc;
	const char *const *send_as; /* "user address" items */
	size_t n_send_as;
	/* Which entry owns an address (template: %s the address; the
	 * recipients' filter): authcheck_identity_from(). NULL: none. */
	const char *address_filter;
};

/* STATUS: an account's lockout budgets, as authd sees them now. */
struct authcheck_status {
	const char *dn;
	const char *policy;      /* configured, domain, pso, stale, unknown */
	unsigned threshold;      /* the deciding policy's (0: none) */
	unsigned cap;            /* failures that may reach the directory */
	unsigned unfamiliar_cap; /* of which, from unfamiliar clients */
	unsigned failures;       /* counted now (the larger of the next two,
	                            plus binds in flight) */
	unsigned own_failures;   /* authd's own, in the window */
	unsigned directory_failures; /* badPwdCount as read */
	const char *counted_at;      /* the PDC's URI when read there */
	bool strangers_throttled;    /* unfamiliar clients refused now */
	bool familiar_throttled;     /* familiar clients refused now */
	uint64_t ends_in_ms; /* authd's own count ends in; 0: no count */
	const char *blocked; /* disabled or locked in the directory */
	size_t n_familiar;   /* familiar clients, most recent first */
	const struct famclient_entry *familiar;
	bool cleared; /* RESET: authd had a count for the account */
};

struct authcheck_answer {
	enum lookup_status status;
	const struct authcheck_status *acct; /* STATUS and RESET */
	const char *account;                 /* OK: canonical account name */
	const char *reason;                  /* NOTFOUND / TEMPFAIL */
	unsigned delay_ms; /* wait this long before replying */
	size_t n_addrs;    /* SENDERS */
	const char *const *addrs;
	unsigned recip_limit; /* SENDERS: msExchRecipLimit; 0: none */
	/* SENDERS, IDENTITY: submissionContLength in KB; 0: none */
	uint64_t send_max_kb;
	const char *dn;  /* IDENTITY: the account's DN */
	size_t n_groups; /* IDENTITY: its groups, nested, as DN keys */
	const char *const *groups;
};

typedef void authcheck_cb(const struct authcheck_answer *ans, void *ctx);

struct authcheck;
struct authcheck_req;

struct authcheck *authcheck_new(struct event_base *base, struct ldpool *pool,
                                struct dcloc *loc,
                                const struct authcheck_options *opts);
void authcheck_deinit(struct authcheck **ac);
/* Read the domain's lockout policy (AD); harmless elsewhere. */
void authcheck_start(struct authcheck *ac);

/* Callbacks are called exactly once, never inside these calls. */
struct authcheck_req *authcheck_auth(struct authcheck *ac, const char *user,
                                     const char *password, const char *client,
                                     authcheck_cb *cb, void *ctx);
struct authcheck_req *authcheck_senders(struct authcheck *ac, const char *user,
                                        authcheck_cb *cb, void *ctx);
/* IDENTITY: the account's DN and every group it belongs to, nested
 * (authcheck_identity.c says what that costs); NOTFOUND: no account. */
struct authcheck_req *authcheck_identity(struct authcheck *ac, const char *user,
                                         authcheck_cb *cb, void *ctx);
/* The same for the entry that owns the envelope sender addr (found with
 * the address filter, as a recipient is), for
 * trust_envelope_sender_for_restrictions; NOTFOUND: no entry owns it. */
struct authcheck_req *authcheck_identity_from(struct authcheck *ac,
                                              const char *addr,
                                              authcheck_cb *cb, void *ctx);
/* STATUS: the budgets of user's account; RESET: forget authd's own count
 * of its failures (the directory's badPwdCount is never touched). */
struct authcheck_req *authcheck_status(struct authcheck *ac, const char *user,
                                       authcheck_cb *cb, void *ctx);
struct authcheck_req *authcheck_reset(struct authcheck *ac, const char *user,
                                      authcheck_cb *cb, void *ctx);
void authcheck_cancel(struct authcheck_req **req);

/*
 * Kerberos SMTP AUTH (authcheck_principal.c): the ticket proved principal
 * (name or name@REALM; realm: the service's own): find its account and
 * answer as AUTH does (OK with the canonical account). principal NULL: the
 * exchange failed (why): count the failure against client as a wrong
 * password would be counted, and answer NOTFOUND with the client's delay.
 */
struct authcheck_req *authcheck_kerberos(struct authcheck *ac,
                                         const char *principal,
                                         const char *realm, const char *why,
                                         const char *client, authcheck_cb *cb,
                                         void *ctx);
/* Is client over its failure limit? (*delay_ms_r: how long it waits.) */
bool authcheck_client_throttled(struct authcheck *ac, const char *client,
                                unsigned *delay_ms_r);

/* AUTH answers by enum lookup_status (OK: accepted, NOTFOUND: refused,
 * TEMPFAIL), and how many refusals were throttled: refused before the
 * directory saw the guess (the account's or the client's budget). */
struct authcheck_stats {
	uint64_t answers[3];
	uint64_t throttled;
};
void authcheck_get_stats(const struct authcheck *ac,
                         struct authcheck_stats *st_r);

#endif
