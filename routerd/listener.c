/*
 * listener - routerd's listening sockets and their limits; see listener.h.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "climit.h"
#include "evloop.h"
#include "log.h"
#include "policy.h"
#include "session.h"
#include "settings.h"
#include "tlsctx.h"

/* After accept() failed for want of file descriptors, wait this long
 * before accepting again (rather than spin on a ready listener). */
#define ACCEPT_PAUSE_MS 100

struct lsock {
	struct listener *s;
	char *name;
	int role;
	int tls;
	unsigned max_sessions;
	unsigned sessions;
	int fd;
	struct evconnlistener *ev;
	struct evloop_timer *pause; /* out of file descriptors */
};

/* A live session, its socket, and whether the client limits counted it. */
struct live {
	struct session *sess;
	struct lsock *l;
	struct sockaddr_storage peer;
	bool counted;
};

struct listener {
	struct event_base *base;
	struct lsock *l;
	size_t n;
	struct tlsctx *tls; /* the listeners' reference; sessions hold theirs */
	struct session_env *env; /* routerd's; we keep env->tls current */
	unsigned sessions;
	struct live *live; /* for shutdown and the client limits */
	size_t n_live, cap_live;
	struct climit *climit;
	unsigned backlog;
};

static int bind_one(const struct settings_listener *sl, unsigned backlog,
                    const char **error_r)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE};
	struct addrinfo *res = NULL;
	char port[16];
	int fd = -1, one = 1, rc;
	const char *host = sl->address.host;

	snprintf(port, sizeof(port), "%u",
	         sl->address.port != 0 ? sl->address.port : 25);
	if (host != NULL && (strcmp(host, "*") == 0 || *host == '\0'))
		host = NULL;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		*error_r = gai_strerror(rc);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	/* TCP_NODELAY: pipelined replies are written as they are ready;
	 * without it each small write after the first waits for the
	 * client's delayed ACK (~40 ms), as the benchmark showed. Set here,
	 * Linux gives it to every accepted socket: no call per session. */
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, (int)backlog) < 0) {
		*error_r = strerror(errno);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static struct tlsctx *load_tls(const struct settings_routerd *r)
{
	struct tlsctx *ctx;
	const char *error;

	if (r->tls_cert == NULL || r->tls_key == NULL)
		return NULL;
	if (tlsctx_new(r->tls_cert, r->tls_key, r->tls_priority, &ctx, &error) <
	    0) {
		log_error(NULL,
		          "event=tls_load_failed cert=%s key=%s "
		          "error=\"%s\"",
		          r->tls_cert, r->tls_key, error);
		return NULL;
	}
	return ctx;
}

struct listener *listener_bind(struct event_base *base,
                               const struct dirmx_config *cfg,
                               const char **error_r)
{
	struct listener *s = alloc_new(struct listener);

	s->base = base;
	s->backlog = cfg->routerd.listen_backlog;
	s->l = alloc_array(cfg->listener_count, sizeof(*s->l));
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct settings_listener *sl = &cfg->listeners[i];
		struct lsock *l = &s->l[s->n];

		l->fd = bind_one(sl, s->backlog, error_r);
		if (l->fd < 0) {
			log_error(NULL,
			          "event=bind_failed listener=%s "
			          "address=%s port=%u error=\"%s\"",
			          sl->name,
			          sl->address.host != NULL ? sl->address.host
			                                   : "*",
			          sl->address.port, *error_r);
			listener_deinit(&s);
			return NULL;
		}
		l->s = s;
		l->name = alloc_strdup(sl->name);
		l->role = sl->role;
		l->tls = sl->tls;
		l->max_sessions = sl->max_sessions;
		s->n++;
	}
	/* Read the key while still root: it should be readable by root
	 * alone (a SIGHUP reload then needs it readable by routerd's user
	 * or group, or a restart). */
	s->tls = load_tls(&cfg->routerd);
	if (s->tls == NULL && cfg->routerd.tls_cert != NULL) {
		*error_r = "cannot load the TLS certificate and key";
		listener_deinit(&s);
		return NULL;
	}
	return s;
}

