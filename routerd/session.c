/*
 * session - one SMTP session: I/O, command lines, message data; see
 * session.h. The commands themselves are in session_cmd.c.
 *
 * Input is processed only in PHASE_CMD, PHASE_DATA, PHASE_BDAT and
 * PHASE_AUTH; while the session waits (authd, the spool, an AUTH delay)
 * reading is paused, so pipelined commands stay in the bounded input
 * buffer and are answered in order once the wait is over.
 *
 * Lines end with CRLF. A command line longer than 512 octets with its CRLF
 * (RFC 5321 4.5.3.1.4; 1,024 for MAIL and RCPT, whose ESMTP parameters
 * add to the limit, RFC 1870 / 3461 / 4954 5; 2,048 for AUTH and its
 * responses) is answered 500 5.5.2 once and skipped up to its end, however
 * many reads it takes to arrive. Message data goes through dotstream
 * (DATA) or is counted out (BDAT) and is written to the spool as it
 * comes, after the Received: header this server adds.
 */
#include "session_private.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"
#include "policy.h"
#include "received.h"
#include "sbuf.h"
#include "settings.h"

/* AUTH and SASL responses: RFC 4954 asks for 12288 octets; a Kerberos
 * ticket with a large PAC is up to 16 KiB of base64 (authc.h). */
#define LINE_MAX_CMD (AUTHC_SASL_B64_MAX + 32)
#define LINE_MAX_SMTP 512    /* RFC 5321 4.5.3.1.4, CRLF included */
#define LINE_MAX_PARAMS 1024 /* MAIL, RCPT with ESMTP parameters */
#define INPUT_LIMIT (256u * 1024)

static void session_process(struct session *s);

void session_reply(struct session *s, unsigned code, const char *enhanced,
                   const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (enhanced != NULL)
		io_printf(s->io, "%u %s %s\r\n", code, enhanced, text);
	else
		io_printf(s->io, "%u %s\r\n", code, text);
	if (code >= 500)
		session_error_count(s);
}

void session_reply_error(struct session *s, const struct smtpcmd_error *e)
{
	session_reply(s, e->code, e->enhanced, "%s", e->text);
}

void session_error_count(struct session *s)
{
	const struct session_params *p = s->env->params;

	if (++s->errors > p->max_errors && s->phase != PHASE_CLOSE) {
		io_printf(s->io, "421 4.7.0 Too many errors, closing\r\n");
		log_info(s->id, "event=close reason=too_many_errors");
		session_close(s);
	}
}

/* Free everything; the owner is not told (see session_free). */
static void session_teardown(struct session *s)
{
	s->stats->sessions--;
	session_reset_tx(s);
	session_milter_close(s);
	authc_cancel(&s->areq);
	session_sasl_end(s);
	evloop_timer_free(&s->delay);
	if (s->msg != NULL)
		spool_msg_abort(&s->msg);
	dotstream_deinit(&s->ds);
	sbuf_deinit(&s->chunk);
	io_free(&s->io);
	free(s->helo);
	free(s->auth_user);
	if (s->login_user != NULL) {
		explicit_bzero(s->login_user, strlen(s->login_user));
		free(s->login_user);
	}
	for (size_t i = 0; i < s->n_senders; i++)
		free(s->senders[i]);
	free(s->senders);
	free(s->pending_reply);
	free(s->refusal_text);
	if (s->has_pending_rcpt)
		smtpcmd_rcpt_clear(&s->pending_rcpt);
	free(s);
}

static void session_free(struct session *s)
{
	if (s->env->closed != NULL)
		s->env->closed(s->env->ctx, s);
	session_teardown(s);
}

void session_destroy(struct session *s)
{
	session_free(s);
}

/* Flush what is queued, then close (from IO_LOWAT). */
void session_close(struct session *s)
{
	s->phase = PHASE_CLOSE;
	io_hold_output(s->io, false);
	io_pause_read(s->io);
	if (io_queued(s->io) == 0) {
		/* Nothing to flush: the next event frees us. */
		io_write(s->io, "", 0);
	}
}

