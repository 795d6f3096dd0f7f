/*
 * smtpkeytab.h - the SMTP service's keytab, as authd reads it for Kerberos
 * SMTP AUTH (smtpsasl.h).
 *
 * Only authd reads the keytab (routerd never holds a credential). It is
 * read at start and by authd -t, so that a keytab authd cannot read, or
 * one without a key for the service principal, is a clear error before
 * the first client meets it; and for dirmxctl, which shows the principal
 * and its key versions.
 *
 * The service principal is "service/host" or "service/host@REALM"
 * (smtp_service); a keytab entry matches when its two components are
 * service and host (case-insensitively for the host, as DNS names are)
 * and, when the setting names one, its realm is REALM.
 *
 * Errors: -1 with *error_r a malloc'ed, printable line naming the file
 * (never key material); the caller frees it.
 */
#ifndef DIRMX_SMTPKEYTAB_H
#define DIRMX_SMTPKEYTAB_H

#include <stddef.h>

struct smtpkeytab_key {
	char *principal; /* as the keytab writes it: smtp/host@REALM */
	unsigned kvno;
	char *enctype; /* "aes256-cts-hmac-sha1-96" */
};

struct smtpkeytab {
	char *realm; /* of the first matching key */
	struct smtpkeytab_key *keys;
	size_t n_keys;
};

/* Read keytab (a path) for service; 0 with *kt_r filled, or -1. */
int smtpkeytab_read(const char *keytab, const char *service,
                    struct smtpkeytab *kt_r, char **error_r);
void smtpkeytab_clear(struct smtpkeytab *kt);

#endif
