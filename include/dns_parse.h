/*
 * dns_parse.h - the pure parts of dns.c: DNS responses and server names.
 *
 * No sockets, clock or logging here; both functions read untrusted or
 * configured bytes only through buf.h and are unit-tested and fuzzed.
 *
 * dns_parse_response() reads a complete DNS response (as received over
 * UDP, or over TCP without the length prefix) to a query of class IN for
 * qtype, and always fills *result_r: its status is the return value, and
 * a hostile or malformed packet (truncated, compression loop, rdata past
 * the end, a question that is not ours) gives DNS_BADRESP, never a read
 * outside [data, data + len). The records, the names they point to and
 * nothing else are allocated; dns_result_clear() frees them and leaves an
 * empty result. result_r->name is left NULL for the caller to set;
 * reason strings are static.
 *
 * Answers follow CNAME chains from the question name the way resolvers
 * do: a record counts only when its owner is the question name or the
 * target of a CNAME already followed; records of other types and classes
 * are skipped. Names are returned in master-file text form with a
 * trailing dot; bytes other than letters, digits, '-' and '_' are escaped
 * as \. \\ or \DDD, so a name can be printed or logged as it is.
 */
#ifndef DIRMX_DNS_PARSE_H
#define DIRMX_DNS_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "dns.h"

/* Longest text form of a name: 255 wire bytes, each at most "\DDD". */
#define DNS_NAME_TEXT_MAX 1024

enum dns_status dns_parse_response(const void *data, size_t len,
                                   enum dns_type qtype,
                                   struct dns_result *result_r);
void dns_result_clear(struct dns_result *result);

struct dns_server {
	int family; /* AF_INET or AF_INET6 */
	uint16_t port;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

/*
 * Parse "1.2.3.4", "1.2.3.4:5353", "[::1]", "[::1]:53" or "::1" (a bare
 * IPv6 address has no port). Port 53 when none is given; port 0, names
 * and anything trailing are refused. -1 with a static *error_r on error.
 */
int dns_server_parse(const char *s, struct dns_server *server_r,
                     const char **error_r);

#endif
