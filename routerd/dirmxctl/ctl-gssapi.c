/*
 * ctl-gssapi - dirmxctl auth --gssapi: a Kerberos login with the caller's
 * ticket cache (KRB5CCNAME, kinit first), through authd's SASL exchange,
 * as an SMTP client's AUTH GSSAPI would go through routerd. It proves the
 * whole path: the client gets a ticket for the service principal from the
 * KDC, authd accepts it with its keytab, and maps the principal to a
 * directory account (the one send-as is decided for).
 *
 * The client side is Cyrus SASL's GSSAPI plugin; no security layer is
 * asked for (maxssf 0), as over SMTP inside TLS. Nothing of the ticket is
 * printed.
 */
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authproto.h"
#include "config.h"
#include "ctl.h"
#include "settings.h"

struct conv {
	sasl_conn_t *conn;
	const char *error; /* the client side failed: why */
};

static int user_cb(void *ctx, int id, const char **result, unsigned *len)
{
	(void)ctx;
	(void)id;
	*result = ""; /* no authorization identity: the ticket's own */
	if (len != NULL)
		*len = 0;
	return SASL_OK;
}

#define CB(f) ((int (*)(void))(void (*)(void))(f))
static const sasl_callback_t callbacks[] = {
    {SASL_CB_USER, CB(user_cb), NULL},
    {SASL_CB_AUTHNAME, CB(user_cb), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

static struct authproto_msg *step_msg(const char *out, unsigned len,
                                      const char *first_mech)
{
	struct authproto_msg *m = authproto_msg_new_request(AUTHPROTO_SASL, 1);
	char *b64 = alloc_zero((size_t)len / 3 * 4 + 8);
	unsigned n = 0;

	if (len > 0)
		sasl_encode64(out, len, b64, len / 3 * 4 + 8, &n);
	authproto_msg_add_uint(m, "exch", 1);
	if (first_mech != NULL)
		authproto_msg_add_str(m, "mech", first_mech);
	authproto_msg_add_str(m, "resp", b64);
	free(b64);
	return m;
}

/* authd's answer: CONTINUE gets the client's next step. */
static struct authproto_msg *next_step(const struct authproto_msg *ans,
                                       void *ctx)
{
	struct conv *cv = ctx;
	const char *ch = authproto_msg_get(ans, "challenge");
	char *in;
	unsigned n = 0;
	const char *out = NULL;
	unsigned out_len = 0;
	int rc;

	if (authproto_msg_verb(ans) != AUTHPROTO_CONTINUE)
		return NULL;
	in = alloc_zero(strlen(ch) + 4);
	if (sasl_decode64(ch, (unsigned)strlen(ch), in,
	                  (unsigned)strlen(ch) + 4, &n) != SASL_OK) {
		free(in);
		cv->error = "authd's challenge is not base64";
		return NULL;
	}
	rc = sasl_client_step(cv->conn, in, n, NULL, &out, &out_len);
	free(in);
	if (rc != SASL_OK && rc != SASL_CONTINUE) {
		cv->error = sasl_errdetail(cv->conn);
		return NULL;
	}
	return step_msg(out, out_len, NULL);
}

int ctl_auth_gssapi(const struct ctl_context *ctx, const char *sock,
                    const char *service, const char *mech_name)
{
	struct dirmx_config *cfg = NULL;
	struct config_errors errors = {0};
	struct conv cv = {0};
	struct authproto_msg *ans = NULL;
	sasl_security_properties_t props = {0};
	char *svc = NULL, *name, *host;
	const char *out = NULL, *mech = NULL;
	unsigned out_len = 0;
	int ret = 1, rc;

	if (service == NULL) {
		if (settings_load(ctx->config_path, &cfg, &errors) < 0) {
			config_errors_print(&errors, stderr);
			config_errors_clear(&errors);
			return 2;
		}
		svc = settings_smtp_service(cfg);
	} else {
		svc = alloc_strdup(service);
	}
	name = svc;
	host = strchr(svc, '/');
	if (host == NULL) {
		fprintf(stderr, "dirmxctl: %s is not service/host\n", svc);
		ret = 2;
		goto done;
	}
	*host++ = '\0';
	host[strcspn(host, "@")] = '\0';
	if (sasl_client_init(NULL) != SASL_OK ||
	    sasl_client_new(name, host, NULL, NULL, callbacks, 0, &cv.conn) !=
	        SASL_OK) {
		fprintf(stderr, "dirmxctl: Cyrus SASL cannot start\n");
		ret = 3;
		goto done;
	}
	props.max_ssf = 0;
	props.maxbufsize = 0;
	sasl_setprop(cv.conn, SASL_SEC_PROPS, &props);
	rc = sasl_client_start(cv.conn, mech_name, NULL, &out, &out_len, &mech);
	if (rc != SASL_OK && rc != SASL_CONTINUE) {
		printf("no: no ticket for %s/%s (kinit first?): %s\n", name,
		       host, sasl_errdetail(cv.conn));
		goto done;
	}
	if (ctl_authd_converse(ctx, sock, step_msg(out, out_len, mech_name),
	                       next_step, &cv, &ans) < 0) {
		ret = 3;
		goto done;
	}
	if (cv.error != NULL) {
		printf("no: %s\n", cv.error);
	} else if (authproto_msg_verb(ans) == AUTHPROTO_OK) {
		printf("yes: authenticated as %s (%s, %s/%s)\n",
		       authproto_msg_get(ans, "user"), mech_name, name, host);
		ret = 0;
	} else {
		printf("no: %s\n", authproto_msg_get(ans, "reason"));
		ret = authproto_msg_verb(ans) == AUTHPROTO_TEMPFAIL ? 3 : 1;
	}
done:
	authproto_msg_deinit(&ans);
	if (cv.conn != NULL)
		sasl_dispose(&cv.conn);
	free(svc);
	dirmx_config_deinit(&cfg);
	return ret;
}
