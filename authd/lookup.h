/*
 * lookup.h - from an address to the final list of (recipient, next hop).
 *
 * A lookup finds the directory object that owns the address (one search
 * with the configured recipient filter), then follows what the object
 * says: a distribution group is expanded member by member (nested groups,
 * cycles cut, AD range retrieval of large member values), a forward
 * (mailRoutingAddress, targetAddress, dirmxForwardTo) is looked up again
 * with a hop limit and loop detection, a disabled account is not
 * deliverable, and a mailbox's next hop comes from mailHost / dirmxNextHop
 * or, failing that, from its domain's route.
 *
 * Answers are OK (the list), NOTFOUND (permanent: unknown address,
 * disabled account, forwarding loop) or TEMPFAIL (the directory is down
 * or slow, two objects claim the address, the expansion is larger than
 * allowed): never a guess, never a partial list.
 *
 * Hops in answers: "[host]:port" or "host" (a mailbox server or route from
 * the directory), "local" (a local address with no next hop in the
 * directory: routerd uses its configured route, smarthost or MX), or
 * "external" (not a local domain: routerd's relay policy applies).
 *
 * Internal relay domains (domtable.h): an address no object holds is OK
 * with one record (the address, the domain's hop), cached with the
 * negative TTL like the NOTFOUND it stands for.
 *
 * Answers are cached (positive and negative TTLs, LRU) and identical
 * lookups in flight share one search. An answer passed to a callback is
 * valid only during the callback.
 */
#ifndef DIRMX_LOOKUP_H
#define DIRMX_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "restrict.h"

struct event_base;
struct ldpool;
struct domains;
struct dirmap;

/* What a lookup needs beside the attribute mapping (dirmap.h). */
struct lookup_map {
	const char *base_dn;
	const char *recipient_filter; /* template: %s %u %d */
	unsigned max_expansion;       /* recipients in one answer */
	unsigned max_hops;            /* forwards followed */
	char subaddress_delim;        /* '+' ; 0 = none */
	uint64_t cache_ttl_ms;
	uint64_t negative_ttl_ms;
	/* Both TTLs are capped at this while directory changes are not
	 * followed (lookup_set_watched()); 0: no cap. */
	uint64_t unwatched_ttl_ms;
	unsigned cache_size;
};

enum lookup_status {
	LOOKUP_OK = 0,
	LOOKUP_NOTFOUND,
	LOOKUP_TEMPFAIL,
};

struct lookup_dest {
	const char *addr;
	const char *hop;
	/* The last restricted entry on its way (restrict.h), 0: none. */
	unsigned path;
	/* Its size limit in KB (restrict_path_limit()), 0: none; set by
	 * lookup_restrict(). */
	uint64_t max_kb;
	/* The envelope sender of its copy (restrict_path_report()): NULL
	 * the message's own, "" none; set (and owned) by lookup_restrict(). */
	char *sender;
};

struct lookup_answer {
	enum lookup_status status;
	const char *reason; /* NOTFOUND / TEMPFAIL: why */
	size_t n_dests;
	const struct lookup_dest *dests;
	const char *dc; /* the DC that answered, NULL if cached */
	bool cached;
	size_t n_trace;
	const char *const *trace; /* when asked for */
	unsigned searches;        /* LDAP searches this answer took */
	/* The looked-up address's domain: "local" (authoritative),
	 * "internalrelay", "relay" (external relay), "external". */
	const char *domain;
	/* With LOOKUP_F_TRACE: which rule applied, for people
	 * (domtable_rule()); NULL otherwise. */
	const char *rule;
	/* OK: the sender restrictions met on the way (restrict_filter()
	 * decides them per sender; cached with the answer). */
	size_t n_rnodes;
	const struct restrict_node *rnodes;
	/* NOTFOUND by a sender restriction: the rule's attribute
	 * (lookup_restrict()); NULL otherwise. */
	const char *restricted;
};

#define LOOKUP_F_TRACE 0x1
#define LOOKUP_F_NOCACHE 0x2

typedef void lookup_cb(const struct lookup_answer *ans, void *ctx);

struct lookup;
struct lookup_req;

/*
 * Copies the map's strings it needs; dm (what an entry means) must outlive
 * the lookup. gc_pool (may be NULL): connections
 * to Global Catalog servers; when given, the owner of an address is
 * searched forest-wide there (base ""), and the objects it leads to are
 * read through pool.
 */
