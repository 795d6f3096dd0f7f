/*
 * authcheck - credential checks, and finding the account for them and for
 * SENDERS (whose list authcheck_senders.c builds); see authcheck.h.
 *
 * The AUTH path past the search (lockout safety, the bind) is
 * authcheck_guard.c's.
 *
 * A request that needs no search (empty password, a client over its
 * limit) is answered from a zero timer; a user bind runs on a fresh
 * ldconn whose setup does the bind, and the request ends from a timer so
 * that the connection is never freed inside its own callback.
 */
#include "authcheck.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ldap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "cache.h"
#include "dirmap.h"
#include "evloop.h"
#include "goodpw.h"
#include "ldfilter.h"
#include "ldpool.h"
#include "lockpolicy.h"
#include "log.h"
#include "pdc.h"
#include "restrict.h"

#define DEFAULT_REFRESH_MS (30ULL * 1000)

static void req_free(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;

	LIST_REMOVE(r, link);
	if (r->bind_waiting) {
		TAILQ_REMOVE(&ac->bind_wait, r, wait_link);
		ac->n_bind_wait--;
	}
	ldpool_req_cancel(&r->search);
	ldconn_deinit(&r->bind);
	if (r->binding)
		authcheck_bind_release(ac);
	evloop_timer_free(&r->timer);
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->user);
	free(r->client);
	free(r->filter);
	free(r->dn);
	free(r->pso_dn);
	free(r->search_dc);
	free(r->blocked);
	free(r->familiar);
	pdc_req_cancel(&r->pdc_req);
	free(r->account);
	free(r->reason);
	for (size_t i = 0; i < r->n_addrs; i++)
		free(r->addrs[i]);
	free(r->addrs);
	for (size_t i = 0; i < r->n_groups; i++)
		free(r->groups[i]);
	free(r->groups);
	free(r);
}

static void req_deliver(void *ctx)
{
	struct authcheck_req *r = ctx;

	r->ans.account = r->account;
	r->ans.reason = r->reason;
	r->ans.addrs = (const char *const *)r->addrs;
	r->ans.n_addrs = r->n_addrs;
	r->ans.dn = r->dn;
	r->ans.groups = (const char *const *)r->groups;
	r->ans.n_groups = r->n_groups;
	if ((r->kind == REQ_AUTH || r->kind == REQ_PRINCIPAL) &&
	    (unsigned)r->ans.status < 3)
		r->ac->stats.answers[r->ans.status]++;
	r->cb(&r->ans, r->ctx);
	req_free(r);
}

/* Answer from the loop, after the current callback has returned. */
void authcheck_req_finish(struct authcheck_req *r, enum lookup_status status,
                          const char *reason)
{
	r->ans.status = status;
	if (reason != NULL && r->reason == NULL)
		r->reason = alloc_strdup(reason);
	evloop_timer_start(r->timer, 0);
}

struct authcheck_req *authcheck_req_new(struct authcheck *ac,
                                        enum req_kind kind, const char *user,
                                        authcheck_cb *cb, void *ctx)
{
	struct authcheck_req *r = alloc_new(struct authcheck_req);

	r->ac = ac;
	r->kind = kind;
	r->user = alloc_strdup(user);
	r->cb = cb;
	r->ctx = ctx;
	r->timer = evloop_timer_new(ac->base, req_deliver, r);
	LIST_INSERT_HEAD(&ac->reqs, r, link);
	return r;
}

