/*
 * session_milter - a listener's mail filters (milter.h) in the SMTP
 * dialogue: one conversation per filter, opened when the client connects
 * and asked at each step as the client reaches it, the connection, HELO,
 * MAIL, each RCPT, DATA, an unknown command; the message itself is asked
 * at its end (session_milter_eom.c).
 *
 * The reply to a command waits for the filters' answer to its step: each
 * filter in the listener's order, the first refusal wins and is the reply
 * (the filter's own code and text, or 550 5.7.1 / 451 4.7.1). A refused
 * recipient is not added, a refused MAIL starts no transaction, a refused
 * unknown command gets the filter's reply instead of our 500. A refusal
 * of the connection or of HELO refuses the session, as Postfix does: from
 * then on every command but QUIT, NOOP and RSET gets that reply. The
 * session reads nothing while it waits, so pipelined commands are
 * answered in order once the filters answered.
 *
 * A filter that fails (down, silent, gone, garbage) gets its
 * default_action at the step where the failure shows: tempfail (451
 * 4.7.1) or reject (550 5.7.1) as the reply to that step, and to every
 * later one of that filter; accept: the session goes on without it.
 * Logged as event=milter_failed.
 */
#include "session_milter_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "settings.h"

static const struct session_filters *filters_of(const struct session *s)
{
	const struct session_params *p = s->env->params;

	for (size_t i = 0; i < p->n_filters; i++)
		if (strcmp(p->filters[i].listener, s->listener) == 0)
			return &p->filters[i];
	return NULL;
}

static const char *macro(void *ctx, const char *name)
{
	struct sm_filter *f = ctx;
	struct session_milter *m = f->m;
	struct session *s = m->s;
	struct io_tls_params tp;
	bool tls = io_tls_params(s->io, &tp);

	if (strcmp(name, "j") == 0 || strcmp(name, "{j}") == 0)
		return s->env->params->hostname;
	if (strcmp(name, "i") == 0 || strcmp(name, "{i}") == 0)
		return s->msg != NULL ? spool_msg_id(s->msg) : NULL;
	if (strcmp(name, "v") == 0 || strcmp(name, "{v}") == 0)
		return "dirmx";
	if (strcmp(name, "_") == 0) {
		snprintf(m->underscore, sizeof(m->underscore), "unknown [%s]",
		         s->peer);
		return m->underscore;
	}
	if (strcmp(name, "{daemon_name}") == 0)
		return s->listener;
	if (strcmp(name, "{client_addr}") == 0)
		return s->peer;
	if (strcmp(name, "{client_name}") == 0)
		return "unknown";
	if (strcmp(name, "{auth_authen}") == 0)
		return s->auth_user;
	if (strcmp(name, "{auth_type}") == 0)
		return s->auth_user != NULL ? s->auth_mech : NULL;
	if (strcmp(name, "{tls_version}") == 0)
		return tls ? tp.version : NULL;
	if (strcmp(name, "{cipher}") == 0)
		return tls ? tp.cipher : NULL;
	if (strcmp(name, "{cipher_bits}") == 0 && tls) {
		snprintf(m->tls_bits, sizeof(m->tls_bits), "%u", tp.bits);
		return m->tls_bits;
	}
	return NULL;
}

static const char *ask_name(enum sm_ask a)
{
	switch (a) {
	case SM_ASK_CONNECT:
		return "connect";
	case SM_ASK_HELO:
		return "helo";
	case SM_ASK_MAIL:
		return "mail";
	case SM_ASK_RCPT:
		return "rcpt";
	case SM_ASK_UNKNOWN:
		return "unknown";
	case SM_ASK_DATA:
		return "data";
	default:
		return "message";
	}
}

/* The ask is over: ok when no filter refused (the reply is sent
 * otherwise). */
static void ask_end(struct session_milter *m, bool ok)
{
	struct session *s = m->s;
	session_milter_after *after = m->after;
	enum sm_ask ask = m->ask;
	bool waited = m->waited;

	m->ask = SM_ASK_NONE;
	m->after = NULL;
	m->waited = false;
	free(m->arg);
	m->arg = NULL;
	if (ask == SM_ASK_UNKNOWN && ok)
		session_reply_error(s, &m->unknown_reply);
	if (after != NULL)
		after(s, ok);
	if (waited)
		session_resume(s);
}

