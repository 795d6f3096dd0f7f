/*
 * authcheck_principal - which directory account a Kerberos login is
 * (authcheck_kerberos(), for SMTP AUTH GSSAPI: authd/server_sasl.c).
 *
 * The search that finds the principal's account is krbmap's (krbmap.h).
 *
 * Then as for a password check: a disabled or locked account is refused,
 * a failure counts against the client (authcheck_guard.c), and a success
 * makes the client familiar to the account.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "dirmap.h"
#include "krbmap.h"
#include "log.h"

struct authcheck_req *authcheck_kerberos(struct authcheck *ac,
                                         const char *principal,
                                         const char *realm, const char *why,
                                         const char *client, authcheck_cb *cb,
                                         void *ctx)
{
	struct authcheck_req *r = authcheck_req_new(
	    ac, REQ_PRINCIPAL, principal != NULL ? principal : "-", cb, ctx);
	const char *why_not;

	r->client = client != NULL ? alloc_strdup(client) : NULL;
	if (principal == NULL) {
		authcheck_fail(r, why != NULL ? why : "SASL exchange failed",
		               false);
		return r;
	}
	if (krbmap_filter(principal, realm, ac->opts.ad, ac->filter, &r->filter,
	                  &why_not) < 0) {
		authcheck_fail(r, why_not, false);
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
