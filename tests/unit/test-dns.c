/*
 * test-dns - the DNS answer parser, server parsing and statuses (the
 * c-ares/libevent glue is in test-dns-glue.c).
 *
 * Packets are built by hand so that each hostile shape (truncation,
 * compression loops, rdata past the end) is exactly what the test says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "dns_parse.h"

#define RESP 0x8180 /* QR, RD, RA, NOERROR */

struct pkt {
	unsigned char b[2048];
	size_t len;
};

static void put8(struct pkt *p, unsigned int v)
{
	assert_true(p->len < sizeof(p->b));
	p->b[p->len++] = (unsigned char)v;
}

static void put16(struct pkt *p, unsigned int v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* Dotted labels, then a pointer when ptr >= 0, else the root label. */
static void putname(struct pkt *p, const char *name, int ptr)
{
	while (*name != '\0') {
		size_t n = strcspn(name, ".");

		put8(p, (unsigned int)n);
		for (size_t i = 0; i < n; i++)
			put8(p, (unsigned char)name[i]);
		name += n;
		if (*name == '.')
			name++;
	}
	if (ptr >= 0)
		put16(p, 0xc000 | (unsigned int)ptr);
	else
		put8(p, 0);
}

/* Header and question; the question name is at offset 12. */
static void start(struct pkt *p, unsigned int flags, unsigned int an,
                  unsigned int ns, const char *qname, unsigned int qtype)
{
	p->len = 0;
	put16(p, 0x1234);
	put16(p, flags);
	put16(p, 1);
	put16(p, an);
	put16(p, ns);
	put16(p, 0);
	putname(p, qname, -1);
	put16(p, qtype);
	put16(p, 1);
}

/* Owner is the question name (pointer to 12) when owner is NULL. */
static size_t rr(struct pkt *p, const char *owner, unsigned int type,
                 uint32_t ttl)
{
	size_t rdlen_pos;

	if (owner == NULL)
		put16(p, 0xc00c);
	else
		putname(p, owner, -1);
	put16(p, type);
	put16(p, 1);
	put32(p, ttl);
	rdlen_pos = p->len;
	put16(p, 0);
	return rdlen_pos;
}

static void rr_end(struct pkt *p, size_t rdlen_pos)
{
	size_t n = p->len - rdlen_pos - 2;

	p->b[rdlen_pos] = (unsigned char)(n >> 8);
	p->b[rdlen_pos + 1] = (unsigned char)(n & 0xff);
}

static void srv_rr(struct pkt *p, unsigned int prio, unsigned int weight,
                   unsigned int port, const char *target, int ptr, uint32_t ttl)
{
	size_t pos = rr(p, NULL, 33, ttl);

	put16(p, prio);
	put16(p, weight);
	put16(p, port);
	putname(p, target, ptr);
	rr_end(p, pos);
}

static enum dns_status parse(const struct pkt *p, enum dns_type t,
                             struct dns_result *res)
{
	return dns_parse_response(p->b, p->len, t, res);
}

static void test_srv_compressed(void **state)
{
	struct dns_result res;
	struct pkt p;

	start(&p, RESP, 3, 0, "_ldap._tcp.example.test", 33);
	srv_rr(&p, 0, 100, 389, "dc1", 23, 600); /* 23: "example.test" */
	srv_rr(&p, 10, 50, 3268, "dc2.example.test", -1, 300);
	srv_rr(&p, 10, 5, 389, "", 23, 0x80000000U); /* TTL read as 0 */
	assert_int_equal(parse(&p, DNS_TYPE_SRV, &res), DNS_OK);
	assert_int_equal(res.count, 3);
	assert_int_equal(res.srv[0].priority, 0);
	assert_int_equal(res.srv[0].weight, 100);
	assert_int_equal(res.srv[0].port, 389);
	assert_string_equal(res.srv[0].target, "dc1.example.test.");
	assert_int_equal(res.srv[0].ttl, 600);
	assert_string_equal(res.srv[1].target, "dc2.example.test.");
	assert_int_equal(res.srv[1].port, 3268);
	assert_string_equal(res.srv[2].target, "example.test.");
	assert_int_equal(res.srv[2].ttl, 0);
	assert_int_equal(res.ttl, 0);
	assert_null(res.reason);
	dns_result_clear(&res);
	assert_int_equal(res.count, 0);
}

static void test_srv_dot(void **state)
{
	struct dns_result res;
	struct pkt p;

	start(&p, RESP, 1, 0, "_ldap._tcp.none.test", 33);
	srv_rr(&p, 0, 0, 0, "", -1, 120);
	assert_int_equal(parse(&p, DNS_TYPE_SRV, &res), DNS_NODATA);
	assert_true(res.srv_unavailable);
	assert_int_equal(res.ttl, 120);
	assert_non_null(strstr(res.reason, "not available"));
	dns_result_clear(&res);
}

static void test_mx_and_cname_chain(void **state)
{
	struct dns_result res;
	struct pkt p;
	size_t pos;

	start(&p, RESP, 4, 0, "example.test", 15);
	pos = rr(&p, NULL, 5, 60); /* example.test CNAME mail.example.test */
	putname(&p, "mail", 12);
	rr_end(&p, pos);
	pos = rr(&p, "other.test", 15, 60); /* not on the chain: skipped */
	put16(&p, 1);
	putname(&p, "evil.test", -1);
	rr_end(&p, pos);
	pos = rr(&p, "MAIL.example.test", 16, 60); /* TXT: skipped */
	put8(&p, 0);
	rr_end(&p, pos);
	pos = rr(&p, "mail.example.test", 15, 900);
	put16(&p, 10);
	putname(&p, "mx1", 12);
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_MX, &res), DNS_OK);
	assert_int_equal(res.count, 1);
	assert_int_equal(res.mx[0].preference, 10);
	assert_string_equal(res.mx[0].exchange, "mx1.example.test.");
	assert_int_equal(res.ttl, 900);
	dns_result_clear(&res);
}

