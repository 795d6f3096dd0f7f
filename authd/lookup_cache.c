/*
 * lookup_cache - what lookup answers the cache keeps, for how long, and
 * what drops them; see lookup.h.
 *
 * An answer is stored with the tags of what it depends on (lookup.h) for
 * cache_ttl (NOTFOUND: negative_ttl), capped at unwatched_ttl while the
 * directory's changes are not followed (and, for OK answers, while
 * deletions are not seen); an answer made while a change arrived is not
 * stored at all. Invalidations and flushes bump inval_seq, which is how a
 * job in flight knows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "cache.h"
#include "evloop.h"
#include "lookup_private.h"
#include "sbuf.h"

static uint64_t ttl_capped(const struct lookup *lk, uint64_t ttl, bool ok)
{
	/* An OK answer is made stale by a deletion too: not followed, it
	 * gets the unwatched cap. */
	bool capped = !lk->watched || (ok && lk->deletions_unseen);

	if (capped && lk->map.unwatched_ttl_ms > 0 &&
	    ttl > lk->map.unwatched_ttl_ms)
		return lk->map.unwatched_ttl_ms;
	return ttl;
}

void lookup_cache_store(struct job *j)
{
	struct lookup *lk = j->lk;
	uint64_t now = evloop_now_ms();
	uint64_t ttl = ttl_capped(lk, lk->map.cache_ttl_ms, true);
	uint64_t neg_ttl = ttl_capped(lk, lk->map.negative_ttl_ms, false);
	const char **tags;
	size_t n = 0;

	if (lk->cache == NULL || (j->flags & LOOKUP_F_NOCACHE) != 0)
		return;
	if (j->inval_seq != lk->inval_seq) {
		/* The directory changed while this answer was being made:
		 * it may hold what the change replaced. Answer, but do not
		 * keep it. */
		lk->stats.uncached_changed++;
		return;
	}
	tags = alloc_array(j->tags.n + 1, sizeof(*tags));
	for (size_t i = 0; i < j->tags.cap; i++)
		if (j->tags.slots[i] != NULL)
			tags[n++] = j->tags.slots[i];
	if (j->relayed_unknown)
		ttl = neg_ttl; /* a NOTFOUND in disguise */
	if (j->status == LOOKUP_OK && ttl > 0) {
		struct sbuf *b = sbuf_new(64 * 1024 * 1024);
		bool ok = true;

		if (j->relayed_unknown)
			ok = sbuf_append_str(b, LOOKUP_BLOB_RELAYED);
		for (size_t i = 0; i < j->n_dests && ok; i++)
			ok = sbuf_printf(b, "%s\t%s\n", j->dests[i].addr,
			                 j->dests[i].hop);
		if (ok)
			cache_put_tagged(lk->cache, j->key, strlen(j->key),
			                 sbuf_data(b), sbuf_len(b), false, now,
			                 ttl, tags, n);
		sbuf_deinit(&b);
	} else if (j->status == LOOKUP_NOTFOUND && neg_ttl > 0) {
		cache_put_tagged(lk->cache, j->key, strlen(j->key), j->reason,
		                 strlen(j->reason), true, now, neg_ttl, tags,
		                 n);
	}
	free(tags);
}

size_t lookup_cache_flush(struct lookup *lk, const char *address)
{
	struct cache_stats st;
	struct addr *a = NULL;
	const char *error;
	char *key;
	bool removed;

	if (lk->cache == NULL)
		return 0;
	if (address == NULL) {
		cache_stats(lk->cache, &st);
		cache_flush(lk->cache);
		lk->inval_seq++;
		return st.entries;
	}
	/* The same key lookup_start() uses. */
	if (addr_parse_mailbox(address, strlen(address), ADDR_ALLOW_UTF8, &a,
	                       &error) < 0)
		return 0;
	key = lookup_lower_dup(addr_format(a));
	removed = cache_remove(lk->cache, key, strlen(key));
	free(key);
	addr_deinit(&a);
	return removed ? 1 : 0;
}

bool lookup_get_cache_stats(const struct lookup *lk, struct cache_stats *st_r)
{
	if (lk->cache == NULL)
		return false;
	cache_stats(lk->cache, st_r);
	return true;
}

size_t lookup_invalidate(struct lookup *lk, const char *const *tags, size_t n)
{
	size_t dropped = 0;

	lk->inval_seq++;
	if (lk->cache == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		dropped +=
		    cache_invalidate_tag(lk->cache, tags[i], strlen(tags[i]));
	lk->stats.invalidated += dropped;
	return dropped;
}

void lookup_set_watched(struct lookup *lk, bool watched)
{
	lk->watched = watched;
}

void lookup_set_deletions_seen(struct lookup *lk, bool seen)
{
	lk->deletions_unseen = !seen;
}
