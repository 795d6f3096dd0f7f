/*
 * smtpc_drive - drive routerd/smtpc.c against real SMTP servers, for
 * tests/integration/test_smtpc.py.
 *
 * SYNOPSIS
 *	smtpc_drive [options] --from ADDR --rcpt ADDR... --data FILE
 *		    [NAME@]IP:PORT...
 *
 * OPTIONS
 *	--tls none|may|encrypt|verify	TLS policy (none)
 *	--ca FILE			trust anchors for verify
 *	--auth USER PASSFILE		AUTH with the password in PASSFILE
 *					(which must be mode 0600 or stricter)
 *	--jobs N			deliver the same message N times
 *	--sequential			start each job when the previous ended
 *	--max-total N --max-dest N	connection limits (10, 5)
 *	--timeout MS			every protocol timeout (10000)
 *	--idle MS			connection cache time (2000)
 *	--smtputf8 --8bit		the message needs SMTPUTF8 / is 8bit
 *	--notify success,failure,delay|never  --orcpt ADDR  --envid ID
 *	--ret full|hdrs			DSN parameters for every recipient
 *	--helo NAME			(drive.test)
 *
 * DESCRIPTION
 *	Targets are tried in order; NAME (default: IP) is the host name
 *	used for SNI and certificate verification. For each finished job:
 *
 *	  job J rcpt ADDR verdict=done|retry|bounce code=N status=X.Y.Z
 *	      text="..."				(one per recipient)
 *	  job J end host=H ip=IP:PORT tls=0|1 reused=0|1 delay_ms=N
 *	      error="..."
 *
 *	then "done jobs=N peak_conns=N". Exit 0, or 2 on bad usage. smtpc's
 *	log lines go to stderr.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"
#include "smtpc.h"

#define MAX_ITEMS 64

struct drive {
	struct event_base *base;
	struct smtpc *c;
	struct smtpc_job job;
	unsigned jobs, started, finished;
	bool sequential;
};

static struct drive D;

static void usage(void)
{
	fprintf(stderr, "usage: smtpc_drive [options] --from A --rcpt B... "
	                "--data FILE [NAME@]IP:PORT...\n");
	exit(2);
}

static bool parse_target(const char *arg, struct smtpc_target *t)
{
	char *copy = alloc_strdup(arg), *at, *ip, *colon;
	unsigned long port;
	bool ok = false;

	memset(t, 0, sizeof(*t));
	at = strchr(copy, '@');
	ip = at != NULL ? at + 1 : copy;
	colon = strrchr(ip, ':');
	if (colon == NULL)
		goto done;
	*colon = '\0';
	port = strtoul(colon + 1, NULL, 10);
	if (at != NULL)
		*at = '\0';
	if (ip[0] == '[') {
		struct sockaddr_in6 *s6 = (void *)&t->addr;

		ip++;
		ip[strlen(ip) - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		ok = inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1;
		t->addrlen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&t->addr;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		ok = inet_pton(AF_INET, ip, &s4->sin_addr) == 1;
		t->addrlen = sizeof(*s4);
	}
	t->host = alloc_strdup(at != NULL ? copy : ip);
done:
	free(copy);
	return ok;
}

static const char *verdict_name(enum smtpc_verdict v)
{
	return v == SMTPC_DONE     ? "done"
	       : v == SMTPC_BOUNCE ? "bounce"
	                           : "retry";
}

static void start_job(void);

static void job_done(const struct smtpc_result *res, void *ctx)
{
	unsigned j = (unsigned)(uintptr_t)ctx;
	char q[LOG_QUOTE_MAX];
	size_t i;

	for (i = 0; i < res->n_rcpts; i++) {
		const struct smtpc_rcpt_result *r = &res->rcpts[i];

		printf("job %u rcpt %s verdict=%s code=%d status=%s text=%s\n",
		       j, D.job.rcpts[i], verdict_name(r->verdict), r->code,
		       r->status, log_quote_str(q, r->text));
	}
	printf("job %u end host=%s ip=%s tls=%d reused=%d delay_ms=%llu "
	       "error=%s\n",
	       j, res->host != NULL ? res->host : "-",
	       res->ip != NULL ? res->ip : "-", res->tls != NULL, res->reused,
	       (unsigned long long)res->delay_ms,
	       log_quote_str(q, res->error != NULL ? res->error : ""));
	fflush(stdout);
	D.finished++;
	if (D.sequential && D.started < D.jobs)
		start_job();
	if (D.finished == D.jobs)
		evloop_break(D.base);
}

static void start_job(void)
{
	unsigned j = D.started++;

	smtpc_deliver(D.c, &D.job, job_done, (void *)(uintptr_t)j);
}

static enum smtpc_tls parse_tls(const char *s)
{
	if (strcmp(s, "none") == 0)
		return SMTPC_TLS_NONE;
	if (strcmp(s, "may") == 0)
		return SMTPC_TLS_MAY;
	if (strcmp(s, "encrypt") == 0)
		return SMTPC_TLS_ENCRYPT;
	if (strcmp(s, "verify") == 0)
		return SMTPC_TLS_VERIFY;
	usage();
	return SMTPC_TLS_NONE;
}

static unsigned parse_notify(const char *s)
{
	unsigned n = 0;

	if (strstr(s, "never") != NULL)
		return 0x8u;
	if (strstr(s, "success") != NULL)
		n |= 0x1u;
	if (strstr(s, "failure") != NULL)
		n |= 0x2u;
	if (strstr(s, "delay") != NULL)
		n |= 0x4u;
	return n;
}

int main(int argc, char **argv)
{
	static struct smtpc_target targets[MAX_ITEMS];
	static const char *rcpts[MAX_ITEMS], *orcpts[MAX_ITEMS];
	static unsigned notify[MAX_ITEMS];
	struct smtpc_settings set;
	const char *data = NULL, *orcpt = NULL;
	char *password = NULL;
	size_t nt = 0, nr = 0, i;
	unsigned timeout = 10000, nflags = 0;
	struct stat st;
	int fd, a;

	log_init("smtpc_drive", LOG_DEST_STDERR, LOG_LEVEL_INFO);
	smtpc_settings_default(&set);
	set.max_conns_total = 10;
	set.max_conns_per_dest = 5;
	set.idle_ms = 2000;
	D.jobs = 1;
	D.job.queue_id = "DRIVE";
	D.job.helo_name = "drive.test";
	D.job.mail_from = "";
	for (a = 1; a < argc; a++) {
		const char *o = argv[a];
		bool more = a + 1 < argc;

		if (strcmp(o, "--tls") == 0 && more)
			D.job.tls = parse_tls(argv[++a]);
		else if (strcmp(o, "--ca") == 0 && more)
			D.job.ca_file = argv[++a];
		else if (strcmp(o, "--auth") == 0 && a + 2 < argc) {
			const char *err;

			D.job.auth_user = argv[++a];
			if (smtpc_password_read(argv[++a], &password, &err) <
			    0) {
				fprintf(stderr, "smtpc_drive: %s\n", err);
				return 2;
			}
			D.job.auth_password = password;
		} else if (strcmp(o, "--jobs") == 0 && more)
			D.jobs = (unsigned)strtoul(argv[++a], NULL, 10);
		else if (strcmp(o, "--sequential") == 0)
			D.sequential = true;
		else if (strcmp(o, "--max-total") == 0 && more)
			set.max_conns_total = (unsigned)atoi(argv[++a]);
		else if (strcmp(o, "--max-dest") == 0 && more)
			set.max_conns_per_dest = (unsigned)atoi(argv[++a]);
		else if (strcmp(o, "--timeout") == 0 && more)
			timeout = (unsigned)atoi(argv[++a]);
		else if (strcmp(o, "--idle") == 0 && more)
			set.idle_ms = (unsigned)atoi(argv[++a]);
		else if (strcmp(o, "--smtputf8") == 0)
			D.job.need_smtputf8 = true;
		else if (strcmp(o, "--8bit") == 0)
			D.job.eightbit = true;
		else if (strcmp(o, "--notify") == 0 && more)
			nflags = parse_notify(argv[++a]);
		else if (strcmp(o, "--orcpt") == 0 && more)
			orcpt = argv[++a];
		else if (strcmp(o, "--envid") == 0 && more)
			D.job.envid = argv[++a];
		else if (strcmp(o, "--ret") == 0 && more)
			D.job.ret = strcmp(argv[++a], "full") == 0 ? 1 : 2;
		else if (strcmp(o, "--helo") == 0 && more)
			D.job.helo_name = argv[++a];
		else if (strcmp(o, "--from") == 0 && more)
			D.job.mail_from = argv[++a];
		else if (strcmp(o, "--rcpt") == 0 && more && nr < MAX_ITEMS)
			rcpts[nr++] = argv[++a];
		else if (strcmp(o, "--data") == 0 && more)
			data = argv[++a];
		else if (o[0] != '-' && nt < MAX_ITEMS) {
			if (!parse_target(o, &targets[nt++]))
				usage();
		} else
			usage();
	}
	if (nt == 0 || nr == 0 || data == NULL || D.jobs == 0)
		usage();
	fd = open(data, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(data);
		return 2;
	}
	set.connect_ms = set.greeting_ms = set.helo_ms = set.mail_ms =
	    set.rcpt_ms = set.data_init_ms = set.data_block_ms =
	        set.data_done_ms = timeout;
	for (i = 0; i < nr; i++) {
		notify[i] = nflags;
		orcpts[i] = orcpt;
	}
	D.job.targets = targets;
	D.job.n_targets = nt;
	D.job.rcpts = rcpts;
	D.job.notify = notify;
	D.job.orcpt = orcpts;
	D.job.n_rcpts = nr;
	D.job.data_fd = fd;
	D.job.data_offset = 0;
	D.job.data_len = (uint64_t)st.st_size;

	D.base = evloop_new();
	D.c = smtpc_new(D.base, &set);
	if (D.sequential) {
		start_job();
	} else {
		while (D.started < D.jobs)
			start_job();
	}
	evloop_run(D.base);
	{
		unsigned peak;

		smtpc_conns(D.c, &peak);
		printf("done jobs=%u peak_conns=%u\n", D.finished, peak);
	}
	smtpc_deinit(&D.c);
	evloop_free(&D.base);
	close(fd);
	for (i = 0; i < nt; i++)
		free((char *)(uintptr_t)targets[i].host);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	return 0;
}
