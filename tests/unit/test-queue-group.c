/*
 * test-queue-group - grouping an attempt's recipients by next hop: the
 * transactions a message to a large directory group becomes, hops that
 * mean the same host, routes and the smarthost, invalid hops, and
 * thousands of distinct next hops (every one its own group, found by
 * hash: the test would take minutes if this were quadratic, but asserts
 * only what comes out).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexthop.h"
#include "queue_group.h"
#include "spoolrec.h"

static struct spoolrec *env_new(void)
{
	struct spoolrec *env = spoolrec_new();

	snprintf(env->id, sizeof(env->id), "%s", "00362y7311tqy000");
	return env;
}

static void add(struct spoolrec *env, const char *addr, const char *hop,
                enum spoolrec_state state)
{
	spoolrec_add_rcpt(env, addr, hop)->state = state;
}

/* Copies whose groups' reports go elsewhere travel apart: one MAIL FROM
 * per transaction (spoolrec_rcpt_from()); a bounce keeps <> for all. */
static void test_by_sender(void **state)
{
	static const char *const senders[] = {
	    "", "owner@x.test", "<>", "owner@x.test", "", "s@x.test"};
	static const size_t want_group[] = {0, 1, 2, 1, 0, 0};
	struct spoolrec *env = env_new();
	struct queue_grouping g;
	char addr[32];

	(void)state;
	spoolrec_set(&env->mail_from, "s@x.test");
	for (size_t i = 0; i < 6; i++) {
		snprintf(addr, sizeof(addr), "m%zu@dirmx.test", i);
		add(env, addr, "[127.0.0.11]:2525", SPOOLREC_PENDING);
		spoolrec_set(&env->rcpts[i].sender, senders[i]);
	}
	queue_group_build(env, NULL, &g);
	assert_int_equal(g.n_groups, 3);
	assert_string_equal(g.groups[0].from, "s@x.test");
	assert_string_equal(g.groups[1].from, "owner@x.test");
	assert_string_equal(g.groups[2].from, "");
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < g.groups[k].n; i++)
			assert_int_equal(want_group[g.groups[k].idx[i]], k);
	assert_int_equal(g.groups[0].n + g.groups[1].n + g.groups[2].n, 6);
	queue_group_free(&g);
	/* the message is a bounce: every copy keeps <> */
	spoolrec_set(&env->mail_from, "");
	queue_group_build(env, NULL, &g);
	assert_int_equal(g.n_groups, 1);
	assert_int_equal(g.groups[0].n, 6);
	queue_group_free(&g);
	spoolrec_deinit(&env);
}

/* 3,000 members on three mailbox servers, as the benchmark's group. */
static void test_large_group(void **state)
{
	static const char *const hops[] = {
	    "[127.0.0.11]:2525", "[127.0.0.12]:2525", "[127.0.0.13]:2525"};
	struct spoolrec *env = env_new();
	struct queue_grouping g;
	char addr[64];

	(void)state;
	for (int i = 0; i < 3000; i++) {
		snprintf(addr, sizeof(addr), "user%05d@dirmx.test", i);
		/* Every 7th is done already; every 10th spells its hop
		 * differently (same host and port: same transaction). */
		add(env, addr,
		    i % 10 == 9 && i % 3 == 0 ? "smtp:[127.0.0.11]:2525"
		                              : hops[i % 3],
		    i % 7 == 6 ? (i % 2 ? SPOOLREC_DELIVERED : SPOOLREC_BOUNCED)
		               : SPOOLREC_PENDING);
	}
	queue_group_build(env, NULL, &g);
	assert_int_equal(g.n_groups, 3);
	assert_int_equal(g.n_bad, 0);
	for (size_t k = 0; k < 3; k++) {
		const struct queue_group *grp = &g.groups[k];
		size_t want = 0;

		assert_string_equal(grp->key, hops[k]);
		assert_int_equal(grp->src, NEXTHOP_SOURCE_DIRECTORY);
		assert_true(grp->nh.literal);
		assert_int_equal(grp->nh.port, 2525);
		for (size_t i = 0; i < 3000; i++)
			want += i % 3 == k && i % 7 != 6;
		assert_int_equal(grp->n, want);
		for (size_t j = 0; j < grp->n; j++) {
			assert_int_equal(grp->idx[j] % 3, k);
			assert_true(grp->idx[j] % 7 != 6);
			if (j > 0)
				assert_true(grp->idx[j] > grp->idx[j - 1]);
		}
	}
	queue_group_free(&g);
	assert_null(g.groups);
	assert_int_equal(g.n_groups, 0);
	spoolrec_deinit(&env);
}

