/*
 * bindfix.h - what to change when a bind to a directory server fails.
 *
 * bindfix_advice() reads the reason a connection setup failed (as ldconn
 * reports it: the step, the LDAP result and the server's or the Kerberos
 * library's diagnostic) and names the fix an administrator would make:
 * "keytab/ccache missing: ...", "clock skew: ...", "TLS CA not trusted:
 * ...", "the DC requires a SASL layer: ...". authd -t --bind prints it
 * under each failed bind.
 *
 * Pure: a static string, or NULL when the reason matches nothing known.
 */
#ifndef DIRMX_BINDFIX_H
#define DIRMX_BINDFIX_H

const char *bindfix_advice(const char *reason);

#endif
