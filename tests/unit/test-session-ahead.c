/*
 * test-session-ahead - pipelined RCPTs: their lookups start together and
 * the replies still go out in command order, with the meaning they had
 * when each RCPT waited for the one before (routerd/session_ahead.c).
 *
 * A whole session in-process (tests/support/sessionlab.h) against a
 * hand-driven authd (tests/support/authdpeer.h): the test sees every
 * LOOKUP the session sends before it answers any, answers them in any
 * order, and reads the replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "authdpeer.h"
#include "sessionlab.h"
#include "settings.h"

struct t {
	struct authdpeer *peer;
	struct sessionlab *lab;
};

static struct t T;

static const char *run(size_t *n_r, bool *closed_r)
{
	size_t len;
	const char *out;

	sessionlab_run(T.lab, 30);
	out = sessionlab_output(T.lab, &len, closed_r);
	*n_r = sessionlab_count_replies(out, len);
	printf("< %s", out);
	return out;
}

static void send_str(const char *in)
{
	printf("> %s", in);
	sessionlab_send(T.lab, in, strlen(in));
}

/* The replies to EHLO and MAIL, then whatever came. */
static void start_tx(void)
{
	size_t n;
	bool closed;

	send_str("EHLO a.example\r\nMAIL FROM:<a@b.example>\r\n");
	run(&n, &closed);
	assert_int_equal(n, 2);
}

/* authd finds addr: one local recipient. */
static void answer_ok(int id, const char *addr)
{
	char line[256];

	snprintf(line, sizeof(line),
	         "OK %d rcpt=%s hop=local cached=0 domain=local\n", id, addr);
	authdpeer_send(T.peer, line);
}

/* authd is asked about addr (request id). */
static void expect_lookup(int id, const char *addr)
{
	char line[256];

	snprintf(line, sizeof(line), "LOOKUP %d addr=%s context=mx", id, addr);
	authdpeer_expect(T.peer, line);
}

/* Nothing more is sent to authd now. */
static void no_more_lookups(void)
{
	assert_false(authdpeer_has_line(T.peer, 100));
}

/* The replies in out are exactly these reply codes, in this order. */
static void assert_codes(const char *out, const char *const *codes, size_t n)
{
	const char *p = out;

	for (size_t i = 0; i < n; i++) {
		const char *line = strstr(p, codes[i]);

		if (line == NULL) {
			print_error("reply %zu: no \"%s\" after \"%s\"\n", i,
			            codes[i], p);
			fail();
		}
		p = line + strlen(codes[i]);
	}
	assert_int_equal(sessionlab_count_replies(out, strlen(out)), n);
}

static int setup(void **state)
{
	size_t n;
	bool closed;

	memset(&T, 0, sizeof(T));
	T.peer = authdpeer_new(NULL);
	T.lab = sessionlab_new_authd(SETTINGS_ROLE_MX, authdpeer_path(T.peer),
	                             5000);
	authdpeer_set_base(T.peer, sessionlab_base(T.lab));
	run(&n, &closed);
	assert_int_equal(n, 1); /* the greeting */
	return 0;
}

static int teardown(void **state)
{
	sessionlab_free(&T.lab);
	authdpeer_free(&T.peer);
	return 0;
}

