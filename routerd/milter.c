/*
 * milter - one conversation with a mail filter, over a bufferevent in
 * routerd's loop; see milter.h. The packets are milter_proto's.
 *
 * Every step is: its macros, its packet, then (unless the filter said it
 * needs to answer none of that kind) wait for the answer under the step's
 * deadline. Body chunks that need no answer are sent as the socket drains,
 * so at most one chunk waits in memory.
 */
#include "milter.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "evloop.h"
#include "sbuf.h"
#include "settings.h"

/* Keep sending body chunks that need no answer while less than this
 * waits in the socket's output. */
#define OUT_LOWAT (64u * 1024)
#define MAX_MACROS 32

enum step {
	S_CONNECTING,
	S_OPTNEG,
	S_CONNECT,
	S_HELO,
	S_MAIL,
	S_RCPT,
	S_DATA,
	S_HEADER,
	S_EOH,
	S_BODY,
	S_EOB,
};

static const char *const step_names[] = {
    "connecting", "negotiation", "connect", "helo", "mail", "rcpt",
    "data",       "header",      "eoh",     "body", "eom",
};

/* Postfix's default macros of each stage (milter_*_macros). */
static const char *const default_macros[MILTER_STAGE_COUNT] = {
    [MILTER_STAGE_CONNECT] = "j {daemon_name} {daemon_addr} v _ "
                             "{client_addr} {client_name} {client_port}",
    [MILTER_STAGE_HELO] = "{tls_version} {cipher} {cipher_bits} "
                          "{cert_subject} {cert_issuer}",
    [MILTER_STAGE_MAIL] = "i {auth_type} {auth_authen} {auth_author} "
                          "{mail_addr} {mail_host} {mail_mailer}",
    [MILTER_STAGE_RCPT] = "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
    [MILTER_STAGE_DATA] = "i",
    [MILTER_STAGE_EOM] = "i",
    [MILTER_STAGE_EOH] = "i",
};

struct milter_conv {
	struct bufferevent *bev;
	struct evloop_timer *timer;
	char *name;
	unsigned connect_ms, command_ms, content_ms;
	struct milter_source src;
	milter_edit_cb *edit;
	milter_done_cb *done;
	void *ctx;
	enum step step;
	size_t idx;        /* the RCPT or header field being sent */
	uint64_t body_off; /* body octets sent */
	bool waiting;      /* an answer is due */
	bool draining;     /* body chunks wait for the socket to drain */
	const char *pending_error; /* failed inside milter_start() */
	uint32_t actions, protocol;
	char *symlists[MILTER_STAGE_COUNT];
	struct sbuf *out;
	unsigned char *chunk;
	struct milter_result res;
	size_t refused;               /* recipients refused at RCPT */
	struct milter_result refusal; /* the last such refusal */
	char error[256];
};

static void conv_free(struct milter_conv *c)
{
	if (c->bev != NULL) {
		/* A last QUIT if the socket takes it now; the filter copes
		 * with a plain close as well. */
		unsigned char quit[5] = {0, 0, 0, 1, MILTER_CMD_QUIT};
		struct evbuffer *o = bufferevent_get_output(c->bev);
		evutil_socket_t fd = bufferevent_getfd(c->bev);

		if (c->step > S_OPTNEG && fd >= 0) {
			evbuffer_add(o, quit, sizeof(quit));
			(void)evbuffer_write(o, fd);
		}
		bufferevent_free(c->bev);
	}
	evloop_timer_free(&c->timer);
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++)
		free(c->symlists[i]);
	free(c->res.rcpt_refused);
	sbuf_deinit(&c->out);
	free(c->chunk);
	free(c->name);
	free(c);
}

/* Report and end. Returns false: c is gone. */
static bool finish(struct milter_conv *c)
{
	c->res.step = step_names[c->step];
	c->done(c->ctx, &c->res);
	conv_free(c);
	return false;
}

