/*
 * ldconn_setup - open, secure and bind one LDAP connection, off the loop.
 *
 * ldconn_setup_run() is the body of the setup thread: it makes a fresh
 * libldap handle for one server, connects with a bounded network timeout,
 * starts TLS (StartTLS or LDAPS) with the certificate verified against the
 * configured CA, and binds (simple, SASL PLAIN, GSSAPI or EXTERNAL). Every
 * step is bounded by the timeout, so the thread always ends. On success the
 * bound handle is handed back; on failure a reason naming the server and
 * the step ("TLS: certificate verification failed: ...") is.
 *
 * GSSAPI is protected the way the server wants it (ldprot.h): TLS without
 * a SASL layer, TLS with a sign+seal layer, or sign+seal on plain LDAP,
 * tried in ldprot_plan()'s order on a fresh connection each, moving on
 * only when the server refused the protection. Whatever is tried, the
 * protection is checked after the bind (a layer asked for and not set up
 * fails the attempt): there is no GSSAPI bind with neither.
 *
 * A password bind without TLS is refused here, before anything is sent,
 * unless the options explicitly allow it (tests against a plain slapd).
 */
#include "ldconn_private.h"

#include <fcntl.h>
#include <ldap.h>
#include <sasl/sasl.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sbuf.h"
#include "tlsdiag.h"

struct setup_sasl {
	const struct ldconn_options *opts;
};

static int setup_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	const struct setup_sasl *s = defaults;
	sasl_interact_t *it;

	for (it = in; it->id != SASL_CB_LIST_END; it++) {
		const char *v = NULL;

		switch (it->id) {
		case SASL_CB_AUTHNAME:
			v = s->opts->bind_dn;
			break;
		case SASL_CB_PASS:
			v = s->opts->password;
			break;
		case SASL_CB_USER:
			v = s->opts->sasl_authz != NULL ? s->opts->sasl_authz
			                                : "";
			break;
		case SASL_CB_GETREALM:
			v = it->defresult;
			break;
		default:
			break;
		}
		if (v == NULL)
			v = "";
		it->result = v;
		it->len = (unsigned)strlen(v);
	}
	return LDAP_SUCCESS;
}

static char *setup_error(LDAP *ld, const char *uri, const char *step, int rc)
{
	char *diag = NULL;
	char *msg;

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		msg = alloc_printf("%s: %s failed: %s (%s)", uri, step,
		                   ldap_err2string(rc), diag);
	else
		msg = alloc_printf("%s: %s failed: %s", uri, step,
		                   ldap_err2string(rc));
	ldap_memfree(diag);
	return msg;
}

/*
 * A TLS step failed. libldap's message does not say why a certificate was
 * refused, so ask GnuTLS directly (tlsdiag.c) and name the DC, the step
 * and the certificate problem in one line.
 */
static char *tls_error(LDAP *ld, const struct ldconn_options *o,
                       const char *step, int rc)
{
	LDAPURLDesc *lud = NULL;
	char *why = NULL, *msg;

	/* A server that said nothing in time has no certificate to blame. */
	if (rc != LDAP_TIMEOUT &&
	    ldap_url_parse(o->uri, &lud) == LDAP_URL_SUCCESS) {
		unsigned port = lud->lud_port > 0 ? (unsigned)lud->lud_port
		                : o->tls == LDCONN_TLS_LDAPS ? 636u
		                                             : 389u;

		if (lud->lud_host != NULL)
			why = tlsdiag_explain(lud->lud_host, port,
			                      o->tls == LDCONN_TLS_STARTTLS,
			                      o->ca_file, o->timeout_ms / 2);
		ldap_free_urldesc(lud);
	}
	if (why == NULL)
		return setup_error(ld, o->uri, step, rc);
	msg = alloc_printf("%s: %s failed: TLS: %s", o->uri, step, why);
	free(why);
	return msg;
}

static int setup_tls_options(LDAP *ld, const struct ldconn_options *o)
{
	int demand = LDAP_OPT_X_TLS_DEMAND;
	int zero = 0;
	int rc;

	rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (rc == LDAP_OPT_SUCCESS && o->ca_file != NULL)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, o->ca_file);
	if (rc == LDAP_OPT_SUCCESS && o->cert_file != NULL)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, o->cert_file);
	if (rc == LDAP_OPT_SUCCESS && o->key_file != NULL)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, o->key_file);
	/* A context of this handle's own: the settings above take effect. */
	if (rc == LDAP_OPT_SUCCESS)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	return rc;
}

