/*
 * session_cmd - the SMTP commands of a session: the "proceed" half of the
 * command table (session_check.c is the "check" half); MAIL and RCPT are
 * in session_envelope.c, STARTTLS and AUTH in session_auth.c.
 *
 * Every reply carries an enhanced status code (RFC 3463). The bytes of a
 * payload are never read as commands (DESIGN.md invariant 7): a refused
 * BDAT's chunk is read and dropped, and a refused DATA or AUTH with bytes
 * pipelined behind it ends the session.
 */
#include "session_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "alerts.h"
#include "alloc.h"
#include "evloop.h"
#include "intl.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "settings.h"

static void reply_err(struct session *s, const struct smtpcmd_error *e)
{
	session_reply_error(s, e);
}

/* --- HELO, EHLO -------------------------------------------------------- */

/* The reply to HELO or EHLO (s->ehlo), once the filters agreed. */
static void helo_reply(struct session *s)
{
	const struct session_params *p = s->env->params;
	bool tls = io_is_tls(s->io);

	s->greeted = true;
	if (!s->ehlo) {
		io_printf(s->io, "250 %s\r\n", p->hostname);
		return;
	}
	io_printf(s->io, "250-%s Hello %s [%s]\r\n", p->hostname, s->helo,
	          s->peer);
	io_printf(s->io,
	          "250-PIPELINING\r\n250-SIZE %llu\r\n250-8BITMIME\r\n"
	          "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n"
	          "250-CHUNKING\r\n250-DSN\r\n",
	          (unsigned long long)p->max_message_size);
	if (!tls && session_tls_available(s) &&
	    s->tls_policy != SETTINGS_TLS_NONE)
		io_printf(s->io, "250-STARTTLS\r\n");
	if (tls && s->role != SETTINGS_ROLE_MX && s->auth_user == NULL)
		session_sasl_ehlo(s);
	io_printf(s->io, "250 HELP\r\n");
}

static void helo_after(struct session *s, bool ok)
{
	if (ok) {
		helo_reply(s);
		return;
	}
	free(s->helo);
	s->helo = NULL;
	s->ehlo = false;
}

static void do_helo(struct session *s, const struct smtpcmd *c, bool ehlo)
{
	if (c->arg_len == 0 || memchr(c->arg, ' ', c->arg_len) != NULL) {
		session_reply(s, 501, "5.5.4", "Syntax: %s hostname",
		              ehlo ? "EHLO" : "HELO");
		return;
	}
	session_reset_tx(s);
	free(s->helo);
	s->helo = alloc_strndup(c->arg, c->arg_len);
	s->greeted = false;
	s->ehlo = ehlo;
	if (!session_milter_helo(s, s->helo, helo_after))
		helo_reply(s);
}

/* --- DATA, BDAT, and the end of a message ---------------------------- */

static void commit_done(void *ctx, int result, const char *error)
{
	struct session *s = ctx;
	char id[SPOOL_ID_LEN + 1];

	snprintf(id, sizeof(id), "%s", spool_msg_id(s->msg));
	s->msg = NULL; /* freed by the spool when we return */
	if (result == 0) {
		char mid[LOG_QUOTE_MAX], tls[LOG_QUOTE_MAX];
		const char *info = io_tls_info(s->io);

		log_info(
		    id,
		    "event=accepted session=%s from=<%s> rcpts=%zu "
		    "size=%llu msgid=%s client=%s user=%s tls=%s",
		    s->id, s->mail_from, s->n_rcpts,
		    (unsigned long long)(s->envelope != NULL ? s->envelope->size
		                                             : 0),
		    log_quote_str(mid, s->message_id[0] != '\0' ? s->message_id
		                                                : "-"),
		    s->peer, s->auth_user != NULL ? s->auth_user : "-",
		    log_quote_str(tls, info != NULL ? info : "-"));
		s->stats->accepted++;
		session_reply(s, 250, "2.0.0", "Ok: queued as %s", id);
		/* The queue takes the envelope we committed rather than
		 * reading back thousands of recipients of a group. */
		if (s->env->queue != NULL)
			queue_add(s->env->queue, id, &s->envelope);
	} else {
		log_error(id, "event=spool_commit_failed error=\"%s\"", error);
		s->stats->refused[RSTATS_REFUSE_SPOOL]++;
		session_reply(s, 451, "4.3.0",
		              "Temporary failure storing the message");
	}
	session_reset_tx(s);
	session_resume(s);
}

