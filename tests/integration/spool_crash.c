/*
 * spool_crash - drive the spool for the crash test and the benchmark.
 *
 *   spool_crash write DIR N [CONC]   commit N messages, CONC at a time,
 *                                    from one event loop; print
 *                                    "ACK <id> <sha256 of data>" from the
 *                                    commit callback only (flushed)
 *   spool_crash verify DIR           open DIR (recovery), print
 *                                    "MSG <id> <sha256> <ok|bad-envelope>"
 *                                    for every message found
 *   spool_crash bench DIR N CONC [SIZE]  commit N messages of SIZE bytes
 *                                    (4096) with CONC committers; print
 *                                    "BENCH conc= msgs= secs= rate=
 *                                    batches= avg_batch="
 *
 * The data of message k is pseudo-random with a random size (0..40000
 * bytes, written in uneven chunks); its SHA-256 (GnuTLS, independent of
 * the spool's own CRC) is also stored as the envelope's ENVID, so verify
 * checks that envelope and data still belong together.
 */
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "spool.h"

struct driver {
	struct event_base *base;
	struct spool *spool;
	unsigned long started, done, total;
	bool print;
	size_t fixed_size;
	uint64_t rng;
};

struct job {
	struct driver *d;
	struct spool_msg *msg;
	char sha[65];
};

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, md) < 0)
		abort();
	for (int i = 0; i < 32; i++)
		snprintf(out + i * 2, 3, "%02x", md[i]);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void start_one(struct driver *d);

static void on_commit(void *context, int result, const char *error)
{
	struct job *j = context;
	struct driver *d = j->d;

	if (result < 0) {
		fprintf(stderr, "commit %s failed: %s\n", spool_msg_id(j->msg),
		        error);
		exit(1);
	}
	if (d->print) {
		printf("ACK %s %s\n", spool_msg_id(j->msg), j->sha);
		fflush(stdout);
	}
	free(j);
	if (++d->done == d->total)
		evloop_break(d->base);
	else
		start_one(d);
}

static void start_one(struct driver *d)
{
	struct job *j;
	struct spoolrec *env;
	const char *error = NULL;
	size_t len, off = 0;
	unsigned char *data;

	if (d->started == d->total)
		return;
	d->started++;
	j = calloc(1, sizeof(*j));
	j->d = d;
	len = d->fixed_size != (size_t)-1 ? d->fixed_size
	                                  : rng_next(&d->rng) % 40001;
	data = calloc(1, len + 1);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)rng_next(&d->rng);
	sha256_hex(data, len, j->sha);
	if (spool_msg_begin(d->spool, &j->msg, &error) < 0) {
		fprintf(stderr, "begin: %s\n", error);
		exit(1);
	}
	while (off < len) {
		size_t n = 1 + rng_next(&d->rng) % 8192;

		n = n > len - off ? len - off : n;
		if (spool_msg_write(j->msg, data + off, n, &error) < 0) {
			fprintf(stderr, "write: %s\n", error);
			exit(1);
		}
		off += n;
	}
	env = spoolrec_new();
	snprintf(env->id, sizeof(env->id), "%s", spool_msg_id(j->msg));
	env->arrival = (uint64_t)time(NULL);
	spoolrec_set(&env->client, "127.0.0.1");
	spoolrec_set(&env->helo, "crash.test");
	spoolrec_set(&env->mail_from, "sender@example.org");
	env->size = len;
	spoolrec_set(&env->envid, j->sha);
	spoolrec_add_rcpt(env, "rcpt@example.com", "local");
	if (spool_msg_commit(j->msg, env, on_commit, j, &error) < 0) {
		fprintf(stderr, "commit: %s\n", error);
		exit(1);
	}
	spoolrec_deinit(&env);
	free(data);
}

static int run_write(const char *dir, unsigned long n, unsigned long conc,
                     bool print, size_t size)
{
	struct driver d = {.total = n, .print = print, .fixed_size = size};
	const char *error = NULL;
	struct timespec t0, t1;
	struct spool_stats st;
	double secs;

	d.rng = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	d.base = evloop_new();
	if (spool_open(d.base, dir, &d.spool, &error) < 0) {
		fprintf(stderr, "spool_open: %s\n", error);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long i = 0; i < conc; i++)
		start_one(&d);
	if (n > 0)
		evloop_run(d.base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	spool_get_stats(d.spool, &st);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!print)
		printf("BENCH conc=%lu msgs=%lu size=%zu secs=%.2f rate=%.0f "
		       "batches=%llu avg_batch=%.1f\n",
		       conc, n, size, secs, (double)n / secs,
		       (unsigned long long)st.batches,
		       st.batches ? (double)st.ops / (double)st.batches : 0.0);
	spool_deinit(&d.spool);
	evloop_free(&d.base);
	return 0;
}

static void verify_one(void *context, const char *id)
{
	struct spool *spool = context;
	struct spoolrec *env = NULL;
	struct spool_data data;
	const char *error = NULL;
	unsigned char *buf;
	char sha[65];

	if (spool_load(spool, id, &env, &data, &error) != 1) {
		printf("LOADFAIL %s %s\n", id, error ? error : "missing");
		return;
	}
	buf = malloc(data.len + 1);
	if (pread(data.fd, buf, data.len, (off_t)data.offset) !=
	    (ssize_t)data.len)
		abort();
	sha256_hex(buf, data.len, sha);
	printf("MSG %s %s %s\n", id, sha,
	       strcmp(env->envid, sha) == 0 && env->size == data.len
	           ? "ok"
	           : "bad-envelope");
	if (data.mem != NULL && memcmp(data.mem, buf, data.len) != 0)
		abort(); /* the copy read whole differs from the file */
	spool_data_close(&data);
	free(buf);
	spoolrec_deinit(&env);
}

static int run_verify(const char *dir)
{
	struct event_base *base = evloop_new();
	struct spool *spool = NULL;
	const char *error = NULL;

	if (spool_open(base, dir, &spool, &error) < 0) {
		fprintf(stderr, "spool_open: %s\n", error);
		return 1;
	}
	spool_foreach(spool, verify_one, spool);
	spool_deinit(&spool);
	evloop_free(&base);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("spool_crash", LOG_DEST_STDERR, LOG_LEVEL_INFO);
	if (argc >= 4 && strcmp(argv[1], "write") == 0)
		return run_write(argv[2], strtoul(argv[3], NULL, 10),
		                 argc > 4 ? strtoul(argv[4], NULL, 10) : 8,
		                 true, (size_t)-1);
	if (argc == 3 && strcmp(argv[1], "verify") == 0)
		return run_verify(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "bench") == 0)
		return run_write(argv[2], strtoul(argv[3], NULL, 10),
		                 strtoul(argv[4], NULL, 10), false,
		                 argc > 5 ? strtoul(argv[5], NULL, 10) : 4096);
	fprintf(stderr, "usage: spool_crash write DIR N [CONC] | verify DIR | "
	                "bench DIR N CONC [SIZE]\n");
	return 2;
}
