/*
 * test-cache - the lookup cache: TTLs, negative answers, LRU order, both
 * limits, and 200,000 random operations checked against a simple model;
 * tags: invalidation, and that no way out of the cache leaves a tag behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define S(lit) lit, sizeof(lit) - 1
#define SEED 0x0123456789abcdefULL

static bool put_str(struct cache *c, const char *key, const char *value,
                    bool negative, uint64_t now, uint64_t ttl)
{
	return cache_put(c, key, strlen(key), value, strlen(value), negative,
	                 now, ttl);
}

/* Hit with this exact value (NULL: expect a miss). */
static void expect_get(struct cache *c, const char *key, uint64_t now,
                       const char *want, bool want_negative)
{
	const void *v = NULL;
	size_t vlen = 0;
	bool neg = !want_negative;

	if (want == NULL) {
		assert_false(
		    cache_get(c, key, strlen(key), now, &v, &vlen, &neg));
		assert_null(v);
		return;
	}
	assert_true(cache_get(c, key, strlen(key), now, &v, &vlen, &neg));
	assert_int_equal(vlen, strlen(want));
	assert_memory_equal(v, want, vlen);
	assert_int_equal(neg, want_negative);
}

static void test_ttl(void **state)
{
	struct cache *c = cache_new(10, 1 << 20, SEED);
	struct cache_stats st;

	assert_true(put_str(c, "a@x", "mbx1.example", false, 1000, 500));
	expect_get(c, "a@x", 1000, "mbx1.example", false);
	expect_get(c, "a@x", 1499, "mbx1.example", false);
	/* Expires at exactly put time + ttl, and the entry is freed. */
	expect_get(c, "a@x", 1500, NULL, false);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.expirations, 1);
	/* A later clock value that went back does not revive it. */
	expect_get(c, "a@x", 1000, NULL, false);

	/* ttl 0 caches nothing and drops the old answer. */
	assert_true(put_str(c, "b@x", "v", false, 0, 10));
	assert_false(put_str(c, "b@x", "v", false, 0, 0));
	expect_get(c, "b@x", 1, NULL, false);

	/* A huge ttl saturates instead of wrapping. */
	assert_true(put_str(c, "c@x", "v", false, UINT64_MAX - 5, UINT64_MAX));
	expect_get(c, "c@x", UINT64_MAX - 1, "v", false);
	cache_deinit(&c);
	assert_null(c);
	cache_deinit(&c);
}

static void test_negative(void **state)
{
	struct cache *c = cache_new(10, 1 << 20, SEED);

	/* A negative answer with its own, shorter TTL and no value. */
	assert_true(cache_put(c, S("nobody@x"), NULL, 0, true, 0, 60));
	assert_true(put_str(c, "a@x", "mbx", false, 0, 3600));
	expect_get(c, "nobody@x", 59, "", true);
	expect_get(c, "a@x", 59, "mbx", false);
	expect_get(c, "nobody@x", 60, NULL, false);
	expect_get(c, "a@x", 60, "mbx", false);
	/* NULL outputs are allowed. */
	assert_true(cache_get(c, S("a@x"), 61, NULL, NULL, NULL));
	cache_deinit(&c);
}

static void test_replace(void **state)
{
	struct cache *c = cache_new(10, 1 << 20, SEED);
	struct cache_stats st;

	assert_true(put_str(c, "a@x", "first", true, 0, 10));
	assert_true(put_str(c, "a@x", "second value", false, 5, 100));
	expect_get(c, "a@x", 50, "second value", false);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, cache_entry_size(3, 12));
	assert_int_equal(st.evictions, 0);
	/* Case-sensitive keys; NUL bytes are key bytes. */
	assert_true(put_str(c, "A@x", "upper", false, 0, 100));
	assert_true(cache_put(c, S("a@x\0z"), S("nul"), false, 0, 100));
	expect_get(c, "a@x", 50, "second value", false);
	expect_get(c, "A@x", 50, "upper", false);
	assert_true(cache_get(c, S("a@x\0z"), 50, NULL, NULL, NULL));
	assert_false(cache_get(c, S("a@x\0y"), 50, NULL, NULL, NULL));
	/* The empty key is a key. */
	assert_true(cache_put(c, NULL, 0, S("empty"), false, 0, 100));
	assert_true(cache_get(c, NULL, 0, 1, NULL, NULL, NULL));
	cache_deinit(&c);
}

