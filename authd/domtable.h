/*
 * domtable.h - the accepted-domain table, and what a domain's kind means
 * for a recipient.
 *
 * A domain is one of (Exchange's names, which admins know):
 * - authoritative ("local"): its recipients are all in the directory; an
 *   address the directory does not hold is refused (550 5.1.1);
 * - internal relay: shared with another mail system (a migration, a
 *   merger); recipients are looked up, a known one is routed as usual,
 *   an unknown one is accepted and relayed to the domain's next hop (the
 *   other system). A directory that does not answer is still a TEMPFAIL;
 * - external relay ("relay"): accepted, nothing looked up, everything
 *   relayed to the domain's next hop (or routerd's route/smarthost/MX);
 * - external ("route", or not listed): not ours, perhaps with a fixed
 *   route; routerd's relay policy applies.
 *
 * The same domain named twice (configuration and directory, or two
 * directory objects) takes the higher kind, in this order: internal relay
 * > authoritative > external relay > route. A domain becomes an internal
 * relay only with the next hop its own declaration gives: a route or
 * another object's hop never fills it (routerd sends the domain's known
 * recipients without a mailbox host by its routes, so the other system's
 * host must not be one of them).
 *
 * Pure: no sockets, no clock, no logging. Ownership: the table copies what
 * it is given; the entries it returns live until the next change.
 */
#ifndef DIRMX_DOMTABLE_H
#define DIRMX_DOMTABLE_H

#include <stdbool.h>
#include <stddef.h>

/* In rising precedence: a domain listed twice takes the higher kind. The
 * enums keep domains.h's prefix: they are that module's vocabulary (its
 * callers say DOMAINS_LOCAL), defined here so the pure part has them. */
enum domains_kind {
	DOMAINS_UNKNOWN = 0,    /* not loaded yet */
	DOMAINS_EXTERNAL,       /* not ours (perhaps with a fixed route) */
	DOMAINS_EXTERNAL_RELAY, /* ours to relay, recipients not checked */
	DOMAINS_LOCAL,          /* authoritative: recipients in the directory */
	DOMAINS_INTERNAL_RELAY, /* shared: unknown recipients relayed */
};

struct domtable_entry {
	char *name; /* lowercase, no trailing dot */
	enum domains_kind kind;
	char *hop;    /* "[host]:port" or "host"; NULL: none */
	char *source; /* "configuration" or "directory <DN>" */
	bool from_config;
};

struct domtable;

struct domtable *domtable_new(void);
void domtable_deinit(struct domtable **t);

/* Add name (len bytes, one trailing dot ignored) of kind, with hop (may be
 * NULL; a "smtp:" prefix is dropped) declared by source. */
void domtable_add(struct domtable *t, const char *name, size_t len,
                  enum domains_kind kind, const char *hop, const char *source,
                  bool from_config);
/* Drop what the directory said, keep the configuration's. */
void domtable_drop_directory(struct domtable *t);
/* The entry of domain (ASCII case-insensitive), or NULL. */
const struct domtable_entry *domtable_find(const struct domtable *t,
                                           const char *domain);
size_t domtable_count(const struct domtable *t);

/*
 * A dirmxDomainType value: authoritative or local, internalrelay,
 * externalrelay or relay, route. Case, '-', '_' and spaces are ignored
 * ("Internal-Relay" is internalrelay). -1 for anything else.
 */
int domtable_parse_type(const char *value, enum domains_kind *kind_r);

/*
 * A configuration item "domain [nexthop]": the domain (*name_r, *len_r)
 * and the next hop (*hop_r, NULL when absent).
 */
void domtable_split_item(const char *item, const char **name_r, size_t *len_r,
                         const char **hop_r);

/* How a lookup ended, for domtable_rule(). */
enum domains_outcome {
	DOMAINS_FOUND,           /* looked up, in the directory */
	DOMAINS_RELAYED_UNKNOWN, /* internal relay: not there, relayed */
	DOMAINS_NOT_LOOKED_UP,   /* external relay, not ours */
	DOMAINS_REFUSED,         /* NOTFOUND */
	DOMAINS_DEFERRED,        /* TEMPFAIL */
};

/* "authoritative", "internal relay", "external relay", "external". */
const char *domtable_kind_name(enum domains_kind kind);

/*
 * Which rule applied, for people (dirmxctl lookup): "internal relay
 * domain (configuration): not in the directory, relayed to HOP". e may be
 * NULL (a domain nobody listed). The caller frees the text.
 */
char *domtable_rule(const struct domtable_entry *e, bool loaded,
                    enum domains_outcome outcome);

#endif
