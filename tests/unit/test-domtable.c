/*
 * test-domtable - accepted domains: the kinds admins write, which
 * declaration wins when a domain is named twice, and the rule text
 * dirmxctl lookup shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "domtable.h"
#include "settings.h"

static void test_parse_type(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		int ret;
		enum domains_kind kind;
	} cases[] = {
	    {"authoritative", 0, DOMAINS_LOCAL},
	    {"Authoritative", 0, DOMAINS_LOCAL},
	    {"local", 0, DOMAINS_LOCAL},
	    {"internalrelay", 0, DOMAINS_INTERNAL_RELAY},
	    {"InternalRelay", 0, DOMAINS_INTERNAL_RELAY},
	    {"internal-relay", 0, DOMAINS_INTERNAL_RELAY},
	    {"internal_relay", 0, DOMAINS_INTERNAL_RELAY},
	    {"Internal Relay", 0, DOMAINS_INTERNAL_RELAY},
	    {"externalrelay", 0, DOMAINS_EXTERNAL_RELAY},
	    {"relay", 0, DOMAINS_EXTERNAL_RELAY},
	    {"route", 0, DOMAINS_EXTERNAL},
	    {"ROUTE", 0, DOMAINS_EXTERNAL},
	    {"", -1, 0},
	    {"internal", -1, 0},
	    {"relays", -1, 0},
	    {"internalrelayinternalrelayinternalrelay", -1, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum domains_kind k = DOMAINS_UNKNOWN;

		assert_int_equal(domtable_parse_type(cases[i].value, &k),
		                 cases[i].ret);
		if (cases[i].ret == 0)
			assert_int_equal(k, cases[i].kind);
	}
}

static void test_split_item(void **state)
{
	(void)state;
	const char *name, *hop;
	size_t len;

	domtable_split_item("example.com [mx.old.example]:25", &name, &len,
	                    &hop);
	assert_int_equal(len, 11);
	assert_memory_equal(name, "example.com", 11);
	assert_string_equal(hop, "[mx.old.example]:25");
	domtable_split_item("example.com", &name, &len, &hop);
	assert_int_equal(len, 11);
	assert_null(hop);
	domtable_split_item("example.com \t host", &name, &len, &hop);
	assert_string_equal(hop, "host");
}

static void test_find(void **state)
{
	(void)state;
	struct domtable *t = domtable_new();
	const struct domtable_entry *e;

	domtable_add(t, "Example.COM.", 12, DOMAINS_LOCAL, NULL,
	             "configuration", true);
	e = domtable_find(t, "example.com");
	assert_non_null(e);
	assert_string_equal(e->name, "example.com");
	assert_ptr_equal(domtable_find(t, "EXAMPLE.com."), e);
	assert_null(domtable_find(t, "sub.example.com"));
	assert_null(domtable_find(t, "example.co"));
	assert_int_equal(domtable_count(t), 1);
	domtable_deinit(&t);
	assert_null(t);
}

/* The configuration's order (domains.c): routes, local, external relay,
 * internal relay; then the directory's objects. */
