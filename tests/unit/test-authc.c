/*
 * test-authc - the asynchronous authd client (lib/authc.c) against a peer
 * in this test that speaks the authd protocol on a real UNIX socket.
 *
 * The peer is driven by hand between turns of the event loop, so each
 * test decides exactly what authd "does": answers out of order, answers
 * split at every byte, a malformed answer, a close in the middle of a
 * request, silence (timeouts), a refused HELLO. What authd itself
 * answers is tested end to end in tests/integration/test_authc.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "authctest.h"

/* --- tests ------------------------------------------------------------------
 */

static void test_lookup(void **state)
{
	authctest_lookup("a@example.com");
	assert_int_equal(T.n_got, 0);
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=a@example.com context=mx");
	authdpeer_send(T.peer,
	               "OK 1 rcpt=a@example.com hop=mbx1.example.com:2525 "
	               "rcpt=b@example.com hop=local cached=1 dc=ldap://dc1\n");
	authctest_wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_OK);
	assert_string_equal(T.got[0].detail,
	                    "a@example.com>mbx1.example.com:2525,"
	                    "b@example.com>local dc=ldap://dc1 cached");
	assert_int_equal(authc_pending(T.c), 0);
}

static void test_out_of_order(void **state)
{
	int order[5] = {0};

	T.in_call = true;
	authc_lookup(T.c, "x@example.com", "mx", NULL, authctest_on_lookup,
	             &order[0]);
	authc_lookup(T.c, "y z@example.com", "submission", "alice@example.com",
	             authctest_on_lookup, &order[1]);
	authc_auth(T.c, "PLAIN", "alice", "open sesame%", "192.0.2.7",
	           authctest_on_auth, NULL);
	authc_senders(T.c, "alice@example.com", authctest_on_senders, NULL);
	authc_lookup(T.c, "gone@example.com", "mx", NULL, authctest_on_lookup,
	             &order[4]);
	T.in_call = false;
	assert_int_equal(authc_pending(T.c), 5);
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=x@example.com context=mx");
	authdpeer_expect(T.peer,
	                 "LOOKUP 2 addr=y%20z@example.com context=submission "
	                 "user=alice@example.com");
	authdpeer_expect(T.peer,
	                 "AUTH 3 mech=PLAIN user=alice pass=open%20sesame%25 "
	                 "client=192.0.2.7");
	authdpeer_expect(T.peer, "SENDERS 4 user=alice@example.com");
	authdpeer_expect(T.peer, "LOOKUP 5 addr=gone@example.com context=mx");
	/* 5, 4 and 3 arrive in one write; 1 and 2 afterwards. */
	authdpeer_send(T.peer,
	               "NOTFOUND 5 reason=no%20such%20address\n"
	               "OK 4 addr=alice@example.com addr=a.l@example.com\n"
	               "NOTFOUND 3 reason=bad delay_ms=1500\n");
	authctest_wait_got(3);
	authdpeer_send(T.peer,
	               "TEMPFAIL 2 reason=dc%20down\nOK 1 rcpt=x@example.com "
	               "hop=external cached=0\n");
	authctest_wait_got(5);
	assert_int_equal(T.got[0].status, AUTHC_NOTFOUND);
	assert_string_equal(T.got[0].reason, "no such address");
	assert_int_equal(order[4], 1);
	assert_int_equal(T.got[1].status, AUTHC_OK);
	assert_string_equal(T.got[1].detail,
	                    "alice@example.com,a.l@example.com");
	assert_int_equal(T.got[2].status, AUTHC_NOTFOUND);
	assert_int_equal(T.got[2].delay_ms, 1500);
	assert_string_equal(T.got[2].detail, "");
	assert_int_equal(T.got[3].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[3].reason, "dc down");
	assert_int_equal(order[1], 4);
	assert_int_equal(T.got[4].status, AUTHC_OK);
	assert_string_equal(T.got[4].detail, "x@example.com>external");
	assert_int_equal(order[0], 5);
}

