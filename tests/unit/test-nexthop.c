/*
 * test-nexthop - next-hop parsing, the decision order, MX ordering with
 * scripted and seeded random sources, and the MX-to-self checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexthop.h"
#include "settings.h"

#define L true
#define N false

struct parse_case {
	const char *in;
	bool ok;
	const char *host;
	unsigned port;
	bool literal, is_ip, mx;
};

static const struct parse_case parse_cases[] = {
    {"mbx1.example.com", true, "mbx1.example.com", 25, N, N, L},
    {"MBX1.Example.COM", true, "mbx1.example.com", 25, N, N, L},
    {"mbx1.example.com.", true, "mbx1.example.com", 25, N, N, L},
    {"host:587", true, "host", 587, N, N, L},
    {"host:1", true, "host", 1, N, N, L},
    {"host:65535", true, "host", 65535, N, N, L},
    {"[mx.example.net]:25", true, "mx.example.net", 25, L, N, N},
    {"[mx.example.net]", true, "mx.example.net", 25, L, N, N},
    {"[mx.example.net.]:2525", true, "mx.example.net", 2525, L, N, N},
    {"[10.0.0.5]:2525", true, "10.0.0.5", 2525, L, L, N},
    {"[1.2.3.4]:25", true, "1.2.3.4", 25, L, L, N},
    {"[1.2.3.4]", true, "1.2.3.4", 25, L, L, N},
    {"1.2.3.4", true, "1.2.3.4", 25, N, L, N},
    {"1.2.3.4:26", true, "1.2.3.4", 26, N, L, N},
    {"[IPv6:2001:db8::1]:25", true, "2001:db8::1", 25, L, L, N},
    {"[ipv6:2001:db8::1]", true, "2001:db8::1", 25, L, L, N},
    {"[2001:db8::1]", true, "2001:db8::1", 25, L, L, N},
    {"[2001:db8::1]:587", true, "2001:db8::1", 587, L, L, N},
    {"[::1]:2525", true, "::1", 2525, L, L, N},
    {"2001:db8::1", true, "2001:db8::1", 25, N, L, N},
    {"[::ffff:1.2.3.4]", true, "::ffff:1.2.3.4", 25, L, L, N},
    {"smtp:host.example", true, "host.example", 25, N, N, L},
    {"SMTP:[host.example]:26", true, "host.example", 26, L, N, N},
    {"smtp:[10.1.1.1]", true, "10.1.1.1", 25, L, L, N},
    {"a", true, "a", 25, N, N, L},
    {"x-1.y2.z", true, "x-1.y2.z", 25, N, N, L},
    {"123.example", true, "123.example", 25, N, N, L},
    {"host:0025", true, "host", 25, N, N, L},
    {"smtp:25", true, "smtp", 25, N, N, L},
    {"smtp:host:2525", true, "host", 2525, N, N, L},
    /* hostile and malformed */
    {"", false, NULL, 0, N, N, N},
    {"smtp:", false, NULL, 0, N, N, N},
    {"[]", false, NULL, 0, N, N, N},
    {"[]:25", false, NULL, 0, N, N, N},
    {"[host", false, NULL, 0, N, N, N},
    {"host]", false, NULL, 0, N, N, N},
    {"[host]]", false, NULL, 0, N, N, N},
    {"[[host]]", false, NULL, 0, N, N, N},
    {"[host]x", false, NULL, 0, N, N, N},
    {"[host]:", false, NULL, 0, N, N, N},
    {"host:", false, NULL, 0, N, N, N},
    {"host:0", false, NULL, 0, N, N, N},
    {"host:65536", false, NULL, 0, N, N, N},
    {"host:99999999999999999999999", false, NULL, 0, N, N, N},
    {"host:-1", false, NULL, 0, N, N, N},
    {"host:+25", false, NULL, 0, N, N, N},
    {"host:25x", false, NULL, 0, N, N, N},
    {"host: 25", false, NULL, 0, N, N, N},
    {" host", false, NULL, 0, N, N, N},
    {"host ", false, NULL, 0, N, N, N},
    {"ho st", false, NULL, 0, N, N, N},
    {"host\t", false, NULL, 0, N, N, N},
    {"host\r\n", false, NULL, 0, N, N, N},
    {"-host.example", false, NULL, 0, N, N, N},
    {"host-.example", false, NULL, 0, N, N, N},
    {"host..example", false, NULL, 0, N, N, N},
    {".host", false, NULL, 0, N, N, N},
    {".", false, NULL, 0, N, N, N},
    {"host..", false, NULL, 0, N, N, N},
    {"ho_st.example", false, NULL, 0, N, N, N},
    {"h\xc3\xa9.example", false, NULL, 0, N, N, N},
    {"1.2.3.256", false, NULL, 0, N, N, N},
    {"10.0.0", false, NULL, 0, N, N, N},
    {"[1.2.3.256]", false, NULL, 0, N, N, N},
    {"[IPv6:1.2.3.4]", false, NULL, 0, N, N, N},
    {"[IPv6:host.example]", false, NULL, 0, N, N, N},
    {"[2001:db8::g]", false, NULL, 0, N, N, N},
    {"2001:db8::1:25x", false, NULL, 0, N, N, N},
    {"[2001:db8:::1]", false, NULL, 0, N, N, N},
    {"host:25:26", false, NULL, 0, N, N, N},
    {"smtp:smtp:host", false, NULL, 0, N, N, N},
    {"user@host", false, NULL, 0, N, N, N},
    {"host/25", false, NULL, 0, N, N, N},
    {"[host]:25 ", false, NULL, 0, N, N, N},
    {"local host", false, NULL, 0, N, N, N},
};