static bool fail(struct milter_conv *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool fail(struct milter_conv *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->res.verdict = MILTER_FAILED;
	c->res.error = c->error;
	return finish(c);
}

static bool verdict(struct milter_conv *c, enum milter_verdict v,
                    const struct milter_reply *r)
{
	c->res.verdict = v;
	if (r != NULL && r->cmd == MILTER_R_REPLYCODE) {
		c->res.code = r->code;
		snprintf(c->res.enhanced, sizeof(c->res.enhanced), "%s",
		         r->enhanced);
		snprintf(c->res.text, sizeof(c->res.text), "%.*s",
		         (int)r->text_len, r->text);
	}
	return finish(c);
}

static void arm(struct milter_conv *c, unsigned ms)
{
	evloop_timer_start(c->timer, ms);
}

static unsigned step_timeout(const struct milter_conv *c)
{
	return c->step >= S_BODY ? c->content_ms : c->command_ms;
}

/* Queue what out holds on the socket. */
static void flush_out(struct milter_conv *c)
{
	bufferevent_write(c->bev, sbuf_data(c->out), sbuf_len(c->out));
	sbuf_reset(c->out);
}

static const char *macro_value(struct milter_conv *c, const char *name)
{
	if (strcmp(name, "{rcpt_addr}") == 0)
		return c->step == S_RCPT ? c->src.rcpts[c->idx] : NULL;
	if (strcmp(name, "{mail_addr}") == 0)
		return c->src.mail_from;
	return c->src.macro(c->src.ctx, name);
}

/* The macros of stage, before the packet cmd. */
static void send_macros(struct milter_conv *c, char cmd, enum milter_stage st)
{
	const char *list =
	    c->symlists[st] != NULL ? c->symlists[st] : default_macros[st];
	const char *names[MAX_MACROS], *values[MAX_MACROS];
	char name[MAX_MACROS][64];
	size_t n = 0;

	/* The list may be the filter's (smfi_setsymlist): bounded, and
	 * names too long for any macro are left out. */
	for (const char *p = list; *p != '\0' && n < MAX_MACROS;) {
		size_t len;
		const char *v;

		p += strspn(p, " ,");
		len = strcspn(p, " ,");
		if (len == 0)
			break;
		if (len < sizeof(name[0])) {
			memcpy(name[n], p, len);
			name[n][len] = '\0';
			v = macro_value(c, name[n]);
			if (v != NULL) {
				names[n] = name[n];
				values[n++] = v;
			}
		}
		p += len;
	}
	if (n > 0)
		(void)milter_proto_macros(c->out, cmd, names, values, n);
}

/* The field's value as this filter wants it. */
static const char *field_value(const struct milter_conv *c, const char *v)
{
	if (c->protocol & MILTER_P_HDR_LEADSPC)
		return v;
	while (*v == ' ' || *v == '\t')
		v++;
	return v;
}

static void step_done(struct milter_conv *c)
{
	if (c->step == S_RCPT || c->step == S_HEADER)
		c->idx++;
	else if (c->step != S_BODY) {
		c->step++;
		c->idx = 0;
	}
}

/* Send one step: true when a packet went out, *nr_r its no-reply flag. */
static bool send_step(struct milter_conv *c, uint32_t *nr_r, bool *next_r)
{
	const struct milter_source *s = &c->src;
	uint32_t p = c->protocol;
	char addr[1100];
	const char *strs[2];
	size_t n;

	*next_r = false;
	switch (c->step) {
	case S_CONNECTING:
	case S_OPTNEG:
		break;
	case S_CONNECT:
		if (p & MILTER_P_NOCONNECT)
			break;
		send_macros(c, MILTER_CMD_CONNECT, MILTER_STAGE_CONNECT);
		(void)milter_proto_connect(c->out, s->client_name,
		                           s->client_addr == NULL ? 'U'
		                           : strchr(s->client_addr, ':') != NULL
		                               ? '6'
		                               : '4',
		                           s->client_port, s->client_addr);
		*nr_r = MILTER_P_NR_CONN;
		return true;
	case S_HELO:
		if ((p & MILTER_P_NOHELO) || s->helo == NULL)
			break;
		send_macros(c, MILTER_CMD_HELO, MILTER_STAGE_HELO);
		(void)milter_proto_strings(c->out, MILTER_CMD_HELO, &s->helo,
		                           1);
		*nr_r = MILTER_P_NR_HELO;
		return true;
	case S_MAIL:
		if (p & MILTER_P_NOMAIL)
			break;
		snprintf(addr, sizeof(addr), "<%s>", s->mail_from);
		strs[0] = addr;
		send_macros(c, MILTER_CMD_MAIL, MILTER_STAGE_MAIL);
		(void)milter_proto_strings(c->out, MILTER_CMD_MAIL, strs, 1);
		*nr_r = MILTER_P_NR_MAIL;
		return true;
	case S_RCPT:
		if (c->idx >= s->n_rcpts) {
			*next_r = true;
			break;
		}
		if (p & MILTER_P_NORCPT)
			break;
		snprintf(addr, sizeof(addr), "<%s>", s->rcpts[c->idx]);
		strs[0] = addr;
		send_macros(c, MILTER_CMD_RCPT, MILTER_STAGE_RCPT);
		(void)milter_proto_strings(c->out, MILTER_CMD_RCPT, strs, 1);
		*nr_r = MILTER_P_NR_RCPT;
		return true;
	case S_DATA:
		if (p & MILTER_P_NODATA)
			break;
		send_macros(c, MILTER_CMD_DATA, MILTER_STAGE_DATA);
		(void)milter_proto_packet(c->out, MILTER_CMD_DATA, NULL, 0);
		*nr_r = MILTER_P_NR_DATA;
		return true;
	case S_HEADER:
		if (c->idx >= s->n_fields) {
			*next_r = true;
			break;
		}
		if (p & MILTER_P_NOHDRS)
			break;
		strs[0] = s->fields[c->idx].name;
		strs[1] = field_value(c, s->fields[c->idx].value);
		(void)milter_proto_strings(c->out, MILTER_CMD_HEADER, strs, 2);
		*nr_r = MILTER_P_NR_HDR;
		return true;
	case S_EOH:
		if (p & MILTER_P_NOEOH)
			break;
		send_macros(c, MILTER_CMD_EOH, MILTER_STAGE_EOH);
		(void)milter_proto_packet(c->out, MILTER_CMD_EOH, NULL, 0);
		*nr_r = MILTER_P_NR_EOH;
		return true;
	case S_BODY:
		if ((p & MILTER_P_NOBODY) || c->body_off >= s->body_len) {
			*next_r = true;
			break;
		}
		n = s->body_len - c->body_off < MILTER_CHUNK
		        ? (size_t)(s->body_len - c->body_off)
		        : MILTER_CHUNK;
		if (s->read_body(s->ctx, c->body_off, c->chunk, n, &n) < 0 ||
		    n == 0) {
			c->pending_error = "cannot read the message body";
			return false;
		}
		c->body_off += n;
		(void)milter_proto_packet(c->out, MILTER_CMD_BODY, c->chunk, n);
		*nr_r = MILTER_P_NR_BODY;
		return true;
	case S_EOB:
		send_macros(c, MILTER_CMD_EOB, MILTER_STAGE_EOM);
		(void)milter_proto_packet(c->out, MILTER_CMD_EOB, NULL, 0);
		*nr_r = 0;
		return true;
	}
	if (c->step != S_RCPT && c->step != S_HEADER && c->step != S_BODY)
		*next_r = true;
	else if (c->step != S_BODY)
		c->idx++; /* a left-out RCPT or header: the next one */
	return false;
}

/* Send steps until one needs an answer. false: c is gone. */
static bool advance(struct milter_conv *c)
{
	for (;;) {
		uint32_t nr = 0;
		bool next;
		bool sent;

		/* End of body always waits for the final answer. */
		assert(c->step <= S_EOB);
		sent = send_step(c, &nr, &next);

		if (c->pending_error != NULL)
			return fail(c, "%s", c->pending_error);
		if (next) {
			if (c->step == S_RCPT && c->src.n_rcpts > 0 &&
			    c->refused == c->src.n_rcpts) {
				/* Every recipient refused: so is the message.
				 */
				c->res = c->refusal;
				c->refusal.rcpt_refused = NULL;
				c->step = S_RCPT;
				return finish(c);
			}
			c->step++;
			c->idx = 0;
			continue;
		}
		if (!sent)
			continue;
		flush_out(c);
		if (!(c->protocol & nr)) {
			c->waiting = true;
			arm(c, step_timeout(c));
			return true;
		}
		step_done(c);
		if (c->step == S_BODY &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) >=
		        OUT_LOWAT) {
			c->draining = true;
			arm(c, c->content_ms);
			return true;
		}
	}
}

