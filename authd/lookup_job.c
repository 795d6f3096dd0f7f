/*
 * lookup_job - jobs, tasks, cache hits and coalescing for lookup.c (what
 * the cache keeps is lookup_cache.c).
 *
 * lookup_start() (lookup.c, through lookup_job_start()) answers from the
 * cache when it can, joins a job already running for the same key, or
 * starts a new one. Every answer goes out from a timer or a search
 * callback, never from inside lookup_start(). This file is the engine and
 * calls nothing in lookup.c: what a job does first and what a search's
 * result means come in as callbacks (begin, and lookup_task_send's done).
 * The cache stores an OK answer as "addr\thop\n" lines and a NOTFOUND as
 * a negative entry holding the reason; TEMPFAIL is never cached.
 */
#include <ldap.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <strings.h>
#include <sys/random.h>

#include "addr.h"
#include "alloc.h"
#include "cache.h"
#include "dcloc.h"
#include "dirmap.h"
#include "domains.h"
#include "evloop.h"
#include "ldfilter.h"
#include "ldpool.h"
#include "ldmatch.h"
#include "log.h"
#include "lookup_private.h"
#include "sbuf.h"
#include "str.h"

/*
 * Jobs in flight by (flags, key), for joining: a tree, so that thousands
 * of different lookups in flight (a flood of distinct recipients) cost a
 * logarithm each, not a walk of every job (quadratic in all).
 */
static int job_cmp(const void *a, const void *b)
{
	const struct job *x = a, *y = b;

	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	return strcmp(x->key, y->key);
}

static struct job *job_find(struct lookup *lk, const char *key, unsigned flags)
{
	struct job probe = {.key = (char *)key, .flags = flags};
	struct job **found = tfind(&probe, &lk->job_tree, job_cmp);

	return found != NULL ? *found : NULL;
}

struct lookup_req {
	struct lookup *lk;
	struct job *job;
	lookup_cb *cb;
	void *ctx;
	/* An answer known at once (cache, bad address), sent by timer. */
	struct evloop_timer *timer;
	enum lookup_status status;
	char *reason;
	struct lookup_blob blob; /* a cached OK answer */
	bool cached;
	const char *domain; /* static: lookup_answer's domain */
	char *address;      /* canonical, for the rule (trace only) */
	unsigned flags;
	LIST_ENTRY(lookup_req) link; /* among its job's waiters */
};

/* --- tasks ------------------------------------------------------------ */

static struct task *task_new(struct job *j, enum task_kind kind, unsigned depth)
{
	struct task *t = alloc_new(struct task);

	t->j = j;
	t->kind = kind;
	t->depth = depth;
	t->rnode = j->cur_rnode;
	TAILQ_INSERT_TAIL(&j->queue, t, link);
	return t;
}

void lookup_task_free(struct task *t)
{
	ldpool_req_cancel(&t->req);
	free(t->addr);
	free(t->dn);
	free(t->attr);
	free(t->chain);
	for (size_t i = 0; i < t->n_dns; i++)
		free(t->dns[i]);
	free(t->dns);
	free(t);
}

void lookup_task_addr(struct job *j, const char *addr, unsigned depth,
                      const char *chain)
{
	struct task *t = task_new(j, TASK_ADDR, depth);
	char *lower = lookup_lower_dup(addr);

	t->addr = alloc_strdup(addr);
	t->chain = lookup_chain_add(chain, lower);
	free(lower);
}

void lookup_task_dn(struct job *j, const char *dn, unsigned depth)
{
	struct task *t = task_new(j, TASK_DN, depth);

	t->dn = alloc_strdup(dn);
}

void lookup_task_owner(struct job *j, const char *dn)
{
	struct task *t = task_new(j, TASK_OWNER, 0);

	t->dn = alloc_strdup(dn);
}

void lookup_task_dns(struct job *j, char **dns, size_t n, unsigned depth)
{
	for (size_t i = 0; i < n;) {
		size_t k = n - i < LOOKUP_DN_BATCH ? n - i : LOOKUP_DN_BATCH;
		struct task *t;

		if (k == 1) {
			lookup_task_dn(j, dns[i], depth);
			free(dns[i++]);
			continue;
		}
		t = task_new(j, TASK_DNS, depth);
		t->dns = alloc_array(k, sizeof(char *));
		memcpy(t->dns, dns + i, k * sizeof(char *));
		t->n_dns = k;
		i += k;
	}
	free(dns);
}