static void test_addr(void **state)
{
	static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	struct dns_result res;
	struct pkt p;
	size_t pos;
	char text[INET6_ADDRSTRLEN];

	start(&p, RESP, 2, 0, "dc1.test", 1);
	pos = rr(&p, NULL, 1, 300);
	put32(&p, 0xc0000201);
	rr_end(&p, pos);
	pos = rr(&p, NULL, 1, 200);
	put32(&p, 0x7f00000b);
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_OK);
	assert_int_equal(res.count, 2);
	assert_int_equal(res.addrs[0].family, AF_INET);
	inet_ntop(AF_INET, &res.addrs[0].u.v4, text, sizeof(text));
	assert_string_equal(text, "192.0.2.1");
	assert_int_equal(res.addrs[1].ttl, 200);
	assert_int_equal(res.ttl, 200);
	dns_result_clear(&res);
	/* The same packet read as an answer to AAAA is not ours. */
	assert_int_equal(parse(&p, DNS_TYPE_AAAA, &res), DNS_BADRESP);
	dns_result_clear(&res);

	start(&p, RESP, 1, 0, "dc1.test", 28);
	pos = rr(&p, NULL, 28, 42);
	for (size_t i = 0; i < 16; i++)
		put8(&p, v6[i]);
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_AAAA, &res), DNS_OK);
	assert_int_equal(res.addrs[0].family, AF_INET6);
	assert_memory_equal(&res.addrs[0].u.v6, v6, 16);
	assert_int_equal(res.ttl, 42);
	dns_result_clear(&res);

	/* An A record of 5 bytes is malformed. */
	start(&p, RESP, 1, 0, "dc1.test", 1);
	pos = rr(&p, NULL, 1, 300);
	put32(&p, 1);
	put8(&p, 0);
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_BADRESP);
	assert_int_equal(res.count, 0);
	dns_result_clear(&res);
}

static void test_truncated_prefixes(void **state)
{
	struct dns_result res;
	struct pkt p;

	start(&p, RESP, 2, 0, "_ldap._tcp.example.test", 33);
	srv_rr(&p, 0, 100, 389, "dc1", 23, 600);
	srv_rr(&p, 10, 50, 3268, "dc2.example.test", -1, 300);
	for (size_t n = 0; n < p.len; n++) {
		unsigned char *copy = malloc(n + 1);

		memcpy(copy, p.b, n);
		assert_int_equal(
		    dns_parse_response(copy, n, DNS_TYPE_SRV, &res),
		    DNS_BADRESP);
		assert_int_equal(res.count, 0);
		assert_non_null(res.reason);
		dns_result_clear(&res);
		free(copy);
	}
}

