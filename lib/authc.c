/*
 * authc - asynchronous authd client on one multiplexed connection
 *
 * SYNOPSIS
 *	c = authc_new(base, "/run/dirmx/authd.sock", "routerd");
 *	req = authc_lookup(c, "bob@example.com", "mx", NULL, cb, ctx);
 *	authc_cancel(&req);
 *	authc_deinit(&c);
 *
 * DESCRIPTION
 *	The contract is in authc.h. A request lives on exactly one list:
 *	queued (formatted, waiting for the connection to pass HELLO), sent
 *	(on the wire, matched by ID; cancelled and timed-out ones stay as
 *	"zombies" so that their late answer is recognised and dropped
 *	instead of looking like an answer to an unknown ID, which would be
 *	a protocol error), or deferred (failed before an answer, its
 *	callback waiting for a zero timer so it never runs inside the call
 *	that started the request). Lists are scanned linearly: answers
 *	mostly come back in order, so the match is near the head.
 *
 *	A LOOKUP that asks what a LOOKUP in flight asks (same address,
 *	context and user: authc_merge.c) sends nothing: it waits on that
 *	request's list of waiters, with a timer of its own, and gets its
 *	answer or its failure. That request goes on while anyone waits for
 *	it: cancelled, or timed out, it stays on the wire as a zombie for
 *	its waiters (a timed-out one no longer takes new waiters).
 *
 *	Output goes through a private buffer, not an sbuf, so that every
 *	byte of it (AUTH lines hold the password) is wiped when it is
 *	written, moved or freed. The AUTH line is formatted into an sbuf
 *	grown to its limit first, so formatting never reallocates and
 *	leaves no copy behind.
 */
#include "authc.h"

#include <errno.h>
#include <event2/event.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "authc_private.h"
#include "authproto.h"
#include "evloop.h"
#include "log.h"
#include "sbuf.h"

#define LOG_ID "authc"
/* LOOKUP / SENDERS / AUTH lines: names <= 512 and a 4096-byte secret,
   each at most tripled by escaping, fit with room to spare. */
#define REQ_LINE_MAX ((size_t)16 * 1024)
#define IN_MAX (AUTHPROTO_LINE_MAX + 65536)
#define ZOMBIES_MAX 1024
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

/* --- request lists ----------------------------------------------------- */

static void list_init(struct req_list *l)
{
	TAILQ_INIT(&l->q);
	l->n = 0;
}

static void list_add(struct req_list *l, struct authc_req *r)
{
	r->list = l;
	TAILQ_INSERT_TAIL(&l->q, r, link);
	l->n++;
}

/* Sent requests by ID too: authd answers in any order, and a walk of the
 * sent list for each answer made a flood of answers quadratic. */
