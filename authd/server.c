/*
 * server - authd's UNIX socket and the authd protocol; see server.h.
 *
 * Input is read into a bounded sbuf and split into lines by
 * authproto_frame(); each request line is parsed strictly and dispatched
 * to lookup, authcheck or the locator. Answers are formatted by the same
 * codec and written through the connection's bufferevent. Requests in
 * flight are kept per connection, so a closing client cancels its own
 * work and a reused ID is caught. A line that held a password is wiped
 * from the input buffer before the buffer moves on.
 */
#include "server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "authcheck.h"
#include "authproto.h"
#include "dcloc.h"
#include "log.h"
#include "lookup.h"
#include "sbuf.h"
#include "server_private.h"
#include "service.h"

struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	char *path;
	uid_t client_uid;
	bool client_uid_known;
	struct server_backends b;
	LIST_HEAD(, conn) conns;
	uint64_t next_conn_id;
};

struct pending {
	struct conn *c;
	uint64_t id;
	enum authproto_verb verb;
	struct authcheck_req *areq;
	struct server_lookup *slook; /* LOOKUP, SENDERS from= */
	char op[8];                  /* THROTTLE's */
	LIST_ENTRY(pending) link;
};

struct conn {
	struct server *srv;
	struct bufferevent *bev; /* writing only: answers hold no secret */
	struct event *ev_read;   /* reading: straight into a secret sbuf */
	struct sbuf *in;
	char name[32];
	uid_t uid;                /* the peer's */
	unsigned version;         /* of its HELLO; 0: none yet */
	struct server_sasl *sasl; /* its SASL exchanges */
	bool closing;
	LIST_HEAD(, pending) pending;
	LIST_ENTRY(conn) link;
};

static void conn_close(struct conn *c);

static void send_msg(struct conn *c, struct authproto_msg *m);

static void sasl_send(void *conn, struct authproto_msg *m)
{
	send_msg(conn, m);
}

static void send_msg(struct conn *c, struct authproto_msg *m)
{
	struct sbuf *out = sbuf_new(AUTHPROTO_LINE_MAX);
	const char *error;

	if (authproto_msg_format(m, out, &error) < 0) {
		/* Our own answer broke the schema: say so, never send it. */
		struct authproto_msg *e = authproto_msg_new_answer(
		    AUTHPROTO_ERROR, authproto_msg_request(m),
		    authproto_msg_id(m));

		log_error(c->name, "event=bad_answer id=%llu error=\"%s\"",
		          (unsigned long long)authproto_msg_id(m), error);
		authproto_msg_add_str(e, "reason", "internal error");
		sbuf_reset(out);
		if (authproto_msg_format(e, out, &error) < 0)
			sbuf_reset(out);
		authproto_msg_deinit(&e);
	}
	if (sbuf_len(out) > 0)
		bufferevent_write(c->bev, sbuf_data(out), sbuf_len(out));
	sbuf_deinit(&out);
	authproto_msg_deinit(&m);
}

static void send_simple(struct conn *c, enum authproto_verb answer,
                        enum authproto_verb request, uint64_t id,
                        const char *reason)
{
	struct authproto_msg *m = authproto_msg_new_answer(answer, request, id);

	if (reason != NULL)
		authproto_msg_add_str(m, "reason", reason);
	send_msg(c, m);
}

static struct pending *pending_new(struct conn *c, uint64_t id,
                                   enum authproto_verb verb)
{
	struct pending *p = alloc_new(struct pending);

	p->c = c;
	p->id = id;
	p->verb = verb;
	LIST_INSERT_HEAD(&c->pending, p, link);
	return p;
}

static void pending_free(struct pending *p)
{
	LIST_REMOVE(p, link);
	authcheck_cancel(&p->areq);
	server_lookup_cancel(&p->slook);
	free(p);
}

/* --- LOOKUP ----------------------------------------------------------------
 */

static void lookup_done(void *ctx, struct authproto_msg *m)
{
	struct pending *p = ctx;
	struct conn *c = p->c;

	p->slook = NULL; /* freed itself */
	pending_free(p);
	send_msg(c, m);
}

/* LOOKUP, and SENDERS from= (server_lookup.c). */
static void do_lookup(struct conn *c, const struct authproto_msg *req)
{
	struct pending *p =
	    pending_new(c, authproto_msg_id(req), authproto_msg_verb(req));
	struct authproto_msg *now;

	p->slook =
	    server_lookup_start(&c->srv->b, req, c->name, lookup_done, p, &now);
	if (now != NULL) {
		pending_free(p);
		send_msg(c, now);
	}
}

