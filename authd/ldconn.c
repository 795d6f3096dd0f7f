/*
 * ldconn - one asynchronous LDAP connection in the event loop; see ldconn.h.
 *
 * Setup runs in a detached thread (ldconn_setup.c) that reports back
 * through a socket pair watched by the loop. The setup record is shared by the
 * thread and the loop and freed by whichever lets go of it last, so a
 * connection can be closed or freed while its setup is still running: the
 * thread then unbinds what it made and exits.
 *
 * Once up, the socket is read whenever it is readable; ldap_result() is
 * called with a zero timeout until it has nothing more, which also drains
 * what TLS has buffered. Each message is matched to its request by message
 * ID; entries are copied into the request's result so that callers never
 * see libldap's structures.
 */
#include "ldconn_private.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"

struct ldconn_setup {
	pthread_mutex_t lock;
	int refs;
	struct ldconn_options opts; /* private copies of every string */
	int remembered;             /* the memo's protection, or -1 */
	LDAP *ld;
	enum ldprot used;
	char *notes; /* protections refused before the one used */
	char *error;
	int ldap_code;
	int pipe_w;
};

struct ldconn_req {
	struct ldconn *conn;
	int msgid;
	ldconn_result_cb *cb;
	void *ctx;
	ldconn_stream_cb *stream_cb; /* streaming: entries go here */
	void *stream_ctx;
	struct evloop_timer *timer;
	struct ldconn_result res;
	size_t cap_entries;
	LIST_ENTRY(ldconn_req) link;
	bool linked;
};

struct ldconn {
	struct event_base *base;
	struct ldconn_options opts;
	ldconn_state_cb *state_cb;
	void *ctx;
	enum ldconn_state state;
	char *last_error;
	int last_code;
	LDAP *ld;
	const char *protection; /* static, while up */
	char *protection_notes; /* what the server refused, or NULL */
	struct event *ev_read;
	struct ldconn_setup *setup;
	struct event *ev_setup;
	struct evloop_timer *setup_deadline;
	int setup_pipe_r;
	LIST_HEAD(, ldconn_req) reqs;
	size_t n_reqs;
};

static char *dup_or_null(const char *s)
{
	return s != NULL ? alloc_strdup(s) : NULL;
}

static void opts_copy(struct ldconn_options *dst,
                      const struct ldconn_options *src)
{
	*dst = *src;
	dst->uri = dup_or_null(src->uri);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->cert_file = dup_or_null(src->cert_file);
	dst->key_file = dup_or_null(src->key_file);
	dst->bind_dn = dup_or_null(src->bind_dn);
	dst->password = dup_or_null(src->password);
	dst->sasl_authz = dup_or_null(src->sasl_authz);
	/* The memo is the loop's: the setup thread never sees it. */
	dst->memo = NULL;
}

static void opts_free(struct ldconn_options *o)
{
	free((char *)o->uri);
	free((char *)o->ca_file);
	free((char *)o->cert_file);
	free((char *)o->key_file);
	free((char *)o->bind_dn);
	if (o->password != NULL) {
		explicit_bzero((char *)o->password, strlen(o->password));
		free((char *)o->password);
	}
	free((char *)o->sasl_authz);
	memset(o, 0, sizeof(*o));
}

