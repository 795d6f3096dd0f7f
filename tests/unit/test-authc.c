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
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "authc.h"
#include "evloop.h"

#define MAX_GOT 64

struct got {
	int status;
	char reason[256];
	char detail[512]; /* dests / user / addrs, flattened */
	unsigned int delay_ms;
};

struct t {
	char dir[32], path[64];
	int lfd, pfd; /* listener, peer connection */
	char pbuf[65536];
	size_t plen;
	struct event_base *base;
	struct authc *c;
	struct got got[MAX_GOT];
	int n_got;
	bool in_call;
};

static struct t T;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pump(void)
{
	event_base_loop(T.base, EVLOOP_NONBLOCK);
	usleep(500);
}

static struct got *record(int status, const char *reason)
{
	struct got *g;

	assert_false(T.in_call); /* never inside the starting call */
	assert_true(T.n_got < MAX_GOT);
	g = &T.got[T.n_got++];
	memset(g, 0, sizeof(*g));
	g->status = status;
	snprintf(g->reason, sizeof(g->reason), "%s", reason);
	return g;
}

static void on_lookup(const struct authc_lookup_result *r, void *ctx)
{
	struct got *g = record(r->status, r->reason);
	size_t off = 0;

	if (ctx != NULL)
		*(int *)ctx = T.n_got;
	for (size_t i = 0; i < r->n_dests; i++)
		off += (size_t)snprintf(
		    g->detail + off, sizeof(g->detail) - off, "%s%s>%s",
		    i ? "," : "", r->dests[i].rcpt, r->dests[i].hop);
	if (r->dc != NULL)
		snprintf(g->detail + off, sizeof(g->detail) - off, " dc=%s%s",
		         r->dc, r->cached ? " cached" : "");
}

static void on_auth(const struct authc_auth_result *r, void *ctx)
{
	struct got *g = record(r->status, r->reason);

	if (r->user != NULL)
		snprintf(g->detail, sizeof(g->detail), "%s", r->user);
	g->delay_ms = r->delay_ms;
}

static void on_senders(const struct authc_senders_result *r, void *ctx)
{
	struct got *g = record(r->status, r->reason);
	size_t off = 0;

	for (size_t i = 0; i < r->n_addrs; i++)
		off +=
		    (size_t)snprintf(g->detail + off, sizeof(g->detail) - off,
		                     "%s%s", i ? "," : "", r->addrs[i]);
}

static struct authc_req *lookup(const char *addr)
{
	struct authc_req *r;

	T.in_call = true;
	r = authc_lookup(T.c, addr, "mx", NULL, on_lookup, NULL);
	T.in_call = false;
	return r;
}

static void wait_got(int n)
{
	long long deadline = now_ms() + 5000;

	while (T.n_got < n && now_ms() < deadline)
		pump();
	assert_int_equal(T.n_got, n);
}

/* --- the peer ------------------------------------------------------------- */

