/*
 * test-authc-merge - identical LOOKUPs in flight share one request
 * (lib/authc.c, lib/authc_merge.c): the same (address, context, user)
 * asked again while authd has not answered sends nothing; every caller
 * gets its own callback once, a cancelled one none, a failure reaches
 * them all, and each keeps its own timeout. Against the hand-driven
 * authd of tests/support/authdpeer.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "authctest.h"

static struct authc_req *lookup_as(const char *addr, const char *context,
                                   const char *user, int *order)
{
	struct authc_req *r;

	T.in_call = true;
	r = authc_lookup(T.c, addr, context, user, authctest_on_lookup, order);
	T.in_call = false;
	return r;
}

static void test_merge_identical(void **state)
{
	int order[6] = {0};

	lookup_as("g@example.com", "mx", NULL, &order[0]);
	lookup_as("g@example.com", "mx", NULL, &order[1]);
	/* Another user, another context, another spelling: not the same. */
	lookup_as("g@example.com", "mx", "alice", &order[2]);
	lookup_as("g@example.com", "submission", NULL, &order[3]);
	lookup_as("G@example.com", "mx", NULL, &order[4]);
	lookup_as("g@example.com", "mx", NULL, &order[5]);
	assert_int_equal(authc_pending(T.c), 6);
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=g@example.com context=mx");
	authdpeer_expect(T.peer,
	                 "LOOKUP 2 addr=g@example.com context=mx user=alice");
	authdpeer_expect(T.peer,
	                 "LOOKUP 3 addr=g@example.com context=submission");
	authdpeer_expect(T.peer, "LOOKUP 4 addr=G@example.com context=mx");
	authdpeer_send(T.peer,
	               "NOTFOUND 4 reason=four\nNOTFOUND 3 reason=three\n"
	               "NOTFOUND 2 reason=two\n");
	authctest_wait_got(3);
	authdpeer_send(T.peer,
	               "OK 1 rcpt=m1@example.com hop=local rcpt=m2@example.com "
	               "hop=mbx:25 cached=0\n");
	authctest_wait_got(6);
	/* Each caller once, in the order they asked. */
	assert_int_equal(order[0], 4);
	assert_int_equal(order[1], 5);
	assert_int_equal(order[5], 6);
	for (int i = 3; i < 6; i++) {
		assert_int_equal(T.got[i].status, AUTHC_OK);
		assert_string_equal(
		    T.got[i].detail,
		    "m1@example.com>local,m2@example.com>mbx:25");
	}
	assert_string_equal(T.got[order[2] - 1].reason, "two");
	assert_string_equal(T.got[order[3] - 1].reason, "three");
	assert_string_equal(T.got[order[4] - 1].reason, "four");
	assert_int_equal(authc_pending(T.c), 0);
	/* Answered: the next one asks again. */
	authctest_lookup("g@example.com");
	authdpeer_expect(T.peer, "LOOKUP 5 addr=g@example.com context=mx");
}

static void lookup_from(const char *addr, const char *user, const char *from,
                        int *order)
{
	T.in_call = true;
	authc_lookup_from(T.c, addr, "mx", user, from, authctest_on_lookup,
	                  order);
	T.in_call = false;
}

/* authd filters an answer for its sender (trust_envelope_sender_for_
 * restrictions): lookups for two envelope senders never share one, the
 * same sender's do, and an authenticated user outranks from=. */
static void test_merge_keeps_senders_apart(void **state)
{
	int order[5] = {0};

	lookup_from("r@example.com", NULL, "a@example.com", &order[0]);
	lookup_from("r@example.com", NULL, "b@example.com", &order[1]);
	lookup_from("r@example.com", NULL, NULL, &order[2]);
	lookup_from("r@example.com", NULL, "a@example.com", &order[3]);
	lookup_from("r@example.com", "a@example.com", "a@example.com",
	            &order[4]);
	assert_int_equal(authc_pending(T.c), 5);
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=r@example.com context=mx "
	                         "from=a@example.com");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=r@example.com context=mx "
	                         "from=b@example.com");
	authdpeer_expect(T.peer, "LOOKUP 3 addr=r@example.com context=mx");
	authdpeer_expect(T.peer, "LOOKUP 4 addr=r@example.com context=mx "
	                         "user=a@example.com");
	authdpeer_send(T.peer, "NOTFOUND 2 reason=b restricted=authOrig\n"
	                       "NOTFOUND 3 reason=nobody\n"
	                       "NOTFOUND 4 reason=user\n");
	authctest_wait_got(3);
	authdpeer_send(T.peer, "OK 1 rcpt=r@example.com hop=local cached=0\n");
	authctest_wait_got(5);
	assert_string_equal(T.got[order[1] - 1].reason, "b");
	assert_string_equal(T.got[order[2] - 1].reason, "nobody");
	assert_string_equal(T.got[order[4] - 1].reason, "user");
	assert_int_equal(T.got[order[0] - 1].status, AUTHC_OK);
	assert_int_equal(T.got[order[3] - 1].status, AUTHC_OK);
}

