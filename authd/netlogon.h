/*
 * netlogon.h - the AD "LDAP ping" answer (NETLOGON_SAM_LOGON_RESPONSE_EX).
 *
 * Contract:
 * - netlogon_decode() parses the value of the Netlogon attribute that a DC
 *   returns to an LDAP ping (MS-ADTS 6.3.1.9, 6.3.3), whether it came over
 *   CLDAP (see cldap.h) or an LDAP search. The input is untrusted; every
 *   malformed input gives -1 with a static *error_r, never a crash.
 * - Which optional fields are present (DcSockAddr, NextClosestSiteName) is
 *   read from the NtVersion in the fixed trailer at the end of the
 *   structure, as Samba does. The whole value must be consumed: bytes
 *   between the last field and the trailer are an error ("trailing
 *   garbage is not tolerated"), because the structure has no length of its
 *   own to skip them by.
 * - Names are returned as NUL-terminated dotted strings ("" for an empty
 *   name), decompressed per RFC 1035 4.1.4 with pointers relative to the
 *   start of this value. Pointers must point strictly backwards; labels
 *   are <= 63 bytes, names <= 255 bytes in wire form; a label holding
 *   NUL, '.', or another control character is rejected.
 * - Ownership: *info_r and every string in it belong to the caller, freed
 *   together by netlogon_info_deinit(), which sets the pointer to NULL.
 * - Pure: no I/O, no logging.
 */
#ifndef DIRMX_NETLOGON_H
#define DIRMX_NETLOGON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes (MS-ADTS 6.3.1.3) accepted by netlogon_decode(). */
#define NETLOGON_OP_SAM_LOGON_RESPONSE_EX 23
#define NETLOGON_OP_SAM_PAUSE_RESPONSE_EX 24
#define NETLOGON_OP_SAM_USER_UNKNOWN_EX 25

/* DS_FLAG bits of netlogon_info.flags (MS-ADTS 6.3.1.2). */
#define NETLOGON_DS_PDC 0x00000001u
#define NETLOGON_DS_GC 0x00000004u
#define NETLOGON_DS_LDAP 0x00000008u
#define NETLOGON_DS_DS 0x00000010u
#define NETLOGON_DS_KDC 0x00000020u
#define NETLOGON_DS_TIMESERV 0x00000040u
/* The client is in the DC's site (or the site closest to it). */
#define NETLOGON_DS_CLOSEST 0x00000080u
#define NETLOGON_DS_WRITABLE 0x00000100u
#define NETLOGON_DS_GOOD_TIMESERV 0x00000200u
#define NETLOGON_DS_NDNC 0x00000400u
#define NETLOGON_DS_SELECT_SECRET_DOMAIN_6 0x00000800u
#define NETLOGON_DS_FULL_SECRET_DOMAIN_6 0x00001000u
#define NETLOGON_DS_WS 0x00002000u
#define NETLOGON_DS_DS_8 0x00004000u
#define NETLOGON_DS_DS_9 0x00008000u
#define NETLOGON_DS_DS_10 0x00010000u
#define NETLOGON_DS_KEY_LIST 0x00020000u
#define NETLOGON_DS_DNS_CONTROLLER 0x20000000u
#define NETLOGON_DS_DNS_DOMAIN 0x40000000u
#define NETLOGON_DS_DNS_FOREST 0x80000000u

/* NETLOGON_NT_VERSION bits (MS-ADTS 6.3.1.1), for requests and replies. */
#define NETLOGON_NT_VERSION_1 0x00000001u
#define NETLOGON_NT_VERSION_5 0x00000002u
#define NETLOGON_NT_VERSION_5EX 0x00000004u
#define NETLOGON_NT_VERSION_5EX_WITH_IP 0x00000008u
#define NETLOGON_NT_VERSION_WITH_CLOSEST_SITE 0x00000010u
#define NETLOGON_NT_VERSION_AVOID_NT4EMUL 0x01000000u
/* What authd asks for: 5 | 5EX | WITH_CLOSEST_SITE, i.e. \16\00\00\00. */
#define NETLOGON_NT_VERSION_PING 0x00000016u

struct netlogon_info {
	uint16_t opcode;         /* NETLOGON_OP_* */
	uint32_t flags;          /* NETLOGON_DS_* */
	uint8_t domain_guid[16]; /* as on the wire (MS-DTYP GUID layout) */
	char *dns_forest;
	char *dns_domain;
	char *dns_host;
	char *netbios_domain;
	char *netbios_computer;
	char *user_name;
	char *dc_site;
	char *client_site;
	/* NULL unless present (NtVersion has WITH_CLOSEST_SITE, or a name
	 * fills the space before the trailer: see netlogon.c). */
	char *next_closest_site;
	/* DcSockAddr, when NtVersion has 5EX_WITH_IP and it is AF_INET. */
	bool dc_ipv4_present;
	uint8_t dc_ipv4[4];  /* network order */
	uint32_t nt_version; /* NETLOGON_NT_VERSION_* of the reply */
};

int netlogon_decode(const void *data, size_t len, struct netlogon_info **info_r,
                    const char **error_r);
void netlogon_info_deinit(struct netlogon_info **info);

/*
 * The LDAP ping filter for an LDAP (TCP) search of the root DSE:
 * "(&(DnsDomain=<dns_domain>)(NtVer=\XX\XX\XX\XX))", the domain escaped
 * per RFC 4515 and ntver as four little-endian bytes. *filter_r is the
 * caller's (free()). -1 when dns_domain is NULL, empty or over 255 bytes.
 */
int netlogon_build_filter(const char *dns_domain, uint32_t ntver,
                          char **filter_r, const char **error_r);

#endif
