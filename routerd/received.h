/*
 * received.h - the Received: field routerd puts in front of every message
 * (RFC 5321 4.4). Pure: no clock, no I/O; the caller passes the date.
 *
 *	Received: from HELO ([IP])
 *		(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256
 *bits)) by HOSTNAME (dirmx) with ESMTPSA id QUEUEID for <RCPT>; DATE
 *
 * The TLS line is written as Postfix writes it, so that tools that read
 * Postfix's headers read ours; it is there only when TLS was used (TLS
 * 1.3 suite names are the same in both; for TLS 1.2 we write GnuTLS's
 * IANA names, TLS_ECDHE_..._WITH_..., where Postfix writes OpenSSL's). The
 * "with" protocol is RFC 3848's (SMTP, ESMTP, ESMTPA, ESMTPS, ESMTPSA),
 * or RFC 6531's (UTF8SMTP, UTF8SMTPA, UTF8SMTPS, UTF8SMTPSA) when the
 * transaction used SMTPUTF8. "for" is written for one recipient only.
 */
#ifndef DIRMX_RECEIVED_H
#define DIRMX_RECEIVED_H

#include <stdbool.h>

struct sbuf;

struct received_info {
	const char *helo; /* NULL: "unknown" */
	const char *peer_ip;
	const char *hostname;
	const char *queue_id;
	const char *rcpt; /* the only recipient, or NULL */
	const char *date; /* RFC 5322 date-time */
	bool ehlo, auth, smtputf8;
	/* TLS in GnuTLS's names ("TLS1.3"), NULL without TLS */
	const char *tls_version;
	const char *tls_cipher;
	unsigned tls_bits;
};

/* The "with" protocol name (static). */
const char *received_protocol(bool ehlo, bool tls, bool auth, bool smtputf8);
/* Append the whole field, CRLF-terminated, to out; false when out is
 * full. */
bool received_format(struct sbuf *out, const struct received_info *ri);

#endif
