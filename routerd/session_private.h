/*
 * session_private.h - shared by session.c (I/O, lines, message data) and
 * session_cmd.c (the commands). Not for other modules.
 */
#ifndef DIRMX_SESSION_PRIVATE_H
#define DIRMX_SESSION_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "authc.h"
#include "dotstream.h"
#include "io.h"
#include "rstats.h"
#include "session.h"
#include "smtpcmd.h"
#include "spool.h"

struct evloop_timer;
struct session_ahead;
struct session_milter;

enum session_phase {
	PHASE_CMD,   /* reading command lines */
	PHASE_WAIT,  /* waiting for authd, the spool or a delay */
	PHASE_DATA,  /* reading a DATA body */
	PHASE_BDAT,  /* reading a BDAT chunk */
	PHASE_AUTH,  /* reading a SASL continuation line */
	PHASE_CLOSE, /* flushing the last reply, then closing */
};

struct session_rcpt {
	char *addr;      /* as the client wrote it */
	unsigned notify; /* SPOOLREC_NOTIFY_* */
	char *orcpt;
	char **dests; /* final recipients from authd ... */
	char **hops;  /* ... and their next hops */
	/* From authd's answer, NULL for a recipient a mail filter added: */
	uint64_t *max_kb; /* their size limits in KB (0: none) */
	char **senders;   /* their copies' envelope senders, where their
	                     groups' reports go (NULL: the message's) */
	size_t n_dests;
};

struct session {
	const struct session_env *env;
	struct io *io;
	char id[24];
	char peer[64];
	char listener[64];
	struct rstats_listener *stats; /* the listener's counters */
	int role;
	int tls_policy;
	bool relay_client;
	enum session_phase phase;
	bool greeted, ehlo;
	char *helo;
	char *auth_user;
	const char *auth_mech; /* static: "PLAIN", "LOGIN" (the last tried) */
	unsigned auth_failures;
	/* AUTH LOGIN: 0 want user, 1 want password; PLAIN: 2 want response;
	 * GSSAPI / GSS-SPNEGO: 3 want the client's next step (session_sasl.c)
	 */
	int auth_step;
	uint64_t sasl_exch; /* the exchange relayed to authd; 0: none */
	char *login_user;
	unsigned errors;
	bool skip_line; /* dropping the rest of an over-long command line */
	bool rearm;     /* a command line was consumed: a new deadline */
	/* the transaction */
	bool in_mail;
	struct smtpcmd_mail mail;
	char *mail_from;
	struct session_rcpt *rcpts;
	size_t n_rcpts, cap_rcpts;
	char **senders; /* cached SENDERS answer for auth_user */
	size_t n_senders;
	bool senders_known;
	unsigned recip_limit; /* the sender's own (SENDERS); 0: none */
	/* The sender's submissionContLength in KB (SENDERS; on the MX
	 * listener, the envelope sender's owner's when trusted); 0: none */
	uint64_t send_max_kb;
	/* message data */
	struct dotstream *ds;
	struct spool_msg *msg;
	struct spoolrec *envelope; /* committed with msg: for the queue */
	struct sbuf *chunk;
	uint64_t bdat_left;
	bool bdat_last;
	bool in_bdat;
	/* A refused BDAT: its chunk is read and dropped, then this reply. */
	bool bdat_discard;
	unsigned refusal_code;
	char refusal_enh[16];
	char *refusal_text;
	/* DATA was refused: a non-command next means the body follows. */
	bool data_refused;
	bool msg_failed;     /* a spool write failed: answer 451 at the end */
	uint64_t data_start; /* where the client's data starts in msg */
	char message_id[DOTSTREAM_MSGID_MAX + 1]; /* for the log */
	/* what we wait for */
	struct authc_req *areq;
	struct evloop_timer *delay;
	char *pending_reply;
	struct smtpcmd_rcpt pending_rcpt;
	bool has_pending_rcpt;
	/* RCPT to the postmaster (RFC 5321 4.5.1): 1 asking authd for
	 * postmaster@domain, 2 for the configured postmaster address. */
	int pm_stage;
	/* Lookups of the RCPTs pipelined behind the one answered, in order
	 * (session_ahead.c). */
	struct session_ahead *ahead;
	struct session_ahead *ahead_wait; /* the one the RCPT waits for */
	bool starttls_pending; /* start TLS once "220 Ready" is out */
	/* The listener's mail filters (session_milter.c). */
	struct session_milter *milter;
};

