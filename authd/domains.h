/*
 * domains.h - which mail domains are ours, and where their mail goes.
 *
 * The accepted domains and per-domain routes come from the directory
 * (dirmxDomain objects: dirmxDomainName, dirmxDomainType, dirmxNextHop),
 * so admins steer routing by editing the directory, and from the
 * configuration ([routerd] local_domains, internal_relay_domains,
 * external_relay_domains and routes). The kinds and how a domain named
 * twice is decided are domtable.h's. dirmxDomainType is authoritative
 * (or local), internalrelay, externalrelay (or relay) or route; an
 * unknown value is read as authoritative (logged), as before the kinds
 * had names. An internal relay object without dirmxNextHop is logged as
 * an error: its unknown recipients are deferred until it has one.
 * The directory's list is read at start and refreshed periodically; until
 * it has been read once, a domain the configuration does not name is
 * "unknown" and lookups answer TEMPFAIL rather than guess.
 */
#ifndef DIRMX_DOMAINS_H
#define DIRMX_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domtable.h"

struct event_base;
struct ldpool;

/* The configuration's lists, as [routerd] holds them. */
struct domains_config {
	const char *const *local; /* "domain" */
	size_t n_local;
	const char *const *internal_relay; /* "domain nexthop" */
	size_t n_internal_relay;
	const char *const *external_relay; /* "domain [nexthop]" */
	size_t n_external_relay;
	const char *const *routes; /* "domain nexthop" */
	size_t n_routes;
};

struct domains;

struct domains *domains_new(struct event_base *base, struct ldpool *pool,
                            const char *base_dn,
                            const struct domains_config *cfg,
                            uint64_t refresh_ms);
void domains_deinit(struct domains **d);
void domains_start(struct domains *d);

/*
 * Classify a domain (ASCII case-insensitive). *hop_r is the domain's
 * route ("[host]:port" or "host"), or NULL when it has none.
 */
enum domains_kind domains_classify(const struct domains *d, const char *domain,
                                   const char **hop_r);
/* Which rule applied to a recipient of domain (domtable_rule()); the
 * caller frees it. */
char *domains_rule(const struct domains *d, const char *domain,
                   enum domains_outcome outcome);
size_t domains_count(const struct domains *d);

#endif
