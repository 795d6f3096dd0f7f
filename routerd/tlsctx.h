/*
 * tlsctx.h - what a TLS server session is started with: the certificate
 * credentials and the priority cache, built once and shared by reference.
 *
 * GnuTLS keeps a bare pointer to the credentials of every session that
 * uses them (gnutls_credentials_set takes no reference), so credentials
 * may be freed only when no session that started TLS with them is left.
 * A tlsctx counts its users: the listeners hold one reference to the
 * current context, every io that starts server TLS with it takes another
 * (io_start_tls) and drops it in io_free(). A reload (SIGHUP) builds a
 * new context and drops the listeners' reference to the old one, which
 * is freed when its last session ends.
 *
 * The priority cache is built here, once per context, never per
 * connection; %SERVER_PRECEDENCE is added to the configured string so the
 * server's cipher order wins.
 *
 * Errors: tlsctx_new() returns -1 with *error_r (static text, or GnuTLS's)
 * and *errpos_r (where a bad priority string went wrong, or NULL). One
 * event loop uses a context: the count is not atomic.
 */
#ifndef DIRMX_TLSCTX_H
#define DIRMX_TLSCTX_H

#include <gnutls/gnutls.h>

struct tlsctx;

/* Load cert and key (PEM) and build the priority cache of priority. */
int tlsctx_new(const char *cert, const char *key, const char *priority,
               struct tlsctx **ctx_r, const char **error_r);
/* A context from credentials and a priority cache built elsewhere; it
 * owns both from now on (for tests, and any other source of keys). */
struct tlsctx *tlsctx_new_from(gnutls_certificate_credentials_t creds,
                               gnutls_priority_t priority);
/* One more user; returns ctx. */
struct tlsctx *tlsctx_ref(struct tlsctx *ctx);
/* One user less; the last one frees. Sets *ctx to NULL; NULL is fine. */
void tlsctx_unref(struct tlsctx **ctx);

gnutls_certificate_credentials_t tlsctx_creds(const struct tlsctx *ctx);
gnutls_priority_t tlsctx_priority(const struct tlsctx *ctx);
/* Users of ctx (tests and logs). */
unsigned tlsctx_refs(const struct tlsctx *ctx);
/* Contexts made and not yet freed in this process (tests and logs). */
unsigned tlsctx_live(void);

#endif
