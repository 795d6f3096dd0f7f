/*
 * authctest.h - what the authd client's unit tests (test-authc.c,
 * test-authc-merge.c, test-authc-sasl.c) share: a client (lib/authc.c) with its
 * event loop and a hand-driven authd (tests/support/authdpeer.h) as cmocka
 * fixtures, and callbacks that record every result in order.
 */
#ifndef DIRMX_AUTHCTEST_H
#define DIRMX_AUTHCTEST_H

#include <stdbool.h>

#include "authc.h"
#include "authdpeer.h"

#define AUTHCTEST_MAX_GOT 64

struct authctest_got {
	int status;
	char reason[256];
	char detail[512]; /* dests / user / addrs, flattened */
	unsigned int delay_ms;
};

struct authctest {
	struct event_base *base;
	struct authdpeer *peer;
	struct authc *c;
	struct authctest_got got[AUTHCTEST_MAX_GOT];
	int n_got;
	bool in_call; /* a callback now would run inside the call */
};

extern struct authctest T;

int authctest_setup(void **state);
int authctest_teardown(void **state);
void authctest_pump(void);
/* Record a result (never inside the call that started the request). */
struct authctest_got *authctest_record(int status, const char *reason);
/* ctx: NULL, or an int that gets the result's 1-based arrival number. */
void authctest_on_lookup(const struct authc_lookup_result *r, void *ctx);
void authctest_on_auth(const struct authc_auth_result *r, void *ctx);
void authctest_on_senders(const struct authc_senders_result *r, void *ctx);
/* authc_lookup(addr, "mx", no user) recorded by authctest_on_lookup. */
struct authc_req *authctest_lookup(const char *addr);
/* Pump until n results came (5 s at most). */
void authctest_wait_got(int n);
/* Pump 20 times: nothing more may come. */
void authctest_settle(void);

#endif
