/*
 * test-climit - per-client connection limits: concurrency, the one-minute
 * rate window, IPv6 masked to a prefix, v4-mapped clients, and entries
 * that go away once idle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "climit.h"

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_concurrency(void **state)
{
	struct climit *c = climit_new(3, 0, 64);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
	unsigned open;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(climit_open(c, SA(a), 0, &open), CLIMIT_OK);
	assert_int_equal(climit_open(c, SA(a), 0, &open), CLIMIT_TOO_MANY);
	assert_int_equal(open, 3);
	/* another client is not affected */
	assert_int_equal(climit_open(c, SA(b), 0, &open), CLIMIT_OK);
	climit_close(c, SA(a), 1);
	assert_int_equal(climit_open(c, SA(a), 2, &open), CLIMIT_OK);
	/* all closed: no rate limit, nothing kept */
	for (int i = 0; i < 3; i++)
		climit_close(c, SA(a), 3);
	climit_close(c, SA(b), 3);
	assert_int_equal(climit_entries(c), 0);
	/* closing what was never counted changes nothing */
	climit_close(c, SA(a), 4);
	climit_deinit(&c);
	assert_null(c);
}

static void test_rate(void **state)
{
	struct climit *c = climit_new(0, 5, 64);
	struct sockaddr_storage a = addr("2001:db8::1");
	unsigned open;

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(climit_open(c, SA(a), 1000 + i, &open),
		                 CLIMIT_OK);
		climit_close(c, SA(a), 1000 + i);
	}
	assert_int_equal(climit_open(c, SA(a), 30000, &open), CLIMIT_TOO_FAST);
	/* the entry is kept while its window runs */
	assert_int_equal(climit_entries(c), 1);
	/* a new window */
	assert_int_equal(climit_open(c, SA(a), 61000, &open), CLIMIT_OK);
	climit_close(c, SA(a), 62000);
	climit_deinit(&c);
}

static void test_ipv6_prefix(void **state)
{
	struct climit *c = climit_new(2, 0, 64);
	struct sockaddr_storage a = addr("2001:db8:1:2::1"),
	                        b = addr("2001:db8:1:2:ffff::9"),
	                        other = addr("2001:db8:1:3::1"),
	                        m1 = addr("::ffff:192.0.2.7"),
	                        m2 = addr("::ffff:192.0.2.8"),
	                        v4 = addr("192.0.2.7");
	unsigned open;

	(void)state;
	/* two addresses of one /64 are one client */
	assert_int_equal(climit_open(c, SA(a), 0, &open), CLIMIT_OK);
	assert_int_equal(climit_open(c, SA(b), 0, &open), CLIMIT_OK);
	assert_int_equal(climit_open(c, SA(a), 0, &open), CLIMIT_TOO_MANY);
	assert_int_equal(climit_open(c, SA(other), 0, &open), CLIMIT_OK);
	/* v4-mapped: the IPv4 client itself, never masked to /64 */
	assert_int_equal(climit_open(c, SA(m1), 0, &open), CLIMIT_OK);
	assert_int_equal(climit_open(c, SA(m2), 0, &open), CLIMIT_OK);
	assert_int_equal(climit_open(c, SA(v4), 0, &open), CLIMIT_OK);
	assert_int_equal(climit_open(c, SA(m1), 0, &open), CLIMIT_TOO_MANY);
	climit_deinit(&c);
}

static void test_many_clients(void **state)
{
	struct climit *c = climit_new(1, 0, 128);
	unsigned open;

	(void)state;
	for (unsigned i = 0; i < 5000; i++) {
		struct sockaddr_in s4 = {.sin_family = AF_INET};

		s4.sin_addr.s_addr = htonl(0x0a000000u + i);
		assert_int_equal(
		    climit_open(c, (struct sockaddr *)&s4, i, &open),
		    CLIMIT_OK);
	}
	assert_int_equal(climit_entries(c), 5000);
	for (unsigned i = 0; i < 5000; i++) {
		struct sockaddr_in s4 = {.sin_family = AF_INET};

		s4.sin_addr.s_addr = htonl(0x0a000000u + i);
		assert_int_equal(
		    climit_open(c, (struct sockaddr *)&s4, i, &open),
		    CLIMIT_TOO_MANY);
		climit_close(c, (struct sockaddr *)&s4, i);
	}
	assert_int_equal(climit_entries(c), 0);
	climit_deinit(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrency),
	    cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_ipv6_prefix),
	    cmocka_unit_test(test_many_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
