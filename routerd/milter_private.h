/*
 * milter_private.h - shared by milter.c (the connection, the asks, the
 * answers) and milter_send.c (the packets of each step). Not for other
 * modules.
 */
#ifndef DIRMX_MILTER_PRIVATE_H
#define DIRMX_MILTER_PRIVATE_H

#include "milter.h"

struct bufferevent;
struct evloop_timer;
struct sbuf;

enum phase { P_CONNECTING, P_OPTNEG, P_READY, P_FAILED };

/* The message's steps follow one another from S_DATA to S_EOB. */
enum step {
	S_CONNECT,
	S_HELO,
	S_MAIL,
	S_RCPT,
	S_UNKNOWN,
	S_DATA,
	S_HEADER,
	S_EOH,
	S_BODY,
	S_EOB,
};

extern const char *const milter_step_names[];

struct milter_conv {
	struct bufferevent *bev;
	struct evloop_timer *timer;  /* the deadline of what is due */
	struct evloop_timer *answer; /* done() from the loop */
	char *name;
	unsigned connect_ms, command_ms, content_ms;
	struct milter_callbacks cb;
	enum phase phase;
	bool asked;        /* done() is due */
	bool answered;     /* ... and res holds it */
	enum step step;    /* what is asked */
	bool waiting;      /* the filter's answer is due */
	bool draining;     /* body chunks wait for the socket to drain */
	bool quiet_conn;   /* ACCEPT at connect or HELO */
	bool quiet_msg;    /* ACCEPT or DISCARD in this message */
	bool in_msg;       /* MAIL went out, end of body did not */
	bool data_sent;    /* DATA went out at the DATA command */
	bool data_only;    /* the ask is DATA alone */
	char *arg;         /* HELO, RCPT, unknown line; client name */
	char *client_addr; /* NULL: unknown */
	uint16_t client_port;
	char *mail_addr; /* {mail_addr} of the message */
	struct milter_content content;
	size_t idx;        /* the header field being sent */
	uint64_t body_off; /* body octets sent */
	uint32_t actions, protocol;
	char *symlists[MILTER_STAGE_COUNT];
	struct sbuf *out;
	unsigned char *chunk;
	struct milter_result res;
	const char *pending_error; /* found in milter_open() */
	char error[256];
};

/* milter_send.c */
/* Queue what c->out holds on the socket. */
void milter_send_flush(struct milter_conv *c);
/* Send the packet of an envelope step (with its macros): false when the
 * filter asked to be left out of it; *nr_r the flag that says it needs no
 * answer. */
bool milter_send_envelope(struct milter_conv *c, uint32_t *nr_r);
/* Send one step of the message: true when a packet went out (*nr_r its
 * no-reply flag), false when this step is over (left out, or no field or
 * body left) or *error_r says why it cannot go on. */
bool milter_send_content(struct milter_conv *c, uint32_t *nr_r,
                         const char **error_r);

#endif
