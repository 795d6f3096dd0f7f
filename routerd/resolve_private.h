/*
 * resolve_private.h - shared by resolve.c (requests: MX and address lookups,
 * assembling the answer) and resolve_cache.c (the address cache and the
 * reshuffle of cached ties). Not for other modules: they use resolve.h.
 */
#ifndef DIRMX_RESOLVE_PRIVATE_H
#define DIRMX_RESOLVE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "resolve.h"

/* A finished answer, owned by a request or by a cache entry. */
struct rset {
	enum resolve_status status;
	const char *code; /* static */
	char *reason;
	struct resolve_target *t; /* each t[i].host is allocated */
	size_t n;
	uint32_t ttl;
	bool implicit, cacheable;
};

struct centry {
	char *key;
	uint64_t expires_ms;
	struct rset set;
	struct centry *hnext;         /* bucket chain */
	struct centry *older, *newer; /* insertion order */
};

struct resolve {
	struct event_base *base;
	struct dns *dns;
	char **my_names;
	size_t n_names;
	nexthop_rand_fn *rand_fn;
	void *rand_ctx;
	uint64_t rand_state;
	LIST_HEAD(, resolve_req) reqs;
	struct centry **buckets;
	struct centry *oldest, *newest;
	size_t count, max;
};

static inline uint64_t resolve_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Free what s holds and zero it. */
void resolve_rset_clear(struct rset *s);
/* dst becomes a deep copy of src; dst's old contents are not freed. */
void resolve_rset_copy(struct rset *dst, const struct rset *src);

/* The cache key of a hop: literal or MX, and the host. Caller frees. */
char *resolve_cache_key(const struct nexthop *nh);
/* The live entry for key, or NULL; an expired one is dropped. */
struct centry *resolve_cache_find(struct resolve *r, const char *key);
/* Remember set for nh when it is cacheable, for its capped TTL. */
void resolve_cache_put(struct resolve *r, const struct nexthop *nh,
                       const struct rset *set);
/* Unlink and free e. */
void resolve_cache_remove(struct resolve *r, struct centry *e);
/* Shuffle again the equal-preference hosts of a cached answer. */
void resolve_cache_reshuffle(struct resolve *r, struct rset *s);

#endif
