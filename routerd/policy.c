/*
 * policy - the relay decision for one recipient
 *
 * SYNOPSIS
 *	p = policy_new(domains, n, networks, m, &error);
 *	relay_client = policy_client_in_relay_networks(p, peer_sa);
 *	switch (policy_check_rcpt(p, rcpt, authed, relay_client, &r, &e)) ...
 *
 * DESCRIPTION
 *	Pure: no sockets, no clock, no logging. The rules and why they are
 *	what they are live in policy.h. Networks are stored as 16-byte
 *	IPv6 prefixes (IPv4 as v4-mapped) and matched by a linear scan: a
 *	relay_networks list is a handful of entries.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "alloc.h"
#include "buf.h"
#include "str.h"

struct policy_net {
	uint8_t addr[16];
	unsigned int bits; /* 0..128, counted on the mapped form */
};

struct policy {
	char **domains; /* lowercased */
	size_t n_domains;
	struct policy_net *nets;
	size_t n_nets;
};

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};

static bool ascii_ieq(const char *a, const char *b)
{
	return str_eq_case(a, strlen(a), b, strlen(b));
}

/* "addr" or "addr/len", host bits zero. */
static bool parse_net(const char *s, struct policy_net *net_r)
{
	struct buf b;
	const unsigned char *p;
	char tmp[INET6_ADDRSTRLEN + 1];
	uint8_t raw[16];
	uint64_t prefix;
	size_t n, max;
	bool v6;

	buf_init(&b, s, strlen(s));
	n = buf_fetch_until(&b, "/", &p);
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	v6 = memchr(tmp, ':', n) != NULL;
	max = v6 ? 128 : 32;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, raw) != 1)
		return false;
	prefix = max;
	if (buf_consume_char(&b, '/') && !buf_fetch_uint(&b, max, &prefix))
		return false;
	if (buf_remaining(&b) > 0)
		return false;
	/* "/08" would be a second spelling of "/8" */
	if (n + 2 < strlen(s) && s[n + 1] == '0')
		return false;
	if (v6) {
		memcpy(net_r->addr, raw, 16);
		net_r->bits = (unsigned int)prefix;
	} else {
		memcpy(net_r->addr, v4mapped_prefix, 12);
		memcpy(net_r->addr + 12, raw, 4);
		net_r->bits = 96 + (unsigned int)prefix;
	}
	for (unsigned int i = net_r->bits; i < 128; i++)
		if (net_r->addr[i / 8] & (0x80u >> (i % 8)))
			return false;
	return true;
}

static bool net_match(const struct policy_net *net, const uint8_t a[16])
{
	unsigned int full = net->bits / 8, rest = net->bits % 8;

	if (memcmp(net->addr, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net->addr[full] ^ a[full]) & (0xffu << (8 - rest))) == 0;
}

struct policy *policy_new(const char *const *local_domains, size_t n_domains,
                          const char *const *relay_networks, size_t n_networks,
                          const char **error_r)
{
	struct policy *p = alloc_new(struct policy);

	p->domains = alloc_array(n_domains + 1, sizeof(*p->domains));
	for (size_t i = 0; i < n_domains; i++) {
		const char *d = local_domains[i];
		size_t len = strlen(d);

		if (len == 0 || d[len - 1] == '.' || d[0] == '.') {
			*error_r = "a local domain is empty or starts or ends "
			           "with a dot";
			policy_deinit(&p);
			return NULL;
		}
		p->domains[i] = alloc_strdup(d);
		str_lower_ascii(p->domains[i], len);
		p->n_domains++;
	}
	p->nets = alloc_array(n_networks + 1, sizeof(*p->nets));
	for (size_t i = 0; i < n_networks; i++) {
		if (!parse_net(relay_networks[i], &p->nets[i])) {
			*error_r = "a relay network is not an address/prefix "
			           "with the host bits zero";
			policy_deinit(&p);
			return NULL;
		}
		p->n_nets++;
	}
	return p;
}

void policy_deinit(struct policy **pp)
{
	struct policy *p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_domains; i++)
		free(p->domains[i]);
	free(p->domains);
	free(p->nets);
	free(p);
	*pp = NULL;
}

bool policy_is_local_domain(const struct policy *p, const char *domain)
{
	for (size_t i = 0; i < p->n_domains; i++)
		if (ascii_ieq(p->domains[i], domain))
			return true;
	return false;
}

const char *policy_primary_domain(const struct policy *p)
{
	return p->n_domains > 0 ? p->domains[0] : NULL;
}

bool policy_client_in_relay_networks(const struct policy *p,
                                     const struct sockaddr *sa)
{
	uint8_t a[16];

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		memcpy(a, v4mapped_prefix, 12);
		memcpy(a + 12, &sin.sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(a, &sin6.sin6_addr, 16);
	} else {
		return false;
	}
	for (size_t i = 0; i < p->n_nets; i++)
		if (net_match(&p->nets[i], a))
			return true;
	return false;
}

static enum policy_rcpt reject(const char *reason, const char *enhanced,
                               const char **reason_r, const char **enhanced_r)
{
	*reason_r = reason;
	*enhanced_r = enhanced;
	return POLICY_REJECT;
}

enum policy_rcpt policy_check_rcpt(const struct policy *p,
                                   const struct addr *rcpt, bool authenticated,
                                   bool relay_client, const char **reason_r,
                                   const char **enhanced_r)
{
	unsigned int flags = addr_flags(rcpt);
	const char *local = addr_local(rcpt);

	if (addr_is_null(rcpt))
		return reject("The null path is not a recipient", "5.1.3",
		              reason_r, enhanced_r);
	if (flags & ADDR_F_POSTMASTER)
		return POLICY_ACCEPT_LOCAL;
	if (flags & ADDR_F_SOURCE_ROUTE)
		return reject("Source routes are not accepted", "5.1.3",
		              reason_r, enhanced_r);
	/* The parser sets the flags; the scan is a second lock on the same
	   door, so a parser change cannot open a relay. */
	if ((flags & (ADDR_F_PERCENT | ADDR_F_BANG | ADDR_F_AT_IN_LOCAL)) ||
	    strpbrk(local, "%!@") != NULL)
		return reject("Routing characters in the local part are not "
		              "accepted",
		              "5.1.3", reason_r, enhanced_r);
	if ((flags & ADDR_F_DOMAIN_LITERAL) || addr_domain(rcpt)[0] == '[')
		return reject("Domain literals are not accepted", "5.7.1",
		              reason_r, enhanced_r);
	if (addr_domain(rcpt)[0] == '\0')
		return reject("A recipient needs a domain", "5.1.3", reason_r,
		              enhanced_r);
	if (policy_is_local_domain(p, addr_domain(rcpt)))
		return POLICY_ACCEPT_LOCAL;
	if (authenticated || relay_client)
		return POLICY_ACCEPT_RELAY;
	return reject("Relaying denied", "5.7.1", reason_r, enhanced_r);
}

unsigned int policy_reply_code(const char *enhanced)
{
	return strncmp(enhanced, "5.1.", 4) == 0 ? 553 : 550;
}