void lookup_task_range(struct job *j, const char *dn, const char *attr,
                       unsigned start, unsigned depth)
{
	struct task *t = task_new(j, TASK_RANGE, depth);

	t->dn = alloc_strdup(dn);
	t->attr = alloc_strdup(attr);
	t->range_start = start;
}

struct task *lookup_task_dequeue(struct job *j)
{
	struct task *t = TAILQ_FIRST(&j->queue);

	TAILQ_REMOVE(&j->queue, t, link);
	return t;
}

static void running_remove(struct job *j, struct task *t)
{
	TAILQ_REMOVE(&j->running, t, link);
	j->inflight--;
}

void lookup_task_detach(struct task *t)
{
	t->req = NULL;
	running_remove(t->j, t);
}

/* (|(entryDN=a)(entryDN=b)...): members by DN, values escaped. */
static char *dns_filter(const struct job *j, const struct task *t)
{
	const char *attr =
	    dirmap_ad(j->lk->dm) ? "distinguishedName" : "entryDN";
	struct sbuf *f = sbuf_new(SIZE_MAX / 2);
	char *out;

	sbuf_append_str(f, "(|");
	for (size_t i = 0; i < t->n_dns; i++) {
		sbuf_printf(f, "(%s=", attr);
		ldfilter_escape(t->dns[i], strlen(t->dns[i]), f);
		sbuf_append_str(f, ")");
	}
	sbuf_append_str(f, ")");
	out = sbuf_steal(f, NULL);
	sbuf_deinit(&f);
	return out;
}

void lookup_task_send(struct job *j, struct task *t, ldpool_result_cb *done)
{
	struct lookup *lk = j->lk;
	struct ldconn_search s = {.attrs = dirmap_recipient_attrs(lk->dm)};
	struct ldpool *pool;
	const char *range_attrs[2];
	char *filter = NULL, *range = NULL;
	const char *error;

	TAILQ_INSERT_HEAD(&j->running, t, link);
	j->inflight++;
	if (t->kind == TASK_ADDR)
		lookup_tag(j, 'a', t->addr);
	else if (t->kind == TASK_DNS)
		for (size_t i = 0; i < t->n_dns; i++)
			lookup_tag(j, 'd', t->dns[i]);
	else
		lookup_tag(j, 'd', t->dn);
	switch (t->kind) {
	case TASK_ADDR:
		if (ldfilter_expand(lk->map.recipient_filter, t->addr,
		                    strlen(t->addr), &filter, &error) < 0) {
			running_remove(j, t);
			lookup_task_free(t);
			/* Addresses were validated: this is a bad template. */
			log_error("lookup", "event=filter_error error=\"%s\"",
			          error);
			lookup_job_cancel_tasks(j);
			j->status_set = true;
			j->status = LOOKUP_TEMPFAIL;
			j->reason =
			    alloc_strdup("cannot build the search filter");
			return;
		}
		s.base = lk->gc_pool != NULL ? "" : lk->map.base_dn;
		s.scope = LDAP_SCOPE_SUBTREE;
		if (lk->addr_attrs != NULL)
			s.attrs = (const char *const *)lk->addr_attrs;
		s.filter = filter;
		lookup_trace(j, "search base=\"%s\" filter=%s", s.base, filter);
		s.size_limit = 2; /* two owners is an error, not a choice */
		break;
	case TASK_DN:
	case TASK_OWNER:
		s.base = t->dn;
		s.scope = LDAP_SCOPE_BASE;
		s.filter = "(objectClass=*)";
		break;
	case TASK_DNS:
		filter = dns_filter(j, t);
		s.base = lk->map.base_dn;
		s.scope = LDAP_SCOPE_SUBTREE;
		s.filter = filter;
		lookup_trace(j, "search %zu members by DN", t->n_dns);
		break;
	case TASK_RANGE:
		range = alloc_printf("%s;range=%u-*", t->attr, t->range_start);
		range_attrs[0] = range;
		range_attrs[1] = NULL;
		s.base = t->dn;
		s.scope = LDAP_SCOPE_BASE;
		s.filter = "(objectClass=*)";
		s.attrs = range_attrs;
		break;
	}
	j->searches++;
	lk->stats.searches++;
	pool = t->kind == TASK_ADDR && lk->gc_pool != NULL ? lk->gc_pool
	                                                   : lk->pool;
	if (t->kind == TASK_ADDR && lk->batch_addr &&
	    str_is_printable_ascii(t->addr, strlen(t->addr)))
		t->req = ldpool_search_batchable(pool, &s, done, t);
	else
		t->req = ldpool_search(pool, &s, done, t);
	free(filter);
	free(range);
}

