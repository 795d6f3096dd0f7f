/*
 * ldconn_private.h - shared by ldconn.c (the loop side) and
 * ldconn_setup.c (the setup thread). Not for other modules.
 */
#ifndef DIRMX_LDCONN_PRIVATE_H
#define DIRMX_LDCONN_PRIVATE_H

#include <ldap.h>

#include "ldconn.h"

/*
 * Connect, secure and bind; blocking, every step bounded by
 * o->timeout_ms. Returns the bound handle with a non-blocking socket, or
 * NULL with *error_r set (caller frees it) and *ldap_code_r the LDAP
 * result code of the step that failed (LDAP_OTHER when there was none).
 */
LDAP *ldconn_setup_run(const struct ldconn_options *o, char **error_r,
                       int *ldap_code_r);

#endif
