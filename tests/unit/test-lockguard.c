/*
 * test-lockguard - may a password check reach the directory, given the
 * policy's age, its threshold and the account's failures (table-driven);
 * a known password's one spare, and that no interleaving of checks lets
 * more than T - 1 failures through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "lockguard.h"

#define NOW 1000000ULL
#define AGE_OK 10000ULL    /* read 10 s ago: fresh */
#define AGE_STALE 61000ULL /* read 61 s ago: stale */

static const struct lockguard_limits limits = {
    .unknown_max = 2, .open_max = 10, .max_age_ms = 60000};

enum {
	F = LOCKGUARD_FORWARD,
	X = LOCKGUARD_REFUSE,
	R = LOCKGUARD_READ,
	K = LOCKGUARD_FORWARD_KNOWN,
};

struct row {
	const char *what;
	bool pso;
	bool configured, known, confirmed, can_read;
	unsigned threshold;
	uint64_t age_ms;
	unsigned failures;
	int verdict;
	unsigned cap;
};

static const struct row rows[] = {
    /* A configured threshold is the policy: never read. */
    {"configured 5, 0 failures", false, true, false, false, true, 5, 0, 0, F,
     3},
    {"configured 5, 2 failures", false, true, false, false, true, 5, 0, 2, F,
     3},
    {"configured 5, 3 failures", false, true, false, false, true, 5, 0, 3, X,
     3},
    {"configured 3", false, true, false, false, true, 3, 0, 1, X, 1},
    {"configured 1", false, true, false, false, true, 1, 0, 0, F, 1},
    {"configured none: the brake", false, true, false, false, true, 0, 0, 9, F,
     10},
    {"configured none: brake hit", false, true, false, false, true, 0, 0, 10, X,
     10},
    /* Never read: read first, however few the failures. */
    {"unknown, first check", false, false, false, false, true, 0, 0, 0, R, 2},
    {"unknown, read failed", false, false, false, false, false, 0, 0, 0, F, 2},
    {"unknown, read failed, 1", false, false, false, false, false, 0, 0, 1, F,
     2},
    {"unknown, read failed, 2", false, false, false, false, false, 0, 0, 2, X,
     2},
    {"unknown, cap hit, no read", false, false, false, false, true, 0, 0, 2, X,
     2},
    /* Stale (older than a minute): read again before the first check. */
    {"stale 0, first check", false, false, true, false, true, 0, AGE_STALE, 0,
     R, 2},
    {"stale 0, read failed", false, false, true, false, false, 0, AGE_STALE, 1,
     F, 2},
    {"stale 0, read failed, cap", false, false, true, false, false, 0,
     AGE_STALE, 2, X, 2},
    {"stale 3: its own smaller cap", false, false, true, false, false, 3,
     AGE_STALE, 1, X, 1},
    {"stale 10: the unknown cap", false, false, true, false, false, 10,
     AGE_STALE, 2, X, 2},
    {"stale 5, read done", false, false, true, true, true, 5, AGE_STALE, 2, F,
     3},
    /* Fresh: below the unknown cap nothing waits. */
    {"fresh 0, first", false, false, true, false, true, 0, AGE_OK, 0, F, 10},
    {"fresh 0, second", false, false, true, false, true, 0, AGE_OK, 1, F, 10},
    {"fresh 5, second", false, false, true, false, true, 5, AGE_OK, 1, F, 3},
    /* Past the unknown cap, a lax policy must be read again now. */
    {"fresh 0, third: confirm", false, false, true, false, true, 0, AGE_OK, 2,
     R, 10},
    {"fresh 0, confirmed", false, false, true, true, true, 0, AGE_OK, 2, F, 10},
    {"fresh 0, confirm fails", false, false, true, false, false, 0, AGE_OK, 2,
     X, 2},
    {"fresh 0, brake", false, false, true, true, true, 0, AGE_OK, 10, X, 10},
    {"fresh 5, third: confirm", false, false, true, false, true, 5, AGE_OK, 2,
     R, 3},
    {"fresh 5, confirmed", false, false, true, true, true, 5, AGE_OK, 2, F, 3},
    {"fresh 5, cap: no read", false, false, true, false, true, 5, AGE_OK, 3, X,
     3},
    {"fresh 10, 7 confirmed", false, false, true, true, true, 10, AGE_OK, 7, F,
     8},
    {"fresh 10, 8", false, false, true, true, true, 10, AGE_OK, 8, X, 8},
    /* A strict policy needs no confirmation: it refuses by itself. */
    {"fresh 3, 1", false, false, true, false, true, 3, AGE_OK, 1, X, 1},
    {"fresh 4, 2", false, false, true, false, true, 4, AGE_OK, 2, X, 2},
    {"fresh 4, 1", false, false, true, false, true, 4, AGE_OK, 1, F, 2},
    /* A fine-grained policy of the account's own: the conservative cap,
     * whatever the domain's (or the configured) threshold says. */
    {"pso, domain 10", true, false, true, true, true, 10, AGE_OK, 1, F, 2},
    {"pso, domain 10, 2", true, false, true, true, true, 10, AGE_OK, 2, X, 2},
    {"pso, domain 0, 2", true, false, true, true, true, 0, AGE_OK, 2, X, 2},
    {"pso, domain 3", true, false, true, false, true, 3, AGE_OK, 1, X, 1},
    {"pso, stale: no wait", true, false, true, false, true, 10, AGE_STALE, 1, F,
     2},
    {"pso, configured 10", true, true, false, false, true, 10, 0, 2, X, 2},
};