static void test_hostile_names(void **state)
{
	struct dns_result res;
	struct pkt p;
	size_t pos;

	/* Target pointing at itself. */
	start(&p, RESP, 1, 0, "a.test", 15);
	pos = rr(&p, NULL, 15, 1);
	put16(&p, 1);
	put16(&p, 0xc000 | (unsigned int)p.len);
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_MX, &res), DNS_BADRESP);
	dns_result_clear(&res);

	/* Two names pointing at each other (the second jump goes forward). */
	start(&p, RESP, 1, 0, "a.test", 15);
	pos = rr(&p, NULL, 15, 1);
	put16(&p, 1);
	put8(&p, 1);
	put8(&p, 'x');
	put16(&p, 0xc000 | (unsigned int)(p.len + 2));
	put8(&p, 1);
	put8(&p, 'y');
	put16(&p, 0xc000 | (unsigned int)(p.len - 6));
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_MX, &res), DNS_BADRESP);
	dns_result_clear(&res);

	/* Pointer past the end of the packet. */
	start(&p, RESP, 1, 0, "a.test", 15);
	pos = rr(&p, NULL, 15, 1);
	put16(&p, 1);
	put16(&p, 0xc000 | 0x3fff);
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_MX, &res), DNS_BADRESP);
	dns_result_clear(&res);

	/* rdlength beyond the packet. */
	start(&p, RESP, 1, 0, "a.test", 1);
	pos = rr(&p, NULL, 1, 1);
	put32(&p, 1);
	rr_end(&p, pos);
	p.b[pos + 1] = 200;
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_BADRESP);
	dns_result_clear(&res);

	/* The exchange runs past its rdata into the next record. */
	start(&p, RESP, 1, 0, "a.test", 15);
	pos = rr(&p, NULL, 15, 1);
	put16(&p, 1);
	putname(&p, "mx", 12);
	rr_end(&p, pos);
	p.b[pos + 1] = 3;
	assert_int_equal(parse(&p, DNS_TYPE_MX, &res), DNS_BADRESP);
	dns_result_clear(&res);

	/* Odd bytes in labels come back escaped. */
	start(&p, RESP, 1, 0, "a.test", 15);
	pos = rr(&p, NULL, 15, 1);
	put16(&p, 1);
	put8(&p, 4);
	put8(&p, 'a');
	put8(&p, '.');
	put8(&p, 1);
	put8(&p, '\\');
	put8(&p, 0);
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_MX, &res), DNS_OK);
	assert_string_equal(res.mx[0].exchange, "a\\.\\001\\\\.");
	dns_result_clear(&res);
}

static void test_negative(void **state)
{
	struct dns_result res;
	struct pkt p;
	size_t pos;

	start(&p, RESP, 0, 1, "x.test", 1);
	pos = rr(&p, "test", 6, 3600);
	putname(&p, "ns.test", -1);
	putname(&p, "admin.test", -1);
	put32(&p, 1);
	put32(&p, 2);
	put32(&p, 3);
	put32(&p, 4);
	put32(&p, 30); /* minimum */
	rr_end(&p, pos);
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_NODATA);
	assert_int_equal(res.ttl, 30);
	dns_result_clear(&res);
	p.b[3] = 0x83; /* NXDOMAIN */
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_NXDOMAIN);
	assert_int_equal(res.ttl, 30);
	dns_result_clear(&res);

	start(&p, RESP, 0, 0, "x.test", 1);
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_NODATA);
	assert_int_equal(res.ttl, 0);
	p.b[3] = 0x82;
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_SERVFAIL);
	p.b[3] = 0x85;
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_REFUSED);
	p.b[3] = 0x81;
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_ERROR);
	p.b[2] = 0x01; /* a query, not a response */
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_BADRESP);
	p.b[2] = 0x81;
	p.b[3] = 0x80;
	p.b[5] = 2; /* two questions */
	assert_int_equal(parse(&p, DNS_TYPE_A, &res), DNS_BADRESP);
	dns_result_clear(&res);
}

