/*
 * authc_drive - drive lib/authc.c against a real authd, for
 * tests/integration/test_authc.py.
 *
 * SYNOPSIS
 *	authc_drive [-t MS] SOCKET lookup ADDR...
 *	authc_drive [-t MS] SOCKET auth USER	(password: stdin's first line)
 *	authc_drive [-t MS] SOCKET senders USER
 *	authc_drive [-t MS] SOCKET flood N ADDR
 *	authc_drive [-t MS] SOCKET script	(the commands above from stdin,
 *						 "auth USER PASSWORD", and
 *						 "sleep MS"; one client for all)
 *
 * DESCRIPTION
 *	Every command sends all its requests at once on one authc client,
 *	then runs the event loop until each has answered, printing one line
 *	per answer as it arrives:
 *
 *	  lookup ADDR ok RCPT>HOP[,RCPT>HOP...] cached=0|1
 *	  lookup ADDR notfound|tempfail REASON
 *	  auth USER ok CANONICAL delay=MS | auth USER notfound|tempfail REASON
 *delay=MS senders USER ok ADDR[,ADDR...] | senders USER ok - | ... REASON
 *
 *	flood asks N different addresses, ADDR with the subaddresses +1
 *	to +N (identical lookups in flight would be one request: authc.h);
 *	it prints only "flood first" at its first answer, then the
 *	summary. Each command ends with
 *
 *	  done ok=N notfound=N tempfail=N ms=N last_tempfail=REASON
 *
 *	stdout is flushed after every line, so a test can act on it (kill
 *	authd after "flood first"). Exit status: 3 when any answer was a
 *	TEMPFAIL, else 1 when any was NOTFOUND, else 0; 2 on bad usage.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "authc.h"
#include "evloop.h"
#include "log.h"

struct drive {
	struct event_base *base;
	struct authc *c;
	size_t outstanding;
	size_t ok, notfound, tempfail;
	bool flood, first_seen;
	char last_tempfail[256];
	int exit_status;
};

static struct drive D;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *count(enum authc_status st, const char *reason)
{
	switch (st) {
	case AUTHC_OK:
		D.ok++;
		return "ok";
	case AUTHC_NOTFOUND:
		D.notfound++;
		if (D.exit_status == 0)
			D.exit_status = 1;
		return "notfound";
	default:
		D.tempfail++;
		D.exit_status = 3;
		snprintf(D.last_tempfail, sizeof(D.last_tempfail), "%s",
		         reason);
		return "tempfail";
	}
}

static void answered(void)
{
	if (D.flood && !D.first_seen) {
		D.first_seen = true;
		printf("flood first\n");
	}
	fflush(stdout);
	if (--D.outstanding == 0)
		evloop_break(D.base);
}

static void on_lookup(const struct authc_lookup_result *r, void *ctx)
{
	const char *st = count(r->status, r->reason);

	if (!D.flood) {
		printf("lookup %s %s ", (const char *)ctx, st);
		if (r->status != AUTHC_OK)
			printf("%s", r->reason);
		for (size_t i = 0; i < r->n_dests; i++)
			printf("%s%s>%s", i > 0 ? "," : "", r->dests[i].rcpt,
			       r->dests[i].hop);
		if (r->status == AUTHC_OK)
			printf(" cached=%d", r->cached);
		printf("\n");
	}
	answered();
}

static void on_auth(const struct authc_auth_result *r, void *ctx)
{
	const char *st = count(r->status, r->reason);

	printf("auth %s %s %s delay=%u\n", (const char *)ctx, st,
	       r->status == AUTHC_OK ? r->user : r->reason, r->delay_ms);
	answered();
}

static void on_senders(const struct authc_senders_result *r, void *ctx)
{
	const char *st = count(r->status, r->reason);

	printf("senders %s %s ", (const char *)ctx, st);
	if (r->status != AUTHC_OK)
		printf("%s", r->reason);
	else if (r->n_addrs == 0)
		printf("-");
	for (size_t i = 0; i < r->n_addrs; i++)
		printf("%s%s", i > 0 ? "," : "", r->addrs[i]);
	printf("\n");
	answered();
}

static void stop(void *context)
{
	evloop_break(D.base);
}

/* Run one command (argv[0] is its name); 0, or 2 on bad usage. */
static int run(int argc, char **argv, const char *password)
{
	long long t0 = now_ms();
	char *end;

	D.ok = D.notfound = D.tempfail = 0;
	D.flood = D.first_seen = false;
	D.last_tempfail[0] = '\0';
	if (strcmp(argv[0], "lookup") == 0 && argc >= 2) {
		for (int i = 1; i < argc; i++, D.outstanding++)
			authc_lookup(D.c, argv[i], "mx", NULL, on_lookup,
			             argv[i]);
	} else if (strcmp(argv[0], "auth") == 0 && argc == 2 &&
	           password != NULL) {
		authc_auth(D.c, "PLAIN", argv[1], password, "127.0.0.1",
		           on_auth, argv[1]);
		D.outstanding++;
	} else if (strcmp(argv[0], "senders") == 0 && argc == 2) {
		authc_senders(D.c, argv[1], on_senders, argv[1]);
		D.outstanding++;
	} else if (strcmp(argv[0], "flood") == 0 && argc == 3) {
		unsigned long n = strtoul(argv[1], &end, 10);
		const char *at = strchr(argv[2], '@');

		if (*end != '\0' || n == 0 || n > 1000000 || at == NULL)
			return 2;
		D.flood = true;
		for (unsigned long i = 1; i <= n; i++, D.outstanding++) {
			char *addr = alloc_printf(
			    "%.*s+%lu%s", (int)(at - argv[2]), argv[2], i, at);

			authc_lookup(D.c, addr, "mx", NULL, on_lookup, argv[2]);
			free(addr);
		}
	} else if (strcmp(argv[0], "sleep") == 0 && argc == 2) {
		struct evloop_timer *t = evloop_timer_new(D.base, stop, NULL);

		evloop_timer_start(t, (unsigned int)strtoul(argv[1], NULL, 10));
		evloop_run(D.base);
		evloop_timer_free(&t);
	} else {
		return 2;
	}
	if (D.outstanding > 0)
		evloop_run(D.base);
	printf("done ok=%zu notfound=%zu tempfail=%zu ms=%lld "
	       "last_tempfail=%s\n",
	       D.ok, D.notfound, D.tempfail, now_ms() - t0, D.last_tempfail);
	fflush(stdout);
	return 0;
}

