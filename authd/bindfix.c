/*
 * bindfix - the fix for a failed bind, from its reason; see bindfix.h.
 *
 * The table is read top to bottom and the first rule whose every word is
 * in the reason (ASCII case ignored) wins, so the specific rules (a
 * Kerberos error inside a "Local error") come before the general ones.
 * The words are what the libraries and servers really say: MIT Kerberos
 * through Cyrus SASL, Samba's and Windows' LDAP servers, slapd, GnuTLS
 * through tlsdiag.c (tests/unit/test-bindfix.c holds the real lines).
 */
#include "bindfix.h"

#include <stddef.h>
#include <string.h>

#include "str.h"

struct rule {
	const char *words[3]; /* all of them, NULL-terminated if fewer */
	const char *advice;
};

static const struct rule rules[] = {
    {{"clock skew", NULL},
     "clock skew: this host's clock and the KDC's differ by more than "
     "Kerberos allows (5 minutes); synchronise both with NTP (on AD, "
     "with the domain controllers)"},
    {{"no kerberos credentials available", NULL},
     "keytab/ccache missing: authd found no Kerberos credentials; check "
     "that [authd] keytab names a keytab readable by authd's user that "
     "holds the service account's key (klist -k FILE), exported for this "
     "realm"},
    {{"keytab", "nonexistent", NULL},
     "keytab/ccache missing: the file [authd] keytab names does not exist "
     "or is empty; export the service account's key into it (AD: "
     "samba-tool domain exportkeytab or ktpass)"},
    {{"keytab", "permission denied", NULL},
     "keytab/ccache missing: authd's user may not read [authd] keytab; "
     "make it readable by authd alone (chown, chmod 600)"},
    {{"decrypt integrity check failed", NULL},
     "the keytab's key is not the account's (any more): export it again "
     "after the account's last password change"},
    {{"key version", NULL},
     "the keytab's key is not the account's (any more): export it again "
     "after the account's last password change"},
    {{"preauthentication failed", NULL},
     "the keytab's key is not the account's (any more): export it again "
     "after the account's last password change"},
    {{"client", "not found in kerberos database", NULL},
     "the keytab's principal is not an account of the realm: export the "
     "key of the service account authd runs as"},
    {{"server", "not found in kerberos database", NULL},
     "the KDC knows no ldap/ principal for this server name: use the "
     "DC's own host name (the SRV target, or servers = with host names, "
     "never IP addresses), as in its servicePrincipalName"},
    {{"cannot find kdc", NULL},
     "no KDC known for the realm: add it to krb5.conf [realms], or let "
     "DNS answer _kerberos._tcp.REALM"},
    {{"cannot contact any kdc", NULL},
     "no KDC answered: check that the KDCs (port 88) are reachable from "
     "this host"},
    {{"sign or seal are required", "not allowed if tls", NULL},
     "the DC requires a SASL layer (sign+seal) and refuses one inside "
     "TLS (Samba's default, ldap server require strong auth = yes), so "
     "only plain LDAP with sign+seal is left: let authd reach the DC's "
     "LDAP port 389 (it binds there with sign+seal, never in clear), or "
     "set ldap server require strong auth = allow_sasl_over_tls in the "
     "DC's smb.conf to bind inside TLS"},
    {{"sign or seal are required", NULL},
     "the DC requires a SASL layer (sign+seal) on this connection: set "
     "tls = none for GSSAPI (the layer protects the connection) or let "
     "authd negotiate with tls = starttls and port 389 reachable"},
    {{"with every protection", NULL},
     "the server accepts no protected GSSAPI bind: neither inside TLS "
     "without a SASL layer nor with a sign+seal layer (slapd: "
     "olcSaslSecProps minssf/maxssf; Samba: ldap server require strong "
     "auth); change its settings so that one of them is allowed"},
    {{"no sasl sign+seal layer", NULL},
     "the server set up no sealing SASL layer (slapd: olcSaslSecProps "
     "maxssf=0, or an integrity-only layer): allow a layer, or use "
     "tls = starttls so that TLS protects the bind"},
    {{"not trusted", NULL},
     "TLS CA not trusted: set [authd] ca_file to the CA that issued the "
     "DC's certificate (or add it to the system's trust store)"},
    {{"does not match", NULL},
     "the DC's certificate is not for the name authd connects to: the "
     "certificate must name the DC's host name (the SRV target or the "
     "host in servers =)"},
    {{"expired", NULL}, "the DC's certificate has expired: renew it on the DC"},
    {{"starttls failed", NULL},
     "StartTLS failed: the server may not offer TLS on this port; fix its "
     "certificate setup, or use tls = ldaps (port 636)"},
    {{"refusing a password bind without tls", NULL},
     "a password bind needs TLS: set tls = starttls or ldaps, or bind "
     "with GSSAPI and a keytab"},
    {{"strong(er) authentication required", NULL},
     "the DC wants a protected bind: for a simple or PLAIN bind set tls = "
     "starttls or ldaps; for GSSAPI, authd adds the SASL layer itself"},
    {{"confidentiality required", NULL},
     "the server requires TLS: set tls = starttls or ldaps"},
    {{"invalid credentials", NULL},
     "wrong bind_dn or password (bind_password_file), or the account is "
     "disabled, locked or expired (AD's data code in the message says "
     "which: 52e password, 533 disabled, 775 locked, 701 expired)"},
    {{"can't contact ldap server", NULL},
     "the server does not answer on this port: check that it runs, the "
     "firewall, and the port (tls = ldaps uses 636)"},
    {{"no answer", NULL},
     "the server accepted the connection but did not answer in time "
     "(timeout): check that it is not overloaded or stopped"},
};

static bool contains_case(const char *hay, const char *needle)
{
	size_t hl = strlen(hay), nl = strlen(needle);

	for (size_t i = 0; nl <= hl && i <= hl - nl; i++)
		if (str_eq_case(hay + i, nl, needle, nl))
			return true;
	return false;
}

const char *bindfix_advice(const char *reason)
{
	if (reason == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		size_t w = 0;

		while (w < 3 && r->words[w] != NULL &&
		       contains_case(reason, r->words[w]))
			w++;
		if (w == 3 || r->words[w] == NULL)
			return r->advice;
	}
	return NULL;
}
