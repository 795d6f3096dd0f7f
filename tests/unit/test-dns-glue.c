/*
 * test-dns-glue - dns.c's c-ares/libevent glue against a UDP socket the
 * test owns on 127.0.0.1: an answer it sends, silence (TIMEOUT), a bad
 * name (never delivered inside dns_lookup()), cancel and deinit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dns.h"
#include "evloop.h"

struct pkt {
	unsigned char b[512];
	size_t len;
};

static void put16(struct pkt *p, unsigned int v)
{
	assert_true(p->len + 2 <= sizeof(p->b));
	p->b[p->len++] = (unsigned char)(v >> 8);
	p->b[p->len++] = (unsigned char)(v & 0xff);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

struct seen {
	struct event_base *base;
	int calls;
	enum dns_status status;
	size_t count;
	uint32_t ttl;
};

static void seen_cb(const struct dns_result *res, void *context)
{
	struct seen *s = context;

	s->calls++;
	s->status = res->status;
	s->count = res->count;
	s->ttl = res->ttl;
	evloop_break(s->base);
}

static int udp_socket(char server[64])
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	struct timeval tv = {.tv_sec = 2};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	snprintf(server, 64, "127.0.0.1:%u", ntohs(sin.sin_port));
	return fd;
}

static struct dns *glue_init(struct event_base *base, const char *server,
                             unsigned int timeout_ms)
{
	const char *servers[] = {server}, *error = NULL;
	struct dns_options opts = {.servers = servers,
	                           .n_servers = 1,
	                           .timeout_ms = timeout_ms,
	                           .tries = 1};
	struct dns *dns = dns_init(base, &opts, &error);

	assert_non_null(dns);
	return dns;
}

static void test_glue_answer_and_timeout(void **state)
{
	struct event_base *base = evloop_new();
	struct seen s = {.base = base};
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	unsigned char q[512];
	char server[64];
	struct pkt p;
	ssize_t n;
	int fd = udp_socket(server);
	struct dns *dns = glue_init(base, server, 300);

	/* Answer the query c-ares sent, with its ID. */
	assert_non_null(dns_lookup_addr(dns, AF_INET, "dc1.test", seen_cb, &s));
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	assert_true(n > 12 && n < 400);
	/* The query with QR, RA set and one answer appended. */
	memcpy(p.b, q, (size_t)n);
	p.len = (size_t)n;
	p.b[2] |= 0x80;
	p.b[3] |= 0x80;
	p.b[7] = 1;
	put16(&p, 0xc00c);
	put16(&p, 1);
	put16(&p, 1);
	put32(&p, 77);
	put16(&p, 4);
	put32(&p, 0x7f00000b);
	assert_int_equal(
	    sendto(fd, p.b, p.len, 0, (struct sockaddr *)&from, flen),
	    (ssize_t)p.len);
	evloop_run(base);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, DNS_OK);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.ttl, 77);

	/* Silence: TIMEOUT from c-ares' timer. */
	s.calls = 0;
	assert_non_null(dns_lookup_srv(dns, "_x._tcp.test", seen_cb, &s));
	evloop_run(base);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, DNS_TIMEOUT);

	/* A bad name fails, but never inside dns_lookup(). */
	s.calls = 0;
	assert_non_null(dns_lookup_mx(dns, "a..b", seen_cb, &s));
	assert_int_equal(s.calls, 0);
	evloop_run(base);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, DNS_ERROR);

	dns_deinit(&dns);
	assert_null(dns);
	evloop_free(&base);
	close(fd);
}

static void test_glue_cancel_and_deinit(void **state)
{
	struct event_base *base = evloop_new();
	struct seen kept = {.base = base}, gone = {.base = base};
	struct dns_request *r1, *r2, *r3;
	char server[64];
	int fd = udp_socket(server);
	struct dns *dns = glue_init(base, server, 5000);

	r1 = dns_lookup_addr(dns, AF_INET6, "a.test", seen_cb, &gone);
	r2 = dns_lookup_addr(dns, AF_INET, "b.test", seen_cb, &kept);
	r3 = dns_lookup_mx(dns, "bad..name", seen_cb, &gone);
	dns_request_cancel(&r1);
	dns_request_cancel(&r3); /* cancelled while waiting to be delivered */
	assert_null(r1);
	assert_null(r3);
	dns_request_cancel(&r3);
	assert_int_equal(kept.calls, 0);
	dns_deinit(&dns);
	assert_int_equal(kept.calls, 1);
	assert_int_equal(kept.status, DNS_CANCELLED);
	assert_int_equal(gone.calls, 0);
	(void)r2;
	evloop_free(&base);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_glue_answer_and_timeout),
	    cmocka_unit_test(test_glue_cancel_and_deinit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
