/*
 * test-policy - the relay decision (routerd/policy.c): the relay-trick
 * battery for anonymous, authenticated and relay-network clients, local
 * domain matching, and CIDR matching (/0, /32, /128, v4-mapped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "addr.h"
#include "policy.h"

#define L POLICY_ACCEPT_LOCAL
#define R POLICY_ACCEPT_RELAY
#define X POLICY_REJECT
#define PARSE_ERROR 99

#define PM ADDR_ALLOW_POSTMASTER
#define NUL_OK ADDR_ALLOW_NULL
#define UTF8 ADDR_ALLOW_UTF8
#define NOBR ADDR_ALLOW_NO_BRACKETS

struct rcpt_case {
	const char *path;
	unsigned int allow;
	int anon, authed, relay; /* expected per kind of client */
	const char *enhanced;    /* for the rejections */
};

static const char *const domains[] = {"example.com", "Example.ORG",
                                      "mail.example.net", "exämple.de"};
static const char *const networks[] = {"192.0.2.0/24", "10.0.0.1",
                                       "2001:db8::/32", "::1/128"};

static const struct rcpt_case rcpt_cases[] = {
    /* Local domains: exact, case-insensitive, no subdomains. */
    {"<user@example.com>", 0, L, L, L, NULL},
    {"<USER@EXAMPLE.COM>", 0, L, L, L, NULL},
    {"<user@Example.Com>", 0, L, L, L, NULL},
    {"<user@example.org>", 0, L, L, L, NULL},
    {"<user@mail.example.net>", 0, L, L, L, NULL},
    {"<user+tag@example.com>", 0, L, L, L, NULL},
    {"<\"user\"@example.com>", 0, L, L, L, NULL},
    {"<\"john smith\"@example.com>", 0, L, L, L, NULL},
    {"<postmaster@example.com>", 0, L, L, L, NULL},
    {"<Postmaster>", PM, L, L, L, NULL},
    {"user@example.com", NOBR, L, L, L, NULL},
    {"<üser@example.com>", UTF8, L, L, L, NULL},
    {"<user@exämple.de>", UTF8, L, L, L, NULL},
    /* Not ours: relaying needs AUTH or a relay network. */
    {"<user@other.test>", 0, X, R, R, "5.7.1"},
    {"<user@sub.example.com>", 0, X, R, R, "5.7.1"},
    {"<user@example.com.evil.test>", 0, X, R, R, "5.7.1"},
    {"<user@xexample.com>", 0, X, R, R, "5.7.1"},
    {"<user@example.co>", 0, X, R, R, "5.7.1"},
    {"<user@localhost>", 0, X, R, R, "5.7.1"},
    {"<postmaster@other.test>", 0, X, R, R, "5.7.1"},
    {"<\"john smith\"@other.test>", 0, X, R, R, "5.7.1"},
    {"<user@exämple.com>", UTF8, X, R, R, "5.7.1"},
    {"<user@EXÄMPLE.de>", UTF8, X, R, R, "5.7.1"},
    /* % hack: never relays, never local, whoever asks. */
    {"<user%other.test@example.com>", 0, X, X, X, "5.1.3"},
    {"<user%example.com@example.com>", 0, X, X, X, "5.1.3"},
    {"<user%other.test@other2.test>", 0, X, X, X, "5.1.3"},
    {"<user%@example.com>", 0, X, X, X, "5.1.3"},
    {"<\"user%other\"@example.com>", 0, X, X, X, "5.1.3"},
    /* Bang paths. */
    {"<other.test!user@example.com>", 0, X, X, X, "5.1.3"},
    {"<other!user@other.test>", 0, X, X, X, "5.1.3"},
    {"<\"other!user\"@example.com>", 0, X, X, X, "5.1.3"},
    /* '@' inside a quoted local part. */
    {"<\"user@other.test\"@example.com>", 0, X, X, X, "5.1.3"},
    {"<\"@\"@example.com>", 0, X, X, X, "5.1.3"},
    {"<\"user@example.com\"@example.com>", 0, X, X, X, "5.1.3"},
    /* Source routes. */
    {"<@example.com:user@other.test>", 0, X, X, X, "5.1.3"},
    {"<@other.test:user@example.com>", 0, X, X, X, "5.1.3"},
    {"<@a.test,@b.test:user@example.com>", 0, X, X, X, "5.1.3"},
    /* Domain literals. */
    {"<user@[192.0.2.1]>", 0, X, X, X, "5.7.1"},
    {"<user@[127.0.0.1]>", 0, X, X, X, "5.7.1"},
    {"<user@[IPv6:2001:db8::1]>", 0, X, X, X, "5.7.1"},
    {"<postmaster@[192.0.2.1]>", 0, X, X, X, "5.7.1"},
    /* The null path is no recipient. */
    {"<>", NUL_OK, X, X, X, "5.1.3"},
    /* Refused by the parser before the policy sees them. */
    {"<user@other.test@example.com>", 0, PARSE_ERROR, 0, 0, NULL},
    {"<user@example.com.>", 0, PARSE_ERROR, 0, 0, NULL},
    {"<user@.example.com>", 0, PARSE_ERROR, 0, 0, NULL},
    {"<user@example..com>", 0, PARSE_ERROR, 0, 0, NULL},
    {"<user@example.com\r>", 0, PARSE_ERROR, 0, 0, NULL},
};

