/*
 * pdc - the domain's PDC emulator: found by SRV, read through a pool of
 * its own; see pdc.h.
 *
 * The pool sits on a dcloc with a static list of one server (the SRV
 * target), so that the PDC's health (down, backoff, back up) is kept as
 * for any DC, with no change to the locator or the pool. A new target
 * replaces both; requests in flight on the old pool are failed over to
 * the caller's fallback ("PDC moved").
 */
#include "pdc.h"

#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "alloc.h"
#include "dcloc.h"
#include "dns.h"
#include "evloop.h"
#include "log.h"

struct pdc {
	struct event_base *base;
	struct dns *dns;
	struct ldpool_options po;
	enum ldconn_tls tls;
	char *name;   /* the SRV name */
	char *server; /* host:port of the PDC, or NULL */
	struct dcloc *loc;
	struct ldpool *pool;
	struct dns_request *lookup;
	struct evloop_timer *timer;
	bool failing; /* the last lookup failed (logged once per streak) */
	LIST_HEAD(, pdc_req) reqs;
};

struct pdc_req {
	struct pdc *pdc;
	pdc_entry_cb *cb;
	void *ctx;
	struct ldpool_req *search;
	struct evloop_timer *timer; /* answers without a search */
	char *error;
	LIST_ENTRY(pdc_req) link;
};

static void req_free(struct pdc_req *r)
{
	LIST_REMOVE(r, link);
	ldpool_req_cancel(&r->search);
	evloop_timer_free(&r->timer);
	free(r->error);
	free(r);
}

static void req_fail_now(void *ctx)
{
	struct pdc_req *r = ctx;

	r->cb(NULL, pdc_uri(r->pdc), r->error, r->ctx);
	req_free(r);
}

/* Fail r from the loop (never inside the call that started it). */
static void req_fail(struct pdc_req *r, const char *error)
{
	free(r->error);
	r->error = alloc_strdup(error);
	ldpool_req_cancel(&r->search);
	evloop_timer_start(r->timer, 0);
}

static void loc_changed(struct dcloc *loc, void *ctx)
{
	struct pdc *pdc = ctx;

	(void)loc;
	if (pdc->pool != NULL)
		ldpool_dcs_changed(pdc->pool);
}

static void use_server(struct pdc *pdc, const char *server)
{
	struct dcloc_options lo = {
	    .servers = &server, .n_servers = 1, .tls = pdc->tls};
	struct pdc_req *r;

	if (pdc->server != NULL && strcasecmp(pdc->server, server) == 0)
		return;
	log_info("pdc", "event=pdc_found srv=%s server=%s previous=%s",
	         pdc->name, server, pdc->server != NULL ? pdc->server : "-");
	LIST_FOREACH(r, &pdc->reqs, link)
		if (r->search != NULL)
			req_fail(r, "the PDC moved");
	ldpool_deinit(&pdc->pool);
	dcloc_deinit(&pdc->loc);
	free(pdc->server);
	pdc->server = alloc_strdup(server);
	pdc->loc = dcloc_new(pdc->base, pdc->dns, &lo, loc_changed, pdc);
	pdc->pool = ldpool_new(pdc->base, pdc->loc, &pdc->po);
	dcloc_start(pdc->loc);
}

static void looked_up(const struct dns_result *res, void *ctx)
{
	struct pdc *pdc = ctx;
	const struct dns_srv *best = NULL;
	uint32_t ttl;
	char server[300];
	size_t len;

	pdc->lookup = NULL;
	if (res->status == DNS_CANCELLED)
		return;
	if (res->status != DNS_OK) {
		if (!pdc->failing)
			log_warn("pdc",
			         "event=pdc_unknown srv=%s error=\"%s\" "
			         "kept=%s hint=\"badPwdCount is read from the "
			         "DC that answers the account search\"",
			         pdc->name, res->reason,
			         pdc->server != NULL ? pdc->server : "-");
		pdc->failing = true;
		evloop_timer_start(pdc->timer, PDC_RETRY_S * 1000);
		return;
	}
	pdc->failing = false;
	/* One PDC per domain; should DNS list more, the first by priority. */
	for (size_t i = 0; i < res->count; i++)
		if (best == NULL || res->srv[i].priority < best->priority)
			best = &res->srv[i];
	len = strlen(best->target);
	if (len > 0 && best->target[len - 1] == '.')
		len--;
	snprintf(server, sizeof(server), "%.*s:%u", (int)len, best->target,
	         (unsigned)best->port);
	use_server(pdc, server);
	ttl = res->ttl < PDC_MIN_REFRESH_S   ? PDC_MIN_REFRESH_S
	      : res->ttl > PDC_MAX_REFRESH_S ? PDC_MAX_REFRESH_S
	                                     : res->ttl;
	evloop_timer_start(pdc->timer, ttl * 1000);
}

