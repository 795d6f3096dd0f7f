/*
 * session_auth - STARTTLS and AUTH (RFC 3207, RFC 4954 with PLAIN and
 * LOGIN; GSSAPI is relayed to authd by session_sasl.c) for a session.
 * Credentials are checked by authd; routerd never sees a directory credential.
 * Decoded passwords are wiped as soon as the request to authd is formatted, and
 * the input lines that carried them are wiped by session.c.
 *
 * Brute force: a failed login is answered only after the delay authd
 * asks for (growing with the client's failures), and the session ends
 * after max_auth_failures.
 */
#include "session_private.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"

void session_do_starttls(struct session *s, const struct smtpcmd *c)
{
	if (c->arg_len != 0) {
		session_reply(s, 501, "5.5.4", "STARTTLS takes no argument");
		return;
	}
	session_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* The handshake starts once the reply is out (IO_LOWAT); anything
	 * pipelined after STARTTLS is dropped by io_start_tls(). */
	s->starttls_pending = true;
	session_wait(s);
}

static void auth_failed_reply(void *ctx)
{
	struct session *s = ctx;
	const struct session_params *p = s->env->params;

	session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
	if (s->auth_failures >= p->max_auth_failures) {
		io_printf(s->io, "421 4.7.0 Too many failed logins, "
		                 "closing\r\n");
		log_info(s->id, "event=close reason=auth_failures client=%s",
		         s->peer);
		session_close(s);
		return;
	}
	session_resume(s);
}

void session_auth_done(const struct authc_auth_result *r, void *ctx)
{
	struct session *s = ctx;

	s->areq = NULL;
	if (r->status == AUTHC_OK) {
		s->auth_user = alloc_strdup(r->user);
		log_info(s->id, "event=auth_ok user=\"%s\" mech=%s client=%s",
		         s->auth_user,
		         s->auth_step == 3 ? "kerberos" : "password", s->peer);
		session_reply(s, 235, "2.7.0", "Authentication successful");
		session_resume(s);
		return;
	}
	if (r->status == AUTHC_TEMPFAIL) {
		session_reply(s, 454, "4.7.0",
		              "Temporary authentication failure");
		session_resume(s);
		return;
	}
	s->auth_failures++;
	log_info(s->id, "event=auth_failed client=%s failures=%u delay_ms=%u",
	         s->peer, s->auth_failures, r->delay_ms);
	/* Slow the client down before it may guess again. */
	if (s->delay == NULL)
		s->delay = evloop_timer_new(s->env->base, auth_failed_reply, s);
	evloop_timer_start(s->delay, r->delay_ms > 0 ? r->delay_ms : 500);
}

static void auth_check(struct session *s, const char *mech, const char *user,
                       const char *password)
{
	s->phase = PHASE_CMD;
	s->auth_mech = mech;
	s->areq = authc_auth(s->env->authc, mech, user, password, s->peer,
	                     session_auth_done, s);
	session_wait(s);
}

static void auth_plain(struct session *s, const char *b64, size_t len)
{
	struct smtpcmd_plain plain;
	struct smtpcmd_error e;
	int r = smtpcmd_decode_plain(b64, len, &plain, &e);

	if (r != 0) {
		s->phase = PHASE_CMD;
		session_reply(s, e.code, e.enhanced, "%s", e.text);
		return;
	}
	if (plain.authzid != NULL && *plain.authzid != '\0' &&
	    strcmp(plain.authzid, plain.authcid) != 0) {
		smtpcmd_plain_clear(&plain);
		s->phase = PHASE_CMD;
		session_reply(s, 535, "5.7.8",
		              "Acting as another user is not allowed");
		return;
	}
	auth_check(s, "PLAIN", plain.authcid, plain.password);
	smtpcmd_plain_clear(&plain);
}

static void login_step(struct session *s, const char *b64, size_t len)
{
	unsigned char *v = NULL;
	size_t n = 0;
	struct smtpcmd_error e;
	int r = smtpcmd_decode_base64(b64, len, &v, &n, &e);

	if (r != 0 || n == 0 || memchr(v, '\0', n) != NULL) {
		if (v != NULL)
			smtpcmd_secret_free(v, n);
		s->phase = PHASE_CMD;
		if (r == 0)
			session_reply(s, 501, "5.5.2", "Invalid response");
		else
			session_reply(s, e.code, e.enhanced, "%s", e.text);
		return;
	}
	if (s->auth_step == 0) {
		s->login_user = alloc_strndup((const char *)v, n);
		smtpcmd_secret_free(v, n);
		s->auth_step = 1;
		s->phase = PHASE_AUTH;
		io_printf(s->io, "334 UGFzc3dvcmQ6\r\n"); /* "Password:" */
		return;
	}
	{
		char *password = alloc_strndup((const char *)v, n);

		smtpcmd_secret_free(v, n);
		auth_check(s, "LOGIN", s->login_user, password);
		explicit_bzero(password, strlen(password));
		free(password);
	}
	explicit_bzero(s->login_user, strlen(s->login_user));
	free(s->login_user);
	s->login_user = NULL;
}

void session_auth_line(struct session *s, const char *line, size_t len)
{
	if (s->auth_step == 3) {
		session_sasl_line(s, line, len);
		return;
	}
	if (len == 1 && line[0] == '*') {
		s->phase = PHASE_CMD;
		session_reply(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	if (s->auth_step == 2)
		auth_plain(s, line, len);
	else
		login_step(s, line, len);
}

void session_do_auth(struct session *s, const struct smtpcmd *c)
{
	struct smtpcmd_auth a;
	struct smtpcmd_error e;

	if (smtpcmd_parse_auth(c->arg, c->arg_len, &a, &e) < 0) {
		session_reply(s, e.code, e.enhanced, "%s", e.text);
		return;
	}
	if (!session_sasl_offered(s, a.mech_name, a.mech_len)) {
		session_reply(s, 504, "5.5.4",
		              "Unrecognized authentication type");
		return;
	}
	switch (a.mech) {
	case SMTPCMD_AUTH_PLAIN:
		if (a.has_ir) {
			auth_plain(s, a.ir, a.ir_len);
			return;
		}
		s->auth_step = 2;
		s->phase = PHASE_AUTH;
		io_printf(s->io, "334 \r\n");
		return;
	case SMTPCMD_AUTH_LOGIN:
		s->auth_step = 0;
		if (a.has_ir) {
			login_step(s, a.ir, a.ir_len);
			return;
		}
		s->phase = PHASE_AUTH;
		io_printf(s->io, "334 VXNlcm5hbWU6\r\n"); /* "Username:" */
		return;
	case SMTPCMD_AUTH_OTHER:
		session_sasl_start(s, &a);
		return;
	}
}
