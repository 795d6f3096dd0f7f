/*
 * ctlsrv - routerd's control socket; see ctlsrv.h for the protocol.
 *
 * Each connection sends one request and gets one answer; the answer is
 * built in full (the queue is in memory) and written through a
 * bufferevent, then the connection closes.
 */
#include "ctlsrv.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "intl.h"
#include "log.h"
#include "qshape.h"
#include "queue.h"
#include "sbuf.h"
#include "service.h"
#include "spoolrec.h"

#define CTL_LINE_MAX 256

/* One admin connection: one request, one answer. */
struct ctl_conn {
	LIST_ENTRY(ctl_conn) link; /* in c->conns */
	struct ctlsrv *c;
	struct bufferevent *bev; /* NULL once the client has gone */
	bool waiting;            /* for the spool (queue_hold/delete) */
};

struct ctlsrv {
	struct event_base *base;
	struct evconnlistener *listener;
	char *path;
	uid_t owner_uid;
	struct queue *q;
	LIST_HEAD(, ctl_conn) conns;
};

/* Printable, one line: UTF-8 as it is, controls as \xNN (intl.h). */
static void put_safe(struct sbuf *out, const char *s)
{
	intl_put_printable(out, s);
}

static const char *state_name(int state)
{
	switch (state) {
	case SPOOLREC_DELIVERED:
		return "delivered";
	case SPOOLREC_BOUNCED:
		return "bounced";
	case SPOOLREC_DEFERRED:
		return "deferred";
	default:
		return "pending";
	}
}

struct list_ctx {
	struct sbuf *out;
	bool detail;
	size_t count;
};

static void put_view(void *ctx, const struct queue_view *v)
{
	struct list_ctx *lc = ctx;
	const struct spoolrec *env = v->env;
	time_t now = time(NULL);
	long age = env->arrival > 0 ? (long)(now - (time_t)env->arrival) : 0;

	lc->count++;
	sbuf_printf(lc->out, "%s  age %lds  from <", v->id, age);
	put_safe(lc->out, env->mail_from);
	sbuf_printf(lc->out, ">  %s\n",
	            v->held     ? "held"
	            : v->active ? "delivering"
	                        : "queued");
	if (v->next_attempt > (uint64_t)now)
		sbuf_printf(lc->out, "    next attempt in %llds\n",
		            (long long)(v->next_attempt - (uint64_t)now));
	if (v->last_error != NULL && *v->last_error != '\0') {
		sbuf_append_str(lc->out, "    last error: ");
		put_safe(lc->out, v->last_error);
		sbuf_append_str(lc->out, "\n");
	}
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct spoolrec_rcpt *r = &env->rcpts[i];

		sbuf_append_str(lc->out, "    <");
		put_safe(lc->out, r->addr);
		sbuf_printf(lc->out, ">  via %s  %s  attempts %u", r->hop,
		            state_name(r->state), r->attempts);
		if (strcmp(spoolrec_rcpt_from(env, r), env->mail_from) != 0) {
			/* its group's reports go elsewhere: its MAIL FROM */
			sbuf_append_str(lc->out, "  from <");
			put_safe(lc->out, spoolrec_rcpt_from(env, r));
			sbuf_append_str(lc->out, ">");
		}
		if (lc->detail && r->error != NULL && *r->error != '\0') {
			sbuf_append_str(lc->out, "  ");
			put_safe(lc->out, r->error);
		}
		sbuf_append_str(lc->out, "\n");
	}
	if (lc->detail) {
		sbuf_append_str(lc->out, "    client ");
		put_safe(lc->out, env->client);
		sbuf_append_str(lc->out, "  helo ");
		put_safe(lc->out, env->helo);
		sbuf_append_str(lc->out, "  user ");
		put_safe(lc->out,
		         env->auth_user[0] != '\0' ? env->auth_user : "-");
		sbuf_printf(lc->out, "  size %llu\n",
		            (unsigned long long)env->size);
	}
}

/* "VERB" or "VERB ID" (single spaces, no more words): how many words, or
 * -1 when the line is not of that form. */
static int split_request(const char *line, char verb[16], char id[64])
{
	struct buf b;
	const unsigned char *w;
	size_t wlen;

	buf_init(&b, line, strlen(line));
	wlen = buf_fetch_until(&b, " ", &w);
	if (wlen == 0)
		return buf_remaining(&b) == 0 ? 0 : -1;
	if (wlen > 15)
		return -1;
	memcpy(verb, w, wlen);
	verb[wlen] = '\0';
	if (!buf_consume_char(&b, ' '))
		return 1;
	wlen = buf_fetch_until(&b, " ", &w);
	if (wlen == 0 || wlen > 63 || buf_remaining(&b) > 0)
		return -1;
	memcpy(id, w, wlen);
	id[wlen] = '\0';
	return 2;
}

