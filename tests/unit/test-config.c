/*
 * test-config - the table-driven configuration parser (config.h) over a
 * small test table, then dirmx's own settings (settings.h): defaults,
 * validators, cross-checks and the sample file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "log.h"
#include "settings.h"

/* The case tables leave trailing fields out on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- a test table with one setting of every type ----------------------- */

struct item {
	char *name;
	unsigned int line;
	unsigned int weight;
	char *label;
};

struct tconf {
	struct {
		char *string;
		char *path;
		bool flag;
		unsigned int count;
		uint64_t delay;
		uint64_t limit;
		int mode;
		struct config_list items;
		struct config_hostport host;
	} main;
	struct item *inst;
	size_t inst_count;
};

static bool no_bangs(const char *value, const char **error_r)
{
	if (strchr(value, '!') != NULL) {
		*error_r = "no bangs";
		return false;
	}
	return true;
}

static const struct config_enum_value modes[] = {
    {"alpha", 1}, {"beta", 2}, {"b", 2}, {NULL, 0}};

#define M(f) offsetof(struct tconf, main.f)
static const struct config_setting main_settings[] = {
    {.name = "string",
     .type = CONFIG_STRING,
     .offset = M(string),
     .validate = no_bangs},
    {.name = "path", .type = CONFIG_PATH, .offset = M(path)},
    {.name = "flag",
     .type = CONFIG_BOOL,
     .offset = M(flag),
     .default_value = "no"},
    {.name = "count",
     .type = CONFIG_UINT,
     .offset = M(count),
     .default_value = "3",
     .min = 1,
     .max = 10},
    {.name = "delay",
     .type = CONFIG_DURATION,
     .offset = M(delay),
     .default_value = "30s"},
    {.name = "limit",
     .type = CONFIG_SIZE,
     .offset = M(limit),
     .default_value = "1M",
     .min = 10,
     .max = 1024ULL * 1024 * 1024},
    {.name = "mode",
     .type = CONFIG_ENUM,
     .offset = M(mode),
     .default_value = "alpha",
     .enum_values = modes},
    {.name = "items",
     .type = CONFIG_LIST,
     .offset = M(items),
     .default_value = "dflt",
     .validate = no_bangs},
    {.name = "host", .type = CONFIG_HOSTPORT, .offset = M(host)},
    {.name = NULL},
};

static const struct config_setting item_settings[] = {
    {.name = "weight",
     .type = CONFIG_UINT,
     .offset = offsetof(struct item, weight),
     .required = true},
    {.name = "label",
     .type = CONFIG_STRING,
     .offset = offsetof(struct item, label),
     .default_value = "none"},
    {.name = NULL},
};

static const struct config_section tsections[] = {
    {.name = "main",
     .settings = main_settings,
     .offset = offsetof(struct tconf, main)},
    {.name = "item",
     .settings = item_settings,
     .offset = offsetof(struct tconf, inst),
     .named = true,
     .count_offset = offsetof(struct tconf, inst_count),
     .instance_size = sizeof(struct item),
     .name_offset = offsetof(struct item, name),
     .line_offset = offsetof(struct item, line)},
    {.name = NULL},
};

/* Cross-check: a flag needs a string. */
static bool tcheck(void *dest, const char *file, struct config_errors *e)
{
	struct tconf *c = dest;

	if (c->main.flag && c->main.string == NULL) {
		config_errors_add(e, "%s: [main] flag needs string", file);
		return false;
	}
	return true;
}

static const struct config_table ttable = {tsections, tcheck};

