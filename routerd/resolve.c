/*
 * NAME
 *	resolve - resolve a next hop to addresses, asynchronously
 *
 * SYNOPSIS
 *	#include "resolve.h"
 *
 *	r = resolve_new(base, dns, my_names, n);
 *	req = resolve_resolve(r, &nexthop, callback, context);
 *	resolve_cancel(&req);
 *	resolve_deinit(&r);
 *
 * DESCRIPTION
 *	The thin asynchronous shell around nexthop.c: MX lookup, null MX,
 *	implicit MX, A and AAAA of every exchanger in parallel, the
 *	MX-to-self check, and a bounded cache of the answers with their
 *	DNS TTL (kept in resolve_cache.c). Every outcome maps to OK, PERMFAIL
 *	or TEMPFAIL with an enhanced status code (RFC 3463), so that a DNS
 *	failure can only ever give a 4xx.
 *
 *	Results are delivered through a zero-delay timer, never from inside
 *	resolve_resolve() nor directly from a DNS callback, so a caller may
 *	cancel or start requests from its callback.
 *
 * SEE ALSO
 *	resolve.h for the contract; resolve_cache.c; nexthop.h; dns.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>

#include "alloc.h"
#include "dns.h"
#include "evloop.h"
#include "resolve_private.h"
#include "str.h"

/* One A or AAAA lookup of one host. */
struct lookup {
	struct resolve_req *req;
	size_t host;
	int family;
	struct dns_request *dreq;
	enum dns_status status;
	struct dns_addr *addrs;
	size_t n;
	uint32_t ttl;
	char *reason;
};

struct rhost {
	char *name;
	uint16_t pref;
};

struct resolve_req {
	struct resolve *r;
	LIST_ENTRY(resolve_req) link;
	struct nexthop nh;
	resolve_cb *cb;
	void *ctx;
	struct evloop_timer *timer;
	struct dns_request *mx_req;
	struct rhost *hosts;
	size_t n_hosts;
	struct lookup *lookups; /* 2 per host: A then AAAA */
	size_t pending;
	uint32_t ttl; /* minimum so far; UINT32_MAX: none */
	struct rset set;
	bool cached, linked;
};

static uint32_t default_rand(void *ctx)
{
	uint64_t *st = ctx;

	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (uint32_t)((*st * 0x2545f4914f6cdd1dULL) >> 32);
}

static void set_fail(struct rset *s, enum resolve_status st, const char *code,
                     char *reason)
{
	free(s->reason);
	s->status = st;
	s->code = code;
	s->reason = reason;
}

/* ---- requests ---- */

static void set_port(struct resolve_target *t, uint16_t port)
{
	if (t->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&t->addr)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&t->addr)->sin6_port = htons(port);
}

static void add_target(struct rset *s, const char *host, uint16_t pref,
                       int family, const void *addr)
{
	struct resolve_target *t;

	s->t = alloc_resize(s->t, s->n + 1, sizeof(*s->t));
	t = &s->t[s->n++];
	memset(t, 0, sizeof(*t));
	t->host = alloc_strdup(host);
	t->preference = pref;
	t->addr.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		memcpy(&((struct sockaddr_in *)&t->addr)->sin_addr, addr,
		       sizeof(struct in_addr));
		t->addrlen = sizeof(struct sockaddr_in);
	} else {
		memcpy(&((struct sockaddr_in6 *)&t->addr)->sin6_addr, addr,
		       sizeof(struct in6_addr));
		t->addrlen = sizeof(struct sockaddr_in6);
	}
}

static void req_stop_dns(struct resolve_req *req)
{
	dns_request_cancel(&req->mx_req);
	for (size_t i = 0; i < 2 * req->n_hosts; i++)
		dns_request_cancel(&req->lookups[i].dreq);
}

static void req_unlink(struct resolve_req *req)
{
	if (!req->linked)
		return;
	LIST_REMOVE(req, link);
	req->linked = false;
}

static void req_free(struct resolve_req *req)
{
	req_stop_dns(req);
	req_unlink(req);
	evloop_timer_free(&req->timer);
	for (size_t i = 0; i < req->n_hosts; i++)
		free(req->hosts[i].name);
	for (size_t i = 0; i < 2 * req->n_hosts; i++) {
		free(req->lookups[i].addrs);
		free(req->lookups[i].reason);
	}
	free(req->hosts);
	free(req->lookups);
	resolve_rset_clear(&req->set);
	free(req);
}