static void answered(void *ctx, int result, const char *error);

/* The first answer to a hold, release or delete: true when it is whole
 * (written to out), false when the spool's answer is awaited. */
static bool change_answer(struct ctl_conn *conn, int r, struct sbuf *out)
{
	switch (r) {
	case QUEUE_CTL_PENDING:
		conn->waiting = true;
		return false;
	case QUEUE_CTL_DONE:
		sbuf_append_str(out, "+OK already so\n.\n");
		break;
	case QUEUE_CTL_AFTER_ATTEMPT:
		sbuf_append_str(out, "+OK being delivered: applies now, saved "
		                     "when the attempt ends\n.\n");
		break;
	case QUEUE_CTL_NOT_FOUND:
		sbuf_append_str(out, "-ERR no such message\n");
		break;
	case QUEUE_CTL_BUSY:
		sbuf_append_str(out, "-ERR the message is being delivered\n");
		break;
	default:
		sbuf_append_str(out, "-ERR the spool refused the change (see "
		                     "the log)\n");
		break;
	}
	return true;
}

/* Answer one request line into out (already starting empty); false when
 * the answer comes later (answered()). */
static bool handle(struct ctl_conn *conn, const char *line, struct sbuf *out)
{
	struct ctlsrv *c = conn->c;
	bool whole = true;
	char verb[16] = "", id[64] = "";
	struct list_ctx lc = {.out = out};
	int n = split_request(line, verb, id);
	struct sbuf *body = sbuf_new(64u * 1024 * 1024);
	const char *p;

	if (n < 0) {
		sbuf_append_str(out, "-ERR malformed request\n");
		goto done;
	}
	if (n < 1) {
		sbuf_append_str(out, "-ERR empty request\n");
		goto done;
	}
	lc.out = body;
	if (strcmp(verb, "LIST") == 0 && n == 1) {
		queue_foreach(c->q, put_view, &lc);
		sbuf_printf(out, "+OK %zu messages\n", lc.count);
	} else if (strcmp(verb, "RELOAD") == 0 && n == 1) {
		/* As SIGHUP, with the report (service.h) as the body. */
		log_info(NULL, "event=reload by=dirmxctl");
		sbuf_append_str(out,
		                service_reload(body) < 0
		                    ? "+OK reload failed: old settings kept\n"
		                    : "+OK\n");
	} else if (strcmp(verb, "SHOW") == 0 && n == 2) {
		lc.detail = true;
		if (!queue_show(c->q, id, put_view, &lc)) {
			sbuf_append_str(out, "-ERR no such message\n");
			goto done;
		}
		sbuf_append_str(out, "+OK\n");
	} else if (strcmp(verb, "SUMMARY") == 0) {
		int st = n == 2 ? qshape_state_parse(id) : -1;

		if (n == 2 && st < 0) {
			sbuf_append_str(out, "-ERR unknown queue state\n");
			goto done;
		}
		qshape_queue(c->q, st, (uint64_t)time(NULL), body);
		sbuf_append_str(out, "+OK\n");
	} else if (strcmp(verb, "FLUSH") == 0) {
		size_t k = queue_flush(c->q, n == 2 ? id : NULL);

		if (n == 2 && k == 0) {
			sbuf_append_str(out, "-ERR no such message\n");
			goto done;
		}
		sbuf_printf(out, "+OK %zu scheduled now\n.\n", k);
		goto done;
	} else if ((strcmp(verb, "HOLD") == 0 ||
	            strcmp(verb, "RELEASE") == 0) &&
	           n == 2) {
		whole = change_answer(
		    conn, queue_hold(c->q, id, verb[0] == 'H', answered, conn),
		    out);
		goto done;
	} else if (strcmp(verb, "DELETE") == 0 && n == 2) {
		whole = change_answer(
		    conn, queue_delete(c->q, id, answered, conn), out);
		goto done;
	} else {
		sbuf_append_str(out, "-ERR unknown request\n");
		goto done;
	}
	/* The body, dot-stuffed, then the end line. */
	for (p = sbuf_data(body); *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (*p == '.')
			sbuf_append_str(out, ".");
		sbuf_append(out, p, len);
		sbuf_append_str(out, "\n");
		p += len + (nl != NULL ? 1 : 0);
	}
	sbuf_append_str(out, ".\n");
done:
	sbuf_deinit(&body);
	return whole;
}