struct lookup *lookup_new(struct event_base *base, struct ldpool *pool,
                          struct ldpool *gc_pool, struct domains *domains,
                          const struct dirmap *dm,
                          const struct lookup_map *map);
void lookup_deinit(struct lookup **lk);

/*
 * Start a lookup. The callback is called exactly once, never inside this
 * call, unless the request is cancelled.
 */
struct lookup_req *lookup_start(struct lookup *lk, const char *address,
                                unsigned flags, lookup_cb *cb, void *ctx);
void lookup_cancel(struct lookup_req **req);

/* Drop every cached answer, or only address's; returns how many. */
size_t lookup_cache_flush(struct lookup *lk, const char *address);

/*
 * A directory change (dirwatch.h): drop every cached answer that depends
 * on one of tags, and keep the answers being computed now out of the
 * cache (they may have read the directory before the change). A tag is
 * "g:" and an object id (dirmap_object_id()), "d:" and a DN, or "a:" and
 * an address, all lowercase: an answer depends on the objects it read,
 * the DNs it read members by and the addresses it searched for (so a new
 * object with an address drops that address's NOTFOUND). Returns how
 * many answers were dropped.
 */
size_t lookup_invalidate(struct lookup *lk, const char *const *tags, size_t n);
/*
 * A sender's identity (authcheck_identity()) as cached with the answers,
 * under its name: the login name of an authenticated sender, or
 * LOOKUP_IDENTITY_FROM and the envelope sender for the entry that owns
 * it (authcheck_identity_from(); a login name holds no control byte).
 * Any directory change drops every identity; seq (lookup_identity_seq()
 * when the read started) keeps one read across a change out.
 */
#define LOOKUP_IDENTITY_FROM "\x02"
struct lookup_identity {
	char *dn;      /* its DN key; NULL: no entry */
	char **groups; /* its groups' keys, nested */
	size_t n_groups;
	uint64_t send_max_kb; /* submissionContLength; 0: none */
};
uint64_t lookup_identity_seq(const struct lookup *lk);
/* *id_r is the caller's (lookup_identity_clear()) when true. */
bool lookup_identity_get(struct lookup *lk, const char *name,
                         struct lookup_identity *id_r);
void lookup_identity_put(struct lookup *lk, const char *name, uint64_t seq,
                         const struct lookup_identity *id);
void lookup_identity_clear(struct lookup_identity *id);
/* The tag kind + value (the caller frees it). */
char *lookup_tag_make(char kind, const char *value);
/* Are directory changes followed now? Until they are (and whenever they
 * stop), answers are cached for at most map.unwatched_ttl_ms. */
void lookup_set_watched(struct lookup *lk, bool watched);
/* Are deletions among the changes followed (AD: can the bind account see
 * tombstones)? When not, OK answers are cached for at most
 * map.unwatched_ttl_ms (NOTFOUND ones are not made stale by a deletion).
 * Default: yes. */
void lookup_set_deletions_seen(struct lookup *lk, bool seen);

struct lookup_stats {
	uint64_t lookups, cache_hits, searches, coalesced;
	uint64_t ok, notfound, tempfail;   /* answers from the directory */
	uint64_t cache_ok, cache_notfound; /* answers from the cache */
	uint64_t invalidated;              /* cached answers a change dropped */
	uint64_t uncached_changed; /* answers not cached: changed meanwhile */
};
void lookup_get_stats(const struct lookup *lk, struct lookup_stats *st_r);
/* The answer cache's numbers; false when there is no cache. */
struct cache_stats;
bool lookup_get_cache_stats(const struct lookup *lk, struct cache_stats *st_r);

/*
 * The answer a as sender s may have it (restrict_filter()): a itself
 * when no restriction applies, else *f_r, a copy with the recipients s
 * may not send to left out, NOTFOUND with restricted set when the address
 * refuses s as a whole or nobody is left, TEMPFAIL when the cached
 * restrictions do not read or s->identity_failed. Each refusal is logged
 * (event=rcpt_restricted) under log_id and request id. Call
 * lookup_restrict_clear(f_r) after.
 */
const struct lookup_answer *lookup_restrict(const struct lookup_answer *a,
                                            const struct restrict_sender *s,
                                            const char *log_id, uint64_t id,
                                            struct lookup_answer *f_r);
void lookup_restrict_clear(struct lookup_answer *f);

/* The presets: fill map with the defaults of "ad" or "ldap" (the
 * attribute mapping's are dirmap_preset()'s). */
void lookup_map_preset(struct lookup_map *map, bool ad);

#endif
