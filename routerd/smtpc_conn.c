/*
 * smtpc_conn - one outbound SMTP connection up to the transaction:
 * connect, greeting, EHLO/HELO, STARTTLS, AUTH; and idle, RSET, QUIT.
 *
 *	smtpc_conn_open(c, req, key)	connect to req's current target
 *	smtpc_conn_take(conn, req)	give a (new or idle) connection a job
 *	smtpc_conn_fail(conn, st, why)	what a failure means, then free
 *	smtpc_conn_done(conn, rset)	transaction over: release, RSET/idle
 *
 * The connect is non-blocking with a libevent timeout; then the socket
 * belongs to an io (io.h), whose timeout is set per state (RFC 5321
 * 4.5.3.2). Replies are read with smtpreply_parse() (SMTPREPLY_BARE_LF:
 * a server's bare LF ends a line, as Postfix reads it) and dispatched by
 * state; transaction states go to smtpc_txn.c. Every failure before MAIL
 * FROM is the target's failure (the request moves to the next target);
 * from MAIL FROM on it is the transaction's (RETRY for what is open).
 * Nothing after a STARTTLS 220 survives the handshake (io_start_tls_client
 * drops buffered input), so a server cannot inject plain-text replies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "evloop.h"
#include "io.h"
#include "log.h"
#include "sbuf.h"
#include "smtpc_private.h"

static bool conn_send_ehlo_result(struct smtpc_conn *conn);

void smtpc_addr_str(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, size, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, size, "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		snprintf(out, size, "?");
	}
}

void smtpc_conn_set_timeout(struct smtpc_conn *conn, unsigned ms)
{
	if (conn->io != NULL)
		io_set_timeout(conn->io, ms);
}

void smtpc_conn_free(struct smtpc_conn **connp)
{
	struct smtpc_conn *conn = *connp;

	if (conn == NULL)
		return;
	*connp = NULL;
	smtpc_conn_gone(conn);
	if (conn->ev_connect != NULL)
		event_free(conn->ev_connect);
	evloop_timer_free(&conn->timer);
	io_free(&conn->io);
	if (conn->fd >= 0)
		close(conn->fd);
	smtpreply_clear(&conn->reply);
	smtpreply_parser_deinit(&conn->rp);
	free(conn->key);
	free(conn->dest);
	free(conn->host);
	free(conn);
}

void smtpc_conn_fail(struct smtpc_conn *conn, const char *status,
                     const char *why)
{
	struct smtpc_req *req = conn->req;
	bool txn =
	    conn->state >= SMTPC_S_ENVELOPE && conn->state <= SMTPC_S_BDAT;
	bool dead_cache = conn->reused && !conn->got_reply;
	size_t i;

	if (req == NULL) {
		smtpc_conn_free(&conn);
		return;
	}
	if (txn && !dead_cache) {
		for (i = 0; i < req->n_rcpts; i++) {
			if (!req->rcpts[i].decided)
				smtpc_rcpt_decide(&req->rcpts[i], status, why);
		}
		conn->state = SMTPC_S_QUIT;
		smtpc_conn_released(conn);
		smtpc_conn_free(&conn);
		return;
	}
	conn->req = NULL;
	smtpc_conn_free(&conn);
	smtpc_req_target_failed(req, dead_cache, status, why);
}

/* A reply that ends the session with this target: its text as the
 * reason, its status with the class the caller gives. */
static void conn_fail_reply(struct smtpc_conn *conn, const char *what)
{
	char *text = smtpc_conn_reply_text(conn);
	char *why = alloc_printf("%s %s: %s", conn->host, what, text);
	char st[SMTPREPLY_ENHANCED_MAX];

	snprintf(st, sizeof(st), "%s",
	         conn->reply.enhanced[0] != '\0' ? conn->reply.enhanced
	                                         : "4.4.0");
	smtpc_conn_fail(conn, st, why);
	free(why);
	free(text);
}

char *smtpc_conn_reply_text(const struct smtpc_conn *conn)
{
	struct sbuf *s = sbuf_new(SIZE_MAX);
	char *text;

	/* no limit: cannot fail */
	(void)smtpreply_format_text(&conn->reply, s);
	text = sbuf_steal(s, NULL);
	sbuf_deinit(&s);
	return text;
}