/* --- AUTH and SENDERS ------------------------------------------------------
 */

static void auth_done(const struct authcheck_answer *a, void *ctx)
{
	struct pending *p = ctx;

	p->areq = NULL;
	send_msg(p->c, server_auth_answer(p->verb, p->id, p->op, a));
	pending_free(p);
}

static void do_auth(struct conn *c, const struct authproto_msg *req)
{
	struct pending *p =
	    pending_new(c, authproto_msg_id(req), AUTHPROTO_AUTH);

	p->areq =
	    authcheck_auth(c->srv->b.auth, authproto_msg_get(req, "user"),
	                   authproto_msg_get(req, "pass"),
	                   authproto_msg_get(req, "client"), auth_done, p);
}

/* SENDERS: an account's addresses (user=), or who owns an envelope
 * sender (from=, server_lookup.c); exactly one of them. */
static void do_senders(struct conn *c, const struct authproto_msg *req)
{
	const char *user = authproto_msg_get(req, "user");
	struct pending *p;

	if ((user == NULL) == (authproto_msg_get(req, "from") == NULL)) {
		send_simple(c, AUTHPROTO_ERROR, AUTHPROTO_SENDERS,
		            authproto_msg_id(req),
		            "exactly one of user and from");
		return;
	}
	if (user == NULL) {
		do_lookup(c, req);
		return;
	}
	p = pending_new(c, authproto_msg_id(req), AUTHPROTO_SENDERS);
	p->areq = authcheck_senders(c->srv->b.auth, user, auth_done, p);
}

/* THROTTLE: an account's lockout budgets, or forget authd's own count
 * of its failures (root or authd's own user only, as RELOAD: the budgets
 * and familiar clients say who logs in from where). */
static void do_throttle(struct conn *c, const struct authproto_msg *req)
{
	uint64_t id = authproto_msg_id(req);
	const char *user = authproto_msg_get(req, "user");
	struct pending *p;

	if (c->uid != 0 && c->uid != geteuid()) {
		send_simple(c, AUTHPROTO_ERROR, AUTHPROTO_THROTTLE, id,
		            "THROTTLE is for root and authd's own user");
		return;
	}
	p = pending_new(c, id, AUTHPROTO_THROTTLE);
	snprintf(p->op, sizeof(p->op), "%s", authproto_msg_get(req, "op"));
	p->areq = strcmp(p->op, "reset") == 0
	              ? authcheck_reset(c->srv->b.auth, user, auth_done, p)
	              : authcheck_status(c->srv->b.auth, user, auth_done, p);
}

/* RELOAD: as SIGHUP, for dirmxctl reload (root or authd's own user
 * only: the SMTP side, client_user, has no business reloading authd). */
static void do_reload(struct conn *c, uint64_t id)
{
	struct authproto_msg *m;
	struct sbuf *report;
	const char *p, *status = "ok";
	int r;

	if (c->uid != 0 && c->uid != geteuid()) {
		send_simple(c, AUTHPROTO_ERROR, AUTHPROTO_RELOAD, id,
		            "RELOAD is for root and authd's own user");
		return;
	}
	log_info(c->name, "event=reload by=client");
	report = sbuf_new(256u * 1024);
	r = service_reload(report);
	status = r < 0 ? "failed" : r > 0 ? "partial" : "ok";
	m = authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_RELOAD, id);
	authproto_msg_add_str(m, "status", status);
	for (p = sbuf_data(report); *p != '\0';) {
		size_t len = strcspn(p, "\n");

		/* the report's own last line is the status field */
		if (strncmp(p, "status ", 7) != 0)
			authproto_msg_add(m, "line", p, len);
		p += len + (p[len] == '\n' ? 1 : 0);
	}
	sbuf_deinit(&report);
	send_msg(c, m);
}

/* --- DC, STATS, CACHE ------------------------------------------------------
 */

static void do_dc(struct conn *c, uint64_t id)
{
	send_msg(c, server_dc_answer(id, &c->srv->b, c->version));
}

static void do_stats(struct conn *c, uint64_t id)
{
	send_msg(c, server_stats_answer(id, &c->srv->b));
}

/* --- lines ------------------------------------------------------------------
 */