unsigned lookup_job_rnode(struct job *j, char *rules, bool top)
{
	j->rnodes =
	    alloc_resize(j->rnodes, j->n_rnodes + 1, sizeof(*j->rnodes));
	j->rnodes[j->n_rnodes].parent = j->cur_rnode;
	j->rnodes[j->n_rnodes].top = top;
	j->rnodes[j->n_rnodes].rules = rules;
	return (unsigned)++j->n_rnodes;
}

void lookup_job_cancel_tasks(struct job *j)
{
	while (!TAILQ_EMPTY(&j->queue))
		lookup_task_free(lookup_task_dequeue(j));
	while (!TAILQ_EMPTY(&j->running)) {
		struct task *t = TAILQ_FIRST(&j->running);

		running_remove(j, t);
		lookup_task_free(t);
	}
}

bool lookup_try_subaddress(struct job *j, struct task *t)
{
	char delim = j->lk->map.subaddress_delim;
	const char *at = strrchr(t->addr, '@');
	const char *plus;
	struct task *n;

	if (delim == '\0' || at == NULL)
		return false;
	plus = memchr(t->addr, delim, (size_t)(at - t->addr));
	if (plus == NULL || plus == t->addr)
		return false;
	n = task_new(j, TASK_ADDR, 0);
	n->addr = alloc_printf("%.*s%s", (int)(plus - t->addr), t->addr, at);
	n->chain = alloc_strdup(t->chain != NULL ? t->chain : "");
	n->stripped = true;
	log_debug("lookup", "event=subaddress address=%s base=%s", t->addr,
	          n->addr);
	return true;
}

/* --- requests and jobs ------------------------------------------------ */

/* What the relay decision needs to know of an address's domain. */
static const char *domain_kind(struct lookup *lk, const char *address)
{
	const char *at = strrchr(address, '@');
	const char *hop;

	if (at == NULL)
		return "external";
	switch (domains_classify(lk->domains, at + 1, &hop)) {
	case DOMAINS_LOCAL:
		return "local";
	case DOMAINS_INTERNAL_RELAY:
		return "internalrelay";
	case DOMAINS_EXTERNAL_RELAY:
		return "relay";
	default:
		return "external";
	}
}

/* Which rule applied (domtable_rule()), when the request wants a trace;
 * NULL otherwise. The caller frees it. */
static char *answer_rule(struct lookup *lk, const char *address, unsigned flags,
                         enum lookup_status status, bool relayed)
{
	const char *at = address != NULL ? strrchr(address, '@') : NULL;
	const char *hop;
	enum domains_outcome o = DOMAINS_DEFERRED;

	if ((flags & LOOKUP_F_TRACE) == 0 || at == NULL)
		return NULL;
	if (status == LOOKUP_NOTFOUND)
		o = DOMAINS_REFUSED;
	else if (status == LOOKUP_OK && relayed)
		o = DOMAINS_RELAYED_UNKNOWN;
	else if (status == LOOKUP_OK)
		switch (domains_classify(lk->domains, at + 1, &hop)) {
		case DOMAINS_LOCAL:
		case DOMAINS_INTERNAL_RELAY:
			o = DOMAINS_FOUND;
			break;
		default:
			o = DOMAINS_NOT_LOOKED_UP;
			break;
		}
	return domains_rule(lk->domains, at + 1, o);
}

static void req_free(struct lookup_req *r)
{
	evloop_timer_free(&r->timer);
	free(r->reason);
	lookup_blob_clear(&r->blob);
	free(r->address);
	free(r);
}

static void req_answer_now(void *ctx)
{
	struct lookup_req *r = ctx;
	char *rule = answer_rule(r->lk, r->address, r->flags, r->status,
	                         r->blob.relayed);
	struct lookup_answer a = {.status = r->status,
	                          .rule = rule,
	                          .reason = r->reason,
	                          .n_dests = r->blob.n_dests,
	                          .dests = r->blob.dests,
	                          .cached = r->cached,
	                          .n_rnodes = r->blob.n_rnodes,
	                          .rnodes = r->blob.rnodes,
	                          .domain = r->domain != NULL ? r->domain
	                                                      : "external"};

	r->cb(&a, r->ctx);
	free(rule);
	req_free(r);
}

static void job_begin_timer(void *ctx)
{
	struct job *j = ctx;

	j->begin(j);
}

