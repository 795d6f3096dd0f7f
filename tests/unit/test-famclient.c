/*
 * test-famclient - familiar clients: the /64 rule for IPv6, the age limit,
 * the bounds per account and in accounts, and the text form read back
 * (strictly: a malformed file adds nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "famclient.h"
#include "sbuf.h"

#define DAY 86400ULL
#define T0 1800000000ULL
#define DN "CN=Pia,CN=Users,DC=ad,DC=dirmx,DC=test"

static void test_prefix(void **state)
{
	char p[FAMCLIENT_PREFIX_MAX];

	(void)state;
	famclient_prefix("192.0.2.7", p);
	assert_string_equal(p, "192.0.2.7");
	famclient_prefix("2001:db8:1:2:aaaa:bbbb:cccc:dddd", p);
	assert_string_equal(p, "2001:db8:1:2::/64");
	famclient_prefix("::ffff:192.0.2.7", p);
	assert_string_equal(p, "::ffff:192.0.2.7");
}

static void test_familiar(void **state)
{
	struct famclient *fc = famclient_new(14 * DAY, 100);

	(void)state;
	assert_false(famclient_is_familiar(fc, DN, "192.0.2.7", T0));
	assert_true(famclient_seen(fc, DN, "192.0.2.7", T0));
	/* The same client again within the hour: nothing worth saving. */
	assert_false(famclient_seen(fc, DN, "192.0.2.7", T0 + 60));
	assert_true(famclient_seen(fc, DN, "192.0.2.7", T0 + 3600));
	/* Case of the DN does not matter; the address does. */
	assert_true(famclient_is_familiar(fc,
	                                  "cn=pia,cn=users,dc=ad,dc=dirmx,"
	                                  "dc=test",
	                                  "192.0.2.7", T0 + DAY));
	assert_false(famclient_is_familiar(fc, DN, "192.0.2.8", T0 + DAY));
	assert_false(famclient_is_familiar(fc, DN, NULL, T0 + DAY));
	assert_false(famclient_is_familiar(fc, "CN=Other", "192.0.2.7", T0));
	/* 14 days after the last success: no longer. */
	assert_true(famclient_is_familiar(fc, DN, "192.0.2.7",
	                                  T0 + 3600 + 14 * DAY - 1));
	assert_false(
	    famclient_is_familiar(fc, DN, "192.0.2.7", T0 + 3600 + 14 * DAY));
	/* IPv6: the whole /64 is one client. */
	famclient_seen(fc, DN, "2001:db8:1:2::10", T0);
	assert_true(famclient_is_familiar(fc, DN, "2001:db8:1:2:ffff::1", T0));
	assert_false(famclient_is_familiar(fc, DN, "2001:db8:1:3::10", T0));
	famclient_deinit(&fc);
	assert_null(fc);
}

static void test_bounds(void **state)
{
	struct famclient *fc = famclient_new(14 * DAY, 3);
	struct famclient_entry e[FAMCLIENT_PER_ACCOUNT + 2];
	char addr[32];

	(void)state;
	/* Per account: the oldest prefix goes. */
	for (unsigned i = 0; i < FAMCLIENT_PER_ACCOUNT + 2; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%u", i + 1);
		famclient_seen(fc, DN, addr, T0 + i);
	}
	assert_int_equal(famclient_list(fc, DN, T0 + 100, e, 2),
	                 FAMCLIENT_PER_ACCOUNT);
	assert_string_equal(e[0].prefix, "192.0.2.10");
	assert_int_equal(e[0].last_ok_s, T0 + 9);
	assert_string_equal(e[1].prefix, "192.0.2.9");
	assert_false(famclient_is_familiar(fc, DN, "192.0.2.1", T0 + 100));
	assert_false(famclient_is_familiar(fc, DN, "192.0.2.2", T0 + 100));
	assert_true(famclient_is_familiar(fc, DN, "192.0.2.3", T0 + 100));
	/* In accounts: the one whose last success is oldest goes. */
	famclient_seen(fc, "CN=a", "192.0.2.1", T0 + 20);
	famclient_seen(fc, "CN=b", "192.0.2.1", T0 + 30);
	assert_int_equal(famclient_accounts(fc), 3);
	famclient_seen(fc, DN, "192.0.2.3", T0 + 40); /* DN is newest now */
	famclient_seen(fc, "CN=c", "192.0.2.1", T0 + 50);
	assert_int_equal(famclient_accounts(fc), 3);
	assert_false(famclient_is_familiar(fc, "CN=a", "192.0.2.1", T0 + 60));
	assert_true(famclient_is_familiar(fc, "CN=b", "192.0.2.1", T0 + 60));
	assert_true(famclient_is_familiar(fc, DN, "192.0.2.3", T0 + 60));
	famclient_deinit(&fc);
	/* Off: nothing kept, nobody familiar. */
	fc = famclient_new(14 * DAY, 0);
	assert_false(famclient_seen(fc, DN, "192.0.2.1", T0));
	assert_false(famclient_is_familiar(fc, DN, "192.0.2.1", T0));
	famclient_deinit(&fc);
}