static struct spoolrec *build_envelope(struct session *s,
                                       const struct dotstream_stats *st)
{
	struct spoolrec *env = spoolrec_new();

	snprintf(env->id, sizeof(env->id), "%s", spool_msg_id(s->msg));
	env->arrival = (uint64_t)time(NULL);
	spoolrec_set(&env->client, s->peer);
	spoolrec_set(&env->helo, s->helo != NULL ? s->helo : "");
	spoolrec_set(&env->auth_user, s->auth_user != NULL ? s->auth_user : "");
	spoolrec_set(&env->mail_from, s->mail_from);
	env->size = st->size;
	env->body = s->mail.body == SMTPCMD_BODY_8BITMIME
	                ? SPOOLREC_BODY_8BITMIME
	                : SPOOLREC_BODY_7BIT;
	env->smtputf8 = s->mail.smtputf8;
	env->ret = s->mail.ret == SMTPCMD_RET_FULL   ? SPOOLREC_RET_FULL
	           : s->mail.ret == SMTPCMD_RET_HDRS ? SPOOLREC_RET_HDRS
	                                             : SPOOLREC_RET_NONE;
	spoolrec_set(&env->envid, s->mail.envid != NULL ? s->mail.envid : "");
	for (size_t i = 0; i < s->n_rcpts; i++) {
		const struct session_rcpt *r = &s->rcpts[i];

		for (size_t k = 0; k < r->n_dests; k++) {
			struct spoolrec_rcpt *sr =
			    spoolrec_add_rcpt(env, r->dests[k], r->hops[k]);

			sr->notify = r->notify;
			/* DSN: the original recipient, when it changed. */
			if (r->orcpt != NULL)
				spoolrec_set(&sr->orcpt, r->orcpt);
			else if (strcasecmp(r->dests[k], r->addr) != 0)
				spoolrec_set(&sr->orcpt, r->addr);
			else
				spoolrec_set(&sr->orcpt, "");
			spoolrec_set(&sr->error, "");
			spoolrec_set(&sr->sender,
			             r->senders != NULL ? r->senders[k] : NULL);
		}
	}
	env->smtputf8_needed =
	    intl_msg_needs_utf8(env->mail_from, st->header_8bit);
	return env;
}

/* The message is complete: check it, then commit it or refuse it. */
static void message_end(struct session *s)
{
	const struct session_params *p = s->env->params;
	struct dotstream_stats st;

	dotstream_stats(s->ds, &st);
	memcpy(s->message_id, st.message_id, sizeof(s->message_id));
	if (st.bare_lf > 0 || st.bare_cr > 0)
		log_info(s->id,
		         "event=bare_newlines lf=%llu cr=%llu "
		         "action=converted_to_crlf",
		         (unsigned long long)st.bare_lf,
		         (unsigned long long)st.bare_cr);
	if (st.too_big) {
		s->stats->refused[RSTATS_REFUSE_TOO_BIG]++;
		session_reply(s, 552, "5.3.4", "Message too big");
	} else if (st.nul_bytes > 0) {
		s->stats->refused[RSTATS_REFUSE_CONTENT]++;
		session_reply(s, 554, "5.6.0",
		              "NUL characters are not allowed");
	} else if (st.line_too_long) {
		s->stats->refused[RSTATS_REFUSE_CONTENT]++;
		session_reply(s, 500, "5.5.2",
		              "Line too long: the limit is %zu octets",
		              p->max_line_length);
	} else if (st.received > p->max_received_headers) {
		log_warn(s->id, "event=loop received=%u", st.received);
		s->stats->refused[RSTATS_REFUSE_LOOP]++;
		session_reply(s, 554, "5.4.6",
		              "Too many Received headers: mail loop?");
	} else if (session_size_sender_over(s, st.size) ||
	           session_size_rcpts_over(s, st.size)) {
		/* 552: over the sender's or every recipient's limit */
	} else if (s->msg == NULL || s->msg_failed) {
		s->stats->refused[RSTATS_REFUSE_SPOOL]++;
		session_reply(s, 451, "4.3.0",
		              "Temporary failure storing the message");
	} else {
		/* The listener's mail filters first, if it has any: they
		 * call session_message_commit() when they are done. */
		if (!session_milter_start(s, &st))
			session_message_commit(s, &st, NULL);
		return;
	}
	session_reset_tx(s);
}

