/*
 * test-srvorder - RFC 2782 ordering with scripted and seeded random sources.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srvorder.h"

#define MAXT 8

struct script {
	const uint32_t *values;
	size_t count, pos;
};

static uint32_t script_rand(void *ctx)
{
	struct script *s = ctx;

	/* Running out of script is a test bug: fail loudly. */
	assert_true(s->pos < s->count);
	return s->values[s->pos++];
}

static uint32_t xorshift_rand(void *ctx)
{
	uint64_t *st = ctx;

	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (uint32_t)((*st * 0x2545f4914f6cdd1dULL) >> 32);
}

static uint32_t max_rand(void *ctx)
{
	return UINT32_MAX;
}

struct order_case {
	const char *name;
	struct srvorder_target t[MAXT];
	size_t n;
	uint32_t rnd[MAXT];
	size_t nrnd;
	int ret;
	size_t expect[MAXT];
	size_t nexpect;
};

static const struct order_case order_cases[] = {
    {"priorities ascending",
     {{20, 0, 389, "b"}, {10, 0, 389, "a"}, {30, 0, 389, "c"}},
     3,
     {0, 0, 0},
     3,
     SRVORDER_OK,
     {1, 0, 2},
     3},
    /*
     * Arranged: d(0) a(10) b(20) c(5): running sums 0 10 30 35. r=15
     * picks b; then d a c (0 10 15), r=0 picks d; then a c (10 15),
     * r=11 picks c; then a.
     */
    {"RFC walk-through",
     {{0, 10, 389, "a"}, {0, 20, 389, "b"}, {0, 5, 389, "c"}, {0, 0, 389, "d"}},
     4,
     {15, 0, 11, 7},
     4,
     SRVORDER_OK,
     {1, 3, 2, 0},
     4},
    {"running sum boundary is inclusive",
     {{0, 10, 389, "a"}, {0, 20, 389, "b"}},
     2,
     {10, 0},
     2,
     SRVORDER_OK,
     {0, 1},
     2},
    {"running sum just past boundary",
     {{0, 10, 389, "a"}, {0, 20, 389, "b"}},
     2,
     {11, 0},
     2,
     SRVORDER_OK,
     {1, 0},
     2},
    {"random value reduced modulo sum+1",
     {{0, 10, 389, "a"}, {0, 20, 389, "b"}},
     2,
     {31 + 11, 5},
     2,
     SRVORDER_OK,
     {1, 0},
     2},
    {"weight 0 wins only on r=0",
     {{0, 5, 389, "a"}, {0, 0, 389, "z"}},
     2,
     {0, 0},
     2,
     SRVORDER_OK,
     {1, 0},
     2},
    {"weight 0 loses on r=1",
     {{0, 5, 389, "a"}, {0, 0, 389, "z"}},
     2,
     {1, 0},
     2,
     SRVORDER_OK,
     {0, 1},
     2},
    {"all zero weights: uniform picks",
     {{0, 0, 389, "a"}, {0, 0, 389, "b"}, {0, 0, 389, "c"}},
     3,
     {2, 0, 0},
     3,
     SRVORDER_OK,
     {2, 0, 1},
     3},
    {"all zero weights: other picks",
     {{0, 0, 389, "a"}, {0, 0, 389, "b"}, {0, 0, 389, "c"}},
     3,
     {1, 1, 0},
     3,
     SRVORDER_OK,
     {1, 2, 0},
     3},
    {"groups ordered separately",
     {{1, 1, 389, "a"}, {0, 1, 389, "b"}, {1, 1, 389, "c"}, {0, 1, 389, "d"}},
     4,
     {2, 0, 2, 0},
     4,
     SRVORDER_OK,
     {3, 1, 2, 0},
     4},
    {"empty input", {{0}}, 0, {0}, 0, SRVORDER_OK, {0}, 0},
    {"single dot target",
     {{0, 0, 0, "."}},
     1,
     {0},
     0,
     SRVORDER_UNAVAILABLE,
     {0},
     0},
    {"single empty target",
     {{0, 0, 0, ""}},
     1,
     {0},
     0,
     SRVORDER_UNAVAILABLE,
     {0},
     0},
    {"only dot targets",
     {{0, 0, 0, "."}, {1, 0, 0, "."}},
     2,
     {0},
     0,
     SRVORDER_UNAVAILABLE,
     {0},
     0},
    {"dot among real targets is dropped",
     {{0, 0, 0, "."}, {0, 0, 389, "a"}},
     2,
     {0},
     1,
     SRVORDER_OK,
     {1},
     1},
    {"duplicates: case and trailing dot",
     {{0, 1, 389, "DC1.example.com"},
      {0, 1, 389, "dc1.example.com."},
      {0, 1, 389, "dc1.EXAMPLE.com"}},
     3,
     {0},
     1,
     SRVORDER_OK,
     {0},
     1},
    {"duplicates: other port is another target",
     {{0, 0, 389, "dc1"}, {0, 0, 636, "dc1"}},
     2,
     {0, 0},
     2,
     SRVORDER_OK,
     {0, 1},
     2},
    {"duplicates: best priority kept",
     {{5, 0, 389, "dc1"}, {0, 0, 389, "dc2"}, {1, 0, 389, "DC1"}},
     3,
     {0, 0},
     2,
     SRVORDER_OK,
     {1, 2},
     2},
    {"prefix names are not duplicates",
     {{0, 0, 389, "dc1"}, {0, 0, 389, "dc1x"}},
     2,
     {0, 0},
     2,
     SRVORDER_OK,
     {0, 1},
     2},
};