static void setup_unref(struct ldconn_setup *s)
{
	int refs;

	pthread_mutex_lock(&s->lock);
	refs = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (refs > 0)
		return;
	if (s->ld != NULL)
		ldap_unbind_ext(s->ld, NULL, NULL);
	free(s->error);
	free(s->notes);
	opts_free(&s->opts);
	if (s->pipe_w >= 0)
		close(s->pipe_w);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void *setup_thread(void *arg)
{
	struct ldconn_setup *s = arg;
	char *error = NULL, *notes = NULL;
	int code = 0;
	enum ldprot used = LDPROT_CLEAR;
	LDAP *ld = ldconn_setup_run(&s->opts, s->remembered, &used, &notes,
	                            &error, &code);
	char byte = 1;

	pthread_mutex_lock(&s->lock);
	s->ld = ld;
	s->used = used;
	s->notes = notes;
	s->error = error;
	s->ldap_code = code;
	pthread_mutex_unlock(&s->lock);
	/* The loop may have let go already: then nobody reads the socket,
	 * and MSG_NOSIGNAL keeps that from raising SIGPIPE. */
	(void)send(s->pipe_w, &byte, 1, MSG_NOSIGNAL);
	setup_unref(s);
	ldconn_live_leave();
	return NULL;
}

static void conn_set_state(struct ldconn *c, enum ldconn_state state,
                           const char *reason)
{
	c->state = state;
	if (reason != NULL) {
		free(c->last_error);
		c->last_error = alloc_strdup(reason);
	}
	if (c->state_cb != NULL)
		c->state_cb(c, state, reason, c->ctx);
}

static void result_free(struct ldconn_result *res)
{
	for (size_t i = 0; i < res->n_entries; i++)
		ldconn_entry_clear(&res->entries[i]);
	free(res->entries);
	free((char *)res->error);
	free((char *)res->page_cookie.data);
	memset(res, 0, sizeof(*res));
}

static void req_unlink(struct ldconn_req *r)
{
	if (!r->linked)
		return;
	LIST_REMOVE(r, link);
	r->linked = false;
	r->conn->n_reqs--;
}

static void req_free(struct ldconn_req *r)
{
	evloop_timer_free(&r->timer);
	result_free(&r->res);
	free(r);
}

/* Unlink, report and free one request. */
static void req_finish(struct ldconn_req *r, enum ldconn_status status,
                       int ldap_code, const char *error)
{
	req_unlink(r);
	r->res.status = status;
	r->res.ldap_code = ldap_code;
	if (error != NULL && r->res.error == NULL)
		r->res.error = alloc_strdup(error);
	r->cb(&r->res, r->ctx);
	req_free(r);
}

static void conn_fail_all(struct ldconn *c, enum ldconn_status status,
                          const char *reason)
{
	while (!LIST_EMPTY(&c->reqs))
		req_finish(LIST_FIRST(&c->reqs), status, 0, reason);
}

static void conn_drop_handle(struct ldconn *c)
{
	if (c->ev_read != NULL) {
		event_free(c->ev_read);
		c->ev_read = NULL;
	}
	if (c->ld != NULL) {
		ldap_unbind_ext(c->ld, NULL, NULL);
		c->ld = NULL;
	}
	c->protection = NULL;
	free(c->protection_notes);
	c->protection_notes = NULL;
}

static void conn_drop_setup(struct ldconn *c)
{
	if (c->setup_deadline != NULL) {
		evloop_timer_free(&c->setup_deadline);
	}
	if (c->ev_setup != NULL) {
		event_free(c->ev_setup);
		c->ev_setup = NULL;
	}
	if (c->setup_pipe_r >= 0) {
		close(c->setup_pipe_r);
		c->setup_pipe_r = -1;
	}
	if (c->setup != NULL) {
		setup_unref(c->setup);
		c->setup = NULL;
	}
}

static void conn_lost(struct ldconn *c, const char *reason)
{
	conn_drop_handle(c);
	conn_fail_all(c, LDCONN_CONN_LOST, reason);
	conn_set_state(c, LDCONN_STATE_DOWN, reason);
}

static void entry_add(struct ldconn_req *r, LDAP *ld, LDAPMessage *msg)
{
	struct ldconn_result *res = &r->res;
	struct ldconn_entry *e;

	if (res->n_entries == r->cap_entries) {
		r->cap_entries = r->cap_entries == 0 ? 8 : r->cap_entries * 2;
		res->entries = alloc_resize(res->entries, r->cap_entries,
		                            sizeof(*res->entries));
	}
	e = &res->entries[res->n_entries++];
	memset(e, 0, sizeof(*e));
	ldconn_entry_fill(e, ld, msg);
}

static void result_done(struct ldconn_req *r, LDAP *ld, LDAPMessage *msg)
{
	LDAPControl **ctrls = NULL;
	char *errmsg = NULL;
	int err = LDAP_OTHER;
	enum ldconn_status status;

	if (ldap_parse_result(ld, msg, &err, NULL, &errmsg, NULL, &ctrls, 0) !=
	    LDAP_SUCCESS)
		err = LDAP_OTHER;
	if (ctrls != NULL) {
		LDAPControl *pc =
		    ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL);
		struct berval cookie = {0, NULL};
		ber_int_t estimate;

		if (pc != NULL &&
		    ldap_parse_pageresponse_control(ld, pc, &estimate,
		                                    &cookie) == LDAP_SUCCESS) {
			r->res.page_cookie.data =
			    alloc_strndup(cookie.bv_val, cookie.bv_len);
			r->res.page_cookie.len = cookie.bv_len;
			ber_memfree(cookie.bv_val);
		}
		ldap_controls_free(ctrls);
	}
	switch (err) {
	case LDAP_SUCCESS:
		status = LDCONN_OK;
		break;
	case LDAP_NO_SUCH_OBJECT:
		status = LDCONN_NO_SUCH_OBJECT;
		break;
	case LDAP_SIZELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
		status = LDCONN_SIZELIMIT;
		break;
	default:
		status = LDCONN_LDAP_ERROR;
		break;
	}
	if (status != LDCONN_OK && r->res.error == NULL)
		r->res.error =
		    alloc_printf("%s%s%s", ldap_err2string(err),
		                 errmsg != NULL && *errmsg != '\0' ? ": " : "",
		                 errmsg != NULL ? errmsg : "");
	ldap_memfree(errmsg);
	req_finish(r, status, err, NULL);
}