static void test_lookups_start_together(void **state)
{
	static const char *const codes[] = {
	    "250 2.1.5", "550 5.1.1 <u2@dirmx.test>", "451 4.4.3", "250 2.1.5",
	    "354 ",
	};
	size_t n;
	bool closed;
	const char *out;

	start_tx();
	send_str("RCPT TO:<u1@dirmx.test>\r\nRCPT TO:<u2@dirmx.test>\r\n"
	         "RCPT TO:<u3@dirmx.test>\r\nRCPT TO:<u4@dirmx.test>\r\n"
	         "DATA\r\n");
	authdpeer_hello(T.peer, "sessionlab");
	/* All four before any answer. */
	expect_lookup(1, "u1@dirmx.test");
	expect_lookup(2, "u2@dirmx.test");
	expect_lookup(3, "u3@dirmx.test");
	expect_lookup(4, "u4@dirmx.test");
	no_more_lookups();
	/* Answers out of order: no reply before the first RCPT's. */
	authdpeer_send(T.peer, "OK 4 rcpt=u4@dirmx.test hop=mbx4 cached=0 "
	                       "domain=local\nNOTFOUND 2 reason=no\n"
	                       "TEMPFAIL 3 reason=dc%20down\n");
	out = run(&n, &closed);
	assert_int_equal(n, 0);
	authdpeer_send(T.peer, "OK 1 rcpt=u1@dirmx.test hop=mbx1 cached=0 "
	                       "domain=local\n");
	out = run(&n, &closed);
	assert_codes(out, codes, 5);
	send_str("Subject: t\r\n\r\nhi\r\n.\r\n");
	out = run(&n, &closed);
	assert_non_null(strstr(out, "250 2.0.0 Ok: queued as"));
	assert_false(closed);
}

static void test_stops_at_other_commands(void **state)
{
	static const char *const all[] = {"250 2.1.5", "250 2.1.5", "250 2.0.0",
	                                  "550 5.1.1", "250 2.0.0"};
	size_t n;
	bool closed;
	const char *out;

	start_tx();
	/* NOOP ends the look-ahead; the RCPT behind it waits its turn. */
	send_str("RCPT TO:<a1@dirmx.test>\r\nRCPT TO:<a2@dirmx.test>\r\n"
	         "NOOP\r\nRCPT TO:<a3@dirmx.test>\r\nRSET\r\n");
	authdpeer_hello(T.peer, "sessionlab");
	expect_lookup(1, "a1@dirmx.test");
	expect_lookup(2, "a2@dirmx.test");
	no_more_lookups();
	/* The replies are held while a lookup they precede is out
	 * (io_hold_output), and all go in one send. */
	answer_ok(1, "a1@dirmx.test");
	out = run(&n, &closed);
	assert_int_equal(n, 0);
	answer_ok(2, "a2@dirmx.test");
	expect_lookup(3, "a3@dirmx.test");
	out = run(&n, &closed);
	assert_int_equal(n, 0);
	authdpeer_send(T.peer, "NOTFOUND 3 reason=x\n");
	out = run(&n, &closed);
	assert_codes(out, all, 5);
}

static void test_never_reads_a_payload(void **state)
{
	size_t n;
	bool closed;
	const char *out;
	char in[512];
	const char *chunk = "RCPT TO:<c1@dirmx.test>\r\n"
	                    "RCPT TO:<c2@dirmx.test>\r\n";

	start_tx();
	/* A DATA body and a BDAT chunk full of RCPT lines. */
	send_str("RCPT TO:<b1@dirmx.test>\r\nDATA\r\n"
	         "RCPT TO:<d1@dirmx.test>\r\nRCPT TO:<d2@dirmx.test>\r\n"
	         ".\r\n");
	authdpeer_hello(T.peer, "sessionlab");
	expect_lookup(1, "b1@dirmx.test");
	no_more_lookups();
	answer_ok(1, "b1@dirmx.test");
	out = run(&n, &closed);
	assert_codes(
	    out, (const char *const[]){"250 2.1.5", "354 ", "250 2.0.0"}, 3);
	snprintf(in, sizeof(in),
	         "MAIL FROM:<a@b.example>\r\nRCPT TO:<b2@dirmx.test>\r\n"
	         "BDAT %zu LAST\r\n%sNOOP\r\n",
	         strlen(chunk), chunk);
	send_str(in);
	expect_lookup(2, "b2@dirmx.test");
	no_more_lookups();
	answer_ok(2, "b2@dirmx.test");
	out = run(&n, &closed);
	assert_codes(out,
	             (const char *const[]){"250 2.1.0", "250 2.1.5",
	                                   "250 2.0.0 Ok: queued",
	                                   "250 2.0.0 Ok"},
	             4);
	no_more_lookups();
}

