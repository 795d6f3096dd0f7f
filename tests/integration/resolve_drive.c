/*
 * resolve_drive - resolve next hops with routerd's resolve module against a
 * real DNS server.
 *
 * Usage: resolve_drive -s DNS_ADDR:PORT [-t TIMEOUT_MS] [-n TRIES]
 *        [-m MYNAME]... [-e SEED] [-r REPEAT] [-C] [-P [-X N]] HOP...
 *
 * Each HOP (a next hop as nexthop_parse() reads it: "example.test",
 * "[mx1.example.test]:2525", "[127.0.0.1]:26"...) is resolved REPEAT times
 * (default 1), one resolution after the other, so a repeat may come from
 * the cache (-C turns the cache off). -m names this host (repeatable) for
 * the MX-to-self check; -e seeds the random source that orders MX
 * records of equal preference. -P resolves all HOPs at once (each also
 * started and cancelled once, which must print nothing); with -X N,
 * resolve_deinit() is called after N answers, ending the others with
 * TEMPFAIL "shutting down". Output, one line per target then one per
 * outcome:
 *     target run=R hop=HOP host=H addr=A port=P pref=N
 *     ok run=R hop=HOP n=N ttl=T cached=0|1 implicit=0|1 ms=M
 *     fail run=R hop=HOP status=TEMPFAIL|PERMFAIL code=C reason="..." ms=M
 * Exit status: 0 when every resolution was OK, 1 otherwise, 2 on a usage
 * error or an unparsable HOP.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "evloop.h"
#include "resolve.h"

static struct event_base *base;
static struct resolve *resolve;
static char **hops;
static int n_hops, repeat = 1, hop_idx, run, failures;
static struct nexthop cur;
static uint64_t start_ms;
static bool parallel;
static int deinit_after = -1, answered;
static struct dns *dns;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t seeded_rand(void *ctx)
{
	uint64_t *st = ctx;

	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (uint32_t)((*st * 0x2545f4914f6cdd1dULL) >> 32);
}

static void next(void);

static void on_route(const struct resolve_result *res, void *ctx)
{
	const char *hop = parallel ? ctx : hops[hop_idx];
	unsigned long long ms = (unsigned long long)(now_ms() - start_ms);

	for (size_t i = 0; i < res->n_targets; i++) {
		const struct resolve_target *t = &res->targets[i];
		char addr[INET6_ADDRSTRLEN] = "?";
		unsigned port;

		if (t->addr.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)&t->addr;

			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
			port = ntohs(sin->sin_port);
		} else {
			const struct sockaddr_in6 *s6 = (const void *)&t->addr;

			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
			port = ntohs(s6->sin6_port);
		}
		printf("target run=%d hop=%s host=%s addr=%s port=%u pref=%u\n",
		       run, hop, t->host, addr, port, (unsigned)t->preference);
	}
	if (res->status == RESOLVE_OK) {
		printf("ok run=%d hop=%s n=%zu ttl=%u cached=%d implicit=%d "
		       "ms=%llu\n",
		       run, hop, res->n_targets, (unsigned)res->ttl,
		       res->cached, res->implicit, ms);
	} else {
		printf("fail run=%d hop=%s status=%s code=%s reason=\"%s\" "
		       "ms=%llu\n",
		       run, hop, resolve_status_str(res->status), res->code,
		       res->reason, ms);
		failures++;
	}
	fflush(stdout);
	if (parallel) {
		if (++answered == deinit_after)
			resolve_deinit(&resolve);
		if (answered == n_hops)
			evloop_break(base);
		return;
	}
	if (++run == repeat) {
		run = 0;
		hop_idx++;
	}
	next();
}

static void next(void)
{
	const char *error;

	if (hop_idx == n_hops) {
		evloop_break(base);
		return;
	}
	if (nexthop_parse(hops[hop_idx], &cur, &error) < 0) {
		fprintf(stderr, "resolve_drive: %s: %s\n", hops[hop_idx],
		        error);
		exit(2);
	}
	start_ms = now_ms();
	resolve_resolve(resolve, &cur, on_route, NULL);
}

static void start_all(void)
{
	struct nexthop nh;
	struct resolve_req *req;
	const char *error;

	for (int i = 0; i < n_hops; i++) {
		if (nexthop_parse(hops[i], &nh, &error) < 0) {
			fprintf(stderr, "resolve_drive: %s: %s\n", hops[i],
			        error);
			exit(2);
		}
		req = resolve_resolve(resolve, &nh, on_route, hops[i]);
		resolve_cancel(&req);
		if (req != NULL)
			exit(3);
		resolve_resolve(resolve, &nh, on_route, hops[i]);
	}
	start_ms = now_ms();
}

int main(int argc, char **argv)
{
	const char *servers[1] = {NULL}, *error = NULL;
	const char *names[16];
	size_t n_names = 0;
	struct dns_options opts = {0};
	uint64_t seed = 0;
	bool no_cache = false;
	int c;

	while ((c = getopt(argc, argv, "s:t:n:m:e:r:CPX:")) != -1) {
		switch (c) {
		case 's':
			servers[0] = optarg;
			break;
		case 't':
			opts.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			opts.tries = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			if (n_names == 16)
				return 2;
			names[n_names++] = optarg;
			break;
		case 'e':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			repeat = atoi(optarg);
			break;
		case 'C':
			no_cache = true;
			break;
		case 'P':
			parallel = true;
			break;
		case 'X':
			deinit_after = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (servers[0] == NULL || optind == argc || repeat < 1)
		goto usage;
	hops = argv + optind;
	n_hops = argc - optind;
	opts.servers = servers;
	opts.n_servers = 1;
	base = evloop_new();
	dns = dns_init(base, &opts, &error);
	if (dns == NULL) {
		fprintf(stderr, "resolve_drive: dns: %s\n", error);
		return 2;
	}
	resolve = resolve_new(base, dns, names, n_names);
	if (seed != 0)
		resolve_set_rand(resolve, seeded_rand, &seed);
	if (no_cache)
		resolve_set_cache_max(resolve, 0);
	if (parallel)
		start_all();
	else
		next();
	evloop_run(base);
	resolve_deinit(&resolve);
	dns_deinit(&dns);
	evloop_free(&base);
	return failures == 0 ? 0 : 1;
usage:
	fprintf(stderr, "usage: resolve_drive -s DNS_ADDR:PORT [-t TIMEOUT_MS] "
	                "[-n TRIES] [-m MYNAME]... [-e SEED] [-r REPEAT] [-C] "
	                "[-P [-X N]] HOP...\n");
	return 2;
}
