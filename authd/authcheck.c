/*
 * authcheck - credential checks, and finding the account for them and for
 * SENDERS (whose list authcheck_senders.c builds); see authcheck.h.
 *
 * Failure counters live in a cache (cache.c) keyed "a:<account DN>" and
 * "c:<client address>", each value a struct fail_count whose entry expires
 * with the lockout observation window that its first failure opened. An
 * account's counter counts the failures that reached the directory (a
 * check refused without a bind counts for its client only): lockguard's
 * cap is about what the directory sees.
 *
 * Every successful bind leaves a verifier of its password (goodpw.h); a
 * password that matches it may pass a capped account (lockguard's
 * LOCKGUARD_FORWARD_KNOWN). Such a bind that fails drops the verifier.
 *
 * A request that needs no search (empty password, a client over its
 * limit) is answered from a zero timer; a user bind runs on a fresh
 * ldconn whose setup does the bind, and the request ends from a timer so
 * that the connection is never freed inside its own callback.
 *
 * Whether a bind may go out at all is lockguard's decision, on the
 * domain's policy as lockpolicy keeps it. When lockguard asks for a fresh
 * read, the request waits (policy_wait) for the read in flight; every
 * waiting request is decided again when that read ends, successful or not.
 */
#include "authcheck.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "cache.h"
#include "dcloc.h"
#include "dirmap.h"
#include "evloop.h"
#include "goodpw.h"
#include "ldfilter.h"
#include "ldpool.h"
#include "lockguard.h"
#include "lockpolicy.h"
#include "log.h"

#define DEFAULT_WINDOW_MS (30ULL * 60 * 1000)
#define BIND_WAIT_MAX 1000 /* checks waiting for a bind slot */
#define DEFAULT_REFRESH_MS (30ULL * 1000)

struct fail_count {
	uint32_t count;
	uint64_t expires_ms;
};

/* --- failure counters ----------------------------------------------------- */

static unsigned fails_get(struct cache *fails, const char *key)
{
	const void *v;
	size_t len;

	if (cache_get(fails, key, strlen(key), evloop_now_ms(), &v, &len,
	              NULL) &&
	    len == sizeof(struct fail_count)) {
		struct fail_count fc;

		memcpy(&fc, v, sizeof(fc));
		return fc.count;
	}
	return 0;
}

static unsigned fails_add(struct authcheck *ac, struct cache *fails,
                          const char *key)
{
	uint64_t now = evloop_now_ms();
	uint64_t domain =
	    ac->policy != NULL ? lockpolicy_window_ms(ac->policy) : 0;
	uint64_t window = ac->opts.lockout_window_ms != 0
	                      ? ac->opts.lockout_window_ms
	                  : domain != 0 ? domain
	                                : DEFAULT_WINDOW_MS;
	struct fail_count fc = {.count = 0, .expires_ms = now + window};
	const void *v;
	size_t len;

	if (cache_get(fails, key, strlen(key), now, &v, &len, NULL) &&
	    len == sizeof(fc))
		memcpy(&fc, v, sizeof(fc));
	fc.count++;
	if (fc.expires_ms > now)
		cache_put(fails, key, strlen(key), &fc, sizeof(fc), false, now,
		          fc.expires_ms - now);
	return fc.count;
}

static unsigned client_delay(unsigned failures)
{
	if (failures == 0)
		return 0;
	if (failures > 6)
		return 8000;
	return 250u << (failures - 1);
}

/*
 * The key of a client's failure counter: its address, an IPv6 client
 * masked to its /64 (one site, however many addresses it rotates
 * through); anything else as it is.
 */
static void client_key(const char *client, char *out, size_t size)
{
	struct in6_addr a6;

	if (inet_pton(AF_INET6, client, &a6) == 1 &&
	    !IN6_IS_ADDR_V4MAPPED(&a6)) {
		char text[INET6_ADDRSTRLEN];

		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, text, sizeof(text));
		snprintf(out, size, "c:%s/64", text);
		return;
	}
	snprintf(out, size, "c:%s", client);
}

static void auth_decide(struct authcheck_req *r);
static void req_finish(struct authcheck_req *r, enum lookup_status status,
                       const char *reason);

/* Too many password checks at once would each open a connection to the
 * directory: past max_binds they wait in order (a full queue: try later). */
static void bind_wait(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;

	if (ac->n_bind_wait >= BIND_WAIT_MAX) {
		log_warn("authcheck",
		         "event=auth_busy user=\"%s\" binds=%u "
		         "waiting=%zu",
		         r->user, ac->binds, ac->n_bind_wait);
		req_finish(r, LOOKUP_TEMPFAIL,
		           "too many password checks at once");
		return;
	}
	TAILQ_INSERT_TAIL(&ac->bind_wait, r, wait_link);
	r->bind_waiting = true;
	ac->n_bind_wait++;
}

