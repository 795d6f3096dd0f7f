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
 *
 * An OK answer is kept as lines: LOOKUP_BLOB_RELAYED first for an internal
 * relay's unknown address, then one "\tn\tPARENT\tTOP\tRULES" line per
 * sender restriction met (restrict.h; node numbers from 1 in this order),
 * then "addr\thop" or "addr\thop\tNODE" per recipient. The restrictions
 * are decided per sender when the answer is used, so the key stays the
 * address alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "buf.h"
#include "alloc.h"
#include "cache.h"
#include "evloop.h"
#include "lookup_private.h"
#include "sbuf.h"

#define IDENTITY_TAG "i:" /* see lookup_identity_put() */

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
		for (size_t i = 0; i < j->n_rnodes && ok; i++)
			ok = sbuf_printf(b, "\tn\t%u\t%d\t%s\n",
			                 j->rnodes[i].parent, j->rnodes[i].top,
			                 j->rnodes[i].rules);
		for (size_t i = 0; i < j->n_dests && ok; i++)
			ok = j->dests[i].path == 0
			         ? sbuf_printf(b, "%s\t%s\n", j->dests[i].addr,
			                       j->dests[i].hop)
			         : sbuf_printf(
			               b, "%s\t%s\t%u\n", j->dests[i].addr,
			               j->dests[i].hop, j->dests[i].path);
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
	/* every sender identity (below) */
	dropped +=
	    cache_invalidate_tag(lk->cache, IDENTITY_TAG, strlen(IDENTITY_TAG));
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

/* A number this file wrote; UINT32_MAX when it is not one (a node past
 * every end: restrict_filter() refuses to guess, the answer is TEMPFAIL). */
static unsigned blob_uint(const char *s)
{
	struct buf b;
	uint64_t v;

	buf_init(&b, s, strlen(s));
	if (!buf_fetch_uint(&b, UINT32_MAX - 1, &v) || buf_remaining(&b) != 0)
		return UINT32_MAX;
	return (unsigned)v;
}

/* Split line at its tabs into at most max fields; how many. */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;

	f[n++] = line;
	for (char *p = line; *p != '\0' && n < max; p++)
		if (*p == '\t') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

void lookup_blob_parse(struct lookup_blob *b, const void *v, size_t len,
                       const char *spelling)
{
	size_t rl = strlen(LOOKUP_BLOB_RELAYED), lines = 0;
	char *p, *f[5];

	b->text = alloc_strndup(v, len);
	p = b->text;
	if (strncmp(p, LOOKUP_BLOB_RELAYED, rl) == 0) {
		b->relayed = true;
		p += rl;
	}
	/* One array for every line: a group's blob has thousands. */
	for (char *q = p; (q = strchr(q, '\n')) != NULL; q++)
		lines++;
	b->dests = alloc_array(lines + 1, sizeof(*b->dests));
	b->rnodes = alloc_array(lines + 1, sizeof(*b->rnodes));
	while (*p != '\0') {
		char *nl = strchr(p, '\n');
		size_t n;

		if (nl == NULL)
			break;
		*nl = '\0';
		if (strncmp(p, "\tn\t", 3) == 0 &&
		    split_tabs(p + 3, f, 3) == 3) {
			b->rnodes[b->n_rnodes].parent = blob_uint(f[0]);
			b->rnodes[b->n_rnodes].top = strcmp(f[1], "1") == 0;
			b->rnodes[b->n_rnodes++].rules = f[2];
		} else if ((n = split_tabs(p, f, 3)) >= 2) {
			struct lookup_dest *d = &b->dests[b->n_dests++];

			d->max_kb = 0; /* lookup_restrict()'s */
			d->sender = NULL;
			d->addr = f[0];
			if (strcasecmp(f[0], spelling) == 0) {
				if (b->spelling == NULL)
					b->spelling = alloc_strdup(spelling);
				d->addr = b->spelling;
			}
			d->hop = f[1];
			d->path = n == 3 ? blob_uint(f[2]) : 0;
		}
		p = nl + 1;
	}
}

