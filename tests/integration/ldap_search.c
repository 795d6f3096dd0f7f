/*
 * ldap_search - one LDAP search through libldap's asynchronous API, for the
 * integration tests (tests/integration/test_ldap_lab.py).
 *
 * usage: ldap_search [-H uri] [-Z] [-C cafile] [-c certfile -k keyfile]
 *                    [-D binddn -w password | -Y EXTERNAL]
 *                    [-b base] [-s base|one|sub] [-t seconds] [-z sizelimit]
 *                    filter [attribute...]
 *
 * Prints, for every entry, "dn: DN" and then "attr: value" for every value
 * of the requested attributes, one per line; a blank line ends each entry.
 * The filter is used as given: escaping is the caller's business.
 *
 * -Z asks for StartTLS (required to succeed); ldaps:// URIs use TLS from the
 * start. TLS always verifies the server against -C (or, without -C, the
 * system's trust store). -t bounds the connect, the TLS handshake, the bind
 * and the whole search: a server that stops answering gives exit 2, never a
 * hang.
 *
 * Exit: 0 entries found, 1 no entry, 2 error (message on stderr, with the
 * step that failed and ldap_err2string()).
 */

#include <ldap.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define EXIT_FOUND 0
#define EXIT_NONE 1
#define EXIT_ERROR 2

struct search_args {
	const char *uri;
	const char *cafile;
	const char *certfile;
	const char *keyfile;
	const char *binddn;
	const char *password;
	const char *mech;
	const char *base;
	const char *filter;
	char **attrs;
	int scope;
	int starttls;
	int timeout;
	int sizelimit;
};

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: ldap_search [-H uri] [-Z] [-C cafile] [-c cert -k key]\n"
	    "                   [-D binddn -w password | -Y EXTERNAL]\n"
	    "                   [-b base] [-s base|one|sub] [-t seconds]\n"
	    "                   [-z sizelimit] filter [attribute...]\n");
	exit(EXIT_ERROR);
}

static void fail(LDAP *ld, const char *step, int rc)
{
	char *diag = NULL;

	fprintf(stderr, "ldap_search: %s: %s (%d)", step, ldap_err2string(rc),
	        rc);
	if (ld != NULL &&
	    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) ==
	        LDAP_OPT_SUCCESS &&
	    diag != NULL && *diag != '\0')
		fprintf(stderr, ": %s", diag);
	fputc('\n', stderr);
	ldap_memfree(diag);
}

static int parse_int(const char *s, int min, int max, int *out_r)
{
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < min || v > max)
		return -1;
	*out_r = (int)v;
	return 0;
}

static void parse_args(int argc, char **argv, struct search_args *a)
{
	int c;

	memset(a, 0, sizeof(*a));
	a->uri = "ldap://127.0.0.1/";
	a->base = "";
	a->scope = LDAP_SCOPE_SUBTREE;
	a->timeout = 10;
	while ((c = getopt(argc, argv, "H:ZC:c:k:D:w:Y:b:s:t:z:")) != -1) {
		switch (c) {
		case 'H':
			a->uri = optarg;
			break;
		case 'Z':
			a->starttls = 1;
			break;
		case 'C':
			a->cafile = optarg;
			break;
		case 'c':
			a->certfile = optarg;
			break;
		case 'k':
			a->keyfile = optarg;
			break;
		case 'D':
			a->binddn = optarg;
			break;
		case 'w':
			a->password = optarg;
			break;
		case 'Y':
			a->mech = optarg;
			break;
		case 'b':
			a->base = optarg;
			break;
		case 's':
			if (strcmp(optarg, "base") == 0)
				a->scope = LDAP_SCOPE_BASE;
			else if (strcmp(optarg, "one") == 0)
				a->scope = LDAP_SCOPE_ONELEVEL;
			else if (strcmp(optarg, "sub") == 0)
				a->scope = LDAP_SCOPE_SUBTREE;
			else
				usage();
			break;
		case 't':
			if (parse_int(optarg, 1, 3600, &a->timeout) < 0)
				usage();
			break;
		case 'z':
			if (parse_int(optarg, 0, 1000000, &a->sizelimit) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (a->binddn != NULL && a->password == NULL)
		usage();
	if (a->mech != NULL && strcmp(a->mech, "EXTERNAL") != 0)
		usage();
	a->filter = argv[optind];
	if (optind + 1 < argc)
		a->attrs = &argv[optind + 1];
}

static int set_tls_options(LDAP *ld, const struct search_args *a)
{
	int demand = LDAP_OPT_X_TLS_DEMAND;
	int is_server = 0;
	int rc;

	rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (rc == LDAP_OPT_SUCCESS && a->cafile != NULL)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, a->cafile);
	if (rc == LDAP_OPT_SUCCESS && a->certfile != NULL)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, a->certfile);
	if (rc == LDAP_OPT_SUCCESS && a->keyfile != NULL)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, a->keyfile);
	/* The options above only take effect in a new TLS context. */
	if (rc == LDAP_OPT_SUCCESS)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
	return rc;
}

/* libldap's GnuTLS layer reports a refused certificate as "Connect error"
 * without saying why: say what to check. */
static void tls_hint(const struct search_args *a)
{
	fprintf(
	    stderr,
	    "ldap_search: TLS handshake failed: is the server's certificate "
	    "signed by %s and issued for the host in %s?\n",
	    a->cafile != NULL ? a->cafile : "a CA in the system trust store",
	    a->uri);
}

/* EXTERNAL asks at most for an authorization identity: none (use the
 * certificate's). */
static int sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	sasl_interact_t *it;

	(void)ld;
	(void)flags;
	(void)defaults;
	for (it = in; it->id != SASL_CB_LIST_END; it++) {
		it->result = "";
		it->len = 0;
	}
	return LDAP_SUCCESS;
}

