/*
 * test-metrics - the Prometheus text writer (exact output of counters,
 * gauges and histograms, escaping, the collector order), a grammar check
 * of a rendering full of awkward label values, the bounded top-N label,
 * and the metrics_listen / metrics_allow_remote settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "metrics_topn.h"
#include "sbuf.h"
#include "settings.h"

static const char *const l_reason[] = {"listener", "reason", NULL};
static const struct metrics_family f_refused = {
    "dirmx_test_refused", "Refusals.", METRICS_COUNTER, l_reason};
static const struct metrics_family f_open = {
    "dirmx_test_open", "Open.\nback\\slash", METRICS_GAUGE, NULL};
static const char *const l_dc[] = {"dc", NULL};
static const struct metrics_family f_lat = {
    "dirmx_test_latency_seconds", "Latency.", METRICS_HISTOGRAM, l_dc};

static void collect_a(struct metrics_writer *w, void *ctx)
{
	const char *v1[] = {"mx", "relay_denied"};
	const char *v2[] = {"a\"b\\c\nd", "unknown"};

	metrics_family(w, &f_refused);
	metrics_counter(w, v1, 3);
	metrics_counter(w, v2, 18446744073709551615ULL);
	metrics_one_gauge(w, &f_open, *(double *)ctx);
}

static void collect_b(struct metrics_writer *w, void *ctx)
{
	static const uint64_t bounds[] = {250, 1000, 2500000};
	struct metrics_hist h;
	const char *v[] = {"ldap://dc1:389"};

	metrics_hist_init(&h, bounds, 3);
	metrics_hist_observe(&h, 100);
	metrics_hist_observe(&h, 250);
	metrics_hist_observe(&h, 900);
	metrics_hist_observe(&h, 3000000);
	metrics_family(w, &f_lat);
	metrics_histogram(w, v, &h);
}

static char *render(struct metrics *m)
{
	struct sbuf *b = sbuf_new(1 << 20);
	char *s;

	assert_true(metrics_render(m, b));
	s = sbuf_steal(b, NULL);
	sbuf_deinit(&b);
	return s;
}

static void test_exposition(void **state)
{
	struct metrics *m = metrics_new();
	double open = 2;
	char *s;

	(void)state;
	metrics_add(m, collect_a, &open);
	metrics_add(m, collect_b, NULL);
	s = render(m);
	assert_string_equal(
	    s,
	    "# HELP dirmx_test_refused_total Refusals.\n"
	    "# TYPE dirmx_test_refused_total counter\n"
	    "dirmx_test_refused_total{listener=\"mx\",reason=\"relay_denied\"}"
	    " 3\n"
	    "dirmx_test_refused_total{listener=\"a\\\"b\\\\c\\nd\","
	    "reason=\"unknown\"} 18446744073709551615\n"
	    "# HELP dirmx_test_open Open.\\nback\\\\slash\n"
	    "# TYPE dirmx_test_open gauge\n"
	    "dirmx_test_open 2\n"
	    "# HELP dirmx_test_latency_seconds Latency.\n"
	    "# TYPE dirmx_test_latency_seconds histogram\n"
	    "dirmx_test_latency_seconds_bucket{dc=\"ldap://dc1:389\","
	    "le=\"0.00025\"} 2\n"
	    "dirmx_test_latency_seconds_bucket{dc=\"ldap://dc1:389\","
	    "le=\"0.001\"} 3\n"
	    "dirmx_test_latency_seconds_bucket{dc=\"ldap://dc1:389\","
	    "le=\"2.5\"} 3\n"
	    "dirmx_test_latency_seconds_bucket{dc=\"ldap://dc1:389\","
	    "le=\"+Inf\"} 4\n"
	    "dirmx_test_latency_seconds_sum{dc=\"ldap://dc1:389\"} 3.00125\n"
	    "dirmx_test_latency_seconds_count{dc=\"ldap://dc1:389\"} 4\n");
	free(s);
	metrics_deinit(&m);
	assert_null(m);
}

static void test_gauge_values(void **state)
{
	const double in[] = {0, -3, 0.5, 1e300, 1.0 / 0.0, -1.0 / 0.0};
	const char *want[] = {"0\n",      "-3\n",   "0.5\n",
	                      "1e+300\n", "+Inf\n", "-Inf\n"};

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct sbuf *b = sbuf_new(1024);
		struct metrics *m = metrics_new();
		double v = in[i];
		const char *line;

		metrics_add(m, collect_a, &v);
		assert_true(metrics_render(m, b));
		line = strstr(sbuf_data(b), "\ndirmx_test_open ");
		assert_non_null(line);
		assert_string_equal(line + strlen("\ndirmx_test_open "),
		                    want[i]);
		metrics_deinit(&m);
		sbuf_deinit(&b);
	}
}

/* ---- a grammar check of the text format ------------------------------ */

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':' || (!first && c >= '0' && c <= '9');
}