/* A user bind ended: the first waiting check decides now. */
static void bind_slot_release(struct authcheck *ac)
{
	struct authcheck_req *r;

	ac->binds--;
	while (!ac->closing && ac->binds < ac->opts.max_binds &&
	       (r = TAILQ_FIRST(&ac->bind_wait)) != NULL) {
		TAILQ_REMOVE(&ac->bind_wait, r, wait_link);
		r->bind_waiting = false;
		ac->n_bind_wait--;
		auth_decide(r);
	}
}

/* --- requests --------------------------------------------------------------
 */

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
		bind_slot_release(ac);
	evloop_timer_free(&r->timer);
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->user);
	free(r->client);
	free(r->dn);
	free(r->account);
	free(r->reason);
	for (size_t i = 0; i < r->n_addrs; i++)
		free(r->addrs[i]);
	free(r->addrs);
	free(r);
}

static void req_deliver(void *ctx)
{
	struct authcheck_req *r = ctx;

	r->ans.account = r->account;
	r->ans.reason = r->reason;
	r->ans.addrs = (const char *const *)r->addrs;
	r->ans.n_addrs = r->n_addrs;
	if (r->kind == REQ_AUTH && (unsigned)r->ans.status < 3)
		r->ac->stats.answers[r->ans.status]++;
	r->cb(&r->ans, r->ctx);
	req_free(r);
}

/* Answer from the loop, after the current callback has returned. */
static void req_finish(struct authcheck_req *r, enum lookup_status status,
                       const char *reason)
{
	r->ans.status = status;
	if (reason != NULL && r->reason == NULL)
		r->reason = alloc_strdup(reason);
	evloop_timer_start(r->timer, 0);
}

/* bound: the directory refused a bind (it counts for the account). */
static void req_fail_credentials(struct authcheck_req *r, const char *why,
                                 bool bound)
{
	struct authcheck *ac = r->ac;
	char key[600];
	unsigned n = 0;

	if (bound) {
		snprintf(key, sizeof(key), "a:%s", r->dn);
		fails_add(ac, ac->account_fails, key);
	}
	if (r->client != NULL) {
		client_key(r->client, key, sizeof(key));
		n = fails_add(ac, ac->client_fails, key);
	}
	r->ans.delay_ms = client_delay(n);
	log_info("authcheck",
	         "event=auth_failed user=\"%s\" client=%s "
	         "reason=\"%s\" client_failures=%u",
	         r->user, r->client != NULL ? r->client : "-", why, n);
	req_finish(r, LOOKUP_NOTFOUND, "authentication failed");
}

static struct authcheck_req *req_new(struct authcheck *ac, enum req_kind kind,
                                     const char *user, authcheck_cb *cb,
                                     void *ctx)
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

/* Is the password the one that last worked for the account? The slow hash
 * runs once per request at most, and only where there is a verifier. */
static bool req_known(struct authcheck_req *r)
{
	if (!r->known_tested) {
		r->known_tested = true;
		r->known = goodpw_match(r->ac->known, r->dn, r->password,
		                        evloop_now_ms());
	}
	return r->known;
}

static void known_put(struct authcheck_req *r)
{
	unsigned char salt[GOODPW_SALT_LEN];

	if (gnutls_rnd(GNUTLS_RND_NONCE, salt, sizeof(salt)) == 0)
		goodpw_put(r->ac->known, r->dn, r->password, salt,
		           evloop_now_ms());
	else
		goodpw_drop(r->ac->known, r->dn);
}

static void bind_state(struct ldconn *c, enum ldconn_state state,
                       const char *reason, void *ctx)
{
	struct authcheck_req *r = ctx;
	char key[600];

	if ((state == LDCONN_STATE_UP || state == LDCONN_STATE_DOWN) &&
	    r->binding) {
		r->binding = false;
		bind_slot_release(r->ac);
	}
	if (state == LDCONN_STATE_UP) {
		/* A success through the spare leaves the window's count as it
		 * is: the strangers who used up the cap stay capped (and AD
		 * resets badPwdCount only on the DC that took this bind). */
		if (!r->known_forward) {
			snprintf(key, sizeof(key), "a:%s", r->dn);
			cache_remove(r->ac->account_fails, key, strlen(key));
		}
		known_put(r);
		log_info("authcheck", "event=auth_ok user=\"%s\" dn=\"%s\"",
		         r->user, r->dn);
		req_finish(r, LOOKUP_OK, NULL);
		return;
	}
	if (state != LDCONN_STATE_DOWN)
		return;
	if (ldconn_last_code(c) == LDAP_INVALID_CREDENTIALS) {
		/* The password that worked no longer does (changed, expired,
		 * or the account was locked): forget it, so that it passes a
		 * capped account once at most. */
		if (req_known(r)) {
			goodpw_drop(r->ac->known, r->dn);
			req_fail_credentials(r,
			                     "wrong password, the one that "
			                     "last worked: forgotten",
			                     true);
			return;
		}
		req_fail_credentials(r, "wrong password", true);
		return;
	}
	log_warn("authcheck", "event=auth_tempfail user=\"%s\" error=\"%s\"",
	         r->user, reason != NULL ? reason : "?");
	req_finish(r, LOOKUP_TEMPFAIL, "directory unavailable for the check");
}