void session_message_commit(struct session *s, const struct dotstream_stats *st,
                            const char *quarantine)
{
	struct spoolrec *env = build_envelope(s, st);
	const char *error;

	if (quarantine != NULL) {
		/* Held in the queue, the reason shown by dirmxctl queue. */
		env->held = true;
		for (size_t i = 0; i < env->rcpt_count; i++)
			spoolrec_set(&env->rcpts[i].error, quarantine);
	}
	if (spool_msg_commit(s->msg, env, commit_done, s, &error) == 0) {
		/* Kept for the queue until commit_done(). */
		spoolrec_deinit(&s->envelope);
		s->envelope = env;
		session_wait(s);
		return;
	}
	spoolrec_deinit(&env);
	log_error(s->id, "event=spool_commit_failed error=\"%s\"", error);
	s->stats->refused[RSTATS_REFUSE_SPOOL]++;
	session_reply(s, 451, "4.3.0", "Temporary failure storing the message");
	session_reset_tx(s);
	if (s->phase == PHASE_WAIT)
		session_resume(s);
}

void session_data_done(struct session *s)
{
	s->phase = PHASE_CMD;
	message_end(s);
}

void session_bdat_chunk_done(struct session *s)
{
	if (!s->bdat_last) {
		struct dotstream_stats st;

		dotstream_stats(s->ds, &st);
		session_reply(s, 250, "2.0.0", "%llu octets received",
		              (unsigned long long)st.size);
		return;
	}
	s->in_bdat = false;
	message_end(s);
}

static void payload_refused(struct session *s, const struct smtpcmd *c,
                            size_t pipelined);

static void data_start(struct session *s)
{
	session_start_data(s, false);
	io_printf(s->io, "354 End data with <CR><LF>.<CR><LF>\r\n");
	s->phase = PHASE_DATA;
}

/* The mail filters answered DATA. Refused (the reply is out): what the
 * client sent behind DATA is still in the input, unread, as the session
 * read nothing while it waited. */
static void data_after(struct session *s, bool ok)
{
	struct smtpcmd c = {.verb = SMTPCMD_DATA};

	if (ok)
		data_start(s);
	else
		payload_refused(s, &c, sbuf_len(io_input(s->io)));
}

static void do_data(struct session *s, const struct smtpcmd *c)
{
	if (c->arg_len != 0) {
		session_reply(s, 501, "5.5.4", "DATA takes no argument");
		return;
	}
	if (!session_milter_data(s, data_after))
		data_start(s);
}

/*
 * A refused BDAT still announced a chunk: read it and drop it, then
 * answer (RFC 3030 section 2; DESIGN.md invariant 7). Otherwise a chunk
 * that holds "MAIL ... RCPT ... DATA" would run as commands.
 */
