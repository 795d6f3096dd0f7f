/*
 * krbmap.h - which directory search finds the account of a Kerberos
 * principal (SMTP AUTH GSSAPI). Pure: no I/O; shared by authcheck (the
 * search) and its unit test.
 *
 * The ticket proved principal: "name" (Cyrus SASL leaves the realm out
 * when it is the service's own) or "name@REALM". realm is the service's
 * own realm (its keytab's). Only the own realm maps to a login name:
 *   AD:    (&(objectClass=user)(|(userPrincipalName=name@REALM)
 *                                 (sAMAccountName=name)))
 *   other: account_filter with name for %s (ldfilter.h)
 * A principal of another realm (a trusting forest) maps on AD by its exact
 * userPrincipalName only (AD matches UPNs without regard to case), and on
 * other directories to nothing: alice@OTHER.REALM is not our alice. A
 * principal with an instance (host/x, alice/admin) or an empty name is
 * never a mail user. Every value is escaped (RFC 4515).
 *
 * Returns 0 with *filter_r (malloc'ed), or -1 with *why_r (static) when
 * the principal maps to no account.
 */
#ifndef DIRMX_KRBMAP_H
#define DIRMX_KRBMAP_H

#include <stdbool.h>

int krbmap_filter(const char *principal, const char *realm, bool ad,
                  const char *account_filter, char **filter_r,
                  const char **why_r);

#endif
