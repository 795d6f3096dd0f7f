/*
 * test-smtpc - the outbound client's local decisions: a verdict from a
 * status alone (none, empty or odd is a temporary failure, never a
 * crash), and a job whose data descriptor cannot be duplicated, which
 * must end RETRY for every recipient, from the loop, without connecting.
 * Everything that talks to a server is in tests/integration/test_smtpc.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "smtpc_private.h"

/* A local decision (no reply): the status says which class. */
static void decide(const char *status, enum smtpc_verdict verdict,
                   const char *want_status)
{
	struct smtpc_rcpt r = {0};

	smtpc_rcpt_decide(&r, status, "why");
	assert_true(r.decided);
	assert_int_equal(r.res.verdict, verdict);
	assert_int_equal(r.res.code, 0);
	assert_string_equal(r.res.status, want_status);
	assert_string_equal(r.res.text, "why");
	free(r.text);
	free(r.diag);
}

static void test_decide(void **state)
{
	(void)state;
	decide("2.1.5", SMTPC_DONE, "2.1.5");
	decide("5.3.4", SMTPC_BOUNCE, "5.3.4");
	decide("4.4.1", SMTPC_RETRY, "4.4.1");
	/* No usable status for a local decision: temporary. */
	decide(NULL, SMTPC_RETRY, "4.0.0");
	decide("", SMTPC_RETRY, "4.0.0");
	decide("x", SMTPC_RETRY, "x");
}

struct result {
	struct event_base *base;
	int calls;
	size_t n;
	enum smtpc_verdict verdict[2];
	char status[2][16];
	char error[256];
};

static void on_result(const struct smtpc_result *res, void *ctx)
{
	struct result *got = ctx;

	got->calls++;
	got->n = res->n_rcpts;
	for (size_t i = 0; i < res->n_rcpts && i < 2; i++) {
		got->verdict[i] = res->rcpts[i].verdict;
		snprintf(got->status[i], sizeof(got->status[i]), "%s",
		         res->rcpts[i].status);
	}
	snprintf(got->error, sizeof(got->error), "%s",
	         res->error != NULL ? res->error : "(none)");
	evloop_break(got->base);
}

static void on_timeout(void *ctx)
{
	evloop_break(ctx);
}

static void test_bad_data_fd(void **state)
{
	struct result got = {0};
	struct smtpc_settings set;
	struct smtpc *c;
	struct smtpc_target target = {.host = "localhost"};
	struct sockaddr_in *sin = (struct sockaddr_in *)&target.addr;
	const char *rcpts[] = {"a@example.com", "b@example.com"};
	struct smtpc_job job = {
	    .queue_id = "0000000000000001",
	    .targets = &target,
	    .n_targets = 1,
	    .mail_from = "s@example.com",
	    .rcpts = rcpts,
	    .n_rcpts = 2,
	    .data_len = 10,
	};
	struct evloop_timer *t;
	socklen_t len = sizeof(*sin);
	int lfd;

	/* A listener that must see no connection. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)sin, &len), 0);
	target.addrlen = sizeof(*sin);
	/* fcntl(F_DUPFD_CLOEXEC) fails on it (EBADF), as it may on a
	 * valid one (EMFILE). */
	job.data_fd = -1;

	got.base = evloop_new();
	smtpc_settings_default(&set);
	set.connect_ms = set.greeting_ms = 200;
	c = smtpc_new(got.base, &set);
	t = evloop_timer_new(got.base, on_timeout, got.base);
	evloop_timer_start(t, 2000);
	assert_non_null(smtpc_deliver(c, &job, on_result, &got));
	assert_int_equal(got.calls, 0); /* never from inside deliver */
	evloop_run(got.base);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.n, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(got.verdict[i], SMTPC_RETRY);
		assert_string_equal(got.status[i], "4.3.0");
	}
	assert_non_null(strstr(got.error, "cannot duplicate"));
	assert_int_equal(accept(lfd, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	evloop_timer_free(&t);
	smtpc_deinit(&c);
	evloop_free(&got.base);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_bad_data_fd),
	};

	log_init("test-smtpc", LOG_DEST_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
