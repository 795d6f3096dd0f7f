/*
 * smtpc_private.h - what smtpc.c (requests, limits, the connection cache),
 * smtpc_conn.c (connect, greeting, EHLO, STARTTLS, AUTH), smtpc_txn.c
 * (MAIL, RCPT, DATA/BDAT) and smtpc_reply.c (the reply reader) share.
 * Nothing here is for other modules.
 *
 * A request (struct smtpc_req) waits in c->waiting until a connection
 * takes it; a connection (struct smtpc_conn) has at most one request.
 * A connection counts against the limits from connect() until it is
 * freed, idle or not.
 */
#ifndef DIRMX_SMTPC_PRIVATE_H
#define DIRMX_SMTPC_PRIVATE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "linefold.h"
#include "smtpc.h"

struct event;
struct evloop_timer;
struct io;
struct sbuf;

#define SMTPC_LINE_MAX 4096
#define SMTPC_REPLY_MAX 65536
#define SMTPC_IN_LIMIT (SMTPC_REPLY_MAX + SMTPC_LINE_MAX)

/* The incremental reply reader (smtpc_reply.c). lines: each line's text
 * (after "ddd-"), '\n'-separated. */
struct smtpc_reply {
	int code;
	char status[16];
	struct sbuf *lines;
	bool partial;
};

struct smtpc_caps {
	bool esmtp, pipelining, size, eightbit, smtputf8, chunking, dsn;
	bool starttls, enhanced, auth_plain, auth_login;
	uint64_t size_max; /* 0: no limit given */
};

void smtpc_reply_init(struct smtpc_reply *r);
void smtpc_reply_free(struct smtpc_reply *r);
/* 1: a whole reply is in r (and consumed from in); 0: need more input;
 * -1: malformed (*error_r static). */
int smtpc_reply_read(struct smtpc_reply *r, struct sbuf *in,
                     const char **error_r);
/* "550 5.1.1 text text" (lines joined with ' '); the caller frees. */
char *smtpc_reply_text(const struct smtpc_reply *r);
void smtpc_caps_parse(const struct smtpc_reply *r, struct smtpc_caps *caps_r);
/* RFC 3461 xtext of s, appended to out. */
void smtpc_xtext(struct sbuf *out, const char *s, bool utf8_addr);

struct smtpc_rcpt {
	char *addr;
	unsigned notify;
	char *orcpt;
	struct smtpc_rcpt_result res;
	char *text;
	bool decided;  /* res is final for this attempt */
	bool accepted; /* RCPT got 2xx, waiting for the data's verdict */
};

struct smtpc_req {
	struct smtpc *c;
	struct smtpc_req *next, *prev; /* c->waiting or c->active */
	char *queue_id, *dest, *helo, *ca_file, *auth_user, *auth_password;
	char *mail_from, *envid;
	struct smtpc_target *targets;
	char **target_hosts;
	size_t n_targets, target; /* the target being tried */
	enum smtpc_tls tls;
	bool need_smtputf8, eightbit;
	uint64_t size;
	int ret;
	struct smtpc_rcpt *rcpts;
	size_t n_rcpts;
	int data_fd;
	uint64_t data_offset, data_len;
	smtpc_cb *cb;
	void *ctx;
	uint64_t start_ms;
	struct smtpc_conn *conn;
	bool waiting, listed;
	bool retried_reuse; /* a dead cached connection was replaced once */
	/* MAY: TLS failed with this target, try it again in clear (-1:
	 * none); see smtpc_req_tls() */
	long plain_target;
	char *error;        /* the last target's failure */
	char host[256], ip[INET6_ADDRSTRLEN + 8], tls_info[128];
	bool reused, reached, failed;
};

enum smtpc_state {
	SMTPC_S_CONNECTING,
	SMTPC_S_GREETING,
	SMTPC_S_EHLO,
	SMTPC_S_HELO,
	SMTPC_S_STARTTLS,
	SMTPC_S_HANDSHAKE,
	SMTPC_S_AUTH,
	SMTPC_S_AUTH_USER,
	SMTPC_S_AUTH_PASS,
	SMTPC_S_READY,
	SMTPC_S_ENVELOPE,
	SMTPC_S_DATA_INIT,
	SMTPC_S_DATA_SEND,
	SMTPC_S_DATA_DONE,
	SMTPC_S_BDAT,
	SMTPC_S_RSET,
	SMTPC_S_IDLE,
	SMTPC_S_QUIT,
};