static void conn_free(struct ctl_conn *conn)
{
	if (conn->bev != NULL)
		bufferevent_free(conn->bev);
	LIST_REMOVE(conn, link);
	free(conn);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *conn = arg;

	if (!conn->waiting) {
		conn_free(conn);
		return;
	}
	/* The change goes on; its answer has nobody to go to. */
	bufferevent_free(bev);
	conn->bev = NULL;
}

static void conn_written(struct bufferevent *bev, void *arg)
{
	conn_free(arg);
}

static void conn_send(struct ctl_conn *conn, struct sbuf *out)
{
	bufferevent_disable(conn->bev, EV_READ);
	bufferevent_setcb(conn->bev, NULL, conn_written, conn_event, conn);
	bufferevent_write(conn->bev, sbuf_data(out), sbuf_len(out));
}

/* The spool has the hold, release or delete (result 0), or failed. */
static void answered(void *ctx, int result, const char *error)
{
	struct ctl_conn *conn = ctx;
	struct sbuf *out;

	conn->waiting = false;
	if (conn->bev == NULL) {
		conn_free(conn);
		return;
	}
	out = sbuf_new(4096);
	if (result == 0) {
		sbuf_append_str(out, "+OK\n.\n");
	} else {
		sbuf_append_str(out, "-ERR not saved: ");
		put_safe(out, error != NULL ? error : "spool error");
		sbuf_append_str(out, "\n");
	}
	conn_send(conn, out);
	sbuf_deinit(&out);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	struct sbuf *out;
	bool whole = true;

	if (line == NULL) {
		if (evbuffer_get_length(in) > CTL_LINE_MAX)
			conn_free(conn);
		return;
	}
	out = sbuf_new(128u * 1024 * 1024);
	if (len > CTL_LINE_MAX)
		sbuf_append_str(out, "-ERR request too long\n");
	else
		whole = handle(conn, line, out);
	free(line);
	if (whole) {
		conn_send(conn, out);
	} else {
		/* Nothing more is read; an EOF or error still reaches
		 * conn_event. */
		bufferevent_disable(bev, EV_READ);
		bufferevent_setcb(bev, NULL, NULL, conn_event, conn);
	}
	sbuf_deinit(&out);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
	struct ctlsrv *c = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct bufferevent *bev;
	struct ctl_conn *conn;

	if (c->q == NULL ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != c->owner_uid &&
	     cred.uid != geteuid())) {
		log_warn(NULL, "event=ctl_refused uid=%ld", (long)cred.uid);
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	conn = alloc_new(struct ctl_conn);
	conn->c = c;
	conn->bev = bev;
	LIST_INSERT_HEAD(&c->conns, conn, link);
	bufferevent_setcb(bev, conn_read, NULL, conn_event, conn);
	bufferevent_enable(bev, EV_READ);
}

struct ctlsrv *ctlsrv_new(struct event_base *base, const char *path,
                          const char *owner, const char **error_r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct passwd *pw = owner != NULL ? getpwnam(owner) : NULL;
	struct ctlsrv *c;
	struct stat st;
	char *dir, *slash;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = "control socket path too long";
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	dir = alloc_strdup(path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		(void)mkdir(dir, 0755);
	}
	free(dir);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error_r = "control socket path exists and is not a "
			           "socket";
			return NULL;
		}
		unlink(path);
	}
	c = alloc_new(struct ctlsrv);
	LIST_INIT(&c->conns);
	c->base = base;
	c->path = alloc_strdup(path);
	c->owner_uid = pw != NULL ? pw->pw_uid : geteuid();
	c->listener = evconnlistener_new_bind(
	    base, on_accept, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    16, (struct sockaddr *)&sun, sizeof(sun));
	if (c->listener == NULL) {
		*error_r = strerror(errno);
		free(c->path);
		free(c);
		return NULL;
	}
	if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) < 0)
		log_warn(NULL, "event=ctl_chown error=\"%s\"", strerror(errno));
	chmod(path, 0600);
	return c;
}

void ctlsrv_start(struct ctlsrv *c, struct queue *q)
{
	c->q = q;
}

void ctlsrv_deinit(struct ctlsrv **cp)
{
	struct ctlsrv *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	while (!LIST_EMPTY(&c->conns))
		conn_free(LIST_FIRST(&c->conns));
	evconnlistener_free(c->listener);
	unlink(c->path);
	free(c->path);
	free(c);
}