static void test_text_round_trip(void **state)
{
	struct famclient *fc = famclient_new(14 * DAY, 100), *back;
	struct sbuf *out = sbuf_new(1 << 20);
	const char *error = NULL;
	const char *odd = "CN=Zoë 100%,OU=a b,DC=x";

	(void)state;
	famclient_seen(fc, DN, "192.0.2.7", T0);
	famclient_seen(fc, odd, "2001:db8::1", T0 + 5);
	famclient_seen(fc, "CN=old", "192.0.2.9", T0 - 20 * DAY);
	assert_true(famclient_format(fc, T0 + 10, out));
	/* The stale entry is not written. */
	assert_null(strstr(sbuf_data(out), "cn=old"));
	assert_non_null(
	    strstr(sbuf_data(out), "cn=zo%C3%AB%20100%25,ou=a%20b"));
	back = famclient_new(14 * DAY, 100);
	assert_int_equal(famclient_parse(back, sbuf_data(out), sbuf_len(out),
	                                 T0 + 10, &error),
	                 2);
	assert_true(famclient_is_familiar(back, DN, "192.0.2.7", T0 + 10));
	assert_true(famclient_is_familiar(back, odd, "2001:db8::99", T0 + 10));
	/* Read 14 days later: nothing is familiar any more. */
	famclient_deinit(&back);
	back = famclient_new(14 * DAY, 100);
	assert_int_equal(famclient_parse(back, sbuf_data(out), sbuf_len(out),
	                                 T0 + 15 * DAY, &error),
	                 2);
	assert_int_equal(famclient_accounts(back), 0);
	famclient_deinit(&back);
	sbuf_deinit(&out);
	famclient_deinit(&fc);
}

static void test_parse_strict(void **state)
{
	static const char *const bad[] = {
	    "",
	    "dirmx-familiar-clients 2\n",
	    "dirmx-familiar-clients 1\n1800000000 192.0.2.1 CN=a", /* no LF */
	    "dirmx-familiar-clients 1\n1800000000 192.0.2.1\n",    /* no DN */
	    "dirmx-familiar-clients 1\nx 192.0.2.1 CN=a\n",        /* time */
	    "dirmx-familiar-clients 1\n1800000000  192.0.2.1 CN=a\n", /* 2 sp */
	    "dirmx-familiar-clients 1\n1800000000 192.0.2.1 CN=a b\n",
	    "dirmx-familiar-clients 1\n1800000000 192.0.2.1 CN=%2g\n",
	    "dirmx-familiar-clients 1\n1800000000 192.0.2.1 CN=%00\n",
	    "dirmx-familiar-clients 1\n1800000000 192.0.2.1 CN=%2\n",
	    "dirmx-familiar-clients 1\n1800000000 1 CN=a\n\n",
	};
	const char *good = "dirmx-familiar-clients 1\n"
	                   "1800000000 192.0.2.1 CN=a\n"
	                   "1800000000 192.0.2.2 CN=a%20b\n";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct famclient *fc = famclient_new(14 * DAY, 100);
		const char *error = NULL;

		if (famclient_parse(fc, bad[i], strlen(bad[i]), T0, &error) !=
		        -1 ||
		    error == NULL || famclient_accounts(fc) != 0)
			fail_msg("bad[%zu] accepted", i);
		famclient_deinit(&fc);
	}
	{
		struct famclient *fc = famclient_new(14 * DAY, 100);
		const char *error = NULL;

		assert_int_equal(
		    famclient_parse(fc, good, strlen(good), T0, &error), 2);
		assert_true(
		    famclient_is_familiar(fc, "CN=a b", "192.0.2.2", T0));
		famclient_deinit(&fc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix),
	    cmocka_unit_test(test_familiar),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_text_round_trip),
	    cmocka_unit_test(test_parse_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
