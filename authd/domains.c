/*
 * domains - accepted domains and routes; see domains.h.
 *
 * The table is small (tens of domains), so it is a flat array searched
 * linearly; the directory's part is replaced whole on every refresh.
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
#include "str.h"

struct domain_entry {
	char *name;
	enum domains_kind kind;
	char *hop;
	bool from_config;
};

struct domains {
	struct event_base *base;
	struct ldpool *pool;
	char *base_dn;
	struct domain_entry *e;
	size_t n;
	bool loaded;
	uint64_t refresh_ms;
	struct evloop_timer *timer;
	struct ldpool_req *req;
};

static void add(struct domains *d, const char *name, size_t len,
                enum domains_kind kind, const char *hop, bool from_config)
{
	struct domain_entry *e;

	while (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < d->n; i++) {
		e = &d->e[i];
		if (strlen(e->name) == len &&
		    strncasecmp(e->name, name, len) == 0) {
			/* The configuration's route wins; a hop fills a gap.
			 * LOCAL outranks RELAY outranks a plain route. */
			if (e->hop == NULL && hop != NULL)
				e->hop = alloc_strdup(
				    strncasecmp(hop, "smtp:", 5) == 0 ? hop + 5
				                                      : hop);
			if (kind > e->kind)
				e->kind = kind;
			return;
		}
	}
	d->e = alloc_resize(d->e, d->n + 1, sizeof(*d->e));
	e = &d->e[d->n++];
	e->name = alloc_strndup(name, len);
	str_lower_ascii(e->name, strlen(e->name));
	e->kind = kind;
	if (hop != NULL && strncasecmp(hop, "smtp:", 5) == 0)
		hop += 5;
	e->hop = hop != NULL && *hop != '\0' ? alloc_strdup(hop) : NULL;
	e->from_config = from_config;
}

static void drop_directory_entries(struct domains *d)
{
	size_t j = 0;

	for (size_t i = 0; i < d->n; i++) {
		if (d->e[i].from_config) {
			d->e[j++] = d->e[i];
			continue;
		}
		free(d->e[i].name);
		free(d->e[i].hop);
	}
	d->n = j;
}

static void loaded(const struct ldconn_result *res, const char *dc_uri,
                   void *ctx)
{
	struct domains *d = ctx;

	d->req = NULL;
	if (res->status != LDCONN_OK && res->status != LDCONN_NO_SUCH_OBJECT) {
		log_warn("domains", "event=load_failed error=\"%s\" kept=%zu",
		         res->error != NULL ? res->error : "?", d->n);
		evloop_timer_start(d->timer, 5000);
		return;
	}
	drop_directory_entries(d);
	for (size_t i = 0; i < res->n_entries; i++) {
		const struct ldconn_entry *e = &res->entries[i];
		const struct ldconn_attr *name =
		    ldconn_entry_attr(e, "dirmxDomainName");
		const struct ldconn_attr *type =
		    ldconn_entry_attr(e, "dirmxDomainType");
		const struct ldconn_attr *hop =
		    ldconn_entry_attr(e, "dirmxNextHop");
		enum domains_kind kind = DOMAINS_LOCAL;

		if (name == NULL || name->n_values == 0)
			continue;
		/* local: our mailboxes; relay: accepted and passed on
		 * unchecked; route: not ours, reached through a fixed hop. */
		if (type != NULL && type->n_values > 0) {
			if (strcasecmp(type->values[0].data, "relay") == 0)
				kind = DOMAINS_RELAY;
			else if (strcasecmp(type->values[0].data, "route") == 0)
				kind = DOMAINS_EXTERNAL;
		}
		add(d, name->values[0].data, name->values[0].len, kind,
		    hop != NULL && hop->n_values > 0 ? hop->values[0].data
		                                     : NULL,
		    false);
	}
	if (!d->loaded)
		log_info("domains", "event=loaded dc=%s domains=%zu",
		         dc_uri != NULL ? dc_uri : "-", d->n);
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

struct domains *domains_new(struct event_base *base, struct ldpool *pool,
                            const char *base_dn, const char *const *local,
                            size_t n_local, const char *const *routes,
                            size_t n_routes, uint64_t refresh_ms)
{
	struct domains *d = alloc_new(struct domains);

	d->base = base;
	d->pool = pool;
	d->base_dn = alloc_strdup(base_dn != NULL ? base_dn : "");
	d->refresh_ms = refresh_ms > 0 ? refresh_ms : 300000;
	d->timer = evloop_timer_new(base, refresh, d);
	/* "domain nexthop": the configuration's routes come first. */
	for (size_t i = 0; i < n_routes; i++) {
		const char *sp = strpbrk(routes[i], " \t");

		if (sp == NULL)
			continue;
		add(d, routes[i], (size_t)(sp - routes[i]), DOMAINS_EXTERNAL,
		    sp + strspn(sp, " \t"), true);
	}
	for (size_t i = 0; i < n_local; i++)
		add(d, local[i], strlen(local[i]), DOMAINS_LOCAL, NULL, true);
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
	for (size_t i = 0; i < d->n; i++) {
		free(d->e[i].name);
		free(d->e[i].hop);
	}
	free(d->e);
	free(d->base_dn);
	free(d);
}

enum domains_kind domains_classify(const struct domains *d, const char *domain,
                                   const char **hop_r)
{
	*hop_r = NULL;
	for (size_t i = 0; i < d->n; i++) {
		if (strcasecmp(d->e[i].name, domain) == 0) {
			*hop_r = d->e[i].hop;
			return d->e[i].kind;
		}
	}
	return d->loaded ? DOMAINS_EXTERNAL : DOMAINS_UNKNOWN;
}

size_t domains_count(const struct domains *d)
{
	return d->n;
}
