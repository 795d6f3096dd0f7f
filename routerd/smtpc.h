/*
 * smtpc.h - routerd's asynchronous outbound SMTP client.
 *
 * One struct smtpc delivers jobs (one message, one or more recipients,
 * an ordered list of targets = next-hop hosts and addresses) inside
 * routerd's event loop: EHLO (HELO when EHLO gets 5xx), STARTTLS by a
 * per-job policy, AUTH PLAIN/LOGIN to a smarthost (only over TLS),
 * PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN, CHUNKING (BDAT), connection
 * reuse and concurrency limits. The result is per recipient.
 *
 * TARGETS are tried in order. The next one is used when a connection
 * fails (refused, timeout), the greeting is not 2xx, EHLO and HELO both
 * fail, the TLS policy cannot be met (STARTTLS missing, refused or the
 * handshake or verification fails), or AUTH fails or is not offered.
 * Under MAY only, a failed TLS attempt is not the target's failure: a
 * refused STARTTLS goes on in clear on the same connection, a failed
 * handshake (a peer that speaks only TLS 1.0, say) is retried in clear
 * over a new connection to the same target; both log
 *   <queue_id> event=tls_fallback host=... ip=... reason="..."
 * ENCRYPT and VERIFY never send in clear: the next target, or RETRY. Once MAIL
 * FROM has been sent the job stays on that target: a lost connection or a
 * timeout from then on makes every recipient without a reply RETRY. When no
 * target took the message, every recipient is RETRY with the last target's
 * error (a temporary failure never becomes a bounce, DESIGN.md invariant 2).
 *
 * VERDICTS per recipient: 2xx DONE, 4xx RETRY, 5xx BOUNCE, from the RCPT
 * reply or, for accepted recipients, from the reply to MAIL, DATA's end
 * or the last BDAT. Local decisions: a message larger than the server's
 * SIZE is BOUNCE "552 5.3.4"; a message that needs SMTPUTF8 to a server
 * without it is BOUNCE "550 5.6.7 SMTPUTF8 not supported by <host>". An
 * 8bit body to a server without 8BITMIME is sent anyway (as Postfix does
 * by default; RFC 6152 would have us convert or bounce, and neither helps
 * the recipient more than a server that copes with 8bit in practice).
 *
 * TLS policies: NONE never starts TLS; MAY uses STARTTLS when offered,
 * without verification, and falls back to clear text (above); ENCRYPT requires
 * STARTTLS, without verification; VERIFY requires STARTTLS and a certificate
 * chain that verifies against ca_file for the target's host name (SNI is sent
 * with that name).
 *
 * CONNECTION REUSE: after a transaction the connection is kept idle for
 * settings.idle_ms, keyed by (host, address, port, TLS policy, CA file,
 * AUTH user, HELO name); the next job with the same key takes it. A
 * cached connection that turns out dead before its first reply is
 * replaced by a new connection to the same target, not counted as the
 * target's failure. LIMITS: at most max_conns_total connections (busy or
 * idle) and max_conns_per_dest per destination (job->dest); jobs over a
 * limit wait in FIFO order; an idle connection is closed to make room.
 *
 * LOGS: one line per recipient per attempt,
 *   <queue_id> event=delivery rcpt=... host=... ip=... tls=0|1
 *   status=2.0.0 code=250 verdict=done reply="..." delay_ms=...
 * (code=0 when no server reply decided it; delay_ms counts from
 * smtpc_deliver()). Passwords and AUTH lines are never logged.
 *
 * OWNERSHIP and EVENTS: smtpc_deliver() copies the job; the data fd is
 * dup()ed and closed when the request ends (when it cannot be dup()ed,
 * every recipient is RETRY, without a connection). The callback runs from the
 * loop, never inside smtpc_deliver(); everything it gets is valid only
 * during the call, and the request is freed after it returns. The
 * callback may call smtpc_deliver() and smtpc_cancel() on other
 * requests; it must not call smtpc_deinit(). smtpc_cancel() ends a
 * request without calling its callback (closing its connection when it
 * is in the middle of a transaction).
 */
#ifndef DIRMX_SMTPC_H
#define DIRMX_SMTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct smtpc;
struct smtpc_req;

struct smtpc_target {
	const char *host;             /* name for logs, SNI and verification */
	struct sockaddr_storage addr; /* with the port */
	socklen_t addrlen;
};

enum smtpc_tls {
	SMTPC_TLS_NONE = 0,
	SMTPC_TLS_MAY,
	SMTPC_TLS_ENCRYPT,
	SMTPC_TLS_VERIFY,
};

