/*
 * authcheck_status - STATUS (dirmxctl auth --status): an account's lockout
 * budgets as the next password check would see them, for authcheck.c.
 *
 * Everything is decided exactly as a check is (authcheck_policy_fill,
 * authcheck_guard_failures, lockguard_decide), once as from a stranger and
 * once as from a familiar client, so that what it shows is what a check
 * would do; it never reads a policy of its own accord (a stale one is
 * named so) and never binds.
 */
#include <stdlib.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "evloop.h"
#include "famclient.h"
#include "lockguard.h"
#include "pdc.h"

void authcheck_status_answer(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;
	struct authcheck_status *st = &r->status;
	uint64_t now = evloop_now_ms(), ends = 0;
	struct lockguard_policy p;
	unsigned cap, failures;

	authcheck_policy_fill(r, now, &p);
	st->policy = lockguard_policy_name(&p, &ac->guard, now);
	/* No read is made here: the budgets as a check would see them once
	 * a read confirmed the policy authd holds (an unknown one gets the
	 * conservative cap, as a check whose read fails). */
	p.can_read = false;
	p.confirmed = p.known;
	failures = authcheck_guard_failures(r, &st->own_failures, &ends);
	st->dn = r->dn;
	st->threshold = p.threshold;
	st->failures = failures;
	st->directory_failures = r->bad_pwd;
	st->counted_at =
	    r->pdc_read && ac->opts.pdc != NULL ? pdc_uri(ac->opts.pdc) : NULL;
	st->familiar_throttled =
	    lockguard_decide(&ac->guard, &p, now, failures, true, false,
	                     &cap) != LOCKGUARD_FORWARD;
	st->cap = cap;
	st->unfamiliar_cap = lockguard_unfamiliar_cap(cap);
	st->strangers_throttled =
	    lockguard_decide(&ac->guard, &p, now, failures, false, false,
	                     &cap) != LOCKGUARD_FORWARD;
	st->ends_in_ms = ends > now ? ends - now : 0;
	st->blocked = r->blocked;
	r->familiar = alloc_array(FAMCLIENT_PER_ACCOUNT, sizeof(*r->familiar));
	st->n_familiar =
	    authcheck_familiar_list(r, r->familiar, FAMCLIENT_PER_ACCOUNT);
	if (st->n_familiar > FAMCLIENT_PER_ACCOUNT)
		st->n_familiar = FAMCLIENT_PER_ACCOUNT;
	st->familiar = r->familiar;
	r->ans.acct = st;
	authcheck_req_finish(r, LOOKUP_OK, NULL);
}
