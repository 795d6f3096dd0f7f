/*
 * authc_verbs - the requests routerd makes of authd: LOOKUP, AUTH and
 * SENDERS, each built from its arguments and started by authc.c.
 *
 * A LOOKUP asking what one in flight asks (authc_merge.c: same address,
 * context and sender) joins that one instead of going out.
 */
#include "authc.h"

#include "authc_private.h"
#include "authproto.h"

struct authc_req *authc_lookup_from(struct authc *c, const char *addr,
                                    const char *context, const char *user,
                                    const char *from, authc_lookup_cb *cb,
                                    void *cb_context)
{
	struct authc_req *r;
	struct authproto_msg *m;

	if (user != NULL)
		from = NULL; /* the account is who sends */
	r = authc_merge_find(c->merge, addr, context, user, from);
	if (r != NULL)
		return authc_req_join(r, cb, cb_context);
	r = authc_req_new(c, AUTHPROTO_LOOKUP, cb_context, &m);
	r->cb.lookup = cb;
	authproto_msg_add_str(m, "addr", addr);
	authproto_msg_add_str(m, "context", context);
	if (user != NULL)
		authproto_msg_add_str(m, "user", user);
	if (from != NULL)
		authproto_msg_add_str(m, "from", from);
	r = authc_req_start(r, m);
	if (r->state == REQ_QUEUED || r->state == REQ_SENT)
		authc_merge_add(c->merge, addr, context, user, from, r,
		                &r->merge);
	return r;
}

struct authc_req *authc_lookup(struct authc *c, const char *addr,
                               const char *context, const char *user,
                               authc_lookup_cb *cb, void *cb_context)
{
	return authc_lookup_from(c, addr, context, user, NULL, cb, cb_context);
}

struct authc_req *authc_auth(struct authc *c, const char *mech,
                             const char *user, const char *password,
                             const char *client_ip, authc_auth_cb *cb,
                             void *cb_context)
{
	struct authproto_msg *m;
	struct authc_req *r = authc_req_new(c, AUTHPROTO_AUTH, cb_context, &m);

	r->cb.auth = cb;
	authproto_msg_add_str(m, "mech", mech);
	authproto_msg_add_str(m, "user", user);
	authproto_msg_add_str(m, "pass", password);
	if (client_ip != NULL)
		authproto_msg_add_str(m, "client", client_ip);
	return authc_req_start(r, m);
}

static struct authc_req *senders(struct authc *c, const char *key,
                                 const char *value, authc_senders_cb *cb,
                                 void *cb_context)
{
	struct authproto_msg *m;
	struct authc_req *r =
	    authc_req_new(c, AUTHPROTO_SENDERS, cb_context, &m);

	r->cb.senders = cb;
	authproto_msg_add_str(m, key, value);
	return authc_req_start(r, m);
}

struct authc_req *authc_senders(struct authc *c, const char *user,
                                authc_senders_cb *cb, void *cb_context)
{
	return senders(c, "user", user, cb, cb_context);
}

struct authc_req *authc_senders_from(struct authc *c, const char *from,
                                     authc_senders_cb *cb, void *cb_context)
{
	return senders(c, "from", from, cb, cb_context);
}