void smtpc_conn_quit(struct smtpc_conn *conn)
{
	conn->state = SMTPC_S_QUIT;
	evloop_timer_stop(conn->timer);
	io_write(conn->io, "QUIT\r\n", 6);
	io_set_timeout(conn->io, 1000);
}

void smtpc_conn_done(struct smtpc_conn *conn, bool rset)
{
	const struct smtpc_settings *set = smtpc_settings(conn->c);

	conn->uses++;
	if (rset) {
		conn->state = SMTPC_S_RSET;
		io_write(conn->io, "RSET\r\n", 6);
		io_set_timeout(conn->io, set->helo_ms);
	} else if (conn->uses >= set->max_reuse) {
		smtpc_conn_quit(conn);
	} else {
		conn->state = SMTPC_S_IDLE;
		io_set_timeout(conn->io, 0);
		evloop_timer_start(conn->timer, set->idle_ms);
	}
	smtpc_conn_released(conn);
}

static bool conn_ready(struct smtpc_conn *conn)
{
	conn->state = SMTPC_S_READY;
	return smtpc_txn_start(conn);
}

/* Both return false when the connection was freed. */
static bool conn_send_auth(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	const struct smtpc_settings *set = smtpc_settings(conn->c);

	io_set_timeout(conn->io, set->helo_ms);
	if ((conn->caps.auth & SMTPREPLY_AUTH_PLAIN) != 0) {
		size_t ul = strlen(req->auth_user);
		size_t pl = strlen(req->auth_password);
		size_t len = ul + pl + 2;
		unsigned char *raw = alloc_zero(len);
		gnutls_datum_t in = {raw, (unsigned)len}, out = {NULL, 0};

		memcpy(raw + 1, req->auth_user, ul);
		memcpy(raw + 2 + ul, req->auth_password, pl);
		if (gnutls_base64_encode2(&in, &out) < 0) {
			explicit_bzero(raw, len);
			free(raw);
			smtpc_conn_fail(conn, "4.7.0", "cannot encode AUTH");
			return false;
		}
		io_printf(conn->io, "AUTH PLAIN %.*s\r\n", (int)out.size,
		          (const char *)out.data);
		explicit_bzero(out.data, out.size);
		gnutls_free(out.data);
		explicit_bzero(raw, len);
		free(raw);
		conn->state = SMTPC_S_AUTH;
	} else {
		io_write(conn->io, "AUTH LOGIN\r\n", 12);
		conn->state = SMTPC_S_AUTH_USER;
	}
	return true;
}

/* One base64 line for AUTH LOGIN. */
static bool conn_send_b64(struct smtpc_conn *conn, const char *s)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)s,
	                     (unsigned)strlen(s)};
	gnutls_datum_t out = {NULL, 0};

	if (gnutls_base64_encode2(&in, &out) < 0) {
		smtpc_conn_fail(conn, "4.7.0", "cannot encode AUTH");
		return false;
	}
	io_printf(conn->io, "%.*s\r\n", (int)out.size, (const char *)out.data);
	explicit_bzero(out.data, out.size);
	gnutls_free(out.data);
	return true;
}

/* After EHLO/HELO (and again after TLS): STARTTLS, AUTH or go. Returns
 * false when the connection was freed. */
static bool conn_send_ehlo_result(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	char why[512];

	if (!conn->is_tls && conn->tls != SMTPC_TLS_NONE) {
		if (smtpc_conn_has(conn, SMTPREPLY_CAP_STARTTLS)) {
			conn->state = SMTPC_S_STARTTLS;
			io_write(conn->io, "STARTTLS\r\n", 10);
			return true;
		}
		if (conn->tls != SMTPC_TLS_MAY) {
			snprintf(why, sizeof(why), "STARTTLS not offered by %s",
			         conn->host);
			smtpc_conn_fail(conn, "4.7.4", why);
			return false;
		}
	}
	if (req->auth_user != NULL) {
		if (!conn->is_tls) {
			smtpc_conn_fail(conn, "4.7.0",
			                "not sending AUTH without TLS");
			return false;
		}
		if ((conn->caps.auth &
		     (SMTPREPLY_AUTH_PLAIN | SMTPREPLY_AUTH_LOGIN)) == 0) {
			snprintf(why, sizeof(why),
			         "AUTH PLAIN or LOGIN not offered by %s",
			         conn->host);
			smtpc_conn_fail(conn, "4.7.0", why);
			return false;
		}
		return conn_send_auth(conn);
	}
	return conn_ready(conn);
}