struct smtpc_job {
	const char *queue_id;
	const char *dest; /* limits key; NULL: the first target's host */
	const char *helo_name;
	const struct smtpc_target *targets;
	size_t n_targets; /* at least one */
	enum smtpc_tls tls;
	const char *ca_file;   /* VERIFY: the trust anchors (PEM) */
	const char *auth_user; /* NULL: no AUTH */
	const char *auth_password;
	const char *mail_from; /* without <>; "" is the null path */
	bool need_smtputf8;
	bool eightbit;     /* BODY=8BITMIME when the server offers it */
	uint64_t size;     /* SIZE= estimate; 0: data_len */
	int ret;           /* enum spoolrec_ret: 0 none, 1 FULL, 2 HDRS */
	const char *envid; /* decoded; NULL or "": none */
	const char *const *rcpts;
	const unsigned *notify;   /* SPOOLREC_NOTIFY_* per rcpt, or NULL */
	const char *const *orcpt; /* "type;decoded addr" per rcpt, or NULL */
	size_t n_rcpts;           /* at least one */
	int data_fd;              /* read with pread(); dup()ed */
	uint64_t data_offset, data_len; /* CRLF text, not dot-stuffed */
	/* The same data_len octets in memory, or NULL (then data_fd). The
	   request reads them in place: they must stay until the callback
	   has run or smtpc_cancel() has returned. */
	const unsigned char *data_mem;
};

enum smtpc_verdict {
	SMTPC_DONE = 0,
	SMTPC_RETRY,
	SMTPC_BOUNCE,
};

struct smtpc_rcpt_result {
	enum smtpc_verdict verdict;
	int code;         /* SMTP reply code, 0 when no reply decided it */
	char status[16];  /* enhanced status, "4.4.1" */
	const char *text; /* "550 5.1.1 no such user" or a local reason */
	/* The RFC 3464 Diagnostic-Code of the reply that decided it,
	   "smtp; 550 5.1.1 no such user" (smtpreply_format_diag()); NULL
	   when code is 0 */
	const char *diag;
};

struct smtpc_result {
	const char *queue_id;
	const struct smtpc_rcpt_result *rcpts; /* n_rcpts, in job order */
	size_t n_rcpts;
	const char *host; /* the last target tried, NULL when none */
	const char *ip;   /* "192.0.2.1:25", NULL when none */
	const char *tls;  /* TLS description, NULL without TLS */
	bool reused;      /* the last connection came from the cache */
	uint64_t delay_ms;
	const char *error; /* why no target took it; NULL when one did */
};

typedef void smtpc_cb(const struct smtpc_result *res, void *ctx);

/* RFC 5321 4.5.3.2 by default; every value in milliseconds. */
struct smtpc_settings {
	unsigned max_conns_total;
	unsigned max_conns_per_dest;
	unsigned connect_ms;    /* 30 s */
	unsigned greeting_ms;   /* initial 220: 5 min */
	unsigned helo_ms;       /* EHLO/HELO, STARTTLS, AUTH, RSET: 5 min */
	unsigned mail_ms;       /* 5 min */
	unsigned rcpt_ms;       /* 5 min */
	unsigned data_init_ms;  /* 2 min */
	unsigned data_block_ms; /* 3 min */
	unsigned data_done_ms;  /* 10 min */
	unsigned idle_ms;       /* how long a connection is cached: 5 s */
	unsigned max_reuse;     /* transactions per connection: 100 */
	/* Longer lines are folded with CR LF SP when sent (linefold.h):
	 * LINEFOLD_SMTP_MAX (998); 0 never folds. */
	unsigned line_length_limit;
	unsigned handshake_ms; /* a whole TLS handshake: 30 s */
	/* GnuTLS priorities (copied); NULL: TLS 1.2 and 1.3 from NORMAL. */
	const char *tls_priority;
};

void smtpc_settings_default(struct smtpc_settings *set_r);

/* NULL (logged) when set->tls_priority is not a priority string. */
struct smtpc *smtpc_new(struct event_base *base,
                        const struct smtpc_settings *set);
/* New priorities for the handshakes to come (SIGHUP); -1 (logged) and
 * the old ones kept when priority is bad. */
int smtpc_set_tls_priority(struct smtpc *c, const char *priority);
/* Cancel every request (no callbacks) and close every connection. */
void smtpc_deinit(struct smtpc **c);

/* Queue a delivery; the returned handle is valid until the callback
 * has run or smtpc_cancel(). */
struct smtpc_req *smtpc_deliver(struct smtpc *c, const struct smtpc_job *job,
                                smtpc_cb *cb, void *ctx);
void smtpc_cancel(struct smtpc_req **req);

/* Connections open now (busy or idle), and the most seen at once. */
unsigned smtpc_conns(const struct smtpc *c, unsigned *peak_r);

/*
 * Read the password of a smarthost account from path: the first line,
 * without its line end. -1 with *error_r (static text) when the file
 * cannot be read, is empty, or can be read or written by group or others
 * (it must be readable by routerd alone). The caller frees *password_r
 * (after wiping it).
 */
int smtpc_password_read(const char *path, char **password_r,
                        const char **error_r);

#endif