static void test_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		const struct parse_case *c = &parse_cases[i];
		struct nexthop nh;
		const char *error = NULL;
		int ret = nexthop_parse(c->in, &nh, &error);

		if ((ret == 0) != c->ok)
			fail_msg("case %zu '%s': ret %d error %s", i, c->in,
			         ret, error != NULL ? error : "-");
		if (!c->ok) {
			assert_non_null(error);
			continue;
		}
		assert_string_equal(nh.host, c->host);
		assert_int_equal(nh.port, c->port);
		assert_int_equal(nh.literal, c->literal);
		assert_int_equal(nh.is_ip, c->is_ip);
		assert_int_equal(nh.mx, c->mx);
	}
}

static void test_parse_lengths(void **state)
{
	char buf[400], label[70];
	struct nexthop nh;
	const char *error;

	/* 63-byte label fine, 64 not. */
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(buf, sizeof(buf), "%s.example", label);
	assert_int_equal(nexthop_parse(buf, &nh, &error), 0);
	snprintf(buf, sizeof(buf), "a%s.example", label);
	assert_int_equal(nexthop_parse(buf, &nh, &error), -1);
	/* 253 bytes fine (trailing dot too), 254 not. */
	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < 253; i++)
		buf[i] = i % 4 == 3 ? '.' : 'b';
	assert_int_equal(nexthop_parse(buf, &nh, &error), 0);
	assert_int_equal(strlen(nh.host), 253);
	buf[253] = '.';
	assert_int_equal(nexthop_parse(buf, &nh, &error), 0);
	buf[253] = 'c';
	assert_int_equal(nexthop_parse(buf, &nh, &error), -1);
	/* Far too long. */
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	assert_int_equal(nexthop_parse(buf, &nh, &error), -1);
	assert_string_equal(error, "next hop too long");
	/* An embedded NUL. */
	assert_int_equal(nexthop_parse_n("host\0.evil", 10, &nh, &error), -1);
	assert_int_equal(nexthop_parse_n("host:25\0", 8, &nh, &error), -1);
	assert_int_equal(nexthop_parse_n("host:25", 7, &nh, &error), 0);
	assert_int_equal(nexthop_parse_n("host:25zz", 7, &nh, &error), 0);
	assert_int_equal(nh.port, 25);
}

static void test_format(void **state)
{
	static const char *const in[] = {"host:587", "[h.example]",
	                                 "[IPv6:2001:db8::1]:26", "10.0.0.1"};
	static const char *const out[] = {"host:587", "[h.example]:25",
	                                  "[2001:db8::1]:26", "10.0.0.1:25"};
	char buf[300];
	struct nexthop nh, back;
	const char *error;

	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(nexthop_parse(in[i], &nh, &error), 0);
		assert_string_equal(nexthop_format(&nh, buf, sizeof(buf)),
		                    out[i]);
		assert_int_equal(nexthop_parse(buf, &back, &error), 0);
		assert_string_equal(back.host, nh.host);
		assert_int_equal(back.port, nh.port);
		assert_int_equal(back.mx, nh.mx);
	}
}