static void test_lru_entries(void **state)
{
	struct cache *c = cache_new(3, 1 << 20, SEED);
	struct cache_stats st;

	put_str(c, "a", "1", false, 0, 1000);
	put_str(c, "b", "2", false, 0, 1000);
	put_str(c, "c", "3", false, 0, 1000);
	/* A hit makes "a" the most recent: "b" is now the oldest. */
	expect_get(c, "a", 1, "1", false);
	put_str(c, "d", "4", false, 2, 1000);
	expect_get(c, "b", 3, NULL, false);
	expect_get(c, "a", 3, "1", false);
	expect_get(c, "c", 3, "3", false);
	expect_get(c, "d", 3, "4", false);
	/* Order now a, c, d (oldest first); a replace refreshes too. */
	put_str(c, "a", "1b", false, 4, 1000);
	put_str(c, "e", "5", false, 4, 1000);
	expect_get(c, "c", 5, NULL, false);
	expect_get(c, "a", 5, "1b", false);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.expirations, 0);
	cache_deinit(&c);
}

static void test_lru_expired_tail(void **state)
{
	struct cache *c = cache_new(2, 1 << 20, SEED);
	struct cache_stats st;

	put_str(c, "a", "1", false, 0, 10);
	put_str(c, "b", "2", false, 0, 1000);
	/* Making room drops "a", which had expired: an expiration. */
	put_str(c, "c", "3", false, 20, 1000);
	cache_stats(c, &st);
	assert_int_equal(st.expirations, 1);
	assert_int_equal(st.evictions, 0);
	put_str(c, "d", "4", false, 20, 1000);
	cache_stats(c, &st);
	assert_int_equal(st.evictions, 1);
	cache_deinit(&c);
}

static void test_bytes_limit(void **state)
{
	size_t one = cache_entry_size(1, 100);
	struct cache *c = cache_new(1000, one * 3, SEED);
	char big[100], huge[1000];
	struct cache_stats st;

	memset(big, 'v', sizeof(big));
	memset(huge, 'h', sizeof(huge));
	assert_true(cache_put(c, "a", 1, big, 100, false, 0, 100));
	assert_true(cache_put(c, "b", 1, big, 100, false, 0, 100));
	assert_true(cache_put(c, "c", 1, big, 100, false, 0, 100));
	cache_stats(c, &st);
	assert_int_equal(st.bytes, one * 3);
	assert_true(cache_put(c, "d", 1, big, 100, false, 0, 100));
	cache_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.bytes, one * 3);
	assert_false(cache_get(c, "a", 1, 0, NULL, NULL, NULL));
	/* A bigger entry makes room for itself: two go. */
	assert_true(cache_put(c, "e", 1, huge, 100 + one, false, 0, 100));
	cache_stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_true(st.bytes <= one * 3);
	/* Larger than the whole cache: not stored, old value dropped. */
	assert_false(cache_put(c, "d", 1, huge, sizeof(huge), false, 0, 100));
	assert_false(cache_get(c, "d", 1, 0, NULL, NULL, NULL));
	assert_true(cache_get(c, "e", 1, 0, NULL, NULL, NULL));
	cache_deinit(&c);

	/* Zero limits: a cache that stores nothing. */
	c = cache_new(0, 1 << 20, SEED);
	assert_false(cache_put(c, "a", 1, "v", 1, false, 0, 100));
	cache_deinit(&c);
	c = cache_new(10, 0, SEED);
	assert_false(cache_put(c, "a", 1, "v", 1, false, 0, 100));
	cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	cache_deinit(&c);
}

static void test_many_inserts(void **state)
{
	size_t max_bytes = 64 * cache_entry_size(24, 32);
	struct cache *c = cache_new(100, max_bytes, SEED);
	struct cache_stats st;
	char key[32], value[32];

	memset(value, 'v', sizeof(value));
	for (unsigned i = 0; i < 100000; i++) {
		int n = snprintf(key, sizeof(key), "user%u@example.com", i);

		assert_true(cache_put(c, key, (size_t)n, value, i % 32,
		                      i % 3 == 0, i, 1000000));
		cache_stats(c, &st);
		assert_true(st.entries <= 100);
		assert_true(st.bytes <= max_bytes);
	}
	/* The most recent ones are still there. */
	assert_true(
	    cache_get(c, S("user99999@example.com"), 100000, NULL, NULL, NULL));
	assert_false(
	    cache_get(c, S("user0@example.com"), 100000, NULL, NULL, NULL));
	cache_stats(c, &st);
	assert_true(st.evictions >= 100000 - 100);
	assert_int_equal(st.evictions + st.entries, 100000);
	cache_deinit(&c);
}

