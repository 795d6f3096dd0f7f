/*
 * dcloc_drive - drive authd's DC locator and connection pool against real
 * DNS and LDAP servers.
 *
 * Usage: dcloc_drive [-d DOMAIN] [-s DNS_ADDR:PORT] [-S URI,URI...]
 *        [-x SITE] [-g] [-T none|starttls|ldaps] [-C CAFILE]
 *        [-M none|simple|plain|gssapi|external] [-D DN] [-w PASSWORD]
 *        [-P] [-t TIMEOUT_MS] [-c CONNS] [-n COUNT] [-i INTERVAL_MS]
 *        [-e SEED] -b BASE -f FILTER
 *
 * Discovers the DCs (SRV through the given DNS server, or the static list),
 * then sends COUNT searches, one every INTERVAL_MS (0: all at once), through
 * the pool, and prints one line per answer:
 *     search N ok dc=URI entries=E ms=T
 *     search N fail status=S error="..." ms=T
 * then the locator's table. A line "order: URI URI ..." is printed each
 * time the locator's order changes. Exit status: 0 when every search was
 * answered OK, 1 otherwise, 2 on a usage error.
 */
#include <event2/event.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcloc.h"
#include "dns.h"
#include "evloop.h"
#include "ldconn.h"
#include "ldpool.h"

static struct event_base *base;
static struct dcloc *loc;
static struct ldpool *pool;
static struct ldconn_search search;
static int count = 1, interval_ms, sent, answered, failures;
static struct evloop_timer *send_timer;
static uint64_t t0;

struct one {
	int idx;
	uint64_t start;
};

static void on_result(const struct ldconn_result *res, const char *dc_uri,
                      void *ctx)
{
	struct one *o = ctx;
	uint64_t ms = evloop_now_ms() - o->start;

	if (res->status == LDCONN_OK) {
		printf("search %d ok dc=%s entries=%zu ms=%llu at=%llu\n",
		       o->idx, dc_uri, res->n_entries, (unsigned long long)ms,
		       (unsigned long long)(evloop_now_ms() - t0));
	} else {
		printf(
		    "search %d fail status=%s error=\"%s\" ms=%llu at=%llu\n",
		    o->idx, ldconn_status_str(res->status),
		    res->error != NULL ? res->error : "",
		    (unsigned long long)ms,
		    (unsigned long long)(evloop_now_ms() - t0));
		failures++;
	}
	fflush(stdout);
	free(o);
	if (++answered == count)
		event_base_loopbreak(base);
}

static void send_one(void)
{
	struct one *o = calloc(1, sizeof(*o));

	o->idx = sent++;
	o->start = evloop_now_ms();
	ldpool_search(pool, &search, on_result, o);
}

static void send_next(void *ctx)
{
	send_one();
	if (sent < count)
		evloop_timer_start(send_timer, (unsigned)interval_ms);
}

static void on_changed(struct dcloc *l, void *ctx)
{
	printf("order:");
	for (size_t i = 0; i < dcloc_count(l); i++)
		printf(" %s", dcloc_get(l, i)->uri);
	printf(" source=%s\n", dcloc_source(l));
	fflush(stdout);
	ldpool_dcs_changed(pool);
	if (sent == 0) {
		if (interval_ms == 0) {
			while (sent < count)
				send_one();
		} else {
			send_next(NULL);
		}
	}
}

static int parse_enum(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	fprintf(stderr, "unknown value '%s'\n", s);
	exit(2);
}

static const char *state_name(enum dcloc_state s)
{
	switch (s) {
	case DCLOC_DC_UNKNOWN:
		return "unknown";
	case DCLOC_DC_UP:
		return "up";
	case DCLOC_DC_DOWN:
		return "down";
	case DCLOC_DC_GONE:
		return "gone";
	}
	return "?";
}

