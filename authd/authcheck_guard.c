/*
 * authcheck_guard - AUTH's lockout safety and the password bind, for
 * authcheck.c; see authcheck.h.
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
 * A user bind runs on a fresh ldconn whose setup does the bind, and the
 * request ends from a timer (authcheck_req_finish) so that the connection
 * is never freed inside its own callback.
 *
 * Whether a bind may go out at all is lockguard's decision, on the
 * domain's policy as lockpolicy keeps it. When lockguard asks for a fresh
 * read, the request waits (policy_wait) for the read in flight; every
 * waiting request is decided again when that read ends, successful or not.
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "cache.h"
#include "dcloc.h"
#include "dirmap.h"
#include "evloop.h"
#include "goodpw.h"
#include "lockguard.h"
#include "famclient.h"
#include "lockpolicy.h"
#include "log.h"
#include "pdc.h"

#define BIND_WAIT_MAX 1000 /* checks waiting for a bind slot */

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

static unsigned fails_add(struct cache *fails, const char *key, uint64_t window)
{
	uint64_t now = evloop_now_ms();
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

/* The key of a client's failure counter: "c:" and the client's prefix
 * (famclient_prefix(): IPv6 by its /64, one site however many addresses
 * it rotates through). */
static void client_key(const char *client, char *out, size_t size)
{
	char prefix[FAMCLIENT_PREFIX_MAX];

	famclient_prefix(client, prefix);
	snprintf(out, size, "c:%s", prefix);
}

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
		authcheck_req_finish(r, LOOKUP_TEMPFAIL,
		                     "too many password checks at once");
		return;
	}
	TAILQ_INSERT_TAIL(&ac->bind_wait, r, wait_link);
	r->bind_waiting = true;
	ac->n_bind_wait++;
}

/* A user bind ended: the first waiting check decides now. */
void authcheck_bind_release(struct authcheck *ac)
{
	struct authcheck_req *r;

	ac->binds--;
	while (!ac->closing && ac->binds < ac->opts.max_binds &&
	       (r = TAILQ_FIRST(&ac->bind_wait)) != NULL) {
		TAILQ_REMOVE(&ac->bind_wait, r, wait_link);
		r->bind_waiting = false;
		ac->n_bind_wait--;
		authcheck_guard_decide(r);
	}
}

/* --- requests --------------------------------------------------------------
 */

/* bound: the directory refused a bind (it counts for the account). */
void authcheck_fail(struct authcheck_req *r, const char *why, bool bound)
{
	struct authcheck *ac = r->ac;
	char key[600];
	unsigned n = 0;

	if (bound) {
		snprintf(key, sizeof(key), "a:%s", r->dn);
		fails_add(ac->account_fails, key,
		          authcheck_policy_window_ms(r));
	}
	if (r->client != NULL) {
		client_key(r->client, key, sizeof(key));
		n = fails_add(ac->client_fails, key,
		              authcheck_policy_window_ms(r));
	}
	r->ans.delay_ms = client_delay(n);
	log_info("authcheck",
	         "event=auth_failed user=\"%s\" client=%s "
	         "reason=\"%s\" client_failures=%u",
	         r->user, r->client != NULL ? r->client : "-", why, n);
	authcheck_req_finish(r, LOOKUP_NOTFOUND, "authentication failed");
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
		authcheck_bind_release(r->ac);
	}
	if (state == LDCONN_STATE_UP) {
		/* A success past the strangers' part of the cap (a familiar
		 * client's, a known password's) leaves the window's count as
		 * it is: the strangers who used their part stay capped (and AD
		 * resets badPwdCount only on the DC that took this bind). */
		if (!r->past_strangers) {
			snprintf(key, sizeof(key), "a:%s", r->dn);
			cache_remove(r->ac->account_fails, key, strlen(key));
		}
		known_put(r);
		authcheck_familiar_seen(r);
		log_info("authcheck", "event=auth_ok user=\"%s\" dn=\"%s\"",
		         r->user, r->dn);
		authcheck_req_finish(r, LOOKUP_OK, NULL);
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
			authcheck_fail(r,
			               "wrong password, the one that "
			               "last worked: forgotten",
			               true);
			return;
		}
		authcheck_fail(r, "wrong password", true);
		return;
	}
	log_warn("authcheck", "event=auth_tempfail user=\"%s\" error=\"%s\"",
	         r->user, reason != NULL ? reason : "?");
	authcheck_req_finish(r, LOOKUP_TEMPFAIL,
	                     "directory unavailable for the check");
}