static int id_cmp(const void *a, const void *b)
{
	const struct authc_req *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void list_del(struct authc_req *r)
{
	if (r->state == REQ_MERGED)
		r->c->merged--;
	if (r->list == &r->c->sent)
		(void)tdelete(r, &r->c->sent_by_id, id_cmp);
	TAILQ_REMOVE(&r->list->q, r, link);
	r->list->n--;
	r->list = NULL;
}

static void line_wipe(struct sbuf **line)
{
	sbuf_deinit(line); /* a secret sbuf: wiped */
}

static void req_free(struct authc_req *r)
{
	if (!TAILQ_EMPTY(&r->waiters.q))
		abort(); /* every path answers or fails them first */
	if (r->list != NULL)
		list_del(r);
	authc_merge_forget(r->c->merge, &r->merge);
	if (r->zombie)
		r->c->zombies--;
	evloop_timer_free(&r->timer);
	line_wipe(&r->line);
	free(r->fail_reason);
	free(r);
}

/* --- deferred failures ------------------------------------------------- */

static void defer_fail(struct authc_req *r, const char *reason)
{
	struct authc *c = r->c;

	authc_merge_forget(c->merge, &r->merge);
	while (!TAILQ_EMPTY(&r->waiters.q))
		defer_fail(TAILQ_FIRST(&r->waiters.q), reason);
	if (r->list != NULL)
		list_del(r);
	evloop_timer_stop(r->timer);
	line_wipe(&r->line);
	if (r->zombie) {
		req_free(r);
		return;
	}
	free(r->fail_reason);
	r->fail_reason = alloc_strdup(reason);
	r->state = REQ_DEFERRED;
	list_add(&c->deferred, r);
	if (!evloop_timer_pending(c->defer_timer))
		evloop_timer_start(c->defer_timer, 0);
}

static void on_defer(void *context)
{
	struct authc *c = context;
	struct authc_req *r;

	/* One at a time: a callback may cancel the next one. */
	while ((r = TAILQ_FIRST(&c->deferred.q)) != NULL) {
		list_del(r);
		authc_result_fail(r->verb, r->cb, r->ctx, r->fail_reason);
		req_free(r);
	}
}

static void fail_list(struct req_list *l, const char *reason)
{
	while (!TAILQ_EMPTY(&l->q))
		defer_fail(TAILQ_FIRST(&l->q), reason);
}

/* --- connection --------------------------------------------------------- */

/* After a failed connect or HELLO: 50 ms, doubling up to 1 s. */
static void backoff(struct authc *c)
{
	unsigned int shift = c->failures < 5 ? c->failures : 5;
	long long ms = (long long)BACKOFF_MIN_MS << shift;

	c->failures++;
	c->retry_at_ms = (long long)evloop_now_ms() +
	                 (ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS);
}

static void conn_close(struct authc *c, const char *reason)
{
	bool was_ready = c->state == CONN_READY;

	if (c->state == CONN_CLOSED)
		return;
	event_free(c->ev_read);
	event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
	close(c->fd);
	c->fd = -1;
	c->state = CONN_CLOSED;
	evloop_timer_stop(c->hello_timer);
	sbuf_reset(c->in);
	sbuf_reset(c->out);
	free(c->last_error);
	c->last_error = alloc_strdup(reason);
	if (was_ready) {
		c->failures = 0;
		c->retry_at_ms = 0;
	} else {
		backoff(c);
	}
	fail_list(&c->sent, reason);
	fail_list(&c->queued, reason);
}

static void conn_want_write(struct authc *c)
{
	if (c->state != CONN_CLOSED && sbuf_len(c->out) > 0 &&
	    event_add(c->ev_write, NULL) < 0)
		conn_close(c, "cannot watch the authd socket");
}

/* Move queued requests to the output buffer. */
static void flush_queue(struct authc *c)
{
	struct authc_req *r;

	while ((r = TAILQ_FIRST(&c->queued.q)) != NULL) {
		if (!sbuf_append(c->out, sbuf_data(r->line),
		                 sbuf_len(r->line))) {
			defer_fail(r, "too many requests waiting for authd");
			continue;
		}
		line_wipe(&r->line);
		list_del(r);
		r->state = REQ_SENT;
		list_add(&c->sent, r);
		if (tsearch(r, &c->sent_by_id, id_cmp) == NULL)
			abort(); /* out of memory */
	}
	conn_want_write(c);
}

static void malformed(struct authc *c, const char *error)
{
	log_error(LOG_ID, "event=malformed_answer error=\"%s\" in_flight=%zu",
	          error, c->sent.n);
	conn_close(c, "malformed answer from authd");
}

/* The answer to r for those who wait for it too; one at a time: a
 * callback may cancel the next one. */
static void deliver_waiters(struct authc_req *r, const struct authproto_msg *m)
{
	struct authc_req *w;

	while ((w = TAILQ_FIRST(&r->waiters.q)) != NULL) {
		list_del(w);
		authc_result_deliver(w->verb, r->id, w->cb, w->ctx, m);
		req_free(w);
	}
}

/* One answer line; false when the connection was closed. */
static bool handle_line(struct authc *c, const char *line, size_t len)
{
	struct authproto_msg *m = NULL;
	enum authproto_verb verb;
	struct authc_req *r, probe, **found;
	const char *error;
	uint64_t id;

	if (authproto_parse_head(line, len, &verb, &id, &error) < 0) {
		malformed(c, error);
		return false;
	}
	if (c->state == CONN_HELLO || id == 0) {
		enum authproto_verb req =
		    c->state == CONN_HELLO ? AUTHPROTO_HELLO : AUTHPROTO_NONE;
		char q[LOG_QUOTE_MAX], *why;

		if (id != 0 ||
		    authproto_parse_answer(line, len, req, &m, &error) < 0) {
			malformed(c, id != 0 ? "answer before HELLO" : error);
			return false;
		}
		if (authproto_msg_verb(m) == AUTHPROTO_OK) {
			authc_hello_mechs(c, m);
			authproto_msg_deinit(&m);
			c->state = CONN_READY;
			c->failures = 0;
			evloop_timer_stop(c->hello_timer);
			log_debug(LOG_ID, "event=connected path=%s", c->path);
			flush_queue(c);
			return c->state == CONN_READY;
		}
		log_warn(LOG_ID, "event=authd_error hello=%d reason=%s",
		         req == AUTHPROTO_HELLO,
		         log_quote_str(q, authproto_msg_get(m, "reason")));
		why = alloc_printf(req == AUTHPROTO_HELLO
		                       ? "authd refused HELLO: %s"
		                       : "authd reported an error: %s",
		                   authproto_msg_get(m, "reason"));
		authproto_msg_deinit(&m);
		conn_close(c, why);
		free(why);
		return false;
	}
	probe.id = id;
	found = tfind(&probe, &c->sent_by_id, id_cmp);
	r = found != NULL ? *found : NULL;
	if (r == NULL) {
		malformed(c, "answer to an ID not in flight");
		return false;
	}
	if (authproto_parse_answer(line, len, r->verb, &m, &error) < 0) {
		malformed(c, error);
		return false;
	}
	list_del(r);
	authc_merge_forget(c->merge, &r->merge);
	if (!r->zombie)
		authc_result_deliver(r->verb, r->id, r->cb, r->ctx, m);
	deliver_waiters(r, m);
	req_free(r);
	authproto_msg_deinit(&m);
	return c->state == CONN_READY;
}

static void on_read(evutil_socket_t fd, short what, void *context)
{
	struct authc *c = context;
	char buf[65536];
	size_t room = IN_MAX - sbuf_len(c->in);
	ssize_t n;

	n = recv(fd, buf, room < sizeof(buf) ? room : sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		char *why = n == 0 ? alloc_strdup("authd closed the connection")
		                   : alloc_printf("lost the connection to "
		                                  "authd: %s",
		                                  strerror(errno));

		log_warn(LOG_ID,
		         "event=disconnected error=\"%s\" "
		         "in_flight=%zu",
		         why, c->sent.n - c->zombies);
		conn_close(c, why);
		free(why);
		return;
	}
	if (!sbuf_append(c->in, buf, (size_t)n))
		abort(); /* room was checked */
	for (;;) {
		const char *line, *error;
		size_t len, consumed;
		int r = authproto_frame(c->in, &line, &len, &consumed, &error);

		if (r < 0) {
			malformed(c, error);
			return;
		}
		if (r == 0)
			return;
		if (!handle_line(c, line, len))
			return;
		sbuf_consume(c->in, consumed);
	}
}

static void on_write(evutil_socket_t fd, short what, void *context)
{
	struct authc *c = context;
	ssize_t n = send(fd, sbuf_data(c->out), sbuf_len(c->out), MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		char *why = alloc_printf("%s: %s",
		                         c->state == CONN_HELLO
		                             ? "authd unavailable"
		                             : "lost the connection to authd",
		                         strerror(errno));

		log_warn(LOG_ID, "event=write_failed error=\"%s\"", why);
		conn_close(c, why);
		free(why);
		return;
	}
	sbuf_consume(c->out, (size_t)n);
	if (sbuf_len(c->out) == 0)
		event_del(c->ev_write);
}

static void on_hello_timeout(void *context)
{
	struct authc *c = context;

	log_warn(LOG_ID, "event=hello_timeout path=%s", c->path);
	conn_close(c, "authd did not answer HELLO");
}

/* Start connecting; false (and c->last_error set) on failure. */
static bool conn_open(struct authc *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = strlen(c->path);
	int err;

	if (len >= sizeof(sun.sun_path)) {
		err = ENAMETOOLONG;
		goto fail;
	}
	memcpy(sun.sun_path, c->path, len + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = errno;
		goto fail;
	}
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
		close(c->fd);
		c->fd = -1;
		goto fail;
	}
	c->ev_read =
	    event_new(c->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write =
	    event_new(c->base, c->fd, EV_WRITE | EV_PERSIST, on_write, c);
	if (c->ev_read == NULL || c->ev_write == NULL ||
	    event_add(c->ev_read, NULL) < 0)
		abort(); /* out of memory (see evloop.h) */
	c->state = CONN_HELLO;
	if (!sbuf_append(c->out, c->hello, strlen(c->hello)))
		abort();
	evloop_timer_start(c->hello_timer, c->timeout_ms);
	conn_want_write(c);
	return true;
fail:
	free(c->last_error);
	c->last_error = alloc_printf("authd unavailable: %s", strerror(err));
	log_warn(LOG_ID, "event=connect_failed path=%s error=\"%s\"", c->path,
	         strerror(err));
	backoff(c);
	return false;
}

/* Make progress with the queued requests. */
void authc_conn_kick(struct authc *c)
{
	if (c->state == CONN_READY) {
		flush_queue(c);
	} else if (c->state == CONN_CLOSED) {
		if ((long long)evloop_now_ms() < c->retry_at_ms ||
		    !conn_open(c))
			fail_list(&c->queued, c->last_error);
	}
}

/* --- requests ---------------------------------------------------------- */

static void on_timeout(void *context)
{
	struct authc_req *r = context;
	struct authc *c = r->c;

	/* Stuck: new LOOKUPs send their own request. */
	authc_merge_forget(c->merge, &r->merge);
	if (r->zombie)
		return; /* cancelled; it only went on for its waiters */
	log_warn(LOG_ID, "event=timeout req=%llu verb=%s timeout_ms=%u",
	         (unsigned long long)r->id, authproto_verb_name(r->verb),
	         c->timeout_ms);
	if (r->state == REQ_SENT || !TAILQ_EMPTY(&r->waiters.q)) {
		/* Keep the ID: its late answer is dropped, not an error. */
		r->zombie = true;
		c->zombies++;
		authc_result_fail(r->verb, r->cb, r->ctx,
		                  "authd did not answer");
		if (c->zombies > ZOMBIES_MAX)
			conn_close(c, "authd stopped answering");
		return;
	}
	list_del(r);
	authc_result_fail(r->verb, r->cb, r->ctx, "authd did not answer");
	req_free(r);
}

struct authc_req *authc_req_new(struct authc *c, enum authproto_verb verb,
                                void *ctx, struct authproto_msg **m_r)
{
	struct authc_req *r = alloc_new(struct authc_req);

	if (c->dying)
		abort(); /* authc.h: no requests from deinit's callbacks */
	r->c = c;
	r->verb = verb;
	r->id = ++c->next_id;
	r->ctx = ctx;
	list_init(&r->waiters);
	*m_r = authproto_msg_new_request(verb, r->id);
	return r;
}

struct authc_req *authc_req_join(struct authc_req *p, authc_lookup_cb *cb,
                                 void *ctx)
{
	struct authc *c = p->c;
	struct authc_req *r = alloc_new(struct authc_req);

	if (c->dying)
		abort(); /* authc.h: no requests from deinit's callbacks */
	r->c = c;
	r->verb = AUTHPROTO_LOOKUP;
	r->id = p->id; /* for the log */
	r->cb.lookup = cb;
	r->ctx = ctx;
	list_init(&r->waiters);
	r->timer = evloop_timer_new(c->base, on_timeout, r);
	r->state = REQ_MERGED;
	list_add(&p->waiters, r);
	c->merged++;
	evloop_timer_start(r->timer, c->timeout_ms);
	log_debug(LOG_ID, "event=lookup_shared req=%llu waiters=%zu",
	          (unsigned long long)p->id, p->waiters.n);
	return r;
}

/* Format m (freed here) and start r. */
struct authc_req *authc_req_start(struct authc_req *r, struct authproto_msg *m)
{
	struct authc *c = r->c;
	const char *error;

	r->timer = evloop_timer_new(c->base, on_timeout, r);
	/* Secret: an AUTH line holds a password, and growing it while it
	 * is formatted must not leave copies behind. */
	r->line = sbuf_new_secret(REQ_LINE_MAX);
	if (authproto_msg_format(m, r->line, &error) < 0) {
		char *why =
		    alloc_printf("cannot encode the request: %s", error);

		log_warn(LOG_ID, "event=bad_request req=%llu verb=%s error=%s",
		         (unsigned long long)r->id,
		         authproto_verb_name(r->verb), error);
		authproto_msg_deinit(&m);
		defer_fail(r, why);
		free(why);
		return r;
	}
	authproto_msg_deinit(&m);
	r->state = REQ_QUEUED;
	list_add(&c->queued, r);
	evloop_timer_start(r->timer, c->timeout_ms);
	authc_conn_kick(c);
	return r;
}

void authc_cancel(struct authc_req **reqp)
{
	struct authc_req *r = *reqp;

	if (r == NULL)
		return;
	*reqp = NULL;
	if (!TAILQ_EMPTY(&r->waiters.q)) {
		/* Others wait for its answer; its timer still bounds how
		 * long new LOOKUPs may join it. */
		r->zombie = true;
		r->c->zombies++;
		return;
	}
	if (r->state == REQ_SENT && r->c->state == CONN_READY) {
		r->zombie = true;
		r->c->zombies++;
		evloop_timer_stop(r->timer);
		authc_merge_forget(r->c->merge, &r->merge);
		return;
	}
	req_free(r);
}

/* --- the client ---------------------------------------------------------- */

struct authc *authc_new(struct event_base *base, const char *socket_path,
                        const char *client_name)
{
	struct authc *c = alloc_new(struct authc);
	struct authproto_msg *m = authproto_msg_new_request(AUTHPROTO_HELLO, 0);
	struct sbuf *s = sbuf_new(1024);
	const char *error;

	authproto_msg_add_uint(m, "version", AUTHPROTO_VERSION);
	authproto_msg_add_str(m, "client", client_name);
	if (authproto_msg_format(m, s, &error) < 0) {
		log_error(LOG_ID, "event=fatal error=\"bad client name: %s\"",
		          error);
		abort(); /* a programming error: the name is a constant */
	}
	authproto_msg_deinit(&m);
	c->hello = sbuf_steal(s, NULL);
	sbuf_deinit(&s);
	c->base = base;
	c->path = alloc_strdup(socket_path);
	c->timeout_ms = AUTHC_TIMEOUT_MS_DEFAULT;
	c->fd = -1;
	c->in = sbuf_new(IN_MAX);
	c->out = sbuf_new_secret(AUTHC_OUT_MAX);
	list_init(&c->queued);
	list_init(&c->sent);
	list_init(&c->deferred);
	c->merge = authc_merge_new();
	c->hello_timer = evloop_timer_new(base, on_hello_timeout, c);
	c->defer_timer = evloop_timer_new(base, on_defer, c);
	return c;
}

void authc_set_timeout(struct authc *c, unsigned int ms)
{
	c->timeout_ms = ms > 0 ? ms : 1;
}

size_t authc_pending(const struct authc *c)
{
	return c->queued.n + c->sent.n - c->zombies + c->deferred.n + c->merged;
}

void authc_deinit(struct authc **cp)
{
	struct authc *c = *cp;
	struct authc_req *r;

	if (c == NULL)
		return;
	c->dying = true;
	conn_close(c, "shutting down");
	while ((r = TAILQ_FIRST(&c->deferred.q)) != NULL) {
		list_del(r);
		authc_result_fail(r->verb, r->cb, r->ctx, "shutting down");
		req_free(r);
	}
	evloop_timer_free(&c->hello_timer);
	evloop_timer_free(&c->defer_timer);
	authc_merge_deinit(&c->merge);
	sbuf_deinit(&c->in);
	sbuf_deinit(&c->out);
	free(c->hello);
	free(c->path);
	free(c->last_error);
	free(c);
	*cp = NULL;
}
