/*
 * ctl-dns - dirmxctl dns: one lookup, done the way the daemons do it.
 *
 * dirmxctl dns [-s ADDR[:PORT]]... [-t TIMEOUT_MS] [-n TRIES] TYPE NAME
 *
 * TYPE is srv, mx, a or aaaa. Goes through dns.c (c-ares in a libevent
 * loop), so what it prints is what authd and routerd see: one line per
 * record, in the order received, each with its TTL:
 *
 *	SRV 0 100 389 dc1.example.test. ttl=600
 *	MX 10 mx1.example.test. ttl=600
 *	A 192.0.2.1 ttl=600
 *	AAAA 2001:db8::1 ttl=600
 *
 * and exit 0; or the status word (NXDOMAIN, NODATA, SERVFAIL, REFUSED,
 * TIMEOUT, BADRESP, ERROR) on stdout, the reason on stderr, and exit 1.
 * Without -s the servers of /etc/resolv.conf are used.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ctl.h"
#include "dns.h"
#include "evloop.h"

#define CTL_DNS_MAX_SERVERS 16

struct ctl_dns {
	struct event_base *base;
	int exit_code;
	bool done;
};

static void print_result(const struct dns_result *res, void *context)
{
	struct ctl_dns *c = context;
	char addr[INET6_ADDRSTRLEN];

	c->done = true;
	evloop_break(c->base);
	if (res->status != DNS_OK) {
		printf("%s\n", dns_status_str(res->status));
		fprintf(stderr, "dirmxctl: dns: %s %s: %s\n",
		        dns_type_str(res->type), res->name,
		        res->reason != NULL ? res->reason : "failed");
		c->exit_code = 1;
		return;
	}
	for (size_t i = 0; i < res->count; i++) {
		switch (res->type) {
		case DNS_TYPE_SRV:
			printf("SRV %u %u %u %s ttl=%u\n", res->srv[i].priority,
			       res->srv[i].weight, res->srv[i].port,
			       res->srv[i].target, res->srv[i].ttl);
			break;
		case DNS_TYPE_MX:
			printf("MX %u %s ttl=%u\n", res->mx[i].preference,
			       res->mx[i].exchange, res->mx[i].ttl);
			break;
		case DNS_TYPE_A:
		case DNS_TYPE_AAAA:
			if (inet_ntop(res->addrs[i].family, &res->addrs[i].u,
			              addr, sizeof(addr)) == NULL)
				strcpy(addr, "?");
			printf("%s %s ttl=%u\n", dns_type_str(res->type), addr,
			       res->addrs[i].ttl);
			break;
		}
	}
	c->exit_code = 0;
}

static bool parse_uint(const char *s, uint64_t max, unsigned int *v_r)
{
	struct buf b;
	uint64_t v;

	buf_init(&b, s, strlen(s));
	if (!buf_fetch_uint(&b, max, &v) || buf_remaining(&b) != 0)
		return false;
	*v_r = (unsigned int)v;
	return true;
}

static int usage(void)
{
	fprintf(stderr, "usage: dirmxctl dns [-s ADDR[:PORT]]... "
	                "[-t TIMEOUT_MS] [-n TRIES] {srv|mx|a|aaaa} NAME\n");
	return 2;
}

int ctl_dns(const struct ctl_context *ctx, int argc, char **argv)
{
	const char *servers[CTL_DNS_MAX_SERVERS];
	struct dns_options opts = {
	    .servers = servers, .timeout_ms = 5000, .tries = 2};
	struct ctl_dns c = {.exit_code = 1};
	struct dns_request *req;
	const char *error;
	enum dns_type type;
	struct dns *dns;
	int opt;

	while ((opt = getopt(argc, argv, "+s:t:n:h")) != -1) {
		switch (opt) {
		case 's':
			if (opts.n_servers == CTL_DNS_MAX_SERVERS) {
				fprintf(stderr, "dirmxctl: dns: too many -s\n");
				return 2;
			}
			servers[opts.n_servers++] = optarg;
			break;
		case 't':
			if (!parse_uint(optarg, 3600 * 1000,
			                &opts.timeout_ms) ||
			    opts.timeout_ms == 0) {
				fprintf(stderr,
				        "dirmxctl: dns: bad timeout "
				        "'%s' (1-3600000 ms)\n",
				        optarg);
				return 2;
			}
			break;
		case 'n':
			if (!parse_uint(optarg, 100, &opts.tries) ||
			    opts.tries == 0) {
				fprintf(stderr,
				        "dirmxctl: dns: bad tries '%s' "
				        "(1-100)\n",
				        optarg);
				return 2;
			}
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2 || !dns_type_parse(argv[optind], &type))
		return usage();

	c.base = evloop_new();
	dns = dns_init(c.base, &opts, &error);
	if (dns == NULL) {
		fprintf(stderr, "dirmxctl: dns: %s\n", error);
		evloop_free(&c.base);
		return 2;
	}
	req = dns_lookup(dns, type, argv[optind + 1], print_result, &c);
	evloop_run(c.base);
	if (!c.done) {
		/* The loop ran dry without an answer: cannot happen, but be
		   sure nothing is called after the base is gone. */
		dns_request_cancel(&req);
		fprintf(stderr, "dirmxctl: dns: no answer\n");
	}
	dns_deinit(&dns);
	evloop_free(&c.base);
	fflush(stdout);
	return c.exit_code;
}