/* Everything parsed, as one comparable string. */
static char *dump(const struct tconf *c)
{
	char *s = alloc_printf(
	    "string=<%s> path=<%s> flag=%d count=%u delay=%llu limit=%llu "
	    "mode=%d host=%s:%u literal=%d items=[",
	    c->main.string ? c->main.string : "(null)",
	    c->main.path ? c->main.path : "(null)", c->main.flag, c->main.count,
	    (unsigned long long)c->main.delay,
	    (unsigned long long)c->main.limit, c->main.mode,
	    c->main.host.host ? c->main.host.host : "(null)", c->main.host.port,
	    c->main.host.literal);
	char *t;

	for (size_t i = 0; i < c->main.items.count; i++) {
		t = alloc_printf("%s%s%s", s, i ? "|" : "",
		                 c->main.items.items[i]);
		free(s);
		s = t;
	}
	t = alloc_printf("%s] inst=%zu", s, c->inst_count);
	free(s);
	s = t;
	for (size_t i = 0; i < c->inst_count; i++) {
		t = alloc_printf("%s %s@%u:%u:%s", s, c->inst[i].name,
		                 c->inst[i].line, c->inst[i].weight,
		                 c->inst[i].label);
		free(s);
		s = t;
	}
	return s;
}

struct tcase {
	const char *text;
	const char *expect; /* substring of dump() on success */
	const char *error;  /* substring of the first error; NULL: none */
	size_t n_errors;    /* 0: 1 when error, else 0 */
};

static void run_case(const struct tcase *tc, size_t len)
{
	struct tconf c = {0};
	struct config_errors e = {0};
	int ret = config_parse_buffer(&ttable, tc->text, len, "t.conf", &c, &e);
	size_t want = tc->n_errors ? tc->n_errors : (tc->error ? 1 : 0);
	char *d = dump(&c);

	bool bad_error =
	    tc->error && e.count > 0 && strstr(e.msgs[0], tc->error) == NULL;
	bool bad_dump =
	    !tc->error && tc->expect && strstr(d, tc->expect) == NULL;

	if (e.count != want || bad_error || bad_dump) {
		print_message("case: %s\ndump: %s\n", tc->text, d);
		config_errors_print(&e, stderr);
	}
	assert_int_equal(e.count, want);
	assert_int_equal(ret, want ? -1 : 0);
	if (tc->error != NULL)
		assert_non_null(strstr(e.msgs[0], tc->error));
	else if (tc->expect != NULL)
		assert_non_null(strstr(d, tc->expect));
	free(d);
	config_errors_clear(&e);
	config_free(&ttable, &c);
	assert_null(c.main.string);
	assert_null(c.inst);
}

