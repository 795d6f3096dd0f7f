/*
 * authc_sasl - multi-step SMTP AUTH relayed to authd (authc.h,
 * authproto.txt: SASL, version 2), and the mechanisms authd offers, read
 * from its HELLO answer.
 *
 * routerd holds no Kerberos credential: it passes the client's base64
 * steps through unchanged and relays authd's challenges. The steps are no
 * password, but they are credentials of a sort (a ticket): the request
 * lines go through the same secret buffers as AUTH's.
 */
#include <string.h>

#include "alloc.h"
#include "authc_private.h"

enum {
	AUTHC_MECH_GSSAPI = 1u << 0,
	AUTHC_MECH_SPNEGO = 1u << 1,
	AUTHC_MECH_PLAIN = 1u << 2,
	AUTHC_MECH_LOGIN = 1u << 3,
	AUTHC_MECH_KNOWN = 1u << 4, /* a HELLO said which */
};

static unsigned mech_bit(const char *mech)
{
	if (strcmp(mech, "PLAIN") == 0)
		return AUTHC_MECH_PLAIN;
	if (strcmp(mech, "LOGIN") == 0)
		return AUTHC_MECH_LOGIN;
	if (strcmp(mech, "GSSAPI") == 0)
		return AUTHC_MECH_GSSAPI;
	if (strcmp(mech, "GSS-SPNEGO") == 0)
		return AUTHC_MECH_SPNEGO;
	return 0;
}

void authc_hello_mechs(struct authc *c, const struct authproto_msg *m)
{
	struct authproto_field f;

	c->mechs = 0;
	for (size_t i = 0; authproto_msg_field(m, i, &f); i++)
		if (strcmp(f.key, "mech") == 0)
			c->mechs |= mech_bit(f.value) | AUTHC_MECH_KNOWN;
}

bool authc_offers(const struct authc *c, const char *mech)
{
	unsigned bit = mech_bit(mech);

	/* Before authd said (never connected, or a version 1 authd): the
	 * password mechanisms every authd checks. */
	if ((c->mechs & AUTHC_MECH_KNOWN) == 0)
		return bit == AUTHC_MECH_PLAIN || bit == AUTHC_MECH_LOGIN;
	return bit != 0 && (c->mechs & bit) != 0;
}

void authc_connect(struct authc *c)
{
	authc_conn_kick(c);
}

static struct authc_req *sasl_req(struct authc *c, uint64_t exch,
                                  const char *mech, const char *resp,
                                  const char *client_ip, authc_auth_cb *cb,
                                  void *cb_context)
{
	struct authproto_msg *m;
	struct authc_req *r = authc_req_new(c, AUTHPROTO_SASL, cb_context, &m);

	r->cb.auth = cb;
	authproto_msg_add_uint(m, "exch", exch);
	if (mech != NULL)
		authproto_msg_add_str(m, "mech", mech);
	if (resp != NULL)
		authproto_msg_add_str(m, "resp", resp);
	if (client_ip != NULL)
		authproto_msg_add_str(m, "client", client_ip);
	return authc_req_start(r, m);
}

struct authc_req *authc_sasl_start(struct authc *c, const char *mech,
                                   const char *resp, const char *client_ip,
                                   authc_auth_cb *cb, void *cb_context,
                                   uint64_t *exch_r)
{
	/* exch= is below 2^32 (the schema): wrap, skipping 0. */
	c->next_exch = c->next_exch % 4294967295u + 1;
	*exch_r = c->next_exch;
	return sasl_req(c, *exch_r, mech, resp, client_ip, cb, cb_context);
}

struct authc_req *authc_sasl_step(struct authc *c, uint64_t exch,
                                  const char *resp, authc_auth_cb *cb,
                                  void *cb_context)
{
	return sasl_req(c, exch, NULL, resp, NULL, cb, cb_context);
}

static void abort_done(const struct authc_auth_result *r, void *ctx)
{
	(void)r;
	(void)ctx;
}

void authc_sasl_abort(struct authc *c, uint64_t exch)
{
	struct authproto_msg *m;
	struct authc_req *r = authc_req_new(c, AUTHPROTO_SASL, NULL, &m);

	r->cb.auth = abort_done;
	authproto_msg_add_uint(m, "exch", exch);
	authproto_msg_add_str(m, "abort", "1");
	authc_req_start(r, m);
}