static void test_merge_cancel_one(void **state)
{
	struct authc_req *first, *second, *third;
	int order[4] = {0};

	/* Cancelled before HELLO: still sent, for those who wait. */
	first = lookup_as("c@example.com", "mx", NULL, &order[0]);
	second = lookup_as("c@example.com", "mx", NULL, &order[1]);
	lookup_as("c@example.com", "mx", NULL, &order[2]);
	authc_cancel(&first);
	assert_int_equal(authc_pending(T.c), 2);
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=c@example.com context=mx");
	authc_cancel(&second);
	/* Joins the cancelled one, which is still on the wire. */
	third = lookup_as("c@example.com", "mx", NULL, &order[3]);
	assert_non_null(third);
	assert_int_equal(authc_pending(T.c), 2);
	authdpeer_send(T.peer, "OK 1 rcpt=c@example.com hop=local cached=1\n");
	authctest_wait_got(2);
	authctest_settle();
	assert_int_equal(T.n_got, 2);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 0);
	assert_int_equal(order[2], 1);
	assert_int_equal(order[3], 2);
	assert_int_equal(authc_pending(T.c), 0);
	/* Cancelled with nobody waiting: a new one asks again. */
	first = authctest_lookup("d@example.com");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=d@example.com context=mx");
	authc_cancel(&first);
	authctest_lookup("d@example.com");
	authdpeer_expect(T.peer, "LOOKUP 3 addr=d@example.com context=mx");
	authdpeer_send(T.peer, "OK 2 rcpt=d@example.com hop=local cached=0\n"
	                       "OK 3 rcpt=d@example.com hop=local cached=0\n");
	authctest_wait_got(3);
}

static void test_merge_failure_reaches_all(void **state)
{
	authctest_lookup("f@example.com");
	authctest_lookup("f@example.com");
	authctest_lookup("f@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=f@example.com context=mx");
	authdpeer_hangup(T.peer);
	authctest_wait_got(3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(T.got[i].status, AUTHC_TEMPFAIL);
		assert_string_equal(T.got[i].reason,
		                    "authd closed the connection");
	}
	assert_int_equal(authc_pending(T.c), 0);
	/* The failed one takes no new waiters. */
	authctest_lookup("f@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=f@example.com context=mx");
	authctest_lookup("f@example.com");
	authc_deinit(&T.c);
	assert_int_equal(T.n_got, 5);
	assert_string_equal(T.got[3].reason, "shutting down");
	assert_string_equal(T.got[4].reason, "shutting down");
}

static void test_merge_timeouts_are_each_own(void **state)
{
	authc_set_timeout(T.c, 200);
	authctest_lookup("t@example.com");
	authc_set_timeout(T.c, 5000);
	authctest_lookup("t@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=t@example.com context=mx");
	authctest_wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason, "authd did not answer");
	/* Timed out: stuck, so a new one sends its own request ... */
	authctest_lookup("t@example.com");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=t@example.com context=mx");
	/* ... while the second one still waits for the first answer. */
	authdpeer_send(T.peer,
	               "OK 1 rcpt=one@example.com hop=local cached=0\n");
	authctest_wait_got(2);
	assert_int_equal(T.got[1].status, AUTHC_OK);
	assert_string_equal(T.got[1].detail, "one@example.com>local");
	authdpeer_send(T.peer,
	               "OK 2 rcpt=two@example.com hop=local cached=0\n");
	authctest_wait_got(3);
	assert_string_equal(T.got[2].detail, "two@example.com>local");
	assert_int_equal(authc_pending(T.c), 0);
}

static void again_cb(const struct authc_lookup_result *r, void *ctx)
{
	authctest_record(r->status, r->reason);
	if (T.n_got == 1)
		authc_lookup(T.c, "a@example.com", "mx", NULL, again_cb, NULL);
}

static void cancel_cb(const struct authc_lookup_result *r, void *ctx)
{
	authctest_record(r->status, r->reason);
	authc_cancel((struct authc_req **)ctx);
}

static void test_merge_callbacks(void **state)
{
	struct authc_req *victim;

	/* A callback asks again: a new request, not the answered one. A
	 * callback cancels the next waiter: it never runs. */
	T.in_call = true;
	authc_lookup(T.c, "a@example.com", "mx", NULL, again_cb, NULL);
	authc_lookup(T.c, "a@example.com", "mx", NULL, cancel_cb, &victim);
	victim = authc_lookup(T.c, "a@example.com", "mx", NULL,
	                      authctest_on_lookup, NULL);
	T.in_call = false;
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=a@example.com context=mx");
	authdpeer_send(T.peer, "NOTFOUND 1 reason=x\n");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=a@example.com context=mx");
	authctest_wait_got(2);
	assert_null(victim);
	authdpeer_send(T.peer, "NOTFOUND 2 reason=y\n");
	authctest_wait_got(3);
	authctest_settle();
	assert_int_equal(T.n_got, 3);
	assert_string_equal(T.got[2].reason, "y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_merge_keeps_senders_apart,
	                                    authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_merge_identical, authctest_setup, authctest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_merge_cancel_one, authctest_setup, authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_merge_failure_reaches_all,
	                                    authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_merge_timeouts_are_each_own,
	                                    authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_merge_callbacks, authctest_setup, authctest_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
