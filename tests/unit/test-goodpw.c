/*
 * test-goodpw - verifiers of the passwords that last worked: match,
 * mismatch, expiry, eviction of the oldest, drop, and "off".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "goodpw.h"

#define DAY_MS (24ULL * 3600 * 1000)
#define T0 5000000ULL

static const unsigned char key[GOODPW_KEY_LEN] =
    "0123456789abcdef0123456789abcde";
static const unsigned char salt1[GOODPW_SALT_LEN] = "salt-one-16bytes";
static const unsigned char salt2[GOODPW_SALT_LEN] = "salt-two-16bytes";

static const char *const alice = "CN=alice,CN=Users,DC=ad,DC=example";
static const char *const bob = "CN=bob,CN=Users,DC=ad,DC=example";

static void test_match_and_mismatch(void **state)
{
	struct goodpw *g = goodpw_new(key, 2, 10, DAY_MS);

	(void)state;
	assert_false(goodpw_match(g, alice, "Secret!1", T0));
	assert_true(goodpw_put(g, alice, "Secret!1", salt1, T0));
	assert_true(goodpw_match(g, alice, "Secret!1", T0 + 1));
	assert_false(goodpw_match(g, alice, "Secret!2", T0 + 1));
	assert_false(goodpw_match(g, alice, "Secret!", T0 + 1));
	assert_false(goodpw_match(g, alice, "Secret!11", T0 + 1));
	assert_false(goodpw_match(g, alice, "", T0 + 1));
	/* A mismatch keeps the verifier (a stranger's guess is no news). */
	assert_true(goodpw_match(g, alice, "Secret!1", T0 + 2));
	/* Accounts are DNs without case; another account has its own. */
	assert_true(goodpw_match(g, "cn=ALICE,cn=users,dc=AD,dc=example",
	                         "Secret!1", T0 + 2));
	assert_false(goodpw_match(g, bob, "Secret!1", T0 + 2));
	/* A new success replaces the verifier: the old password is gone. */
	assert_true(goodpw_put(g, alice, "Secret!2", salt2, T0 + 3));
	assert_int_equal(goodpw_count(g), 1);
	assert_false(goodpw_match(g, alice, "Secret!1", T0 + 4));
	assert_true(goodpw_match(g, alice, "Secret!2", T0 + 4));
	goodpw_deinit(&g);
	assert_null(g);
	goodpw_deinit(&g);
}

static void test_key_is_copied(void **state)
{
	unsigned char other[GOODPW_KEY_LEN];
	struct goodpw *a, *b;

	(void)state;
	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	a = goodpw_new(key, 2, 10, DAY_MS);
	b = goodpw_new(other, 2, 10, DAY_MS);
	/* Two stores, two process keys: the caller wipes its key at once,
	 * the store keeps its own copy. */
	assert_true(goodpw_put(a, alice, "pw", salt1, T0));
	assert_true(goodpw_put(b, alice, "pw", salt1, T0));
	memset(other, 0, sizeof(other));
	assert_true(goodpw_match(b, alice, "pw", T0));
	assert_true(goodpw_match(a, alice, "pw", T0));
	goodpw_deinit(&a);
	goodpw_deinit(&b);
}

static void test_expiry(void **state)
{
	struct goodpw *g = goodpw_new(key, 1, 10, 1000);

	(void)state;
	assert_true(goodpw_put(g, alice, "pw", salt1, T0));
	assert_true(goodpw_match(g, alice, "pw", T0 + 999));
	/* Expires at exactly put + ttl, and the miss frees it. */
	assert_false(goodpw_match(g, alice, "pw", T0 + 1000));
	assert_int_equal(goodpw_count(g), 0);
	/* A put "from the future" (the clock went back) is not trusted. */
	assert_true(goodpw_put(g, bob, "pw", salt1, T0 + 5000));
	assert_false(goodpw_match(g, bob, "pw", T0 + 4999));
	/* A put sweeps the expired ones. */
	assert_true(goodpw_put(g, alice, "pw", salt1, T0 + 10000));
	assert_true(goodpw_put(g, bob, "pw", salt1, T0 + 10000));
	assert_true(goodpw_put(g, "CN=carol", "pw", salt1, T0 + 11500));
	assert_int_equal(goodpw_count(g), 1);
	goodpw_deinit(&g);
}

static void test_eviction_of_the_oldest(void **state)
{
	struct goodpw *g = goodpw_new(key, 1, 3, DAY_MS);
	char dn[64];

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(dn, sizeof(dn), "CN=user%d", i);
		assert_true(goodpw_put(g, dn, "pw", salt1, T0 + (uint64_t)i));
	}
	/* user0 logs in again: now the youngest; user1 is the oldest. */
	assert_true(goodpw_put(g, "CN=user0", "pw", salt1, T0 + 10));
	assert_true(goodpw_put(g, "CN=user3", "pw", salt1, T0 + 11));
	assert_int_equal(goodpw_count(g), 3);
	assert_false(goodpw_match(g, "CN=user1", "pw", T0 + 12));
	assert_true(goodpw_match(g, "CN=user0", "pw", T0 + 12));
	assert_true(goodpw_match(g, "CN=user2", "pw", T0 + 12));
	assert_true(goodpw_match(g, "CN=user3", "pw", T0 + 12));
	/* Many more than fit: never more than the limit. */
	for (int i = 0; i < 1000; i++) {
		snprintf(dn, sizeof(dn), "CN=many%d", i);
		assert_true(goodpw_put(g, dn, "pw", salt1, T0 + 100));
		assert_true(goodpw_count(g) <= 3);
	}
	assert_true(goodpw_match(g, "CN=many999", "pw", T0 + 100));
	assert_false(goodpw_match(g, "CN=many996", "pw", T0 + 100));
	goodpw_deinit(&g);
}

static void test_drop(void **state)
{
	struct goodpw *g = goodpw_new(key, 1, 10, DAY_MS);

	(void)state;
	assert_false(goodpw_drop(g, alice));
	assert_true(goodpw_put(g, alice, "pw", salt1, T0));
	assert_true(goodpw_put(g, bob, "pw", salt1, T0));
	assert_true(goodpw_drop(g, "cn=alice,cn=users,dc=ad,dc=example"));
	assert_false(goodpw_drop(g, alice));
	assert_false(goodpw_match(g, alice, "pw", T0));
	assert_true(goodpw_match(g, bob, "pw", T0));
	assert_int_equal(goodpw_count(g), 1);
	goodpw_deinit(&g);
}

static void test_off(void **state)
{
	struct goodpw *g = goodpw_new(key, 1, 10, 0);

	(void)state;
	assert_false(goodpw_put(g, alice, "pw", salt1, T0));
	assert_false(goodpw_match(g, alice, "pw", T0));
	assert_false(goodpw_drop(g, alice));
	goodpw_deinit(&g);
	g = goodpw_new(key, 1, 0, DAY_MS);
	assert_false(goodpw_put(g, alice, "pw", salt1, T0));
	assert_int_equal(goodpw_count(g), 0);
	goodpw_deinit(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_and_mismatch),
	    cmocka_unit_test(test_key_is_copied),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_eviction_of_the_oldest),
	    cmocka_unit_test(test_drop),
	    cmocka_unit_test(test_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