static void run_cases(const struct tcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i], strlen(cases[i].text));
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_values(void **state)
{
	static const struct tcase cases[] = {
	    {"[main]\n", "string=<(null)> path=<(null)> flag=0 count=3 "
	                 "delay=30000 limit=1048576 mode=1 host=(null):0 "
	                 "literal=0 items=[dflt] inst=0"},
	    {"[main]\nstring = hello world  ", "string=<hello world>"},
	    {"[main]\nstring = \"a \\\"q\\\" \\\\ b \" ",
	     "string=<a \"q\" \\ b >"},
	    {"[main]\nstring = \"\"", "string=<>"},
	    {"[main]\nstring = x!", NULL,
	     "t.conf:2: [main] string: invalid value 'x!': no bangs"},
	    {"[main]\npath = /etc/x", "path=</etc/x>"},
	    {"[main]\npath = etc/x", NULL,
	     "t.conf:2: [main] path: 'etc/x' is not an absolute path"},
	    {"[main]\npath =", NULL, "[main] path: empty value"},
	    {"[main]\nstring = s\nflag = yes", "flag=1"},
	    {"[main]\nstring = s\nflag = ON", "flag=1"},
	    {"[main]\nflag = true\nstring = s", "flag=1"},
	    {"[main]\nflag = off", "flag=0"},
	    {"[main]\nflag = false", "flag=0"},
	    {"[main]\nflag = maybe", NULL, "invalid boolean 'maybe'"},
	    {"[main]\ncount = 10", "count=10"},
	    {"[main]\ncount = 0", NULL, "number 0 out of range 1..10"},
	    {"[main]\ncount = 11", NULL, "out of range 1..10"},
	    {"[main]\ncount = -1", NULL, "invalid number '-1'"},
	    {"[main]\ncount = 1x", NULL, "invalid number"},
	    {"[main]\ncount = 99999999999999999999999", NULL, "invalid number"},
	    {"[main]\ndelay = 45", "delay=45000"},
	    {"[main]\ndelay = 500ms", "delay=500"},
	    {"[main]\ndelay = 5m", "delay=300000"},
	    {"[main]\ndelay = 1h", "delay=3600000"},
	    {"[main]\ndelay = 2d", "delay=172800000"},
	    {"[main]\ndelay = 3x", NULL, "invalid duration '3x'"},
	    {"[main]\ndelay = s", NULL, "invalid duration"},
	    {"[main]\ndelay = 5 m", NULL, "invalid duration"},
	    {"[main]\ndelay = 99999999999999999d", NULL, "invalid duration"},
	    {"[main]\nlimit = 10M", "limit=10485760"},
	    {"[main]\nlimit = 512k", "limit=524288"},
	    {"[main]\nlimit = 1G", "limit=1073741824"},
	    {"[main]\nlimit = 100", "limit=100"},
	    {"[main]\nlimit = 2G", NULL, "out of range"},
	    {"[main]\nlimit = 9", NULL, "out of range"},
	    {"[main]\nlimit = 1T", NULL, "invalid size '1T'"},
	    {"[main]\nmode = beta", "mode=2"},
	    {"[main]\nmode = BETA", "mode=2"},
	    {"[main]\nmode = b", "mode=2"},
	    {"[main]\nmode = gamma", NULL,
	     "[main] mode: invalid value 'gamma' (expected one of: "
	     "alpha, beta, b)"},
	    {"[main]\nitems = a", "items=[a]"},
	    {"[main]\nitems = a, b ,c", "items=[a|b|c]"},
	    {"[main]\nitems = \"a, b\"", "items=[a, b]"},
	    {"[main]\nitems = a\nitems = b", "items=[a|b]"},
	    {"[main]\nitems = a,,b", NULL,
	     "t.conf:2: [main] items: empty "
	     "item in list"},
	    {"[main]\nitems = a, x!", NULL, "invalid value 'x!': no bangs"},
	    {"[main]\nhost = mail.example.com", "host=mail.example.com:0"},
	    {"[main]\nhost = mx:25", "host=mx:25"},
	    {"[main]\nhost = [::1]:587", "host=::1:587"},
	    {"[main]\nhost = [2001:db8::1]", "host=2001:db8::1:0"},
	    {"[main]\nhost = ::1", "host=::1:0"},
	    {"[main]\nhost = 192.0.2.1:65535", "host=192.0.2.1:65535"},
	    {"[main]\nhost = mx:0", NULL, "port must be a number from 1"},
	    {"[main]\nhost = mx:65536", NULL, "port must be"},
	    {"[main]\nhost = mx:25x", NULL, "unexpected characters"},
	    {"[main]\nhost = [::1", NULL, "in [brackets]"},
	    {"[main]\nhost = [zz]:1", "host=zz:1 literal=1"},
	    {"[main]\nhost = [192.0.2.1]", "host=192.0.2.1:0 literal=1"},
	    {"[main]\nhost = [a b]:1", NULL, "in [brackets]"},
	    {"[main]\nhost = []:1", NULL, "in [brackets]"},
	    {"[main]\nhost = :25", NULL, "expected a host name"},
	    {"[main]\nhost = a b", NULL, "unexpected characters"},
	    {"[main]\nhost = 1:2:zz", NULL, "not a host, host:port"},
	};

	RUN(cases);
}