static bool try_accept(void)
{
	int fd = accept4(T.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return false;
	if (T.pfd >= 0)
		close(T.pfd);
	T.pfd = fd;
	T.plen = 0;
	return true;
}

static void peer_accept(void)
{
	long long deadline = now_ms() + 5000;

	while (!try_accept()) {
		assert_true(now_ms() < deadline);
		pump();
	}
}

/* The next line the client sent (without LF) into out. */
static void peer_line(char *out, size_t size)
{
	long long deadline = now_ms() + 5000;

	for (;;) {
		char *lf = memchr(T.pbuf, '\n', T.plen);
		ssize_t n;

		if (lf != NULL) {
			size_t len = (size_t)(lf - T.pbuf);

			assert_true(len < size);
			memcpy(out, T.pbuf, len);
			out[len] = '\0';
			memmove(T.pbuf, lf + 1, T.plen - len - 1);
			T.plen -= len + 1;
			return;
		}
		n = recv(T.pfd, T.pbuf + T.plen, sizeof(T.pbuf) - T.plen, 0);
		if (n > 0) {
			T.plen += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		assert_true(now_ms() < deadline);
		pump();
	}
}

static void peer_expect(const char *line)
{
	char got[4096];

	peer_line(got, sizeof(got));
	assert_string_equal(got, line);
}

static void peer_send(const char *s)
{
	assert_int_equal(send(T.pfd, s, strlen(s), MSG_NOSIGNAL),
	                 (ssize_t)strlen(s));
}

/* True when the client closed the peer's connection. */
static bool peer_sees_eof(void)
{
	long long deadline = now_ms() + 2000;

	while (now_ms() < deadline) {
		char b[4096];
		ssize_t n = recv(T.pfd, b, sizeof(b), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		pump();
	}
	return false;
}

static void peer_hello(void)
{
	peer_accept();
	peer_expect("HELLO 0 version=1 client=test");
	peer_send("OK 0 version=1 server=authd\n");
}

/* --- fixture ----------------------------------------------------------------
 */

static int setup(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	memset(&T, 0, sizeof(T));
	T.pfd = -1;
	snprintf(T.dir, sizeof(T.dir), "/tmp/test-authc-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.path, sizeof(T.path), "%s/sock", T.dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", T.path);
	T.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(T.lfd >= 0);
	assert_int_equal(bind(T.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(T.lfd, 16), 0);
	T.base = evloop_new();
	T.c = authc_new(T.base, T.path, "test");
	authc_set_timeout(T.c, 3000);
	return 0;
}

static int teardown(void **state)
{
	authc_deinit(&T.c);
	assert_null(T.c);
	evloop_free(&T.base);
	if (T.pfd >= 0)
		close(T.pfd);
	close(T.lfd);
	unlink(T.path);
	rmdir(T.dir);
	return 0;
}

/* --- tests ------------------------------------------------------------------
 */

static void test_lookup(void **state)
{
	lookup("a@example.com");
	assert_int_equal(T.n_got, 0);
	peer_hello();
	peer_expect("LOOKUP 1 addr=a@example.com context=mx");
	peer_send("OK 1 rcpt=a@example.com hop=mbx1.example.com:2525 "
	          "rcpt=b@example.com hop=local cached=1 dc=ldap://dc1\n");
	wait_got(1);
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
	authc_lookup(T.c, "x@example.com", "mx", NULL, on_lookup, &order[0]);
	authc_lookup(T.c, "y z@example.com", "submission", "alice@example.com",
	             on_lookup, &order[1]);
	authc_auth(T.c, "PLAIN", "alice", "open sesame%", "192.0.2.7", on_auth,
	           NULL);
	authc_senders(T.c, "alice@example.com", on_senders, NULL);
	authc_lookup(T.c, "gone@example.com", "mx", NULL, on_lookup, &order[4]);
	T.in_call = false;
	assert_int_equal(authc_pending(T.c), 5);
	peer_hello();
	peer_expect("LOOKUP 1 addr=x@example.com context=mx");
	peer_expect("LOOKUP 2 addr=y%20z@example.com context=submission "
	            "user=alice@example.com");
	peer_expect("AUTH 3 mech=PLAIN user=alice pass=open%20sesame%25 "
	            "client=192.0.2.7");
	peer_expect("SENDERS 4 user=alice@example.com");
	peer_expect("LOOKUP 5 addr=gone@example.com context=mx");
	/* 5, 4 and 3 arrive in one write; 1 and 2 afterwards. */
	peer_send("NOTFOUND 5 reason=no%20such%20address\n"
	          "OK 4 addr=alice@example.com addr=a.l@example.com\n"
	          "NOTFOUND 3 reason=bad delay_ms=1500\n");
	wait_got(3);
	peer_send("TEMPFAIL 2 reason=dc%20down\nOK 1 rcpt=x@example.com "
	          "hop=external cached=0\n");
	wait_got(5);
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

	lookup("s@example.com");
	T.in_call = true;
	authc_auth(T.c, "LOGIN", "alice", "pw", NULL, on_auth, NULL);
	authc_senders(T.c, "nobody", on_senders, NULL);
	T.in_call = false;
	peer_hello();
	peer_expect("LOOKUP 1 addr=s@example.com context=mx");
	peer_expect("AUTH 2 mech=LOGIN user=alice pass=pw");
	peer_expect("SENDERS 3 user=nobody");
	for (size_t i = 0; i < sizeof(answer) - 1; i++) {
		assert_int_equal(send(T.pfd, answer + i, 1, 0), 1);
		pump();
		pump();
	}
	wait_got(3);
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
		lookup("a@example.com");
		lookup("b@example.com");
		peer_hello();
		snprintf(expect, sizeof(expect),
		         "LOOKUP %zu addr=a@example.com context=mx", 2 * i + 1);
		peer_expect(expect);
		peer_line(expect, sizeof(expect));
		peer_send(line);
		wait_got(base + 2);
		for (int k = base; k < base + 2; k++) {
			if (T.got[k].status != AUTHC_TEMPFAIL) {
				print_error("%s: status %d\n", line,
				            T.got[k].status);
				fail();
			}
		}
		assert_true(peer_sees_eof());
		assert_int_equal(authc_pending(T.c), 0);
	}
}

static void test_peer_closes(void **state)
{
	long long t0;

	lookup("a@example.com");
	lookup("b@example.com");
	peer_hello();
	peer_expect("LOOKUP 1 addr=a@example.com context=mx");
	peer_expect("LOOKUP 2 addr=b@example.com context=mx");
	peer_send("OK 2 rcpt=b@example.com hop=local cached=0\nOK 1 rcpt");
	t0 = now_ms();
	wait_got(1);
	close(T.pfd);
	T.pfd = -1;
	wait_got(2);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(T.got[0].status, AUTHC_OK);
	assert_int_equal(T.got[1].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[1].reason, "authd closed the connection");
	/* The next request reconnects. */
	lookup("c@example.com");
	peer_hello();
	peer_expect("LOOKUP 3 addr=c@example.com context=mx");
	peer_send("NOTFOUND 3 reason=\n");
	wait_got(3);
	assert_int_equal(T.got[2].status, AUTHC_NOTFOUND);
}

static void test_timeout(void **state)
{
	long long t0 = now_ms();

	authc_set_timeout(T.c, 200);
	lookup("slow@example.com");
	peer_hello();
	peer_expect("LOOKUP 1 addr=slow@example.com context=mx");
	wait_got(1);
	assert_true(now_ms() - t0 >= 190);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason, "authd did not answer");
	assert_int_equal(authc_pending(T.c), 0);
	/* The late answer is dropped; the connection stays. */
	peer_send("OK 1 rcpt=slow@example.com hop=local cached=0\n");
	lookup("next@example.com");
	peer_expect("LOOKUP 2 addr=next@example.com context=mx");
	peer_send("OK 2 rcpt=next@example.com hop=local cached=0\n");
	wait_got(2);
	assert_int_equal(T.got[1].status, AUTHC_OK);
	assert_false(try_accept()); /* no second connection */
}

static void test_hello_timeout(void **state)
{
	authc_set_timeout(T.c, 200);
	lookup("a@example.com");
	peer_accept();
	peer_expect("HELLO 0 version=1 client=test");
	wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_true(peer_sees_eof());
}

static void test_no_server(void **state)
{
	long long t0 = now_ms();
	struct authc_req *r;

	close(T.lfd);
	unlink(T.path);
	T.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	lookup("a@example.com");
	assert_int_equal(T.n_got, 0);
	wait_got(1);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason,
	                    "authd unavailable: No such file or directory");
	/* In the backoff: fails the same way without trying; a cancelled
	   failure never calls back. */
	lookup("b@example.com");
	r = lookup("c@example.com");
	authc_cancel(&r);
	assert_null(r);
	wait_got(2);
	for (int i = 0; i < 20; i++)
		pump();
	assert_int_equal(T.n_got, 2);
	assert_string_equal(T.got[1].reason, T.got[0].reason);
}

static void test_cancel(void **state)
{
	struct authc_req *queued, *sent;

	queued = lookup("q@example.com");
	authc_cancel(&queued); /* before HELLO: never sent */
	sent = lookup("s@example.com");
	lookup("k@example.com");
	peer_hello();
	peer_expect("LOOKUP 2 addr=s@example.com context=mx");
	peer_expect("LOOKUP 3 addr=k@example.com context=mx");
	authc_cancel(&sent);
	assert_int_equal(authc_pending(T.c), 1);
	peer_send("OK 2 rcpt=s@example.com hop=local cached=0\n"
	          "OK 3 rcpt=k@example.com hop=local cached=0\n");
	wait_got(1);
	for (int i = 0; i < 20; i++)
		pump();
	assert_int_equal(T.n_got, 1);
	assert_string_equal(T.got[0].detail, "k@example.com>local");
	authc_cancel(&sent); /* NULL: nothing */
}

static void test_hello_refused(void **state)
{
	lookup("a@example.com");
	peer_accept();
	peer_expect("HELLO 0 version=1 client=test");
	peer_send("ERROR 0 reason=version supported=2\n");
	wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason, "authd refused HELLO: version");
}