static void test_split_every_byte(void **state)
{
	static const char answer[] =
	    "OK 1 rcpt=s@example.com hop=local cached=0\n"
	    "OK 2 user=alice@example.com\n"
	    "OK 3\n";

	authctest_lookup("s@example.com");
	T.in_call = true;
	authc_auth(T.c, "LOGIN", "alice", "pw", NULL, authctest_on_auth, NULL);
	authc_senders(T.c, "nobody", authctest_on_senders, NULL);
	T.in_call = false;
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=s@example.com context=mx");
	authdpeer_expect(T.peer, "AUTH 2 mech=LOGIN user=alice pass=pw");
	authdpeer_expect(T.peer, "SENDERS 3 user=nobody");
	for (size_t i = 0; i < sizeof(answer) - 1; i++) {
		authdpeer_send_bytes(T.peer, answer + i, 1);
		authctest_pump();
		authctest_pump();
	}
	authctest_wait_got(3);
	assert_int_equal(T.got[0].status, AUTHC_OK);
	assert_string_equal(T.got[0].detail, "s@example.com>local");
	assert_int_equal(T.got[1].status, AUTHC_OK);
	assert_string_equal(T.got[1].detail, "alice@example.com");
	assert_int_equal(T.got[2].status, AUTHC_OK);
	assert_string_equal(T.got[2].detail, "");
}

/* "#" in a line stands for the ID of the first request in flight. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "OK # bogus=1\n",                   /* unknown key */
	    "OK 99 rcpt=a hop=b cached=0\n",    /* ID not in flight */
	    "OK # rcpt=a hop=b cached=0\r\n",   /* CR */
	    "ok # rcpt=a hop=b cached=0\n",     /* lowercase verb */
	    "OK 0# rcpt=a hop=b cached=0\n",    /* leading zero */
	    "OK # rcpt=a cached=0\n",           /* record member missing */
	    "OK # cached=0\n",                  /* LOOKUP OK without rcpt */
	    "NOTFOUND #\n",                     /* reason= missing */
	    "OK #  rcpt=a hop=b cached=0\n",    /* two spaces */
	    "OK # rcpt=a%2fb hop=b cached=0\n", /* lowercase hex */
	    "OK # rcpt=a hop=b cached=0 \n",    /* trailing space */
	    "OK # rcpt=a hop=b cached=2\n",     /* not a bool */
	    "OK # user=alice\n",                /* AUTH's answer to LOOKUP */
	    "HELLO # version=1 client=x\n",     /* a request */
	    "ERROR 0 reason=duplicate%20ID\n",  /* the server gives up */
	    "\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int base = T.n_got;
		char expect[128], line[128], *p = line;

		for (const char *s = bad[i]; *s != '\0'; s++) {
			if (*s == '#')
				p += sprintf(p, "%zu", 2 * i + 1);
			else
				*p++ = *s;
		}
		*p = '\0';
		authctest_lookup("a@example.com");
		authctest_lookup("b@example.com");
		authdpeer_hello(T.peer, "test");
		snprintf(expect, sizeof(expect),
		         "LOOKUP %zu addr=a@example.com context=mx", 2 * i + 1);
		authdpeer_expect(T.peer, expect);
		authdpeer_line(T.peer, expect, sizeof(expect));
		authdpeer_send(T.peer, line);
		authctest_wait_got(base + 2);
		for (int k = base; k < base + 2; k++) {
			if (T.got[k].status != AUTHC_TEMPFAIL) {
				print_error("%s: status %d\n", line,
				            T.got[k].status);
				fail();
			}
		}
		assert_true(authdpeer_sees_eof(T.peer));
		assert_int_equal(authc_pending(T.c), 0);
	}
}