/* One sample line: name{l="v",...} value; false on any deviation. */
static bool sample_ok(const char *p, const char *end)
{
	if (p == end || !name_char(*p, true))
		return false;
	while (p < end && name_char(*p, false))
		p++;
	if (p < end && *p == '{') {
		p++;
		while (p < end && *p != '}') {
			if (!name_char(*p, true))
				return false;
			while (p < end && name_char(*p, false))
				p++;
			if (end - p < 2 || p[0] != '=' || p[1] != '"')
				return false;
			for (p += 2; p < end && *p != '"'; p++) {
				if (*p == '\n')
					return false;
				if (*p == '\\') {
					p++;
					if (p == end ||
					    (*p != '\\' && *p != '"' &&
					     *p != 'n'))
						return false;
				}
			}
			if (p == end)
				return false;
			p++;
			if (p < end && *p == ',')
				p++;
		}
		if (p == end)
			return false;
		p++;
	}
	if (p == end || *p != ' ')
		return false;
	p++;
	if (p == end)
		return false;
	for (; p < end; p++)
		if (strchr("0123456789.eE+-InfNa", *p) == NULL)
			return false;
	return true;
}

static void collect_awkward(struct metrics_writer *w, void *ctx)
{
	const char *awkward[] = {"",         "\"",     "\\",   "\n\n",
	                         "}\" 1\nx", "é ü 中", "a=b,c"};

	metrics_family(w, &f_refused);
	for (size_t i = 0; i < sizeof(awkward) / sizeof(awkward[0]); i++) {
		const char *v[] = {awkward[i], awkward[(i + 3) % 7]};

		metrics_counter(w, v, i);
	}
}

static void test_grammar(void **state)
{
	struct metrics *m = metrics_new();
	double open = 0.25;
	char *s, *p, *nl;
	size_t samples = 0;

	(void)state;
	metrics_add(m, collect_awkward, NULL);
	metrics_add(m, collect_a, &open);
	metrics_add(m, collect_b, NULL);
	s = render(m);
	for (p = s; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (strncmp(p, "# HELP ", 7) == 0 ||
		    strncmp(p, "# TYPE ", 7) == 0)
			continue;
		if (!sample_ok(p, nl))
			fail_msg("bad line: %.*s", (int)(nl - p), p);
		samples++;
	}
	assert_int_equal(samples, 7 + 2 + 1 + 6);
	free(s);
	metrics_deinit(&m);
}

/* ---- top-N ------------------------------------------------------------ */

static uint64_t series(const struct metrics_topn *t, const char *key,
                       size_t result)
{
	for (size_t i = 0; i < metrics_topn_n(t); i++) {
		const uint64_t *c;
		const char *k = metrics_topn_get(t, i, &c);

		if (strcmp(k, key) == 0)
			return c[result];
	}
	return UINT64_MAX; /* no series */
}

static void test_topn_first_keys(void **state)
{
	struct metrics_topn *t = metrics_topn_new(2, 3);

	(void)state;
	assert_int_equal(metrics_topn_n(t), 1); /* "other" alone */
	metrics_topn_count(t, "a.example", 0, 1);
	metrics_topn_count(t, "b.example", 1, 1);
	metrics_topn_count(t, "a.example", 0, 1);
	metrics_topn_count(t, "c.example", 2, 1);
	metrics_topn_count(t, "a.example", 9, 1); /* no such result: ignored */
	assert_int_equal(metrics_topn_n(t), 3);
	assert_int_equal(series(t, "a.example", 0), 2);
	assert_int_equal(series(t, "b.example", 1), 1);
	assert_int_equal(series(t, "c.example", 2), UINT64_MAX);
	assert_int_equal(series(t, "other", 2), 1);
	metrics_topn_deinit(&t);
	assert_null(t);
}

/* A heavy newcomer takes the weakest series at a re-rank; every counter
 * that stays exposed only grows. */