static struct ldconn_req *req_find(struct ldconn *c, int msgid)
{
	struct ldconn_req *r;

	LIST_FOREACH(r, &c->reqs, link) {
		if (r->msgid == msgid)
			return r;
	}
	return NULL;
}

static void conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct ldconn *c = arg;
	struct timeval zero = {0, 0};

	for (;;) {
		LDAPMessage *msg = NULL;
		struct ldconn_req *r;
		int rc =
		    ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);

		if (rc == 0)
			return;
		if (rc < 0) {
			int err = LDAP_SERVER_DOWN;
			char *reason;

			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &err);
			reason =
			    alloc_printf("%s: connection lost: %s", c->opts.uri,
			                 ldap_err2string(err));
			conn_lost(c, reason);
			free(reason);
			return;
		}
		r = req_find(c, ldap_msgid(msg));
		if (r == NULL) {
			/* Late answer to a request that timed out. */
			ldap_msgfree(msg);
			continue;
		}
		switch (rc) {
		case LDAP_RES_SEARCH_ENTRY:
		case LDAP_RES_INTERMEDIATE:
			if (r->stream_cb != NULL)
				ldconn_stream_message(c->ld, msg, rc,
				                      r->stream_cb,
				                      r->stream_ctx);
			else if (rc == LDAP_RES_SEARCH_ENTRY)
				entry_add(r, c->ld, msg);
			break;
		case LDAP_RES_SEARCH_REFERENCE:
			/* Referrals are not chased: AD's hang clients. */
			break;
		default:
			result_done(r, c->ld, msg);
			break;
		}
		ldap_msgfree(msg);
		/* A callback may have closed the connection. */
		if (c->ld == NULL)
			return;
	}
}

/*
 * libldap's own timeouts do not cover every step (a TLS handshake with a
 * frozen server hangs): the loop gives up on its own and lets the thread
 * finish, or hang, without it. The thread frees what it made when it ends.
 */
static void conn_setup_expired(void *arg)
{
	struct ldconn *c = arg;
	char *reason = alloc_printf("%s: no answer during connect, TLS or bind "
	                            "within %d ms",
	                            c->opts.uri, c->opts.timeout_ms * 2);

	conn_drop_setup(c);
	conn_set_state(c, LDCONN_STATE_DOWN, reason);
	free(reason);
}

/* Remember what worked, and say so when it is news for this server. */
static void conn_note_protection(struct ldconn *c, enum ldprot used)
{
	int before = ldprot_memo_get(c->opts.memo, c->opts.uri);
	char q[LOG_QUOTE_MAX];

	c->protection = ldprot_name(used, c->opts.tls == LDCONN_TLS_LDAPS);
	if (c->opts.memo == NULL || before == (int)used)
		return;
	ldprot_memo_set(c->opts.memo, c->opts.uri, used);
	log_info(NULL,
	         "ldconn event=protection dc=%s protection=%s%s%s "
	         "refused=%s",
	         c->opts.uri, c->protection, before >= 0 ? " was=" : "",
	         before >= 0 ? ldprot_name((enum ldprot)before,
	                                   c->opts.tls == LDCONN_TLS_LDAPS)
	                     : "",
	         log_quote_str(q, c->protection_notes != NULL
	                              ? c->protection_notes
	                              : ""));
}

