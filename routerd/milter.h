/*
 * milter.h - one conversation with one mail filter about one message, in
 * routerd's event loop (no thread, nothing blocks).
 *
 * milter_start() connects to the filter (inet:HOST:PORT with HOST an IP
 * address or "localhost", or unix:/PATH), negotiates version 6 (actions
 * and protocol steps, milter_proto.h), then sends connect, HELO, MAIL,
 * each RCPT, DATA, the header fields, end of header, the body in chunks of
 * at most 65,535 octets read from the source as they are sent (never the
 * whole body in memory), and end of body, each step preceded by its macros
 * and left out or left unanswered as the filter asked. The filter's
 * modifications at end of body reach edit() as they come; done() is
 * called exactly once, from the loop, with the verdict, and the
 * conversation then ends by itself (QUIT).
 *
 * Timeouts: connect_ms for the connection and the negotiation, command_ms
 * for the answer to each step, content_ms for each body chunk and for end
 * of body (a filter may extend them with SMFIR_PROGRESS). A timeout, a
 * refused or closed connection or a packet that is not milter gives
 * MILTER_FAILED with the reason; the caller applies its default action.
 *
 * Ownership: the source's strings and callbacks must stay valid until
 * done() or milter_cancel(). milter_cancel() ends a conversation whose
 * done() has not run yet (ABORT, QUIT) and sets the pointer to NULL;
 * done() must not be followed by milter_cancel().
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

struct milter_source {
	const char *client_name; /* "unknown" without one */
	const char *client_addr; /* NULL: family 'U' */
	uint16_t client_port;
	const char *helo;
	const char *mail_from; /* without <> */
	const char *const *rcpts;
	size_t n_rcpts;
	/* The header fields, values with their leading space (dropped for a
	 * filter that did not ask for it) and folded lines joined by LF. */
	const struct milter_field *fields;
	size_t n_fields;
	/* The body: len octets readable at offsets from 0. */
	uint64_t body_len;
	int (*read_body)(void *ctx, uint64_t off, void *buf, size_t len,
	                 size_t *n_r);
	/* A macro's value ("{auth_authen}", "i", ...), NULL when unset. */
	const char *(*macro)(void *ctx, const char *name);
	void *ctx;
};

enum milter_verdict {
	MILTER_CONTINUE, /* keep the message (with its modifications) */
	MILTER_ACCEPT,   /* keep it; the filter wants no more of it */
	MILTER_REJECT,   /* 5xx: code, enhanced, text */
	MILTER_TEMPFAIL, /* 4xx: code, enhanced, text */
	MILTER_DISCARD,  /* accept and drop it */
	MILTER_FAILED,   /* the filter failed: error says how */
};

struct milter_result {
	enum milter_verdict verdict;
	unsigned code;
	char enhanced[16];
	char text[256]; /* the filter's, or ours */
	const char *error;
	const char *step; /* where it ended: "connect", "rcpt", "eom" ... */
	/* Recipients the filter refused at RCPT (indexes into rcpts),
	 * when others remain. */
	bool *rcpt_refused;
};

/* A modification at end of body (cmd ADDHEADER ... QUARANTINE);
 * lead_space: header values carry their own leading space. */
typedef void milter_edit_cb(void *ctx, const struct milter_reply *r,
                            bool lead_space);
typedef void milter_done_cb(void *ctx, const struct milter_result *r);

struct milter_conv *milter_start(struct event_base *base,
                                 const struct milter_conf *conf,
                                 const struct milter_source *src,
                                 milter_edit_cb *edit, milter_done_cb *done,
                                 void *ctx);
void milter_cancel(struct milter_conv **c);

#endif