void lookup_blob_clear(struct lookup_blob *b)
{
	free(b->text);
	free(b->dests);
	free(b->rnodes);
	free(b->spelling);
	memset(b, 0, sizeof(*b));
}

/*
 * Sender identities (lookup.h, lookup_identity_get()): under "\x01" and the
 * name (no address key starts with a control byte), the value the send
 * limit (8 bytes, host order: the cache never leaves the process), then
 * the DN key and each group's, each NUL-terminated (DN keys hold no NUL);
 * "" after the limit for a sender no entry stands for. Tagged "d:" with
 * the DN and each group, and "i:" which every directory change drops
 * (lookup_invalidate()): a sender added to a group is a change of the
 * group, which the identity did not read.
 */
static char *identity_key(const char *name)
{
	return alloc_printf("\x01%s", name);
}

uint64_t lookup_identity_seq(const struct lookup *lk)
{
	return lk->inval_seq;
}

bool lookup_identity_get(struct lookup *lk, const char *name,
                         struct lookup_identity *id_r)
{
	char *key = identity_key(name);
	const void *v;
	size_t len, n = 0;
	const char *p, *end;
	bool hit;

	memset(id_r, 0, sizeof(*id_r));
	hit = lk->cache != NULL && cache_get(lk->cache, key, strlen(key),
	                                     evloop_now_ms(), &v, &len, NULL);
	free(key);
	if (!hit || len <= sizeof(id_r->send_max_kb) ||
	    ((const char *)v)[len - 1] != '\0')
		return false;
	memcpy(&id_r->send_max_kb, v, sizeof(id_r->send_max_kb));
	p = (const char *)v + sizeof(id_r->send_max_kb);
	end = (const char *)v + len;
	id_r->dn = *p == '\0' ? NULL : alloc_strdup(p);
	p += strlen(p) + 1;
	id_r->groups = alloc_array(len + 1, sizeof(char *));
	for (; p < end; p += strlen(p) + 1)
		id_r->groups[n++] = alloc_strdup(p);
	id_r->n_groups = n;
	return true;
}

void lookup_identity_put(struct lookup *lk, const char *name, uint64_t seq,
                         const struct lookup_identity *id)
{
	struct sbuf *b;
	const char **tags;
	const char *dn = id->dn;
	char *key;
	size_t nt = 0;
	bool ok;

	if (lk->cache == NULL || seq != lk->inval_seq)
		return; /* a change arrived while it was read */
	b = sbuf_new(16 * 1024 * 1024);
	tags = alloc_array(id->n_groups + 3, sizeof(*tags));
	tags[nt++] = IDENTITY_TAG;
	ok = sbuf_append(b, &id->send_max_kb, sizeof(id->send_max_kb)) &&
	     sbuf_append(b, dn != NULL ? dn : "",
	                 dn != NULL ? strlen(dn) + 1 : 1);
	if (dn != NULL)
		tags[nt++] = lookup_tag_make('d', dn);
	for (size_t i = 0; i < id->n_groups && ok; i++) {
		ok = sbuf_append(b, id->groups[i], strlen(id->groups[i]) + 1);
		tags[nt++] = lookup_tag_make('d', id->groups[i]);
	}
	key = identity_key(name);
	if (ok)
		cache_put_tagged(lk->cache, key, strlen(key), sbuf_data(b),
		                 sbuf_len(b), dn == NULL, evloop_now_ms(),
		                 ttl_capped(lk, lk->map.cache_ttl_ms, true),
		                 tags, nt);
	free(key);
	for (size_t i = 1; i < nt; i++)
		free((char *)tags[i]);
	free(tags);
	sbuf_deinit(&b);
}

void lookup_identity_clear(struct lookup_identity *id)
{
	free(id->dn);
	for (size_t i = 0; i < id->n_groups; i++)
		free(id->groups[i]);
	free(id->groups);
	memset(id, 0, sizeof(*id));
}
