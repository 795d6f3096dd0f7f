/*
 * authcheck_principal - which directory account a Kerberos login is
 * (authcheck_kerberos(), for SMTP AUTH GSSAPI: authd/server_sasl.c).
 *
 * The ticket proved a principal, name@REALM (Cyrus leaves the realm out
 * when it is the service's own). Only the service's own realm maps to a
 * login name: on AD, sAMAccountName = name, or userPrincipalName =
 * name@REALM (AD matches UPNs without regard to case); on other
 * directories the account filter with name. A principal of another realm
 * (a trusting forest) maps on AD by its exact userPrincipalName only,
 * elsewhere to nothing: alice@OTHER.REALM is not our alice. A principal
 * with an instance (host/x, alice/admin) is never a mail user.
 *
 * Then as for a password check: a disabled or locked account is refused,
 * a failure counts against the client (authcheck_guard.c), and a success
 * makes the client familiar to the account.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "dirmap.h"
#include "ldfilter.h"
#include "log.h"
#include "sbuf.h"

/* The search filter for principal, or NULL when it maps to no account. */
static char *principal_filter(const struct authcheck *ac, const char *principal,
                              const char *realm)
{
	const char *at = strrchr(principal, '@');
	size_t name_len =
	    at != NULL ? (size_t)(at - principal) : strlen(principal);
	bool own =
	    at == NULL || (realm != NULL && strcasecmp(at + 1, realm) == 0);
	struct sbuf *f;
	char *filter = NULL, *name;
	const char *error;

	if (name_len == 0 || memchr(principal, '/', name_len) != NULL)
		return NULL;
	if (!ac->opts.ad) {
		if (!own)
			return NULL;
		name = alloc_strndup(principal, name_len);
		if (ldfilter_expand(ac->filter, name, name_len, &filter,
		                    &error) < 0)
			filter = NULL;
		free(name);
		return filter;
	}
	f = sbuf_new(4096);
	sbuf_append_str(f, "(&(objectClass=user)(|(userPrincipalName=");
	ldfilter_escape(principal, name_len, f);
	sbuf_append_str(f, "@");
	if (at != NULL)
		ldfilter_escape(at + 1, strlen(at + 1), f);
	else if (realm != NULL)
		ldfilter_escape(realm, strlen(realm), f);
	sbuf_append_str(f, ")");
	if (own) {
		sbuf_append_str(f, "(sAMAccountName=");
		ldfilter_escape(principal, name_len, f);
		sbuf_append_str(f, ")");
	}
	sbuf_append_str(f, "))");
	filter = sbuf_steal(f, NULL);
	sbuf_deinit(&f);
	return filter;
}

struct authcheck_req *authcheck_kerberos(struct authcheck *ac,
                                         const char *principal,
                                         const char *realm, const char *why,
                                         const char *client, authcheck_cb *cb,
                                         void *ctx)
{
	struct authcheck_req *r = authcheck_req_new(
	    ac, REQ_PRINCIPAL, principal != NULL ? principal : "-", cb, ctx);

	r->client = client != NULL ? alloc_strdup(client) : NULL;
	if (principal == NULL) {
		authcheck_fail(r, why != NULL ? why : "SASL exchange failed",
		               false);
		return r;
	}
	r->filter = principal_filter(ac, principal, realm);
	if (r->filter == NULL) {
		authcheck_fail(r, "principal of another realm or an instance",
		               false);
		return r;
	}
	authcheck_account_search(r);
	return r;
}

void authcheck_principal_found(struct authcheck_req *r,
                               const struct dirmap_account *acct)
{
	if (acct->blocked != NULL) {
		log_info("authcheck",
		         "event=auth_refused user=\"%s\" mech=kerberos "
		         "reason=\"%s\"",
		         r->user, acct->blocked);
		authcheck_req_finish(r, LOOKUP_NOTFOUND,
		                     "authentication failed");
		return;
	}
	if (r->client != NULL)
		authcheck_familiar_seen(r);
	log_info("authcheck",
	         "event=auth_ok mech=kerberos principal=\"%s\" account=\"%s\" "
	         "dn=\"%s\" client=%s",
	         r->user, r->account, r->dn,
	         r->client != NULL ? r->client : "-");
	authcheck_req_finish(r, LOOKUP_OK, NULL);
}