/* Decide whether this request's bind may go out, and start it if so. */
static void auth_decide(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;
	uint64_t now = evloop_now_ms();
	struct lockguard_policy p = {.configured = true,
	                             .threshold = ac->opts.lockout_threshold,
	                             .confirmed = r->policy_confirmed,
	                             .pso = r->pso};
	struct dcloc_dc *dc;
	struct ldconn_options o = ac->opts.conn;
	const struct authcheck_req *other;
	char key[600];
	unsigned failures, cap;
	enum lockguard_verdict v;

	if (ac->policy != NULL && ac->opts.lockout_threshold == 0) {
		p.configured = false;
		lockpolicy_fill(ac->policy, now, &p);
	}
	/* Every slot busy: wait for one, and decide then, with the counts
	 * of that moment. */
	if (ac->binds >= ac->opts.max_binds) {
		bind_wait(r);
		return;
	}
	snprintf(key, sizeof(key), "a:%s", r->dn);
	failures = fails_get(ac->account_fails, key);
	if (r->bad_pwd > failures)
		failures = r->bad_pwd;
	/* Binds for this account still in flight may all fail: count them,
	 * or guesses sent at once would all reach the directory. */
	LIST_FOREACH(other, &ac->reqs, link)
		if (other != r && other->binding &&
		    strcasecmp(other->dn, r->dn) == 0)
			failures++;
	v = lockguard_decide(&ac->guard, &p, now, failures, false, &cap);
	/* Capped: the password that last worked may still go out. */
	if (v == LOCKGUARD_REFUSE && req_known(r))
		v = lockguard_decide(&ac->guard, &p, now, failures, true, &cap);
	switch (v) {
	case LOCKGUARD_READ:
		log_debug("authcheck",
		          "event=auth_wait_policy user=\"%s\" "
		          "failures=%u policy=%s",
		          r->user, failures,
		          lockguard_policy_name(&p, &ac->guard, now));
		r->policy_wait = true;
		lockpolicy_read(ac->policy);
		return;
	case LOCKGUARD_REFUSE:
		/* One more wrong guess could lock the account: stop here. */
		log_warn("authcheck",
		         "event=auth_throttled user=\"%s\" failures=%u "
		         "threshold=%u cap=%u policy=%s",
		         r->user, failures, p.threshold, cap,
		         lockguard_policy_name(&p, &ac->guard, now));
		r->ac->stats.throttled++;
		req_fail_credentials(r, "too many failures for this account",
		                     false);
		return;
	case LOCKGUARD_FORWARD_KNOWN:
		log_info("authcheck",
		         "event=auth_known_password user=\"%s\" failures=%u "
		         "cap=%u policy=%s",
		         r->user, failures, cap,
		         lockguard_policy_name(&p, &ac->guard, now));
		r->known_forward = true;
		break;
	case LOCKGUARD_FORWARD:
		break;
	}
	dc = dcloc_next_up(ac->loc, NULL, now);
	if (dc == NULL) {
		req_finish(r, LOOKUP_TEMPFAIL, "no directory server available");
		return;
	}
	o.uri = dc->uri;
	o.bind = LDCONN_BIND_SIMPLE;
	o.bind_dn = r->dn;
	o.password = r->password;
	r->bind = ldconn_new(ac->base, &o, bind_state, r);
	r->binding = true;
	ac->binds++;
	log_debug("authcheck",
	          "event=auth_bind user=\"%s\" binds=%u "
	          "waiting=%zu",
	          r->user, ac->binds, ac->n_bind_wait);
	ldconn_connect(r->bind);
}

static void auth_bind(struct authcheck_req *r,
                      const struct dirmap_account *acct)
{
	if (acct->blocked != NULL) {
		goodpw_drop(r->ac->known, r->dn);
		log_info("authcheck",
		         "event=auth_refused user=\"%s\" "
		         "reason=\"%s\"",
		         r->user, acct->blocked);
		req_finish(r, LOOKUP_NOTFOUND, "authentication failed");
		return;
	}
	r->bad_pwd = acct->bad_pwd_count;
	r->pso = acct->pso;
	auth_decide(r);
}