static void test_remove_flush_expire(void **state)
{
	struct cache *c = cache_new(100, 1 << 20, SEED);
	struct cache_stats st;
	char key[16];

	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put_str(c, key, "v", i % 2 == 0, 0, i % 2 == 0 ? 10 : 100);
	}
	assert_true(cache_remove(c, S("k7")));
	assert_false(cache_remove(c, S("k7")));
	assert_false(cache_remove(c, S("nope")));
	expect_get(c, "k7", 1, NULL, false);
	/* The 25 even keys expire at 10. */
	assert_int_equal(cache_expire(c, 9), 0);
	assert_int_equal(cache_expire(c, 10), 25);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 24);
	assert_int_equal(st.expirations, 25);
	expect_get(c, "k9", 11, "v", false);
	cache_flush(c);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.hits, 1);
	expect_get(c, "k9", 11, NULL, false);
	/* Usable after a flush. */
	put_str(c, "k9", "again", false, 20, 10);
	expect_get(c, "k9", 21, "again", false);
	cache_deinit(&c);
}

/* The reference model: an array, searched linearly. */

#define MODEL_MAX 64

struct mentry {
	char key[8];
	size_t keylen;
	unsigned char value[48];
	size_t vlen;
	bool negative;
	uint64_t expires;
	uint64_t used; /* recency: larger is newer */
};

struct model {
	struct mentry e[MODEL_MAX];
	size_t n, bytes, max_entries, max_bytes;
	uint64_t tick;
	struct cache_stats st;
};

static uint64_t rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static int model_find(struct model *m, const char *key, size_t keylen)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->e[i].keylen == keylen &&
		    memcmp(m->e[i].key, key, keylen) == 0)
			return (int)i;
	}
	return -1;
}

static void model_drop(struct model *m, size_t i)
{
	m->bytes -= cache_entry_size(m->e[i].keylen, m->e[i].vlen);
	m->e[i] = m->e[--m->n];
}

static void model_put(struct model *m, const char *key, size_t keylen,
                      const unsigned char *v, size_t vlen, bool neg,
                      uint64_t now, uint64_t ttl)
{
	size_t size = cache_entry_size(keylen, vlen);
	int i = model_find(m, key, keylen);

	if (i >= 0)
		model_drop(m, (size_t)i);
	if (ttl == 0 || m->max_entries == 0 || size > m->max_bytes)
		return;
	while (m->n + 1 > m->max_entries || m->bytes + size > m->max_bytes) {
		size_t old = 0;

		for (size_t k = 1; k < m->n; k++) {
			if (m->e[k].used < m->e[old].used)
				old = k;
		}
		if (now >= m->e[old].expires)
			m->st.expirations++;
		else
			m->st.evictions++;
		model_drop(m, old);
	}
	assert_true(m->n < MODEL_MAX);
	struct mentry *e = &m->e[m->n++];
	memcpy(e->key, key, keylen);
	e->keylen = keylen;
	memcpy(e->value, v, vlen);
	e->vlen = vlen;
	e->negative = neg;
	e->expires = now + ttl;
	e->used = ++m->tick;
	m->bytes += size;
}