/* session_auth.c: a login ended (r: authd's answer, not a challenge). */
void session_auth_done(const struct authc_auth_result *r, void *ctx);

/* session_sasl.c: the mechanisms authd offers (mech: a SASL name of len
 * bytes, any case) and the EHLO line that lists them; AUTH GSSAPI /
 * GSS-SPNEGO relayed to authd, and the client's next step (auth_step 3);
 * end: authd forgets the exchange. */
bool session_sasl_offered(const struct session *s, const char *mech,
                          size_t len);
void session_sasl_ehlo(const struct session *s);
void session_sasl_start(struct session *s, const struct smtpcmd_auth *a);
void session_sasl_line(struct session *s, const char *line, size_t len);
void session_sasl_end(struct session *s);

/* session.c */
void session_reply(struct session *s, unsigned code, const char *enhanced,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void session_close(struct session *s);
void session_wait(struct session *s);
void session_resume(struct session *s);
void session_reset_tx(struct session *s);
/* A new recipient at the end of the transaction's list (zeroed); free
 * one's contents. */
struct session_rcpt *session_rcpt_new(struct session *s);
void session_rcpt_free(struct session_rcpt *r);
void session_start_data(struct session *s, bool bdat);
void session_view(const struct session *s, struct session_view *v);
/* Deadlines (io_set_deadline): a whole command line within
 * command_timeout; message data within data_timeout, extended by
 * min_data_rate. */
void session_arm_command(struct session *s);
void session_arm_data(struct session *s);
bool session_tls_available(const struct session *s);
void session_error_count(struct session *s);
/* Reply with a parser's error (code, enhanced status, text). */
void session_reply_error(struct session *s, const struct smtpcmd_error *e);
/* Write the message data gathered in s->chunk to the spool. */
void session_flush_chunk(struct session *s);
/* The whole command line at offset off of the input (without its CRLF):
 * 1 found, 0 not all there yet, -1 longer than any command line. */
int session_input_line(struct session *s, size_t off, const char **line_r,
                       size_t *len_r);
/* The longest a command line with this verb may be, CRLF included. */
size_t session_cmd_line_limit(const char *line, size_t len);

/* session_cmd.c */
void session_command(struct session *s, const char *line, size_t len,
                     size_t pipelined);
/* A command line we cannot read: if it was a BDAT, close (the end of its
 * chunk is unknown). True when the session is closing. */
bool session_unreadable_line(struct session *s, const char *line, size_t len);
/* The chunk of a refused BDAT was dropped: answer the BDAT now. */
void session_bdat_refused(struct session *s);
void session_auth_line(struct session *s, const char *line, size_t len);
void session_bdat_chunk_done(struct session *s);
void session_data_done(struct session *s);
/* The message passed every check (and its filters): commit it, then 250
 * from the spool's callback; quarantine (or NULL) holds it in the queue
 * with that reason. */
void session_message_commit(struct session *s, const struct dotstream_stats *st,
                            const char *quarantine);

/* session_milter.c: the listener's mail filters, asked at each step (see
 * there). Nothing happens on a session without filters. */
void session_milter_open(struct session *s);
void session_milter_close(struct session *s);
/* Before a command: true when the session now waits for the filters'
 * answer to the connection (it resumes by itself). */
bool session_milter_gate(struct session *s);
/* A filter refused the session: the reply to a command with this verb. */
bool session_milter_refused(const struct session *s, enum smtpcmd_verb verb,
                            unsigned *code_r, const char **enh_r,
                            const char **text_r);
/* The filters are being asked (the session waits for them). */
bool session_milter_waiting(const struct session *s);
/* After a step the filters were asked about: ok false when one refused
 * (its reply went out); the session resumes when this returns. */
typedef void session_milter_after(struct session *s, bool ok);
/* Ask the filters about HELO, MAIL (the sender without <>), RCPT (the
 * recipient): false when there are none to ask (go on now), else the
 * session waits and after() follows their answer. */
bool session_milter_helo(struct session *s, const char *helo,
                         session_milter_after *after);
bool session_milter_mail(struct session *s, const char *from,
                         session_milter_after *after);
bool session_milter_rcpt(struct session *s, const char *rcpt,
                         session_milter_after *after);
/* DATA (the command; BDAT leaves it to the end of the message). */
bool session_milter_data(struct session *s, session_milter_after *after);
/* An unknown command line: false when no filter is asked; else e is the
 * reply unless a filter refuses it with its own. */
bool session_milter_unknown(struct session *s, const char *line, size_t len,
                            const struct smtpcmd_error *e);
/* The transaction ends: the filters forget its message. */
void session_milter_abort(struct session *s);
/* session_milter_eom.c: run the filters on the complete message (st its
 * stats): false when none is asked; otherwise the session waits, and the
 * filters end with session_message_commit() or a refusal. */
bool session_milter_start(struct session *s, const struct dotstream_stats *st);

/* session_size.c: is a message of size bytes (0: unknown) over the
 * sender's own limit? Then 552 5.3.4 is replied, and true. */
bool session_size_sender_over(struct session *s, uint64_t size);
/* Are the final recipients over their own limits at size bytes? Those
 * over are given the hop SPOOLREC_HOP_TOO_BIG (bounced by the queue); when
 * every one is, 552 5.2.3 is replied, and true. */
bool session_size_rcpts_over(struct session *s, uint64_t size);

/* session_envelope.c */
void session_do_mail(struct session *s, const struct smtpcmd *c);
void session_do_rcpt(struct session *s, const struct smtpcmd *c);
/* authd's context for this session's lookups: "mx" or "submission". */
const char *session_lookup_context(const struct session *s);
/* The envelope sender authd is to find the sender's entry by, with
 * trust_envelope_sender_for_restrictions and no AUTH; else NULL. */
const char *session_lookup_from(const struct session *s);
/* What "RCPT TO:<arg>" would ask authd if its turn came now: 1 and
 * *addr_r (the caller frees it) for a lookup of the address, 0 when it
 * asks something else or nothing (the postmaster, a policy refusal), -1
 * when it does not parse. */
int session_rcpt_lookup_addr(const struct session *s, const char *arg,
                             size_t len, char **addr_r);
/* authd answered for the RCPT waiting: reply, and go on. */
void session_rcpt_answered(struct session *s,
                           const struct authc_lookup_result *r);

/* session_ahead.c: the RCPT look-ahead */
/* Start the lookups of the RCPT lines received behind c, the RCPT being
 * answered (the first line of the input), which now waits for authd. */
void session_ahead_scan(struct session *s, const struct smtpcmd *c);
/* The look-ahead's entry for the RCPT with this argument, now the
 * caller's (NULL: none). */
struct session_ahead *session_ahead_next(struct session *s, const char *arg,
                                         size_t len);
/* Its answer for addr, if it has one (*r valid until the entry is
 * freed). */
bool session_ahead_answer(const struct session_ahead *a, const char *addr,
                          struct authc_lookup_result *r);
/* If a's lookup of addr is still in flight, the RCPT whose turn it is
 * waits for it: true, and a is the session's now (its answer goes to
 * session_rcpt_answered()). */
bool session_ahead_wait(struct session *s, struct session_ahead **a,
                        const char *addr);
/* Free an entry; a lookup of it still in flight is cancelled. */
void session_ahead_free(struct session_ahead **a);
/* Drop every entry (the transaction ends). */
void session_ahead_drop(struct session *s);

/* session_auth.c */
void session_do_starttls(struct session *s, const struct smtpcmd *c);
void session_do_auth(struct session *s, const struct smtpcmd *c);

#endif