static void conn_setup_done(evutil_socket_t fd, short what, void *arg)
{
	struct ldconn *c = arg;
	struct ldconn_setup *s = c->setup;
	char byte;
	LDAP *ld;
	char *error;
	enum ldprot used;

	if (read(fd, &byte, 1) <= 0)
		byte = 0;
	pthread_mutex_lock(&s->lock);
	ld = s->ld;
	used = s->used;
	c->protection_notes = s->notes;
	s->notes = NULL;
	error = s->error;
	c->last_code = s->ldap_code;
	s->ld = NULL;
	s->error = NULL;
	pthread_mutex_unlock(&s->lock);
	conn_drop_setup(c);
	if (ld == NULL) {
		conn_set_state(c, LDCONN_STATE_DOWN,
		               error != NULL ? error : "setup failed");
		free(error);
		return;
	}
	c->ld = ld;
	conn_note_protection(c, used);
	ldap_get_option(ld, LDAP_OPT_DESC, &fd);
	c->ev_read = event_new(c->base, fd, EV_READ | EV_PERSIST, conn_read, c);
	event_add(c->ev_read, NULL);
	conn_set_state(c, LDCONN_STATE_UP, NULL);
}

struct ldconn *ldconn_new(struct event_base *base,
                          const struct ldconn_options *opts,
                          ldconn_state_cb *state_cb, void *ctx)
{
	struct ldconn *c = alloc_new(struct ldconn);

	LIST_INIT(&c->reqs);
	c->base = base;
	opts_copy(&c->opts, opts);
	c->opts.memo = opts->memo;
	if (c->opts.timeout_ms <= 0)
		c->opts.timeout_ms = 5000;
	c->state_cb = state_cb;
	c->ctx = ctx;
	c->state = LDCONN_STATE_DOWN;
	c->setup_pipe_r = -1;
	return c;
}

void ldconn_connect(struct ldconn *c)
{
	struct ldconn_setup *s;
	pthread_attr_t attr;
	pthread_t tid;
	int fds[2];

	if (c->state != LDCONN_STATE_DOWN)
		return;
	c->state = LDCONN_STATE_CONNECTING;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	               fds) < 0) {
		conn_set_state(c, LDCONN_STATE_DOWN, "socketpair() failed");
		return;
	}
	s = alloc_new(struct ldconn_setup);
	pthread_mutex_init(&s->lock, NULL);
	s->refs = 2; /* the loop and the thread */
	opts_copy(&s->opts, &c->opts);
	s->remembered = ldprot_memo_get(c->opts.memo, c->opts.uri);
	s->pipe_w = fds[1];
	c->setup = s;
	c->setup_pipe_r = fds[0];
	c->ev_setup = event_new(c->base, fds[0], EV_READ, conn_setup_done, c);
	event_add(c->ev_setup, NULL);
	/* Each step is bounded by timeout_ms; all of them by twice. */
	c->setup_deadline = evloop_timer_new(c->base, conn_setup_expired, c);
	evloop_timer_start(c->setup_deadline, (unsigned)c->opts.timeout_ms * 2);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ldconn_live_enter((unsigned)c->opts.timeout_ms * 2);
	if (pthread_create(&tid, &attr, setup_thread, s) != 0) {
		ldconn_live_leave();
		s->refs = 1;
		conn_drop_setup(c);
		conn_set_state(c, LDCONN_STATE_DOWN, "cannot start thread");
	}
	pthread_attr_destroy(&attr);
}

void ldconn_close(struct ldconn *c, const char *reason)
{
	conn_drop_setup(c);
	if (c->state == LDCONN_STATE_DOWN && c->ld == NULL)
		return;
	conn_lost(c, reason != NULL ? reason : "closed");
}

void ldconn_deinit(struct ldconn **cp)
{
	struct ldconn *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	c->state_cb = NULL;
	conn_drop_setup(c);
	conn_fail_all(c, LDCONN_CANCELLED, "connection freed");
	conn_drop_handle(c);
	opts_free(&c->opts);
	free(c->last_error);
	free(c);
}