static void test_random_model(void **state)
{
	struct model m = {.max_entries = 20};
	struct cache *c;
	struct cache_stats st;
	uint64_t s = 0x9e3779b97f4a7c15ULL, now = 0;
	unsigned char value[48];
	char key[8];

	m.max_bytes = 12 * cache_entry_size(4, 24);
	c = cache_new(m.max_entries, m.max_bytes, SEED);
	for (int op = 0; op < 200000; op++) {
		uint64_t r = rng(&s);
		size_t keylen = 1 + r % 4, vlen = (r >> 8) % 48;
		bool neg = (r >> 16) & 1;
		uint64_t ttl = (r >> 20) % 200;
		const void *v;
		size_t got_len;
		bool got_neg;
		int i;

		/* Keys from a small alphabet, so they repeat. */
		for (size_t k = 0; k < keylen; k++)
			key[k] = (char)('a' + (rng(&s) % 3));
		for (size_t k = 0; k < vlen; k++)
			value[k] = (unsigned char)rng(&s);
		now += (r >> 32) % 4;

		switch ((r >> 40) % 10) {
		case 0:
		case 1:
		case 2:
		case 3:
			model_put(&m, key, keylen, value, vlen, neg, now, ttl);
			assert_int_equal(cache_put(c, key, keylen, value, vlen,
			                           neg, now, ttl),
			                 ttl != 0 &&
			                     model_find(&m, key, keylen) >= 0);
			break;
		case 4:
			i = model_find(&m, key, keylen);
			if (i >= 0)
				model_drop(&m, (size_t)i);
			assert_int_equal(cache_remove(c, key, keylen), i >= 0);
			break;
		case 5:
			if (rng(&s) % 100 == 0) {
				for (size_t k = 0; k < m.n; k++) {
					if (now >= m.e[k].expires) {
						model_drop(&m, k--);
						m.st.expirations++;
					}
				}
				cache_expire(c, now);
			}
			break;
		default:
			i = model_find(&m, key, keylen);
			if (i >= 0 && now >= m.e[i].expires) {
				model_drop(&m, (size_t)i);
				m.st.expirations++;
				i = -1;
			}
			if (i < 0) {
				m.st.misses++;
				assert_false(cache_get(c, key, keylen, now, &v,
				                       &got_len, &got_neg));
				break;
			}
			m.st.hits++;
			m.e[i].used = ++m.tick;
			assert_true(cache_get(c, key, keylen, now, &v, &got_len,
			                      &got_neg));
			assert_int_equal(got_len, m.e[i].vlen);
			assert_memory_equal(v, m.e[i].value, got_len);
			assert_int_equal(got_neg, m.e[i].negative);
			break;
		}
		cache_stats(c, &st);
		m.st.entries = m.n;
		m.st.bytes = m.bytes;
		assert_memory_equal(&st, &m.st, sizeof(st));
	}
	cache_deinit(&c);
}

static bool put_tagged(struct cache *c, const char *key, uint64_t now,
                       const char *t1, const char *t2)
{
	const char *tags[2] = {t1, t2};
	size_t n = t1 == NULL ? 0 : t2 == NULL ? 1 : 2;

	return cache_put_tagged(c, key, strlen(key), "v", 1, false, now, 1000,
	                        tags, n);
}

static void expect_tags(struct cache *c, size_t tags, size_t postings)
{
	struct cache_stats st;

	cache_stats(c, &st);
	assert_int_equal(st.tags, tags);
	assert_int_equal(st.postings, postings);
}

static void test_tags(void **state)
{
	struct cache *c = cache_new(100, 1u << 20, SEED);
	struct cache_stats st;

	(void)state;
	assert_true(put_tagged(c, "A", 0, "g:1", "a:x"));
	assert_true(put_tagged(c, "B", 0, "g:1", NULL));
	assert_true(put_tagged(c, "C", 0, "g:2", NULL));
	assert_true(put_str(c, "D", "v", false, 0, 1000));
	expect_tags(c, 3, 4);
	assert_int_equal(cache_invalidate_tag(c, S("g:1")), 2);
	expect_get(c, "A", 1, NULL, false);
	expect_get(c, "B", 1, NULL, false);
	expect_get(c, "C", 1, "v", false);
	expect_get(c, "D", 1, "v", false);
	expect_tags(c, 1, 1); /* a:x went with A */
	assert_int_equal(cache_invalidate_tag(c, S("a:x")), 0);
	assert_int_equal(cache_invalidate_tag(c, S("nosuch")), 0);
	/* Replacing an entry replaces its tags. */
	assert_true(put_tagged(c, "C", 2, "g:3", NULL));
	expect_tags(c, 1, 1);
	assert_int_equal(cache_invalidate_tag(c, S("g:2")), 0);
	expect_get(c, "C", 3, "v", false);
	/* One tag twice on an entry. */
	assert_true(put_tagged(c, "E", 3, "t", "t"));
	expect_tags(c, 2, 3);
	assert_int_equal(cache_invalidate_tag(c, S("t")), 1);
	expect_tags(c, 1, 1);
	/* remove, expire and flush take their tags along. */
	assert_true(cache_remove(c, S("C")));
	expect_tags(c, 0, 0);
	assert_true(put_tagged(c, "F", 0, "x", NULL));
	assert_int_equal(cache_expire(c, 5000), 2) /* F and D */;
	expect_tags(c, 0, 0);
	assert_true(put_tagged(c, "G", 0, "y", "z"));
	cache_flush(c);
	expect_tags(c, 0, 0);
	cache_stats(c, &st);
	assert_int_equal(st.invalidations, 3);
	cache_deinit(&c);
}

