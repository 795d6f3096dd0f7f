/*
 * smtpsasl - Kerberos SMTP AUTH with Cyrus SASL's server API; see
 * smtpsasl.h.
 *
 * Cyrus keeps its options process-wide and its plugins read them once,
 * in sasl_server_init(): so the keytab and the mechanism list are fixed
 * at authd's start (the settings need a restart to change). libldap has
 * started Cyrus's client side already; the server side lives beside it.
 */
#include "smtpsasl.h"

#include <gssapi/gssapi_krb5.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "sbuf.h"

/* A step in base64 is at most 16 KiB (authproto.txt, SASL resp=). */
#define B64_MAX 16384

struct smtpsasl {
	char **mechs;
	size_t n_mechs;
	char *keytab;      /* NULL: no Kerberos */
	char *service;     /* "smtp/host[@REALM]" */
	char *svc_name;    /* "smtp" */
	char *host;        /* "host" */
	char *cyrus_mechs; /* "GSSAPI GSS-SPNEGO": what Cyrus may offer */
	struct smtpkeytab kt;
};

struct smtpsasl_exch {
	struct smtpsasl *s;
	sasl_conn_t *conn;
	char *user;
};

/* Cyrus's options come from its callbacks: this is the instance they
 * read (one per process, set before sasl_server_init). */
static struct smtpsasl *current;
static bool cyrus_started;