static void test_topn_rank_monotonic(void **state)
{
	struct metrics_topn *t = metrics_topn_new(2, 1);
	uint64_t other_before;

	(void)state;
	metrics_topn_count(t, "a", 0, 1);
	metrics_topn_count(t, "b", 0, 1);
	for (int i = 0; i < 10; i++)
		metrics_topn_count(t, "a", 0, 1);
	for (int i = 0; i < 3; i++)
		metrics_topn_count(t, "heavy", 0, 1);
	metrics_topn_rank(t);
	/* heavy (3) is not twice b (1)... it is: 3 >= 2 */
	assert_int_equal(series(t, "b", 0), UINT64_MAX);
	assert_int_equal(series(t, "heavy", 0), 0); /* starts at 0 */
	assert_int_equal(series(t, "a", 0), 11);
	other_before = series(t, "other", 0);
	assert_int_equal(other_before, 3);
	metrics_topn_count(t, "heavy", 0, 1);
	metrics_topn_count(t, "b", 0, 1);
	assert_int_equal(series(t, "heavy", 0), 1);
	assert_int_equal(series(t, "other", 0), other_before + 1);
	/* Hysteresis: b (2) is not twice heavy (4); nothing moves. */
	metrics_topn_rank(t);
	assert_int_equal(series(t, "heavy", 0), 1);
	metrics_topn_deinit(&t);
}

/* Endless distinct keys: the candidates stay bounded, the series stay
 * at N + 1, and every event is counted somewhere. */
static void test_topn_bounded(void **state)
{
	struct metrics_topn *t = metrics_topn_new(10, 2);
	char key[32];
	uint64_t total = 0;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "h%d.example", i % 5 == 0 ? 0 : i);
		metrics_topn_count(t, key, (size_t)i % 2, 1);
		if (i % 1000 == 0)
			metrics_topn_rank(t);
	}
	metrics_topn_rank(t);
	assert_true(metrics_topn_n(t) <= 11);
	assert_true(series(t, "h0.example", 0) != UINT64_MAX);
	for (size_t i = 0; i < metrics_topn_n(t); i++) {
		const uint64_t *c;

		(void)metrics_topn_get(t, i, &c);
		total += c[0] + c[1];
	}
	/* Series that lost their place took their counts away: what is
	 * left is at most every event. */
	assert_true(total <= 100000);
	assert_true(series(t, "other", 0) + series(t, "other", 1) > 50000);
	metrics_topn_deinit(&t);
}

/* ---- settings --------------------------------------------------------- */

static int parse(const char *text, struct config_errors *e,
                 struct dirmx_config **cfg_r)
{
	return settings_parse_buffer(text, strlen(text), "d.conf", cfg_r, e);
}

static void test_settings(void **state)
{
	struct config_errors e = {0};
	struct dirmx_config *cfg = NULL;
	static const char *const bad[] = {
	    "[authd]\ndomain = x.example\nmetrics_listen = localhost:9101\n",
	    "[authd]\ndomain = x.example\nmetrics_listen = 127.0.0.1\n",
	    "[authd]\ndomain = x.example\nmetrics_listen = 192.0.2.1:9101\n",
	    "[authd]\ndomain = x.example\n[routerd]\n"
	    "metrics_listen = [2001:db8::1]:9102\n",
	};

	(void)state;
	assert_int_equal(parse("[authd]\ndomain = x.example\n", &e, &cfg), 0);
	assert_null(cfg->authd.metrics_listen.host);
	assert_null(cfg->routerd.metrics_listen.host);
	assert_false(cfg->routerd.metrics_allow_remote);
	dirmx_config_deinit(&cfg);
	assert_int_equal(parse("[authd]\ndomain = x.example\n"
	                       "metrics_listen = 127.0.0.2:9101\n"
	                       "[routerd]\nmetrics_listen = [::1]:9102\n",
	                       &e, &cfg),
	                 0);
	assert_string_equal(cfg->authd.metrics_listen.host, "127.0.0.2");
	assert_int_equal(cfg->authd.metrics_listen.port, 9101);
	assert_string_equal(cfg->routerd.metrics_listen.host, "::1");
	dirmx_config_deinit(&cfg);
	assert_int_equal(parse("[authd]\ndomain = x.example\n"
	                       "metrics_listen = 192.0.2.1:9101\n"
	                       "metrics_allow_remote = yes\n",
	                       &e, &cfg),
	                 0);
	dirmx_config_deinit(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &e, &cfg), -1);
		assert_true(e.count > 0);
		assert_non_null(strstr(e.msgs[0], "metrics_listen"));
		config_errors_clear(&e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exposition),
	    cmocka_unit_test(test_gauge_values),
	    cmocka_unit_test(test_grammar),
	    cmocka_unit_test(test_topn_first_keys),
	    cmocka_unit_test(test_topn_rank_monotonic),
	    cmocka_unit_test(test_topn_bounded),
	    cmocka_unit_test(test_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
