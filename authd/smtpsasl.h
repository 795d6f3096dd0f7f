/*
 * smtpsasl.h - the server side of Kerberos SMTP AUTH (GSSAPI, RFC 4752;
 * GSS-SPNEGO) with Cyrus SASL, for authd.
 *
 * routerd relays each SMTP AUTH step to authd (authproto.txt, SASL) and
 * authd runs the exchange here: only authd reads the service's keytab
 * (smtpkeytab.h), handed to the GSSAPI library with
 * krb5_gss_register_acceptor_identity() and to Cyrus's plugin as its
 * "keytab" option. No SASL security layer is ever negotiated (maxssf 0):
 * the SMTP session has TLS, and a layer inside it would be one more thing
 * routerd would have to carry.
 *
 * Mechanisms: smtp_auth_mechanisms (default PLAIN LOGIN, plus GSSAPI when
 * smtp_keytab is set). PLAIN and LOGIN stay authcheck's (a bind with the
 * password); only the multi-step ones run here.
 *
 * An exchange is synchronous: the GSSAPI acceptor reads the keytab and the
 * replay cache, and never talks to the KDC. Results:
 *   SMTPSASL_CONTINUE  send out to the client and wait for its next step
 *   SMTPSASL_DONE      authenticated: user is the client's principal
 *                      (Cyrus leaves out the realm when it is the
 *                      service's own)
 *   SMTPSASL_REFUSED   bad, expired or replayed ticket, a ticket for
 *                      another service, a malformed step
 *   SMTPSASL_TEMPFAIL  our side cannot run it (keytab unreadable now)
 * why is a short, static reason for logs (never a token).
 */
#ifndef DIRMX_SMTPSASL_H
#define DIRMX_SMTPSASL_H

#include <stdbool.h>
#include <stddef.h>

#include "smtpkeytab.h"

struct smtpsasl_options {
	const char *keytab;       /* NULL: no Kerberos mechanisms */
	const char *service;      /* "smtp/host[@REALM]" */
	const char *const *mechs; /* offered; n_mechs 0: the default */
	size_t n_mechs;
};

enum smtpsasl_status {
	SMTPSASL_CONTINUE,
	SMTPSASL_DONE,
	SMTPSASL_REFUSED,
	SMTPSASL_TEMPFAIL,
};

struct smtpsasl_result {
	enum smtpsasl_status status;
	const unsigned char *out; /* CONTINUE: the challenge (may be empty) */
	size_t out_len;
	const char *user; /* DONE */
	const char *why;  /* REFUSED / TEMPFAIL */
};

struct smtpsasl;
struct smtpsasl_exch;

/* NULL with *error_r (malloc'ed) when a Kerberos mechanism is asked for
 * and the keytab cannot be read or has no key for the service. */
struct smtpsasl *smtpsasl_new(const struct smtpsasl_options *o, char **error_r);
void smtpsasl_deinit(struct smtpsasl **s);

/* The mechanisms offered, in configuration order. */
size_t smtpsasl_mechs(const struct smtpsasl *s, const char *const **mechs_r);
/* mech is offered and is one of the multi-step ones run here. */
bool smtpsasl_runs(const struct smtpsasl *s, const char *mech);
/* The service principal and its realm (NULL without a keytab), and the
 * keytab's keys for it. */
const char *smtpsasl_service(const struct smtpsasl *s);
const struct smtpkeytab *smtpsasl_keytab(const struct smtpsasl *s);

/* Start an exchange (in NULL: no initial response). NULL when it cannot
 * even start (*r says why); otherwise the exchange, whose first result is
 * in *r. r's pointers are valid until the next call on the exchange. */
struct smtpsasl_exch *smtpsasl_start(struct smtpsasl *s, const char *mech,
                                     const void *in, size_t len,
                                     struct smtpsasl_result *r);
void smtpsasl_step(struct smtpsasl_exch *x, const void *in, size_t len,
                   struct smtpsasl_result *r);
void smtpsasl_exch_deinit(struct smtpsasl_exch **x);

/* Cyrus's base64 (sasl_encode64 / sasl_decode64) into malloc'ed
 * buffers; -1 for input that is not base64 or too long. */
int smtpsasl_b64_decode(const char *in, size_t len, unsigned char **out_r,
                        size_t *out_len_r);
char *smtpsasl_b64_encode(const unsigned char *in, size_t len);

#endif