/* Every row decided with known (the password that last worked) or not. */
static void check_rows(const struct row *rows_, size_t n, bool known)
{
	for (size_t i = 0; i < n; i++) {
		const struct row *w = &rows_[i];
		struct lockguard_policy p = {.configured = w->configured,
		                             .threshold = w->threshold,
		                             .known = w->known,
		                             .read_ms = NOW - w->age_ms,
		                             .confirmed = w->confirmed,
		                             .can_read = w->can_read,
		                             .pso = w->pso};
		unsigned cap = 12345;
		int v = lockguard_decide(&limits, &p, NOW, w->failures, true,
		                         known, &cap);

		if (v != w->verdict || cap != w->cap)
			fail_msg("%s: verdict %d cap %u, expected %d cap %u",
			         w->what, v, cap, w->verdict, w->cap);
	}
}

static void test_table(void **state)
{
	(void)state;
	check_rows(rows, sizeof(rows) / sizeof(rows[0]), false);
}

/* The same checks with a known password (the one that last worked). */
static const struct row known_rows[] = {
    /* Below the cap it is a check like any other. */
    {"configured 5, 2", false, true, false, false, true, 5, 0, 2, F, 3},
    /* At the cap: the spare, T - 1 at worst. */
    {"configured 5, 3", false, true, false, false, true, 5, 0, 3, K, 3},
    {"configured 5, 4: spare spent", false, true, false, false, true, 5, 0, 4,
     X, 3},
    {"configured 3, 1", false, true, false, false, true, 3, 0, 1, K, 1},
    {"configured 3, 2", false, true, false, false, true, 3, 0, 2, X, 1},
    /* 1 and 2 leave no spare: budget 1 is already T - 1 or T. */
    {"configured 2, 1", false, true, false, false, true, 2, 0, 1, X, 1},
    {"configured 1, 1", false, true, false, false, true, 1, 0, 1, X, 1},
    {"configured none, brake", false, true, false, false, true, 0, 0, 10, K,
     10},
    {"configured none, brake+1", false, true, false, false, true, 0, 0, 11, X,
     10},
    /* The domain's policy: confirmed past unknown_max, as any check. */
    {"fresh 5, 3: confirm", false, false, true, false, true, 5, AGE_OK, 3, R,
     3},
    {"fresh 5, 3 confirmed", false, false, true, true, true, 5, AGE_OK, 3, K,
     3},
    {"fresh 5, 3, no read", false, false, true, false, false, 5, AGE_OK, 3, X,
     2},
    {"fresh 4, 2 confirmed", false, false, true, true, true, 4, AGE_OK, 2, K,
     2},
    {"fresh 4, 3 confirmed", false, false, true, true, true, 4, AGE_OK, 3, X,
     2},
    {"fresh 3, 1", false, false, true, false, true, 3, AGE_OK, 1, K, 1},
    {"fresh 2, 1", false, false, true, true, true, 2, AGE_OK, 1, X, 1},
    /* Unknown or stale: read, never the spare without a policy. */
    {"unknown, 2: read", false, false, false, false, true, 0, 0, 2, R, 2},
    {"unknown, 2, read failed", false, false, false, false, false, 0, 0, 2, X,
     2},
    {"stale 5, 2: read", false, false, true, false, true, 5, AGE_STALE, 2, R,
     2},
    {"stale 5, 2, read failed", false, false, true, false, false, 5, AGE_STALE,
     2, X, 2},
    {"stale 5, 3 read done", false, false, true, true, true, 5, AGE_STALE, 3, K,
     3},
    /* A PSO's threshold is unread: no spare. */
    {"pso, domain 10, 2", true, false, true, true, true, 10, AGE_OK, 2, X, 2},
    {"pso, configured 10, 2", true, true, false, false, true, 10, 0, 2, X, 2},
};

