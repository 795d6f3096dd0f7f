/*
 * milter.h - one mail filter's conversation with one SMTP session, in
 * routerd's event loop (no thread, nothing blocks).
 *
 * milter_open() connects to the filter (inet:HOST:PORT with HOST an IP
 * address or "localhost", or unix:/PATH) and negotiates version 6
 * (actions and protocol steps, milter_proto.h). The session then asks the
 * filter about each step as its SMTP dialogue reaches it: the connection,
 * HELO, MAIL, each RCPT, an unknown command, DATA, and the message (the
 * header fields, end of header, the body in chunks of at most 65,535
 * octets read from the source as they are sent, never the whole body in
 * memory, and end of body). Each step goes with its macros; done() answers
 * each ask exactly once, always from the loop (never inside the call that
 * asked). A step the filter asked to be left out or left unanswered is
 * answered CONTINUE at once; one asked before the negotiation ended waits
 * for it. One ask at a time.
 *
 * What the answers mean follows libmilter: ACCEPT at the connection or
 * HELO means nothing more of this session, at a later step nothing more
 * of this message; such asks are answered ACCEPT without asking the
 * filter again (until milter_abort() or end of body). A refusal at RCPT
 * refuses that recipient; at any other step of the message, the message;
 * at the connection or HELO, the session. The modifications at end of
 * body reach edit() as they come.
 *
 * Timeouts: connect_ms for the connection and the negotiation, command_ms
 * for the answer to each step, content_ms for each body chunk and for end
 * of body (a filter may extend them with SMFIR_PROGRESS). A timeout, a
 * refused or closed connection or a packet that is not milter makes the
 * conversation FAILED for good: the ask out and every later one are
 * answered MILTER_FAILED with the reason (a failure while nothing was
 * asked waits for the next ask); the caller applies its default action.
 *
 * Ownership: the strings given to an ask are copied; a content's fields
 * and reader must stay valid until its done(). milter_abort() ends a
 * message that did not reach end of body (SMFIC_ABORT); milter_close()
 * ends the conversation (QUIT), cancels an ask out (its done() never
 * runs) and sets the pointer to NULL. done() may call milter_close().
 */
#ifndef DIRMX_MILTER_H
#define DIRMX_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "milter_proto.h"

struct event_base;
struct milter_conv;

enum milter_default {
	MILTER_DEFAULT_TEMPFAIL,
	MILTER_DEFAULT_ACCEPT,
	MILTER_DEFAULT_REJECT,
};

struct milter_conf {
	const char *name;
	const char *socket; /* inet:host:port or unix:/path */
	unsigned connect_ms, command_ms, content_ms;
	int default_action; /* enum milter_default */
};

/* A header field as the filter sees it: name, value without the colon
 * (and without its leading space unless the filter asked for it). */
struct milter_field {
	const char *name;
	const char *value;
};

/* The message, for milter_message(). */
struct milter_content {
	/* The header fields, values with their leading space (dropped for a
	 * filter that did not ask for it) and folded lines joined by LF. */
	const struct milter_field *fields;
	size_t n_fields;
	/* The body: len octets readable at offsets from 0. */
	uint64_t body_len;
	int (*read_body)(void *ctx, uint64_t off, void *buf, size_t len,
	                 size_t *n_r);
	void *ctx;
};

enum milter_verdict {
	MILTER_CONTINUE, /* go on (with the modifications, at end of body) */
	MILTER_ACCEPT,   /* go on; the filter wants no more of it */
	MILTER_REJECT,   /* 5xx: code, enhanced, text */
	MILTER_TEMPFAIL, /* 4xx: code, enhanced, text */
	MILTER_DISCARD,  /* accept the message and drop it */
	MILTER_FAILED,   /* the filter failed: error says how */
};

struct milter_result {
	enum milter_verdict verdict;
	unsigned code; /* 0: the filter gave no reply of its own */
	char enhanced[16];
	char text[256];
	const char *error;
	const char *step; /* where it ended: "connect", "rcpt", "eom" ... */
};

/* A modification at end of body (cmd ADDHEADER ... QUARANTINE);
 * lead_space: header values carry their own leading space. */
typedef void milter_edit_cb(void *ctx, const struct milter_reply *r,
                            bool lead_space);
typedef void milter_done_cb(void *ctx, const struct milter_result *r);

struct milter_callbacks {
	/* A macro's value ("{auth_authen}", "i", ...), NULL when unset;
	 * {mail_addr} and {rcpt_addr} come from the asks. */
	const char *(*macro)(void *ctx, const char *name);
	milter_edit_cb *edit;
	milter_done_cb *done;
	void *ctx;
};

struct milter_conv *milter_open(struct event_base *base,
                                const struct milter_conf *conf,
                                const struct milter_callbacks *cb);
/* client_addr NULL: family 'U' (unknown). */
void milter_connect(struct milter_conv *c, const char *client_name,
                    const char *client_addr, uint16_t port);
void milter_helo(struct milter_conv *c, const char *helo);
/* Addresses without <>; MAIL starts a message. */
void milter_mail(struct milter_conv *c, const char *from);
void milter_rcpt(struct milter_conv *c, const char *rcpt);
/* A command line the server does not implement, as the client sent it. */
void milter_unknown(struct milter_conv *c, const char *line);
/* DATA at the DATA command; the message at its end (DATA first when it
 * was not asked at the command, as with BDAT). */
void milter_data(struct milter_conv *c);
void milter_message(struct milter_conv *c, const struct milter_content *m);
void milter_abort(struct milter_conv *c);
void milter_close(struct milter_conv **c);

#endif