static int script(void)
{
	char line[4096];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *argv[64], *save = NULL, *pw = NULL;
		int argc = 0;

		line[strcspn(line, "\r\n")] = '\0';
		for (char *w = strtok_r(line, " ", &save);
		     w != NULL && argc < 63; w = strtok_r(NULL, " ", &save))
			argv[argc++] = w;
		if (argc == 0)
			continue;
		if (strcmp(argv[0], "auth") == 0 && argc == 3)
			pw = argv[--argc];
		if (run(argc, argv, pw) != 0) {
			fprintf(stderr, "authc_drive: bad command: %s\n",
			        argv[0]);
			return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int timeout = 0;
	char pw[4096] = "";
	int ret;

	log_init("authc_drive", LOG_DEST_STDERR, LOG_LEVEL_INFO);
	if (argc >= 3 && strcmp(argv[1], "-t") == 0) {
		timeout = (unsigned int)strtoul(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: authc_drive [-t MS] SOCKET "
		                "lookup|auth|senders|flood|script ARGS\n");
		return 2;
	}
	D.base = evloop_new();
	D.c = authc_new(D.base, argv[1], "authc_drive");
	if (timeout > 0)
		authc_set_timeout(D.c, timeout);
	if (strcmp(argv[2], "script") == 0) {
		ret = script();
	} else {
		if (strcmp(argv[2], "auth") == 0 &&
		    fgets(pw, sizeof(pw), stdin) != NULL)
			pw[strcspn(pw, "\r\n")] = '\0';
		ret = run(argc - 2, argv + 2, pw);
		explicit_bzero(pw, sizeof(pw));
		if (ret != 0)
			fprintf(stderr, "authc_drive: bad usage\n");
	}
	authc_deinit(&D.c);
	evloop_free(&D.base);
	return ret != 0 ? ret : D.exit_status;
}