static void test_peer_closes(void **state)
{
	long long t0;

	authctest_lookup("a@example.com");
	authctest_lookup("b@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=a@example.com context=mx");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=b@example.com context=mx");
	authdpeer_send(T.peer,
	               "OK 2 rcpt=b@example.com hop=local cached=0\nOK 1 rcpt");
	t0 = authdpeer_now_ms();
	authctest_wait_got(1);
	authdpeer_hangup(T.peer);
	authctest_wait_got(2);
	assert_true(authdpeer_now_ms() - t0 < 1000);
	assert_int_equal(T.got[0].status, AUTHC_OK);
	assert_int_equal(T.got[1].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[1].reason, "authd closed the connection");
	/* The next request reconnects. */
	authctest_lookup("c@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 3 addr=c@example.com context=mx");
	authdpeer_send(T.peer, "NOTFOUND 3 reason=\n");
	authctest_wait_got(3);
	assert_int_equal(T.got[2].status, AUTHC_NOTFOUND);
}

static void test_timeout(void **state)
{
	long long t0 = authdpeer_now_ms();

	authc_set_timeout(T.c, 200);
	authctest_lookup("slow@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=slow@example.com context=mx");
	authctest_wait_got(1);
	assert_true(authdpeer_now_ms() - t0 >= 190);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason, "authd did not answer");
	assert_int_equal(authc_pending(T.c), 0);
	/* The late answer is dropped; the connection stays. */
	authdpeer_send(T.peer,
	               "OK 1 rcpt=slow@example.com hop=local cached=0\n");
	authctest_lookup("next@example.com");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=next@example.com context=mx");
	authdpeer_send(T.peer,
	               "OK 2 rcpt=next@example.com hop=local cached=0\n");
	authctest_wait_got(2);
	assert_int_equal(T.got[1].status, AUTHC_OK);
	assert_false(authdpeer_try_accept(T.peer)); /* no second connection */
}

static void test_hello_timeout(void **state)
{
	authc_set_timeout(T.c, 200);
	authctest_lookup("a@example.com");
	authdpeer_accept(T.peer);
	authdpeer_expect(T.peer, "HELLO 0 version=2 client=test");
	authctest_wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_true(authdpeer_sees_eof(T.peer));
}

static void test_no_server(void **state)
{
	long long t0 = authdpeer_now_ms();
	struct authc_req *r;

	authdpeer_unlisten(T.peer);
	authctest_lookup("a@example.com");
	assert_int_equal(T.n_got, 0);
	authctest_wait_got(1);
	assert_true(authdpeer_now_ms() - t0 < 1000);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason,
	                    "authd unavailable: No such file or directory");
	/* In the backoff: fails the same way without trying; a cancelled
	   failure never calls back. */
	authctest_lookup("b@example.com");
	r = authctest_lookup("c@example.com");
	authc_cancel(&r);
	assert_null(r);
	authctest_wait_got(2);
	authctest_settle();
	assert_int_equal(T.n_got, 2);
	assert_string_equal(T.got[1].reason, T.got[0].reason);
}

static void test_cancel(void **state)
{
	struct authc_req *queued, *sent;

	queued = authctest_lookup("q@example.com");
	authc_cancel(&queued); /* before HELLO: never sent */
	sent = authctest_lookup("s@example.com");
	authctest_lookup("k@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=s@example.com context=mx");
	authdpeer_expect(T.peer, "LOOKUP 3 addr=k@example.com context=mx");
	authc_cancel(&sent);
	assert_int_equal(authc_pending(T.c), 1);
	authdpeer_send(T.peer, "OK 2 rcpt=s@example.com hop=local cached=0\n"
	                       "OK 3 rcpt=k@example.com hop=local cached=0\n");
	authctest_wait_got(1);
	authctest_settle();
	assert_int_equal(T.n_got, 1);
	assert_string_equal(T.got[0].detail, "k@example.com>local");
	authc_cancel(&sent); /* NULL: nothing */
}