static void test_route_parse(void **state)
{
	struct nexthop_route r;
	const char *error;

	assert_int_equal(
	    nexthop_route_parse("Example.ORG [192.0.2.1]:25", &r, &error), 0);
	assert_string_equal(r.domain, "example.org");
	assert_string_equal(r.hop.host, "192.0.2.1");
	assert_int_equal(
	    nexthop_route_parse("example.org.\t \thub:26", &r, &error), 0);
	assert_string_equal(r.domain, "example.org");
	assert_int_equal(r.hop.port, 26);
	assert_int_equal(nexthop_route_parse("example.org", &r, &error), -1);
	assert_int_equal(nexthop_route_parse("example.org ", &r, &error), -1);
	assert_int_equal(nexthop_route_parse("ex_ample.org hub", &r, &error),
	                 -1);
	assert_int_equal(nexthop_route_parse(" hub", &r, &error), -1);
	assert_int_equal(nexthop_route_parse("a.org hub:0", &r, &error), -1);
}

/* ---- nexthop_choose ---- */

static struct nexthop_route test_routes[3];

static void make_cfg(struct nexthop_config *cfg, bool routes, bool smart)
{
	const char *error;

	memset(cfg, 0, sizeof(*cfg));
	assert_int_equal(nexthop_route_parse("routed.example [10.9.9.9]:2525",
	                                     &test_routes[0], &error),
	                 0);
	assert_int_equal(nexthop_route_parse("Other.Example hub.example",
	                                     &test_routes[1], &error),
	                 0);
	assert_int_equal(nexthop_route_parse("xn--bcher-kva.example [10.8.8.8]",
	                                     &test_routes[2], &error),
	                 0);
	if (routes) {
		cfg->routes = test_routes;
		cfg->n_routes = 3;
	}
	if (smart) {
		assert_int_equal(nexthop_parse("[smart.example]:587",
		                               &cfg->smarthost, &error),
		                 0);
		cfg->have_smarthost = true;
	}
}

struct choose_case {
	const char *hop, *domain;
	bool routes, smart;
	int ret;
	enum nexthop_source src;
	const char *host;
	unsigned port;
	bool mx;
};

static const struct choose_case choose_cases[] = {
    /* the directory wins over everything */
    {"mbx1.example.com", "routed.example", true, true, 0,
     NEXTHOP_SOURCE_DIRECTORY, "mbx1.example.com", 25, true},
    {"[10.0.0.5]:2525", "x.example", false, false, 0, NEXTHOP_SOURCE_DIRECTORY,
     "10.0.0.5", 2525, false},
    {"[mx.example.net]:25", "x.example", true, true, 0,
     NEXTHOP_SOURCE_DIRECTORY, "mx.example.net", 25, false},
    {"host:587", "x.example", false, true, 0, NEXTHOP_SOURCE_DIRECTORY, "host",
     587, true},
    /* local / external / empty / NULL fall through */
    {"local", "routed.example", true, true, 0, NEXTHOP_SOURCE_ROUTE, "10.9.9.9",
     2525, false},
    {"LOCAL", "routed.example", true, false, 0, NEXTHOP_SOURCE_ROUTE,
     "10.9.9.9", 2525, false},
    {"external", "routed.example", true, true, 0, NEXTHOP_SOURCE_ROUTE,
     "10.9.9.9", 2525, false},
    {"", "ROUTED.example.", true, true, 0, NEXTHOP_SOURCE_ROUTE, "10.9.9.9",
     2525, false},
    {NULL, "other.example", true, true, 0, NEXTHOP_SOURCE_ROUTE, "hub.example",
     25, true},
    /* no route matches: smarthost */
    {"external", "sub.routed.example", true, true, 0, NEXTHOP_SOURCE_SMARTHOST,
     "smart.example", 587, false},
    {"local", "x.example", false, true, 0, NEXTHOP_SOURCE_SMARTHOST,
     "smart.example", 587, false},
    {NULL, "routed.example", false, true, 0, NEXTHOP_SOURCE_SMARTHOST,
     "smart.example", 587, false},
    /* nothing configured: MX */
    {"external", "Far.Example", true, false, 0, NEXTHOP_SOURCE_MX,
     "far.example", 25, true},
    {"local", "ours.example", false, false, 0, NEXTHOP_SOURCE_MX,
     "ours.example", 25, true},
    {NULL, "x.example.", false, false, 0, NEXTHOP_SOURCE_MX, "x.example", 25,
     true},
    {"", "routed.examplex", true, false, 0, NEXTHOP_SOURCE_MX,
     "routed.examplex", 25, true},
    /* errors name the source */
    {"bad host", "x.example", true, true, -1, NEXTHOP_SOURCE_DIRECTORY, NULL, 0,
     false},
    {"[10.0.0.5", "x.example", true, true, -1, NEXTHOP_SOURCE_DIRECTORY, NULL,
     0, false},
    {"localx:0", "x.example", true, true, -1, NEXTHOP_SOURCE_DIRECTORY, NULL, 0,
     false},
    {"external", "bad_domain", false, false, -1, NEXTHOP_SOURCE_MX, NULL, 0,
     false},
    {"external", "[1.2.3.4]", false, false, -1, NEXTHOP_SOURCE_MX, NULL, 0,
     false},
    {"external", "1.2.3.4", false, false, -1, NEXTHOP_SOURCE_MX, NULL, 0,
     false},
    {"external", "", false, false, -1, NEXTHOP_SOURCE_MX, NULL, 0, false},
    /* U-label domains: A-labels for the MX and for routes alike */
    {"external", "B\303\234cher.example.", false, false, 0, NEXTHOP_SOURCE_MX,
     "xn--bcher-kva.example", 25, true},
    {NULL, "\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95", false, false, 0,
     NEXTHOP_SOURCE_MX, "xn--fsqu00a.xn--0zwm56d", 25, true},
    {"external", "b\303\274cher.example", true, true, 0, NEXTHOP_SOURCE_ROUTE,
     "10.8.8.8", 25, false},
    /* ... and one that can never be valid is the domain's fault (MX),
     * even with a smarthost: the caller bounces it (5.1.2) */
    {"external", "\xff.example", false, true, -1, NEXTHOP_SOURCE_MX, NULL, 0,
     false},
    {"external", "-b\303\274cher.example", true, true, -1, NEXTHOP_SOURCE_MX,
     NULL, 0, false},
    {"external",
     "a234567890123456789012345678901234567890123456789012345678901234.example",
     false, false, -1, NEXTHOP_SOURCE_MX, NULL, 0, false},
};