static bool negotiated(struct milter_conv *c, const struct milter_reply *r)
{
	if (r->cmd != MILTER_R_OPTNEG)
		return fail(c, "%s", "no OPTNEG answer to OPTNEG");
	if (r->version < 2 || r->version > MILTER_VERSION)
		return fail(c, "%s", "unsupported protocol version");
	if ((r->actions & ~MILTER_ACT_ALL) != 0 ||
	    (r->protocol & ~MILTER_P_OFFER) != 0)
		return fail(c, "%s", "asks for actions or steps not offered");
	c->actions = r->actions;
	c->protocol = r->protocol;
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++)
		if (r->symlists[i] != NULL)
			c->symlists[i] = alloc_strdup(r->symlists[i]);
	c->waiting = false;
	c->step = S_CONNECT;
	return advance(c);
}

/* The action bit a modification needs. */
static uint32_t action_of(char cmd)
{
	switch (cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
		return MILTER_ACT_ADDHDRS;
	case MILTER_R_CHGHEADER:
		return MILTER_ACT_CHGHDRS;
	case MILTER_R_REPLBODY:
		return MILTER_ACT_CHGBODY;
	case MILTER_R_ADDRCPT:
		return MILTER_ACT_ADDRCPT;
	case MILTER_R_ADDRCPT_PAR:
		return MILTER_ACT_ADDRCPT_PAR;
	case MILTER_R_DELRCPT:
		return MILTER_ACT_DELRCPT;
	case MILTER_R_CHGFROM:
		return MILTER_ACT_CHGFROM;
	case MILTER_R_QUARANTINE:
		return MILTER_ACT_QUARANTINE;
	}
	return 0;
}