/* A policy read ended: decide again for every request that waited. */
static void policy_wake(bool ok, void *ctx)
{
	struct authcheck *ac = ctx;
	bool again;

	do {
		again = false;
		struct authcheck_req *r;

		LIST_FOREACH(r, &ac->reqs, link) {
			if (!r->policy_wait)
				continue;
			r->policy_wait = false;
			r->policy_confirmed = ok;
			/* Scan again from the start after each decision:
			 * safe whatever auth_decide does to the list. */
			auth_decide(r);
			again = true;
			break;
		}
	} while (again);
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
		req_finish(r, LOOKUP_TEMPFAIL,
		           "two directory accounts match this login");
		return;
	}
	if (res->status != LDCONN_OK && res->status != LDCONN_NO_SUCH_OBJECT) {
		req_finish(r, LOOKUP_TEMPFAIL, "directory unavailable");
		return;
	}
	if (res->n_entries == 0) {
		if (r->kind == REQ_AUTH)
			req_fail_credentials(r, "no such account", false);
		else
			req_finish(r, LOOKUP_NOTFOUND, "no such account");
		return;
	}
	e = &res->entries[0];
	if (dirmap_account(r->ac->opts.dirmap, e, &acct, &error) < 0) {
		log_warn("authcheck",
		         "event=unreadable user=\"%s\" dn=\"%s\" "
		         "error=\"%s\"",
		         r->user, e->dn, error);
		req_finish(r, LOOKUP_TEMPFAIL, "directory value unreadable");
		return;
	}
	r->account = alloc_strdup(acct.name != NULL ? acct.name : r->user);
	if (r->kind == REQ_AUTH) {
		r->dn = alloc_strdup(e->dn);
		auth_bind(r, &acct);
	} else if (authcheck_senders_collect(r, e)) {
		req_finish(r, LOOKUP_OK, NULL);
	} else {
		req_finish(r, LOOKUP_NOTFOUND, "the account has no address");
	}
}

static void account_search(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;
	struct ldconn_search s = {.base = ac->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .attrs =
	                              dirmap_account_attrs(ac->opts.dirmap),
	                          .size_limit = 2};
	char *filter = NULL;
	const char *error;

	if (ldfilter_expand(ac->filter, r->user, strlen(r->user), &filter,
	                    &error) < 0) {
		/* A login name the filter cannot hold is no account. */
		if (r->kind == REQ_AUTH)
			req_fail_credentials(r, error, false);
		else
			req_finish(r, LOOKUP_NOTFOUND, error);
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
	struct authcheck_req *r = req_new(ac, REQ_AUTH, user, cb, ctx);
	char key[600];
	unsigned n;

	r->password = alloc_strdup(password != NULL ? password : "");
	r->client = client != NULL ? alloc_strdup(client) : NULL;
	if (*r->password == '\0' || *user == '\0') {
		/* An empty password would be an anonymous bind: it succeeds. */
		req_fail_credentials(r, "empty user or password", false);
		return r;
	}
	if (r->client != NULL) {
		client_key(r->client, key, sizeof(key));
		n = fails_get(ac->client_fails, key);
		if (n >= ac->opts.client_max_failures) {
			r->ans.delay_ms = client_delay(n);
			log_warn("authcheck",
			         "event=client_throttled "
			         "client=%s failures=%u",
			         r->client, n);
			ac->stats.throttled++;
			req_finish(r, LOOKUP_NOTFOUND,
			           "too many failures from this client");
			return r;
		}
	}
	account_search(r);
	return r;
}

struct authcheck_req *authcheck_senders(struct authcheck *ac, const char *user,
                                        authcheck_cb *cb, void *ctx)
{
	struct authcheck_req *r = req_new(ac, REQ_SENDERS, user, cb, ctx);

	account_search(r);
	return r;
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
	if (opts->ad)
		ac->policy = lockpolicy_new(
		    base, pool,
		    opts->policy_dn != NULL ? opts->policy_dn : ac->base_dn,
		    opts->policy_refresh_ms != 0 ? opts->policy_refresh_ms
		                                 : DEFAULT_REFRESH_MS,
		    policy_wake, ac);
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
	lockpolicy_deinit(&ac->policy);
	cache_deinit(&ac->account_fails);
	cache_deinit(&ac->client_fails);
	goodpw_deinit(&ac->known);
	for (size_t i = 0; i < ac->opts.n_send_as; i++)
		free(ac->send_as[i]);
	free(ac->send_as);
	free(ac->base_dn);
	free(ac->filter);
	free(ac);
}
