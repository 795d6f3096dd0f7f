/*
 * NAME
 *	resolve_cache - the address cache of resolve.c, and the reshuffle of
 *ties
 *
 * SYNOPSIS
 *	#include "resolve_private.h"
 *
 *	key = resolve_cache_key(&nexthop);
 *	e = resolve_cache_find(r, key);
 *	resolve_cache_put(r, &nexthop, &set);
 *	resolve_cache_reshuffle(r, &set);
 *
 * DESCRIPTION
 *	A bounded hash table of finished answers, keyed by host and
 *	literal-or-MX, each kept for the capped DNS TTL of the records
 *	behind it; when full, the oldest entry goes first. An answer given
 *	from the cache has its hosts of equal MX preference shuffled again,
 *	so load still spreads over equal exchangers. No DNS, no events:
 *	resolve.c does the lookups and calls in here.
 *
 * SEE ALSO
 *	resolve.c, resolve.h for the contract; resolve_private.h.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "resolve_private.h"

#define RESOLVE_BUCKETS 16384

void resolve_rset_clear(struct rset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free((char *)s->t[i].host);
	free(s->t);
	free(s->reason);
	memset(s, 0, sizeof(*s));
}

void resolve_rset_copy(struct rset *dst, const struct rset *src)
{
	*dst = *src;
	dst->reason = src->reason != NULL ? alloc_strdup(src->reason) : NULL;
	dst->t =
	    src->n > 0 ? alloc_memdup(src->t, src->n * sizeof(*src->t)) : NULL;
	for (size_t i = 0; i < src->n; i++)
		dst->t[i].host = alloc_strdup(src->t[i].host);
}

char *resolve_cache_key(const struct nexthop *nh)
{
	return alloc_printf("%c%s", nh->mx ? 'm' : 'l', nh->host);
}

static size_t key_hash(const char *k)
{
	uint32_t h = 2166136261u;

	for (; *k != '\0'; k++)
		h = (h ^ (unsigned char)*k) * 16777619u;
	return h % RESOLVE_BUCKETS;
}

void resolve_cache_remove(struct resolve *r, struct centry *e)
{
	struct centry **pp = &r->buckets[key_hash(e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		r->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		r->newest = e->older;
	r->count--;
	resolve_rset_clear(&e->set);
	free(e->key);
	free(e);
}

struct centry *resolve_cache_find(struct resolve *r, const char *key)
{
	struct centry *e;

	if (r->buckets == NULL)
		return NULL;
	for (e = r->buckets[key_hash(key)]; e != NULL; e = e->hnext)
		if (strcmp(e->key, key) == 0)
			break;
	if (e != NULL && e->expires_ms <= resolve_now_ms()) {
		resolve_cache_remove(r, e);
		e = NULL;
	}
	return e;
}

void resolve_cache_put(struct resolve *r, const struct nexthop *nh,
                       const struct rset *set)
{
	uint32_t cap = set->status == RESOLVE_OK ? RESOLVE_CACHE_TTL_MAX
	                                         : RESOLVE_NEG_TTL_MAX;
	uint32_t ttl = set->ttl < cap ? set->ttl : cap;
	char *key;
	struct centry *e, *old;
	size_t b;

	if (r->max == 0 || ttl == 0 || !set->cacheable)
		return;
	key = resolve_cache_key(nh);
	if ((old = resolve_cache_find(r, key)) != NULL)
		resolve_cache_remove(r, old);
	while (r->count >= r->max)
		resolve_cache_remove(r, r->oldest);
	if (r->buckets == NULL)
		r->buckets = alloc_array(RESOLVE_BUCKETS, sizeof(*r->buckets));
	e = alloc_new(struct centry);
	e->key = key;
	e->expires_ms = resolve_now_ms() + (uint64_t)ttl * 1000;
	resolve_rset_copy(&e->set, set);
	/* Ports are the request's business: see finish() in resolve.c. */
	b = key_hash(key);
	e->hnext = r->buckets[b];
	r->buckets[b] = e;
	e->older = r->newest;
	if (r->newest != NULL)
		r->newest->newer = e;
	else
		r->oldest = e;
	r->newest = e;
	r->count++;
}

/*
 * Shuffle again the hosts of equal preference in a cached answer: blocks
 * of consecutive targets of the same host keep their inner order.
 */
void resolve_cache_reshuffle(struct resolve *r, struct rset *s)
{
	struct resolve_target *out;
	size_t *start, *len, nb = 0, k = 0;

	if (s->n < 2)
		return;
	start = alloc_array(s->n, sizeof(*start));
	len = alloc_array(s->n, sizeof(*len));
	for (size_t i = 0; i < s->n; i++) {
		if (i == 0 || strcmp(s->t[i].host, s->t[i - 1].host) != 0) {
			start[nb] = i;
			len[nb++] = 0;
		}
		len[nb - 1]++;
	}
	for (size_t a = 0, z; a < nb; a = z) {
		uint16_t p = s->t[start[a]].preference;

		for (z = a + 1; z < nb && s->t[start[z]].preference == p; z++)
			;
		for (size_t i = z - a - 1; i > 0; i--) {
			uint32_t bound = (uint32_t)(i + 1), v;
			size_t j, ts, tl;

			do
				v = r->rand_fn(r->rand_ctx);
			while (v < (uint32_t)(-bound) % bound);
			j = a + v % bound;
			ts = start[a + i], tl = len[a + i];
			start[a + i] = start[j], len[a + i] = len[j];
			start[j] = ts, len[j] = tl;
		}
	}
	out = alloc_array(s->n, sizeof(*out));
	for (size_t bi = 0; bi < nb; bi++)
		for (size_t i = 0; i < len[bi]; i++)
			out[k++] = s->t[start[bi] + i];
	free(s->t);
	s->t = out;
	free(start);
	free(len);
}
