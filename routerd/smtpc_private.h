/*
 * smtpc_private.h - what smtpc.c (requests, limits, the connection cache),
 * smtpc_conn.c (connect, greeting, EHLO, STARTTLS, AUTH), smtpc_txn.c
 * (MAIL, RCPT, DATA/BDAT) and smtpc_xtext.c share. Replies and EHLO
 * capabilities are read by smtpreply.h, the one fuzzed reply parser.
 * Nothing here is for other modules.
 *
 * A request (struct smtpc_req) waits in c->waiting until a connection
 * takes it; a connection (struct smtpc_conn) has at most one request.
 * A connection counts against the limits from connect() until it is
 * freed, idle or not.
 */
#ifndef DIRMX_SMTPC_PRIVATE_H
#define DIRMX_SMTPC_PRIVATE_H

#include <sys/queue.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "linefold.h"
#include "smtpc.h"
#include "smtpreply.h"

struct event;
struct evloop_timer;
struct io;
struct sbuf;

/* Input the io buffers between reads: the reply parser keeps a partial
 * line itself and bounds every reply (smtpreply.h). */
#define SMTPC_IN_LIMIT (64u * 1024)

/* RFC 3461 xtext of s (RFC 6533 utf-8-addr-xtext when utf8_addr),
 * appended to out (smtpc_xtext.c). */
void smtpc_xtext(struct sbuf *out, const char *s, bool utf8_addr);

struct smtpc_rcpt {
	char *addr;
	unsigned notify;
	char *orcpt;
	struct smtpc_rcpt_result res;
	char *text, *diag;
	bool decided;  /* res is final for this attempt */
	bool accepted; /* RCPT got 2xx, waiting for the data's verdict */
};

struct smtpc_req {
	struct smtpc *c;
	TAILQ_ENTRY(smtpc_req) link; /* in c->waiting or c->active */
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
	int data_fd; /* -1 when data_mem holds the data */
	uint64_t data_offset, data_len;
	const unsigned char *data_mem; /* the job's, borrowed */
	smtpc_cb *cb;
	void *ctx;
	uint64_t start_ms;
	struct smtpc_conn *conn;
	bool waiting, listed;
	bool retried_reuse; /* a dead cached connection was replaced once */
	/* MAY: TLS failed with this target, try it again in clear (-1:
	 * none); see smtpc_req_tls() */
	long plain_target;
	char *error; /* the last target's failure */
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
	LIST_ENTRY(smtpc_conn) link; /* in c->conns */
	char *key, *dest, *host;
	char ip[INET6_ADDRSTRLEN + 8];
	enum smtpc_tls tls;
	int fd; /* until io owns it */
	struct event *ev_connect;
	struct evloop_timer *timer; /* idle cache */
	struct io *io;
	enum smtpc_state state;
	struct smtpreply_parser *rp; /* SMTPREPLY_BARE_LF, as Postfix */
	struct smtpreply reply;      /* the last whole reply */
	struct smtpreply_caps caps;  /* zero after HELO */
	struct smtpc_req *req;
	unsigned uses;
	int connect_errno;
	bool reused, got_reply, is_tls;
	/* the transaction */
	size_t sent, answered; /* MAIL is 0, RCPT i is i + 1 */
	bool mail_ok;
	bool data_pipelined; /* DATA went out with MAIL and the RCPTs */
	size_t accepted;
	uint64_t pos, total; /* data bytes read / to send (with trailer) */
	char trailer[3];
	struct linefold fold; /* folding and dot-stuffing state */
	bool last_chunk;
};

/* smtpc.c */
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
/* Set one recipient's verdict: a local one (the status's class decides;
 * text is the reason, its Diagnostic-Code "x-dirmx; text"). */
void smtpc_rcpt_decide(struct smtpc_rcpt *r, const char *status,
                       const char *text);
/* Set one recipient's verdict from the connection's last reply. */
void smtpc_rcpt_decide_reply(struct smtpc_rcpt *r,
                             const struct smtpreply *reply);
/* The request is over: log, call back, free. */
void smtpc_req_finish(struct smtpc_req *req);

/* smtpc_conn.c */
/* Whether the server's EHLO offered cap (SMTPREPLY_CAP_*). */
static inline bool smtpc_conn_has(const struct smtpc_conn *conn, unsigned cap)
{
	return (conn->caps.flags & cap) != 0;
}
/* "550 5.1.1 text" of the last reply, for logs and reasons; the caller
 * frees. */
char *smtpc_conn_reply_text(const struct smtpc_conn *conn);
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