static void test_known(void **state)
{
	(void)state;
	check_rows(known_rows, sizeof(known_rows) / sizeof(known_rows[0]),
	           true);
}

/* authcheck's counting, played out: checks arrive in any order, each bind
 * stays in flight for a while (counted), every password is wrong (the
 * known one too: it was changed since it worked). Whatever the order,
 * and even if the verifier were never dropped, no more than T - 1
 * failures reach the directory. */
static void test_known_interleavings(void **state)
{
	(void)state;
	srand(11);
	for (unsigned t = 3; t <= 10; t++) {
		for (int run = 0; run < 2000; run++) {
			struct lockguard_policy p = {.configured = true,
			                             .threshold = t};
			unsigned failed = 0, in_flight = 0, cap;

			for (int step = 0; step < 60; step++) {
				bool known = rand() % 2 == 0;
				enum lockguard_verdict v;

				if (in_flight > 0 && rand() % 2 == 0) {
					/* A bind in flight ends: wrong. */
					in_flight--;
					failed++;
					continue;
				}
				v = lockguard_decide(
				    &limits, &p, NOW, failed + in_flight,
				    rand() % 2 == 0, known, &cap);
				assert_int_not_equal(v, LOCKGUARD_READ);
				if (v == LOCKGUARD_FORWARD_KNOWN)
					assert_true(known);
				if (v != LOCKGUARD_REFUSE)
					in_flight++;
			}
			failed += in_flight;
			if (failed > t - 1)
				fail_msg("threshold %u: %u failures", t,
				         failed);
		}
	}
}

/* The scenario of issue 11 item 5: threshold 0 read, then set to 5. Every
 * decision after the change that lets a failure through must have been
 * confirmed by a read (which sees 5), so at most 3 failures ever pass. */
static void test_policy_change_never_locks(void)
{
	struct lockguard_policy p = {.threshold = 0,
	                             .known = true,
	                             .read_ms = NOW - 1000,
	                             .can_read = true};
	unsigned failures = 0, cap, reads = 0;

	for (int guess = 0; guess < 50; guess++) {
		enum lockguard_verdict v;

		p.confirmed = false;
		v = lockguard_decide(&limits, &p, NOW, failures, true, false,
		                     &cap);
		if (v == LOCKGUARD_READ) {
			/* The directory now says 5. */
			reads++;
			p.threshold = 5;
			p.read_ms = NOW;
			p.confirmed = true;
			v = lockguard_decide(&limits, &p, NOW, failures, true,
			                     false, &cap);
			assert_int_not_equal(v, LOCKGUARD_READ);
		}
		if (v == LOCKGUARD_FORWARD)
			failures++; /* every guess is wrong */
	}
	assert_int_equal(failures, 3);
	assert_true(failures < 5);
	assert_int_equal(reads, 1);
}

static void test_policy_change(void **state)
{
	(void)state;
	test_policy_change_never_locks();
}

/* Familiar and unfamiliar clients: strangers stop at their part of the
 * cap, a familiar client (or a known password) goes on to the cap. */
static void test_familiar_budgets(void **state)
{
	static const struct {
		unsigned threshold, failures;
		bool familiar, known;
		int verdict;
		unsigned cap;
	} t[] = {
	    /* T 5: cap 3, strangers 2. */
	    {5, 0, false, false, F, 3},
	    {5, 1, false, false, F, 3},
	    {5, 2, false, false, X, 2},
	    {5, 2, true, false, F, 3},
	    {5, 3, true, false, X, 3},
	    /* The password that last worked, from a stranger's address:
	     * decided as a familiar client's, then the spare. */
	    {5, 2, false, true, F, 3},
	    {5, 3, false, true, K, 3},
	    /* T 10: cap 8, strangers 4. */
	    {10, 3, false, false, F, 8},
	    {10, 4, false, false, X, 4},
	    {10, 7, true, false, F, 8},
	    /* T 3: cap 1, which strangers share (a new user must log in). */
	    {3, 0, false, false, F, 1},
	    {3, 1, false, false, X, 1},
	    {3, 1, true, false, X, 1},
	    /* No lockout: the brake (10), strangers 5. */
	    {0, 5, false, false, X, 5},
	    {0, 5, true, false, F, 10},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct lockguard_policy p = {.configured = true,
		                             .threshold = t[i].threshold};
		unsigned cap = 12345;
		int v = lockguard_decide(&limits, &p, NOW, t[i].failures,
		                         t[i].familiar, t[i].known, &cap);

		if (v != t[i].verdict || cap != t[i].cap)
			fail_msg("row %zu: verdict %d cap %u, expected %d cap "
			         "%u",
			         i, v, cap, t[i].verdict, t[i].cap);
	}
	assert_int_equal(lockguard_unfamiliar_cap(0), 1);
	assert_int_equal(lockguard_unfamiliar_cap(1), 1);
	assert_int_equal(lockguard_unfamiliar_cap(2), 1);
	assert_int_equal(lockguard_unfamiliar_cap(3), 2);
	assert_int_equal(lockguard_unfamiliar_cap(8), 4);
}