static void deliver(void *ctx)
{
	struct resolve_req *req = ctx;
	struct resolve_result res = {
	    .status = req->set.status,
	    .code = req->set.code,
	    .reason = req->set.status == RESOLVE_OK ? NULL : req->set.reason,
	    .targets = req->set.t,
	    .n_targets = req->set.n,
	    .ttl = req->set.ttl,
	    .implicit = req->set.implicit,
	    .cached = req->cached,
	};
	resolve_cb *cb = req->cb;
	void *cb_ctx = req->ctx;

	/* Unlinked first, so that a resolve_deinit() from the callback
	 * does not answer this request twice. */
	req_unlink(req);
	cb(&res, cb_ctx);
	req_free(req);
}

/* Answer from the loop: the callback never runs inside our caller. */
static void finish(struct resolve_req *req)
{
	req_stop_dns(req);
	for (size_t i = 0; i < req->set.n; i++)
		set_port(&req->set.t[i], req->nh.port);
	evloop_timer_start(req->timer, 0);
}

static void fail(struct resolve_req *req, enum resolve_status st,
                 const char *code, char *reason)
{
	set_fail(&req->set, st, code, reason);
	finish(req);
}

static void take_ttl(struct resolve_req *req, uint32_t ttl)
{
	if (ttl != 0 && ttl < req->ttl)
		req->ttl = ttl;
}

static void on_addr(const struct dns_result *res, void *ctx);

static void start_lookups(struct resolve_req *req)
{
	req->lookups = alloc_array(2 * req->n_hosts, sizeof(*req->lookups));
	memset(req->lookups, 0, 2 * req->n_hosts * sizeof(*req->lookups));
	for (size_t i = 0; i < 2 * req->n_hosts; i++) {
		struct lookup *l = &req->lookups[i];

		l->req = req;
		l->host = i / 2;
		l->family = i % 2 == 0 ? AF_INET : AF_INET6;
		l->status = DNS_TIMEOUT;
	}
	req->pending = 2 * req->n_hosts;
	for (size_t i = 0; i < 2 * req->n_hosts; i++) {
		struct lookup *l = &req->lookups[i];

		l->dreq = dns_lookup_addr(req->r->dns, l->family,
		                          req->hosts[l->host].name, on_addr, l);
	}
}

static void add_host(struct resolve_req *req, const char *name, uint16_t pref)
{
	size_t len = strlen(name);
	struct rhost *h;

	if (len > 1 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < req->n_hosts; i++)
		if (str_eq_case(req->hosts[i].name, strlen(req->hosts[i].name),
		                name, len))
			return; /* listed twice: keep the better one */
	req->hosts =
	    alloc_resize(req->hosts, req->n_hosts + 1, sizeof(*req->hosts));
	h = &req->hosts[req->n_hosts++];
	h->name = alloc_strndup(name, len);
	str_lower_ascii(h->name, len);
	h->pref = pref;
}

/* Every A and AAAA lookup has answered: make the target list. */
static void assemble(struct resolve_req *req)
{
	struct lookup *first_temp = NULL;
	bool all_nx = true;
	const char *what = req->set.implicit ? "domain" : "host";

	for (size_t i = 0; i < 2 * req->n_hosts; i++) {
		struct lookup *l = &req->lookups[i];

		if (l->status == DNS_OK) {
			for (size_t k = 0; k < l->n; k++)
				add_target(&req->set, req->hosts[l->host].name,
				           req->hosts[l->host].pref, l->family,
				           &l->addrs[k].u);
			take_ttl(req, l->ttl);
		} else if (!dns_status_is_permanent(l->status)) {
			if (first_temp == NULL)
				first_temp = l;
		} else {
			take_ttl(req, l->ttl);
		}
		all_nx = all_nx && l->status == DNS_NXDOMAIN;
	}
	req->set.ttl = req->ttl == UINT32_MAX ? 0 : req->ttl;
	/* A partial answer is used now but not remembered. */
	req->set.cacheable = first_temp == NULL;
	if (req->set.n > 0) {
		req->set.status = RESOLVE_OK;
		req->set.code = "2.0.0";
	} else if (first_temp != NULL) {
		req->set.cacheable = false;
		set_fail(&req->set, RESOLVE_TEMPFAIL, "4.4.3",
		         alloc_printf("address lookup for %s failed: %s",
		                      req->hosts[first_temp->host].name,
		                      first_temp->reason != NULL
		                          ? first_temp->reason
		                          : "temporary DNS failure"));
	} else if (all_nx && req->n_hosts == 1 && !req->nh.mx) {
		set_fail(&req->set, RESOLVE_PERMFAIL, "5.1.2",
		         alloc_printf("host %s does not exist", req->nh.host));
	} else if (req->nh.mx && !req->set.implicit) {
		set_fail(&req->set, RESOLVE_PERMFAIL, "5.4.4",
		         alloc_printf("no MX host of %s has an address",
		                      req->nh.host));
	} else {
		set_fail(&req->set, RESOLVE_PERMFAIL, "5.4.4",
		         alloc_printf("%s %s has no MX and no address records",
		                      what, req->nh.host));
	}
	resolve_cache_put(req->r, &req->nh, &req->set);
	finish(req);
}