void session_arm_command(struct session *s)
{
	s->rearm = false;
	io_set_deadline(s->io, s->env->params->cmd_timeout_ms, 0);
}

void session_arm_data(struct session *s)
{
	const struct session_params *p = s->env->params;

	io_set_deadline(s->io, p->data_timeout_ms, p->min_data_rate);
}

static const char *phase_name(enum session_phase phase)
{
	switch (phase) {
	case PHASE_CMD:
		return "command";
	case PHASE_WAIT:
		return "wait";
	case PHASE_DATA:
		return "data";
	case PHASE_BDAT:
		return "bdat";
	case PHASE_AUTH:
		return "auth";
	case PHASE_CLOSE:
		return "close";
	}
	return "?";
}

void session_wait(struct session *s)
{
	/* The client waits for us now: no deadline for it (authd, the spool
	 * and AUTH delays have their own bounds). */
	io_set_timeout(s->io, 0);
	s->phase = PHASE_WAIT;
	io_pause_read(s->io);
}

void session_resume(struct session *s)
{
	if (s->phase == PHASE_CLOSE)
		return;
	if (s->phase == PHASE_WAIT) {
		s->phase = PHASE_CMD;
		/* The client waited for us: its next line's time starts now. */
		s->rearm = true;
	}
	io_hold_output(s->io, false);
	io_resume_read(s->io);
	session_process(s);
}

void session_rcpt_free(struct session_rcpt *r)
{
	for (size_t k = 0; k < r->n_dests; k++) {
		free(r->dests[k]);
		free(r->hops[k]);
		if (r->senders != NULL)
			free(r->senders[k]);
	}
	free(r->senders);
	free(r->dests);
	free(r->hops);
	free(r->max_kb);
	free(r->addr);
	free(r->orcpt);
}

struct session_rcpt *session_rcpt_new(struct session *s)
{
	struct session_rcpt *r;

	if (s->n_rcpts == s->cap_rcpts) {
		s->cap_rcpts = s->cap_rcpts == 0 ? 4 : s->cap_rcpts * 2;
		s->rcpts =
		    alloc_resize(s->rcpts, s->cap_rcpts, sizeof(*s->rcpts));
	}
	r = &s->rcpts[s->n_rcpts++];
	memset(r, 0, sizeof(*r));
	return r;
}