static int opt_cb(void *ctx, const char *plugin, const char *option,
                  const char **result, unsigned *len)
{
	(void)ctx;
	(void)plugin;
	*result = NULL;
	if (current == NULL)
		return SASL_FAIL;
	if (strcmp(option, "mech_list") == 0)
		*result = current->cyrus_mechs;
	else if (strcmp(option, "keytab") == 0)
		*result = current->keytab;
	else if (strcmp(option, "auxprop_plugin") == 0 ||
	         strcmp(option, "pwcheck_method") == 0)
		/* Nothing to look up: the directory is authcheck's. */
		*result = "dirmx-none";
	if (*result == NULL)
		return SASL_FAIL;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

/* Acting as another user is not allowed (as for PLAIN's authzid): the
 * authorization identity, when the client names one, is the ticket's. */
static int proxy_cb(sasl_conn_t *conn, void *ctx, const char *requested,
                    unsigned rlen, const char *auth_identity, unsigned alen,
                    const char *def_realm, unsigned urlen,
                    struct propctx *propctx)
{
	(void)ctx;
	(void)def_realm;
	(void)urlen;
	(void)propctx;
	if (rlen == 0 || (rlen == alen && requested != NULL &&
	                  memcmp(requested, auth_identity, alen) == 0))
		return SASL_OK;
	sasl_seterror(conn, SASL_NOLOG, "acting as another user");
	return SASL_NOAUTHZ;
}

static int log_cb(void *ctx, int level, const char *message)
{
	(void)ctx;
	if (level <= SASL_LOG_ERR)
		log_warn("smtpsasl", "event=sasl_log error=\"%s\"", message);
	else if (level <= SASL_LOG_NOTE)
		log_info("smtpsasl", "event=sasl_log note=\"%s\"", message);
	return SASL_OK;
}

/* Cyrus takes every callback as int (*)(void); through void (*)(void),
 * the type C allows any function pointer to round-trip through. */
#define CB(f) ((int (*)(void))(void (*)(void))(f))
static const sasl_callback_t callbacks[] = {
    {SASL_CB_GETOPT, CB(opt_cb), NULL},
    {SASL_CB_LOG, CB(log_cb), NULL},
    {SASL_CB_PROXY_POLICY, CB(proxy_cb), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

static bool is_multistep(const char *mech)
{
	return strcmp(mech, "GSSAPI") == 0 || strcmp(mech, "GSS-SPNEGO") == 0;
}

static void add_mech(struct smtpsasl *s, const char *mech)
{
	s->mechs = alloc_resize(s->mechs, s->n_mechs + 1, sizeof(char *));
	s->mechs[s->n_mechs++] = alloc_strdup(mech);
}

static void set_mechs(struct smtpsasl *s, const struct smtpsasl_options *o)
{
	struct sbuf *b = sbuf_new(256);

	if (o->n_mechs == 0) {
		add_mech(s, "PLAIN");
		add_mech(s, "LOGIN");
		if (o->keytab != NULL)
			add_mech(s, "GSSAPI");
	}
	for (size_t i = 0; i < o->n_mechs; i++)
		add_mech(s, o->mechs[i]);
	for (size_t i = 0; i < s->n_mechs; i++)
		if (is_multistep(s->mechs[i]))
			sbuf_printf(b, "%s%s", sbuf_len(b) > 0 ? " " : "",
			            s->mechs[i]);
	s->cyrus_mechs = sbuf_steal(b, NULL);
	sbuf_deinit(&b);
}

struct smtpsasl *smtpsasl_new(const struct smtpsasl_options *o, char **error_r)
{
	struct smtpsasl *s = alloc_new(struct smtpsasl);
	const char *slash = strchr(o->service, '/');
	const char *at = strchr(o->service, '@');
	int rc;

	*error_r = NULL;
	set_mechs(s, o);
	s->service = alloc_strdup(o->service);
	s->svc_name = alloc_strndup(o->service, (size_t)(slash - o->service));
	s->host = at != NULL
	              ? alloc_strndup(slash + 1, (size_t)(at - slash - 1))
	              : alloc_strdup(slash + 1);
	if (*s->cyrus_mechs == '\0')
		return s; /* PLAIN and LOGIN only: nothing of Cyrus's */
	if (o->keytab == NULL) {
		*error_r = alloc_printf("smtp_auth_mechanisms lists %s, which "
		                        "needs smtp_keytab",
		                        s->cyrus_mechs);
		goto fail;
	}
	s->keytab = alloc_strdup(o->keytab);
	if (smtpkeytab_read(o->keytab, o->service, &s->kt, error_r) < 0)
		goto fail;
	if (cyrus_started) {
		*error_r = alloc_strdup("Cyrus SASL's server side is set up "
		                        "already (restart authd)");
		goto fail;
	}
	current = s;
	{
		OM_uint32 maj = krb5_gss_register_acceptor_identity(s->keytab);

		if (maj != GSS_S_COMPLETE) {
			*error_r = alloc_printf("smtp_keytab %s: the GSSAPI "
			                        "library refuses it",
			                        s->keytab);
			goto fail;
		}
	}
	rc = sasl_server_init(callbacks, "dirmx-authd");
	if (rc != SASL_OK) {
		*error_r = alloc_printf("Cyrus SASL cannot start: %s",
		                        sasl_errstring(rc, NULL, NULL));
		goto fail;
	}
	cyrus_started = true;
	return s;
fail:
	if (current == s)
		current = NULL;
	smtpsasl_deinit(&s);
	return NULL;
}

void smtpsasl_deinit(struct smtpsasl **sp)
{
	struct smtpsasl *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	/* Cyrus stays initialised (sasl_server_done would also end libldap's
	 * client side); a later smtpsasl_new cannot start it again. */
	if (current == s)
		current = NULL;
	for (size_t i = 0; i < s->n_mechs; i++)
		free(s->mechs[i]);
	free(s->mechs);
	free(s->keytab);
	free(s->service);
	free(s->svc_name);
	free(s->host);
	free(s->cyrus_mechs);
	smtpkeytab_clear(&s->kt);
	free(s);
}

size_t smtpsasl_mechs(const struct smtpsasl *s, const char *const **mechs_r)
{
	*mechs_r = (const char *const *)s->mechs;
	return s->n_mechs;
}

bool smtpsasl_runs(const struct smtpsasl *s, const char *mech)
{
	if (s->keytab == NULL || !is_multistep(mech))
		return false;
	for (size_t i = 0; i < s->n_mechs; i++)
		if (strcmp(s->mechs[i], mech) == 0)
			return true;
	return false;
}

const char *smtpsasl_service(const struct smtpsasl *s)
{
	return s->service;
}

const struct smtpkeytab *smtpsasl_keytab(const struct smtpsasl *s)
{
	return s->keytab != NULL ? &s->kt : NULL;
}

/* Cyrus's answer as a result. */
static void result(struct smtpsasl_exch *x, int rc, const char *out,
                   unsigned out_len, struct smtpsasl_result *r)
{
	const void *user = NULL;

	memset(r, 0, sizeof(*r));
	switch (rc) {
	case SASL_CONTINUE:
		r->status = SMTPSASL_CONTINUE;
		r->out = (const unsigned char *)(out != NULL ? out : "");
		r->out_len = out != NULL ? out_len : 0;
		return;
	case SASL_OK:
		if (sasl_getprop(x->conn, SASL_USERNAME, &user) != SASL_OK ||
		    user == NULL || *(const char *)user == '\0') {
			r->status = SMTPSASL_REFUSED;
			r->why = "no user name after the exchange";
			return;
		}
		free(x->user);
		x->user = alloc_strdup(user);
		r->status = SMTPSASL_DONE;
		r->user = x->user;
		return;
	case SASL_NOMEM:
	case SASL_TRYAGAIN:
	case SASL_FAIL:
	case SASL_NOMECH:
	case SASL_UNAVAIL:
		r->status = SMTPSASL_TEMPFAIL;
		r->why = sasl_errstring(rc, NULL, NULL);
		return;
	default:
		r->status = SMTPSASL_REFUSED;
		r->why = sasl_errstring(rc, NULL, NULL);
		return;
	}
}

struct smtpsasl_exch *smtpsasl_start(struct smtpsasl *s, const char *mech,
                                     const void *in, size_t len,
                                     struct smtpsasl_result *r)
{
	struct smtpsasl_exch *x;
	sasl_security_properties_t props = {0};
	const char *out = NULL;
	unsigned out_len = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!smtpsasl_runs(s, mech)) {
		r->status = SMTPSASL_REFUSED;
		r->why = "mechanism not offered";
		return NULL;
	}
	x = alloc_new(struct smtpsasl_exch);
	x->s = s;
	rc = sasl_server_new(s->svc_name, s->host, NULL, NULL, NULL, NULL, 0,
	                     &x->conn);
	if (rc != SASL_OK) {
		r->status = SMTPSASL_TEMPFAIL;
		r->why = sasl_errstring(rc, NULL, NULL);
		free(x);
		return NULL;
	}
	/* TLS protects the session: no SASL layer, and none accepted. */
	props.min_ssf = 0;
	props.max_ssf = 0;
	props.maxbufsize = 0;
	props.security_flags = SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT;
	sasl_setprop(x->conn, SASL_SEC_PROPS, &props);
	rc =
	    sasl_server_start(x->conn, mech, in, (unsigned)len, &out, &out_len);
	result(x, rc, out, out_len, r);
	return x;
}

void smtpsasl_step(struct smtpsasl_exch *x, const void *in, size_t len,
                   struct smtpsasl_result *r)
{
	const char *out = NULL;
	unsigned out_len = 0;
	int rc = sasl_server_step(x->conn, in, (unsigned)len, &out, &out_len);

	result(x, rc, out, out_len, r);
}

void smtpsasl_exch_deinit(struct smtpsasl_exch **xp)
{
	struct smtpsasl_exch *x = *xp;

	if (x == NULL)
		return;
	*xp = NULL;
	sasl_dispose(&x->conn);
	free(x->user);
	free(x);
}

int smtpsasl_b64_decode(const char *in, size_t len, unsigned char **out_r,
                        size_t *out_len_r)
{
	unsigned n = 0;
	unsigned char *out;

	*out_r = NULL;
	*out_len_r = 0;
	if (len > B64_MAX)
		return -1;
	out = alloc_zero(len / 4 * 3 + 4);
	if (len > 0 &&
	    sasl_decode64(in, (unsigned)len, (char *)out,
	                  (unsigned)(len / 4 * 3 + 4), &n) != SASL_OK) {
		free(out);
		return -1;
	}
	*out_r = out;
	*out_len_r = n;
	return 0;
}

char *smtpsasl_b64_encode(const unsigned char *in, size_t len)
{
	size_t cap = (len + 2) / 3 * 4 + 1;
	char *out = alloc_zero(cap);
	unsigned n = 0;

	if (len > 0 && sasl_encode64((const char *)in, (unsigned)len, out,
	                             (unsigned)cap, &n) != SASL_OK)
		out[0] = '\0';
	return out;
}