/* Ask the next filter that is still asked, or end. */
static void ask_next(struct session_milter *m)
{
	struct session *s = m->s;

	for (; m->cur < m->n; m->cur++) {
		struct milter_conv *c = m->f[m->cur].conv;

		if (m->f[m->cur].off)
			continue;
		switch (m->ask) {
		case SM_ASK_CONNECT:
			milter_connect(c, "unknown",
			               strcmp(s->peer, "unknown") != 0 ? s->peer
			                                               : NULL,
			               0);
			return;
		case SM_ASK_HELO:
			milter_helo(c, m->arg);
			return;
		case SM_ASK_MAIL:
			milter_mail(c, m->arg);
			return;
		case SM_ASK_RCPT:
			milter_rcpt(c, m->arg);
			return;
		case SM_ASK_UNKNOWN:
			milter_unknown(c, m->arg);
			return;
		case SM_ASK_DATA:
			milter_data(c);
			return;
		default:
			return;
		}
	}
	ask_end(m, true);
}

static void refusal(const struct milter_result *r, unsigned *code_r,
                    const char **enh_r, const char **text_r)
{
	if (r->code != 0) {
		*code_r = r->code;
		*enh_r = r->enhanced[0] != '\0' ? r->enhanced : NULL;
		*text_r = r->text;
	} else if (r->verdict == MILTER_REJECT) {
		*code_r = 550;
		*enh_r = "5.7.1";
		*text_r = "Command rejected";
	} else {
		*code_r = 451;
		*enh_r = "4.7.1";
		*text_r = "Service unavailable - try again later";
	}
}

static bool failed(struct sm_filter *f, const struct milter_result *r,
                   unsigned *code_r, const char **enh_r, const char **text_r)
{
	struct session *s = f->m->s;

	log_warn(s->msg != NULL ? spool_msg_id(s->msg) : s->id,
	         "event=milter_failed milter=%s step=%s error=\"%s\" "
	         "action=%s",
	         f->name, r->step, r->error,
	         f->def == MILTER_DEFAULT_ACCEPT   ? "accept"
	         : f->def == MILTER_DEFAULT_REJECT ? "reject"
	                                           : "tempfail");
	if (f->def == MILTER_DEFAULT_ACCEPT) {
		f->off = true;
		return true;
	}
	if (f->def == MILTER_DEFAULT_REJECT) {
		*code_r = 550;
		*enh_r = "5.7.1";
		*text_r = "Message refused: mail filter failure";
	} else {
		*code_r = 451;
		*enh_r = "4.7.1";
		*text_r = "Temporary failure: mail filter unavailable";
	}
	return false;
}

enum sm_outcome session_milter_outcome(struct sm_filter *f,
                                       const struct milter_result *r,
                                       unsigned *code_r, const char **enh_r,
                                       const char **text_r)
{
	struct session_milter *m = f->m;
	struct session *s = m->s;
	const char *id = s->msg != NULL ? spool_msg_id(s->msg) : s->id;
	bool rcpt = m->ask == SM_ASK_RCPT;

	switch (r->verdict) {
	case MILTER_FAILED:
		return failed(f, r, code_r, enh_r, text_r) ? SM_GO_ON
		                                           : SM_REFUSE;
	case MILTER_REJECT:
	case MILTER_TEMPFAIL:
		refusal(r, code_r, enh_r, text_r);
		log_info(id,
		         "event=milter_refused milter=%s step=%s code=%u%s%s%s",
		         f->name, r->step, *code_r, rcpt ? " rcpt=<" : "",
		         rcpt ? m->arg : "", rcpt ? ">" : "");
		return SM_REFUSE;
	case MILTER_DISCARD:
		log_info(id, "event=milter_discard milter=%s step=%s", f->name,
		         r->step);
		return SM_DISCARD;
	case MILTER_CONTINUE:
	case MILTER_ACCEPT:
		break;
	}
	return SM_GO_ON;
}

/* A filter refused the step: the reply, and for the connection or HELO
 * the session's refusal from now on. */
static void refuse(struct session_milter *m, unsigned code, const char *enh,
                   const char *text)
{
	struct session *s = m->s;

	if (m->ask == SM_ASK_CONNECT || m->ask == SM_ASK_HELO) {
		m->refused = true;
		m->refused_code = code;
		snprintf(m->refused_enh, sizeof(m->refused_enh), "%s",
		         enh != NULL ? enh : "");
		snprintf(m->refused_text, sizeof(m->refused_text), "%s", text);
	}
	if (m->ask != SM_ASK_CONNECT)
		session_reply(s, code, enh, "%s", text);
	ask_end(m, false);
}

static void on_done(void *ctx, const struct milter_result *r)
{
	struct sm_filter *f = ctx;
	struct session_milter *m = f->m;
	unsigned code;
	const char *enh, *text;

	if (m->ask == SM_ASK_MESSAGE) {
		session_milter_eom_done(f, r);
		return;
	}
	switch (session_milter_outcome(f, r, &code, &enh, &text)) {
	case SM_REFUSE:
		refuse(m, code, enh, text);
		return;
	case SM_DISCARD:
		/* Kept until its end, then dropped (session_milter_eom.c). */
		m->discard = true;
		break;
	case SM_GO_ON:
		break;
	}
	m->cur++;
	ask_next(m);
}