static void test_order_table(void **state)
{
	for (size_t c = 0; c < sizeof(order_cases) / sizeof(order_cases[0]);
	     c++) {
		const struct order_case *oc = &order_cases[c];
		struct script s = {oc->rnd, oc->nrnd, 0};
		const char *error = NULL;
		size_t *order = NULL, n = 99;
		int ret;

		ret = srvorder_sort(oc->t, oc->n, script_rand, &s, &order, &n,
		                    &error);
		if (ret != oc->ret || n != oc->nexpect)
			fail_msg("%s: ret %d n %zu", oc->name, ret, n);
		for (size_t i = 0; i < n; i++) {
			if (order[i] != oc->expect[i])
				fail_msg("%s: position %zu is %zu, want %zu",
				         oc->name, i, order[i], oc->expect[i]);
		}
		if (n == 0)
			assert_null(order);
		/* The script was used exactly as the RFC walk needs. */
		if (s.pos != oc->nrnd)
			fail_msg("%s: %zu random draws, want %zu", oc->name,
			         s.pos, oc->nrnd);
		free(order);
	}
}

static void first_choice_freq(const uint16_t *weights, size_t n,
                              const double *want, double tol)
{
	struct srvorder_target t[MAXT];
	char names[MAXT][24];
	unsigned long hits[MAXT] = {0};
	const unsigned long draws = 100000;
	uint64_t st = 0x0123456789abcdefULL;

	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "dc%zu", i);
		t[i] = (struct srvorder_target){0, weights[i], 389, names[i]};
	}
	for (unsigned long d = 0; d < draws; d++) {
		const char *error;
		size_t *order, cnt;

		assert_int_equal(srvorder_sort(t, n, xorshift_rand, &st, &order,
		                               &cnt, &error),
		                 SRVORDER_OK);
		assert_int_equal(cnt, n);
		hits[order[0]]++;
		free(order);
	}
	for (size_t i = 0; i < n; i++) {
		double got = (double)hits[i] / (double)draws;

		if (got < want[i] - tol || got > want[i] + tol)
			fail_msg("target %zu first %.4f of the time, want "
			         "%.4f +- %.2f",
			         i, got, want[i], tol);
	}
}

static void test_statistics(void **state)
{
	const uint16_t w1[] = {60, 30, 10};
	const double p1[] = {0.60, 0.30, 0.10};
	const uint16_t w2[] = {0, 0, 0, 0};
	const double p2[] = {0.25, 0.25, 0.25, 0.25};
	/* Weight 0 next to a sum of 100: chance 1/101 for r == 0. */
	const uint16_t w3[] = {50, 0, 50};
	const double p3[] = {50.0 / 101, 1.0 / 101, 50.0 / 101};
	const uint16_t w4[] = {65535, 1};
	const double p4[] = {65536.0 / 65537, 1.0 / 65537};

	first_choice_freq(w1, 3, p1, 0.02);
	first_choice_freq(w2, 4, p2, 0.02);
	first_choice_freq(w3, 3, p3, 0.02);
	first_choice_freq(w4, 2, p4, 0.005);
}