static void bdat_refuse(struct session *s, uint64_t size, unsigned code,
                        const char *enhanced, const char *text)
{
	if (size == 0) {
		session_reply(s, code, enhanced, "%s", text);
		return;
	}
	log_info(s->id, "event=bdat_refused client=%s size=%llu reply=%u",
	         s->peer, (unsigned long long)size, code);
	s->bdat_discard = true;
	s->bdat_left = size;
	s->refusal_code = code;
	snprintf(s->refusal_enh, sizeof(s->refusal_enh), "%s", enhanced);
	free(s->refusal_text);
	s->refusal_text = alloc_strdup(text);
	s->phase = PHASE_BDAT;
	session_arm_data(s);
}

void session_bdat_refused(struct session *s)
{
	s->bdat_discard = false;
	session_reply(s, s->refusal_code, s->refusal_enh, "%s",
	              s->refusal_text);
	free(s->refusal_text);
	s->refusal_text = NULL;
}

/* The client sent bytes we can only read as commands although they may be
 * a payload (a body behind a refused DATA, a SASL response behind a
 * refused AUTH): running them could execute the payload. */
static void sync_error(struct session *s, const char *after)
{
	log_warn(s->id,
	         "event=sync_error client=%s after=%s "
	         "action=disconnect",
	         s->peer, after);
	if (s->phase == PHASE_CLOSE)
		return;
	io_printf(s->io,
	          "554 5.5.0 SMTP protocol synchronization error "
	          "(data sent after %s before its reply), closing\r\n",
	          after);
	session_close(s);
}

bool session_unreadable_line(struct session *s, const char *line, size_t len)
{
	uint64_t size;

	/* An over-long line may still be a BDAT; the size decides little:
	 * refuse to guess where its chunk ends. */
	if (len < 5 || smtpcmd_bdat_size(line, 5, &size) == 0)
		return false;
	log_warn(s->id,
	         "event=bdat_unreadable client=%s reason=line_too_long "
	         "action=disconnect",
	         s->peer);
	io_printf(s->io, "500 5.5.2 Line too long; the BDAT chunk cannot be "
	                 "found, closing\r\n");
	session_close(s);
	return true;
}

static void do_bdat(struct session *s, const struct smtpcmd *c, uint64_t size)
{
	struct smtpcmd_error e;
	bool last;

	if (smtpcmd_parse_bdat(c->arg, c->arg_len, &size, &last, &e) < 0) {
		bdat_refuse(s, size, e.code, e.enhanced, e.text);
		return;
	}
	if (!s->in_bdat) {
		s->in_bdat = true;
		session_start_data(s, true);
	}
	s->bdat_left = size;
	s->bdat_last = last;
	if (size == 0) {
		if (last) {
			dotstream_bdat_finish(s->ds, s->chunk);
			session_flush_chunk(s);
		}
		session_bdat_chunk_done(s);
		return;
	}
	s->phase = PHASE_BDAT;
	session_arm_data(s);
}

/* --- the table ---------------------------------------------------------- */

/*
 * DATA or AUTH was refused. A client that did not wait for the reply has
 * already sent the body or its SASL response (pipelined bytes behind the
 * command): those must not run as commands. Without pipelined bytes, the
 * first line after a refused DATA is checked in session_command().
 */
static void payload_refused(struct session *s, const struct smtpcmd *c,
                            size_t pipelined)
{
	bool data = c->verb == SMTPCMD_DATA;

	if (s->phase == PHASE_CLOSE)
		return;
	if (pipelined > 0) {
		sync_error(s, data ? "DATA" : "AUTH");
		return;
	}
	s->data_refused = data;
}

