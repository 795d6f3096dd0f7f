/*
 * milter - one filter's conversation with one SMTP session, over a
 * bufferevent in routerd's loop; see milter.h. The packets are
 * milter_proto's.
 *
 * Every step is: its macros, its packet, then (unless the filter said it
 * needs to answer none of that kind) wait for the answer under the step's
 * deadline. Body chunks that need no answer are sent as the socket drains,
 * so at most one chunk waits in memory. Answers reach done() through a
 * zero timer, never from inside a read: the session may close the
 * conversation from done().
 */
#include "milter_private.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

static void close_socket(struct milter_conv *c, char last)
{
	if (c->bev != NULL) {
		/* A last word if the socket takes it now; the filter copes
		 * with a plain close as well. */
		unsigned char pkt[5] = {0, 0, 0, 1, (unsigned char)last};
		struct evbuffer *o = bufferevent_get_output(c->bev);
		evutil_socket_t fd = bufferevent_getfd(c->bev);

		if (last != 0 && c->phase == P_READY && fd >= 0) {
			evbuffer_add(o, pkt, sizeof(pkt));
			(void)evbuffer_write(o, fd);
		}
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
}

void milter_close(struct milter_conv **cp)
{
	struct milter_conv *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->in_msg && c->bev != NULL && c->phase == P_READY) {
		unsigned char abort_pkt[5] = {0, 0, 0, 1, MILTER_CMD_ABORT};

		bufferevent_write(c->bev, abort_pkt, sizeof(abort_pkt));
	}
	close_socket(c, MILTER_CMD_QUIT);
	evloop_timer_free(&c->timer);
	evloop_timer_free(&c->answer);
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++)
		free(c->symlists[i]);
	sbuf_deinit(&c->out);
	free(c->chunk);
	free(c->arg);
	free(c->client_addr);
	free(c->mail_addr);
	free(c->name);
	free(c);
}

/* The ask is answered (c->res): done() from the loop. */
static void answer(struct milter_conv *c)
{
	c->waiting = c->draining = false;
	evloop_timer_stop(c->timer);
	c->res.step = milter_step_names[c->step];
	c->answered = true;
	evloop_timer_start(c->answer, 0);
}

static void on_answer(void *arg)
{
	struct milter_conv *c = arg;
	struct milter_result res = c->res;

	if (!c->asked || !c->answered)
		return;
	c->asked = c->answered = false;
	c->cb.done(c->cb.ctx, &res); /* may close c */
}

static void fail(struct milter_conv *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct milter_conv *c, const char *fmt, ...)
{
	va_list ap;

	if (c->phase == P_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->phase = P_FAILED;
	c->in_msg = false;
	close_socket(c, 0);
	evloop_timer_stop(c->timer);
	if (c->asked && !c->answered) {
		memset(&c->res, 0, sizeof(c->res));
		c->res.verdict = MILTER_FAILED;
		c->res.error = c->error;
		answer(c);
	}
}

static void verdict(struct milter_conv *c, enum milter_verdict v,
                    const struct milter_reply *r)
{
	memset(&c->res, 0, sizeof(c->res));
	c->res.verdict = v;
	if (r != NULL && r->cmd == MILTER_R_REPLYCODE) {
		c->res.code = r->code;
		snprintf(c->res.enhanced, sizeof(c->res.enhanced), "%s",
		         r->enhanced);
		snprintf(c->res.text, sizeof(c->res.text), "%.*s",
		         (int)r->text_len, r->text);
	}
	if (c->step == S_EOB)
		c->in_msg = false; /* the message is over for the filter */
	answer(c);
}

static void arm(struct milter_conv *c, unsigned ms)
{
	evloop_timer_start(c->timer, ms);
}

static unsigned step_timeout(const struct milter_conv *c)
{
	return c->step >= S_BODY ? c->content_ms : c->command_ms;
}

/* The step answered or left out: on to the next of the message. */
static void next_content(struct milter_conv *c)
{
	if (c->step == S_HEADER && c->idx < c->content.n_fields &&
	    !(c->protocol & MILTER_P_NOHDRS))
		c->idx++;
	else if (c->step == S_BODY && c->body_off < c->content.body_len &&
	         !(c->protocol & MILTER_P_NOBODY))
		return;
	else
		c->step++;
}

/* Send what the ask needs until the filter must answer. */
static void advance(struct milter_conv *c)
{
	for (;;) {
		const char *error = NULL;
		uint32_t nr = 0;
		bool sent;

		if (c->step < S_DATA) {
			sent = milter_send_envelope(c, &nr);
		} else {
			assert(c->step <= S_EOB);
			sent = milter_send_content(c, &nr, &error);
		}
		if (error != NULL) {
			fail(c, "%s", error);
			return;
		}
		if (sent)
			milter_send_flush(c);
		if (sent && !(c->protocol & nr)) {
			c->waiting = true;
			arm(c, step_timeout(c));
			return;
		}
		if (c->step < S_DATA) {
			verdict(c, MILTER_CONTINUE, NULL);
			return;
		}
		next_content(c);
		if (c->data_only) {
			/* DATA at the DATA command: the rest comes later. */
			c->step = S_DATA;
			verdict(c, MILTER_CONTINUE, NULL);
			return;
		}
		if (c->step == S_BODY && sent &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) >=
		        OUT_LOWAT) {
			c->draining = true;
			arm(c, c->content_ms);
			return;
		}
	}
}