/*
 * What the SASL library may negotiate for p. Inside TLS, libldap gives
 * Cyrus SASL the TLS strength (up to 256) as external SSF and the minimum
 * counts it, so asking for a layer inside TLS takes a minimum above any
 * TLS strength.
 */
static void setup_secprops(LDAP *ld, enum ldprot p)
{
	ber_len_t min = 0, max = 0;

	switch (p) {
	case LDPROT_SEAL:
		min = LDPROT_SEAL_MIN_SSF;
		max = 100000;
		break;
	case LDPROT_TLS_SEAL:
		min = 256 + LDPROT_SEAL_MIN_SSF;
		max = 100000;
		break;
	case LDPROT_TLS:
	case LDPROT_CLEAR:
		break; /* no layer: TLS alone (or nothing, for anonymous) */
	}
	ldap_set_option(ld, LDAP_OPT_X_SASL_SSF_MIN, &min);
	ldap_set_option(ld, LDAP_OPT_X_SASL_SSF_MAX, &max);
}

static int setup_bind(LDAP *ld, const struct ldconn_options *o, enum ldprot p)
{
	struct setup_sasl s = {.opts = o};
	const char *mech;
	int on = 1;

	switch (o->bind) {
	case LDCONN_BIND_NONE:
		return LDAP_SUCCESS;
	case LDCONN_BIND_SIMPLE: {
		struct berval cred;

		cred.bv_val = (char *)(o->password != NULL ? o->password : "");
		cred.bv_len = strlen(cred.bv_val);
		return ldap_sasl_bind_s(ld, o->bind_dn, LDAP_SASL_SIMPLE, &cred,
		                        NULL, NULL, NULL);
	}
	case LDCONN_BIND_PLAIN:
		mech = "PLAIN";
		break;
	case LDCONN_BIND_GSSAPI:
		mech = "GSSAPI";
		/* The SRV target is the service's name; there may be no PTR. */
		ldap_set_option(ld, LDAP_OPT_X_SASL_NOCANON, &on);
		break;
	case LDCONN_BIND_EXTERNAL:
		mech = "EXTERNAL";
		break;
	default:
		return LDAP_PARAM_ERROR;
	}
	setup_secprops(ld, p);
	return ldap_sasl_interactive_bind_s(
	    ld, NULL, mech, NULL, NULL, LDAP_SASL_QUIET, setup_interact, &s);
}

/* A layer was asked for: make sure it is there and seals. */
static int setup_check_layer(LDAP *ld, enum ldprot p, char **error_r)
{
	ber_len_t ssf = 0;

	if (p != LDPROT_SEAL && p != LDPROT_TLS_SEAL)
		return LDAP_SUCCESS;
	if (ldap_get_option(ld, LDAP_OPT_X_SASL_SSF, &ssf) ==
	        LDAP_OPT_SUCCESS &&
	    ssf >= LDPROT_SEAL_MIN_SSF)
		return LDAP_SUCCESS;
	*error_r = alloc_printf("no SASL sign+seal layer after the bind "
	                        "(strength %lu)",
	                        (unsigned long)ssf);
	return LDAP_INAPPROPRIATE_AUTH;
}

static bool setup_needs_tls(const struct ldconn_options *o)
{
	return o->bind == LDCONN_BIND_SIMPLE || o->bind == LDCONN_BIND_PLAIN;
}

/* The bind's own diagnostic, without the URI (for the list of tries). */
static char *bind_error(LDAP *ld, int rc)
{
	char *diag = NULL, *msg;

	ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		msg = alloc_printf("%s (%s)", ldap_err2string(rc), diag);
	else
		msg = alloc_strdup(ldap_err2string(rc));
	ldap_memfree(diag);
	return msg;
}

/*
 * One connection with protection p, to uri. On a failed bind, *bind_error_r
 * is the bind's own reason (the caller decides whether to try another
 * protection); any other failure sets *error_r, the final reason.
 */