static struct policy *make_policy(void)
{
	const char *error = NULL;
	struct policy *p = policy_new(domains, 4, networks, 4, &error);

	assert_non_null(p);
	return p;
}

static void check_one(const struct policy *p, const struct rcpt_case *tc,
                      const struct addr *a, bool authed, bool relay, int expect)
{
	const char *reason = NULL, *enhanced = NULL;
	enum policy_rcpt got =
	    policy_check_rcpt(p, a, authed, relay, &reason, &enhanced);

	if ((int)got != expect) {
		print_error("%s authed=%d relay=%d: got %d, expected %d\n",
		            tc->path, authed, relay, got, expect);
		fail();
	}
	if (expect != X)
		return;
	assert_non_null(reason);
	assert_non_null(enhanced);
	if (strcmp(enhanced, tc->enhanced) != 0) {
		print_error("%s: enhanced %s, expected %s (%s)\n", tc->path,
		            enhanced, tc->enhanced, reason);
		fail();
	}
	assert_int_equal(policy_reply_code(enhanced),
	                 strncmp(enhanced, "5.1.", 4) == 0 ? 553 : 550);
}

static void test_rcpt_table(void **state)
{
	struct policy *p = make_policy();
	size_t n = sizeof(rcpt_cases) / sizeof(rcpt_cases[0]);

	assert_true(n >= 40);
	for (size_t i = 0; i < n; i++) {
		const struct rcpt_case *tc = &rcpt_cases[i];
		struct addr *a = NULL;
		const char *error = NULL;
		int r = addr_parse_path(tc->path, strlen(tc->path), tc->allow,
		                        &a, &error);

		if (tc->anon == PARSE_ERROR) {
			if (r == 0) {
				print_error("%s: parsed, expected an error\n",
				            tc->path);
				fail();
			}
			continue;
		}
		if (r != 0) {
			print_error("%s: parse error %s\n", tc->path, error);
			fail();
		}
		check_one(p, tc, a, false, false, tc->anon);
		check_one(p, tc, a, true, false, tc->authed);
		check_one(p, tc, a, false, true, tc->relay);
		check_one(p, tc, a, true, true, tc->authed);
		addr_deinit(&a);
	}
	policy_deinit(&p);
	assert_null(p);
}

