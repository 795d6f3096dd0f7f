/*
 * lockpolicy - the domain's lockout policy, read and kept fresh; see
 * lockpolicy.h.
 *
 * Not done: following the domain object with AD's change notification
 * control (1.2.840.113556.1.4.528, which Samba implements) would tell a
 * change sooner, but ldconn has no search that never ends (each search
 * collects its whole result under a timeout). Safety does not need it:
 * lockguard lets a failure past the small cap through only after a read
 * made for it.
 */
#include "lockpolicy.h"

#include <ldap.h>
#include <stdlib.h>

#include "alloc.h"
#include "buf.h"
#include "dcloc.h"
#include "evloop.h"
#include "ldconn.h"
#include "ldpool.h"
#include "log.h"

struct lockpolicy {
	struct ldpool *pool;
	char *dn;
	const char *threshold_attr, *window_attr;
	bool pso;
	uint64_t refresh_ms;
	lockpolicy_cb *cb;
	void *ctx;
	unsigned threshold;
	uint64_t window_ms;
	bool known;         /* read successfully at least once */
	uint64_t read_ms;   /* when the last successful read ended */
	uint64_t failed_ms; /* when the last read failed, or 0 */
	struct ldpool_req *req;
	struct evloop_timer *timer;
};

/* The first value of an attribute as a whole decimal number, optionally
 * negative; false when absent or malformed. */
static bool number0(const struct ldconn_entry *e, const char *name,
                    bool *negative_r, uint64_t *v_r)
{
	const struct ldconn_attr *a = ldconn_entry_attr(e, name);
	struct buf b;

	if (a == NULL || a->n_values == 0)
		return false;
	buf_init(&b, a->values[0].data, a->values[0].len);
	*negative_r = buf_consume_char(&b, '-');
	return buf_fetch_uint(&b, INT64_MAX, v_r) && buf_remaining(&b) == 0;
}

static void read_failed(struct lockpolicy *lp, const char *dc, const char *why)
{
	if (lp->failed_ms == 0 && lp->pso)
		log_warn("lockpolicy",
		         "event=pso_unreadable dc=%s dn=\"%s\" error=\"%s\" "
		         "hint=\"its accounts get the small cap; grant the "
		         "service account read access to the PSO (see "
		         "dirmx-attributes(7))\"",
		         dc != NULL ? dc : "-", lp->dn, why);
	else if (lp->failed_ms == 0)
		log_warn("lockpolicy",
		         "event=lockout_policy_unreadable dc=%s dn=\"%s\" "
		         "error=\"%s\" hint=\"a small cap per account until "
		         "it is read\"",
		         dc != NULL ? dc : "-", lp->dn, why);
	lp->failed_ms = evloop_now_ms();
	if (lp->failed_ms == 0)
		lp->failed_ms = 1;
	evloop_timer_start(lp->timer, LOCKPOLICY_RETRY_MS);
	lp->cb(lp, false, lp->ctx);
}

/* AD's lockOutObservationWindow is negative, in 100 ns units; an entry
 * without a usable lockoutThreshold is no policy. */
static void loaded(const struct ldconn_result *res, const char *dc, void *ctx)
{
	struct lockpolicy *lp = ctx;
	unsigned threshold;
	uint64_t window = lp->window_ms, v;
	bool neg;

	lp->req = NULL;
	if (res->status != LDCONN_OK) {
		read_failed(lp, dc,
		            res->error != NULL ? res->error : "search failed");
		return;
	}
	if (res->n_entries == 0) {
		read_failed(lp, dc, "no entry");
		return;
	}
	if (!number0(&res->entries[0], lp->threshold_attr, &neg, &v) || neg ||
	    v > UINT16_MAX) {
		read_failed(lp, dc,
		            lp->pso ? "no msDS-LockoutThreshold (not readable?)"
		                    : "no lockoutThreshold");
		return;
	}
	threshold = (unsigned)v;
	if (number0(&res->entries[0], lp->window_attr, &neg, &v) && neg)
		window = v / 10000;
	if (!lp->known || lp->failed_ms != 0 || threshold != lp->threshold ||
	    window != lp->window_ms) {
		log_info("lockpolicy",
		         "event=%s threshold=%u window_ms=%llu dc=%s%s%s%s",
		         lp->pso ? "pso_policy" : "lockout_policy", threshold,
		         (unsigned long long)window, dc != NULL ? dc : "-",
		         lp->pso ? " dn=\"" : "", lp->pso ? lp->dn : "",
		         lp->pso ? "\"" : "");
		if (threshold == 1 || threshold == 2)
			log_warn("lockpolicy",
			         "event=lockout_policy_tight threshold=%u "
			         "hint=\"one wrong SMTP password can lock "
			         "an account\"",
			         threshold);
	}
	lp->threshold = threshold;
	lp->window_ms = window;
	lp->known = true;
	lp->read_ms = evloop_now_ms();
	lp->failed_ms = 0;
	/* Re-read often: an admin may set a threshold where there was none,
	 * and a change must be followed before it can matter. */
	evloop_timer_start(lp->timer, (unsigned)lp->refresh_ms);
	lp->cb(lp, true, lp->ctx);
}

void lockpolicy_read(struct lockpolicy *lp)
{
	const char *const attrs[] = {lp->threshold_attr, lp->window_attr, NULL};
	struct ldconn_search s = {.base = lp->dn,
	                          .scope = LDAP_SCOPE_BASE,
	                          .filter = "(objectClass=*)",
	                          .attrs = attrs};

	if (lp->req == NULL)
		lp->req = ldpool_search(lp->pool, &s, loaded, lp);
}

static void on_timer(void *ctx)
{
	lockpolicy_read(ctx);
}

void lockpolicy_fill(const struct lockpolicy *lp, uint64_t now_ms,
                     struct lockguard_policy *p)
{
	p->known = lp->known;
	p->threshold = lp->threshold;
	p->read_ms = lp->read_ms;
	p->can_read =
	    lp->failed_ms == 0 || now_ms - lp->failed_ms >= LOCKPOLICY_RETRY_MS;
}

uint64_t lockpolicy_window_ms(const struct lockpolicy *lp)
{
	return lp->window_ms;
}

const char *lockpolicy_dn(const struct lockpolicy *lp)
{
	return lp->dn;
}

struct lockpolicy *lockpolicy_new(struct event_base *base, struct ldpool *pool,
                                  const char *dn, bool pso, uint64_t refresh_ms,
                                  lockpolicy_cb *cb, void *ctx)
{
	struct lockpolicy *lp = alloc_new(struct lockpolicy);

	lp->pool = pool;
	lp->dn = alloc_strdup(dn);
	lp->pso = pso;
	lp->threshold_attr = pso ? "msDS-LockoutThreshold" : "lockoutThreshold";
	lp->window_attr =
	    pso ? "msDS-LockoutObservationWindow" : "lockOutObservationWindow";
	lp->refresh_ms = refresh_ms;
	lp->cb = cb;
	lp->ctx = ctx;
	lp->timer = evloop_timer_new(base, on_timer, lp);
	return lp;
}

void lockpolicy_deinit(struct lockpolicy **lpp)
{
	struct lockpolicy *lp = *lpp;

	if (lp == NULL)
		return;
	*lpp = NULL;
	ldpool_req_cancel(&lp->req);
	evloop_timer_free(&lp->timer);
	free(lp->dn);
	free(lp);
}
