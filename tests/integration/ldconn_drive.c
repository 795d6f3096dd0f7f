/*
 * ldconn_drive - drive authd's LDAP connection module against a real server.
 *
 * Usage: ldconn_drive -H URI [-T none|starttls|ldaps] [-C CAFILE]
 *        [-M none|simple|plain|gssapi|external] [-D DN] [-w PASSWORD]
 *        [-c CERT -k KEY] [-P] [-t TIMEOUT_MS] [-n COUNT]
 *        -b BASE -f FILTER [ATTR...]
 *
 * Connects with ldconn (setup thread, TLS, bind), then sends COUNT copies
 * of the search at once on the one connection and prints, for each, its
 * status and the entries with the requested attributes. -P allows a
 * password bind without TLS. Once up it prints "connected: URI" and the
 * protection the bind got ("protection: starttls", "protection:
 * sasl-seal", ...: ldprot.h).
 * Exit status: 0 every search succeeded, 1 a search failed, 2 the
 * connection could not be set up (the reason is printed on stderr).
 */
#include <event2/event.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ldconn.h"

static struct event_base *base;
static int outstanding, failures, setup_failed;
static struct ldconn_search search;
static int count = 1;

static void on_result(const struct ldconn_result *res, void *ctx)
{
	int idx = (int)(long)ctx;

	printf("search %d: %s entries=%zu", idx, ldconn_status_str(res->status),
	       res->n_entries);
	if (res->error != NULL)
		printf(" error=\"%s\"", res->error);
	printf("\n");
	if (res->status != LDCONN_OK)
		failures++;
	for (size_t i = 0; idx == 0 && i < res->n_entries; i++) {
		const struct ldconn_entry *e = &res->entries[i];

		printf("dn: %s\n", e->dn);
		for (size_t j = 0; j < e->n_attrs; j++)
			for (size_t k = 0; k < e->attrs[j].n_values; k++)
				printf("%s: %s\n", e->attrs[j].name,
				       e->attrs[j].values[k].data);
	}
	if (--outstanding == 0)
		event_base_loopbreak(base);
}

static void on_state(struct ldconn *c, enum ldconn_state state,
                     const char *reason, void *ctx)
{
	const char *error;

	if (state == LDCONN_STATE_DOWN) {
		if (outstanding == 0) {
			fprintf(stderr, "setup failed: %s\n",
			        reason != NULL ? reason : "?");
			setup_failed = 1;
		} else {
			fprintf(stderr, "connection lost: %s\n",
			        reason != NULL ? reason : "?");
		}
		event_base_loopbreak(base);
		return;
	}
	if (state != LDCONN_STATE_UP)
		return;
	printf("connected: %s\nprotection: %s\n", ldconn_uri(c),
	       ldconn_protection(c));
	for (int i = 0; i < count; i++) {
		if (ldconn_search_start(c, &search, on_result, (void *)(long)i,
		                        &error) == NULL) {
			fprintf(stderr, "search %d not sent: %s\n", i, error);
			failures++;
			continue;
		}
		outstanding++;
	}
	if (outstanding == 0)
		event_base_loopbreak(base);
}

static int parse_enum(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	fprintf(stderr, "unknown value '%s'\n", s);
	exit(2);
}

int main(int argc, char **argv)
{
	static const char *const tls_names[] = {"none", "starttls", "ldaps"};
	static const char *const bind_names[] = {"none", "simple", "plain",
	                                         "gssapi", "external"};
	struct ldconn_options o = {.timeout_ms = 5000};
	struct ldconn *c;
	int opt, ret;

	search.scope = LDAP_SCOPE_SUBTREE;
	while ((opt = getopt(argc, argv, "H:T:C:M:D:w:c:k:Pt:n:b:f:s:")) !=
	       -1) {
		switch (opt) {
		case 'H':
			o.uri = optarg;
			break;
		case 'T':
			o.tls = parse_enum(optarg, tls_names, 3);
			break;
		case 'C':
			o.ca_file = optarg;
			break;
		case 'M':
			o.bind = parse_enum(optarg, bind_names, 5);
			break;
		case 'D':
			o.bind_dn = optarg;
			break;
		case 'w':
			o.password = optarg;
			break;
		case 'c':
			o.cert_file = optarg;
			break;
		case 'k':
			o.key_file = optarg;
			break;
		case 'P':
			o.allow_plaintext = true;
			break;
		case 't':
			o.timeout_ms = atoi(optarg);
			break;
		case 'n':
			count = atoi(optarg);
			break;
		case 'b':
			search.base = optarg;
			break;
		case 'f':
			search.filter = optarg;
			break;
		case 's':
			search.scope = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (o.uri == NULL || search.base == NULL || search.filter == NULL) {
		fprintf(stderr,
		        "usage: ldconn_drive -H URI -b BASE -f FILTER\n");
		return 2;
	}
	if (optind < argc) {
		argv[argc] = NULL;
		search.attrs = (const char *const *)(argv + optind);
	}
	base = event_base_new();
	c = ldconn_new(base, &o, on_state, NULL);
	ldconn_connect(c);
	event_base_dispatch(base);
	ldconn_deinit(&c);
	event_base_free(base);
	ret = setup_failed ? 2 : failures > 0 || outstanding > 0 ? 1 : 0;
	/* Leave only when no setup thread is inside libldap: its
	 * destructors would crash it. */
	if (ldconn_setups_wait() > 0) {
		fflush(NULL);
		_exit(ret);
	}
	return ret;
}
