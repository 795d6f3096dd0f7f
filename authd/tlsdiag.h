/*
 * tlsdiag.h - say why a TLS connection to a directory server failed.
 *
 * libldap's GnuTLS layer reports a refused certificate only as "(unknown
 * error code)", so a wrong CA and a wrong host name look alike in the log.
 * When a StartTLS or LDAPS setup fails, tlsdiag_explain() makes one more
 * connection of its own with GnuTLS directly (for StartTLS, after sending
 * the StartTLS extended request), verifies the server's certificate
 * against the same CA file and host name, and returns what GnuTLS says
 * ("certificate of dc1.example.com: The certificate is NOT trusted. The
 * certificate issuer is unknown."). Every step is bounded by timeout_ms.
 *
 * Returns an allocated string (free()), or NULL when the handshake and the
 * verification succeed or the server could not be reached at all.
 */
#ifndef DIRMX_TLSDIAG_H
#define DIRMX_TLSDIAG_H

#include <stdbool.h>

char *tlsdiag_explain(const char *host, unsigned port, bool starttls,
                      const char *ca_file, int timeout_ms);

#endif