static void test_bounded_by_max_recipients(void **state)
{
	char line[64], want[80];
	size_t n;
	bool closed;
	const char *out;

	start_tx();
	/* sessionlab: max_recipients = 10. */
	for (int i = 1; i <= 12; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<m%d@dirmx.test>\r\n", i);
		send_str(line);
	}
	authdpeer_hello(T.peer, "sessionlab");
	for (int i = 1; i <= 10; i++) {
		snprintf(want, sizeof(want), "m%d@dirmx.test", i);
		expect_lookup(i, want);
	}
	no_more_lookups();
	for (int i = 10; i >= 1; i--) {
		snprintf(want, sizeof(want), "m%d@dirmx.test", i);
		answer_ok(i, want);
	}
	out = run(&n, &closed);
	assert_int_equal(n, 12);
	assert_non_null(strstr(out, "250 2.1.5 Ok\r\n452 4.5.3 Too many "
	                            "recipients\r\n452 4.5.3"));
	assert_null(strstr(strstr(out, "452"), "250"));
}

static void test_relay_postmaster_and_twins(void **state)
{
	static const char *const codes[] = {
	    "550 5.7.1 <x@other.example>: Relaying denied",
	    "250 2.1.5",
	    "250 2.1.5",
	    "250 2.1.5",
	};
	size_t n;
	bool closed;
	const char *out;

	start_tx();
	/* Not ours: authd says external, so it is refused as before; the
	 * postmaster is asked in its turn; the same address twice is one
	 * lookup. */
	send_str("RCPT TO:<x@other.example>\r\n"
	         "RCPT TO:<postmaster@dirmx.test>\r\n"
	         "RCPT TO:<t@dirmx.test>\r\nRCPT TO:<t@dirmx.test>\r\n");
	authdpeer_hello(T.peer, "sessionlab");
	expect_lookup(1, "x@other.example");
	expect_lookup(2, "t@dirmx.test");
	no_more_lookups();
	answer_ok(2, "t@dirmx.test");
	authdpeer_send(T.peer,
	               "OK 1 rcpt=x@other.example hop=external cached=0\n");
	expect_lookup(3, "postmaster@dirmx.test");
	out = run(&n, &closed);
	assert_int_equal(n, 0); /* held until the postmaster's answer */
	answer_ok(3, "pm@dirmx.test");
	out = run(&n, &closed);
	assert_non_null(strstr(out, codes[0]));
	assert_codes(out, codes, 4);
	no_more_lookups();
}

static void test_unused_answers_dropped(void **state)
{
	size_t n;
	bool closed;
	const char *out;

	start_tx();
	send_str("RCPT TO:<r1@dirmx.test>\r\nRCPT TO:<r2@dirmx.test>\r\n"
	         "RCPT TO:<r3@dirmx.test>\r\n");
	authdpeer_hello(T.peer, "sessionlab");
	expect_lookup(1, "r1@dirmx.test");
	expect_lookup(2, "r2@dirmx.test");
	expect_lookup(3, "r3@dirmx.test");
	answer_ok(3, "r3@dirmx.test");
	answer_ok(1, "r1@dirmx.test");
	out = run(&n, &closed);
	assert_int_equal(n, 0); /* r2 waits for its lookup, r1's reply too */
	/* The client goes away: what was asked for it is dropped. */
	sessionlab_connect(T.lab);
	out = run(&n, &closed);
	assert_non_null(strstr(out, "220 "));
	answer_ok(2, "r2@dirmx.test");
	out = run(&n, &closed);
	assert_int_equal(n, 0);
	/* The next session asks afresh. */
	start_tx();
	send_str("RCPT TO:<r1@dirmx.test>\r\n");
	expect_lookup(4, "r1@dirmx.test");
	authdpeer_send(T.peer, "NOTFOUND 4 reason=gone\n");
	out = run(&n, &closed);
	assert_non_null(strstr(out, "550 5.1.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lookups_start_together, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_stops_at_other_commands, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_never_reads_a_payload, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_by_max_recipients,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_postmaster_and_twins,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unused_answers_dropped, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