struct lookup_req *lookup_job_start(struct lookup *lk, const char *address,
                                    unsigned flags, lookup_cb *cb, void *ctx,
                                    void (*begin)(struct job *j))
{
	struct lookup_req *r = alloc_new(struct lookup_req);
	struct addr *a = NULL;
	const char *error;
	char *key;
	struct job *j;

	r->lk = lk;
	r->cb = cb;
	r->ctx = ctx;
	r->flags = flags;
	lk->stats.lookups++;
	if (addr_parse_mailbox(address, strlen(address), ADDR_ALLOW_UTF8, &a,
	                       &error) < 0) {
		r->status = LOOKUP_NOTFOUND;
		r->reason = alloc_printf("invalid address: %s", error);
		r->timer = evloop_timer_new(lk->base, req_answer_now, r);
		evloop_timer_start(r->timer, 0);
		return r;
	}
	key = lookup_lower_dup(addr_format(a));
	r->domain = domain_kind(lk, addr_format(a));
	if ((flags & LOOKUP_F_TRACE) != 0) /* only answer_rule() reads it */
		r->address = alloc_strdup(addr_format(a));
	if ((flags & LOOKUP_F_NOCACHE) == 0 && lk->cache != NULL) {
		const void *v;
		size_t vlen;
		bool negative;

		if (cache_get(lk->cache, key, strlen(key), evloop_now_ms(), &v,
		              &vlen, &negative)) {
			lk->stats.cache_hits++;
			r->status = negative ? LOOKUP_NOTFOUND : LOOKUP_OK;
			if (negative)
				lk->stats.cache_notfound++;
			else
				lk->stats.cache_ok++;
			r->cached = true;
			if (negative)
				r->reason = alloc_strndup(v, vlen);
			else
				lookup_blob_parse(&r->blob, v, vlen,
				                  addr_format(a));
			r->timer =
			    evloop_timer_new(lk->base, req_answer_now, r);
			evloop_timer_start(r->timer, 0);
			free(key);
			addr_deinit(&a);
			return r;
		}
	}
	j = job_find(lk, key, flags);
	if (j != NULL) {
		lk->stats.coalesced++;
	} else {
		j = alloc_new(struct job);
		j->lk = lk;
		j->key = alloc_strdup(key);
		j->address = alloc_strdup(addr_format(a));
		j->flags = flags;
		j->inval_seq = lk->inval_seq;
		LIST_INIT(&j->waiters);
		TAILQ_INIT(&j->queue);
		TAILQ_INIT(&j->running);
		LIST_INSERT_HEAD(&lk->jobs, j, link);
		if (tsearch(j, &lk->job_tree, job_cmp) == NULL)
			abort(); /* out of memory */
		j->begin = begin;
		j->start = evloop_timer_new(lk->base, job_begin_timer, j);
		evloop_timer_start(j->start, 0);
	}
	r->job = j;
	LIST_INSERT_HEAD(&j->waiters, r, link);
	free(key);
	addr_deinit(&a);
	return r;
}

static void job_free(struct job *j)
{
	LIST_REMOVE(j, link);
	(void)tdelete(j, &j->lk->job_tree, job_cmp);
	lookup_job_cancel_tasks(j);
	evloop_timer_free(&j->start);
	for (size_t i = 0; i < j->n_dests; i++) {
		free((char *)j->dests[i].addr);
		free((char *)j->dests[i].hop);
	}
	free(j->dests);
	for (size_t i = 0; i < j->n_rnodes; i++)
		free((char *)j->rnodes[i].rules);
	free(j->rnodes);
	for (size_t i = 0; i < j->n_trace; i++)
		free(j->trace[i]);
	free(j->trace);
	lookup_set_free(&j->dest_set);
	lookup_set_free(&j->dn_set);
	lookup_set_free(&j->tags);
	free(j->key);
	free(j->address);
	free(j->reason);
	free(j->skip_reason);
	free(j->dc);
	free(j);
}

