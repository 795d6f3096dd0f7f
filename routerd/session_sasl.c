/*
 * session_sasl - AUTH GSSAPI and GSS-SPNEGO (RFC 4752, RFC 4954) for a
 * session, relayed to authd step by step (authc_sasl_*): routerd holds no
 * keytab and runs no Kerberos code; it checks that each step is strict
 * base64 of bounded size, passes it on unchanged, and writes authd's
 * challenges as 334 replies. The end is a login like PLAIN's
 * (session_auth_done): 235 with the account authd mapped the principal
 * to, which then decides send-as as for a password login; 535 5.7.8 for
 * a ticket authd refused (counted against the client by authd, and
 * answered after its delay); 454 4.7.0 when authd or Kerberos cannot
 * answer.
 *
 * Offered only where authd says it runs the mechanism (its HELLO), and
 * only where AUTH is: on submission listeners, after TLS (session_check
 * refuses AUTH before it with 530). No SASL security layer: authd offers
 * only "no layer".
 */
#include "session_private.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#include "authc.h"
#include "log.h"
#include "str.h"

static const char *const mechs[] = {"PLAIN", "LOGIN", "GSSAPI", "GSS-SPNEGO",
                                    NULL};

static const char *mech_of(const char *name, size_t len)
{
	for (size_t i = 0; mechs[i] != NULL; i++)
		if (str_eq_case(name, len, mechs[i], strlen(mechs[i])))
			return mechs[i];
	return NULL;
}

bool session_sasl_offered(const struct session *s, const char *mech, size_t len)
{
	const char *m = mech_of(mech, len);

	if (m == NULL)
		return false;
	if (s->env->authc == NULL) /* a session without authd (tests) */
		return strcmp(m, "PLAIN") == 0 || strcmp(m, "LOGIN") == 0;
	return authc_offers(s->env->authc, m);
}

void session_sasl_ehlo(const struct session *s)
{
	char list[64] = "";

	for (size_t i = 0; mechs[i] != NULL; i++) {
		if (!session_sasl_offered(s, mechs[i], strlen(mechs[i])))
			continue;
		strcat(list, " ");
		strcat(list, mechs[i]); /* 4 names: at most 34 bytes */
	}
	if (list[0] != '\0')
		io_printf(s->io, "250-AUTH%s\r\n", list);
}

void session_sasl_end(struct session *s)
{
	if (s->sasl_exch != 0 && s->env->authc != NULL)
		authc_sasl_abort(s->env->authc, s->sasl_exch);
	s->sasl_exch = 0;
}

static void answered(const struct authc_auth_result *r, void *ctx)
{
	struct session *s = ctx;

	if (r->challenge != NULL) {
		s->areq = NULL;
		s->phase = PHASE_AUTH;
		/* The client's next step has a deadline of its own. */
		s->rearm = true;
		io_printf(s->io, "334 %s\r\n", r->challenge);
		session_resume(s);
		return;
	}
	s->sasl_exch = 0; /* authd has forgotten it */
	session_auth_done(r, ctx);
}

/* Is b64 a step we relay? Else reply and end the exchange. */
static bool step_ok(struct session *s, const char *b64, size_t len)
{
	struct smtpcmd_error e;
	unsigned char *v = NULL;
	size_t n = 0;
	int r;

	if (len > AUTHC_SASL_B64_MAX) {
		log_info(s->id,
		         "event=auth_refused client=%s reason=token_too_long "
		         "len=%zu",
		         s->peer, len);
		session_sasl_end(s);
		s->phase = PHASE_CMD;
		session_reply(s, 501, "5.5.2", "Authentication token too long");
		return false;
	}
	r = smtpcmd_decode_base64(b64, len, &v, &n, &e);
	if (v != NULL)
		smtpcmd_secret_free(v, n);
	if (r != 0) {
		session_sasl_end(s);
		s->phase = PHASE_CMD;
		session_reply(s, e.code, e.enhanced, "%s", e.text);
		return false;
	}
	return true;
}

void session_sasl_start(struct session *s, const struct smtpcmd_auth *a)
{
	/* GSSAPI or GSS-SPNEGO (session_sasl_offered() said so) */
	const char *mech = mech_of(a->mech_name, a->mech_len);
	char *resp = NULL;

	if (a->has_ir) {
		if (!step_ok(s, a->ir != NULL ? a->ir : "",
		             a->ir != NULL ? a->ir_len : 0))
			return;
		resp = alloc_strndup(a->ir != NULL ? a->ir : "",
		                     a->ir != NULL ? a->ir_len : 0);
	}
	s->auth_step = 3;
	s->phase = PHASE_CMD;
	s->areq = authc_sasl_start(s->env->authc, mech, resp, s->peer, answered,
	                           s, &s->sasl_exch);
	free(resp);
	session_wait(s);
}

void session_sasl_line(struct session *s, const char *line, size_t len)
{
	char *resp;

	if (len == 1 && line[0] == '*') {
		session_sasl_end(s);
		s->phase = PHASE_CMD;
		session_reply(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	if (!step_ok(s, line, len))
		return;
	resp = alloc_strndup(line, len);
	s->phase = PHASE_CMD;
	s->areq =
	    authc_sasl_step(s->env->authc, s->sasl_exch, resp, answered, s);
	free(resp);
	session_wait(s);
}
