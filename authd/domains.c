/*
 * domains - accepted domains and routes from the configuration and the
 * directory; see domains.h. The table itself is domtable's.
 */
#include "domains.h"

#include <ldap.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "evloop.h"
#include "ldpool.h"
#include "log.h"

#define SOURCE_CONFIG "configuration"

struct domains {
	struct event_base *base;
	struct ldpool *pool;
	char *base_dn;
	struct domtable *t;
	bool loaded;
	uint64_t refresh_ms;
	struct evloop_timer *timer;
	struct ldpool_req *req;
};

static const char *first_value(const struct ldconn_entry *e, const char *name)
{
	const struct ldconn_attr *a = ldconn_entry_attr(e, name);

	return a != NULL && a->n_values > 0 ? a->values[0].data : NULL;
}

static void load_entry(struct domains *d, const struct ldconn_entry *e)
{
	const struct ldconn_attr *name =
	    ldconn_entry_attr(e, "dirmxDomainName");
	const char *type = first_value(e, "dirmxDomainType");
	const char *hop = first_value(e, "dirmxNextHop");
	enum domains_kind kind = DOMAINS_LOCAL;
	char *source;

	if (name == NULL || name->n_values == 0)
		return;
	if (type != NULL && domtable_parse_type(type, &kind) < 0)
		log_warn("domains",
		         "event=bad_type dn=\"%s\" type=\"%s\" "
		         "read_as=authoritative "
		         "expected=authoritative|internalrelay|externalrelay|"
		         "route",
		         e->dn, type);
	if (kind == DOMAINS_INTERNAL_RELAY && hop == NULL)
		log_error("domains",
		          "event=no_next_hop dn=\"%s\" domain=%s "
		          "error=\"an internal relay domain needs dirmxNextHop "
		          "(the other mail system): its unknown recipients "
		          "are deferred\"",
		          e->dn, name->values[0].data);
	source = alloc_printf("directory %s", e->dn);
	domtable_add(d->t, name->values[0].data, name->values[0].len, kind, hop,
	             source, false);
	free(source);
}

static void loaded(const struct ldconn_result *res, const char *dc_uri,
                   void *ctx)
{
	struct domains *d = ctx;

	d->req = NULL;
	if (res->status != LDCONN_OK && res->status != LDCONN_NO_SUCH_OBJECT) {
		log_warn("domains", "event=load_failed error=\"%s\" kept=%zu",
		         res->error != NULL ? res->error : "?",
		         domtable_count(d->t));
		evloop_timer_start(d->timer, 5000);
		return;
	}
	domtable_drop_directory(d->t);
	for (size_t i = 0; i < res->n_entries; i++)
		load_entry(d, &res->entries[i]);
	if (!d->loaded)
		log_info("domains", "event=loaded dc=%s domains=%zu",
		         dc_uri != NULL ? dc_uri : "-", domtable_count(d->t));
	d->loaded = true;
	evloop_timer_start(d->timer, (unsigned)d->refresh_ms);
}

static void refresh(void *ctx)
{
	static const char *const attrs[] = {
	    "dirmxDomainName", "dirmxDomainType", "dirmxNextHop", NULL};
	struct domains *d = ctx;
	struct ldconn_search s = {.base = d->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .filter = "(objectClass=dirmxDomain)",
	                          .attrs = attrs};

	if (d->req == NULL)
		d->req = ldpool_search(d->pool, &s, loaded, d);
}

static void add_items(struct domains *d, const char *const *items, size_t n,
                      enum domains_kind kind, bool with_hop)
{
	for (size_t i = 0; i < n; i++) {
		const char *name, *hop;
		size_t len;

		domtable_split_item(items[i], &name, &len, &hop);
		domtable_add(d->t, name, len, kind, with_hop ? hop : NULL,
		             SOURCE_CONFIG, true);
	}
}

struct domains *domains_new(struct event_base *base, struct ldpool *pool,
                            const char *base_dn,
                            const struct domains_config *cfg,
                            uint64_t refresh_ms)
{
	struct domains *d = alloc_new(struct domains);

	d->base = base;
	d->pool = pool;
	d->base_dn = alloc_strdup(base_dn != NULL ? base_dn : "");
	d->refresh_ms = refresh_ms > 0 ? refresh_ms : 300000;
	d->timer = evloop_timer_new(base, refresh, d);
	d->t = domtable_new();
	/* The configuration's routes come first: a route's hop fills the
	 * gap of a domain declared without one (domtable.h). */
	add_items(d, cfg->routes, cfg->n_routes, DOMAINS_EXTERNAL, true);
	add_items(d, cfg->local, cfg->n_local, DOMAINS_LOCAL, false);
	add_items(d, cfg->external_relay, cfg->n_external_relay,
	          DOMAINS_EXTERNAL_RELAY, true);
	add_items(d, cfg->internal_relay, cfg->n_internal_relay,
	          DOMAINS_INTERNAL_RELAY, true);
	return d;
}

void domains_start(struct domains *d)
{
	refresh(d);
}

void domains_deinit(struct domains **dp)
{
	struct domains *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	ldpool_req_cancel(&d->req);
	evloop_timer_free(&d->timer);
	domtable_deinit(&d->t);
	free(d->base_dn);
	free(d);
}

enum domains_kind domains_classify(const struct domains *d, const char *domain,
                                   const char **hop_r)
{
	const struct domtable_entry *e = domtable_find(d->t, domain);

	*hop_r = e != NULL ? e->hop : NULL;
	if (e != NULL)
		return e->kind;
	return d->loaded ? DOMAINS_EXTERNAL : DOMAINS_UNKNOWN;
}

char *domains_rule(const struct domains *d, const char *domain,
                   enum domains_outcome outcome)
{
	return domtable_rule(domtable_find(d->t, domain), d->loaded, outcome);
}

size_t domains_count(const struct domains *d)
{
	return domtable_count(d->t);
}