static void test_syntax(void **state)
{
	static const struct tcase cases[] = {
	    {"# comment\n\n   \t\n  # indented\n[main]\n", "count=3"},
	    {"[main]\r\ncount = 4\r\n", "count=4"},
	    {"  [ main ]  \n\tcount\t=\t5\t", "count=5"},
	    {"[main]\ncount = 4", "count=4"}, /* no final newline */
	    {"[main]\ncoutn = 4", NULL,
	     "t.conf:2: [main] unknown setting 'coutn' (did you mean "
	     "'count'?)"},
	    {"[main]\nweight = 4", NULL,
	     "[main] unknown setting 'weight' (it belongs in [item])"},
	    {"[main]\nzzz = 4", NULL,
	     "t.conf:2: [main] unknown setting "
	     "'zzz'"},
	    {"[mian]\nzzz = 1\nyyy = 2", NULL,
	     "t.conf:1: unknown section [mian] (did you mean [main]?)"},
	    {"[other]\n", NULL, "t.conf:1: unknown section [other]"},
	    {"[main]\ncount = 1\ncount = 2", NULL,
	     "t.conf:3: [main] 'count' already set at line 2"},
	    {"[main]\ncount = 1\n[item a]\nweight=1\n[main]\ncount = 2", NULL,
	     "t.conf:6: [main] 'count' already set at line 2"},
	    {"count = 1\n[main]", NULL,
	     "t.conf:1: setting 'count' before any [section]"},
	    {"[main]\ncount", NULL, "t.conf:2: missing '=' after 'count'"},
	    {"[main]\ncount 5", NULL, "t.conf:2: expected '=' after 'count'"},
	    {"[main]\n= 5", NULL, "t.conf:2: expected a setting name"},
	    {"[main]\nstring = \"abc", NULL,
	     "t.conf:2: string: unterminated quoted value"},
	    {"[main]\nstring = \"abc\\\"", NULL, "unterminated"},
	    {"[main]\nstring = \"a\\n\"", NULL, "invalid escape"},
	    {"[main]\nstring = \"a\" b", NULL,
	     "t.conf:2: string: unexpected text after the closing quote"},
	    {"[main]\nstring = a\x01z", NULL, "control character"},
	    {"[main", NULL, "t.conf:1: malformed section header"},
	    {"[main] x", NULL, "malformed section header"},
	    {"[]", NULL, "malformed section header"},
	    {"[main x]", NULL, "t.conf:1: section [main] takes no name"},
	    {"[item]", NULL, "t.conf:1: section [item] needs a name"},
	    {"[main]\nflag = yes", NULL, "t.conf: [main] flag needs string"},
	    /* Errors are all reported, in order, with their lines. */
	    {"[main]\ncount = 0\nzz = 1\ncount = 2\ndelay = x", NULL,
	     "t.conf:2:", 4},
	};

	RUN(cases);
}

static void test_named_sections(void **state)
{
	static const struct tcase cases[] = {
	    {"[item a]\nweight = 3\n[item b-2.x]\nlabel = \"L\"\nweight=4",
	     "inst=2 a@1:3:none b-2.x@3:4:L"},
	    {"[item a]\nweight = 3\n[item a]\nweight = 4", NULL,
	     "t.conf:3: duplicate section [item a], first at line 1"},
	    {"[item a]\nlabel = x\n[main]\n", NULL,
	     "t.conf:1: [item a] missing required setting 'weight'"},
	    {"[item a]\n", NULL, "[item a] missing required"},
	    {"[item a]\nweight = 1\nweight = 2", NULL,
	     "t.conf:3: [item a] 'weight' already set at line 2"},
	    {"[item a]\nweight = 1\n[item b]\nweight = 2\n", "inst=2"},
	};

	RUN(cases);
}

static void test_limits(void **state)
{
	size_t n = CONFIG_LINE_MAX + 100;
	char *text = alloc_zero(n + 64);
	struct tcase tc = {text, NULL, NULL, 0};
	size_t len;

	/* A line of exactly CONFIG_LINE_MAX bytes is fine, one more is not. */
	strcpy(text, "[main]\nstring = ");
	len = strlen(text);
	memset(text + len, 'x', CONFIG_LINE_MAX - (len - 7));
	len = 7 + CONFIG_LINE_MAX;
	tc.expect = "string=<xxx";
	run_case(&tc, len);
	memcpy(text + len, "x\ncount = 5", 11);
	tc.error = "t.conf:2: line longer than 4096 bytes";
	run_case(&tc, len + 11);

	/* NUL bytes. */
	memcpy(text, "[main]\nstring = a\0b\ncount = 0", 29);
	tc.error = "t.conf:2: NUL byte in line";
	tc.n_errors = 2;
	run_case(&tc, 29);
	free(text);

	/* The error list stops growing at CONFIG_ERRORS_MAX. */
	{
		char *many = alloc_strdup("[main]\n");
		struct tconf c = {0};
		struct config_errors e = {0};

		for (int i = 0; i < 150; i++) {
			char *t = alloc_printf("%sbad%d = 1\n", many, i);

			free(many);
			many = t;
		}
		assert_int_equal(config_parse_buffer(&ttable, many,
		                                     strlen(many), "t", &c, &e),
		                 -1);
		assert_int_equal(e.count, CONFIG_ERRORS_MAX);
		assert_true(e.truncated);
		config_errors_clear(&e);
		config_free(&ttable, &c);
		free(many);
	}
}