/* Start an ask: answered at once when the filter failed or wants no
 * more, sent now or when the negotiation ends. */
static void ask(struct milter_conv *c, enum step step)
{
	assert(!c->asked);
	c->asked = true;
	c->answered = false;
	c->step = step;
	memset(&c->res, 0, sizeof(c->res));
	if (c->phase == P_FAILED) {
		c->res.verdict = MILTER_FAILED;
		c->res.error = c->error;
		answer(c);
		return;
	}
	if (c->quiet_conn ||
	    (step > S_MAIL && step != S_UNKNOWN && c->quiet_msg)) {
		verdict(c, MILTER_ACCEPT, NULL);
		return;
	}
	if (c->phase == P_READY)
		advance(c);
}

static void set_arg(struct milter_conv *c, const char *arg)
{
	free(c->arg);
	c->arg = alloc_strdup(arg);
}

void milter_connect(struct milter_conv *c, const char *client_name,
                    const char *client_addr, uint16_t port)
{
	set_arg(c, client_name);
	c->client_addr = client_addr != NULL ? alloc_strdup(client_addr) : NULL;
	c->client_port = port;
	ask(c, S_CONNECT);
}

void milter_helo(struct milter_conv *c, const char *helo)
{
	set_arg(c, helo);
	ask(c, S_HELO);
}

void milter_mail(struct milter_conv *c, const char *from)
{
	free(c->mail_addr);
	c->mail_addr = alloc_strdup(from);
	c->quiet_msg = false;
	c->data_sent = false;
	c->in_msg = c->phase != P_FAILED;
	ask(c, S_MAIL);
}

void milter_rcpt(struct milter_conv *c, const char *rcpt)
{
	set_arg(c, rcpt);
	ask(c, S_RCPT);
}

void milter_unknown(struct milter_conv *c, const char *line)
{
	set_arg(c, line);
	ask(c, S_UNKNOWN);
}

void milter_data(struct milter_conv *c)
{
	c->data_only = true;
	c->data_sent = true;
	ask(c, S_DATA);
}

void milter_message(struct milter_conv *c, const struct milter_content *m)
{
	c->content = *m;
	c->idx = 0;
	c->body_off = 0;
	c->data_only = false;
	ask(c, c->data_sent ? S_HEADER : S_DATA);
}

void milter_abort(struct milter_conv *c)
{
	if (c->in_msg && c->bev != NULL && c->phase == P_READY) {
		unsigned char abort_pkt[5] = {0, 0, 0, 1, MILTER_CMD_ABORT};

		bufferevent_write(c->bev, abort_pkt, sizeof(abort_pkt));
	}
	c->in_msg = false;
	c->quiet_msg = false;
	c->data_sent = false;
	free(c->mail_addr);
	c->mail_addr = NULL;
}

static void negotiated(struct milter_conv *c, const struct milter_reply *r)
{
	if (r->cmd != MILTER_R_OPTNEG) {
		fail(c, "%s", "no OPTNEG answer to OPTNEG");
		return;
	}
	if (r->version < 2 || r->version > MILTER_VERSION) {
		fail(c, "%s", "unsupported protocol version");
		return;
	}
	if ((r->actions & ~MILTER_ACT_ALL) != 0 ||
	    (r->protocol & ~MILTER_P_OFFER) != 0) {
		fail(c, "%s", "asks for actions or steps not offered");
		return;
	}
	c->actions = r->actions;
	c->protocol = r->protocol;
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++)
		if (r->symlists[i] != NULL)
			c->symlists[i] = alloc_strdup(r->symlists[i]);
	c->waiting = false;
	evloop_timer_stop(c->timer);
	c->phase = P_READY;
	if (c->asked && !c->answered)
		advance(c);
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

