/*
 * authctest - what the authd client's unit tests share; see authctest.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "authctest.h"
#include "evloop.h"

struct authctest T;

int authctest_setup(void **state)
{
	memset(&T, 0, sizeof(T));
	T.base = evloop_new();
	T.peer = authdpeer_new(T.base);
	T.c = authc_new(T.base, authdpeer_path(T.peer), "test");
	authc_set_timeout(T.c, 3000);
	return 0;
}

int authctest_teardown(void **state)
{
	authc_deinit(&T.c);
	assert_null(T.c);
	authdpeer_free(&T.peer);
	evloop_free(&T.base);
	return 0;
}

void authctest_pump(void)
{
	authdpeer_pump(T.peer);
}

struct authctest_got *authctest_record(int status, const char *reason)
{
	struct authctest_got *g;

	assert_false(T.in_call); /* never inside the starting call */
	assert_true(T.n_got < AUTHCTEST_MAX_GOT);
	g = &T.got[T.n_got++];
	memset(g, 0, sizeof(*g));
	g->status = status;
	snprintf(g->reason, sizeof(g->reason), "%s", reason);
	return g;
}

void authctest_on_lookup(const struct authc_lookup_result *r, void *ctx)
{
	struct authctest_got *g = authctest_record(r->status, r->reason);
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

void authctest_on_auth(const struct authc_auth_result *r, void *ctx)
{
	struct authctest_got *g = authctest_record(r->status, r->reason);

	if (r->user != NULL)
		snprintf(g->detail, sizeof(g->detail), "%s", r->user);
	g->delay_ms = r->delay_ms;
}

void authctest_on_senders(const struct authc_senders_result *r, void *ctx)
{
	struct authctest_got *g = authctest_record(r->status, r->reason);
	size_t off = 0;

	for (size_t i = 0; i < r->n_addrs; i++)
		off +=
		    (size_t)snprintf(g->detail + off, sizeof(g->detail) - off,
		                     "%s%s", i ? "," : "", r->addrs[i]);
}

struct authc_req *authctest_lookup(const char *addr)
{
	struct authc_req *r;

	T.in_call = true;
	r = authc_lookup(T.c, addr, "mx", NULL, authctest_on_lookup, NULL);
	T.in_call = false;
	return r;
}

void authctest_wait_got(int n)
{
	long long deadline = authdpeer_now_ms() + 5000;

	while (T.n_got < n && authdpeer_now_ms() < deadline)
		authctest_pump();
	assert_int_equal(T.n_got, n);
}

void authctest_settle(void)
{
	for (int i = 0; i < 20; i++)
		authctest_pump();
}