/* ---- dirmx's settings -------------------------------------------------- */

static struct dirmx_config *parse_ok(const char *text)
{
	struct config_errors e = {0};
	struct dirmx_config *cfg = NULL;

	if (settings_parse_buffer(text, strlen(text), "d.conf", &cfg, &e) < 0) {
		config_errors_print(&e, stderr);
		fail_msg("expected OK: %s", text);
	}
	return cfg;
}

static void test_settings_defaults(void **state)
{
	struct dirmx_config *cfg = parse_ok("[authd]\ndomain = example.com\n");

	assert_string_equal(cfg->path, "d.conf");
	assert_int_equal(cfg->global.log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->global.log_to, LOG_DEST_SYSLOG);
	assert_string_equal(cfg->global.state_dir, "/var/lib/dirmx");
	assert_string_equal(cfg->global.run_dir, "/run/dirmx");
	assert_int_equal(cfg->dns.servers.count, 0);
	assert_int_equal(cfg->dns.timeout_ms, 3000);
	assert_int_equal(cfg->dns.tries, 2);
	assert_string_equal(cfg->authd.socket, "/run/dirmx/authd.sock");
	assert_string_equal(cfg->authd.client_user, "dirmx");
	assert_int_equal(cfg->authd.directory, SETTINGS_DIRECTORY_AD);
	assert_int_equal(cfg->authd.tls, SETTINGS_LDAP_TLS_STARTTLS);
	assert_int_equal(cfg->authd.bind, SETTINGS_BIND_GSSAPI);
	assert_false(cfg->authd.allow_plaintext_bind);
	assert_int_equal(cfg->authd.timeout_ms, 5000);
	assert_int_equal(cfg->authd.idle_timeout_ms, 600000);
	assert_int_equal(cfg->authd.pool_size, 2);
	assert_int_equal(cfg->authd.cache_ttl_ms, 3600000);
	assert_int_equal(cfg->authd.negative_cache_ttl_ms, 600000);
	assert_int_equal(cfg->authd.unwatched_cache_ttl_ms, 300000);
	assert_int_equal(cfg->authd.watch, SETTINGS_WATCH_AUTO);
	assert_int_equal(cfg->authd.watch_poll_interval_ms, 1000);
	assert_int_equal(cfg->authd.cache_size, 100000);
	assert_null(cfg->routerd.hostname);
	assert_string_equal(cfg->routerd.user, "dirmx");
	assert_string_equal(cfg->routerd.spool_dir, "/var/spool/dirmx");
	assert_int_equal(cfg->routerd.max_message_size, 50 * 1024 * 1024);
	assert_int_equal(cfg->routerd.max_line_length, 65536);
	/* issue 11/12: limits an admin expects, and the outbound client's */
	assert_int_equal(cfg->routerd.min_data_rate, 500);
	assert_int_equal(cfg->routerd.listen_backlog, 1024);
	assert_int_equal(cfg->routerd.client_connection_limit, 50);
	assert_int_equal(cfg->routerd.client_ipv6_prefix, 64);
	assert_int_equal(cfg->routerd.spool_min_free, 200 * 1024 * 1024);
	assert_int_equal(cfg->routerd.smtp_connection_limit, 100);
	assert_int_equal(cfg->routerd.smtp_destination_concurrency_limit, 20);
	assert_int_equal(cfg->routerd.smtp_connect_timeout_ms, 30000);
	assert_int_equal(cfg->routerd.smtp_data_done_timeout_ms, 600000);
	assert_int_equal(cfg->routerd.smtp_connection_idle_ms, 5000);
	assert_int_equal(cfg->routerd.smtp_line_length_limit, 998);
	assert_int_equal(cfg->routerd.max_recipients, 1000);
	assert_int_equal(cfg->routerd.max_received_headers, 30);
	assert_int_equal(cfg->routerd.retry_min_ms, 300000);
	assert_int_equal(cfg->routerd.retry_max_ms, 3600000);
	assert_int_equal(cfg->routerd.max_queue_lifetime_ms,
	                 5ULL * 86400 * 1000);
	assert_int_equal(cfg->listener_count, 0);
	dirmx_config_deinit(&cfg);
	assert_null(cfg);
}