/* MAY: TLS did not work out with this server; say so, with why. */
static void conn_log_fallback(struct smtpc_conn *conn, const char *action,
                              const char *why)
{
	char q[LOG_QUOTE_MAX];

	log_warn(conn->req->queue_id,
	         "event=tls_fallback host=%s ip=%s policy=may action=%s "
	         "reason=%s",
	         conn->host, conn->ip, action, log_quote_str(q, why));
}

/* A STARTTLS handshake failed; the session cannot go on. Under MAY the
 * message goes in clear over a new connection to the same target (as
 * Postfix does); otherwise this target failed (never in clear). */
static void conn_handshake_failed(struct smtpc_conn *conn, const char *why)
{
	struct smtpc_req *req = conn->req;

	if (req == NULL || conn->tls != SMTPC_TLS_MAY) {
		smtpc_conn_fail(conn, "4.7.5", why);
		return;
	}
	conn_log_fallback(conn, "reconnect_plaintext", why);
	conn->req = NULL;
	smtpc_conn_free(&conn);
	smtpc_req_plaintext(req);
}

static bool conn_start_tls(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	bool verify = conn->tls == SMTPC_TLS_VERIFY;
	gnutls_certificate_credentials_t cr;

	cr = smtpc_creds(conn->c, verify ? req->ca_file : NULL);
	if (cr == NULL || (verify && req->ca_file == NULL)) {
		smtpc_conn_fail(conn, "4.7.5", "no usable CA file for verify");
		return false;
	}
	conn->state = SMTPC_S_HANDSHAKE;
	if (io_start_tls_client(conn->io, cr, smtpc_priority(conn->c),
	                        conn->host, verify) < 0) {
		conn_handshake_failed(conn, "cannot start TLS");
		return false;
	}
	return true;
}

/* Returns false when the connection was freed. */
static bool conn_reply(struct smtpc_conn *conn)
{
	struct smtpreply *r = &conn->reply;
	struct smtpc_req *req = conn->req;
	unsigned cls = smtpreply_status_class(r->code);

	conn->got_reply = true;
	switch (conn->state) {
	case SMTPC_S_GREETING:
		if (cls != 2) {
			conn_fail_reply(conn, "greeted with");
			return false;
		}
		conn->state = SMTPC_S_EHLO;
		io_printf(conn->io, "EHLO %s\r\n", req->helo);
		io_set_timeout(conn->io, smtpc_settings(conn->c)->helo_ms);
		return true;
	case SMTPC_S_EHLO:
		if (cls == 2) {
			(void)smtpreply_ehlo_caps(r, &conn->caps);
			return conn_send_ehlo_result(conn);
		}
		if (cls == 5 && !conn->is_tls) {
			conn->state = SMTPC_S_HELO;
			io_printf(conn->io, "HELO %s\r\n", req->helo);
			return true;
		}
		conn_fail_reply(conn, "refused EHLO");
		return false;
	case SMTPC_S_HELO:
		if (cls != 2) {
			conn_fail_reply(conn, "refused HELO");
			return false;
		}
		memset(&conn->caps, 0, sizeof(conn->caps));
		return conn_send_ehlo_result(conn);
	case SMTPC_S_STARTTLS:
		if (cls != 2 && conn->tls == SMTPC_TLS_MAY) {
			/* The session is still a clear one: go on in it. */
			char *text = smtpc_conn_reply_text(conn);

			conn_log_fallback(conn, "continue_plaintext", text);
			free(text);
			conn->tls = SMTPC_TLS_NONE;
			return conn_send_ehlo_result(conn);
		}
		if (cls != 2) {
			conn_fail_reply(conn, "refused STARTTLS");
			return false;
		}
		return conn_start_tls(conn);
	case SMTPC_S_AUTH_USER:
	case SMTPC_S_AUTH_PASS:
		if (r->code == 334) {
			bool user = conn->state == SMTPC_S_AUTH_USER;

			if (!conn_send_b64(conn, user ? req->auth_user
			                              : req->auth_password))
				return false;
			conn->state = user ? SMTPC_S_AUTH_PASS : SMTPC_S_AUTH;
			return true;
		}
		/* fall through */
	case SMTPC_S_AUTH:
		if (r->code != 235) {
			conn_fail_reply(conn, "refused AUTH");
			return false;
		}
		return conn_ready(conn);
	case SMTPC_S_RSET:
		if (cls != 2) {
			smtpc_conn_free(&conn);
			return false;
		}
		conn->state = SMTPC_S_IDLE;
		io_set_timeout(conn->io, 0);
		evloop_timer_start(conn->timer,
		                   smtpc_settings(conn->c)->idle_ms);
		smtpc_schedule(conn->c);
		return true;
	case SMTPC_S_IDLE:
	case SMTPC_S_QUIT:
		/* 421 while cached, or QUIT's 221: done with it. */
		smtpc_conn_free(&conn);
		return false;
	default:
		return smtpc_txn_reply(conn);
	}
}