/* Any mix of strangers and familiar clients, every guess wrong, binds
 * ending in any order: at most T - 2 failures reach the directory, and
 * after any storm of strangers a familiar client still has a check left
 * (where the cap leaves room for one: T >= 4). */
static void test_familiar_storms(void **state)
{
	(void)state;
	srand(17);
	for (unsigned t = 3; t <= 12; t++) {
		for (int run = 0; run < 1000; run++) {
			struct lockguard_policy p = {.known = true,
			                             .threshold = t,
			                             .read_ms = NOW - AGE_OK,
			                             .confirmed = true};
			unsigned failed = 0, in_flight = 0, cap;
			enum lockguard_verdict v;

			for (int step = 0; step < 60; step++) {
				bool familiar = rand() % 4 == 0;

				if (in_flight > 0 && rand() % 2 == 0) {
					in_flight--;
					failed++;
					continue;
				}
				v = lockguard_decide(&limits, &p, NOW,
				                     failed + in_flight,
				                     familiar, false, &cap);
				assert_int_not_equal(v, LOCKGUARD_READ);
				if (v == LOCKGUARD_FORWARD)
					in_flight++;
			}
			failed += in_flight;
			if (failed > lockguard_budget(t))
				fail_msg("threshold %u: %u failures", t,
				         failed);
		}
		/* Strangers alone, then the user from a familiar address. */
		{
			struct lockguard_policy p = {.configured = true,
			                             .threshold = t};
			unsigned failed = 0, cap;

			for (int guess = 0; guess < 50; guess++)
				if (lockguard_decide(&limits, &p, NOW, failed,
				                     false, false,
				                     &cap) == LOCKGUARD_FORWARD)
					failed++;
			assert_int_equal(failed, lockguard_unfamiliar_cap(
			                             lockguard_budget(t)));
			if (t >= 4)
				assert_int_equal(
				    lockguard_decide(&limits, &p, NOW, failed,
				                     true, false, &cap),
				    LOCKGUARD_FORWARD);
		}
	}
}

static void test_budget_and_names(void **state)
{
	struct lockguard_policy p = {0};

	(void)state;
	assert_int_equal(lockguard_budget(0), 1);
	assert_int_equal(lockguard_budget(1), 1);
	assert_int_equal(lockguard_budget(2), 1);
	assert_int_equal(lockguard_budget(3), 1);
	assert_int_equal(lockguard_budget(5), 3);
	assert_int_equal(lockguard_budget(100), 98);
	assert_string_equal(lockguard_policy_name(&p, &limits, NOW), "unknown");
	p.known = true;
	p.read_ms = NOW - AGE_OK;
	assert_string_equal(lockguard_policy_name(&p, &limits, NOW), "domain");
	p.read_ms = NOW - AGE_STALE;
	assert_string_equal(lockguard_policy_name(&p, &limits, NOW), "stale");
	/* A read stamped after now (clock trouble) is not trusted. */
	p.read_ms = NOW + 5;
	assert_string_equal(lockguard_policy_name(&p, &limits, NOW), "stale");
	p.read_ms = NOW - AGE_OK;
	p.pso_read = true;
	assert_string_equal(lockguard_policy_name(&p, &limits, NOW), "pso");
	p.pso_read = false;
	p.pso = true;
	assert_string_equal(lockguard_policy_name(&p, &limits, NOW),
	                    "pso-unread");
	p.configured = true;
	assert_string_equal(lockguard_policy_name(&p, &limits, NOW),
	                    "configured");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_policy_change),
	    cmocka_unit_test(test_known),
	    cmocka_unit_test(test_known_interleavings),
	    cmocka_unit_test(test_familiar_budgets),
	    cmocka_unit_test(test_familiar_storms),
	    cmocka_unit_test(test_budget_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
