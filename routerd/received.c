/*
 * received - the Received: field routerd adds; see received.h.
 */
#include "received.h"

#include <stdio.h>
#include <string.h>

#include "sbuf.h"

const char *received_protocol(bool ehlo, bool tls, bool auth, bool smtputf8)
{
	/* SMTPUTF8 is an ESMTP extension: EHLO is implied. */
	if (smtputf8)
		return tls ? (auth ? "UTF8SMTPSA" : "UTF8SMTPS")
		           : (auth ? "UTF8SMTPA" : "UTF8SMTP");
	if (tls)
		return auth ? "ESMTPSA" : "ESMTPS";
	if (auth)
		return "ESMTPA";
	return ehlo ? "ESMTP" : "SMTP";
}

/* GnuTLS says "TLS1.3", Postfix (OpenSSL) writes "TLSv1.3". */
static void version_name(const char *v, char *out, size_t size)
{
	if (strncmp(v, "TLS", 3) == 0 && v[3] >= '0' && v[3] <= '9')
		snprintf(out, size, "TLSv%s", v + 3);
	else
		snprintf(out, size, "%s", v);
}

bool received_format(struct sbuf *out, const struct received_info *ri)
{
	bool tls = ri->tls_version != NULL;
	char version[32];
	bool ok;

	ok = sbuf_printf(out, "Received: from %s ([%s])\r\n",
	                 ri->helo != NULL ? ri->helo : "unknown", ri->peer_ip);
	if (ok && tls) {
		version_name(ri->tls_version, version, sizeof(version));
		ok = sbuf_printf(
		    out, "\t(using %s with cipher %s (%u/%u bits))\r\n",
		    version,
		    ri->tls_cipher != NULL ? ri->tls_cipher : "unknown",
		    ri->tls_bits, ri->tls_bits);
	}
	if (ok)
		ok = sbuf_printf(
		    out, "\tby %s (dirmx) with %s id %s", ri->hostname,
		    received_protocol(ri->ehlo, tls, ri->auth, ri->smtputf8),
		    ri->queue_id);
	if (ok && ri->rcpt != NULL)
		ok = sbuf_printf(out, "\r\n\tfor <%s>", ri->rcpt);
	if (ok)
		ok = sbuf_printf(out, ";\r\n\t%s\r\n", ri->date);
	return ok;
}