void session_milter_open(struct session *s)
{
	const struct session_filters *fl = filters_of(s);
	struct session_milter *m;

	if (fl == NULL || fl->n == 0)
		return;
	m = alloc_new(struct session_milter);
	m->s = s;
	m->f = alloc_array(fl->n, sizeof(*m->f));
	m->n = fl->n;
	for (size_t i = 0; i < fl->n; i++) {
		struct sm_filter *f = &m->f[i];
		struct milter_callbacks cb = {macro, session_milter_eom_edit,
		                              on_done, f};

		f->m = m;
		f->name = alloc_strdup(fl->confs[i].name);
		f->def = fl->confs[i].default_action;
		f->conv = milter_open(s->env->base, &fl->confs[i], &cb);
	}
	s->milter = m;
	m->ask = SM_ASK_CONNECT;
	ask_next(m);
}

void session_milter_close(struct session *s)
{
	struct session_milter *m = s->milter;

	if (m == NULL)
		return;
	s->milter = NULL;
	session_milter_eom_free(m);
	for (size_t i = 0; i < m->n; i++) {
		milter_close(&m->f[i].conv);
		free(m->f[i].name);
	}
	free(m->f);
	free(m->arg);
	free(m);
}

bool session_milter_gate(struct session *s)
{
	struct session_milter *m = s->milter;

	if (m == NULL || m->ask != SM_ASK_CONNECT)
		return false;
	m->waited = true;
	session_wait(s);
	return true;
}

bool session_milter_waiting(const struct session *s)
{
	return s->milter != NULL && s->milter->ask != SM_ASK_NONE;
}

bool session_milter_refused(const struct session *s, enum smtpcmd_verb verb,
                            unsigned *code_r, const char **enh_r,
                            const char **text_r)
{
	const struct session_milter *m = s->milter;

	if (m == NULL || !m->refused || verb == SMTPCMD_QUIT ||
	    verb == SMTPCMD_NOOP || verb == SMTPCMD_RSET)
		return false;
	*code_r = m->refused_code;
	*enh_r = m->refused_enh[0] != '\0' ? m->refused_enh : NULL;
	*text_r = m->refused_text;
	return true;
}

/* Start asking the filters about a step; false when there is none to
 * ask. */
static bool ask(struct session *s, enum sm_ask what, const char *arg,
                size_t len, session_milter_after *after)
{
	struct session_milter *m = s->milter;
	size_t on = 0;

	if (m == NULL)
		return false;
	for (size_t i = 0; i < m->n; i++)
		on += !m->f[i].off;
	if (on == 0)
		return false;
	m->ask = what;
	m->cur = 0;
	m->arg = alloc_strndup(arg, len);
	m->after = after;
	m->waited = true;
	log_debug(s->id, "event=milter_ask step=%s", ask_name(what));
	session_wait(s);
	ask_next(m);
	return true;
}

bool session_milter_helo(struct session *s, const char *helo,
                         session_milter_after *after)
{
	return ask(s, SM_ASK_HELO, helo, strlen(helo), after);
}

bool session_milter_mail(struct session *s, const char *from,
                         session_milter_after *after)
{
	const char *error;

	/* The message begins here rather than at DATA, so that the filters
	 * know its queue ID (macro i) from MAIL on, as with Postfix; it is
	 * only memory until data comes (spool.h). */
	if (s->milter != NULL && s->msg == NULL &&
	    spool_msg_begin(s->env->spool, &s->msg, &error) < 0) {
		log_error(s->id, "event=spool_begin_failed error=\"%s\"",
		          error);
		s->msg = NULL;
	}
	return ask(s, SM_ASK_MAIL, from, strlen(from), after);
}

bool session_milter_rcpt(struct session *s, const char *rcpt,
                         session_milter_after *after)
{
	/* Replies before this one go out with its answer, as for authd's
	 * (a pipelining client reads them all anyway). */
	if (!ask(s, SM_ASK_RCPT, rcpt, strlen(rcpt), after))
		return false;
	io_hold_output(s->io, true);
	return true;
}

bool session_milter_data(struct session *s, session_milter_after *after)
{
	return ask(s, SM_ASK_DATA, "", 0, after);
}

bool session_milter_unknown(struct session *s, const char *line, size_t len,
                            const struct smtpcmd_error *e)
{
	if (s->milter == NULL)
		return false;
	s->milter->unknown_reply = *e;
	return ask(s, SM_ASK_UNKNOWN, line, len, NULL);
}

void session_milter_abort(struct session *s)
{
	struct session_milter *m = s->milter;

	if (m == NULL)
		return;
	session_milter_eom_free(m);
	m->discard = false;
	for (size_t i = 0; i < m->n; i++)
		milter_abort(m->f[i].conv);
}