static void account_found(const struct ldconn_result *res, const char *dc,
                          void *ctx)
{
	struct authcheck_req *r = ctx;
	const struct ldconn_entry *e;
	struct dirmap_account acct;
	const char *error;

	r->search = NULL;
	if (res->status == LDCONN_SIZELIMIT ||
	    (res->status == LDCONN_OK && res->n_entries > 1)) {
		log_warn("authcheck", "event=duplicate_account user=\"%s\"",
		         r->user);
		authcheck_req_finish(r, LOOKUP_TEMPFAIL,
		                     "two directory accounts match this login");
		return;
	}
	if (res->status != LDCONN_OK && res->status != LDCONN_NO_SUCH_OBJECT) {
		authcheck_req_finish(r, LOOKUP_TEMPFAIL,
		                     "directory unavailable");
		return;
	}
	if (res->n_entries == 0) {
		if (r->kind == REQ_AUTH || r->kind == REQ_PRINCIPAL)
			authcheck_fail(r, "no such account", false);
		else
			authcheck_req_finish(r, LOOKUP_NOTFOUND,
			                     "no such account");
		return;
	}
	e = &res->entries[0];
	/* with the sender's own size limit (restrict.h), for SENDERS and
	 * the restrictions' identity */
	if (dirmap_account(r->ac->opts.dirmap, e, &acct, &error) < 0 ||
	    ((r->kind == REQ_IDENTITY || r->kind == REQ_SENDERS) &&
	     restrict_size_read(e, restrict_send_size_attrs(),
	                        &r->ans.send_max_kb, &error) < 0)) {
		log_warn("authcheck",
		         "event=unreadable user=\"%s\" dn=\"%s\" "
		         "error=\"%s\"",
		         r->user, e->dn, error);
		authcheck_req_finish(r, LOOKUP_TEMPFAIL,
		                     "directory value unreadable");
		return;
	}
	r->account = alloc_strdup(acct.name != NULL ? acct.name : r->user);
	if (r->kind == REQ_PRINCIPAL) {
		r->dn = alloc_strdup(e->dn);
		authcheck_principal_found(r, &acct);
	} else if (r->kind == REQ_RESET) {
		r->dn = alloc_strdup(e->dn);
		r->status.dn = r->dn;
		r->status.cleared = authcheck_guard_reset(r);
		r->ans.acct = &r->status;
		log_info("authcheck",
		         "event=auth_reset user=\"%s\" dn=\"%s\" cleared=%s",
		         r->user, r->dn, r->status.cleared ? "yes" : "no");
		authcheck_req_finish(r, LOOKUP_OK, NULL);
	} else if (r->kind == REQ_IDENTITY) {
		r->dn = alloc_strdup(e->dn);
		authcheck_identity_groups(r);
	} else if (r->kind != REQ_SENDERS) {
		r->dn = alloc_strdup(e->dn);
		r->search_dc = dc != NULL ? alloc_strdup(dc) : NULL;
		authcheck_guard_account(r, &acct);
	} else if (restrict_recip_limit_read(e, &r->ans.recip_limit) < 0) {
		log_warn("authcheck",
		         "event=unreadable user=\"%s\" dn=\"%s\" "
		         "error=\"msExchRecipLimit is not a number\"",
		         r->user, e->dn);
		authcheck_req_finish(r, LOOKUP_TEMPFAIL,
		                     "directory value unreadable");
	} else if (authcheck_senders_collect(r, e)) {
		authcheck_req_finish(r, LOOKUP_OK, NULL);
	} else {
		authcheck_req_finish(r, LOOKUP_NOTFOUND,
		                     "the account has no address");
	}
}

void authcheck_account_search(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;
	struct ldconn_search s = {.base = ac->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .attrs =
	                              dirmap_account_attrs(ac->opts.dirmap),
	                          .size_limit = 2};
	char *filter = NULL;
	const char *error;

	if (r->filter != NULL) {
		filter = r->filter; /* built by its maker, escaped */
		r->filter = NULL;
	} else if (ldfilter_expand(ac->filter, r->user, strlen(r->user),
	                           &filter, &error) < 0) {
		/* A login name the filter cannot hold is no account. */
		if (r->kind == REQ_AUTH)
			authcheck_fail(r, error, false);
		else
			authcheck_req_finish(r, LOOKUP_NOTFOUND, error);
		return;
	}
	s.filter = filter;
	r->search = ldpool_search(ac->pool, &s, account_found, r);
	free(filter);
}

struct authcheck_req *authcheck_auth(struct authcheck *ac, const char *user,
                                     const char *password, const char *client,
                                     authcheck_cb *cb, void *ctx)
{
	struct authcheck_req *r =
	    authcheck_req_new(ac, REQ_AUTH, user, cb, ctx);
	r->password = alloc_strdup(password != NULL ? password : "");
	r->client = client != NULL ? alloc_strdup(client) : NULL;
	if (*r->password == '\0' || *user == '\0') {
		/* An empty password would be an anonymous bind: it succeeds. */
		authcheck_fail(r, "empty user or password", false);
		return r;
	}
	if (authcheck_guard_client(r))
		return r;
	authcheck_account_search(r);
	return r;
}

/* A request whose first step is finding the account. */
static struct authcheck_req *search_req(struct authcheck *ac,
                                        enum req_kind kind, const char *user,
                                        authcheck_cb *cb, void *ctx)
{
	struct authcheck_req *r = authcheck_req_new(ac, kind, user, cb, ctx);

	authcheck_account_search(r);
	return r;
}

struct authcheck_req *authcheck_senders(struct authcheck *ac, const char *user,
                                        authcheck_cb *cb, void *ctx)
{
	return search_req(ac, REQ_SENDERS, user, cb, ctx);
}

struct authcheck_req *authcheck_identity(struct authcheck *ac, const char *user,
                                         authcheck_cb *cb, void *ctx)
{
	return search_req(ac, REQ_IDENTITY, user, cb, ctx);
}

struct authcheck_req *authcheck_status(struct authcheck *ac, const char *user,
                                       authcheck_cb *cb, void *ctx)
{
	return search_req(ac, REQ_STATUS, user, cb, ctx);
}