static void test_precedence(void **state)
{
	(void)state;
	struct domtable *t = domtable_new();
	const struct domtable_entry *e;

	/* A local domain keeps its route as the default hop. */
	domtable_add(t, "a.test", 6, DOMAINS_EXTERNAL, "smtp:[10.0.0.1]:25",
	             "configuration", true);
	domtable_add(t, "a.test", 6, DOMAINS_LOCAL, NULL, "configuration",
	             true);
	e = domtable_find(t, "a.test");
	assert_int_equal(e->kind, DOMAINS_LOCAL);
	assert_string_equal(e->hop, "[10.0.0.1]:25");

	/* An internal relay never takes a route's hop: it has its own. */
	domtable_add(t, "b.test", 6, DOMAINS_EXTERNAL, "[10.0.0.2]", "c", true);
	domtable_add(t, "b.test", 6, DOMAINS_INTERNAL_RELAY, "[10.0.0.3]", "c",
	             true);
	e = domtable_find(t, "b.test");
	assert_int_equal(e->kind, DOMAINS_INTERNAL_RELAY);
	assert_string_equal(e->hop, "[10.0.0.3]");
	/* ... nor a later declaration's, nor a lower kind. */
	domtable_add(t, "b.test", 6, DOMAINS_LOCAL, "[10.0.0.4]",
	             "directory cn=b", false);
	e = domtable_find(t, "b.test");
	assert_int_equal(e->kind, DOMAINS_INTERNAL_RELAY);
	assert_string_equal(e->hop, "[10.0.0.3]");
	assert_string_equal(e->source, "c");

	/* The directory turns an authoritative domain into an internal
	 * relay; without its own hop the domain has none (deferred). */
	domtable_add(t, "c.test", 6, DOMAINS_EXTERNAL, "[10.0.0.5]", "c", true);
	domtable_add(t, "c.test", 6, DOMAINS_LOCAL, NULL, "c", true);
	domtable_add(t, "c.test", 6, DOMAINS_INTERNAL_RELAY, NULL,
	             "directory cn=c", false);
	e = domtable_find(t, "c.test");
	assert_int_equal(e->kind, DOMAINS_INTERNAL_RELAY);
	assert_null(e->hop);
	assert_string_equal(e->source, "directory cn=c");
	assert_false(e->from_config);

	/* Lower kinds never demote; a hop fills a gap. */
	domtable_add(t, "d.test", 6, DOMAINS_LOCAL, NULL, "c", true);
	domtable_add(t, "d.test", 6, DOMAINS_EXTERNAL_RELAY, "[10.0.0.6]",
	             "directory cn=d", false);
	e = domtable_find(t, "d.test");
	assert_int_equal(e->kind, DOMAINS_LOCAL);
	assert_string_equal(e->hop, "[10.0.0.6]");
	assert_string_equal(e->source, "c");
	domtable_deinit(&t);
}

static void test_drop_directory(void **state)
{
	(void)state;
	struct domtable *t = domtable_new();

	domtable_add(t, "conf.test", 9, DOMAINS_LOCAL, NULL, "configuration",
	             true);
	domtable_add(t, "dir1.test", 9, DOMAINS_INTERNAL_RELAY, "h",
	             "directory cn=1", false);
	domtable_add(t, "dir2.test", 9, DOMAINS_EXTERNAL, "h", "directory cn=2",
	             false);
	assert_int_equal(domtable_count(t), 3);
	domtable_drop_directory(t);
	assert_int_equal(domtable_count(t), 1);
	assert_non_null(domtable_find(t, "conf.test"));
	assert_null(domtable_find(t, "dir1.test"));
	domtable_deinit(&t);
}

static void rule_is(const struct domtable_entry *e, bool loaded,
                    enum domains_outcome o, const char *want)
{
	char *r = domtable_rule(e, loaded, o);

	assert_string_equal(r, want);
	free(r);
}