static void test_relay_denied_text(void **state)
{
	struct policy *p = make_policy();
	struct addr *a = NULL;
	const char *error, *reason = NULL, *enhanced = NULL;

	assert_int_equal(addr_parse_path("<x@other.test>", 14, 0, &a, &error),
	                 0);
	assert_int_equal(
	    policy_check_rcpt(p, a, false, false, &reason, &enhanced),
	    POLICY_REJECT);
	assert_string_equal(reason, "Relaying denied");
	assert_string_equal(enhanced, "5.7.1");
	assert_int_equal(policy_reply_code(enhanced), 550);
	addr_deinit(&a);
	policy_deinit(&p);
}

static void test_no_domains(void **state)
{
	const char *error = NULL;
	struct policy *p = policy_new(NULL, 0, NULL, 0, &error);
	struct addr *a = NULL;
	const char *reason, *enhanced;

	assert_non_null(p);
	assert_int_equal(addr_parse_path("<x@example.com>", 15, 0, &a, &error),
	                 0);
	assert_int_equal(
	    policy_check_rcpt(p, a, false, false, &reason, &enhanced),
	    POLICY_REJECT);
	assert_int_equal(
	    policy_check_rcpt(p, a, true, false, &reason, &enhanced),
	    POLICY_ACCEPT_RELAY);
	addr_deinit(&a);
	policy_deinit(&p);
	policy_deinit(&p); /* NULL is fine */
}

static void test_bad_config(void **state)
{
	static const char *const bad_nets[] = {
	    "192.0.2.1/24",   "10.0.0.0/33", "2001:db8::/129",
	    "garbage",        "10.0.0.0/",   "/8",
	    "10.0.0.0/08",    "10.0.0.0/8x", "10.0.0.0/-1",
	    "2001:db8::1/64", "10.0.0.256",  "",
	    "1.2.3.4/32/1",   "::/+0"};
	static const char *const bad_domains[] = {"example.com.", "",
	                                          ".example.com"};
	const char *good = "example.com";

	for (size_t i = 0; i < sizeof(bad_nets) / sizeof(bad_nets[0]); i++) {
		const char *error = NULL;
		struct policy *p =
		    policy_new(&good, 1, &bad_nets[i], 1, &error);

		if (p != NULL) {
			print_error("network %s accepted\n", bad_nets[i]);
			fail();
		}
		assert_non_null(error);
	}
	for (size_t i = 0; i < sizeof(bad_domains) / sizeof(bad_domains[0]);
	     i++) {
		const char *error = NULL;

		assert_null(policy_new(&bad_domains[i], 1, NULL, 0, &error));
		assert_non_null(error);
	}
}

struct net_case {
	const char *net;
	const char *client;
	bool match;
};

static const struct net_case net_cases[] = {
    {"0.0.0.0/0", "1.2.3.4", true},
    {"0.0.0.0/0", "255.255.255.255", true},
    {"0.0.0.0/0", "::ffff:8.8.8.8", true},
    {"0.0.0.0/0", "2001:db8::1", false},
    {"0.0.0.0/0", "::1", false},
    {"::/0", "2001:db8::1", true},
    {"::/0", "1.2.3.4", true},
    {"192.0.2.7/32", "192.0.2.7", true},
    {"192.0.2.7/32", "192.0.2.6", false},
    {"192.0.2.7/32", "192.0.2.8", false},
    {"192.0.2.7/32", "::ffff:192.0.2.7", true},
    {"192.0.2.7/32", "::ffff:192.0.2.8", false},
    {"192.0.2.7/32", "::192.0.2.7", false}, /* v4-compatible is not v4 */
    {"192.0.2.7", "192.0.2.7", true},
    {"192.0.2.7", "192.0.2.70", false},
    {"2001:db8::7/128", "2001:db8::7", true},
    {"2001:db8::7/128", "2001:db8::6", false},
    {"2001:db8::7", "2001:db8::7", true},
    {"::1/128", "::1", true},
    {"::1/128", "127.0.0.1", false},
    {"127.0.0.0/8", "127.255.255.255", true},
    {"127.0.0.0/8", "128.0.0.0", false},
    {"198.51.100.128/25", "198.51.100.128", true},
    {"198.51.100.128/25", "198.51.100.255", true},
    {"198.51.100.128/25", "198.51.100.127", false},
    {"2001:db8:8000::/33", "2001:db8:8000::1", true},
    {"2001:db8:8000::/33", "2001:db8:ffff:ffff::", true},
    {"2001:db8:8000::/33", "2001:db8:7fff:ffff::", false},
    {"::ffff:10.0.0.0/104", "10.1.2.3", true},
    {"::ffff:10.0.0.0/104", "11.1.2.3", false},
    {"10.0.0.0/8", "::ffff:10.9.9.9", true},
    {"10.0.0.0/8", "fe80::a00:1", false},
};

