/*
 * test-received - the Received: field (routerd/received.c): RFC 3848 and
 * RFC 6531 protocol names for every combination, and the Postfix-style
 * TLS clause.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "received.h"
#include "sbuf.h"

struct proto_case {
	bool ehlo, tls, auth, utf8;
	const char *want;
};

static const struct proto_case proto_cases[] = {
    {false, false, false, false, "SMTP"},
    {true, false, false, false, "ESMTP"},
    {true, false, true, false, "ESMTPA"},
    {true, true, false, false, "ESMTPS"},
    {true, true, true, false, "ESMTPSA"},
    {true, false, false, true, "UTF8SMTP"},
    {true, false, true, true, "UTF8SMTPA"},
    {true, true, false, true, "UTF8SMTPS"},
    {true, true, true, true, "UTF8SMTPSA"},
    /* HELO after STARTTLS: STARTTLS was an ESMTP extension. */
    {false, true, false, false, "ESMTPS"},
};

static void test_protocol(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(proto_cases) / sizeof(proto_cases[0]);
	     i++) {
		const struct proto_case *c = &proto_cases[i];

		assert_string_equal(
		    received_protocol(c->ehlo, c->tls, c->auth, c->utf8),
		    c->want);
	}
}

static char *format(const struct received_info *ri, struct sbuf **b)
{
	*b = sbuf_new(4096);
	assert_true(received_format(*b, ri));
	assert_true(sbuf_append(*b, "", 1));
	return (char *)sbuf_data(*b);
}

static void test_tls(void **state)
{
	struct received_info ri = {
	    .helo = "client.example",
	    .peer_ip = "192.0.2.1",
	    .hostname = "mx.example",
	    .queue_id = "ABC123",
	    .rcpt = "u@example.com",
	    .date = "Sun, 6 Dec 2026 16:00:00 +0000",
	    .ehlo = true,
	    .auth = true,
	    .tls_version = "TLS1.3",
	    .tls_cipher = "TLS_AES_256_GCM_SHA384",
	    .tls_bits = 256,
	};
	struct sbuf *b;

	(void)state;
	assert_string_equal(
	    format(&ri, &b),
	    "Received: from client.example ([192.0.2.1])\r\n"
	    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
	    "(256/256 bits))\r\n"
	    "\tby mx.example (dirmx) with ESMTPSA id ABC123\r\n"
	    "\tfor <u@example.com>;\r\n"
	    "\tSun, 6 Dec 2026 16:00:00 +0000\r\n");
	sbuf_deinit(&b);
}

static void test_plain(void **state)
{
	struct received_info ri = {
	    .peer_ip = "2001:db8::1",
	    .hostname = "mx.example",
	    .queue_id = "Q1",
	    .date = "D",
	    .ehlo = true,
	    .smtputf8 = true,
	};
	struct sbuf *b;

	(void)state;
	assert_string_equal(format(&ri, &b),
	                    "Received: from unknown ([2001:db8::1])\r\n"
	                    "\tby mx.example (dirmx) with UTF8SMTP id Q1;\r\n"
	                    "\tD\r\n");
	sbuf_deinit(&b);
	ri.tls_version = "TLS1.2";
	ri.tls_cipher = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256";
	ri.tls_bits = 128;
	assert_non_null(strstr(format(&ri, &b),
	                       "(using TLSv1.2 with cipher "
	                       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 "
	                       "(128/128 bits))\r\n"
	                       "\tby mx.example (dirmx) with UTF8SMTPS id"));
	sbuf_deinit(&b);
}

static void test_full(void **state)
{
	struct received_info ri = {
	    .peer_ip = "1", .hostname = "h", .queue_id = "q", .date = "d"};
	struct sbuf *b = sbuf_new(20);

	(void)state;
	assert_false(received_format(b, &ri));
	sbuf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_protocol),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
