/*
 * test-authc-sasl - the authd client's side of a multi-step SMTP AUTH
 * (lib/authc_sasl.c) against a hand-driven authd: the mechanisms its
 * HELLO lists, the SASL requests on the wire (exchange numbers, the first
 * step naming the mechanism and the client), CONTINUE relayed as a
 * challenge, the end as an AUTH result, abort, and a broken connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "authctest.h"

static char challenge[256];

static void on_step(const struct authc_auth_result *r, void *ctx)
{
	(void)ctx;
	snprintf(challenge, sizeof(challenge), "%s",
	         r->challenge != NULL ? r->challenge : "(end)");
	authctest_on_auth(r, NULL);
}

static void hello_with(const char *answer)
{
	authdpeer_accept(T.peer);
	authdpeer_expect(T.peer, "HELLO 0 version=2 client=test");
	authdpeer_send(T.peer, answer);
}

static void test_mechs_before_and_after_hello(void **state)
{
	(void)state;
	/* nothing said yet: the password mechanisms every authd checks */
	assert_true(authc_offers(T.c, "PLAIN"));
	assert_true(authc_offers(T.c, "LOGIN"));
	assert_false(authc_offers(T.c, "GSSAPI"));
	authc_connect(T.c);
	hello_with("OK 0 version=2 server=authd mech=GSSAPI\n");
	authctest_settle();
	assert_true(authc_offers(T.c, "GSSAPI"));
	assert_false(authc_offers(T.c, "GSS-SPNEGO"));
	assert_false(authc_offers(T.c, "PLAIN"));
	assert_false(authc_offers(T.c, "LOGIN"));
	assert_false(authc_offers(T.c, "gssapi"));
}

static void test_exchange(void **state)
{
	uint64_t exch = 0, exch2 = 0;

	(void)state;
	authc_sasl_start(T.c, "GSSAPI", "YIIB", "192.0.2.7", on_step, NULL,
	                 &exch);
	assert_int_equal(exch, 1);
	hello_with("OK 0 version=2 server=authd mech=PLAIN mech=GSSAPI\n");
	authdpeer_expect(
	    T.peer, "SASL 1 exch=1 mech=GSSAPI resp=YIIB client=192.0.2.7");
	authdpeer_send(T.peer, "CONTINUE 1 challenge=YGwG%3D\n");
	authctest_wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_OK);
	assert_string_equal(challenge, "YGwG=");
	assert_string_equal(T.got[0].detail, ""); /* no user yet */
	authc_sasl_step(T.c, exch, "", on_step, NULL);
	authdpeer_expect(T.peer, "SASL 2 exch=1 resp=");
	authdpeer_send(T.peer, "OK 2 user=alice\n");
	authctest_wait_got(2);
	assert_string_equal(challenge, "(end)");
	assert_string_equal(T.got[1].detail, "alice");
	/* a second exchange gets its own number; no initial response */
	authc_sasl_start(T.c, "GSSAPI", NULL, NULL, on_step, NULL, &exch2);
	assert_int_equal(exch2, 2);
	authdpeer_expect(T.peer, "SASL 3 exch=2 mech=GSSAPI");
	authdpeer_send(T.peer, "NOTFOUND 3 reason=bad delay_ms=250\n");
	authctest_wait_got(3);
	assert_int_equal(T.got[2].status, AUTHC_NOTFOUND);
	assert_int_equal(T.got[2].delay_ms, 250);
	authc_sasl_abort(T.c, 7);
	authdpeer_expect(T.peer, "SASL 4 exch=7 abort=1");
	authdpeer_send(T.peer, "NOTFOUND 4 reason=cancelled\n");
	authctest_settle();
	assert_int_equal(T.n_got, 3); /* abort calls no one back */
}

static void test_broken_connection_is_tempfail(void **state)
{
	uint64_t exch = 0;

	(void)state;
	authc_sasl_start(T.c, "GSSAPI", "YIIB", NULL, on_step, NULL, &exch);
	hello_with("OK 0 version=2 server=authd mech=GSSAPI\n");
	authdpeer_expect(T.peer, "SASL 1 exch=1 mech=GSSAPI resp=YIIB");
	authdpeer_send(T.peer, "CONTINUE 1\n"); /* malformed: no challenge */
	authctest_wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(challenge, "(end)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mechs_before_and_after_hello,
	                                    authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_exchange, authctest_setup,
	                                    authctest_teardown),
	    cmocka_unit_test_setup_teardown(test_broken_connection_is_tempfail,
	                                    authctest_setup,
	                                    authctest_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
