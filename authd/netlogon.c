/*
 * netlogon - decode the AD LDAP ping answer; build the ping filter.
 *
 * SYNOPSIS
 *	netlogon_decode(data, len, &info, &error)
 *	netlogon_info_deinit(&info)
 *	netlogon_build_filter(dns_domain, ntver, &filter, &error)
 *
 * DESCRIPTION
 *	NETLOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9) is, in order:
 *	Opcode (2, LE), Sbz (2), Flags (4, LE, DS_FLAG bits), DomainGuid
 *	(16), eight RFC 1035 compressed names (DnsForestName, DnsDomainName,
 *	DnsHostName, NetbiosDomainName, NetbiosComputerName, UserName,
 *	DcSiteName, ClientSiteName), then DcSockAddrSize (1) + DcSockAddr
 *	when NtVersion has 5EX_WITH_IP, then NextClosestSiteName when it has
 *	WITH_CLOSEST_SITE, then NtVersion (4, LE), LmNtToken (2) and
 *	Lm20Token (2), both 0xFFFF.
 *
 *	Because which optional fields appear depends on NtVersion, and
 *	NtVersion comes last, the 8-byte trailer is read first (as Samba's
 *	pull_netlogon_samlogon_response does) and the rest is parsed
 *	forward up to it. Every read goes through buf.h. Compression
 *	pointers may only point strictly before the label sequence that
 *	holds them, which both forbids loops and bounds the work; a jump
 *	count limit is kept as a second guard.
 *
 *	Sbz is not checked (the spec says it MUST be 0; nothing depends on
 *	it). A NextClosestSiteName is also accepted when bytes remain before
 *	the trailer although NtVersion lacks WITH_CLOSEST_SITE, in case a DC
 *	fills the field without setting the bit; anything else left over is
 *	an error.
 */
#include "netlogon.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"

#define NETLOGON_HEADER_SIZE 24 /* Opcode, Sbz, Flags, DomainGuid */
#define NETLOGON_TRAILER_SIZE 8 /* NtVersion, LmNtToken, Lm20Token */
#define NETLOGON_TOKEN 0xffff
#define NAME_WIRE_MAX 255
#define LABEL_MAX 63
#define JUMPS_MAX 64
#define AF_INET_WIRE 2

static bool label_byte_ok(uint8_t c)
{
	return c >= 0x20 && c != 0x7f && c != '.';
}

/*
 * Read the compressed name at *b and advance *b past its in-place part
 * (the labels up to the terminating 0 or the first pointer).
 */
static int read_name(struct buf *b, char **name_r, const char **error_r)
{
	struct buf cur = *b;
	char out[NAME_WIRE_MAX + 1];
	size_t outlen = 0, wire = 1, limit = buf_pos(b);
	unsigned int jumps = 0;
	bool jumped = false;

	for (;;) {
		uint8_t c, lo, label[LABEL_MAX];

		if (!buf_fetch_u8(&cur, &c)) {
			*error_r = "truncated name";
			return -1;
		}
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (!buf_fetch_u8(&cur, &lo)) {
				*error_r = "truncated compression pointer";
				return -1;
			}
			target = ((size_t)(c & 0x3f) << 8) | lo;
			if (!jumped) {
				*b = cur;
				jumped = true;
			}
			if (target >= limit) {
				*error_r = "compression pointer does not "
				           "point backwards";
				return -1;
			}
			if (++jumps > JUMPS_MAX) {
				*error_r = "too many compression pointers";
				return -1;
			}
			limit = target;
			(void)buf_seek(&cur, target);
			continue;
		}
		if ((c & 0xc0) != 0) {
			*error_r = "unsupported label type";
			return -1;
		}
		if (c == 0)
			break;
		wire += (size_t)c + 1;
		if (wire > NAME_WIRE_MAX) {
			*error_r = "name longer than 255 bytes";
			return -1;
		}
		if (!buf_fetch_bytes(&cur, label, c)) {
			*error_r = "truncated label";
			return -1;
		}
		for (size_t i = 0; i < c; i++) {
			if (!label_byte_ok(label[i])) {
				*error_r = "invalid byte in name";
				return -1;
			}
		}
		/* wire <= 255 keeps outlen + 1 + c below sizeof(out). */
		if (outlen > 0)
			out[outlen++] = '.';
		memcpy(out + outlen, label, c);
		outlen += c;
	}
	if (!jumped)
		*b = cur;
	*name_r = alloc_strndup(out, outlen);
	return 0;
}

static bool opcode_ok(uint16_t op)
{
	return op == NETLOGON_OP_SAM_LOGON_RESPONSE_EX ||
	       op == NETLOGON_OP_SAM_PAUSE_RESPONSE_EX ||
	       op == NETLOGON_OP_SAM_USER_UNKNOWN_EX;
}

static int read_sockaddr(struct buf *b, struct netlogon_info *info,
                         const char **error_r)
{
	uint8_t size, raw[255], addr[4];
	uint16_t family, port;
	struct buf sa;

	if (!buf_fetch_u8(b, &size) || !buf_fetch_bytes(b, raw, size)) {
		*error_r = "truncated DcSockAddr";
		return -1;
	}
	/* SOCKADDR_IN: family (LE), port, address (network order), zero. */
	buf_init(&sa, raw, size);
	if (buf_fetch_le16(&sa, &family) && family == AF_INET_WIRE &&
	    buf_fetch_be16(&sa, &port) && buf_fetch_bytes(&sa, addr, 4)) {
		memcpy(info->dc_ipv4, addr, sizeof(addr));
		info->dc_ipv4_present = true;
	}
	return 0;
}

