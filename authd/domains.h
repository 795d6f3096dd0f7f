/*
 * domains.h - which mail domains are ours, and where their mail goes.
 *
 * The accepted domains and per-domain routes come from the directory
 * (dirmxDomain objects: dirmxDomainName, dirmxDomainType local | relay |
 * route, dirmxNextHop), so admins steer routing by editing the directory:
 * "local" domains hold our mailboxes (the hop, if any, is the default for
 * mailboxes without their own), "relay" domains are accepted and passed
 * to their hop unchecked, "route" domains are not ours but are reached
 * through a fixed hop instead of their MX.
 * [routerd] local_domains and routes in the configuration add to them.
 * The directory's list is read at start and refreshed periodically; until
 * it has been read once, a domain the configuration does not name is
 * "unknown" and lookups answer TEMPFAIL rather than guess.
 */
#ifndef DIRMX_DOMAINS_H
#define DIRMX_DOMAINS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ldpool;

/* In rising precedence: a domain listed twice takes the higher kind. */
enum domains_kind {
	DOMAINS_UNKNOWN = 0, /* not loaded yet */
	DOMAINS_EXTERNAL,    /* not ours (perhaps with a fixed route) */
	DOMAINS_RELAY,       /* ours to relay, recipients not checked */
	DOMAINS_LOCAL,       /* ours: recipients are in the directory */
};

struct domains;

struct domains *domains_new(struct event_base *base, struct ldpool *pool,
                            const char *base_dn, const char *const *local,
                            size_t n_local, const char *const *routes,
                            size_t n_routes, uint64_t refresh_ms);
void domains_deinit(struct domains **d);
void domains_start(struct domains *d);

/*
 * Classify a domain (ASCII case-insensitive). *hop_r is the domain's
 * route ("[host]:port" or "host"), or NULL when it has none.
 */
enum domains_kind domains_classify(const struct domains *d, const char *domain,
                                   const char **hop_r);
size_t domains_count(const struct domains *d);

#endif
