/*
 * lockguard - may one more password check reach the directory; see
 * lockguard.h.
 */
#include "lockguard.h"

unsigned lockguard_budget(unsigned threshold)
{
	/* A threshold of 1 or 2 leaves no safe budget: one check is the
	 * least that lets anyone in (authcheck warns about such policies). */
	return threshold >= 3 ? threshold - 2 : 1;
}

unsigned lockguard_unfamiliar_cap(unsigned cap)
{
	return cap > 1 ? (cap + 1) / 2 : 1;
}

static unsigned policy_cap(const struct lockguard_limits *l, unsigned threshold)
{
	return threshold != 0 ? lockguard_budget(threshold) : l->open_max;
}

static bool fresh(const struct lockguard_limits *l,
                  const struct lockguard_policy *p, uint64_t now_ms)
{
	if (p->confirmed)
		return true;
	/* A read "from the future" (clock trouble) is not trusted either. */
	return p->known && now_ms >= p->read_ms &&
	       now_ms - p->read_ms <= l->max_age_ms;
}

static enum lockguard_verdict decide(const struct lockguard_limits *l,
                                     const struct lockguard_policy *p,
                                     uint64_t now_ms, unsigned failures,
                                     unsigned *cap_r)
{
	unsigned cap;

	if (p->configured) {
		*cap_r = policy_cap(l, p->threshold);
		if (p->pso && l->unknown_max < *cap_r)
			*cap_r = l->unknown_max;
		return failures >= *cap_r ? LOCKGUARD_REFUSE
		                          : LOCKGUARD_FORWARD;
	}
	if (p->pso) {
		/* Its threshold is the PSO's, unread: unknown, whatever the
		 * domain says (a stale domain policy is not waited for). */
		cap = l->unknown_max;
		if (fresh(l, p, now_ms) && policy_cap(l, p->threshold) < cap)
			cap = policy_cap(l, p->threshold);
		*cap_r = cap;
		return failures >= cap ? LOCKGUARD_REFUSE : LOCKGUARD_FORWARD;
	}
	if (!fresh(l, p, now_ms)) {
		cap = l->unknown_max;
		if (p->known && policy_cap(l, p->threshold) < cap)
			cap = policy_cap(l, p->threshold);
		*cap_r = cap;
		if (failures >= cap)
			return LOCKGUARD_REFUSE;
		return p->can_read ? LOCKGUARD_READ : LOCKGUARD_FORWARD;
	}
	cap = policy_cap(l, p->threshold);
	*cap_r = cap;
	if (failures >= cap)
		return LOCKGUARD_REFUSE;
	if (failures >= l->unknown_max && !p->confirmed) {
		/* Past what an unknown policy allows: only a policy read now
		 * may let this one through (it may have changed since). */
		if (p->can_read)
			return LOCKGUARD_READ;
		*cap_r = l->unknown_max;
		return LOCKGUARD_REFUSE;
	}
	return LOCKGUARD_FORWARD;
}

/* Is the race spare sure to be there: cap + 1 <= T - 1? */
static bool spare(const struct lockguard_limits *l,
                  const struct lockguard_policy *p, uint64_t now_ms)
{
	if (p->pso || (!p->configured && !fresh(l, p, now_ms)))
		return false;
	return p->threshold == 0 || p->threshold >= 3;
}

enum lockguard_verdict lockguard_decide(const struct lockguard_limits *l,
                                        const struct lockguard_policy *p,
                                        uint64_t now_ms, unsigned failures,
                                        bool familiar, bool known,
                                        unsigned *cap_r)
{
	enum lockguard_verdict v = decide(l, p, now_ms, failures, cap_r);

	/* Strangers stop at their part of the cap; a read that may raise
	 * the cap (LOCKGUARD_READ) is still worth waiting for. */
	if (v == LOCKGUARD_FORWARD && !familiar && !known &&
	    failures >= lockguard_unfamiliar_cap(*cap_r)) {
		*cap_r = lockguard_unfamiliar_cap(*cap_r);
		return LOCKGUARD_REFUSE;
	}

	if (v != LOCKGUARD_REFUSE || !known || failures == 0)
		return v;
	/* A stale policy may turn out to leave the spare: ask for a read. */
	if (!p->configured && !p->pso && !fresh(l, p, now_ms) && p->can_read)
		return LOCKGUARD_READ;
	if (!spare(l, p, now_ms))
		return v;
	/* The known password may have the spare; everything else still
	 * applies (a confirming read past unknown_max included). */
	v = decide(l, p, now_ms, failures - 1, cap_r);
	return v == LOCKGUARD_FORWARD ? LOCKGUARD_FORWARD_KNOWN : v;
}

const char *lockguard_policy_name(const struct lockguard_policy *p,
                                  const struct lockguard_limits *l,
                                  uint64_t now_ms)
{
	if (p->configured)
		return "configured";
	if (p->pso)
		return "pso-unread";
	if (!p->known)
		return "unknown";
	if (!fresh(l, p, now_ms))
		return "stale";
	return p->pso_read ? "pso" : "domain";
}