static void test_rule(void **state)
{
	(void)state;
	struct domtable *t = domtable_new();

	domtable_add(t, "auth.test", 9, DOMAINS_LOCAL, NULL, "configuration",
	             true);
	domtable_add(t, "ir.test", 7, DOMAINS_INTERNAL_RELAY,
	             "[old.ir.test]:25", "configuration", true);
	domtable_add(t, "nohop.test", 10, DOMAINS_INTERNAL_RELAY, NULL,
	             "directory cn=nohop,ou=domains", false);
	domtable_add(t, "er.test", 7, DOMAINS_EXTERNAL_RELAY, "[gw.er.test]",
	             "directory cn=er", false);
	domtable_add(t, "er2.test", 8, DOMAINS_EXTERNAL_RELAY, NULL,
	             "configuration", true);
	domtable_add(t, "route.test", 10, DOMAINS_EXTERNAL, "[10.1.1.1]:25",
	             "configuration", true);

	rule_is(domtable_find(t, "auth.test"), true, DOMAINS_FOUND,
	        "authoritative domain (configuration): in the directory, "
	        "routed by its entry");
	rule_is(domtable_find(t, "auth.test"), true, DOMAINS_REFUSED,
	        "authoritative domain (configuration): not deliverable here, "
	        "refused (550 5.1.1)");
	rule_is(domtable_find(t, "ir.test"), true, DOMAINS_RELAYED_UNKNOWN,
	        "internal relay domain (configuration): not in the directory, "
	        "relayed to [old.ir.test]:25");
	rule_is(domtable_find(t, "ir.test"), true, DOMAINS_FOUND,
	        "internal relay domain (configuration): in the directory, "
	        "routed by its entry");
	rule_is(domtable_find(t, "ir.test"), true, DOMAINS_DEFERRED,
	        "internal relay domain (configuration): deferred (451)");
	rule_is(domtable_find(t, "nohop.test"), true, DOMAINS_DEFERRED,
	        "internal relay domain (directory cn=nohop,ou=domains): no "
	        "next hop for the other mail system (dirmxNextHop), unknown "
	        "recipients deferred (451)");
	rule_is(domtable_find(t, "er.test"), true, DOMAINS_NOT_LOOKED_UP,
	        "external relay domain (directory cn=er): not looked up, "
	        "relayed to [gw.er.test]");
	rule_is(domtable_find(t, "er2.test"), true, DOMAINS_NOT_LOOKED_UP,
	        "external relay domain (configuration): not looked up, "
	        "relayed by routerd's route, smarthost or MX");
	rule_is(domtable_find(t, "route.test"), true, DOMAINS_NOT_LOOKED_UP,
	        "external domain (configuration): not ours, relayed to "
	        "[10.1.1.1]:25");
	rule_is(NULL, true, DOMAINS_NOT_LOOKED_UP,
	        "not an accepted domain: delivered by routerd's route, "
	        "smarthost or MX (the relay policy applies)");
	rule_is(NULL, false, DOMAINS_DEFERRED,
	        "accepted domains not loaded from the directory yet: "
	        "deferred (451)");
	domtable_deinit(&t);
}

/* The configuration's side: [routerd] internal_relay_domains and
 * external_relay_domains, checked with file, line and setting. */
static void test_settings(void **state)
{
	static const struct {
		const char *routerd;
		const char *error; /* NULL: valid */
	} cases[] = {
	    {"local_domains = example.com\n"
	     "internal_relay_domains = shared.example [old.example]:25\n"
	     "external_relay_domains = partner.example, gw.example "
	     "[192.0.2.9]\n",
	     NULL},
	    {"internal_relay_domains = shared.example\n",
	     "d.conf:4: [routerd] internal_relay_domains: invalid value "
	     "'shared.example': an internal relay domain needs the host of "
	     "the other mail system"},
	    {"internal_relay_domains = a..b [h]:25\n", "not a domain name"},
	    {"external_relay_domains = p.example [h]:99999\n",
	     "d.conf:4: [routerd] external_relay_domains: invalid"},
	    {"local_domains = Shared.Example\n"
	     "internal_relay_domains = shared.example [h]:25\n",
	     "d.conf: [routerd] shared.example is in both local_domains and "
	     "internal_relay_domains: a domain has one kind"},
	    {"external_relay_domains = x.example\n"
	     "internal_relay_domains = x.example [h]:25\n",
	     "x.example is in both internal_relay_domains and "
	     "external_relay_domains"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = alloc_printf("[authd]\ndomain = example.com\n"
		                          "[routerd]\n%s",
		                          cases[i].routerd);
		struct config_errors e = {0};
		struct dirmx_config *cfg = NULL;
		int ret = settings_parse_buffer(text, strlen(text), "d.conf",
		                                &cfg, &e);

		if (cases[i].error == NULL) {
			if (ret != 0)
				config_errors_print(&e, stderr);
			assert_int_equal(ret, 0);
		} else {
			assert_int_equal(ret, -1);
			assert_true(e.count >= 1);
			if (strstr(e.msgs[0], cases[i].error) == NULL)
				print_message("got: %s\n", e.msgs[0]);
			assert_non_null(strstr(e.msgs[0], cases[i].error));
		}
		config_errors_clear(&e);
		dirmx_config_deinit(&cfg);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_type),
	    cmocka_unit_test(test_split_item),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_drop_directory),
	    cmocka_unit_test(test_rule),
	    cmocka_unit_test(test_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