static void resolve(void *ctx)
{
	struct pdc *pdc = ctx;

	if (pdc->lookup == NULL)
		pdc->lookup =
		    dns_lookup_srv(pdc->dns, pdc->name, looked_up, pdc);
}

struct pdc *pdc_new(struct event_base *base, struct dns *dns,
                    const struct ldpool_options *po, enum ldconn_tls tls,
                    const char *domain)
{
	struct pdc *pdc = alloc_new(struct pdc);
	size_t len = strlen(domain) + sizeof("_ldap._tcp.pdc._msdcs.");

	pdc->base = base;
	pdc->dns = dns;
	pdc->po = *po;
	/* One connection is plenty: one base read per password check. */
	pdc->po.conns_per_dc = 1;
	pdc->tls = tls;
	pdc->name = alloc_array(len, 1);
	snprintf(pdc->name, len, "_ldap._tcp.pdc._msdcs.%s", domain);
	pdc->timer = evloop_timer_new(base, resolve, pdc);
	LIST_INIT(&pdc->reqs);
	return pdc;
}

void pdc_start(struct pdc *pdc)
{
	resolve(pdc);
}

void pdc_deinit(struct pdc **pp)
{
	struct pdc *pdc = *pp;

	if (pdc == NULL)
		return;
	*pp = NULL;
	while (!LIST_EMPTY(&pdc->reqs))
		req_free(LIST_FIRST(&pdc->reqs));
	dns_request_cancel(&pdc->lookup);
	evloop_timer_free(&pdc->timer);
	ldpool_deinit(&pdc->pool);
	dcloc_deinit(&pdc->loc);
	free(pdc->server);
	free(pdc->name);
	free(pdc);
}

static void read_done(const struct ldconn_result *res, const char *dc,
                      void *ctx)
{
	struct pdc_req *r = ctx;
	char why[300];

	r->search = NULL;
	if (res->status == LDCONN_OK && res->n_entries == 1) {
		r->cb(&res->entries[0], dc, NULL, r->ctx);
		req_free(r);
		return;
	}
	if (res->status == LDCONN_OK || res->status == LDCONN_NO_SUCH_OBJECT)
		snprintf(why, sizeof(why), "the PDC has no such entry (yet)");
	else
		snprintf(why, sizeof(why), "%s",
		         res->error != NULL ? res->error : "search failed");
	r->cb(NULL, dc != NULL ? dc : pdc_uri(r->pdc), why, r->ctx);
	req_free(r);
}

struct pdc_req *pdc_read(struct pdc *pdc, const char *dn,
                         const char *const *attrs, pdc_entry_cb *cb, void *ctx)
{
	struct pdc_req *r = alloc_new(struct pdc_req);
	struct ldconn_search s = {.base = dn,
	                          .scope = LDAP_SCOPE_BASE,
	                          .filter = "(objectClass=*)",
	                          .attrs = attrs};
	const struct dcloc_dc *dc;

	r->pdc = pdc;
	r->cb = cb;
	r->ctx = ctx;
	r->timer = evloop_timer_new(pdc->base, req_fail_now, r);
	LIST_INSERT_HEAD(&pdc->reqs, r, link);
	if (pdc->pool == NULL) {
		req_fail(r, "no PDC known (SRV record)");
		return r;
	}
	dc = dcloc_next_up(pdc->loc, NULL, evloop_now_ms());
	if (dc == NULL) {
		const struct dcloc_dc *d = dcloc_get(pdc->loc, 0);

		req_fail(r, d != NULL && d->last_error != NULL
		                ? d->last_error
		                : "the PDC is down");
		return r;
	}
	r->search = ldpool_search(pdc->pool, &s, read_done, r);
	return r;
}

void pdc_req_cancel(struct pdc_req **rp)
{
	if (*rp == NULL)
		return;
	req_free(*rp);
	*rp = NULL;
}

const char *pdc_uri(const struct pdc *pdc)
{
	const struct dcloc_dc *dc;

	if (pdc->loc == NULL || (dc = dcloc_get(pdc->loc, 0)) == NULL)
		return NULL;
	return dc->uri;
}

const char *pdc_bind_uri(const struct pdc *pdc, uint64_t now_ms)
{
	const struct dcloc_dc *dc;

	if (pdc->loc == NULL)
		return NULL;
	dc = dcloc_next_up(pdc->loc, NULL, now_ms);
	return dc != NULL ? dc->uri : NULL;
}