/* Routes, the smarthost, the MX, and hops that cannot be used. */
static void test_sources_and_bad(void **state)
{
	struct nexthop_route routes[1];
	struct nexthop_config cfg = {.routes = routes, .n_routes = 1};
	struct spoolrec *env = env_new();
	struct queue_grouping g;
	const char *error;

	(void)state;
	assert_int_equal(nexthop_route_parse("routed.example [10.0.0.1]:26",
	                                     &routes[0], &error),
	                 0);
	add(env, "a@routed.example", "local", SPOOLREC_PENDING);    /* route */
	add(env, "b@mx.example", "external", SPOOLREC_PENDING);     /* MX */
	add(env, "c@routed.example", "", SPOOLREC_DEFERRED);        /* route */
	add(env, "d@x.example", "bad host!", SPOOLREC_PENDING);     /* bad */
	add(env, "e@-bad-", "external", SPOOLREC_PENDING);          /* bad */
	add(env, "f@mx.example", "mx.example", SPOOLREC_PENDING);   /* dir. */
	add(env, "g@other.example", "bad host!", SPOOLREC_PENDING); /* bad */
	queue_group_build(env, &cfg, &g);
	assert_int_equal(g.n_groups, 2);
	assert_string_equal(g.groups[0].key, "[10.0.0.1]:26");
	assert_int_equal(g.groups[0].src, NEXTHOP_SOURCE_ROUTE);
	assert_int_equal(g.groups[0].n, 2);
	assert_int_equal(g.groups[0].idx[0], 0);
	assert_int_equal(g.groups[0].idx[1], 2);
	/* The MX of mx.example and the directory's "mx.example" are the
	 * same next hop: one transaction, of the first one's source. */
	assert_string_equal(g.groups[1].key, "mx.example:25");
	assert_int_equal(g.groups[1].src, NEXTHOP_SOURCE_MX);
	assert_true(g.groups[1].nh.mx);
	assert_int_equal(g.groups[1].n, 2);
	assert_int_equal(g.groups[1].idx[0], 1);
	assert_int_equal(g.groups[1].idx[1], 5);
	assert_int_equal(g.n_bad, 3);
	assert_int_equal(g.bad[0].idx, 3);
	assert_int_equal(g.bad[1].idx, 4);
	assert_int_equal(g.bad[2].idx, 6);
	assert_non_null(g.bad[0].error);
	assert_string_equal(g.bad[0].error, g.bad[2].error);
	queue_group_free(&g);

	/* With a smarthost, every MX destination goes there. */
	cfg.have_smarthost = true;
	assert_int_equal(
	    nexthop_parse("[192.0.2.25]:587", &cfg.smarthost, &error), 0);
	queue_group_build(env, &cfg, &g);
	assert_int_equal(g.n_groups, 3);
	assert_string_equal(g.groups[1].key, "[192.0.2.25]:587");
	assert_int_equal(g.groups[1].src, NEXTHOP_SOURCE_SMARTHOST);
	assert_int_equal(g.groups[1].n, 2); /* b, e */
	assert_int_equal(g.groups[2].n, 1); /* f: the directory's hop */
	assert_int_equal(g.n_bad, 2);
	queue_group_free(&g);
	spoolrec_deinit(&env);
}

/* Thousands of distinct next hops: each its own group, in order. */
static void test_many_hops(void **state)
{
	struct spoolrec *env = env_new();
	struct queue_grouping g;
	char addr[64], key[64];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "u@d%d.example", i);
		add(env, addr, "external", SPOOLREC_PENDING);
	}
	queue_group_build(env, NULL, &g);
	assert_int_equal(g.n_groups, 5000);
	assert_int_equal(g.n_bad, 0);
	for (size_t i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "d%zu.example:25", i);
		assert_string_equal(g.groups[i].key, key);
		assert_int_equal(g.groups[i].n, 1);
		assert_int_equal(g.groups[i].idx[0], i);
	}
	queue_group_free(&g);
	spoolrec_deinit(&env);
}

static void test_nothing_pending(void **state)
{
	struct spoolrec *env = env_new();
	struct queue_grouping g;

	(void)state;
	add(env, "a@x.example", "[10.0.0.1]", SPOOLREC_DELIVERED);
	add(env, "b@x.example", "bad host!", SPOOLREC_BOUNCED);
	queue_group_build(env, NULL, &g);
	assert_int_equal(g.n_groups, 0);
	assert_int_equal(g.n_bad, 0);
	queue_group_free(&g);
	spoolrec_deinit(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_by_sender),
	    cmocka_unit_test(test_large_group),
	    cmocka_unit_test(test_sources_and_bad),
	    cmocka_unit_test(test_many_hops),
	    cmocka_unit_test(test_nothing_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