int netlogon_decode(const void *data, size_t len, struct netlogon_info **info_r,
                    const char **error_r)
{
	struct netlogon_info *info;
	struct buf b, t;
	uint16_t sbz, lmnt, lm20;
	char **names[8];
	size_t i;

	*info_r = NULL;
	if (data == NULL ||
	    len < NETLOGON_HEADER_SIZE + 8 + NETLOGON_TRAILER_SIZE) {
		*error_r = "netlogon response too short";
		return -1;
	}
	info = alloc_new(struct netlogon_info);

	buf_init(&t, data, len);
	if (!buf_seek(&t, len - NETLOGON_TRAILER_SIZE) ||
	    !buf_fetch_le32(&t, &info->nt_version) ||
	    !buf_fetch_le16(&t, &lmnt) || !buf_fetch_le16(&t, &lm20)) {
		*error_r = "truncated trailer";
		goto fail;
	}
	if (lmnt != NETLOGON_TOKEN || lm20 != NETLOGON_TOKEN) {
		*error_r = "LmNtToken/Lm20Token are not 0xFFFF";
		goto fail;
	}
	if ((info->nt_version & NETLOGON_NT_VERSION_5EX) == 0) {
		*error_r = "NtVersion is not 5EX: not a "
		           "NETLOGON_SAM_LOGON_RESPONSE_EX";
		goto fail;
	}

	/* Everything but the trailer, which was read above. */
	buf_init(&b, data, len - NETLOGON_TRAILER_SIZE);
	if (!buf_fetch_le16(&b, &info->opcode) || !buf_fetch_le16(&b, &sbz) ||
	    !buf_fetch_le32(&b, &info->flags) ||
	    !buf_fetch_bytes(&b, info->domain_guid,
	                     sizeof(info->domain_guid))) {
		*error_r = "truncated header";
		goto fail;
	}
	if (!opcode_ok(info->opcode)) {
		*error_r = "unexpected opcode";
		goto fail;
	}

	names[0] = &info->dns_forest;
	names[1] = &info->dns_domain;
	names[2] = &info->dns_host;
	names[3] = &info->netbios_domain;
	names[4] = &info->netbios_computer;
	names[5] = &info->user_name;
	names[6] = &info->dc_site;
	names[7] = &info->client_site;
	for (i = 0; i < 8; i++) {
		if (read_name(&b, names[i], error_r) < 0)
			goto fail;
	}
	if ((info->nt_version & NETLOGON_NT_VERSION_5EX_WITH_IP) != 0 &&
	    read_sockaddr(&b, info, error_r) < 0)
		goto fail;
	if ((info->nt_version & NETLOGON_NT_VERSION_WITH_CLOSEST_SITE) != 0 ||
	    buf_remaining(&b) > 0) {
		if (read_name(&b, &info->next_closest_site, error_r) < 0)
			goto fail;
	}
	if (buf_remaining(&b) > 0) {
		*error_r = "unexpected bytes before the NtVersion trailer";
		goto fail;
	}
	*info_r = info;
	return 0;
fail:
	netlogon_info_deinit(&info);
	return -1;
}

void netlogon_info_deinit(struct netlogon_info **info)
{
	struct netlogon_info *p = *info;

	if (p == NULL)
		return;
	*info = NULL;
	free(p->dns_forest);
	free(p->dns_domain);
	free(p->dns_host);
	free(p->netbios_domain);
	free(p->netbios_computer);
	free(p->user_name);
	free(p->dc_site);
	free(p->client_site);
	free(p->next_closest_site);
	free(p);
}

/* RFC 4515 valueencoding: escape the specials, controls and non-ASCII. */
static bool filter_escape(struct sbuf *out, const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0';
	     p++) {
		bool ok;

		if (*p == '*' || *p == '(' || *p == ')' || *p == '\\' ||
		    *p < 0x20 || *p >= 0x7f)
			ok = sbuf_printf(out, "\\%02x", *p);
		else
			ok = sbuf_append(out, p, 1);
		if (!ok)
			return false;
	}
	return true;
}

int netlogon_build_filter(const char *dns_domain, uint32_t ntver,
                          char **filter_r, const char **error_r)
{
	struct sbuf *out;
	bool ok;

	*filter_r = NULL;
	if (dns_domain == NULL || dns_domain[0] == '\0' ||
	    strlen(dns_domain) > NAME_WIRE_MAX) {
		*error_r = "LDAP ping needs a DNS domain of 1 to 255 bytes";
		return -1;
	}
	/* 255 * 3 escaped bytes plus the fixed parts fit easily. */
	out = sbuf_new(1024);
	ok = sbuf_append_str(out, "(&(DnsDomain=") &&
	     filter_escape(out, dns_domain) &&
	     sbuf_printf(out, ")(NtVer=\\%02x\\%02x\\%02x\\%02x))",
	                 ntver & 0xff, (ntver >> 8) & 0xff,
	                 (ntver >> 16) & 0xff, (ntver >> 24) & 0xff);
	if (!ok) {
		sbuf_deinit(&out);
		*error_r = "LDAP ping filter too long";
		return -1;
	}
	*filter_r = sbuf_steal(out, NULL);
	sbuf_deinit(&out);
	return 0;
}
