/*
 * dcloc - the domain controller locator; see dcloc.h.
 *
 * Discovery walks a short list of SRV names (site-specific, domain-wide,
 * plain LDAP) and takes the first that has records. The answer is merged
 * into the DC table by host and port, so a DC keeps its health state
 * across refreshes, and the order is recomputed with srvorder_sort() and
 * srvorder_prefer_site(). The refresh timer fires at the records' TTL.
 */
#include "dcloc.h"

#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "config.h"
#include "dns.h"
#include "evloop.h"
#include "log.h"
#include "srvorder.h"

#define DCLOC_MAX_NAMES 3

struct dcloc {
	struct event_base *base;
	struct dns *dns;
	struct dcloc_options opts;
	char **servers;
	char *domain, *site, *forest;
	dcloc_changed_cb *cb;
	void *ctx;

	struct dcloc_dc **dcs; /* every DC ever seen, GONE ones too */
	size_t n_dcs;
	struct dcloc_dc **order; /* current order, GONE ones excluded */
	size_t n_order;

	char *names[DCLOC_MAX_NAMES];
	size_t n_names, name_idx;
	struct dns_request *req;
	struct evloop_timer *refresh;
	unsigned fail_backoff_ms;
	char *source;
	char *last_error;
	bool ready;
	uint64_t rng;
};