static const char *state_name(enum smtpc_state s)
{
	switch (s) {
	case SMTPC_S_GREETING:
		return "waiting for the greeting";
	case SMTPC_S_EHLO:
	case SMTPC_S_HELO:
		return "after EHLO/HELO";
	case SMTPC_S_STARTTLS:
	case SMTPC_S_HANDSHAKE:
		return "in STARTTLS";
	case SMTPC_S_AUTH:
	case SMTPC_S_AUTH_USER:
	case SMTPC_S_AUTH_PASS:
		return "in AUTH";
	case SMTPC_S_ENVELOPE:
		return "after MAIL/RCPT";
	case SMTPC_S_DATA_INIT:
		return "after DATA";
	case SMTPC_S_DATA_SEND:
		return "sending the message";
	case SMTPC_S_DATA_DONE:
		return "after the end of data";
	case SMTPC_S_BDAT:
		return "after BDAT";
	default:
		return "in the session";
	}
}

/* Every whole reply in the input; false when the connection was freed. */
static bool conn_read_replies(struct smtpc_conn *conn)
{
	char why[512];
	const char *err;
	int rc;

	for (;;) {
		struct sbuf *in = io_input(conn->io);
		size_t used;

		smtpreply_clear(&conn->reply);
		rc = smtpreply_parse(conn->rp, sbuf_data(in), sbuf_len(in),
		                     &used, &conn->reply, &err);
		if (rc <= 0)
			break;
		/* consumed first: conn_reply() may free the io */
		sbuf_consume(in, used);
		if (!conn_reply(conn))
			return false;
	}
	if (rc == 0)
		sbuf_reset(io_input(conn->io)); /* the parser holds it now */
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s: %s", conn->host, err);
		smtpc_conn_fail(conn, "4.5.0", why);
		return false;
	}
	/* Reading stops when the input buffer is full (io.h). */
	io_input_consumed(conn->io);
	return true;
}

static void conn_io_cb(struct io *io, enum io_event ev, void *ctx)
{
	struct smtpc_conn *conn = ctx;
	char why[512];

	switch (ev) {
	case IO_DATAIN:
		conn_read_replies(conn);
		return;
	case IO_LOWAT:
		if (conn->state == SMTPC_S_DATA_SEND)
			smtpc_txn_pump(conn);
		return;
	case IO_TLSREADY:
		conn->is_tls = true;
		if (conn->req == NULL) {
			smtpc_conn_free(&conn);
			return;
		}
		snprintf(conn->req->tls_info, sizeof(conn->req->tls_info), "%s",
		         io_tls_info(io));
		conn->state = SMTPC_S_EHLO;
		io_printf(io, "EHLO %s\r\n", conn->req->helo);
		return;
	case IO_TIMEOUT:
		snprintf(why, sizeof(why), "timeout %s with %s",
		         state_name(conn->state), conn->host);
		if (conn->state == SMTPC_S_HANDSHAKE)
			conn_handshake_failed(conn, why);
		else
			smtpc_conn_fail(conn, "4.4.2", why);
		return;
	case IO_DISCONNECTED:
	case IO_ERROR:
		/* What came before the close still counts: a 554 greeting
		 * or a 421 followed by the close. */
		if (!conn_read_replies(conn))
			return;
		snprintf(why, sizeof(why), "%s %s: %s",
		         ev == IO_ERROR ? "error" : "connection lost",
		         state_name(conn->state), io_error(io));
		if (conn->state == SMTPC_S_HANDSHAKE)
			conn_handshake_failed(conn, why);
		else
			smtpc_conn_fail(conn, "4.4.2", why);
		return;
	}
}

