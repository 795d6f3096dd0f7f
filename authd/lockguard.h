/*
 * lockguard.h - may one more password check of an account reach the
 * directory?
 *
 * The pure decision behind "dirmx never causes a directory account lockout,
 * whatever the lockout policy is and however it changes" (DESIGN.md,
 * invariant 9). authcheck counts the failures of an account in the current
 * window (its own, those the directory reports in badPwdCount, and the binds
 * still in flight) and asks here before every bind.
 *
 * Contract:
 * - A known threshold T allows lockguard_budget(T) forwarded failures per
 *   window (T - 2, at least 1): one spare for a race, one for the user.
 * - Threshold 0 (no lockout) still has a cap, a guessing brake:
 *   limits->open_max.
 * - A policy that is not known (never read), or stale (the last successful
 *   read is older than limits->max_age_ms), is read again before the check
 *   (LOCKGUARD_READ), or, when a read cannot help now (the last one just
 *   failed), is replaced by the conservative cap limits->unknown_max (or
 *   the stale policy's own cap if that is smaller).
 * - A policy may change at any moment: a fresh policy that allows more than
 *   limits->unknown_max failures is trusted beyond that cap only when it
 *   was read after this check asked for it (policy->confirmed); otherwise
 *   LOCKGUARD_READ, or, when no read can help, LOCKGUARD_REFUSE. So a
 *   threshold lowered (or set where there was none) is honoured before a
 *   failure past the conservative cap reaches the directory.
 * - A configured threshold (policy->configured) is never read: it is the
 *   policy, 0 meaning none (then the brake applies).
 * - An account under a fine-grained password policy of its own (AD's
 *   msDS-ResultantPSO) whose PSO could not be read (policy->pso) may have
 *   any threshold: it gets the conservative cap (or a smaller one).
 * - A known password (goodpw.h: the one that last worked for the
 *   account, asked with known = true) may spend the race spare: it is
 *   decided as if one failure fewer were counted, and forwarded
 *   (LOCKGUARD_FORWARD_KNOWN) where any other password is refused. Only
 *   where that spare is sure to exist: a threshold that is configured, or
 *   fresh and read (the domain's or the PSO's; confirmed past
 *   unknown_max, as any check), not an unread PSO's, and either 0 (no lockout)
 * or 3 and more (a budget of T - 2). Never under an unknown, stale or PSO
 * policy (its cap is only known to stay below T, not below T - 1), but an
 * unknown or stale one is read first (LOCKGUARD_READ) when a read may help. Why
 * it cannot lock: failures counts the account's failures in the window and
 * every bind still in flight, and checks are decided one at a time (one event
 * loop); a known password goes out only when failures <= T - 2, so even if it
 * fails the directory sees at most T - 1 failures from authd, however checks
 * interleave: the next check, known or not, counts it (in flight, then as a
 * failure) and is refused. authcheck drops the verifier when such a bind fails,
 * so it is spent once; only a success makes a new verifier, and a success
 * through the spare leaves the window's count at the cap (the strangers stay
 *   capped; the user's next known check is at the cap again, not past
 *   it). What it costs: the spare no longer
 *   covers a race between two authd hosts that each forward a known
 *   password at the same moment, and a password the user changed since
 *   it last worked can be that one failure.
 * - Familiar and unfamiliar clients (DESIGN.md invariant 9, second half;
 *   as AD FS's extranet smart lockout): a client from which the account
 *   logged in lately is familiar (famclient.h). Failures from unfamiliar
 *   clients may reach the directory only while the account's count is
 *   below lockguard_unfamiliar_cap(cap), about half the cap; a familiar
 *   client may go on up to the cap. The count is the account's whole
 *   count (authd's own, the directory's badPwdCount, binds in flight), so
 *   strangers, however many hosts they go through, never spend the part
 *   of the cap kept for familiar clients, and both parts together stay
 *   within the cap: the directory still never sees T - 1 failures. A
 *   known password is decided as a familiar client's (it proves more
 *   than an address does).
 * - An account whose PSO was read is decided on the PSO's threshold, as a
 *   known policy (policy->pso false, policy->pso_read true, for logs).
 * - Pure: no clock (now_ms is passed in), no I/O, no logging.
 */
#ifndef DIRMX_LOCKGUARD_H
#define DIRMX_LOCKGUARD_H

#include <stdbool.h>
#include <stdint.h>

enum lockguard_verdict {
	LOCKGUARD_FORWARD, /* bind: even a wrong password cannot lock */
	LOCKGUARD_REFUSE,  /* answer "no" without a bind */
	LOCKGUARD_READ,    /* read the domain's policy, then decide again */
	LOCKGUARD_FORWARD_KNOWN, /* bind: capped, but a known password */
};

struct lockguard_limits {
	unsigned unknown_max; /* failures per window, policy unknown/stale */
	unsigned open_max;    /* failures per window, threshold 0 */
	uint64_t max_age_ms;  /* a policy read longer ago is stale */
};

struct lockguard_policy {
	bool configured;    /* threshold from the configuration, never read */
	unsigned threshold; /* configured, or the domain's last read one */
	bool known;         /* the domain's policy was read successfully */
	uint64_t read_ms;   /* when (monotonic ms) that last read succeeded */
	bool confirmed;     /* read successfully after this check asked */
	bool can_read;      /* a read may help now (none has just failed) */
	bool pso;           /* the account has a fine-grained policy, unread */
	bool pso_read;      /* the threshold is the account's PSO's (read) */
};

/* Forwarded failures per window that a threshold allows. */
unsigned lockguard_budget(unsigned threshold);

/* The part of a cap that unfamiliar clients may use: half, rounded up
 * (at least 1: a user on a new address must still be able to log in). */
unsigned lockguard_unfamiliar_cap(unsigned cap);

/* The verdict for an account with this many failures counted; familiar:
 * the client is (famclient_is_familiar()); known: the password is the one
 * that last worked (goodpw_match()); *cap_r is the cap that was applied
 * (set for every verdict; the unfamiliar part when that refused). */
enum lockguard_verdict lockguard_decide(const struct lockguard_limits *l,
                                        const struct lockguard_policy *p,
                                        uint64_t now_ms, unsigned failures,
                                        bool familiar, bool known,
                                        unsigned *cap_r);

/* "configured", "pso-unread", "domain", "pso", "stale" or "unknown": for
 * logs. */
const char *lockguard_policy_name(const struct lockguard_policy *p,
                                  const struct lockguard_limits *l,
                                  uint64_t now_ms);

#endif