void session_command(struct session *s, const char *line, size_t len,
                     size_t pipelined)
{
	struct smtpcmd c;
	struct smtpcmd_error e;
	struct session_view v;
	unsigned code;
	const char *enhanced, *text;
	uint64_t bdat_size = 0;
	int bdat = smtpcmd_bdat_size(line, len, &bdat_size);
	bool data_refused = s->data_refused;
	int parsed;

	s->data_refused = false;
	if (bdat < 0) {
		log_warn(s->id,
		         "event=bdat_unreadable client=%s "
		         "reason=size action=disconnect",
		         s->peer);
		io_printf(s->io, "501 5.5.4 Syntax: BDAT size [LAST]; the "
		                 "chunk cannot be found, closing\r\n");
		session_close(s);
		return;
	}
	parsed = smtpcmd_parse(line, len, &c, &e);
	/* After a refused DATA, a line that is no command is the body of a
	 * client that did not wait for the reply. */
	if (data_refused && (parsed < 0 || c.verb == SMTPCMD_UNKNOWN)) {
		sync_error(s, "DATA");
		return;
	}
	/* A mail filter refused this session. */
	if (session_milter_refused(s, c.verb, &code, &enhanced, &text)) {
		if (bdat > 0) {
			bdat_refuse(s, bdat_size, code, enhanced, text);
			return;
		}
		session_reply(s, code, enhanced, "%s", text);
		if (c.verb == SMTPCMD_DATA || c.verb == SMTPCMD_AUTH)
			payload_refused(s, &c, pipelined);
		return;
	}
	if (parsed < 0) {
		if (bdat > 0)
			bdat_refuse(s, bdat_size, e.code, e.enhanced, e.text);
		else if (c.verb != SMTPCMD_UNKNOWN ||
		         !session_milter_unknown(s, line, len, &e))
			reply_err(s, &e);
		return;
	}
	session_view(s, &v);
	if (session_check(&v, c.verb, &code, &enhanced, &text) < 0) {
		struct smtpcmd_error own = {code, enhanced, text};

		if (bdat > 0) {
			bdat_refuse(s, bdat_size, code, enhanced, text);
			return;
		}
		/* Not implemented here: the filters may answer it. */
		if (c.verb == SMTPCMD_EXPN &&
		    session_milter_unknown(s, line, len, &own))
			return;
		session_reply(s, code, enhanced, "%s", text);
		if (c.verb == SMTPCMD_DATA || c.verb == SMTPCMD_AUTH)
			payload_refused(s, &c, pipelined);
		return;
	}
	switch (c.verb) {
	case SMTPCMD_HELO:
		do_helo(s, &c, false);
		break;
	case SMTPCMD_EHLO:
		do_helo(s, &c, true);
		break;
	case SMTPCMD_MAIL:
		session_do_mail(s, &c);
		break;
	case SMTPCMD_RCPT:
		session_do_rcpt(s, &c);
		break;
	case SMTPCMD_DATA:
		do_data(s, &c);
		if (s->phase != PHASE_DATA && s->phase != PHASE_WAIT)
			payload_refused(s, &c, pipelined);
		break;
	case SMTPCMD_BDAT:
		do_bdat(s, &c, bdat_size);
		break;
	case SMTPCMD_RSET:
		session_reset_tx(s);
		session_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTPCMD_NOOP:
		session_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTPCMD_QUIT:
		session_reply(s, 221, "2.0.0", "Bye");
		session_close(s);
		break;
	case SMTPCMD_HELP:
		session_reply(s, 214, "2.0.0",
		              "See RFC 5321; dirmx routes by the directory");
		break;
	case SMTPCMD_VRFY:
		session_reply(s, 252, "2.5.2",
		              "Cannot VRFY user, but will accept message");
		break;
	case SMTPCMD_STARTTLS:
		session_do_starttls(s, &c);
		break;
	case SMTPCMD_AUTH:
		session_do_auth(s, &c);
		/* Refused at once (not waiting for authd, not asking for a
		 * response): what follows may be a SASL response. */
		if (s->phase == PHASE_CMD)
			payload_refused(s, &c, pipelined);
		break;
	case SMTPCMD_EXPN:
	case SMTPCMD_UNKNOWN:
		session_reply(s, 502, "5.5.1", "Command not implemented");
		break;
	}
}