unsigned authcheck_guard_failures(const struct authcheck_req *r,
                                  unsigned *own_r, uint64_t *ends_ms_r)
{
	struct authcheck *ac = r->ac;
	const struct authcheck_req *other;
	struct fail_count fc = {0};
	const void *v;
	size_t len;
	char key[600];
	unsigned failures;

	snprintf(key, sizeof(key), "a:%s", r->dn);
	if (cache_get(ac->account_fails, key, strlen(key), evloop_now_ms(), &v,
	              &len, NULL) &&
	    len == sizeof(fc))
		memcpy(&fc, v, sizeof(fc));
	if (ends_ms_r != NULL)
		*ends_ms_r = fc.count > 0 ? fc.expires_ms : 0;
	if (own_r != NULL)
		*own_r = fc.count;
	failures = fc.count;
	if (r->bad_pwd > failures)
		failures = r->bad_pwd;
	/* Binds for this account still in flight may all fail: count them,
	 * or guesses sent at once would all reach the directory. */
	LIST_FOREACH(other, &ac->reqs, link)
		if (other != r && other->binding &&
		    strcasecmp(other->dn, r->dn) == 0)
			failures++;
	return failures;
}

bool authcheck_guard_reset(struct authcheck_req *r)
{
	char key[600];

	snprintf(key, sizeof(key), "a:%s", r->dn);
	return cache_remove(r->ac->account_fails, key, strlen(key));
}