void session_reset_tx(struct session *s)
{
	session_ahead_drop(s);
	session_milter_abort(s);
	if (s->in_mail)
		smtpcmd_mail_clear(&s->mail);
	s->in_mail = false;
	free(s->mail_from);
	s->mail_from = NULL;
	for (size_t i = 0; i < s->n_rcpts; i++)
		session_rcpt_free(&s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->n_rcpts = s->cap_rcpts = 0;
	s->in_bdat = false;
	s->bdat_left = 0;
	s->msg_failed = false;
	dotstream_deinit(&s->ds);
	if (s->msg != NULL)
		spool_msg_abort(&s->msg);
	spoolrec_deinit(&s->envelope);
}

bool session_tls_available(const struct session *s)
{
	return s->env->tls != NULL;
}

void session_view(const struct session *s, struct session_view *v)
{
	v->role = s->role;
	v->tls_policy = s->tls_policy;
	v->tls_active = io_is_tls(s->io);
	v->tls_available = session_tls_available(s);
	v->greeted = s->greeted;
	v->ehlo = s->ehlo;
	v->authenticated = s->auth_user != NULL;
	v->in_mail = s->in_mail;
	v->rcpts = (unsigned)s->n_rcpts;
	v->in_bdat = s->in_bdat;
}

void session_flush_chunk(struct session *s)
{
	const char *error;

	if (sbuf_len(s->chunk) == 0)
		return;
	if (s->msg != NULL && !s->msg_failed &&
	    spool_msg_write(s->msg, sbuf_data(s->chunk), sbuf_len(s->chunk),
	                    &error) < 0) {
		log_error(s->id, "event=spool_write_failed error=\"%s\"",
		          error);
		s->msg_failed = true;
	}
	sbuf_reset(s->chunk);
}

/* The Received: field this server adds in front of every message. */
static void add_received(struct session *s)
{
	const struct session_params *p = s->env->params;
	struct io_tls_params tp;
	struct received_info ri = {0};
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	ri.helo = s->helo;
	ri.peer_ip = s->peer;
	ri.hostname = p->hostname;
	ri.queue_id = spool_msg_id(s->msg);
	ri.rcpt = s->n_rcpts == 1 ? s->rcpts[0].addr : NULL;
	ri.date = date;
	ri.ehlo = s->ehlo;
	ri.auth = s->auth_user != NULL;
	ri.smtputf8 = s->in_mail && s->mail.smtputf8;
	if (io_tls_params(s->io, &tp)) {
		ri.tls_version = tp.version;
		ri.tls_cipher = tp.cipher;
		ri.tls_bits = tp.bits;
	}
	received_format(s->chunk, &ri);
	session_flush_chunk(s);
}

void session_start_data(struct session *s, bool bdat)
{
	const struct session_params *p = s->env->params;
	const char *error;

	/* Begun at MAIL already when mail filters asked for its ID. */
	if (s->msg == NULL &&
	    spool_msg_begin(s->env->spool, &s->msg, &error) < 0) {
		log_error(s->id, "event=spool_begin_failed error=\"%s\"",
		          error);
		s->msg = NULL;
		s->msg_failed = true;
	}
	if (s->chunk == NULL)
		s->chunk = sbuf_new(1024 * 1024);
	s->ds =
	    bdat ? dotstream_new_bdat(p->max_message_size, p->max_line_length)
	         : dotstream_new(p->max_message_size, p->max_line_length);
	if (s->msg != NULL)
		add_received(s);
	s->data_start = s->msg != NULL ? spool_msg_size(s->msg) : 0;
	session_arm_data(s);
}

static void process_data(struct session *s)
{
	struct sbuf *in = io_input(s->io);
	size_t consumed = 0;
	int done;

	done = dotstream_feed(s->ds, sbuf_data(in), sbuf_len(in), &consumed,
	                      s->chunk);
	sbuf_consume(in, consumed);
	session_flush_chunk(s);
	if (done == 1) {
		s->rearm = true;
		session_data_done(s);
	}
}

static void process_bdat(struct session *s)
{
	struct sbuf *in = io_input(s->io);
	size_t n = sbuf_len(in);

	if (n > s->bdat_left)
		n = (size_t)s->bdat_left;
	if (s->bdat_discard) {
		sbuf_consume(in, n);
		s->bdat_left -= n;
		if (s->bdat_left == 0) {
			s->phase = PHASE_CMD;
			s->rearm = true;
			session_bdat_refused(s);
		}
		return;
	}
	dotstream_bdat_feed(s->ds, sbuf_data(in), n, s->chunk);
	sbuf_consume(in, n);
	s->bdat_left -= n;
	if (s->bdat_left == 0 && s->bdat_last)
		dotstream_bdat_finish(s->ds, s->chunk);
	session_flush_chunk(s);
	if (s->bdat_left == 0) {
		s->phase = PHASE_CMD;
		s->rearm = true;
		session_bdat_chunk_done(s);
	}
}

int session_input_line(struct session *s, size_t off, const char **line_r,
                       size_t *len_r)
{
	struct sbuf *in = io_input(s->io);
	const char *d = sbuf_data(in) + off;
	size_t n = sbuf_len(in) - off;

	for (size_t i = 0; i + 1 < n && i < LINE_MAX_CMD; i++) {
		if (d[i] == '\r' && d[i + 1] == '\n') {
			*line_r = d;
			*len_r = i;
			return 1;
		}
	}
	return n >= LINE_MAX_CMD ? -1 : 0;
}

/* Drop input up to and including the next CRLF; without one, drop what
 * is there (but a final CR, which may start the CRLF) and keep skipping
 * when more arrives. 1: the line's end was found. */
static int skip_line(struct session *s)
{
	struct sbuf *in = io_input(s->io);
	const char *d = sbuf_data(in);
	size_t n = sbuf_len(in);
	const char *nl = memmem(d, n, "\r\n", 2);

	if (nl != NULL) {
		sbuf_consume(in, (size_t)(nl - d) + 2);
		s->skip_line = false;
		return 1;
	}
	sbuf_consume(in, n > 0 && d[n - 1] == '\r' ? n - 1 : n);
	s->skip_line = true;
	return 0;
}

static bool verb_is(const char *line, size_t len, const char *verb)
{
	size_t n = strlen(verb);

	return len > n && strncasecmp(line, verb, n) == 0 && line[n] == ' ';
}

size_t session_cmd_line_limit(const char *line, size_t len)
{
	if (verb_is(line, len, "AUTH"))
		return LINE_MAX_CMD;
	if (verb_is(line, len, "MAIL") || verb_is(line, len, "RCPT"))
		return LINE_MAX_PARAMS;
	return LINE_MAX_SMTP;
}

static void session_process_lines(struct session *s);

/* Process what is buffered, then let the io read again if its input
 * buffer was full (it stops reading rather than overflow). */
static void session_process(struct session *s)
{
	session_process_lines(s);
	if (s->rearm && (s->phase == PHASE_CMD || s->phase == PHASE_AUTH))
		session_arm_command(s);
	if (s->phase != PHASE_CLOSE)
		io_input_consumed(s->io);
}

static void session_process_lines(struct session *s)
{
	for (;;) {
		const char *line;
		size_t len;
		int r;

		switch (s->phase) {
		case PHASE_DATA:
			process_data(s);
			if (s->phase == PHASE_DATA)
				return; /* need more */
			continue;
		case PHASE_BDAT:
			if (sbuf_len(io_input(s->io)) == 0)
				return;
			process_bdat(s);
			continue;
		case PHASE_CMD:
		case PHASE_AUTH:
			break;
		case PHASE_WAIT:
		case PHASE_CLOSE:
			return;
		}
		if (s->skip_line) {
			if (skip_line(s) == 0)
				return;
			continue;
		}
		/* No command before the filters answered the connection. */
		if (s->phase == PHASE_CMD && session_milter_gate(s))
			return;
		r = session_input_line(s, 0, &line, &len);
		if (r == 0)
			return;
		if (r < 0) {
			line = sbuf_data(io_input(s->io));
			len = sbuf_len(io_input(s->io));
			if (s->phase == PHASE_CMD &&
			    session_unreadable_line(s, line, len))
				return;
			session_reply(s, 500, "5.5.2", "Line too long");
			skip_line(s);
			continue;
		}
		if (s->phase == PHASE_CMD &&
		    len + 2 > session_cmd_line_limit(line, len)) {
			if (session_unreadable_line(s, line, len))
				return;
			session_reply(s, 500, "5.5.2", "Line too long");
			sbuf_consume(io_input(s->io), len + 2);
			continue;
		}
		if (s->phase == PHASE_AUTH)
			session_auth_line(s, line, len);
		else
			session_command(s, line, len,
			                sbuf_len(io_input(s->io)) - len - 2);
		/* The line may have held a password: wipe it, then drop. */
		explicit_bzero((char *)line, len);
		sbuf_consume(io_input(s->io), len + 2);
		s->rearm = true;
	}
}

static void session_io(struct io *io, enum io_event ev, void *ctx)
{
	struct session *s = ctx;
	struct io_tls_params tp;

	switch (ev) {
	case IO_DATAIN:
		session_process(s);
		return;
	case IO_LOWAT:
		if (s->phase == PHASE_CLOSE) {
			session_free(s);
		} else if (s->starttls_pending && io_queued(io) == 0) {
			s->starttls_pending = false;
			if (io_start_tls(io, s->env->tls) < 0) {
				log_error(s->id, "event=tls_init_failed");
				session_free(s);
				return;
			}
			/* The handshake has a deadline of its own. */
			session_arm_command(s);
		}
		return;
	case IO_TLSREADY:
		log_info(s->id, "event=starttls tls=\"%s\"", io_tls_info(io));
		rstats_tls_done(io_tls_params(io, &tp) ? tp.version : NULL);
		/* RFC 3207: the client must say EHLO again. */
		s->greeted = s->ehlo = false;
		free(s->helo);
		s->helo = NULL;
		session_reset_tx(s);
		if (s->phase != PHASE_CLOSE) {
			s->phase = PHASE_CMD;
			session_arm_command(s);
			io_resume_read(io);
			/* Implicit TLS: the greeting comes after the handshake.
			 */
			if (s->pending_reply != NULL) {
				io_printf(io, "%s", s->pending_reply);
				free(s->pending_reply);
				s->pending_reply = NULL;
			}
		}
		return;
	case IO_TIMEOUT: {
		uint64_t bytes, ms;

		io_deadline_stats(io, &bytes, &ms);
		log_info(s->id,
		         "event=timeout client=%s phase=%s bytes=%llu "
		         "elapsed_ms=%llu",
		         s->peer, phase_name(s->phase),
		         (unsigned long long)bytes, (unsigned long long)ms);
		if (s->phase != PHASE_CLOSE) {
			io_printf(io, "421 4.4.2 %s Timeout, closing\r\n",
			          s->env->params->hostname);
			s->phase = PHASE_CLOSE;
			io_set_deadline(io, 5000, 0);
			return;
		}
		session_free(s);
		return;
	}
	case IO_DISCONNECTED:
	case IO_ERROR:
		if (s->ds != NULL || s->phase == PHASE_DATA)
			log_info(s->id, "event=lost phase=%d error=\"%s\"",
			         (int)s->phase, io_error(io));
		else
			log_debug(s->id, "event=disconnect error=\"%s\"",
			          io_error(io));
		session_free(s);
		return;
	}
}

void session_peer_text(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, buf, size) == NULL)
		snprintf(buf, size, "unknown");
}