void lookup_job_finish(struct job *j)
{
	struct lookup *lk = j->lk;
	char *rule = answer_rule(lk, j->address, j->flags, j->status,
	                         j->relayed_unknown);
	struct lookup_answer a = {.status = j->status,
	                          .rule = rule,
	                          .reason = j->reason,
	                          .n_dests = j->n_dests,
	                          .dests = j->dests,
	                          .dc = j->dc,
	                          .n_trace = j->n_trace,
	                          .trace = (const char *const *)j->trace,
	                          .searches = j->searches,
	                          .n_rnodes = j->n_rnodes,
	                          .rnodes = j->rnodes,
	                          .domain = domain_kind(lk, j->address)};

	if (j->status != LOOKUP_OK) {
		a.n_dests = 0;
	}
	switch (j->status) {
	case LOOKUP_OK:
		lk->stats.ok++;
		break;
	case LOOKUP_NOTFOUND:
		lk->stats.notfound++;
		break;
	case LOOKUP_TEMPFAIL:
		lk->stats.tempfail++;
		break;
	}
	lookup_cache_store(j);
	/* Each waiter leaves the list before its callback, which may cancel
	 * another waiter of this job. */
	while (!LIST_EMPTY(&j->waiters)) {
		struct lookup_req *r = LIST_FIRST(&j->waiters);

		LIST_REMOVE(r, link);
		r->job = NULL;
		r->cb(&a, r->ctx);
		req_free(r);
	}
	free(rule);
	job_free(j);
}

void lookup_cancel(struct lookup_req **rp)
{
	struct lookup_req *r = *rp;
	struct job *j;

	if (r == NULL)
		return;
	*rp = NULL;
	j = r->job;
	if (j != NULL) {
		LIST_REMOVE(r, link);
		/* The job goes on for the others, or ends with nobody. */
		if (LIST_EMPTY(&j->waiters) && !j->finishing)
			job_free(j);
	}
	req_free(r);
}

/* --- the lookup object -------------------------------------------------- */

static const char *keep(struct lookup *lk, const char *s)
{
	if (s == NULL)
		return NULL;
	lk->strings =
	    alloc_resize(lk->strings, lk->n_strings + 1, sizeof(char *));
	lk->strings[lk->n_strings] = alloc_strdup(s);
	return lk->strings[lk->n_strings++];
}

/* Can address searches travel together: can ldmatch decide the recipient
 * filter on the entries read? They read the filter's attributes too, for
 * that. (A template with substrings cannot: each of its searches goes
 * alone.) */
static bool batchable(struct lookup *lk)
{
	const char *error;
	char *sample;
	bool ok;

	if (lk->map.recipient_filter == NULL || lk->dm == NULL ||
	    ldfilter_expand(lk->map.recipient_filter, "user@example.org", 16,
	                    &sample, &error) < 0)
		return false;
	lk->addr_attrs =
	    ldmatch_names_add(dirmap_recipient_attrs(lk->dm), sample);
	ok = ldmatch_decidable(sample, (const char *const *)lk->addr_attrs);
	free(sample);
	log_debug("lookup", "event=address_batches on=%s", ok ? "yes" : "no");
	return ok;
}

struct lookup *lookup_new(struct event_base *base, struct ldpool *pool,
                          struct ldpool *gc_pool, struct domains *domains,
                          const struct dirmap *dm, const struct lookup_map *map)
{
	struct lookup *lk = alloc_new(struct lookup);
	uint64_t seed = 0;

	LIST_INIT(&lk->jobs);
	lk->base = base;
	lk->pool = pool;
	lk->gc_pool = gc_pool;
	lk->domains = domains;
	lk->dm = dm;
	lk->map = *map;
	lk->map.base_dn = keep(lk, map->base_dn != NULL ? map->base_dn : "");
	lk->map.recipient_filter = keep(lk, map->recipient_filter);
	lk->batch_addr = batchable(lk);
	if (lk->map.max_expansion == 0)
		lk->map.max_expansion = 10000;
	if (lk->map.max_hops == 0)
		lk->map.max_hops = 10;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = evloop_now_ms();
	if (map->cache_size > 0)
		lk->cache =
		    cache_new(map->cache_size, 256u * 1024 * 1024, seed);
	return lk;
}

void lookup_deinit(struct lookup **lkp)
{
	struct lookup *lk = *lkp;

	if (lk == NULL)
		return;
	*lkp = NULL;
	while (!LIST_EMPTY(&lk->jobs)) {
		struct job *j = LIST_FIRST(&lk->jobs);

		lookup_job_cancel_tasks(j);
		j->status_set = j->finishing = true;
		j->status = LOOKUP_TEMPFAIL;
		free(j->reason);
		j->reason = alloc_strdup("shutting down");
		lookup_job_finish(j);
	}
	cache_deinit(&lk->cache);
	ldmatch_names_free(lk->addr_attrs);
	for (size_t i = 0; i < lk->n_strings; i++)
		free(lk->strings[i]);
	free(lk->strings);
	free(lk);
}

void lookup_get_stats(const struct lookup *lk, struct lookup_stats *st_r)
{
	*st_r = lk->stats;
}
