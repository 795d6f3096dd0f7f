/*
 * cache.h - authd's lookup cache: positive and negative answers with their
 * own TTLs, bounded in entries and in bytes, least recently used first out.
 *
 * Contract:
 * - Keys and values are byte strings (NULs allowed); keys compare exactly,
 *   case included: the caller normalises addresses before using them.
 * - Time is passed in (now_ms, any monotonic millisecond clock) and so is
 *   the hash seed: the module reads no clock and no random source. Use a
 *   random seed per cache so that a client cannot choose keys that collide
 *   (the hash is SipHash-1-3 keyed by the seed).
 * - An entry put at time t with ttl is fresh while now < t + ttl: it
 *   expires at exactly t + ttl. An expired entry is a miss, and the lookup
 *   that finds it frees it. A ttl of 0 caches nothing (and drops what the
 *   key held before).
 * - Limits: after a put, entries <= max_entries and bytes <= max_bytes,
 *   where each entry costs cache_entry_size(keylen, vlen) bytes (its key,
 *   value and bookkeeping). Least recently used entries (put or hit) are
 *   dropped first. A single entry larger than max_bytes is not stored. A
 *   limit of 0 makes a cache that stores nothing.
 * - Ownership: cache_put() copies key and value. The pointer cache_get()
 *   returns belongs to the cache and stays valid until the next
 *   cache_put(), cache_remove(), cache_expire(), cache_flush() or
 *   cache_deinit() on this cache; a cache_get() of another key leaves it
 *   alone. The value is not aligned for any type: copy it out.
 * - Tags: an entry may carry tags (cache_put_tagged(), NUL-terminated
 *   strings, copied; a tag twice on one entry is allowed and counts
 *   twice). cache_invalidate_tag() drops every entry that carries the
 *   tag: that is how a directory change finds the answers it makes
 *   stale. A tag lives while an entry carries it, and each (entry, tag)
 *   counts against max_bytes with its entry, so tags cannot outgrow the
 *   cache.
 * - Pure and single-threaded: no I/O, no locks; cost O(1) on average per
 *   operation (cache_expire() and cache_flush() are O(entries)).
 */
#ifndef DIRMX_CACHE_H
#define DIRMX_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;

struct cache_stats {
	size_t entries;
	size_t bytes;         /* sum of cache_entry_size() over the entries */
	uint64_t hits;        /* cache_get() found a fresh entry */
	uint64_t misses;      /* cache_get() found nothing or an expired one */
	uint64_t evictions;   /* fresh entries dropped to respect the limits */
	uint64_t expirations; /* expired entries freed, however found */
	uint64_t invalidations; /* entries dropped by cache_invalidate_tag() */
	size_t tags;            /* distinct tags held */
	size_t postings;        /* (entry, tag) pairs */
};

struct cache *cache_new(size_t max_entries, size_t max_bytes, uint64_t seed);
/* Frees *c and everything it holds (NULL allowed); sets *c to NULL. */
void cache_deinit(struct cache **c);

/* Bytes one entry counts against max_bytes (SIZE_MAX on overflow). */
size_t cache_entry_size(size_t keylen, size_t vlen);

/*
 * Store a copy of value[0..vlen) under key, replacing what the key held,
 * as the most recently used entry. negative marks a "not found" answer.
 * Returns true when stored, false when the entry cannot be (ttl 0, larger
 * than the limits); the key is then absent.
 */
bool cache_put(struct cache *c, const void *key, size_t keylen,
               const void *value, size_t vlen, bool negative, uint64_t now_ms,
               uint64_t ttl_ms);

/* cache_put() with tags[0..n_tags) on the entry. */
bool cache_put_tagged(struct cache *c, const void *key, size_t keylen,
                      const void *value, size_t vlen, bool negative,
                      uint64_t now_ms, uint64_t ttl_ms, const char *const *tags,
                      size_t n_tags);
/* Drop every entry tagged tag[0..len); returns how many. */
size_t cache_invalidate_tag(struct cache *c, const char *tag, size_t len);

/*
 * Look key up. On a hit returns true, makes the entry the most recently
 * used one and sets *value_r, *vlen_r and *negative_r (each may be NULL).
 * On a miss returns false and leaves the outputs alone.
 */
bool cache_get(struct cache *c, const void *key, size_t keylen, uint64_t now_ms,
               const void **value_r, size_t *vlen_r, bool *negative_r);

/* Drop key; true when it was there (expired or not). */
bool cache_remove(struct cache *c, const void *key, size_t keylen);
/* Free every expired entry; returns how many. */
size_t cache_expire(struct cache *c, uint64_t now_ms);
/* Drop every entry (the counters are kept). */
void cache_flush(struct cache *c);

void cache_stats(const struct cache *c, struct cache_stats *stats_r);

#endif