/* Decide whether this request's bind may go out, and start it if so. */
void authcheck_guard_decide(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;
	uint64_t now = evloop_now_ms();
	struct lockguard_policy p;
	struct lockpolicy *policy;
	struct dcloc_dc *dc;
	struct ldconn_options o = ac->opts.conn;
	unsigned failures, cap;
	enum lockguard_verdict v;
	bool familiar;

	policy = authcheck_policy_fill(r, now, &p);
	/* Every slot busy: wait for one, and decide then, with the counts
	 * of that moment. */
	if (ac->binds >= ac->opts.max_binds) {
		bind_wait(r);
		return;
	}
	failures = authcheck_guard_failures(r, NULL, NULL);
	familiar = authcheck_familiar_is(r);
	v = lockguard_decide(&ac->guard, &p, now, failures, familiar, false,
	                     &cap);
	/* Capped: the password that last worked may still go out. */
	if (v == LOCKGUARD_REFUSE && req_known(r))
		v = lockguard_decide(&ac->guard, &p, now, failures, familiar,
		                     true, &cap);
	switch (v) {
	case LOCKGUARD_READ:
		log_debug("authcheck",
		          "event=auth_wait_policy user=\"%s\" "
		          "failures=%u policy=%s",
		          r->user, failures,
		          lockguard_policy_name(&p, &ac->guard, now));
		r->policy_wait = policy;
		lockpolicy_read(policy);
		return;
	case LOCKGUARD_REFUSE:
		/* One more wrong guess could lock the account: stop here. */
		log_warn("authcheck",
		         "event=auth_throttled user=\"%s\" failures=%u "
		         "threshold=%u cap=%u policy=%s client=%s familiar=%s",
		         r->user, failures, p.threshold, cap,
		         lockguard_policy_name(&p, &ac->guard, now),
		         r->client != NULL ? r->client : "-",
		         familiar ? "yes" : "no");
		r->ac->stats.throttled++;
		authcheck_fail(r, "too many failures for this account", false);
		return;
	case LOCKGUARD_FORWARD_KNOWN:
		log_info("authcheck",
		         "event=auth_known_password user=\"%s\" failures=%u "
		         "cap=%u policy=%s",
		         r->user, failures, cap,
		         lockguard_policy_name(&p, &ac->guard, now));
		r->past_strangers = true;
		break;
	case LOCKGUARD_FORWARD:
		/* Past what strangers may use: the user's own check. */
		r->past_strangers = failures >= lockguard_unfamiliar_cap(cap);
		if (r->past_strangers)
			log_info("authcheck",
			         "event=auth_familiar user=\"%s\" client=%s "
			         "familiar=%s failures=%u cap=%u policy=%s",
			         r->user, r->client != NULL ? r->client : "-",
			         familiar ? "yes" : "known-password", failures,
			         cap,
			         lockguard_policy_name(&p, &ac->guard, now));
		break;
	}
	/* Where the count was read (the PDC, else the DC that answered the
	 * search), so that the count read is the one this bind raises. */
	o.uri = r->pdc_read ? pdc_bind_uri(ac->opts.pdc, now) : r->search_dc;
	dc = o.uri == NULL ? dcloc_next_up(ac->loc, NULL, now) : NULL;
	if (o.uri == NULL && dc == NULL) {
		authcheck_req_finish(r, LOOKUP_TEMPFAIL,
		                     "no directory server available");
		return;
	}
	if (o.uri == NULL)
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

/* The account as the PDC has it is read: decide (AUTH) or report. */
static void account_ready(struct authcheck_req *r)
{
	if (r->kind == REQ_STATUS)
		authcheck_status_answer(r);
	else
		authcheck_guard_decide(r);
}

static void pdc_read_done(const struct ldconn_entry *e, const char *uri,
                          const char *error, void *ctx)
{
	struct authcheck_req *r = ctx;
	struct authcheck *ac = r->ac;
	struct dirmap_account acct;

	r->pdc_req = NULL;
	if (e != NULL &&
	    dirmap_account(ac->opts.dirmap, e, &acct, &error) == 0) {
		if (ac->pdc_failing)
			log_info("authcheck", "event=pdc_back pdc=%s",
			         uri != NULL ? uri : "-");
		ac->pdc_failing = false;
		r->pdc_read = true;
		/* Its count is the one that locks; the searched DC's may
		 * still be higher (Samba DCs count apart): the larger. */
		if (acct.bad_pwd_count > r->bad_pwd)
			r->bad_pwd = acct.bad_pwd_count;
		if (acct.blocked != NULL && r->kind == REQ_AUTH) {
			goodpw_drop(ac->known, r->dn);
			log_info("authcheck",
			         "event=auth_refused user=\"%s\" reason=\"%s\" "
			         "pdc=%s",
			         r->user, acct.blocked,
			         uri != NULL ? uri : "-");
			authcheck_req_finish(r, LOOKUP_NOTFOUND,
			                     "authentication failed");
			return;
		}
		if (acct.blocked != NULL && r->blocked == NULL)
			r->blocked = alloc_strdup(acct.blocked);
	} else if (!ac->pdc_failing) {
		/* Logged once per streak; each check falls back alone. */
		ac->pdc_failing = true;
		log_warn("authcheck",
		         "event=pdc_fallback pdc=%s error=\"%s\" "
		         "hint=\"badPwdCount and lockoutTime are read from the "
		         "DC that answered the search; several dirmx hosts may "
		         "then not see each other's failures\"",
		         uri != NULL ? uri : "-", error != NULL ? error : "?");
	}
	account_ready(r);
}

void authcheck_guard_account(struct authcheck_req *r,
                             const struct dirmap_account *acct)
{
	struct authcheck *ac = r->ac;

	if (acct->blocked != NULL && r->kind == REQ_AUTH) {
		goodpw_drop(r->ac->known, r->dn);
		log_info("authcheck",
		         "event=auth_refused user=\"%s\" "
		         "reason=\"%s\"",
		         r->user, acct->blocked);
		authcheck_req_finish(r, LOOKUP_NOTFOUND,
		                     "authentication failed");
		return;
	}
	if (acct->blocked != NULL)
		r->blocked = alloc_strdup(acct->blocked);
	r->bad_pwd = acct->bad_pwd_count;
	if (acct->pso_dn != NULL)
		r->pso_dn = alloc_strdup(acct->pso_dn);
	if (ac->opts.pdc != NULL) {
		r->pdc_req = pdc_read(ac->opts.pdc, r->dn,
		                      dirmap_account_attrs(ac->opts.dirmap),
		                      pdc_read_done, r);
		return;
	}
	account_ready(r);
}

bool authcheck_guard_client(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;
	char key[600];
	unsigned n;

	if (r->client == NULL)
		return false;
	client_key(r->client, key, sizeof(key));
	n = fails_get(ac->client_fails, key);
	if (n < ac->opts.client_max_failures)
		return false;
	r->ans.delay_ms = client_delay(n);
	log_warn("authcheck", "event=client_throttled client=%s failures=%u",
	         r->client, n);
	ac->stats.throttled++;
	authcheck_req_finish(r, LOOKUP_NOTFOUND,
	                     "too many failures from this client");
	return true;
}

bool authcheck_client_throttled(struct authcheck *ac, const char *client,
                                unsigned *delay_ms_r)
{
	char key[600];
	unsigned n;

	*delay_ms_r = 0;
	if (client == NULL)
		return false;
	client_key(client, key, sizeof(key));
	n = fails_get(ac->client_fails, key);
	if (n < ac->opts.client_max_failures)
		return false;
	*delay_ms_r = client_delay(n);
	log_warn("authcheck", "event=client_throttled client=%s failures=%u",
	         client, n);
	ac->stats.throttled++;
	return true;
}