static void test_large(void **state)
{
	enum { N = 1000 };
	struct srvorder_target *t = calloc(N, sizeof(*t));
	char(*names)[16] = calloc(N, sizeof(*names));
	unsigned char seen[N] = {0};
	uint64_t st = 42;
	const char *error;
	size_t *order, n;

	assert_non_null(t);
	assert_non_null(names);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "dc%zu.ad", i);
		t[i] = (struct srvorder_target){
		    (uint16_t)(i % 7), (uint16_t)(i % 5 * 100), 389, names[i]};
	}
	assert_int_equal(
	    srvorder_sort(t, N, xorshift_rand, &st, &order, &n, &error),
	    SRVORDER_OK);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++) {
		assert_true(order[i] < N);
		assert_false(seen[order[i]]);
		seen[order[i]] = 1;
		if (i > 0)
			assert_true(t[order[i - 1]].priority <=
			            t[order[i]].priority);
	}
	free(order);
	/* All the same name and port: one survivor. */
	for (size_t i = 0; i < N; i++)
		t[i].target = "same.example";
	assert_int_equal(
	    srvorder_sort(t, N, xorshift_rand, &st, &order, &n, &error),
	    SRVORDER_OK);
	assert_int_equal(n, 1);
	assert_int_equal(order[0], 0);
	free(order);
	free(t);
	free(names);
}

static void test_errors(void **state)
{
	struct srvorder_target t[] = {{0, 0, 389, NULL}};
	const char *error = NULL;
	size_t *order = (size_t *)1, n = 5;
	uint64_t st = 1;

	assert_int_equal(
	    srvorder_sort(t, 1, xorshift_rand, &st, &order, &n, &error), -1);
	assert_non_null(error);
	assert_null(order);
	assert_int_equal(n, 0);
	t[0].target = "a";
	error = NULL;
	assert_int_equal(srvorder_sort(t, 1, NULL, NULL, &order, &n, &error),
	                 -1);
	assert_non_null(error);
	assert_int_equal(
	    srvorder_sort(NULL, 1, xorshift_rand, &st, &order, &n, &error), -1);
}

static void test_hostile_rand(void **state)
{
	/* A source stuck in the rejection zone still terminates. */
	struct srvorder_target t[] = {
	    {0, 1, 389, "a"}, {0, 1, 389, "b"}, {0, 1, 389, "c"}};
	const char *error;
	size_t *order, n;

	assert_int_equal(
	    srvorder_sort(t, 3, max_rand, NULL, &order, &n, &error),
	    SRVORDER_OK);
	assert_int_equal(n, 3);
	free(order);
}

static void test_prefer_site(void **state)
{
	const char *sites[] = {"Paris", NULL, "London", "paris", "Berlin"};
	size_t order[] = {4, 3, 2, 1, 0};
	size_t want[] = {3, 0, 4, 2, 1};
	size_t same[] = {0, 1, 2};

	assert_int_equal(srvorder_prefer_site(order, 5, sites, "PARIS"), 2);
	assert_memory_equal(order, want, sizeof(want));
	/* No client site, or no match: unchanged. */
	assert_int_equal(srvorder_prefer_site(order, 5, sites, NULL), 0);
	assert_int_equal(srvorder_prefer_site(order, 5, sites, ""), 0);
	assert_int_equal(srvorder_prefer_site(order, 5, sites, "Rome"), 0);
	assert_memory_equal(order, want, sizeof(want));
	assert_int_equal(srvorder_prefer_site(same, 0, sites, "Paris"), 0);
	assert_int_equal(srvorder_prefer_site(same, 3, sites, "London"), 1);
	assert_int_equal(same[0], 2);
	assert_int_equal(same[1], 0);
	assert_int_equal(same[2], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_table),
	    cmocka_unit_test(test_statistics),
	    cmocka_unit_test(test_large),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_hostile_rand),
	    cmocka_unit_test(test_prefer_site),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