struct smtpc_conn {
	struct smtpc *c;
	struct smtpc_conn *next, *prev; /* c->conns */
	char *key, *dest, *host;
	char ip[INET6_ADDRSTRLEN + 8];
	enum smtpc_tls tls;
	int fd; /* until io owns it */
	struct event *ev_connect;
	struct evloop_timer *timer; /* idle cache */
	struct io *io;
	enum smtpc_state state;
	struct smtpc_reply reply;
	struct smtpc_caps caps;
	struct smtpc_req *req;
	unsigned uses;
	int connect_errno;
	bool reused, got_reply, is_tls;
	/* the transaction */
	size_t sent, answered; /* MAIL is 0, RCPT i is i + 1 */
	bool mail_ok;
	size_t accepted;
	uint64_t pos, total; /* data bytes read / to send (with trailer) */
	char trailer[3];
	struct linefold fold; /* folding and dot-stuffing state */
	bool last_chunk;
};

/* smtpc.c */
uint64_t smtpc_now_ms(void);
/* The policy for req's current target: NONE after a MAY fallback. */
enum smtpc_tls smtpc_req_tls(const struct smtpc_req *req);
/* MAY: TLS failed with the current target; try it again in clear. */
void smtpc_req_plaintext(struct smtpc_req *req);
gnutls_priority_t smtpc_priority(const struct smtpc *c);
struct event_base *smtpc_base(const struct smtpc *c);
const struct smtpc_settings *smtpc_settings(const struct smtpc *c);
/* NULL (logged) when ca_file cannot be loaded. */
gnutls_certificate_credentials_t smtpc_creds(struct smtpc *c,
                                             const char *ca_file);
/* The connection is done with its request: every recipient is decided.
 * The connection must already be in its next state (RSET, idle, ...):
 * the request's callback runs from here. */
void smtpc_conn_released(struct smtpc_conn *conn);
/* The request (already detached from its freed connection) could not be
 * served by its current target: the next target, or RETRY for all.
 * dead_cache: a cached connection died before its first reply. */
void smtpc_req_target_failed(struct smtpc_req *req, bool dead_cache,
                             const char *status, const char *why);
/* Run the scheduler soon (a connection became idle). */
void smtpc_schedule(struct smtpc *c);
/* The connection was freed; its slot is free. */
void smtpc_conn_gone(struct smtpc_conn *conn);
/* Set one recipient's verdict from a code (0: local) and text. */
void smtpc_rcpt_decide(struct smtpc_rcpt *r, int code, const char *status,
                       const char *text);
/* The request is over: log, call back, free. */
void smtpc_req_finish(struct smtpc_req *req);

/* smtpc_conn.c */
/* "192.0.2.1:25" or "[2001:db8::1]:25" */
void smtpc_addr_str(const struct sockaddr_storage *ss, char *out, size_t size);
struct smtpc_conn *smtpc_conn_open(struct smtpc *c, struct smtpc_req *req,
                                   const char *key);
/* Give an idle connection a request. */
void smtpc_conn_take(struct smtpc_conn *conn, struct smtpc_req *req);
void smtpc_conn_free(struct smtpc_conn **conn);
/* Close politely (QUIT) in the background; the slot is freed after. */
void smtpc_conn_quit(struct smtpc_conn *conn);
void smtpc_conn_set_timeout(struct smtpc_conn *conn, unsigned ms);
/* A failure on the connection: decide what it means for the request
 * and free the connection. */
void smtpc_conn_fail(struct smtpc_conn *conn, const char *status,
                     const char *why);

/* smtpc_txn.c */
/* Both return false when the connection was freed. */
bool smtpc_txn_start(struct smtpc_conn *conn);
/* A reply arrived in a transaction state; conn->reply holds it. */
bool smtpc_txn_reply(struct smtpc_conn *conn);
/* Output drained in SMTPC_S_DATA_SEND. */
bool smtpc_txn_pump(struct smtpc_conn *conn);
/* The transaction is over (every recipient decided): release the
 * request, then RSET when rset, else go idle. */
void smtpc_conn_done(struct smtpc_conn *conn, bool rset);

#endif