static void test_corpus_file(void **state)
{
	const char *src = getenv("DIRMX_SOURCE_DIR");
	unsigned char data[4096];
	struct dns_result res;
	char path[1024];
	size_t n;
	FILE *f;

	if (src == NULL)
		src = "../..";
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/dns-parse/srv-three",
	         src);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	/* Byte 0 is the fuzzer's type selector; then dnsmasq's answer. */
	assert_int_equal(
	    dns_parse_response(data + 1, n - 1, DNS_TYPE_SRV, &res), DNS_OK);
	assert_int_equal(res.count, 3);
	assert_int_equal(res.ttl, 600);
	for (size_t i = 0; i < res.count; i++)
		assert_non_null(strstr(res.srv[i].target, ".example.test."));
	dns_result_clear(&res);
}

static void test_status_and_type(void **state)
{
	enum dns_type t;

	assert_string_equal(dns_status_str(DNS_OK), "OK");
	assert_string_equal(dns_status_str(DNS_NXDOMAIN), "NXDOMAIN");
	assert_string_equal(dns_status_str(DNS_NODATA), "NODATA");
	assert_string_equal(dns_status_str(DNS_SERVFAIL), "SERVFAIL");
	assert_string_equal(dns_status_str(DNS_REFUSED), "REFUSED");
	assert_string_equal(dns_status_str(DNS_TIMEOUT), "TIMEOUT");
	assert_string_equal(dns_status_str(DNS_BADRESP), "BADRESP");
	assert_string_equal(dns_status_str(DNS_ERROR), "ERROR");
	assert_string_equal(dns_status_str(DNS_CANCELLED), "CANCELLED");
	assert_string_equal(dns_status_str((enum dns_status)99), "UNKNOWN");
	assert_true(dns_status_is_permanent(DNS_NXDOMAIN));
	assert_true(dns_status_is_permanent(DNS_NODATA));
	assert_false(dns_status_is_permanent(DNS_TIMEOUT));
	assert_false(dns_status_is_permanent(DNS_SERVFAIL));
	assert_true(dns_type_parse("srv", &t));
	assert_int_equal(t, DNS_TYPE_SRV);
	assert_true(dns_type_parse("AAAA", &t));
	assert_int_equal(t, DNS_TYPE_AAAA);
	assert_false(dns_type_parse("txt", &t));
	assert_string_equal(dns_type_str(DNS_TYPE_MX), "MX");
}

static void test_server_parse(void **state)
{
	static const struct {
		const char *in;
		int family;
		unsigned int port;
	} good[] = {
	    {"127.0.0.1:5353", AF_INET, 5353},
	    {"127.0.0.1", AF_INET, 53},
	    {"[::1]:53", AF_INET6, 53},
	    {"[::1]", AF_INET6, 53},
	    {"::1", AF_INET6, 53},
	    {"[fe80::1]:65535", AF_INET6, 65535},
	};
	static const char *const bad[] = {
	    "",
	    "localhost",
	    "127.0.0.1:",
	    "127.0.0.1:0",
	    "127.0.0.1:65536",
	    "127.0.0.1:53x",
	    "[::1",
	    "[::1]x",
	    "[127.0.0.1]:53",
	    "1.2.3:53",
	    "::1:53:zz",
	    ":53",
	    "[]:53",
	    "127.0.0.1:-1",
	    "127.0.0.1 :53",
	    "[::1]:",
	};
	struct dns_server s;
	const char *error;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(dns_server_parse(good[i].in, &s, &error), 0);
		assert_int_equal(s.family, good[i].family);
		assert_int_equal(s.port, good[i].port);
	}
	assert_int_equal(dns_server_parse("127.0.0.1:5353", &s, &error), 0);
	assert_int_equal(s.u.v4.s_addr, htonl(0x7f000001));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		assert_int_equal(dns_server_parse(bad[i], &s, &error), -1);
		assert_non_null(error);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_srv_compressed),
	    cmocka_unit_test(test_srv_dot),
	    cmocka_unit_test(test_mx_and_cname_chain),
	    cmocka_unit_test(test_addr),
	    cmocka_unit_test(test_truncated_prefixes),
	    cmocka_unit_test(test_hostile_names),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_corpus_file),
	    cmocka_unit_test(test_status_and_type),
	    cmocka_unit_test(test_server_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