static void handle_line(struct conn *c, const char *line, size_t len)
{
	struct pending *p;
	struct authproto_msg *req = NULL;
	enum authproto_verb verb;
	uint64_t id;
	const char *error;

	if (authproto_parse_head(line, len, &verb, &id, &error) < 0) {
		send_simple(c, AUTHPROTO_ERROR, AUTHPROTO_NONE, 0, error);
		c->closing = true;
		return;
	}
	LIST_FOREACH(p, &c->pending, link) {
		if (p->id == id) {
			send_simple(c, AUTHPROTO_ERROR, AUTHPROTO_NONE, 0,
			            "duplicate ID");
			c->closing = true;
			return;
		}
	}
	if (authproto_parse_request(line, len, &req, &error) < 0) {
		if (verb == AUTHPROTO_HELLO || c->version == 0) {
			send_simple(c, AUTHPROTO_ERROR, AUTHPROTO_NONE, 0,
			            error);
			c->closing = true;
		} else {
			send_simple(
			    c, AUTHPROTO_ERROR,
			    authproto_verb_is_request(verb) ? verb
			                                    : AUTHPROTO_NONE,
			    authproto_verb_is_request(verb) ? id : 0, error);
		}
		return;
	}
	verb = authproto_msg_verb(req);
	if (c->version == 0) {
		if (verb != AUTHPROTO_HELLO) {
			send_simple(c, AUTHPROTO_ERROR, AUTHPROTO_NONE, 0,
			            "HELLO first");
		} else {
			send_msg(c, server_hello_answer(req, &c->srv->b,
			                                &c->version));
		}
		c->closing = c->version == 0;
		authproto_msg_deinit(&req);
		return;
	}
	if (authproto_verb_since(verb) > c->version) {
		send_simple(c, AUTHPROTO_ERROR, verb, id,
		            "not in this protocol version");
		authproto_msg_deinit(&req);
		return;
	}
	switch (verb) {
	case AUTHPROTO_LOOKUP:
		do_lookup(c, req);
		break;
	case AUTHPROTO_AUTH:
		if (server_mech_offered(&c->srv->b,
		                        authproto_msg_get(req, "mech")))
			do_auth(c, req);
		else
			send_simple(c, AUTHPROTO_ERROR, verb, id,
			            "mech not offered");
		break;
	case AUTHPROTO_SENDERS:
		do_senders(c, req);
		break;
	case AUTHPROTO_DC:
		do_dc(c, id);
		break;
	case AUTHPROTO_STATS:
		do_stats(c, id);
		break;
	case AUTHPROTO_CACHE: {
		struct authproto_msg *m =
		    authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_CACHE, id);
		size_t n = lookup_cache_flush(c->srv->b.lookup,
		                              authproto_msg_get(req, "addr"));

		authproto_msg_add_uint(m, "entries", n);
		send_msg(c, m);
		break;
	}
	case AUTHPROTO_THROTTLE:
		do_throttle(c, req);
		break;
	case AUTHPROTO_RELOAD:
		do_reload(c, id);
		break;
	case AUTHPROTO_SASL:
		server_sasl_request(c->sasl, req);
		break;
	default:
		send_simple(c, AUTHPROTO_ERROR, verb, id, "not allowed here");
		break;
	}
	authproto_msg_deinit(&req);
}

/*
 * Requests are read with recv() into a secret sbuf (sbuf_new_secret), not
 * through the bufferevent: libevent's buffer chains would keep the
 * passwords of AUTH lines in freed memory.
 */
static void conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char chunk[16384];
	ssize_t n;

	(void)what;
	for (;;) {
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			explicit_bzero(chunk, sizeof(chunk));
			conn_close(c);
			return;
		}
		if (!sbuf_append(c->in, chunk, (size_t)n)) {
			explicit_bzero(chunk, sizeof(chunk));
			log_warn(c->name, "event=line_too_long");
			conn_close(c);
			return;
		}
		explicit_bzero(chunk, (size_t)n);
		for (;;) {
			const char *line, *error;
			size_t len, consumed;
			int r = authproto_frame(c->in, &line, &len, &consumed,
			                        &error);

			if (r == 0)
				break;
			if (r < 0) {
				log_warn(c->name,
				         "event=bad_frame error=\"%s\"", error);
				explicit_bzero(chunk, sizeof(chunk));
				conn_close(c);
				return;
			}
			handle_line(c, line, len);
			/* The line may have held a password. */
			explicit_bzero((char *)line, len);
			sbuf_consume(c->in, consumed);
			if (c->closing) {
				/* Flush the ERROR, then close. */
				event_del(c->ev_read);
				if (evbuffer_get_length(
				        bufferevent_get_output(c->bev)) == 0)
					conn_close(c);
				return;
			}
		}
	}
}

