/*
 * goodpw - verifiers of the passwords that last worked; see goodpw.h.
 *
 * Entries sit on one list in the order they were put (oldest first: the
 * first to expire and the first to evict) and in a table of buckets by a
 * hash of the account DN. The DN is no attacker's choice (an entry exists
 * only for an account whose bind succeeded), so an unkeyed hash is enough.
 */
#include "goodpw.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "alloc.h"
#include "str.h"

#define HASH_LEN 32 /* SHA-256 */

struct entry {
	TAILQ_ENTRY(entry) age;
	LIST_ENTRY(entry) bucket;
	char *account;
	uint64_t put_ms;
	unsigned char salt[GOODPW_SALT_LEN];
	unsigned char hash[HASH_LEN];
};

TAILQ_HEAD(entry_age, entry);
LIST_HEAD(entry_bucket, entry);

struct goodpw {
	unsigned char key[GOODPW_KEY_LEN];
	unsigned iterations;
	size_t max_entries, count;
	uint64_t ttl_ms;
	struct entry_age by_age;
	struct entry_bucket *buckets;
	size_t n_buckets; /* a power of two */
};

static size_t bucket_of(const struct goodpw *g, const char *account)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)account; *p != 0;
	     p++) {
		h ^= (uint64_t)str_to_lower_ascii(*p);
		h *= 1099511628211ULL;
	}
	return (size_t)h & (g->n_buckets - 1);
}

static void entry_free(struct goodpw *g, struct entry *e)
{
	TAILQ_REMOVE(&g->by_age, e, age);
	LIST_REMOVE(e, bucket);
	g->count--;
	free(e->account);
	explicit_bzero(e, sizeof(*e));
	free(e);
}

static struct entry *entry_find(struct goodpw *g, const char *account)
{
	struct entry *e;

	if (g->n_buckets == 0)
		return NULL;
	LIST_FOREACH(e, &g->buckets[bucket_of(g, account)], bucket)
		if (strcasecmp(e->account, account) == 0)
			return e;
	return NULL;
}

static bool fresh(const struct goodpw *g, const struct entry *e,
                  uint64_t now_ms)
{
	/* A put "from the future" (clock trouble) is not trusted either. */
	return now_ms >= e->put_ms && now_ms - e->put_ms < g->ttl_ms;
}

/* The fresh entry of account, dropping an expired one. */
static struct entry *entry_get(struct goodpw *g, const char *account,
                               uint64_t now_ms)
{
	struct entry *e = entry_find(g, account);

	if (e != NULL && !fresh(g, e, now_ms)) {
		entry_free(g, e);
		e = NULL;
	}
	return e;
}

/* PBKDF2-HMAC-SHA256(HMAC-SHA256(key, password), salt). */
static bool verifier(const struct goodpw *g, const char *password,
                     const unsigned char *salt, unsigned char out[HASH_LEN])
{
	unsigned char inner[HASH_LEN];
	gnutls_datum_t k = {inner, sizeof(inner)};
	gnutls_datum_t s = {(unsigned char *)salt, GOODPW_SALT_LEN};
	bool ok;

	ok = gnutls_hmac_fast(GNUTLS_MAC_SHA256, g->key, sizeof(g->key),
	                      password, strlen(password), inner) == 0 &&
	     gnutls_pbkdf2(GNUTLS_MAC_SHA256, &k, &s, g->iterations, out,
	                   HASH_LEN) == 0;
	explicit_bzero(inner, sizeof(inner));
	if (!ok)
		explicit_bzero(out, HASH_LEN);
	return ok;
}

/* Constant time: how much of a verifier matched is nobody's business. */
static bool same(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

struct goodpw *goodpw_new(const unsigned char *key, unsigned iterations,
                          size_t max_entries, uint64_t ttl_ms)
{
	struct goodpw *g = alloc_new(struct goodpw);

	memcpy(g->key, key, sizeof(g->key));
	g->iterations = iterations != 0 ? iterations : 1;
	g->ttl_ms = ttl_ms;
	g->max_entries = ttl_ms != 0 ? max_entries : 0;
	TAILQ_INIT(&g->by_age);
	if (g->max_entries > 0) {
		/* About one entry per bucket when full, within reason. */
		g->n_buckets = 16;
		while (g->n_buckets < g->max_entries &&
		       g->n_buckets < ((size_t)1 << 20))
			g->n_buckets <<= 1;
		g->buckets = alloc_array(g->n_buckets, sizeof(*g->buckets));
		for (size_t i = 0; i < g->n_buckets; i++)
			LIST_INIT(&g->buckets[i]);
	}
	return g;
}

void goodpw_deinit(struct goodpw **gp)
{
	struct goodpw *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	while (!TAILQ_EMPTY(&g->by_age))
		entry_free(g, TAILQ_FIRST(&g->by_age));
	free(g->buckets);
	explicit_bzero(g, sizeof(*g));
	free(g);
}

bool goodpw_put(struct goodpw *g, const char *account, const char *password,
                const unsigned char salt[GOODPW_SALT_LEN], uint64_t now_ms)
{
	struct entry *e;

	if (g->max_entries == 0)
		return false;
	e = entry_find(g, account);
	if (e != NULL)
		entry_free(g, e);
	/* The oldest are the first to expire: sweep them, then make room. */
	while ((e = TAILQ_FIRST(&g->by_age)) != NULL &&
	       (!fresh(g, e, now_ms) || g->count >= g->max_entries))
		entry_free(g, e);
	e = alloc_new(struct entry);
	memcpy(e->salt, salt, GOODPW_SALT_LEN);
	if (!verifier(g, password, e->salt, e->hash)) {
		explicit_bzero(e, sizeof(*e));
		free(e);
		return false;
	}
	e->account = alloc_strdup(account);
	e->put_ms = now_ms;
	TAILQ_INSERT_TAIL(&g->by_age, e, age);
	LIST_INSERT_HEAD(&g->buckets[bucket_of(g, account)], e, bucket);
	g->count++;
	return true;
}

bool goodpw_match(struct goodpw *g, const char *account, const char *password,
                  uint64_t now_ms)
{
	struct entry *e = entry_get(g, account, now_ms);
	unsigned char h[HASH_LEN];
	bool ok;

	if (e == NULL)
		return false;
	ok = verifier(g, password, e->salt, h) && same(h, e->hash, HASH_LEN);
	explicit_bzero(h, sizeof(h));
	return ok;
}

bool goodpw_drop(struct goodpw *g, const char *account)
{
	struct entry *e = entry_find(g, account);

	if (e == NULL)
		return false;
	entry_free(g, e);
	return true;
}

size_t goodpw_count(const struct goodpw *g)
{
	return g->count;
}