static void conn_connected(evutil_socket_t fd, short what, void *arg)
{
	struct smtpc_conn *conn = arg;
	int err = 0;
	socklen_t len = sizeof(err);
	char why[512];

	if (what & EV_TIMEOUT) {
		snprintf(why, sizeof(why), "connect to %s (%s): timeout",
		         conn->host, conn->ip);
		smtpc_conn_fail(conn, "4.4.1", why);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		snprintf(why, sizeof(why), "connect to %s (%s): %s", conn->host,
		         conn->ip, strerror(err));
		smtpc_conn_fail(conn, "4.4.1", why);
		return;
	}
	event_free(conn->ev_connect);
	conn->ev_connect = NULL;
	conn->io = io_new(smtpc_base(conn->c), conn->fd, SMTPC_IN_LIMIT,
	                  conn_io_cb, conn);
	conn->fd = -1;
	conn->state = SMTPC_S_GREETING;
	io_set_timeout(conn->io, smtpc_settings(conn->c)->greeting_ms);
	io_set_handshake_timeout(conn->io,
	                         smtpc_settings(conn->c)->handshake_ms);
}

static void conn_timer(void *arg)
{
	struct smtpc_conn *conn = arg;
	char why[512];

	switch (conn->state) {
	case SMTPC_S_CONNECTING:
		snprintf(why, sizeof(why), "connect to %s (%s): %s", conn->host,
		         conn->ip, strerror(conn->connect_errno));
		smtpc_conn_fail(conn, "4.4.1", why);
		return;
	case SMTPC_S_IDLE:
		smtpc_conn_quit(conn);
		return;
	case SMTPC_S_READY:
		if (conn->req != NULL)
			smtpc_txn_start(conn);
		return;
	default:
		return;
	}
}

struct smtpc_conn *smtpc_conn_open(struct smtpc *c, struct smtpc_req *req,
                                   const char *key)
{
	struct smtpc_conn *conn = alloc_new(struct smtpc_conn);
	const struct smtpc_target *t = &req->targets[req->target];
	struct timeval tv;

	conn->c = c;
	conn->key = alloc_strdup(key);
	conn->dest = alloc_strdup(req->dest);
	conn->host = alloc_strdup(t->host);
	conn->tls = smtpc_req_tls(req);
	smtpc_addr_str(&t->addr, conn->ip, sizeof(conn->ip));
	conn->rp = smtpreply_parser_new(SMTPREPLY_BARE_LF);
	conn->timer = evloop_timer_new(smtpc_base(c), conn_timer, conn);
	conn->state = SMTPC_S_CONNECTING;
	conn->fd = socket(t->addr.ss_family,
	                  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conn->fd < 0) {
		conn->connect_errno = errno;
		evloop_timer_start(conn->timer, 0);
		return conn;
	}
	{
		/* Pipelined commands go out without waiting for delayed ACKs.
		 */
		int one = 1;

		(void)setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		                 sizeof(one));
	}
	if (connect(conn->fd, (const struct sockaddr *)&t->addr, t->addrlen) <
	        0 &&
	    errno != EINPROGRESS) {
		conn->connect_errno = errno;
		evloop_timer_start(conn->timer, 0);
		return conn;
	}
	conn->ev_connect =
	    event_new(smtpc_base(c), conn->fd, EV_WRITE, conn_connected, conn);
	evloop_ms_to_timeval(smtpc_settings(c)->connect_ms, &tv);
	event_add(conn->ev_connect, &tv);
	return conn;
}

void smtpc_conn_take(struct smtpc_conn *conn, struct smtpc_req *req)
{
	conn->req = req;
	req->conn = conn;
	req->reached = true;
	snprintf(req->host, sizeof(req->host), "%s", conn->host);
	snprintf(req->ip, sizeof(req->ip), "%s", conn->ip);
	req->reused = conn->state == SMTPC_S_IDLE;
	req->tls_info[0] = '\0';
	if (conn->is_tls && io_tls_info(conn->io) != NULL)
		snprintf(req->tls_info, sizeof(req->tls_info), "%s",
		         io_tls_info(conn->io));
	if (conn->state != SMTPC_S_IDLE)
		return;
	/* Start from the loop: the scheduler must not see callbacks. */
	conn->reused = true;
	conn->got_reply = false;
	conn->state = SMTPC_S_READY;
	evloop_timer_start(conn->timer, 0);
}