static void test_error_answer(void **state)
{
	lookup("a@example.com");
	lookup("b@example.com");
	peer_hello();
	peer_expect("LOOKUP 1 addr=a@example.com context=mx");
	peer_expect("LOOKUP 2 addr=b@example.com context=mx");
	peer_send("ERROR 1 reason=bad%20value\n");
	wait_got(1);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_string_equal(T.got[0].reason,
	                    "authd refused the request: bad value");
	/* An ERROR with an ID keeps the connection. */
	peer_send("OK 2 rcpt=b@example.com hop=local cached=0\n");
	wait_got(2);
	assert_int_equal(T.got[1].status, AUTHC_OK);
}

static void test_unencodable(void **state)
{
	T.in_call = true;
	authc_auth(T.c, "PLAIN", "alice", "", NULL, on_auth, NULL);
	authc_auth(T.c, "CRAM-MD5", "alice", "pw", NULL, on_auth, NULL);
	T.in_call = false;
	lookup("a@example.com");
	wait_got(2);
	assert_int_equal(T.got[0].status, AUTHC_TEMPFAIL);
	assert_non_null(strstr(T.got[0].reason, "cannot encode"));
	assert_int_equal(T.got[1].status, AUTHC_TEMPFAIL);
	peer_hello();
	peer_expect("LOOKUP 3 addr=a@example.com context=mx");
}