static void conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing)
		conn_close(c);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_close(c);
}

static void conn_close(struct conn *c)
{
	while (!LIST_EMPTY(&c->pending))
		pending_free(LIST_FIRST(&c->pending));
	server_sasl_deinit(&c->sasl);
	LIST_REMOVE(c, link);
	event_free(c->ev_read);
	bufferevent_free(c->bev); /* closes the socket */
	sbuf_deinit(&c->in);
	free(c);
}

static bool peer_allowed(struct server *srv, int fd, uid_t *uid_r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	*uid_r = cred.uid;
	return cred.uid == 0 || cred.uid == geteuid() ||
	       (srv->client_uid_known && cred.uid == srv->client_uid);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct conn *c;
	uid_t uid = (uid_t)-1;

	if (!peer_allowed(srv, fd, &uid)) {
		log_warn(NULL,
		         "event=refused reason=\"peer uid not allowed\" "
		         "uid=%ld",
		         (long)uid);
		close(fd);
		return;
	}
	c = alloc_new(struct conn);
	c->srv = srv;
	c->uid = uid;
	snprintf(c->name, sizeof(c->name), "c%llu",
	         (unsigned long long)++srv->next_conn_id);
	c->sasl = server_sasl_new(&srv->b, sasl_send, c, c->name);
	c->in = sbuf_new_secret(AUTHPROTO_LINE_MAX + 16384);
	evutil_make_socket_nonblocking(fd);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, NULL, conn_write, conn_event, c);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
	c->ev_read =
	    event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_read, c);
	event_add(c->ev_read, NULL);
	LIST_INIT(&c->pending);
	LIST_INSERT_HEAD(&srv->conns, c, link);
	log_debug(c->name, "event=connect uid=%ld", (long)uid);
}

/* Create the socket's directory (/run/dirmx) when it is missing. */
static void make_parent(const char *path)
{
	char *dir = alloc_strdup(path);
	char *slash = strrchr(dir, '/');

	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0)
			log_info(NULL, "event=mkdir dir=%s", dir);
	}
	free(dir);
}

struct server *server_new(struct event_base *base, const char *path,
                          const char *client_user,
                          const struct server_backends *b, const char **error_r)
{
	struct server *srv;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct passwd *pw = client_user != NULL ? getpwnam(client_user) : NULL;
	struct stat st;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = "socket path too long";
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	make_parent(path);
	/* A stale socket from an earlier run; never unlink anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error_r = "socket path exists and is not a socket";
			return NULL;
		}
		unlink(path);
	}
	srv = alloc_new(struct server);
	LIST_INIT(&srv->conns);
	srv->base = base;
	srv->path = alloc_strdup(path);
	srv->b = *b;
	if (pw != NULL) {
		srv->client_uid = pw->pw_uid;
		srv->client_uid_known = true;
	}
	srv->listener = evconnlistener_new_bind(
	    base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    64, (struct sockaddr *)&sun, sizeof(sun));
	if (srv->listener == NULL) {
		*error_r = strerror(errno);
		free(srv->path);
		free(srv);
		return NULL;
	}
	if (pw != NULL && chown(path, (uid_t)-1, pw->pw_gid) < 0)
		log_warn(NULL, "event=socket_chown error=\"%s\"",
		         strerror(errno));
	if (chmod(path, 0660) < 0)
		log_warn(NULL, "event=socket_chmod error=\"%s\"",
		         strerror(errno));
	log_info(NULL, "event=listening socket=%s client_user=%s", path,
	         pw != NULL ? client_user : "(none: root only)");
	return srv;
}

void server_deinit(struct server **srvp)
{
	struct server *srv = *srvp;

	if (srv == NULL)
		return;
	*srvp = NULL;
	while (!LIST_EMPTY(&srv->conns))
		conn_close(LIST_FIRST(&srv->conns));
	evconnlistener_free(srv->listener);
	unlink(srv->path);
	free(srv->path);
	free(srv);
}
