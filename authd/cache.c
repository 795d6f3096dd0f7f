/*
 * cache - bounded LRU cache of lookup answers with per-entry TTLs.
 *
 * SYNOPSIS
 *	c = cache_new(max_entries, max_bytes, seed)
 *	cache_put(c, key, keylen, value, vlen, negative, now_ms, ttl_ms)
 *	cache_put_tagged(c, ..., ttl_ms, tags, n_tags)
 *	cache_invalidate_tag(c, tag, taglen)
 *	cache_get(c, key, keylen, now_ms, &value, &vlen, &negative)
 *	cache_remove(c, key, keylen)
 *	cache_expire(c, now_ms)
 *	cache_flush(c)
 *	cache_stats(c, &stats)
 *	cache_deinit(&c)
 *
 * DESCRIPTION
 *	A chained hash table (power-of-two buckets, grown at load factor 1)
 *	keyed by SipHash-1-3 with a per-cache key derived from the caller's
 *	seed, so that clients who choose the addresses looked up cannot pile
 *	them into one bucket; plus an intrusive doubly-linked list in recency
 *	order. Each entry is one allocation: bookkeeping, value, key.
 *
 *	Tags: a second chained table (same SipHash key) from each tag to the
 *	list of its postings; an entry owns one posting per tag in an array
 *	allocated with it, and every way an entry leaves (replaced, evicted,
 *	expired, removed, invalidated, flushed) goes through entry_free(),
 *	which unlinks its postings and frees a tag left with none. So the
 *	index never names an entry that is gone, and its size is bounded by
 *	the entries' (each posting counts against max_bytes).
 *
 *	Expired entries are not swept by a timer (there is no clock here):
 *	they are freed when a lookup finds them, when they reach the LRU tail
 *	while room is being made, or by cache_expire(), which the daemon may
 *	call now and then.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "alloc.h"

#define CACHE_INITIAL_BUCKETS 16

struct cache_tag;
struct cache_entry;

struct cache_posting {
	struct cache_entry *e;
	struct cache_tag *t;
	LIST_ENTRY(cache_posting) link; /* in t->posts */
};

struct cache_tag {
	struct cache_tag *hnext; /* tag hash chain */
	uint64_t hash;
	LIST_HEAD(, cache_posting) posts;
	size_t len;
	char name[];
};

struct cache_entry {
	struct cache_entry *hnext;         /* hash chain */
	struct cache_entry *newer, *older; /* LRU list */
	uint64_t hash;
	uint64_t expires_ms;
	size_t keylen, vlen;
	size_t size; /* counted against max_bytes, postings included */
	struct cache_posting *posts;
	size_t n_posts;
	bool negative;
	unsigned char data[]; /* value, then key */
};

struct cache {
	struct cache_entry **buckets;
	size_t nbuckets; /* power of two */
	struct cache_tag **tbuckets;
	size_t ntbuckets; /* power of two */
	struct cache_entry *newest, *oldest;
	size_t max_entries, max_bytes;
	uint64_t k0, k1;
	struct cache_stats stats;
};