/* Tags count against max_bytes, and an evicted entry's tags go with it. */
static void test_tags_evicted_and_counted(void **state)
{
	size_t one = cache_entry_size(1, 1);
	struct cache *c = cache_new(2, 1u << 20, SEED);
	struct cache_stats st;

	(void)state;
	assert_true(put_tagged(c, "A", 0, "ta", NULL));
	assert_true(put_tagged(c, "B", 0, "tb", NULL));
	assert_true(put_tagged(c, "C", 0, "tc", NULL)); /* evicts A */
	expect_tags(c, 2, 2);
	assert_int_equal(cache_invalidate_tag(c, S("ta")), 0);
	cache_stats(c, &st);
	assert_true(st.bytes > 2 * one);
	cache_deinit(&c);
	/* Room for one untagged entry only: tags make it not fit. */
	c = cache_new(10, one, SEED);
	assert_true(put_str(c, "A", "v", false, 0, 1000));
	assert_false(put_tagged(c, "B", 0, "t", NULL));
	expect_tags(c, 0, 0);
	cache_deinit(&c);
}

/* Random puts, removes and invalidations against a brute-force model. */
static void test_tags_random(void **state)
{
	enum { KEYS = 12, TAGS = 6 };
	struct cache *c = cache_new(1000, 1u << 24, SEED);
	bool present[KEYS] = {0};
	unsigned mask[KEYS] = {0};
	uint64_t s = 42;

	(void)state;
	for (int op = 0; op < 20000; op++) {
		uint64_t r = rng(&s);
		unsigned k = (unsigned)(r % KEYS),
		         t = (unsigned)((r >> 8) % TAGS);
		char key[4], tag[4];

		snprintf(key, sizeof(key), "k%u", k);
		snprintf(tag, sizeof(tag), "t%u", t);
		if ((r >> 16) % 3 == 0) {
			const char *tags[TAGS];
			size_t n = 0;
			unsigned m = (unsigned)((r >> 24) % (1u << TAGS));
			char names[TAGS][4];

			for (unsigned i = 0; i < TAGS; i++) {
				if (m & (1u << i)) {
					snprintf(names[n], 4, "t%u", i);
					tags[n] = names[n];
					n++;
				}
			}
			assert_true(cache_put_tagged(c, key, strlen(key), "v",
			                             1, false, 0, 1u << 30,
			                             tags, n));
			present[k] = true;
			mask[k] = m;
		} else if ((r >> 16) % 3 == 1) {
			size_t want = 0;

			for (unsigned i = 0; i < KEYS; i++) {
				if (present[i] && (mask[i] & (1u << t))) {
					present[i] = false;
					want++;
				}
			}
			assert_int_equal(
			    cache_invalidate_tag(c, tag, strlen(tag)), want);
		} else {
			assert_int_equal(cache_remove(c, key, strlen(key)),
			                 present[k]);
			present[k] = false;
		}
	}
	for (unsigned i = 0; i < KEYS; i++) {
		char key[4];

		snprintf(key, sizeof(key), "k%u", i);
		assert_int_equal(
		    cache_get(c, key, strlen(key), 0, NULL, NULL, NULL),
		    present[i]);
	}
	cache_flush(c);
	expect_tags(c, 0, 0);
	cache_deinit(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_lru_entries),
	    cmocka_unit_test(test_lru_expired_tail),
	    cmocka_unit_test(test_bytes_limit),
	    cmocka_unit_test(test_many_inserts),
	    cmocka_unit_test(test_remove_flush_expire),
	    cmocka_unit_test(test_random_model),
	    cmocka_unit_test(test_tags),
	    cmocka_unit_test(test_tags_evicted_and_counted),
	    cmocka_unit_test(test_tags_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