#define AUTHD "[authd]\ndomain = example.com\n"
#define CERTS "[routerd]\ntls_cert = /c.pem\ntls_key = /k.pem\n"

static void run_settings(const struct tcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct config_errors e = {0};
		struct dirmx_config *cfg = NULL;
		int ret = settings_parse_buffer(
		    cases[i].text, strlen(cases[i].text), "d.conf", &cfg, &e);

		const char *want = cases[i].error;

		if ((want == NULL) != (ret == 0) ||
		    (want != NULL && strstr(e.msgs[0], want) == NULL)) {
			print_message("case: %s\n", cases[i].text);
			config_errors_print(&e, stderr);
			fail();
		}
		if (cases[i].error == NULL)
			assert_non_null(cfg);
		else
			assert_null(cfg);
		config_errors_clear(&e);
		dirmx_config_deinit(&cfg);
	}
}

static void test_settings_checks(void **state)
{
	static const struct tcase cases[] = {
	    {AUTHD},
	    {"[authd]\ndomian = example.com\n", NULL,
	     "d.conf:2: [authd] unknown setting 'domian' (did you mean "
	     "'domain'?)"},
	    {"[global]\n", NULL, "d.conf: [authd] needs domain"},
	    {"[authd]\nservers = ldaps://dc1.example.com, "
	     "ldap://[::1]:389/\n"},
	    {"[authd]\nservers = dc1.example.com\n", NULL,
	     "[authd] servers: invalid value 'dc1.example.com'"},
	    {"[authd]\nservers = ldap://dc1\ndirectory = ldap\n", NULL,
	     "directory ldap needs base_dn"},
	    {AUTHD "bind = simple\n", NULL,
	     "bind simple needs bind_dn and bind_password_file"},
	    {AUTHD "bind = simple\nbind_dn = cn=x\nbind_password_file = "
	           "/p\n"},
	    {AUTHD "bind = plain\nbind_dn = cn=x\nbind_password_file = "
	           "/p\ntls = none\n",
	     NULL, "would send the password in clear"},
	    {AUTHD "bind = plain\nbind_dn = cn=x\nbind_password_file = "
	           "/p\ntls = none\nallow_plaintext_bind = yes\n"},
	    {AUTHD "bind = external\n", NULL, "bind external needs"},
	    {AUTHD "tls_cert = /c\n", NULL, "tls_cert and tls_key go"},
	    {AUTHD "bind_dn = nodn\n", NULL, "not a DN"},
	    {AUTHD "idle_timeout = 900s\n", NULL,
	     "idle_timeout: duration (ms) 900000 out of range"},
	    {AUTHD "pool_size = 16\nsite = hq\n"},
	    {AUTHD "socket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	           "aaaaaaaaaaa\n",
	     NULL, "too long for a unix socket path"},
	    {AUTHD "[dns]\nservers = 192.0.2.53, [2001:db8::53]:53\n"},
	    {AUTHD "[dns]\nservers = 192.0.2.53:99999\n", NULL, "port must be"},
	    {AUTHD "[dns]\ntries = 11\n", NULL, "out of range 1..10"},
	    {AUTHD "[routerd]\nrelay_networks = 192.0.2.0/24, "
	           "2001:db8::/32, 10.1.2.3, ::1\n"},
	    {AUTHD "[routerd]\nrelay_networks = 10.0.0.1/8\n", NULL,
	     "bits set after the prefix"},
	    {AUTHD "[routerd]\nrelay_networks = 10.0.0.0/33\n", NULL,
	     "prefix length must be 0-32"},
	    {AUTHD "[routerd]\nrelay_networks = ::/129\n", NULL,
	     "prefix length must be 0-128"},
	    {AUTHD "[routerd]\nrelay_networks = 300.1.1.1\n", NULL,
	     "expected an IPv4 or IPv6 network"},
	    {AUTHD "[routerd]\nroutes = example.org [192.0.2.1]:25\n"
	           "routes = example.net mx.example.net\n"},
	    {AUTHD "[routerd]\nroutes = example.org\n", NULL,
	     "expected 'domain nexthop'"},
	    {AUTHD "[routerd]\nlocal_domains = example.com, a..b\n", NULL,
	     "invalid value 'a..b': not a domain name"},
	    {AUTHD "[routerd]\nmax_message_size = 100\n", NULL,
	     "below the minimum 1024"},
	    {AUTHD "[routerd]\nmax_line_length = 1M\n"},
	    {AUTHD "[routerd]\nmax_line_length = 500\n", NULL,
	     "max_line_length: size (bytes) 500 out of range 998.."},
	    {AUTHD "[routerd]\nretry_min = 2h\n", NULL,
	     "retry_min <= retry_max"},
	    {AUTHD "[routerd]\nuser = -x\n", NULL, "not a user"},
	    {AUTHD "[listener mx]\naddress = 0.0.0.0:25\nrole = mx\n"},
	    {AUTHD "[listener mx]\nrole = mx\n", NULL,
	     "d.conf:3: [listener mx] missing required setting 'address'"},
	    {AUTHD "[listener s]\naddress = [::]:587\nrole = submission\n",
	     NULL,
	     "d.conf:3: [listener s] tls required needs tls_cert and "
	     "tls_key in [routerd]"},
	    {AUTHD CERTS "[listener s]\naddress = [::]:587\n"
	                 "role = submission\n"},
	    {AUTHD CERTS "[listener s]\naddress = [::]:587\n"
	                 "role = submission\ntls = no\n",
	     NULL, "role submission needs tls"},
	    {AUTHD CERTS "[listener s]\naddress = [::]:465\n"
	                 "role = submissions\ntls = may\n",
	     NULL, "tls may makes no sense"},
	    {AUTHD "[listener a]\naddress = 127.0.0.1:25\nrole = mx\n"
	           "[listener b]\naddress = 127.0.0.1:25\nrole = mx\n",
	     NULL, "[listener b] same address as [listener a]"},
	    {AUTHD "[listener a]\naddress = 127.0.0.1:25\nrole = relay\n", NULL,
	     "(expected one of: mx, submission, submissions)"},
	};

	run_settings(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_settings_listener_tls(void **state)
{
	struct dirmx_config *cfg =
	    parse_ok(AUTHD "[listener a]\naddress = 127.0.0.1\nrole = mx\n");

	assert_int_equal(cfg->listeners[0].tls, SETTINGS_TLS_NONE);
	assert_string_equal(cfg->listeners[0].name, "a");
	assert_int_equal(cfg->listeners[0].line, 3);
	assert_int_equal(cfg->listeners[0].address.port, 0);
	dirmx_config_deinit(&cfg);
	cfg = parse_ok(AUTHD CERTS "[listener a]\naddress = [::1]:25\n"
	                           "role = mx\n[listener s]\naddress = "
	                           "[::1]:587\nrole = submission\n");
	assert_int_equal(cfg->listener_count, 2);
	assert_int_equal(cfg->listeners[0].tls, SETTINGS_TLS_MAY);
	assert_int_equal(cfg->listeners[1].tls, SETTINGS_TLS_REQUIRED);
	assert_int_equal(cfg->listeners[1].role, SETTINGS_ROLE_SUBMISSION);
	assert_string_equal(cfg->listeners[1].address.host, "::1");
	assert_int_equal(cfg->listeners[1].address.port, 587);
	dirmx_config_deinit(&cfg);
}

static void test_settings_files(void **state)
{
	const char *src = getenv("DIRMX_SOURCE_DIR");
	struct config_errors e = {0};
	struct dirmx_config *cfg = NULL;
	char *path;

	path = alloc_printf("%s/deploy/dirmx.conf.sample",
	                    src != NULL ? src : "../..");
	if (settings_load(path, &cfg, &e) < 0)
		config_errors_print(&e, stderr);
	assert_non_null(cfg);
	assert_int_equal(e.count, 0);
	assert_string_equal(cfg->path, path);
	dirmx_config_deinit(&cfg);
	free(path);

	assert_int_equal(settings_load("/nonexistent/dirmx.conf", &cfg, &e),
	                 -1);
	assert_null(cfg);
	assert_int_equal(e.count, 1);
	assert_non_null(strstr(e.msgs[0], "/nonexistent/dirmx.conf: cannot "
	                                  "open"));
	config_errors_clear(&e);
	assert_int_equal(settings_load("/", &cfg, &e), -1);
	assert_non_null(strstr(e.msgs[0], "not a regular file"));
	config_errors_clear(&e);
}

/* The text of section name in the sample: from its "[name" header (the
 * first, commented or not) to the next header. */
static char *sample_section(const char *text, const char *name)
{
	char *head = alloc_printf("\n[%s", name);
	const char *p = strstr(text, head), *end;

	free(head);
	if (p == NULL)
		return NULL;
	end = p + 1;
	for (;;) {
		end = strstr(end, "\n[");
		if (end == NULL || strncmp(end + 2, name, strlen(name)) != 0)
			break;
		end += 2; /* another [listener ...]: same section */
	}
	return end != NULL ? alloc_strndup(p, (size_t)(end - p))
	                   : alloc_strdup(p);
}

/* Every setting of the table is in the sample, in its section, and one
 * shown commented out with a value shows its default. */
static void test_sample_documents_everything(void **state)
{
	const char *src = getenv("DIRMX_SOURCE_DIR");
	char *path = alloc_printf("%s/deploy/dirmx.conf.sample",
	                          src != NULL ? src : "../..");
	FILE *f = fopen(path, "r");
	char *text = alloc_zero(256 * 1024);
	size_t n;
	unsigned missing = 0;

	(void)state;
	assert_non_null(f);
	n = fread(text, 1, 256 * 1024 - 1, f);
	fclose(f);
	text[n] = '\0';
	for (const struct config_section *sec = settings_table.sections;
	     sec->name != NULL; sec++) {
		char *body = sample_section(text, sec->name);

		if (body == NULL) {
			printf("sample: no [%s] section\n", sec->name);
			missing++;
			continue;
		}
		for (const struct config_setting *st = sec->settings;
		     st->name != NULL; st++) {
			char *set = alloc_printf("\n%s = ", st->name);
			char *shown = alloc_printf("\n#%s = ", st->name);
			char *dflt =
			    st->default_value != NULL
			        ? alloc_printf("\n#%s = %s\n", st->name,
			                       st->default_value)
			        : NULL;

			if (strstr(body, set) == NULL &&
			    strstr(body, shown) == NULL) {
				printf("sample: [%s] %s is not documented\n",
				       sec->name, st->name);
				missing++;
			} else if (dflt != NULL && strstr(body, set) == NULL &&
			           strstr(body, dflt) == NULL) {
				printf("sample: [%s] %s: not shown with its "
				       "default %s\n",
				       sec->name, st->name, st->default_value);
				missing++;
			}
			free(set);
			free(shown);
			free(dflt);
		}
		free(body);
	}
	free(text);
	free(path);
	assert_int_equal(missing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sample_documents_everything),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_syntax),
	    cmocka_unit_test(test_named_sections),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_settings_defaults),
	    cmocka_unit_test(test_settings_checks),
	    cmocka_unit_test(test_settings_listener_tls),
	    cmocka_unit_test(test_settings_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