/* One packet from the filter. */
static void on_reply(struct milter_conv *c, char cmd, const unsigned char *p,
                     size_t len)
{
	struct milter_reply r;
	const char *error;
	uint32_t act;

	if (milter_proto_reply(cmd, p, len, &r, &error) < 0) {
		fail(c, "bad answer: %s", error);
		return;
	}
	if (c->phase == P_OPTNEG) {
		negotiated(c, &r);
		return;
	}
	if (!c->waiting) {
		fail(c, "%s", "an answer nobody asked for");
		return;
	}
	switch (r.cmd) {
	case MILTER_R_PROGRESS:
		arm(c, step_timeout(c));
		return;
	case MILTER_R_CONTINUE:
		if (c->step < S_DATA || c->step == S_EOB || c->data_only) {
			verdict(c, MILTER_CONTINUE, NULL);
			return;
		}
		c->waiting = false;
		evloop_timer_stop(c->timer);
		next_content(c);
		advance(c);
		return;
	case MILTER_R_ACCEPT:
		if (c->step <= S_HELO)
			c->quiet_conn = true;
		else if (c->step != S_UNKNOWN)
			c->quiet_msg = true;
		/* At end of body: its changes so far stand. */
		verdict(c, c->step == S_EOB ? MILTER_CONTINUE : MILTER_ACCEPT,
		        NULL);
		return;
	case MILTER_R_SKIP:
		if (c->step != S_BODY) {
			fail(c, "%s", "SKIP outside the body");
			return;
		}
		c->waiting = false;
		c->step = S_EOB;
		advance(c);
		return;
	case MILTER_R_DISCARD:
		c->quiet_msg = true;
		verdict(c, MILTER_DISCARD, NULL);
		return;
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_REPLYCODE:
		verdict(c,
		        r.cmd == MILTER_R_TEMPFAIL ||
		                (r.cmd == MILTER_R_REPLYCODE && r.code < 500)
		            ? MILTER_TEMPFAIL
		            : MILTER_REJECT,
		        &r);
		return;
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
	case MILTER_R_OPTNEG:
		fail(c, "%s", "the filter gave up");
		return;
	}
	act = action_of(r.cmd);
	if (c->step != S_EOB) {
		fail(c, "%s", "a modification before end of message");
		return;
	}
	if (act == 0 || !(c->actions & act)) {
		fail(c, "%s", "a modification it did not negotiate");
		return;
	}
	c->cb.edit(c->cb.ctx, &r, (c->protocol & MILTER_P_HDR_LEADSPC) != 0);
	arm(c, c->content_ms);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct milter_conv *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* Answers go to done() from the loop: c lives on here. */
	while (c->phase != P_FAILED) {
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
			fail(c, "%s", "bad packet length: not a milter");
			return;
		}
		if (r == 0)
			return;
		on_reply(c, cmd, payload, plen);
		if (c->bev == NULL)
			return; /* failed: the buffer is gone */
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
		advance(c);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct milter_conv *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		(void)milter_proto_optneg(c->out, MILTER_VERSION,
		                          MILTER_ACT_ALL, MILTER_P_OFFER);
		milter_send_flush(c);
		c->phase = P_OPTNEG;
		return;
	}
	if (what & BEV_EVENT_EOF) {
		fail(c, "%s", "the filter closed the connection");
		return;
	}
	fail(c, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void on_timer(void *arg)
{
	struct milter_conv *c = arg;

	if (c->pending_error != NULL)
		fail(c, "%s", c->pending_error);
	else if (c->phase == P_CONNECTING)
		fail(c, "%s", "timeout in connecting");
	else if (c->phase == P_OPTNEG)
		fail(c, "%s", "timeout in negotiation");
	else
		fail(c, "timeout in %s", milter_step_names[c->step]);
}

struct milter_conv *milter_open(struct event_base *base,
                                const struct milter_conf *conf,
                                const struct milter_callbacks *cb)
{
	struct milter_conv *c = alloc_new(struct milter_conv);
	struct sockaddr_storage ss;
	socklen_t sslen;

	c->name = alloc_strdup(conf->name);
	c->connect_ms = conf->connect_ms;
	c->command_ms = conf->command_ms;
	c->content_ms = conf->content_ms;
	c->cb = *cb;
	c->out = sbuf_new(MILTER_MAX_PACKET + 64 * 1024);
	c->chunk = alloc_resize(NULL, MILTER_CHUNK, 1);
	c->timer = evloop_timer_new(base, on_timer, c);
	c->answer = evloop_timer_new(base, on_answer, c);
	c->phase = P_CONNECTING;
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
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->pending_error = "connection refused";
		arm(c, 0);
		return c;
	}
	arm(c, c->connect_ms);
	return c;
}