static void chain_cb(const struct authc_lookup_result *r, void *ctx)
{
	record(r->status, r->reason);
	if (T.n_got == 1)
		authc_lookup(T.c, "second@example.com", "mx", NULL, chain_cb,
		             NULL);
}

static void test_request_from_callback(void **state)
{
	T.in_call = true;
	authc_lookup(T.c, "first@example.com", "mx", NULL, chain_cb, NULL);
	T.in_call = false;
	peer_hello();
	peer_expect("LOOKUP 1 addr=first@example.com context=mx");
	peer_send("NOTFOUND 1 reason=x\n");
	peer_expect("LOOKUP 2 addr=second@example.com context=mx");
	peer_send("NOTFOUND 2 reason=y\n");
	wait_got(2);
	assert_string_equal(T.got[1].reason, "y");
}

static void test_deinit_in_flight(void **state)
{
	lookup("a@example.com");
	lookup("b@example.com");
	peer_hello();
	peer_expect("LOOKUP 1 addr=a@example.com context=mx");
	lookup("c@example.com");
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

	for (int i = 0; i < 40; i++)
		lookup("m@example.com");
	peer_hello();
	for (int i = 0; i < 40; i++)
		peer_line(line, sizeof(line));
	/* Answer from the last to the first. */
	for (int i = 40; i >= 1; i--) {
		snprintf(line, sizeof(line), "NOTFOUND %d reason=%d\n", i, i);
		peer_send(line);
	}
	wait_got(40);
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "%d", 40 - i);
		assert_string_equal(T.got[i].reason, line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_every_byte, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hello_timeout, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hello_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_error_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unencodable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_from_callback, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_deinit_in_flight, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_many_in_flight, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
