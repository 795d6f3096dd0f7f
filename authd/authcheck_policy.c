/*
 * authcheck_policy - which lockout policy decides a request (lockguard.h):
 * the configured threshold, the account's fine-grained password policy
 * (PSO) when it names one and it can be read, else the domain's.
 *
 * PSOs are read as the domain policy is (lockpolicy.h, one per PSO DN, at
 * most PSO_MAX, each re-read every policy_refresh_ms once used). An
 * account under a PSO that cannot be read (the service account lacks the
 * right: dirmx-attributes(7)) keeps the conservative cap: lockguard's
 * policy->pso.
 *
 * A request that waits for a read (LOCKGUARD_READ) names the policy it
 * waits for (policy_wait); when that read ends, successful or not, every
 * request waiting for it is decided again.
 */
#include <stdlib.h>
#include <strings.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "lockguard.h"
#include "lockpolicy.h"
#include "log.h"

#define PSO_MAX 64
#define DEFAULT_WINDOW_MS (30ULL * 60 * 1000)

/* The PSO's policy, made on first use; NULL when PSO_MAX are held. */
static struct lockpolicy *pso_policy(struct authcheck *ac, const char *dn)
{
	struct lockpolicy *lp;

	for (size_t i = 0; i < ac->n_psos; i++)
		if (strcasecmp(lockpolicy_dn(ac->psos[i]), dn) == 0)
			return ac->psos[i];
	if (ac->n_psos >= PSO_MAX)
		return NULL;
	lp = lockpolicy_new(ac->base, ac->pool, dn, true, ac->refresh_ms,
	                    authcheck_policy_wake, ac);
	ac->psos = alloc_resize(ac->psos, ac->n_psos + 1, sizeof(*ac->psos));
	ac->psos[ac->n_psos++] = lp;
	return lp;
}

struct lockpolicy *authcheck_policy_fill(struct authcheck_req *r,
                                         uint64_t now_ms,
                                         struct lockguard_policy *p)
{
	struct authcheck *ac = r->ac;
	struct lockpolicy *pso = NULL;

	p->configured = true;
	p->threshold = ac->opts.lockout_threshold;
	p->confirmed = r->policy_confirmed;
	p->pso = r->pso_dn != NULL;
	p->pso_read = false;
	r->window_ms = ac->opts.lockout_window_ms;
	if (ac->policy == NULL || ac->opts.lockout_threshold != 0)
		return NULL;
	p->configured = false;
	if (r->pso_dn != NULL)
		pso = pso_policy(ac, r->pso_dn);
	if (pso != NULL) {
		lockpolicy_fill(pso, now_ms, p);
		/* Readable (now, or before): the PSO decides. */
		if (p->known || p->can_read) {
			p->pso = false;
			p->pso_read = true;
			if (r->window_ms == 0)
				r->window_ms = lockpolicy_window_ms(pso);
			return pso;
		}
		p->confirmed = false;
	}
	lockpolicy_fill(ac->policy, now_ms, p);
	if (r->window_ms == 0)
		r->window_ms = lockpolicy_window_ms(ac->policy);
	return ac->policy;
}

uint64_t authcheck_policy_window_ms(const struct authcheck_req *r)
{
	const struct authcheck *ac = r->ac;
	uint64_t domain =
	    ac->policy != NULL ? lockpolicy_window_ms(ac->policy) : 0;

	/* A request refused before its policy was chosen (no account, a
	 * client over its limit): the configured or the domain's window. */
	return r->window_ms != 0                 ? r->window_ms
	       : ac->opts.lockout_window_ms != 0 ? ac->opts.lockout_window_ms
	       : domain != 0                     ? domain
	                                         : DEFAULT_WINDOW_MS;
}

void authcheck_policy_wake(struct lockpolicy *lp, bool ok, void *ctx)
{
	struct authcheck *ac = ctx;
	bool again;

	do {
		again = false;
		struct authcheck_req *r;

		LIST_FOREACH(r, &ac->reqs, link) {
			if (r->policy_wait != lp)
				continue;
			r->policy_wait = NULL;
			r->policy_confirmed = ok;
			/* Scan again from the start after each decision:
			 * safe whatever it does to the list. */
			authcheck_guard_decide(r);
			again = true;
			break;
		}
	} while (again);
}

void authcheck_policy_deinit(struct authcheck *ac)
{
	for (size_t i = 0; i < ac->n_psos; i++)
		lockpolicy_deinit(&ac->psos[i]);
	free(ac->psos);
	ac->psos = NULL;
	ac->n_psos = 0;
	lockpolicy_deinit(&ac->policy);
}