enum ldconn_state ldconn_get_state(const struct ldconn *c)
{
	return c->state;
}

const char *ldconn_uri(const struct ldconn *c)
{
	return c->opts.uri;
}

const char *ldconn_last_error(const struct ldconn *c)
{
	return c->last_error;
}

int ldconn_last_code(const struct ldconn *c)
{
	return c->last_code;
}

const char *ldconn_protection(const struct ldconn *c)
{
	return c->protection;
}

const char *ldconn_protection_notes(const struct ldconn *c)
{
	return c->protection_notes;
}

size_t ldconn_pending(const struct ldconn *c)
{
	return c->n_reqs;
}

static void req_timeout(void *arg)
{
	struct ldconn_req *r = arg;
	char *reason =
	    alloc_printf("%s: no answer within the timeout", r->conn->opts.uri);

	if (r->conn->ld != NULL)
		ldap_abandon_ext(r->conn->ld, r->msgid, NULL, NULL);
	req_finish(r, LDCONN_TIMEOUT, 0, reason);
	free(reason);
}

struct ldconn_req *ldconn_search_start(struct ldconn *c,
                                       const struct ldconn_search *s,
                                       ldconn_result_cb *cb, void *ctx,
                                       const char **error_r)
{
	LDAPControl *page = NULL, **ctrls = NULL;
	size_t n = s->n_controls;
	struct ldconn_req *r;
	int msgid, rc, ms;

	if (c->state != LDCONN_STATE_UP || c->ld == NULL) {
		*error_r = "connection is not up";
		return NULL;
	}
	if (s->page_size > 0) {
		struct berval cookie = {0, NULL};

		if (s->page_cookie != NULL) {
			cookie.bv_val = (char *)s->page_cookie->data;
			cookie.bv_len = s->page_cookie->len;
		}
		if (ldap_create_page_control(c->ld, s->page_size, &cookie, 0,
		                             &page) != LDAP_SUCCESS) {
			*error_r = "cannot create the paged results control";
			return NULL;
		}
	}
	if (n > 0 || page != NULL) {
		ctrls = n > 0 ? ldconn_controls_make(s->controls, n)
		              : alloc_array(2, sizeof(*ctrls));
		if (ctrls == NULL) {
			ldap_control_free(page);
			*error_r = "cannot create the search's controls";
			return NULL;
		}
		if (page != NULL) {
			/* the list has room for one more: make() allocates
			 * n + 2 entries */
			ctrls[n] = page;
			ctrls[n + 1] = NULL;
		}
	}
	rc = ldap_search_ext(c->ld, s->base, s->scope, s->filter,
	                     (char **)s->attrs, 0, ctrls, NULL, NULL,
	                     s->size_limit, &msgid);
	ldconn_controls_release(ctrls);
	if (rc != LDAP_SUCCESS) {
		*error_r = ldap_err2string(rc);
		if (rc == LDAP_SERVER_DOWN) {
			char *reason =
			    alloc_printf("%s: connection lost: %s", c->opts.uri,
			                 ldap_err2string(rc));

			conn_lost(c, reason);
			free(reason);
		}
		return NULL;
	}
	r = alloc_new(struct ldconn_req);
	r->conn = c;
	r->msgid = msgid;
	r->cb = cb;
	r->ctx = ctx;
	r->stream_cb = s->stream_cb;
	r->stream_ctx = s->stream_ctx;
	LIST_INSERT_HEAD(&c->reqs, r, link);
	r->linked = true;
	c->n_reqs++;
	if (s->timeout_ms >= 0) {
		ms = s->timeout_ms > 0 ? s->timeout_ms : c->opts.timeout_ms;
		r->timer = evloop_timer_new(c->base, req_timeout, r);
		evloop_timer_start(r->timer, (unsigned)ms);
	}
	return r;
}

void ldconn_req_cancel(struct ldconn_req **rp)
{
	struct ldconn_req *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	if (r->conn->ld != NULL)
		ldap_abandon_ext(r->conn->ld, r->msgid, NULL, NULL);
	req_unlink(r);
	req_free(r);
}