static void on_addr(const struct dns_result *res, void *ctx)
{
	struct lookup *l = ctx;
	struct resolve_req *req = l->req;

	l->dreq = NULL;
	l->status = res->status;
	l->ttl = res->ttl;
	if (res->status == DNS_OK) {
		l->addrs =
		    alloc_memdup(res->addrs, res->count * sizeof(*res->addrs));
		l->n = res->count;
	} else if (res->reason != NULL) {
		l->reason = alloc_strdup(res->reason);
	}
	if (--req->pending == 0)
		assemble(req);
}

static void on_mx(const struct dns_result *res, void *ctx)
{
	struct resolve_req *req = ctx;
	struct resolve *r = req->r;
	const char *d = req->nh.host;
	size_t *order = NULL, n = 0;
	int null_mx = 0;
	bool self = false;

	req->mx_req = NULL;
	if (res->status == DNS_NXDOMAIN) {
		req->set.ttl = res->ttl;
		req->set.cacheable = true;
		fail(req, RESOLVE_PERMFAIL, "5.1.2",
		     alloc_printf("domain %s does not exist", d));
		resolve_cache_put(r, &req->nh, &req->set);
		return;
	}
	if (res->status == DNS_NODATA) {
		/* RFC 5321 5.1: the domain itself is the exchanger. */
		if (nexthop_is_self(d, (const char *const *)r->my_names,
		                    r->n_names)) {
			fail(req, RESOLVE_TEMPFAIL, "4.3.5",
			     alloc_printf("MX for %s points back to this host "
			                  "(no MX, implicit MX is us)",
			                  d));
			return;
		}
		take_ttl(req, res->ttl);
		req->set.implicit = true;
		add_host(req, d, 0);
		start_lookups(req);
		return;
	}
	if (res->status != DNS_OK) {
		fail(req, RESOLVE_TEMPFAIL, "4.4.3",
		     alloc_printf("MX lookup for %s failed: %s", d,
		                  res->reason != NULL
		                      ? res->reason
		                      : dns_status_str(res->status)));
		return;
	}
	take_ttl(req, res->ttl);
	if (nexthop_order_mx(res->mx, res->count, r->rand_fn, r->rand_ctx,
	                     &order, &n, &null_mx) < 0) {
		fail(req, RESOLVE_TEMPFAIL, "4.4.3",
		     alloc_printf("unusable MX answer for %s", d));
		return;
	}
	if (null_mx) {
		req->set.ttl = res->ttl;
		req->set.cacheable = true;
		fail(req, RESOLVE_PERMFAIL, "5.1.10",
		     alloc_printf("domain %s accepts no mail (null MX)", d));
		resolve_cache_put(r, &req->nh, &req->set);
		return;
	}
	n = nexthop_trim_self(res->mx, order, n,
	                      (const char *const *)r->my_names, r->n_names,
	                      &self);
	if (n == 0) {
		free(order);
		fail(req, RESOLVE_TEMPFAIL, self ? "4.3.5" : "4.4.3",
		     alloc_printf(self ? "MX for %s points back to this host"
		                       : "no usable MX for %s",
		                  d));
		return;
	}
	for (size_t i = 0; i < n && req->n_hosts < RESOLVE_MAX_MX; i++)
		add_host(req, res->mx[order[i]].exchange,
		         res->mx[order[i]].preference);
	free(order);
	start_lookups(req);
}

