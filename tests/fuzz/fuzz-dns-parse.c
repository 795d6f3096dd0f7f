/*
 * fuzz-dns-parse - dns_parse_response() on hostile DNS responses.
 *
 * Input: one byte choosing the query type (A, AAAA, MX, SRV), then the
 * response packet. The corpus holds real dnsmasq answers captured through
 * tests/lab (dirmxlab.Dnsmasq.query) plus crafted broken ones. Checks the
 * invariants a caller relies on besides "no crash": DNS_OK has records,
 * every name is a printable string ending in '.', and the minimum TTL is
 * really the minimum.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= DNS_NAME_TEXT_MAX || name[len - 1] != '.')
		abort();
	for (size_t i = 0; i < len; i++) {
		if (name[i] <= ' ' || name[i] > '~')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dns_type types[] = {DNS_TYPE_A, DNS_TYPE_AAAA,
	                                      DNS_TYPE_MX, DNS_TYPE_SRV};
	struct dns_result res;
	enum dns_status status;

	if (size < 1)
		return 0;
	status =
	    dns_parse_response(data + 1, size - 1, types[data[0] % 4], &res);
	if (status != res.status || (status == DNS_OK) != (res.count > 0))
		abort();
	if (status != DNS_OK && res.reason == NULL)
		abort();
	for (size_t i = 0; i < res.count; i++) {
		uint32_t ttl = 0;

		switch (res.type) {
		case DNS_TYPE_SRV:
			check_name(res.srv[i].target);
			ttl = res.srv[i].ttl;
			break;
		case DNS_TYPE_MX:
			check_name(res.mx[i].exchange);
			ttl = res.mx[i].ttl;
			break;
		default:
			ttl = res.addrs[i].ttl;
			break;
		}
		if (ttl < res.ttl || ttl > 0x7fffffffU)
			abort();
	}
	dns_result_clear(&res);
	return 0;
}