struct authcheck_req *authcheck_reset(struct authcheck *ac, const char *user,
                                      authcheck_cb *cb, void *ctx)
{
	return search_req(ac, REQ_RESET, user, cb, ctx);
}

void authcheck_cancel(struct authcheck_req **rp)
{
	struct authcheck_req *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	req_free(r);
}

struct authcheck *authcheck_new(struct event_base *base, struct ldpool *pool,
                                struct dcloc *loc,
                                const struct authcheck_options *opts)
{
	struct authcheck *ac = alloc_new(struct authcheck);
	unsigned char key[GOODPW_KEY_LEN] = {0};
	uint64_t seed = 0;

	ac->base = base;
	ac->pool = pool;
	ac->loc = loc;
	ac->opts = *opts;
	ac->base_dn = alloc_strdup(opts->base_dn != NULL ? opts->base_dn : "");
	ac->filter = alloc_strdup(
	    opts->account_filter != NULL ? opts->account_filter
	    : opts->ad ? "(&(objectClass=user)(|(sAMAccountName=%s)"
	                 "(userPrincipalName=%s)(mail=%s)))"
	               : "(|(uid=%s)(mail=%s))");
	ac->address_filter = opts->address_filter != NULL
	                         ? alloc_strdup(opts->address_filter)
	                         : NULL;
	ac->opts.address_filter = NULL;
	ac->send_as = alloc_array(opts->n_send_as + 1, sizeof(char *));
	for (size_t i = 0; i < opts->n_send_as; i++)
		ac->send_as[i] = alloc_strdup(opts->send_as[i]);
	ac->opts.send_as = NULL;
	if (ac->opts.client_max_failures == 0)
		ac->opts.client_max_failures = 20;
	ac->guard.unknown_max = opts->unknown_policy_max_failures != 0
	                            ? opts->unknown_policy_max_failures
	                            : 2;
	ac->guard.open_max = opts->no_lockout_max_failures != 0
	                         ? opts->no_lockout_max_failures
	                         : 10;
	/* Stale after two missed refreshes' worth: one minute by default. */
	ac->guard.max_age_ms =
	    2 * (opts->policy_refresh_ms != 0 ? opts->policy_refresh_ms
	                                      : DEFAULT_REFRESH_MS);
	/* A random seed: a client must not be able to pick colliding keys. */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = evloop_now_ms();
	ac->account_fails = cache_new(100000, 16u * 1024 * 1024, seed);
	ac->client_fails = cache_new(100000, 8u * 1024 * 1024, seed + 1);
	LIST_INIT(&ac->reqs);
	TAILQ_INIT(&ac->bind_wait);
	if (ac->opts.max_binds == 0)
		ac->opts.max_binds = 16;
	/* Without a random key no verifier is kept: no key is better than a
	 * guessable one. */
	if (gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)) == 0)
		ac->known =
		    goodpw_new(key, GOODPW_ITERATIONS, opts->known_password_max,
		               opts->known_password_ttl_ms);
	else
		ac->known = goodpw_new(key, GOODPW_ITERATIONS, 0, 0);
	explicit_bzero(key, sizeof(key));
	authcheck_familiar_init(ac, opts->state_dir);
	ac->opts.state_dir = NULL;
	ac->refresh_ms = opts->policy_refresh_ms != 0 ? opts->policy_refresh_ms
	                                              : DEFAULT_REFRESH_MS;
	if (opts->ad)
		ac->policy = lockpolicy_new(
		    base, pool,
		    opts->policy_dn != NULL ? opts->policy_dn : ac->base_dn,
		    false, ac->refresh_ms, authcheck_policy_wake, ac);
	return ac;
}

void authcheck_start(struct authcheck *ac)
{
	if (ac->policy != NULL)
		lockpolicy_read(ac->policy);
}

void authcheck_get_stats(const struct authcheck *ac,
                         struct authcheck_stats *st_r)
{
	*st_r = ac->stats;
}

void authcheck_deinit(struct authcheck **acp)
{
	struct authcheck *ac = *acp;

	if (ac == NULL)
		return;
	*acp = NULL;
	ac->closing = true;
	while (!LIST_EMPTY(&ac->reqs))
		req_free(LIST_FIRST(&ac->reqs));
	authcheck_policy_deinit(ac);
	authcheck_familiar_deinit(ac);
	cache_deinit(&ac->account_fails);
	cache_deinit(&ac->client_fails);
	goodpw_deinit(&ac->known);
	for (size_t i = 0; i < ac->opts.n_send_as; i++)
		free(ac->send_as[i]);
	free(ac->send_as);
	free(ac->base_dn);
	free(ac->filter);
	free(ac->address_filter);
	free(ac);
}