struct resolve_req *resolve_resolve(struct resolve *r, const struct nexthop *nh,
                                    resolve_cb *cb, void *ctx)
{
	struct resolve_req *req = alloc_new(struct resolve_req);
	struct centry *e;
	char *key;
	unsigned char addr[sizeof(struct in6_addr)];

	req->r = r;
	req->nh = *nh;
	req->cb = cb;
	req->ctx = ctx;
	req->ttl = UINT32_MAX;
	req->timer = evloop_timer_new(r->base, deliver, req);
	LIST_INSERT_HEAD(&r->reqs, req, link);
	req->linked = true;

	if (nh->is_ip) {
		int family = strchr(nh->host, ':') != NULL ? AF_INET6 : AF_INET;

		if (inet_pton(family, nh->host, addr) != 1) {
			fail(req, RESOLVE_PERMFAIL, "5.1.2",
			     alloc_printf("bad address %s", nh->host));
			return req;
		}
		add_target(&req->set, nh->host, 0, family, addr);
		req->set.code = "2.0.0";
		finish(req);
		return req;
	}
	key = resolve_cache_key(nh);
	e = resolve_cache_find(r, key);
	free(key);
	if (e != NULL) {
		resolve_rset_copy(&req->set, &e->set);
		req->set.ttl =
		    (uint32_t)((e->expires_ms - resolve_now_ms()) / 1000);
		resolve_cache_reshuffle(r, &req->set);
		req->cached = true;
		finish(req);
		return req;
	}
	if (!nh->mx) {
		if (nexthop_is_self(nh->host, (const char *const *)r->my_names,
		                    r->n_names)) {
			fail(req, RESOLVE_TEMPFAIL, "4.3.5",
			     alloc_printf("next hop %s points back to this "
			                  "host",
			                  nh->host));
			return req;
		}
		add_host(req, nh->host, 0);
		start_lookups(req);
		return req;
	}
	req->mx_req = dns_lookup_mx(r->dns, nh->host, on_mx, req);
	return req;
}

void resolve_cancel(struct resolve_req **req)
{
	if (*req == NULL)
		return;
	req_free(*req);
	*req = NULL;
}

struct resolve *resolve_new(struct event_base *base, struct dns *dns,
                            const char *const *my_names, size_t n)
{
	struct resolve *r = alloc_new(struct resolve);

	LIST_INIT(&r->reqs);
	r->base = base;
	r->dns = dns;
	r->n_names = n;
	r->my_names = alloc_array(n + 1, sizeof(*r->my_names));
	for (size_t i = 0; i < n; i++)
		r->my_names[i] = alloc_strdup(my_names[i]);
	if (getrandom(&r->rand_state, sizeof(r->rand_state), 0) !=
	        (ssize_t)sizeof(r->rand_state) ||
	    r->rand_state == 0)
		r->rand_state = resolve_now_ms() | 1;
	r->rand_fn = default_rand;
	r->rand_ctx = &r->rand_state;
	r->max = RESOLVE_CACHE_MAX;
	return r;
}

void resolve_set_rand(struct resolve *r, nexthop_rand_fn *rand_fn, void *ctx)
{
	r->rand_fn = rand_fn;
	r->rand_ctx = ctx;
}

void resolve_set_cache_max(struct resolve *r, size_t max)
{
	r->max = max;
	while (r->count > max)
		resolve_cache_remove(r, r->oldest);
}

size_t resolve_cache_count(const struct resolve *r)
{
	return r->count;
}

void resolve_deinit(struct resolve **rp)
{
	struct resolve *r = *rp;

	if (r == NULL)
		return;
	while (!LIST_EMPTY(&r->reqs)) {
		struct resolve_req *req = LIST_FIRST(&r->reqs);

		/* An answer waiting for the loop is given as it is; one
		 * still waiting for DNS ends as a temporary failure. */
		if (!evloop_timer_pending(req->timer)) {
			req_stop_dns(req);
			resolve_rset_clear(&req->set);
			set_fail(&req->set, RESOLVE_TEMPFAIL, "4.4.3",
			         alloc_strdup("shutting down"));
		}
		deliver(req);
	}
	resolve_set_cache_max(r, 0);
	free(r->buckets);
	for (size_t i = 0; i < r->n_names; i++)
		free(r->my_names[i]);
	free(r->my_names);
	free(r);
	*rp = NULL;
}

const char *resolve_status_str(enum resolve_status status)
{
	switch (status) {
	case RESOLVE_OK:
		return "OK";
	case RESOLVE_TEMPFAIL:
		return "TEMPFAIL";
	case RESOLVE_PERMFAIL:
		return "PERMFAIL";
	}
	return "?";
}