static LDAP *setup_once(const struct ldconn_options *o, const char *uri,
                        enum ldprot p, char **error_r, char **bind_error_r,
                        int *ldap_code_r)
{
	bool tls = p == LDPROT_TLS || p == LDPROT_TLS_SEAL;
	LDAP *ld = NULL;
	struct timeval tv;
	int version = LDAP_VERSION3;
	int rc, fd = -1, flags;
	int user_timeout;

	*ldap_code_r = LDAP_OTHER;
	rc = ldap_initialize(&ld, uri);
	if (rc != LDAP_SUCCESS) {
		*error_r = setup_error(NULL, uri, "initialize", rc);
		return NULL;
	}
	tv.tv_sec = o->timeout_ms / 1000;
	tv.tv_usec = (o->timeout_ms % 1000) * 1000;
	user_timeout = o->timeout_ms;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TCP_USER_TIMEOUT, &user_timeout);
	if (tls && (rc = setup_tls_options(ld, o)) != LDAP_OPT_SUCCESS) {
		*error_r = setup_error(ld, uri, "TLS setup", rc);
		goto fail;
	}
	rc = ldap_connect(ld);
	if (rc != LDAP_SUCCESS) {
		*error_r = tls && o->tls == LDCONN_TLS_LDAPS
		               ? tls_error(ld, o, "LDAPS connect", rc)
		               : setup_error(ld, uri, "connect", rc);
		goto fail;
	}
	if (tls && o->tls == LDCONN_TLS_STARTTLS) {
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			*error_r = tls_error(ld, o, "StartTLS", rc);
			goto fail;
		}
	}
	rc = setup_bind(ld, o, p);
	if (rc != LDAP_SUCCESS) {
		*ldap_code_r = rc;
		*bind_error_r = bind_error(ld, rc);
		goto fail;
	}
	rc = setup_check_layer(ld, p, bind_error_r);
	if (rc != LDAP_SUCCESS) {
		*ldap_code_r = rc;
		goto fail;
	}
	if (ldap_get_option(ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS ||
	    fd < 0) {
		*error_r = alloc_printf("%s: no socket after bind", uri);
		goto fail;
	}
	/* The loop must never block on a half-received message. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		*error_r =
		    alloc_printf("%s: cannot make socket non-blocking", uri);
		goto fail;
	}
	*ldap_code_r = 0;
	return ld;
fail:
	ldap_unbind_ext(ld, NULL, NULL);
	return NULL;
}

LDAP *ldconn_setup_run(const struct ldconn_options *o, int remembered,
                       enum ldprot *used_r, char **notes_r, char **error_r,
                       int *ldap_code_r)
{
	enum ldprot plan[LDPROT_PLAN_MAX];
	bool ldaps = o->tls == LDCONN_TLS_LDAPS;
	size_t n = ldprot_plan(o->tls != LDCONN_TLS_NONE,
	                       o->bind == LDCONN_BIND_GSSAPI, remembered, plan);
	struct sbuf *refused;
	LDAP *ld = NULL;

	*error_r = NULL;
	*notes_r = NULL;
	if (o->tls == LDCONN_TLS_NONE && setup_needs_tls(o) &&
	    !o->allow_plaintext) {
		*ldap_code_r = LDAP_CONFIDENTIALITY_REQUIRED;
		*error_r =
		    alloc_printf("%s: refusing a password bind without TLS "
		                 "(set tls, or allow_plaintext_bind for tests)",
		                 o->uri);
		return NULL;
	}
	refused = sbuf_new(16384);
	for (size_t i = 0; i < n && ld == NULL && *error_r == NULL; i++) {
		const char *name = ldprot_name(plan[i], ldaps);
		char *plain = NULL, *why = NULL;

		if (plan[i] == LDPROT_SEAL && ldaps) {
			plain = ldprot_plain_uri(o->uri);
			if (plain == NULL) {
				sbuf_printf(refused,
				            "%s%s: no plain LDAP port "
				            "known for this LDAPS URI",
				            sbuf_len(refused) > 0 ? "; " : "",
				            name);
				continue;
			}
		}
		ld = setup_once(o, plain != NULL ? plain : o->uri, plan[i],
		                error_r, &why, ldap_code_r);
		free(plain);
		if (ld != NULL) {
			*used_r = plan[i];
		} else if (why != NULL && n > 1 &&
		           ldprot_refused(*ldap_code_r, why)) {
			sbuf_printf(refused, "%s%s: %s",
			            sbuf_len(refused) > 0 ? "; " : "", name,
			            why);
		} else if (why != NULL) {
			*error_r =
			    alloc_printf("%s: bind failed: %s", o->uri, why);
		}
		free(why);
	}
	if (ld == NULL && *error_r == NULL) {
		*error_r = alloc_printf("%s: bind failed with every protection "
		                        "(%s)",
		                        o->uri, sbuf_data(refused));
	} else if (ld == NULL && sbuf_len(refused) > 0) {
		/* e.g. the plain port unreachable after TLS was refused */
		char *e =
		    alloc_printf("%s (after %s)", *error_r, sbuf_data(refused));

		free(*error_r);
		*error_r = e;
	} else if (ld != NULL && sbuf_len(refused) > 0) {
		*notes_r = sbuf_steal(refused, NULL);
	}
	sbuf_deinit(&refused);
	return ld;
}