static bool refuse_rcpt(struct milter_conv *c, enum milter_verdict v,
                        const struct milter_reply *r)
{
	if (c->res.rcpt_refused == NULL)
		c->res.rcpt_refused =
		    alloc_array(c->src.n_rcpts, sizeof(*c->res.rcpt_refused));
	c->res.rcpt_refused[c->idx] = true;
	c->refused++;
	memset(&c->refusal, 0, sizeof(c->refusal));
	c->refusal.verdict = v;
	if (r->cmd == MILTER_R_REPLYCODE) {
		c->refusal.code = r->code;
		snprintf(c->refusal.enhanced, sizeof(c->refusal.enhanced), "%s",
		         r->enhanced);
		snprintf(c->refusal.text, sizeof(c->refusal.text), "%.*s",
		         (int)r->text_len, r->text);
	}
	step_done(c);
	return advance(c);
}

/* One packet from the filter. false: c is gone. */
static bool on_reply(struct milter_conv *c, char cmd, const unsigned char *p,
                     size_t len)
{
	struct milter_reply r;
	const char *error;
	enum milter_verdict v;
	uint32_t act;

	if (milter_proto_reply(cmd, p, len, &r, &error) < 0)
		return fail(c, "bad answer: %s", error);
	if (!c->waiting)
		return fail(c, "%s", "an answer nobody asked for");
	if (c->step == S_OPTNEG)
		return negotiated(c, &r);
	switch (r.cmd) {
	case MILTER_R_PROGRESS:
		arm(c, step_timeout(c));
		return true;
	case MILTER_R_CONTINUE:
		if (c->step == S_EOB)
			return verdict(c, MILTER_CONTINUE, NULL);
		c->waiting = false;
		evloop_timer_stop(c->timer);
		step_done(c);
		return advance(c);
	case MILTER_R_ACCEPT:
		return verdict(
		    c, c->step == S_EOB ? MILTER_CONTINUE : MILTER_ACCEPT,
		    NULL);
	case MILTER_R_SKIP:
		if (c->step != S_BODY)
			return fail(c, "%s", "SKIP outside the body");
		c->waiting = false;
		c->step = S_EOB;
		return advance(c);
	case MILTER_R_DISCARD:
		return verdict(c, MILTER_DISCARD, NULL);
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_REPLYCODE:
		v = r.cmd == MILTER_R_TEMPFAIL ||
		            (r.cmd == MILTER_R_REPLYCODE && r.code < 500)
		        ? MILTER_TEMPFAIL
		        : MILTER_REJECT;
		if (c->step == S_RCPT) {
			c->waiting = false;
			return refuse_rcpt(c, v, &r);
		}
		return verdict(c, v, &r);
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
	case MILTER_R_OPTNEG:
		return fail(c, "%s", "the filter gave up");
	}
	act = action_of(r.cmd);
	if (c->step != S_EOB)
		return fail(c, "%s", "a modification before end of message");
	if (act == 0 || !(c->actions & act))
		return fail(c, "%s", "a modification it did not negotiate");
	c->edit(c->ctx, &r, (c->protocol & MILTER_P_HDR_LEADSPC) != 0);
	arm(c, c->content_ms);
	return true;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct milter_conv *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t len = evbuffer_get_length(in), plen, used;
		const unsigned char *payload;
		unsigned char *d;
		char cmd;
		int r;

		if (len < 5)
			return;
		d = evbuffer_pullup(in, -1);
		r = milter_proto_frame(d, len, MILTER_MAX_PACKET, &cmd,
		                       &payload, &plen, &used);
		if (r < 0) {
			(void)fail(c, "%s", "bad packet length: not a milter");
			return;
		}
		if (r == 0)
			return;
		if (!on_reply(c, cmd, payload, plen))
			return;
		evbuffer_drain(in, used);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct milter_conv *c = arg;

	(void)bev;
	if (c->draining) {
		c->draining = false;
		evloop_timer_stop(c->timer);
		(void)advance(c);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct milter_conv *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		(void)milter_proto_optneg(c->out, MILTER_VERSION,
		                          MILTER_ACT_ALL, MILTER_P_OFFER);
		flush_out(c);
		c->step = S_OPTNEG;
		c->waiting = true;
		return;
	}
	if (what & BEV_EVENT_EOF) {
		(void)fail(c, "%s", "the filter closed the connection");
		return;
	}
	(void)fail(c, "%s",
	           evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void on_timer(void *arg)
{
	struct milter_conv *c = arg;

	if (c->pending_error != NULL) {
		(void)fail(c, "%s", c->pending_error);
		return;
	}
	(void)fail(c, "timeout in %s", step_names[c->step]);
}

struct milter_conv *milter_start(struct event_base *base,
                                 const struct milter_conf *conf,
                                 const struct milter_source *src,
                                 milter_edit_cb *edit, milter_done_cb *done,
                                 void *ctx)
{
	struct milter_conv *c = alloc_new(struct milter_conv);
	struct sockaddr_storage ss;
	socklen_t sslen;

	c->name = alloc_strdup(conf->name);
	c->connect_ms = conf->connect_ms;
	c->command_ms = conf->command_ms;
	c->content_ms = conf->content_ms;
	c->src = *src;
	c->edit = edit;
	c->done = done;
	c->ctx = ctx;
	c->out = sbuf_new(MILTER_MAX_PACKET + 64 * 1024);
	c->chunk = alloc_resize(NULL, MILTER_CHUNK, 1);
	c->timer = evloop_timer_new(base, on_timer, c);
	c->step = S_CONNECTING;
	if (!settings_milter_sockaddr(conf->socket, &ss, &sslen)) {
		c->pending_error = "bad socket address";
		arm(c, 0);
		return c;
	}
	c->bev = bufferevent_socket_new(
	    base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss,
	                               (int)sslen) < 0) {
		c->pending_error = "connection refused";
		arm(c, 0);
		return c;
	}
	arm(c, c->connect_ms);
	return c;
}

void milter_cancel(struct milter_conv **cp)
{
	struct milter_conv *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->bev != NULL && c->step > S_OPTNEG) {
		unsigned char abort_pkt[5] = {0, 0, 0, 1, MILTER_CMD_ABORT};

		bufferevent_write(c->bev, abort_pkt, sizeof(abort_pkt));
	}
	conv_free(c);
}