/* Refuse a connection over a limit: one 421, then close. */
static void refuse(const struct lsock *l, int fd, const struct sockaddr *sa,
                   const char *limit, unsigned value, const char *reply)
{
	char client[INET6_ADDRSTRLEN];

	/* The log line first: whoever reads the 421 finds it written. */
	session_peer_text(sa, client, sizeof(client));
	log_warn(NULL,
	         "event=limit limit=%s value=%u client=%s listener=%s "
	         "action=refused",
	         limit, value, client, l->name);
	(void)send(fd, reply, strlen(reply), MSG_NOSIGNAL);
	close(fd);
}

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
	struct lsock *l = arg;
	struct listener *s = l->s;
	struct session *sess;
	struct live *lv;
	bool counted = false;
	unsigned open;

	(void)evl;
	if (l->max_sessions > 0 && l->sessions >= l->max_sessions) {
		refuse(l, fd, sa, "max_sessions", l->max_sessions,
		       "421 4.3.2 Too many connections, try again later\r\n");
		return;
	}
	/* Clients in relay_networks (upstream relays, the own network) are
	 * not limited per address, as Postfix exempts $mynetworks. */
	if (!policy_client_in_relay_networks(s->env->policy, sa)) {
		switch (climit_open(s->climit, sa, evloop_now_ms(), &open)) {
		case CLIMIT_OK:
			counted = true;
			break;
		case CLIMIT_TOO_MANY:
			refuse(l, fd, sa, "client_connection_limit", open,
			       "421 4.7.0 Too many connections from your "
			       "address, try again later\r\n");
			return;
		case CLIMIT_TOO_FAST:
			refuse(l, fd, sa, "client_connection_rate_limit", open,
			       "421 4.7.0 Too many connections per minute "
			       "from your address, try again later\r\n");
			return;
		}
	}
	sess =
	    session_new(s->env, fd, sa,
	                &(struct session_listener){
	                    .name = l->name, .role = l->role, .tls = l->tls});
	if (sess == NULL) {
		if (counted)
			climit_close(s->climit, sa, evloop_now_ms());
		return;
	}
	if (s->n_live == s->cap_live) {
		s->cap_live = s->cap_live == 0 ? 64 : s->cap_live * 2;
		s->live = alloc_resize(s->live, s->cap_live, sizeof(*s->live));
	}
	lv = &s->live[s->n_live++];
	memset(lv, 0, sizeof(*lv));
	lv->sess = sess;
	lv->l = l;
	memcpy(&lv->peer, sa,
	       (size_t)salen < sizeof(lv->peer) ? (size_t)salen
	                                        : sizeof(lv->peer));
	lv->counted = counted;
	l->sessions++;
	s->sessions++;
}

/* session_env.closed: a session ended. */
static void session_closed(void *ctx, struct session *sess)
{
	struct listener *s = ctx;

	for (size_t i = 0; i < s->n_live; i++) {
		struct live *lv = &s->live[i];

		if (lv->sess != sess)
			continue;
		if (lv->counted)
			climit_close(s->climit, (struct sockaddr *)&lv->peer,
			             evloop_now_ms());
		lv->l->sessions--;
		s->sessions--;
		*lv = s->live[--s->n_live];
		return;
	}
}

static void resume_accept(void *ctx)
{
	struct lsock *l = ctx;

	if (l->ev != NULL)
		evconnlistener_enable(l->ev);
}

/* accept() failed: out of descriptors (EMFILE, ENFILE) or memory. The
 * connection waits in the backlog; stop accepting for a moment instead of
 * spinning on a listener that stays readable. */
static void on_accept_error(struct evconnlistener *evl, void *arg)
{
	struct lsock *l = arg;
	int err = EVUTIL_SOCKET_ERROR();

	log_warn(NULL,
	         "event=accept_failed listener=%s sessions=%u "
	         "error=\"%s\" action=pause_ms=%u",
	         l->name, l->s->sessions, strerror(err), ACCEPT_PAUSE_MS);
	evconnlistener_disable(evl);
	if (l->pause == NULL)
		l->pause = evloop_timer_new(l->s->base, resume_accept, l);
	evloop_timer_start(l->pause, ACCEPT_PAUSE_MS);
}

