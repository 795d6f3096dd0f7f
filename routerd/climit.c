/*
 * climit - per-client connection limits; see climit.h.
 *
 * A chained hash table keyed by the 16-byte client (IPv4 as v4-mapped,
 * IPv6 masked), FNV-1a hashed, doubled when it holds more entries than
 * buckets. The rate is counted in fixed one-minute windows that start at
 * a client's first connection (as Postfix's anvil does): cheap, and a
 * burst across a window boundary gets at most twice the limit.
 */
#include "climit.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define RATE_WINDOW_MS 60000u

struct entry {
	uint8_t key[16];
	unsigned open;
	uint64_t window_start;
	unsigned window_count;
	struct entry *next;
};

struct climit {
	unsigned conn_limit, rate_limit, v6_prefix;
	struct entry **buckets;
	size_t n_buckets, n_entries;
};

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool client_key(const struct climit *c, const struct sockaddr *sa,
                       uint8_t key[16])
{
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		memcpy(key, v4mapped, 12);
		memcpy(key + 12, &sin.sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		unsigned bits;

		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(key, &sin6.sin6_addr, 16);
		/* A v4-mapped client is an IPv4 client: never mask it. */
		bits = memcmp(key, v4mapped, 12) == 0 ? 128 : c->v6_prefix;
		for (unsigned i = 0; i < 16; i++) {
			unsigned keep = bits >= 8 * (i + 1) ? 8
			                : bits > 8 * i      ? bits - 8 * i
			                                    : 0;

			key[i] &= (uint8_t)(0xff00u >> keep);
		}
		return true;
	}
	return false;
}

static size_t hash(const uint8_t key[16], size_t n_buckets)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 1099511628211ull;
	}
	return (size_t)(h & (n_buckets - 1));
}

struct climit *climit_new(unsigned conn_limit, unsigned rate_limit,
                          unsigned v6_prefix)
{
	struct climit *c = alloc_new(struct climit);

	c->n_buckets = 64;
	c->buckets = alloc_array(c->n_buckets, sizeof(*c->buckets));
	climit_set(c, conn_limit, rate_limit, v6_prefix);
	return c;
}

void climit_set(struct climit *c, unsigned conn_limit, unsigned rate_limit,
                unsigned v6_prefix)
{
	c->conn_limit = conn_limit;
	c->rate_limit = rate_limit;
	/* The prefix shapes the keys of open sessions: fixed at creation. */
	if (c->v6_prefix == 0)
		c->v6_prefix =
		    v6_prefix >= 1 && v6_prefix <= 128 ? v6_prefix : 64;
}

void climit_deinit(struct climit **cp)
{
	struct climit *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	for (size_t i = 0; i < c->n_buckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(c->buckets);
	free(c);
}

static bool idle(const struct entry *e, uint64_t now)
{
	return e->open == 0 && now - e->window_start >= RATE_WINDOW_MS;
}

/* Find key's entry; drop the idle ones met on the way. */
static struct entry **find(struct climit *c, const uint8_t key[16],
                           uint64_t now)
{
	struct entry **pp = &c->buckets[hash(key, c->n_buckets)];

	while (*pp != NULL) {
		struct entry *e = *pp;

		if (memcmp(e->key, key, 16) == 0)
			return pp;
		if (idle(e, now)) {
			*pp = e->next;
			free(e);
			c->n_entries--;
			continue;
		}
		pp = &e->next;
	}
	return pp;
}

static void grow(struct climit *c)
{
	size_t n = c->n_buckets * 2;
	struct entry **b = alloc_array(n, sizeof(*b));

	for (size_t i = 0; i < c->n_buckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			size_t h = hash(e->key, n);

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->n_buckets = n;
}

enum climit_verdict climit_open(struct climit *c, const struct sockaddr *sa,
                                uint64_t now_ms, unsigned *open_r)
{
	uint8_t key[16];
	struct entry **pp, *e;

	*open_r = 0;
	if (!client_key(c, sa, key))
		return CLIMIT_OK; /* not an IP client: nothing to count by */
	pp = find(c, key, now_ms);
	e = *pp;
	if (e == NULL) {
		if (c->n_entries >= c->n_buckets) {
			grow(c);
			pp = find(c, key, now_ms);
		}
		e = alloc_new(struct entry);
		memcpy(e->key, key, 16);
		e->window_start = now_ms;
		*pp = e;
		c->n_entries++;
	}
	*open_r = e->open;
	if (now_ms - e->window_start >= RATE_WINDOW_MS) {
		e->window_start = now_ms;
		e->window_count = 0;
	}
	if (c->conn_limit > 0 && e->open >= c->conn_limit)
		return CLIMIT_TOO_MANY;
	if (c->rate_limit > 0 && e->window_count >= c->rate_limit)
		return CLIMIT_TOO_FAST;
	e->open++;
	e->window_count++;
	return CLIMIT_OK;
}

void climit_close(struct climit *c, const struct sockaddr *sa, uint64_t now_ms)
{
	uint8_t key[16];
	struct entry **pp, *e;

	if (!client_key(c, sa, key))
		return;
	pp = find(c, key, now_ms);
	e = *pp;
	if (e == NULL || e->open == 0)
		return;
	e->open--;
	if (idle(e, now_ms) || (e->open == 0 && c->rate_limit == 0)) {
		*pp = e->next;
		free(e);
		c->n_entries--;
	}
}

size_t climit_entries(const struct climit *c)
{
	return c->n_entries;
}
