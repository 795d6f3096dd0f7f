/*
 * ldprot.h - how a bind to a directory server is protected, and the order
 * in which to try the protections a server may want.
 *
 * A GSSAPI bind is protected either by TLS (StartTLS or LDAPS) or by a SASL
 * security layer that signs and seals everything after the bind, or both.
 * Servers disagree on which they accept: Windows DCs refuse a SASL layer
 * inside TLS (so: TLS, no layer); Samba DCs, under their default "ldap
 * server require strong auth = yes", refuse a bind without a layer even
 * inside TLS and a layer inside TLS as well (so: sign+seal on plain LDAP);
 * slapd takes anything its sasl-secprops allow. A client that asks for one
 * fixed combination works with one kind of server only.
 *
 * Contract:
 * - ldprot_plan() lists what to try, in order: what worked last with this
 *   server first, then TLS without a layer, TLS with a layer, and a layer on
 *   plain LDAP. It never lists a combination without protection for a
 *   mechanism that has a layer (GSSAPI): without TLS, the layer is required.
 *   Mechanisms without a layer (simple, PLAIN, EXTERNAL) get one entry: what
 *   the configuration says.
 * - ldprot_refused() tells a bind failure that means "not with this
 *   protection" (the server wants another: try the next one) from any other
 *   (credentials, Kerberos, network: trying another protection would fail
 *   the same way, and would hide the real error).
 * - The memo remembers, per server URI, what worked; it is used from one
 *   thread only (the event loop) and holds at most LDPROT_MEMO_MAX servers.
 * - Pure: no I/O, no LDAP library calls; strings returned by ldprot_name()
 *   are static; ldprot_plain_uri() returns an allocated string or NULL.
 */
#ifndef DIRMX_LDPROT_H
#define DIRMX_LDPROT_H

#include <stdbool.h>
#include <stddef.h>

enum ldprot {
	LDPROT_CLEAR = 0, /* neither: anonymous, or allow_plaintext_bind */
	LDPROT_TLS,       /* StartTLS or LDAPS, no SASL security layer */
	LDPROT_TLS_SEAL,  /* TLS, and a SASL sign+seal layer inside it */
	LDPROT_SEAL,      /* plain LDAP with a SASL sign+seal layer */
};

#define LDPROT_PLAN_MAX 3
/* The least SASL layer strength that means "sealed" (encrypted): DES's
 * 56; an integrity-only layer is 1. */
#define LDPROT_SEAL_MIN_SSF 56
#define LDPROT_MEMO_MAX 256

/*
 * The protections to try. tls: the configuration asks for TLS; layered:
 * the mechanism can carry a SASL layer (GSSAPI); remembered: what worked
 * last with this server, or -1. Returns how many were written to out.
 */
size_t ldprot_plan(bool tls, bool layered, int remembered,
                   enum ldprot out[LDPROT_PLAN_MAX]);

/* A bind failed with this LDAP result code and diagnostic (may be NULL):
 * true when the server refused the protection, not the credentials. */
bool ldprot_refused(int ldap_code, const char *diag);

/* "starttls", "ldaps", "starttls+sasl-seal", "ldaps+sasl-seal",
 * "sasl-seal" or "none". ldaps: the TLS is LDAPS, not StartTLS. */
const char *ldprot_name(enum ldprot p, bool ldaps);

/*
 * The plain LDAP URI of the same server as an LDAPS one: port 636 (or
 * none) becomes 389, the Global Catalog's 3269 becomes 3268. NULL when
 * the URI is not ldaps:// or names another port (no way to know the
 * server's plain port).
 */
char *ldprot_plain_uri(const char *uri);

struct ldprot_memo;

struct ldprot_memo *ldprot_memo_new(void);
void ldprot_memo_deinit(struct ldprot_memo **memo);
/* What worked last with uri, or -1 when nothing is known. */
int ldprot_memo_get(const struct ldprot_memo *memo, const char *uri);
void ldprot_memo_set(struct ldprot_memo *memo, const char *uri, enum ldprot p);

#endif