static socklen_t make_sa(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(s, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &s6->sin6_addr), 1);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &s4->sin_addr), 1);
		return sizeof(*s4);
	}
}

static void test_networks(void **state)
{
	for (size_t i = 0; i < sizeof(net_cases) / sizeof(net_cases[0]); i++) {
		const struct net_case *tc = &net_cases[i];
		struct sockaddr_storage ss;
		const char *error = NULL;
		struct policy *p = policy_new(NULL, 0, &tc->net, 1, &error);

		if (p == NULL) {
			print_error("%s refused: %s\n", tc->net, error);
			fail();
		}
		make_sa(tc->client, &ss);
		if (policy_client_in_relay_networks(
		        p, (struct sockaddr *)&ss) != tc->match) {
			print_error("%s in %s: expected %d\n", tc->client,
			            tc->net, tc->match);
			fail();
		}
		policy_deinit(&p);
	}
}

static void test_networks_list(void **state)
{
	struct policy *p = make_policy();
	struct policy *empty;
	struct sockaddr_storage ss;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *error;

	make_sa("192.0.2.99", &ss);
	assert_true(policy_client_in_relay_networks(p, (void *)&ss));
	make_sa("10.0.0.1", &ss);
	assert_true(policy_client_in_relay_networks(p, (void *)&ss));
	make_sa("10.0.0.2", &ss);
	assert_false(policy_client_in_relay_networks(p, (void *)&ss));
	make_sa("2001:db8:1::5", &ss);
	assert_true(policy_client_in_relay_networks(p, (void *)&ss));
	make_sa("2001:db9::5", &ss);
	assert_false(policy_client_in_relay_networks(p, (void *)&ss));
	make_sa("::1", &ss);
	assert_true(policy_client_in_relay_networks(p, (void *)&ss));
	make_sa("::2", &ss);
	assert_false(policy_client_in_relay_networks(p, (void *)&ss));
	assert_false(policy_client_in_relay_networks(p, (void *)&sun));
	assert_false(policy_client_in_relay_networks(p, NULL));
	empty = policy_new(NULL, 0, NULL, 0, &error);
	make_sa("192.0.2.99", &ss);
	assert_false(policy_client_in_relay_networks(empty, (void *)&ss));
	policy_deinit(&empty);
	policy_deinit(&p);
}

static void test_local_domain(void **state)
{
	struct policy *p = make_policy();

	assert_true(policy_is_local_domain(p, "example.com"));
	assert_true(policy_is_local_domain(p, "EXAMPLE.org"));
	assert_false(policy_is_local_domain(p, "example.com."));
	assert_false(policy_is_local_domain(p, "example"));
	assert_false(policy_is_local_domain(p, ""));
	assert_false(policy_is_local_domain(p, "example.comx"));
	assert_true(policy_is_local_domain(p, "exämple.de"));
	assert_false(policy_is_local_domain(p, "exÄmple.de"));
	policy_deinit(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rcpt_table),
	    cmocka_unit_test(test_relay_denied_text),
	    cmocka_unit_test(test_no_domains),
	    cmocka_unit_test(test_bad_config),
	    cmocka_unit_test(test_networks),
	    cmocka_unit_test(test_networks_list),
	    cmocka_unit_test(test_local_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