int main(int argc, char **argv)
{
	static const char *const tls_names[] = {"none", "starttls", "ldaps"};
	static const char *const bind_names[] = {"none", "simple", "plain",
	                                         "gssapi", "external"};
	struct dcloc_options lo = {0};
	struct ldpool_options po = {0};
	struct dns_options dopts = {.timeout_ms = 1000, .tries = 2};
	const char *dns_server = NULL, *error;
	char *statics = NULL, *servers[16];
	size_t n_servers = 0;
	struct dns *dns;
	int opt, ret;

	po.conn.timeout_ms = 3000;
	search.scope = LDAP_SCOPE_SUBTREE;
	while ((opt = getopt(argc, argv,
	                     "d:s:S:x:gT:C:M:D:w:Pt:c:n:i:e:b:f:")) != -1) {
		switch (opt) {
		case 'd':
			lo.domain = optarg;
			break;
		case 's':
			dns_server = optarg;
			break;
		case 'S':
			statics = optarg;
			break;
		case 'x':
			lo.site = optarg;
			break;
		case 'g':
			lo.gc = true;
			break;
		case 'T':
			po.conn.tls = lo.tls = parse_enum(optarg, tls_names, 3);
			break;
		case 'C':
			po.conn.ca_file = optarg;
			break;
		case 'M':
			po.conn.bind = parse_enum(optarg, bind_names, 5);
			break;
		case 'D':
			po.conn.bind_dn = optarg;
			break;
		case 'w':
			po.conn.password = optarg;
			break;
		case 'P':
			po.conn.allow_plaintext = true;
			break;
		case 't':
			po.conn.timeout_ms = atoi(optarg);
			break;
		case 'c':
			po.conns_per_dc = (unsigned)atoi(optarg);
			break;
		case 'n':
			count = atoi(optarg);
			break;
		case 'i':
			interval_ms = atoi(optarg);
			break;
		case 'e':
			lo.seed = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			search.base = optarg;
			break;
		case 'f':
			search.filter = optarg;
			break;
		default:
			return 2;
		}
	}
	if (search.base == NULL || search.filter == NULL ||
	    (lo.domain == NULL && statics == NULL)) {
		fprintf(stderr,
		        "usage: see the comment at the top of dcloc_drive.c\n");
		return 2;
	}
	if (statics != NULL) {
		for (char *tok = strtok(statics, ",");
		     tok != NULL && n_servers < 16; tok = strtok(NULL, ","))
			servers[n_servers++] = tok;
		lo.servers = (const char *const *)servers;
		lo.n_servers = n_servers;
	}
	lo.down_min_ms = 1000;
	lo.down_max_ms = 4000;
	base = evloop_new();
	if (dns_server != NULL) {
		dopts.servers = &dns_server;
		dopts.n_servers = 1;
	}
	dns = dns_init(base, &dopts, &error);
	if (dns == NULL) {
		fprintf(stderr, "dns: %s\n", error);
		return 2;
	}
	t0 = evloop_now_ms();
	loc = dcloc_new(base, dns, &lo, on_changed, NULL);
	pool = ldpool_new(base, loc, &po);
	send_timer = evloop_timer_new(base, send_next, NULL);
	dcloc_start(loc);
	event_base_dispatch(base);
	for (size_t i = 0; i < dcloc_count(loc); i++) {
		const struct dcloc_dc *dc = dcloc_get(loc, i);
		struct ldpool_dc_stats st;

		ldpool_dc_stats(pool, dc, &st);
		printf("dc %zu %s prio=%u weight=%u state=%s searches=%llu "
		       "failovers=%llu error=\"%s\"\n",
		       i, dc->uri, dc->priority, dc->weight,
		       state_name(dc->state), (unsigned long long)st.searches,
		       (unsigned long long)st.failovers,
		       dc->last_error != NULL ? dc->last_error : "");
	}
	if (dcloc_last_error(loc) != NULL)
		printf("locator error: %s\n", dcloc_last_error(loc));
	evloop_timer_free(&send_timer);
	ldpool_deinit(&pool);
	dcloc_deinit(&loc);
	dns_deinit(&dns);
	evloop_free(&base);
	ret = failures > 0 || answered < count ? 1 : 0;
	/* The standby's bind may still run: libldap's destructors must not
	 * meet it on the way out. */
	if (ldconn_setups_wait() > 0) {
		fflush(NULL);
		_exit(ret);
	}
	return ret;
}