static uint32_t dcloc_rand(void *ctx)
{
	uint64_t *s = ctx;

	/* xorshift64*: enough to spread load; not for secrets. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (uint32_t)((*s * 0x2545f4914f6cdd1dULL) >> 32);
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? alloc_strdup(src) : NULL;
}

static uint16_t tls_port(const struct dcloc *loc, uint16_t port)
{
	if (loc->opts.tls != LDCONN_TLS_LDAPS)
		return port;
	if (port == 389)
		return 636;
	if (port == 3268)
		return 3269;
	return port;
}

static struct dcloc_dc *dc_find_or_add(struct dcloc *loc, const char *host,
                                       uint16_t port, const char *uri)
{
	struct dcloc_dc *dc;

	for (size_t i = 0; i < loc->n_dcs; i++) {
		dc = loc->dcs[i];
		if (dc->port == port && strcasecmp(dc->host, host) == 0)
			return dc;
	}
	dc = alloc_new(struct dcloc_dc);
	dc->host = alloc_strdup(host);
	dc->port = port;
	dc->uri = uri != NULL
	              ? alloc_strdup(uri)
	              : alloc_printf("%s://%s:%u",
	                             loc->opts.tls == LDCONN_TLS_LDAPS ? "ldaps"
	                                                               : "ldap",
	                             host, port);
	loc->dcs = alloc_resize(loc->dcs, loc->n_dcs + 1, sizeof(*loc->dcs));
	loc->dcs[loc->n_dcs++] = dc;
	return dc;
}

static void dc_free(struct dcloc_dc *dc)
{
	free(dc->host);
	free(dc->uri);
	free(dc->site);
	free(dc->last_error);
	free(dc);
}

/* Order the DCs that are not GONE; the order array is rebuilt. */
static void dcloc_reorder(struct dcloc *loc)
{
	struct srvorder_target *t;
	const char **sites;
	struct dcloc_dc **live;
	size_t n = 0, *order = NULL, n_order = 0;
	const char *error;

	live = alloc_array(loc->n_dcs, sizeof(*live));
	for (size_t i = 0; i < loc->n_dcs; i++)
		if (loc->dcs[i]->state != DCLOC_DC_GONE)
			live[n++] = loc->dcs[i];
	t = alloc_array(n, sizeof(*t));
	sites = alloc_array(n, sizeof(*sites));
	for (size_t i = 0; i < n; i++) {
		t[i].priority = live[i]->priority;
		t[i].weight = live[i]->weight;
		t[i].port = live[i]->port;
		t[i].target = live[i]->host;
		sites[i] = live[i]->site;
	}
	free(loc->order);
	loc->order = NULL;
	loc->n_order = 0;
	if (n > 0 && srvorder_sort(t, n, dcloc_rand, &loc->rng, &order,
	                           &n_order, &error) == SRVORDER_OK) {
		/* A static list is tried in the order the admin gave. */
		if (loc->opts.n_servers == 0)
			srvorder_prefer_site(order, n_order, sites, loc->site);
		loc->order = alloc_array(n_order, sizeof(*loc->order));
		for (size_t i = 0; i < n_order; i++) {
			loc->order[i] = live[order[i]];
			loc->order[i]->rank = i;
		}
		loc->n_order = n_order;
	}
	free(order);
	free(sites);
	free(t);
	free(live);
}

static void dcloc_changed(struct dcloc *loc)
{
	loc->ready = true;
	dcloc_reorder(loc);
	if (loc->cb != NULL)
		loc->cb(loc, loc->ctx);
}

static void dcloc_take_static(struct dcloc *loc)
{
	for (size_t i = 0; i < loc->opts.n_servers; i++) {
		const char *s = loc->servers[i];
		char host[256];
		unsigned port = loc->opts.tls == LDCONN_TLS_LDAPS ? 636 : 389;
		struct dcloc_dc *dc;
		LDAPURLDesc *lud = NULL;

		if (strstr(s, "://") != NULL &&
		    ldap_url_parse(s, &lud) == LDAP_URL_SUCCESS) {
			snprintf(host, sizeof(host), "%s",
			         lud->lud_host != NULL ? lud->lud_host : "");
			if (lud->lud_port > 0)
				port = (unsigned)lud->lud_port;
			else if (strcasecmp(lud->lud_scheme, "ldaps") == 0)
				port = 636;
			dc = dc_find_or_add(loc, host, (uint16_t)port, s);
			ldap_free_urldesc(lud);
		} else {
			struct config_hostport hp = {0};
			const char *error;

			/* "host", "host:port", "[v6]:port": the config's
			 * own reader, never a number read by hand (a bad
			 * port must not become port 0). */
			if (!config_parse_hostport(s, &hp, &error) ||
			    hp.port > 65535) {
				log_error("dcloc",
				          "event=bad_server server=%s "
				          "error=\"%s\"",
				          s,
				          hp.port > 65535 ? "bad port" : error);
				free(hp.host);
				continue;
			}
			snprintf(host, sizeof(host), "%s", hp.host);
			if (hp.port != 0)
				port = hp.port;
			free(hp.host);
			dc = dc_find_or_add(loc, host, (uint16_t)port, NULL);
		}
		/* The list's order is the admin's: one priority each. */
		dc->priority = (uint16_t)(i < 65535 ? i : 65535);
		dc->weight = 0;
	}
	set_str(&loc->source, "static");
	dcloc_changed(loc);
}

static void dcloc_build_names(struct dcloc *loc)
{
	for (size_t i = 0; i < loc->n_names; i++)
		free(loc->names[i]);
	loc->n_names = 0;
	if (loc->opts.gc) {
		loc->names[loc->n_names++] = alloc_printf(
		    "_gc._tcp.%s",
		    loc->forest != NULL ? loc->forest : loc->domain);
		return;
	}
	if (loc->site != NULL)
		loc->names[loc->n_names++] =
		    alloc_printf("_ldap._tcp.%s._sites.dc._msdcs.%s", loc->site,
		                 loc->domain);
	loc->names[loc->n_names++] =
	    alloc_printf("_ldap._tcp.dc._msdcs.%s", loc->domain);
	loc->names[loc->n_names++] = alloc_printf("_ldap._tcp.%s", loc->domain);
}

static void dcloc_lookup_next(struct dcloc *loc);

static void dcloc_schedule(struct dcloc *loc, unsigned ms)
{
	evloop_timer_start(loc->refresh, ms);
}

static void dcloc_failed(struct dcloc *loc, const char *reason)
{
	unsigned ms = loc->fail_backoff_ms;

	set_str(&loc->last_error, reason);
	log_warn("dcloc",
	         "event=discovery_failed domain=%s error=\"%s\" "
	         "kept=%zu retry_ms=%u",
	         loc->domain, reason, loc->n_order, ms);
	loc->fail_backoff_ms = ms * 2 > 300000 ? 300000 : ms * 2;
	dcloc_schedule(loc, ms);
	if (!loc->ready) {
		/* Tell the pool once: there is nothing to connect to yet. */
		loc->ready = true;
		if (loc->cb != NULL)
			loc->cb(loc, loc->ctx);
	}
}

static void dcloc_srv_done(const struct dns_result *res, void *ctx)
{
	struct dcloc *loc = ctx;
	const char *name = loc->names[loc->name_idx];
	unsigned ttl_ms;

	loc->req = NULL;
	if (res->status == DNS_NXDOMAIN || res->status == DNS_NODATA) {
		log_debug("dcloc", "event=srv_empty name=%s status=%s", name,
		          dns_status_str(res->status));
		if (++loc->name_idx < loc->n_names) {
			dcloc_lookup_next(loc);
			return;
		}
		dcloc_failed(loc, res->srv_unavailable
		                      ? "SRV says the service is not available"
		                      : "no SRV records for the domain");
		return;
	}
	if (res->status != DNS_OK) {
		char *reason = alloc_printf("SRV lookup of %s: %s", name,
		                            res->reason != NULL
		                                ? res->reason
		                                : dns_status_str(res->status));

		dcloc_failed(loc, reason);
		free(reason);
		return;
	}
	/* Everything not in this answer is gone; what is in it is kept. */
	for (size_t i = 0; i < loc->n_dcs; i++) {
		struct dcloc_dc *dc = loc->dcs[i];
		bool present = false;

		for (size_t j = 0; j < res->count && !present; j++) {
			size_t n = strlen(res->srv[j].target);

			if (n > 0 && res->srv[j].target[n - 1] == '.')
				n--;
			present =
			    tls_port(loc, res->srv[j].port) == dc->port &&
			    strlen(dc->host) == n &&
			    strncasecmp(dc->host, res->srv[j].target, n) == 0;
		}
		if (!present)
			dc->state = DCLOC_DC_GONE;
		else if (dc->state == DCLOC_DC_GONE)
			dc->state = DCLOC_DC_UNKNOWN;
	}
	for (size_t j = 0; j < res->count; j++) {
		const struct dns_srv *r = &res->srv[j];
		char *host;
		struct dcloc_dc *dc;
		size_t n = strlen(r->target);

		if (n > 0 && r->target[n - 1] == '.')
			n--;
		if (n == 0)
			continue; /* "." among real targets */
		host = alloc_strndup(r->target, n);
		dc = dc_find_or_add(loc, host, tls_port(loc, r->port), NULL);
		dc->priority = r->priority;
		dc->weight = r->weight;
		/* The site's own SRV name lists the site's DCs: they are in
		 * it, whether or not their LDAP ping answer was read. */
		if (loc->site != NULL && loc->name_idx == 0 && !loc->opts.gc &&
		    dc->site == NULL)
			set_str(&dc->site, loc->site);
		free(host);
	}
	free(loc->source);
	loc->source = alloc_printf("srv %s", name);
	set_str(&loc->last_error, NULL);
	loc->fail_backoff_ms = loc->opts.refresh_fail_ms;
	ttl_ms = res->ttl > 86400 ? 86400000u : res->ttl * 1000u;
	if (ttl_ms < loc->opts.refresh_min_ms)
		ttl_ms = loc->opts.refresh_min_ms;
	log_info("dcloc", "event=discovered name=%s records=%zu ttl=%u", name,
	         res->count, res->ttl);
	dcloc_schedule(loc, ttl_ms);
	dcloc_changed(loc);
}

static void dcloc_lookup_next(struct dcloc *loc)
{
	loc->req = dns_lookup_srv(loc->dns, loc->names[loc->name_idx],
	                          dcloc_srv_done, loc);
}

static void dcloc_refresh(void *ctx)
{
	struct dcloc *loc = ctx;

	if (loc->req != NULL)
		return;
	dcloc_build_names(loc);
	loc->name_idx = 0;
	dcloc_lookup_next(loc);
}

struct dcloc *dcloc_new(struct event_base *base, struct dns *dns,
                        const struct dcloc_options *opts, dcloc_changed_cb *cb,
                        void *ctx)
{
	struct dcloc *loc = alloc_new(struct dcloc);

	loc->base = base;
	loc->dns = dns;
	loc->opts = *opts;
	loc->cb = cb;
	loc->ctx = ctx;
	set_str(&loc->domain, opts->domain);
	set_str(&loc->site,
	        opts->site != NULL && *opts->site != '\0' ? opts->site : NULL);
	set_str(&loc->forest, opts->forest);
	loc->servers = alloc_array(opts->n_servers + 1, sizeof(char *));
	for (size_t i = 0; i < opts->n_servers; i++)
		loc->servers[i] = alloc_strdup(opts->servers[i]);
	loc->opts.servers = NULL;
	if (loc->opts.down_min_ms == 0)
		loc->opts.down_min_ms = 1000;
	if (loc->opts.down_max_ms == 0)
		loc->opts.down_max_ms = 60000;
	if (loc->opts.refresh_min_ms == 0)
		loc->opts.refresh_min_ms = 30000;
	if (loc->opts.refresh_fail_ms == 0)
		loc->opts.refresh_fail_ms = 5000;
	loc->fail_backoff_ms = loc->opts.refresh_fail_ms;
	loc->rng = opts->seed;
	if (loc->rng == 0 &&
	    getrandom(&loc->rng, sizeof(loc->rng), 0) != sizeof(loc->rng))
		loc->rng = evloop_now_ms();
	if (loc->rng == 0)
		loc->rng = 0x9e3779b97f4a7c15ULL;
	loc->refresh = evloop_timer_new(base, dcloc_refresh, loc);
	return loc;
}

void dcloc_start(struct dcloc *loc)
{
	if (loc->opts.n_servers > 0) {
		dcloc_take_static(loc);
		return;
	}
	dcloc_refresh(loc);
}

void dcloc_deinit(struct dcloc **locp)
{
	struct dcloc *loc = *locp;

	if (loc == NULL)
		return;
	*locp = NULL;
	dns_request_cancel(&loc->req);
	evloop_timer_free(&loc->refresh);
	for (size_t i = 0; i < loc->n_dcs; i++)
		dc_free(loc->dcs[i]);
	free(loc->dcs);
	free(loc->order);
	for (size_t i = 0; i < loc->n_names; i++)
		free(loc->names[i]);
	for (size_t i = 0; i < loc->opts.n_servers; i++)
		free(loc->servers[i]);
	free(loc->servers);
	free(loc->domain);
	free(loc->site);
	free(loc->forest);
	free(loc->source);
	free(loc->last_error);
	free(loc);
}

void dcloc_set_client_site(struct dcloc *loc, const char *site)
{
	if (site == NULL || *site == '\0' ||
	    (loc->site != NULL && strcasecmp(loc->site, site) == 0))
		return;
	log_info("dcloc", "event=client_site site=%s", site);
	set_str(&loc->site, site);
	/* Look again: the site may publish its own SRV records. */
	if (loc->opts.n_servers == 0 && !loc->opts.gc) {
		evloop_timer_stop(loc->refresh);
		dcloc_refresh(loc);
	} else {
		dcloc_changed(loc);
	}
}

void dcloc_set_dc_site(struct dcloc *loc, struct dcloc_dc *dc, const char *site)
{
	if (site == NULL || (dc->site != NULL && strcmp(dc->site, site) == 0))
		return;
	set_str(&dc->site, site);
	dcloc_changed(loc);
}

const char *dcloc_client_site(const struct dcloc *loc)
{
	return loc->site;
}

size_t dcloc_count(const struct dcloc *loc)
{
	return loc->n_order;
}

struct dcloc_dc *dcloc_get(const struct dcloc *loc, size_t i)
{
	return i < loc->n_order ? loc->order[i] : NULL;
}

struct dcloc_dc *dcloc_next_up(const struct dcloc *loc,
                               const struct dcloc_dc *skip, uint64_t now_ms)
{
	size_t i = 0;

	if (skip != NULL)
		i = skip->rank + 1;
	for (; i < loc->n_order; i++) {
		struct dcloc_dc *dc = loc->order[i];

		if (dc->state != DCLOC_DC_DOWN || now_ms >= dc->down_until_ms)
			return dc;
	}
	return NULL;
}

void dcloc_mark_up(struct dcloc *loc, struct dcloc_dc *dc)
{
	if (dc->state == DCLOC_DC_DOWN)
		log_info("dcloc", "event=dc_up dc=%s", dc->uri);
	dc->state = DCLOC_DC_UP;
	dc->failures = 0;
	dc->backoff_ms = 0;
	dc->down_until_ms = 0;
}

void dcloc_mark_down(struct dcloc *loc, struct dcloc_dc *dc, const char *reason,
                     uint64_t now_ms)
{
	if (dc->state == DCLOC_DC_GONE)
		return;
	if (dc->state == DCLOC_DC_DOWN && now_ms < dc->down_until_ms) {
		/* Already down; a late failure changes nothing. */
		return;
	}
	dc->backoff_ms =
	    dc->backoff_ms == 0 ? loc->opts.down_min_ms : dc->backoff_ms * 2;
	if (dc->backoff_ms > loc->opts.down_max_ms)
		dc->backoff_ms = loc->opts.down_max_ms;
	dc->state = DCLOC_DC_DOWN;
	dc->failures++;
	dc->down_until_ms = now_ms + dc->backoff_ms;
	set_str(&dc->last_error, reason);
	log_warn("dcloc", "event=dc_down dc=%s error=\"%s\" retry_ms=%u",
	         dc->uri, reason != NULL ? reason : "?", dc->backoff_ms);
}

const char *dcloc_source(const struct dcloc *loc)
{
	return loc->source != NULL ? loc->source : "none";
}

const char *dcloc_last_error(const struct dcloc *loc)
{
	return loc->last_error;
}

bool dcloc_ready(const struct dcloc *loc)
{
	return loc->ready;
}