static void test_hello_refused(void **state)
{
	authctest_lookup("a@example.com");
	authdpeer_accept(T.peer);
	authdpeer_expect(T.peer, "HELLO 0 version=2 client=test");
	authdpeer_send(T.peer, "ERROR 0 reason=version supported=2\n");
	authctest_wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason, "authd refused HELLO: version");
}

static void test_error_answer(void **state)
{
	authctest_lookup("a@example.com");
	authctest_lookup("b@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=a@example.com context=mx");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=b@example.com context=mx");
	authdpeer_send(T.peer, "ERROR 1 reason=bad%20value\n");
	authctest_wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason,
	                    "authd refused the request: bad value");
	/* An ERROR with an ID keeps the connection. */
	authdpeer_send(T.peer, "OK 2 rcpt=b@example.com hop=local cached=0\n");
	authctest_wait_got(2);
	assert_int_equal(T.got[1].status, AUTHC_OK);
}

static void test_unencodable(void **state)
{
	T.in_call = true;
	authc_auth(T.c, "PLAIN", "alice", "", NULL, authctest_on_auth, NULL);
	authc_auth(T.c, "CRAM-MD5", "alice", "pw", NULL, authctest_on_auth,
	           NULL);
	T.in_call = false;
	authctest_lookup("a@example.com");
	authctest_wait_got(2);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_non_null(strstr(T.got[0].reason, "cannot encode"));
	assert_int_equal(T.got[1].status, AUTHC_TEMPFAIL);
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 3 addr=a@example.com context=mx");
}

static void chain_cb(const struct authc_lookup_result *r, void *ctx)
{
	authctest_record(r->status, r->reason);
	if (T.n_got == 1)
		authc_lookup(T.c, "second@example.com", "mx", NULL, chain_cb,
		             NULL);
}

static void test_request_from_callback(void **state)
{
	T.in_call = true;
	authc_lookup(T.c, "first@example.com", "mx", NULL, chain_cb, NULL);
	T.in_call = false;
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=first@example.com context=mx");
	authdpeer_send(T.peer, "NOTFOUND 1 reason=x\n");
	authdpeer_expect(T.peer, "LOOKUP 2 addr=second@example.com context=mx");
	authdpeer_send(T.peer, "NOTFOUND 2 reason=y\n");
	authctest_wait_got(2);
	assert_string_equal(T.got[1].reason, "y");
}

static void test_deinit_in_flight(void **state)
{
	authctest_lookup("a@example.com");
	authctest_lookup("b@example.com");
	authdpeer_hello(T.peer, "test");
	authdpeer_expect(T.peer, "LOOKUP 1 addr=a@example.com context=mx");
	authctest_lookup("c@example.com");
	authc_deinit(&T.c);
	assert_int_equal(T.n_got, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(T.got[i].status, AUTHC_TEMPFAIL);
		assert_string_equal(T.got[i].reason, "shutting down");
	}
}

static void test_many_in_flight(void **state)
{
	char line[256];

	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "m%d@example.com", i);
		authctest_lookup(line);
	}
	authdpeer_hello(T.peer, "test");
	for (int i = 0; i < 40; i++)
		authdpeer_line(T.peer, line, sizeof(line));
	/* Answer from the last to the first. */
	for (int i = 40; i >= 1; i--) {
		snprintf(line, sizeof(line), "NOTFOUND %d reason=%d\n", i, i);
		authdpeer_send(T.peer, line);
	}
	authctest_wait_got(40);
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "%d", 40 - i);
		assert_string_equal(T.got[i].reason, line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lookup, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_order, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_split_every_byte, authctest_setup, authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_peer_closes, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_hello_timeout, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_no_server, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_hello_refused, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_error_answer, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_unencodable, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_request_from_callback,
	                                    authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deinit_in_flight, authctest_setup, authctest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_many_in_flight, authctest_setup, authctest_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
