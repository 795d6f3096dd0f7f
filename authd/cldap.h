/*
 * cldap.h - the AD "LDAP ping" over UDP (CLDAP), as bytes in and out.
 *
 * Contract:
 * - cldap_encode_ping() builds the one datagram of the ping: a plain LDAPv3
 *   LDAPMessage (no RFC 1798 "user" field; AD and Samba expect and send
 *   this form) holding a SearchRequest of the root DSE: base "", scope
 *   base, deref never, no limits, typesOnly FALSE, filter
 *   (&(DnsDomain=<dns_domain>)(NtVer=<ntver as 4 LE bytes>)), attribute
 *   Netlogon. DER lengths. The filter is built as BER, so the domain needs
 *   no escaping.
 * - cldap_decode_reply() reads one reply datagram: one or more LDAPMessages
 *   with the expected messageID, a SearchResultEntry carrying exactly one
 *   Netlogon value, optionally followed by a SearchResultDone, which must
 *   report success and be the last message. A reply without an entry (a
 *   DC that does not serve the domain answers with only a Done), a wrong
 *   messageID, an unexpected operation, or any malformed BER gives -1 with
 *   a static *error_r. The value is returned undecoded: see netlogon.h.
 * - Ownership: *data_r and *netlogon_r are allocated here and freed by the
 *   caller with free(); on -1 they are NULL.
 * - Pure: no sockets; liblber does the BER work on private copies, so the
 *   caller's buffer is never written and never read past its length.
 */
#ifndef DIRMX_CLDAP_H
#define DIRMX_CLDAP_H

#include <stddef.h>
#include <stdint.h>

/* msgid must be 1..2^31-1; dns_domain 1 to 255 bytes. */
int cldap_encode_ping(int msgid, const char *dns_domain, uint32_t ntver,
                      void **data_r, size_t *len_r, const char **error_r);

int cldap_decode_reply(const void *data, size_t len, int expect_msgid,
                       void **netlogon_r, size_t *len_r, const char **error_r);

#endif