static void test_choose_table(void **state)
{
	for (size_t i = 0; i < sizeof(choose_cases) / sizeof(choose_cases[0]);
	     i++) {
		const struct choose_case *c = &choose_cases[i];
		struct nexthop_config cfg;
		struct nexthop nh;
		enum nexthop_source src = (enum nexthop_source)99;
		const char *error = NULL;
		int ret;

		make_cfg(&cfg, c->routes, c->smart);
		ret =
		    nexthop_choose(c->hop, c->domain, &cfg, &nh, &src, &error);
		if (ret != c->ret || src != c->src)
			fail_msg("case %zu: ret %d src %s error %s", i, ret,
			         nexthop_source_name(src),
			         error != NULL ? error : "-");
		if (ret < 0)
			continue;
		assert_string_equal(nh.host, c->host);
		assert_int_equal(nh.port, c->port);
		assert_int_equal(nh.mx, c->mx);
	}
}

static void test_choose_no_cfg(void **state)
{
	struct nexthop nh;
	enum nexthop_source src;
	const char *error;

	assert_int_equal(
	    nexthop_choose("external", "a.example", NULL, &nh, &src, &error),
	    0);
	assert_int_equal(src, NEXTHOP_SOURCE_MX);
	assert_string_equal(nexthop_source_name(src), "mx");
	assert_string_equal(nexthop_source_name(NEXTHOP_SOURCE_DIRECTORY),
	                    "directory");
}

static void test_config_build(void **state)
{
	char *items[] = {"a.example [10.0.0.1]:26", "b.example hub"};
	struct settings_routerd set;
	struct nexthop_config *cfg = NULL;
	const char *error;

	memset(&set, 0, sizeof(set));
	set.routes.items = items;
	set.routes.count = 2;
	set.smarthost.host = "Relay.Example";
	set.smarthost.literal = true;
	assert_int_equal(nexthop_config_build(&set, &cfg, &error), 0);
	assert_int_equal(cfg->n_routes, 2);
	assert_true(cfg->have_smarthost);
	assert_string_equal(cfg->smarthost.host, "relay.example");
	assert_int_equal(cfg->smarthost.port, 25);
	assert_false(cfg->smarthost.mx);
	nexthop_config_deinit(&cfg);
	assert_null(cfg);

	set.smarthost.host = "2001:db8::2";
	set.smarthost.literal = false;
	set.smarthost.port = 2525;
	set.routes.count = 0;
	assert_int_equal(nexthop_config_build(&set, &cfg, &error), 0);
	assert_true(cfg->smarthost.is_ip);
	assert_int_equal(cfg->smarthost.port, 2525);
	nexthop_config_deinit(&cfg);

	items[1] = "b.example";
	set.routes.count = 2;
	assert_int_equal(nexthop_config_build(&set, &cfg, &error), -1);
	assert_null(cfg);
	nexthop_config_deinit(&cfg);
}

