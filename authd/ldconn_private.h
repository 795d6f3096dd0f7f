/*
 * ldconn_private.h - shared by ldconn.c (the loop side) and
 * ldconn_setup.c (the setup thread). Not for other modules.
 */
#ifndef DIRMX_LDCONN_PRIVATE_H
#define DIRMX_LDCONN_PRIVATE_H

#include <ldap.h>

#include "ldconn.h"
#include "ldprot.h"

/*
 * Connect, secure and bind; blocking, every step bounded by
 * o->timeout_ms. remembered: the protection that worked last with this
 * server (ldprot_memo_get()), tried first, or -1. Returns the bound handle
 * with a non-blocking socket, *used_r the protection it has and *notes_r
 * the protections the server refused before ("starttls: ...; ...", or
 * NULL), or NULL with *error_r set and *ldap_code_r the LDAP result code
 * of the step that failed (LDAP_OTHER when there was none). The caller
 * frees the strings.
 */
LDAP *ldconn_setup_run(const struct ldconn_options *o, int remembered,
                       enum ldprot *used_r, char **notes_r, char **error_r,
                       int *ldap_code_r);

/* ldconn_live.c: a setup thread is counted in before it starts, with the
 * bound of its run, and counts itself out as its very last step. */
void ldconn_live_enter(unsigned bound_ms);
void ldconn_live_leave(void);

/* ldconn_msg.c: messages from libldap's form to ours. */
/* Fill *e (zeroed by the caller) from a search entry message. */
void ldconn_entry_fill(struct ldconn_entry *e, LDAP *ld, LDAPMessage *msg);
void ldconn_entry_clear(struct ldconn_entry *e);
/* Copies of libldap controls (NULL-terminated list) into *out_r. */
size_t ldconn_controls_copy(LDAPControl **in, struct ldconn_control **out_r);
void ldconn_controls_free(struct ldconn_control *c, size_t n);
/* libldap controls for a request (NULL-terminated, with room for one more
 * control, or NULL when n is 0); free with ldconn_controls_release(). */
LDAPControl **ldconn_controls_make(const struct ldconn_control *c, size_t n);
void ldconn_controls_release(LDAPControl **list);
/* Hand one entry or intermediate response of a streaming search to cb. */
void ldconn_stream_message(LDAP *ld, LDAPMessage *msg, int type,
                           ldconn_stream_cb *cb, void *ctx);

#endif
