/*
 * smtpd - routerd's listeners; see smtpd.h.
 */
#include "smtpd.h"

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
#include "log.h"
#include "policy.h"
#include "session.h"
#include "settings.h"
#include "tlsctx.h"

struct listener {
	struct smtpd *s;
	char *name;
	int role;
	int tls;
	unsigned max_sessions;
	unsigned sessions;
	int fd;
	struct evconnlistener *ev;
};

struct smtpd {
	struct event_base *base;
	struct listener *l;
	size_t n;
	struct tlsctx *tls; /* the listeners' reference; sessions hold theirs */
	struct smtpd_params params;
	struct authc *authc;
	struct spool *spool;
	struct policy *policy;
	struct queue *queue;
	unsigned sessions;
	struct session **live; /* for shutdown */
	size_t n_live, cap_live;
};

static int bind_one(const struct settings_listener *sl, const char **error_r)
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
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 511) < 0) {
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
	if (tlsctx_new(r->tls_cert, r->tls_key, r->tls_priority, &ctx,
		       &error) < 0) {
		log_error(NULL, "event=tls_load_failed cert=%s key=%s "
				"error=\"%s\"",
			  r->tls_cert, r->tls_key, error);
		return NULL;
	}
	return ctx;
}

struct smtpd *smtpd_bind(struct event_base *base,
			 const struct dirmx_config *cfg,
			 const char **error_r)
{
	struct smtpd *s = alloc_new(struct smtpd);

	s->base = base;
	s->l = alloc_array(cfg->listener_count, sizeof(*s->l));
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct settings_listener *sl = &cfg->listeners[i];
		struct listener *l = &s->l[s->n];

		l->fd = bind_one(sl, error_r);
		if (l->fd < 0) {
			log_error(NULL, "event=bind_failed listener=%s "
					"address=%s port=%u error=\"%s\"",
				  sl->name,
				  sl->address.host != NULL ? sl->address.host
							   : "*",
				  sl->address.port, *error_r);
			smtpd_deinit(&s);
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
		smtpd_deinit(&s);
		return NULL;
	}
	return s;
}

static void params_set(struct smtpd_params *p, const struct dirmx_config *cfg)
{
	char host[256];

	free(p->hostname);
	if (cfg->routerd.hostname != NULL) {
		p->hostname = alloc_strdup(cfg->routerd.hostname);
	} else if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		p->hostname = alloc_strdup(host);
	} else {
		p->hostname = alloc_strdup("localhost");
	}
	p->max_message_size = cfg->routerd.max_message_size;
	p->max_recipients = cfg->routerd.max_recipients;
	p->max_received_headers = cfg->routerd.max_received_headers;
	p->max_errors = cfg->routerd.max_errors;
	p->max_auth_failures = cfg->routerd.max_auth_failures;
	p->cmd_timeout_ms = (unsigned)cfg->routerd.command_timeout_ms;
	p->data_timeout_ms = (unsigned)cfg->routerd.data_timeout_ms;
	p->tls_handshake_timeout_ms =
		(unsigned)cfg->routerd.tls_handshake_timeout_ms;
}

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;

	if (l->max_sessions > 0 && l->sessions >= l->max_sessions) {
		static const char busy[] =
			"421 4.3.2 Too many connections, try again later\r\n";

		(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
		close(fd);
		log_warn(NULL, "event=refused listener=%s reason=max_sessions",
			 l->name);
		return;
	}
	/* Pipelined replies are written as they are ready: without this,
	 * each small write after the first waits for the client's delayed
	 * ACK (~40 ms), as the benchmark showed. */
	{
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
	}
	l->sessions++;
	l->s->sessions++;
	session_new(l->s, l->s->base, fd, sa, (socklen_t)salen, l->role,
		    l->tls, l->name, &l->sessions);
}

int smtpd_start(struct smtpd *s, const struct dirmx_config *cfg,
		struct authc *authc, struct spool *spool,
		struct policy *policy)
{
	s->authc = authc;
	s->spool = spool;
	s->policy = policy;
	params_set(&s->params, cfg);
	for (size_t i = 0; i < s->n; i++) {
		struct listener *l = &s->l[i];

		l->ev = evconnlistener_new(s->base, on_accept, l,
					   LEV_OPT_CLOSE_ON_FREE, -1, l->fd);
		if (l->ev == NULL)
			return -1;
		log_info(NULL, "event=listening listener=%s role=%s tls=%s",
			 l->name, settings_role_name(l->role),
			 settings_tls_name(l->tls));
	}
	return 0;
}

void smtpd_reload(struct smtpd *s, const struct dirmx_config *cfg)
{
	struct tlsctx *c = load_tls(&cfg->routerd);

	params_set(&s->params, cfg);
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
	log_info(NULL, "event=tls_reload status=ok cert=%s contexts=%u",
		 cfg->routerd.tls_cert, tlsctx_live());
}

void smtpd_deinit(struct smtpd **sp)
{
	struct smtpd *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	/* Sessions go first: their unfinished messages leave the spool. */
	while (s->n_live > 0)
		session_destroy(s->live[s->n_live - 1]);
	free(s->live);
	for (size_t i = 0; i < s->n; i++) {
		if (s->l[i].ev != NULL)
			evconnlistener_free(s->l[i].ev);
		else if (s->l[i].fd >= 0)
			close(s->l[i].fd);
		free(s->l[i].name);
	}
	free(s->l);
	tlsctx_unref(&s->tls);
	free(s->params.hostname);
	free(s);
}

struct tlsctx *smtpd_tls(const struct smtpd *s)
{
	return s->tls;
}

const struct smtpd_params *smtpd_params(const struct smtpd *s)
{
	return &s->params;
}

struct authc *smtpd_authc(const struct smtpd *s)
{
	return s->authc;
}

struct spool *smtpd_spool(const struct smtpd *s)
{
	return s->spool;
}

struct policy *smtpd_policy(const struct smtpd *s)
{
	return s->policy;
}

void smtpd_set_queue(struct smtpd *s, struct queue *q)
{
	s->queue = q;
}

struct queue *smtpd_queue(const struct smtpd *s)
{
	return s->queue;
}

void smtpd_session_opened(struct smtpd *s, struct session *sess)
{
	if (s->n_live == s->cap_live) {
		s->cap_live = s->cap_live == 0 ? 64 : s->cap_live * 2;
		s->live = alloc_resize(s->live, s->cap_live, sizeof(*s->live));
	}
	s->live[s->n_live++] = sess;
}

void smtpd_session_closed(struct smtpd *s, struct session *sess)
{
	s->sessions--;
	for (size_t i = 0; i < s->n_live; i++) {
		if (s->live[i] == sess) {
			s->live[i] = s->live[--s->n_live];
			break;
		}
	}
}