/* ---- nexthop_order_mx ---- */

struct script {
	const uint32_t *values;
	size_t count, pos;
};

static uint32_t script_rand(void *ctx)
{
	struct script *s = ctx;

	assert_true(s->pos < s->count);
	return s->values[s->pos++];
}

static uint32_t xorshift_rand(void *ctx)
{
	uint64_t *st = ctx;

	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (uint32_t)((*st * 0x2545f4914f6cdd1dULL) >> 32);
}

#define MAXM 6

struct order_case {
	const char *name;
	struct dns_mx mx[MAXM];
	size_t n;
	/* Values are chosen at or above 2^32 mod bound, so none is
	 * rejected: v % (i + 1) is the swap partner. */
	uint32_t rnd[MAXM];
	size_t nrnd;
	int null_mx;
	size_t expect[MAXM];
	size_t nexpect;
};

static const struct order_case order_cases[] = {
    {"empty", {{0}}, 0, {0}, 0, 0, {0}, 0},
    {"single", {{10, 60, "a."}}, 1, {0}, 0, 0, {0}, 1},
    {"preferences",
     {{30, 60, "c."}, {10, 60, "a."}, {20, 60, "b."}},
     3,
     {0},
     0,
     0,
     {1, 2, 0},
     3},
    {"preference 0 and 65535",
     {{65535, 60, "z."}, {0, 60, "a."}},
     2,
     {0},
     0,
     0,
     {1, 0},
     2},
    {"two ties swapped",
     {{10, 60, "a."}, {10, 60, "b."}},
     2,
     {4},
     1,
     0,
     {1, 0},
     2},
    {"two ties kept",
     {{10, 60, "a."}, {10, 60, "b."}},
     2,
     {5},
     1,
     0,
     {0, 1},
     2},
    {"three ties",
     /* i=2: 300 % 3 = 0, swap 2<->0 -> c b a; i=1: 201 % 2 = 1 */
     {{10, 60, "a."}, {10, 60, "b."}, {10, 60, "c."}},
     3,
     {300, 201},
     2,
     0,
     {2, 1, 0},
     3},
    {"ties inside preferences",
     {{20, 60, "x."}, {5, 60, "p."}, {20, 60, "y."}, {30, 60, "q."}},
     4,
     {6},
     1,
     0,
     {1, 2, 0, 3},
     4},
    {"rejected value is drawn again",
     /* bound 3: 2^32 mod 3 = 1, so 0 is rejected; 4 % 3 = 1 swaps
      * 2 and 1 (a c b), then 8 % 2 = 0 swaps 1 and 0 (c a b) */
     {{1, 60, "a."}, {1, 60, "b."}, {1, 60, "c."}},
     3,
     {0, 4, 8},
     3,
     0,
     {2, 0, 1},
     3},
    {"null MX", {{0, 60, "."}}, 1, {0}, 0, 1, {0}, 0},
    {"null MX, empty name", {{0, 60, ""}}, 1, {0}, 0, 1, {0}, 0},
    {"two dots are still null",
     {{0, 60, "."}, {10, 60, "."}},
     2,
     {0},
     0,
     1,
     {0},
     0},
    {"dot mixed with real MX is dropped",
     {{0, 60, "."}, {10, 60, "mx."}},
     2,
     {0},
     0,
     0,
     {1},
     1},
    {"dot between real MX",
     {{20, 60, "b."}, {0, 60, "."}, {10, 60, "a."}},
     3,
     {0},
     0,
     0,
     {2, 0},
     2},
};

static void test_order_table(void **state)
{
	for (size_t i = 0; i < sizeof(order_cases) / sizeof(order_cases[0]);
	     i++) {
		const struct order_case *c = &order_cases[i];
		struct script s = {c->rnd, c->nrnd, 0};
		size_t *order = NULL, n = 99;
		int null_mx = -1;

		assert_int_equal(nexthop_order_mx(c->mx, c->n, script_rand, &s,
		                                  &order, &n, &null_mx),
		                 0);
		if (null_mx != c->null_mx || n != c->nexpect)
			fail_msg("%s: null %d n %zu", c->name, null_mx, n);
		for (size_t k = 0; k < n; k++)
			if (order[k] != c->expect[k])
				fail_msg("%s: order[%zu] = %zu", c->name, k,
				         order[k]);
		if (s.pos != s.count)
			fail_msg("%s: used %zu of %zu random values", c->name,
			         s.pos, s.count);
		if (n == 0)
			assert_null(order);
		free(order);
	}
}