static int connect_and_bind(LDAP *ld, const struct search_args *a)
{
	int version = LDAP_VERSION3;
	struct timeval tv = {a->timeout, 0};
	struct berval cred = {0, NULL};
	int tls_uri = strncmp(a->uri, "ldaps:", 6) == 0;
	int rc;

	if ((rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)) !=
	        LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) !=
	        LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)) !=
	        LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv)) !=
	        LDAP_OPT_SUCCESS) {
		fail(ld, "set option", rc);
		return -1;
	}
	if ((rc = set_tls_options(ld, a)) != LDAP_OPT_SUCCESS) {
		fail(ld, "TLS options", rc);
		return -1;
	}
	/* Connect now (and, for ldaps://, do the TLS handshake) so that each
	 * failure names its step. */
	if ((rc = ldap_connect(ld)) != LDAP_SUCCESS) {
		fail(ld, tls_uri ? "connect (TLS)" : "connect", rc);
		if (tls_uri)
			tls_hint(a);
		return -1;
	}
	if (a->starttls &&
	    (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		fail(ld, "StartTLS", rc);
		tls_hint(a);
		return -1;
	}
	if (a->mech != NULL) {
		rc = ldap_sasl_interactive_bind_s(ld, NULL, a->mech, NULL, NULL,
		                                  LDAP_SASL_QUIET,
		                                  sasl_interact, NULL);
		if (rc != LDAP_SUCCESS) {
			fail(ld, "SASL EXTERNAL bind", rc);
			return -1;
		}
	} else if (a->binddn != NULL) {
		cred.bv_val = (char *)a->password;
		cred.bv_len = strlen(a->password);
		rc = ldap_sasl_bind_s(ld, a->binddn, LDAP_SASL_SIMPLE, &cred,
		                      NULL, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			fail(ld, "bind", rc);
			return -1;
		}
	}
	return 0;
}

static void print_entry(LDAP *ld, LDAPMessage *msg)
{
	BerElement *ber = NULL;
	struct berval **vals;
	char *dn, *attr;
	int i;

	dn = ldap_get_dn(ld, msg);
	printf("dn: %s\n", dn != NULL ? dn : "");
	ldap_memfree(dn);
	for (attr = ldap_first_attribute(ld, msg, &ber); attr != NULL;
	     attr = ldap_next_attribute(ld, msg, ber)) {
		vals = ldap_get_values_len(ld, msg, attr);
		for (i = 0; vals != NULL && vals[i] != NULL; i++)
			printf("%s: %.*s\n", attr, (int)vals[i]->bv_len,
			       vals[i]->bv_val);
		ldap_value_free_len(vals);
		ldap_memfree(attr);
	}
	ber_free(ber, 0);
	printf("\n");
}

static double now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Returns the number of entries, or -1 after printing the error. */
static int run_search(LDAP *ld, const struct search_args *a)
{
	struct timeval tv = {a->timeout, 0};
	LDAPMessage *res = NULL, *msg;
	double deadline = now() + a->timeout;
	double left;
	int msgid, rc, err = LDAP_OTHER, entries = 0, done = 0;
	char *matched = NULL, *text = NULL;

	rc = ldap_search_ext(ld, a->base, a->scope, a->filter, a->attrs, 0,
	                     NULL, NULL, &tv, a->sizelimit, &msgid);
	if (rc != LDAP_SUCCESS) {
		fail(ld, "search", rc);
		return -1;
	}
	while (!done) {
		left = deadline - now();
		if (left <= 0) {
			fprintf(stderr,
			        "ldap_search: search: no answer within "
			        "%d s\n",
			        a->timeout);
			ldap_abandon_ext(ld, msgid, NULL, NULL);
			return -1;
		}
		tv.tv_sec = (time_t)left;
		tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
		rc = ldap_result(ld, msgid, LDAP_MSG_ONE, &tv, &res);
		if (rc == 0)
			continue; /* timed out: the check above ends it */
		if (rc < 0) {
			ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
			fail(ld, "search result", err);
			return -1;
		}
		for (msg = ldap_first_message(ld, res); msg != NULL;
		     msg = ldap_next_message(ld, msg)) {
			switch (ldap_msgtype(msg)) {
			case LDAP_RES_SEARCH_ENTRY:
				print_entry(ld, msg);
				entries++;
				break;
			case LDAP_RES_SEARCH_REFERENCE:
				break;
			case LDAP_RES_SEARCH_RESULT:
				done = 1;
				rc = ldap_parse_result(ld, msg, &err, &matched,
				                       &text, NULL, NULL, 0);
				if (rc != LDAP_SUCCESS)
					err = rc;
				break;
			}
		}
		ldap_msgfree(res);
		res = NULL;
	}
	if (err != LDAP_SUCCESS) {
		fprintf(stderr, "ldap_search: search: %s (%d)%s%s\n",
		        ldap_err2string(err), err, text && *text ? ": " : "",
		        text && *text ? text : "");
		entries = -1;
	}
	ldap_memfree(matched);
	ldap_memfree(text);
	return entries;
}

int main(int argc, char **argv)
{
	struct search_args a;
	LDAP *ld = NULL;
	int rc, n, status = EXIT_ERROR;

	parse_args(argc, argv, &a);
	rc = ldap_initialize(&ld, a.uri);
	if (rc != LDAP_SUCCESS) {
		fail(NULL, "initialize", rc);
		return EXIT_ERROR;
	}
	if (connect_and_bind(ld, &a) < 0)
		goto done;
	n = run_search(ld, &a);
	if (n < 0)
		goto done;
	status = n > 0 ? EXIT_FOUND : EXIT_NONE;
done:
	fflush(stdout);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return status;
}
