/*
 * authd.h - the directory service, as hooks for the process shell.
 *
 * authd_start() builds the service from the configuration: the resolver,
 * the domain controller locator (dcloc.c), the site discovery (dcping.c)
 * and the pool of bound service connections (ldpool.c). The bind password
 * is read from its file here and never logged.
 */
#ifndef DIRMX_AUTHD_H
#define DIRMX_AUTHD_H

#include <stddef.h>

#include "dcloc.h"
#include "dns.h"
#include "ldconn.h"

struct event_base;
struct dirmx_config;

/* What the daemon and authd -t --bind (bindcheck.c) build from the
 * configuration. Pointers into cfg: valid while cfg is. */
struct authd_options {
	struct dns_options dns;
	struct dcloc_options loc;
	struct ldconn_options conn; /* password and memo: the caller's */
};

/* Fill *o from cfg, and point the Kerberos library at the keytab
 * (KRB5_CLIENT_KTNAME, a memory ccache) when bind = gssapi. */
void authd_setup_options(const struct dirmx_config *cfg,
                         struct authd_options *o);
/* The password in the first line of path (free() it, after wiping);
 * NULL with *error_r (static text) when it cannot be read. */
char *authd_read_secret(const char *path, const char **error_r);

/* Kerberos SMTP AUTH (authd_sasl.c): the SASL server from the
 * configuration (NULL with *error_r, malloc'ed, when the keytab cannot be
 * used); and authd -t's check of the keytab (0 or 1, reported on stdout
 * or stderr). */
struct smtpsasl;
struct smtpsasl *authd_sasl_new(const struct dirmx_config *cfg, char **error_r);
int authd_check(const struct dirmx_config *cfg);

int authd_start(struct event_base *base, const struct dirmx_config *cfg,
                void **state_r);
size_t authd_reload(void *state, const struct dirmx_config *old,
                    const struct dirmx_config *cfg);
void authd_stop(void *state);

#endif