static unsigned long long session_counter;

struct session *session_new(const struct session_env *env, int fd,
                            const struct sockaddr *peer,
                            const struct session_listener *l)
{
	struct session *s = alloc_new(struct session);
	const struct session_params *p = env->params;
	char greeting[600];

	s->env = env;
	s->role = l->role;
	s->tls_policy = l->tls;
	snprintf(s->listener, sizeof(s->listener), "%s", l->name);
	s->stats = rstats_listener(l->name);
	s->stats->sessions++;
	snprintf(s->id, sizeof(s->id), "s%llu", ++session_counter);
	session_peer_text(peer, s->peer, sizeof(s->peer));
	s->relay_client = policy_client_in_relay_networks(env->policy, peer);
	s->io = io_new(env->base, fd, INPUT_LIMIT, session_io, s);
	session_arm_command(s);
	io_set_handshake_timeout(s->io, p->tls_handshake_timeout_ms);
	s->delay = NULL;
	log_info(s->id, "event=connect client=%s listener=%s relay_client=%d",
	         s->peer, s->listener, s->relay_client ? 1 : 0);
	session_milter_open(s);
	snprintf(greeting, sizeof(greeting), "220 %s ESMTP dirmx\r\n",
	         p->hostname);
	if (s->role == SETTINGS_ROLE_SUBMISSIONS) {
		if (!session_tls_available(s) ||
		    io_start_tls(s->io, env->tls) < 0) {
			log_error(s->id, "event=tls_unavailable");
			session_teardown(s);
			return NULL;
		}
		s->pending_reply = alloc_strdup(greeting);
		return s;
	}
	io_printf(s->io, "%s", greeting);
	return s;
}