static void test_order_errors(void **state)
{
	struct dns_mx bad[] = {{10, 60, NULL}};
	struct dns_mx ok[] = {{10, 60, "a."}};
	size_t *order, n;
	int null_mx;
	uint64_t st = 1;

	assert_int_equal(
	    nexthop_order_mx(bad, 1, xorshift_rand, &st, &order, &n, &null_mx),
	    -1);
	assert_int_equal(
	    nexthop_order_mx(ok, 1, NULL, NULL, &order, &n, &null_mx), -1);
}

static void test_order_distribution(void **state)
{
	struct dns_mx mx[] = {
	    {10, 60, "a."}, {10, 60, "b."}, {10, 60, "c."}, {5, 60, "best."}};
	size_t first[4] = {0};
	uint64_t st = 0x9e3779b97f4a7c15ULL;

	for (int run = 0; run < 30000; run++) {
		size_t *order, n;
		int null_mx;

		assert_int_equal(nexthop_order_mx(mx, 4, xorshift_rand, &st,
		                                  &order, &n, &null_mx),
		                 0);
		assert_int_equal(n, 4);
		assert_int_equal(order[0], 3);
		first[order[1]]++;
		free(order);
	}
	for (size_t i = 0; i < 3; i++)
		assert_in_range(first[i], 9400, 10600);
}

/* ---- self ---- */

static const char *const my_names[] = {"mx.ours.example",
                                       "Alias.Ours.Example."};

static void test_is_self(void **state)
{
	assert_true(nexthop_is_self("mx.ours.example", my_names, 2));
	assert_true(nexthop_is_self("MX.OURS.EXAMPLE.", my_names, 2));
	assert_true(nexthop_is_self("alias.ours.example", my_names, 2));
	assert_true(nexthop_is_self("alias.ours.example.", my_names, 2));
	assert_false(nexthop_is_self("mx.ours.example.org", my_names, 2));
	assert_false(nexthop_is_self("x.mx.ours.example", my_names, 2));
	assert_false(nexthop_is_self("mx.ours.exampl", my_names, 2));
	assert_false(nexthop_is_self("", my_names, 2));
	assert_false(nexthop_is_self(".", my_names, 2));
	assert_false(nexthop_is_self("mx.ours.example", my_names, 0));
	assert_false(nexthop_is_self("mx.ours.example", NULL, 0));
}

static void test_trim_self(void **state)
{
	struct dns_mx mx[] = {{10, 60, "a.far."},
	                      {20, 60, "mx.ours.example."},
	                      {20, 60, "b.far."},
	                      {30, 60, "c.far."},
	                      {5, 60, "ALIAS.ours.example."}};
	size_t order[5];
	bool self;

	/* We are the 20 backup: keep only the 10. */
	order[0] = 0, order[1] = 2, order[2] = 1, order[3] = 3;
	assert_int_equal(nexthop_trim_self(mx, order, 4, my_names, 2, &self),
	                 1);
	assert_true(self);
	assert_int_equal(order[0], 0);
	/* We are the best: nothing left. */
	order[0] = 4, order[1] = 0, order[2] = 1;
	assert_int_equal(nexthop_trim_self(mx, order, 3, my_names, 2, &self),
	                 0);
	assert_true(self);
	/* Not in the list: unchanged. */
	order[0] = 0, order[1] = 2, order[2] = 3;
	assert_int_equal(nexthop_trim_self(mx, order, 3, my_names, 2, &self),
	                 3);
	assert_false(self);
	assert_int_equal(nexthop_trim_self(mx, order, 0, my_names, 2, &self),
	                 0);
	assert_false(self);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_lengths),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_route_parse),
	    cmocka_unit_test(test_choose_table),
	    cmocka_unit_test(test_choose_no_cfg),
	    cmocka_unit_test(test_config_build),
	    cmocka_unit_test(test_order_table),
	    cmocka_unit_test(test_order_errors),
	    cmocka_unit_test(test_order_distribution),
	    cmocka_unit_test(test_is_self),
	    cmocka_unit_test(test_trim_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