int listener_start(struct listener *s, const struct dirmx_config *cfg,
                   struct session_env *env)
{
	s->env = env;
	env->tls = s->tls;
	env->closed = session_closed;
	env->ctx = s;
	s->climit = climit_new(cfg->routerd.client_connection_limit,
	                       cfg->routerd.client_connection_rate_limit,
	                       cfg->routerd.client_ipv6_prefix);
	for (size_t i = 0; i < s->n; i++) {
		struct lsock *l = &s->l[i];

		/* The backlog is listen()'s, set in bind_one(): 0 keeps it. */
		l->ev = evconnlistener_new(s->base, on_accept, l,
		                           LEV_OPT_CLOSE_ON_FREE, 0, l->fd);
		if (l->ev == NULL)
			return -1;
		evconnlistener_set_error_cb(l->ev, on_accept_error);
		log_info(NULL,
		         "event=listening listener=%s role=%s tls=%s "
		         "max_sessions=%u backlog=%u",
		         l->name, settings_role_name(l->role),
		         settings_tls_name(l->tls), l->max_sessions,
		         s->backlog);
	}
	return 0;
}

/* Listener settings that apply without a restart: the limits. What
 * needs one (address, role, tls, a listener added or removed) is logged
 * by routerd_reload(). */
static void reload_listeners(struct listener *s, const struct dirmx_config *cfg)
{
	for (size_t i = 0; i < s->n; i++) {
		struct lsock *l = &s->l[i];
		const struct settings_listener *sl =
		    settings_find_listener(cfg, l->name);

		if (sl != NULL && sl->max_sessions != l->max_sessions) {
			log_info(NULL,
			         "event=reload_applied listener=%s "
			         "max_sessions=%u was=%u",
			         l->name, sl->max_sessions, l->max_sessions);
			l->max_sessions = sl->max_sessions;
		}
		/* listen() again on a listening socket sets a new backlog. */
		if (cfg->routerd.listen_backlog != s->backlog && l->fd >= 0 &&
		    listen(l->fd, (int)cfg->routerd.listen_backlog) < 0)
			log_warn(NULL,
			         "event=reload_failed listener=%s "
			         "setting=listen_backlog error=\"%s\"",
			         l->name, strerror(errno));
	}
	s->backlog = cfg->routerd.listen_backlog;
	climit_set(s->climit, cfg->routerd.client_connection_limit,
	           cfg->routerd.client_connection_rate_limit,
	           cfg->routerd.client_ipv6_prefix);
}

void listener_reload(struct listener *s, const struct dirmx_config *cfg)
{
	struct tlsctx *c = load_tls(&cfg->routerd);

	reload_listeners(s, cfg);
	if (c == NULL) {
		if (cfg->routerd.tls_cert != NULL)
			log_warn(NULL, "event=tls_reload status=failed "
			               "keep=old");
		return;
	}
	/* Sessions that started TLS with the old context hold references
	 * to it: it is freed when the last of them ends (tlsctx.h). */
	tlsctx_unref(&s->tls);
	s->tls = c;
	if (s->env != NULL)
		s->env->tls = c;
	log_info(NULL, "event=tls_reload status=ok cert=%s contexts=%u",
	         cfg->routerd.tls_cert, tlsctx_live());
}

void listener_deinit(struct listener **sp)
{
	struct listener *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	/* Sessions go first: their unfinished messages leave the spool. */
	while (s->n_live > 0)
		session_destroy(s->live[s->n_live - 1].sess);
	free(s->live);
	climit_deinit(&s->climit);
	for (size_t i = 0; i < s->n; i++) {
		evloop_timer_free(&s->l[i].pause);
		if (s->l[i].ev != NULL)
			evconnlistener_free(s->l[i].ev);
		else if (s->l[i].fd >= 0)
			close(s->l[i].fd);
		free(s->l[i].name);
	}
	free(s->l);
	tlsctx_unref(&s->tls);
	if (s->env != NULL)
		s->env->tls = NULL;
	free(s);
}