/* SipHash-1-3 (Aumasson and Bernstein), 64-bit output. */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = ROTL(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = ROTL(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = ROTL(v2, 32);                                             \
	} while (0)

static uint64_t siphash13(uint64_t k0, uint64_t k1, const void *data,
                          size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, full = len - len % 8;

	for (i = 0; i < full; i += 8) {
		m = 0;
		for (int k = 7; k >= 0; k--)
			m = (m << 8) | p[i + (size_t)k];
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t k = 0; i + k < len; k++)
		b |= (uint64_t)p[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct cache *cache_new(size_t max_entries, size_t max_bytes, uint64_t seed)
{
	struct cache *c = alloc_new(struct cache);

	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	c->k0 = splitmix64(&seed);
	c->k1 = splitmix64(&seed);
	c->nbuckets = CACHE_INITIAL_BUCKETS;
	c->buckets = alloc_array(c->nbuckets, sizeof(*c->buckets));
	memset(c->buckets, 0, c->nbuckets * sizeof(*c->buckets));
	c->ntbuckets = CACHE_INITIAL_BUCKETS;
	c->tbuckets = alloc_array(c->ntbuckets, sizeof(*c->tbuckets));
	memset(c->tbuckets, 0, c->ntbuckets * sizeof(*c->tbuckets));
	return c;
}

/* Bytes one posting of a tag of taglen counts: its share of the tag, too
 * (a tag may be held by this entry alone). */
static size_t posting_size(size_t taglen)
{
	return sizeof(struct cache_posting) + sizeof(struct cache_tag) + taglen;
}

static struct cache_tag **tag_slot(struct cache *c, uint64_t hash,
                                   const char *name, size_t len)
{
	struct cache_tag **pp = &c->tbuckets[hash & (c->ntbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		const struct cache_tag *t = *pp;

		if (t->hash == hash && t->len == len &&
		    memcmp(t->name, name, len) == 0)
			return pp;
	}
	return pp;
}

static void tags_grow(struct cache *c)
{
	size_t n, bytes;
	struct cache_tag **nb;

	if (!alloc_mul_ok(c->ntbuckets, 2, &n) ||
	    !alloc_mul_ok(n, sizeof(*nb), &bytes))
		return;
	nb = alloc_array(n, sizeof(*nb));
	memset(nb, 0, bytes);
	for (size_t i = 0; i < c->ntbuckets; i++) {
		struct cache_tag *t = c->tbuckets[i], *next;

		for (; t != NULL; t = next) {
			next = t->hnext;
			t->hnext = nb[t->hash & (n - 1)];
			nb[t->hash & (n - 1)] = t;
		}
	}
	free(c->tbuckets);
	c->tbuckets = nb;
	c->ntbuckets = n;
}

/* The tag named so, made when there is none. */
static struct cache_tag *tag_get(struct cache *c, const char *name, size_t len)
{
	uint64_t hash = siphash13(c->k0, c->k1, name, len);
	struct cache_tag **slot = tag_slot(c, hash, name, len);
	struct cache_tag *t = *slot;

	if (t != NULL)
		return t;
	t = alloc_zero(sizeof(*t) + len + 1);
	t->hash = hash;
	t->len = len;
	memcpy(t->name, name, len);
	LIST_INIT(&t->posts);
	t->hnext = *slot;
	*slot = t;
	c->stats.tags++;
	if (c->stats.tags > c->ntbuckets)
		tags_grow(c);
	return t;
}

static void tag_free_if_unused(struct cache *c, struct cache_tag *t)
{
	struct cache_tag **slot;

	if (!LIST_EMPTY(&t->posts))
		return;
	slot = tag_slot(c, t->hash, t->name, t->len);
	*slot = t->hnext;
	c->stats.tags--;
	free(t);
}

/* Every way out of the cache ends here: postings, then the entry. */
static void entry_free(struct cache *c, struct cache_entry *e)
{
	for (size_t i = 0; i < e->n_posts; i++) {
		LIST_REMOVE(&e->posts[i], link);
		tag_free_if_unused(c, e->posts[i].t);
	}
	c->stats.postings -= e->n_posts;
	free(e->posts);
	free(e);
}

size_t cache_entry_size(size_t keylen, size_t vlen)
{
	size_t n;

	if (!alloc_add_ok(sizeof(struct cache_entry), keylen, &n) ||
	    !alloc_add_ok(n, vlen, &n))
		return SIZE_MAX;
	return n;
}

static const unsigned char *entry_key(const struct cache_entry *e)
{
	return e->data + e->vlen;
}

static struct cache_entry **find_slot(struct cache *c, uint64_t hash,
                                      const void *key, size_t keylen)
{
	struct cache_entry **pp = &c->buckets[hash & (c->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		const struct cache_entry *e = *pp;

		if (e->hash == hash && e->keylen == keylen &&
		    (keylen == 0 || memcmp(entry_key(e), key, keylen) == 0))
			return pp;
	}
	return pp;
}

static void lru_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push_newest(struct cache *c, struct cache_entry *e)
{
	e->newer = NULL;
	e->older = c->newest;
	if (c->newest != NULL)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

/* Unlink e, reached through *slot in its chain, and free it. */
static void entry_drop(struct cache *c, struct cache_entry **slot)
{
	struct cache_entry *e = *slot;

	*slot = e->hnext;
	lru_unlink(c, e);
	c->stats.entries--;
	c->stats.bytes -= e->size;
	entry_free(c, e);
}

static void entry_drop_any(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **slot = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*slot != e)
		slot = &(*slot)->hnext;
	entry_drop(c, slot);
}

static bool entry_expired(const struct cache_entry *e, uint64_t now_ms)
{
	return now_ms >= e->expires_ms;
}

static void grow(struct cache *c)
{
	size_t n, bytes;
	struct cache_entry **nb;

	if (!alloc_mul_ok(c->nbuckets, 2, &n) ||
	    !alloc_mul_ok(n, sizeof(*nb), &bytes))
		return; /* stay at this size: slower, still correct */
	nb = alloc_array(n, sizeof(*nb));
	memset(nb, 0, bytes);
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

bool cache_put(struct cache *c, const void *key, size_t keylen,
               const void *value, size_t vlen, bool negative, uint64_t now_ms,
               uint64_t ttl_ms)
{
	return cache_put_tagged(c, key, keylen, value, vlen, negative, now_ms,
	                        ttl_ms, NULL, 0);
}

bool cache_put_tagged(struct cache *c, const void *key, size_t keylen,
                      const void *value, size_t vlen, bool negative,
                      uint64_t now_ms, uint64_t ttl_ms, const char *const *tags,
                      size_t n_tags)
{
	uint64_t hash = siphash13(c->k0, c->k1, key, keylen);
	struct cache_entry **slot = find_slot(c, hash, key, keylen);
	size_t size = cache_entry_size(keylen, vlen);
	struct cache_entry *e;

	for (size_t i = 0; i < n_tags && size != SIZE_MAX; i++)
		if (!alloc_add_ok(size, posting_size(strlen(tags[i])), &size))
			size = SIZE_MAX;

	if (*slot != NULL)
		entry_drop(c, slot);
	if (ttl_ms == 0 || c->max_entries == 0 || size > c->max_bytes)
		return false;
	while (c->stats.entries >= c->max_entries ||
	       c->stats.bytes > c->max_bytes - size) {
		e = c->oldest;
		if (entry_expired(e, now_ms))
			c->stats.expirations++;
		else
			c->stats.evictions++;
		entry_drop_any(c, e);
	}

	e = alloc_zero(size);
	e->hash = hash;
	e->expires_ms =
	    now_ms > UINT64_MAX - ttl_ms ? UINT64_MAX : now_ms + ttl_ms;
	e->keylen = keylen;
	e->vlen = vlen;
	e->size = size;
	e->negative = negative;
	if (vlen > 0)
		memcpy(e->data, value, vlen);
	if (keylen > 0)
		memcpy(e->data + vlen, key, keylen);

	/* Evictions may have emptied *slot's chain: find the head again. */
	slot = &c->buckets[hash & (c->nbuckets - 1)];
	e->hnext = *slot;
	*slot = e;
	lru_push_newest(c, e);
	c->stats.entries++;
	c->stats.bytes += size;
	if (n_tags > 0) {
		e->posts = alloc_array(n_tags, sizeof(*e->posts));
		for (size_t i = 0; i < n_tags; i++) {
			struct cache_posting *p = &e->posts[i];

			p->e = e;
			p->t = tag_get(c, tags[i], strlen(tags[i]));
			LIST_INSERT_HEAD(&p->t->posts, p, link);
		}
		e->n_posts = n_tags;
		c->stats.postings += n_tags;
	}
	if (c->stats.entries > c->nbuckets)
		grow(c);
	return true;
}

size_t cache_invalidate_tag(struct cache *c, const char *tag, size_t len)
{
	uint64_t hash = siphash13(c->k0, c->k1, tag, len);
	struct cache_tag *t;
	size_t n = 0;

	/* Dropping an entry's last posting of the tag frees the tag: look
	 * it up again each time. */
	while ((t = *tag_slot(c, hash, tag, len)) != NULL) {
		entry_drop_any(c, LIST_FIRST(&t->posts)->e);
		n++;
	}
	c->stats.invalidations += n;
	return n;
}

bool cache_get(struct cache *c, const void *key, size_t keylen, uint64_t now_ms,
               const void **value_r, size_t *vlen_r, bool *negative_r)
{
	uint64_t hash = siphash13(c->k0, c->k1, key, keylen);
	struct cache_entry **slot = find_slot(c, hash, key, keylen);
	struct cache_entry *e = *slot;

	if (e == NULL) {
		c->stats.misses++;
		return false;
	}
	if (entry_expired(e, now_ms)) {
		entry_drop(c, slot);
		c->stats.expirations++;
		c->stats.misses++;
		return false;
	}
	lru_unlink(c, e);
	lru_push_newest(c, e);
	c->stats.hits++;
	if (value_r != NULL)
		*value_r = e->data;
	if (vlen_r != NULL)
		*vlen_r = e->vlen;
	if (negative_r != NULL)
		*negative_r = e->negative;
	return true;
}

bool cache_remove(struct cache *c, const void *key, size_t keylen)
{
	uint64_t hash = siphash13(c->k0, c->k1, key, keylen);
	struct cache_entry **slot = find_slot(c, hash, key, keylen);

	if (*slot == NULL)
		return false;
	entry_drop(c, slot);
	return true;
}

size_t cache_expire(struct cache *c, uint64_t now_ms)
{
	struct cache_entry *e = c->oldest, *newer;
	size_t n = 0;

	for (; e != NULL; e = newer) {
		newer = e->newer;
		if (entry_expired(e, now_ms)) {
			entry_drop_any(c, e);
			n++;
		}
	}
	c->stats.expirations += n;
	return n;
}

void cache_flush(struct cache *c)
{
	struct cache_entry *e = c->newest, *older;

	for (; e != NULL; e = older) {
		older = e->older;
		entry_free(c, e);
	}
	c->newest = c->oldest = NULL;
	memset(c->buckets, 0, c->nbuckets * sizeof(*c->buckets));
	c->stats.entries = 0;
	c->stats.bytes = 0;
}

void cache_stats(const struct cache *c, struct cache_stats *stats_r)
{
	*stats_r = c->stats;
}

void cache_deinit(struct cache **cp)
{
	struct cache *c = *cp;

	if (c == NULL)
		return;
	cache_flush(c);
	free(c->buckets);
	free(c->tbuckets);
	free(c);
	*cp = NULL;
}
