/*
 * sessionlab - one SMTP session driven in-process; see sessionlab.h.
 */
#include "sessionlab.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "alloc.h"
#include "authc.h"
#include "evloop.h"
#include "policy.h"
#include "session.h"
#include "settings.h"
#include "spool.h"

struct sessionlab {
	struct event_base *base;
	char dir[64];
	struct spool *spool;
	struct authc *authc;
	struct policy *policy;
	struct session_params params;
	struct session_env env;
	int role;
	struct session *sess;
	int peer; /* our end of the socketpair */
	bool closed;
	char *out;
	size_t out_len, out_cap;
	char *given;
};

static void closed_cb(void *ctx, struct session *s)
{
	struct sessionlab *lab = ctx;

	if (lab->sess == s)
		lab->sess = NULL;
}

struct sessionlab *sessionlab_new(int role)
{
	return sessionlab_new_authd(role, "/nonexistent/dirmx-authd.sock", 200);
}

struct event_base *sessionlab_base(struct sessionlab *lab)
{
	return lab->base;
}

struct sessionlab *sessionlab_new_authd(int role, const char *authd_socket,
                                        unsigned timeout_ms)
{
	struct sessionlab *lab = alloc_new(struct sessionlab);
	static const char *const domains[] = {"dirmx.test"};
	const char *error;

	lab->base = evloop_new();
	snprintf(lab->dir, sizeof(lab->dir), "/tmp/dirmx-sessionlab-XXXXXX");
	if (mkdtemp(lab->dir) == NULL ||
	    spool_open(lab->base, lab->dir, &lab->spool, &error) < 0) {
		fprintf(stderr, "sessionlab: spool: %s\n", strerror(errno));
		abort();
	}
	lab->authc = authc_new(lab->base, authd_socket, "sessionlab");
	authc_set_timeout(lab->authc, timeout_ms);
	lab->policy = policy_new(domains, 1, NULL, 0, &error);
	lab->params.hostname = alloc_strdup("mx.sessionlab.test");
	lab->params.max_message_size = 100000;
	lab->params.max_line_length = 65536;
	lab->params.max_recipients = 10;
	lab->params.max_received_headers = 30;
	lab->params.max_errors = 1000;
	lab->params.max_auth_failures = 3;
	lab->params.cmd_timeout_ms = 10000;
	lab->params.data_timeout_ms = 10000;
	lab->params.min_data_rate = 0;
	lab->params.tls_handshake_timeout_ms = 10000;
	lab->env.base = lab->base;
	lab->env.params = &lab->params;
	lab->env.authc = lab->authc;
	lab->env.spool = lab->spool;
	lab->env.policy = lab->policy;
	lab->env.closed = closed_cb;
	lab->env.ctx = lab;
	lab->role = role;
	lab->peer = -1;
	sessionlab_connect(lab);
	return lab;
}

void sessionlab_connect(struct sessionlab *lab)
{
	struct sockaddr_in peer = {.sin_family = AF_INET};
	int sv[2];

	if (lab->sess != NULL)
		session_destroy(lab->sess);
	if (lab->peer >= 0)
		close(lab->peer);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	peer.sin_addr.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
	lab->peer = sv[1];
	lab->closed = false;
	lab->out_len = 0;
	lab->sess = session_new(
	    &lab->env, sv[0], (struct sockaddr *)&peer,
	    &(struct session_listener){
	        .name = "lab", .role = lab->role, .tls = SETTINGS_TLS_NONE});
}

void sessionlab_send(struct sessionlab *lab, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(lab->peer, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			/* The session's socket buffer is full: let it read. */
			sessionlab_run(lab, 1);
			continue;
		}
		if (n <= 0)
			return; /* it closed: the rest is not read */
		p += n;
		len -= (size_t)n;
	}
}

/* Read what the session wrote; true when something came. */
static bool drain(struct sessionlab *lab)
{
	char buf[16384];
	bool got = false;

	for (;;) {
		ssize_t n = recv(lab->peer, buf, sizeof(buf), 0);

		if (n > 0) {
			if (lab->out_len + (size_t)n + 1 > lab->out_cap) {
				lab->out_cap =
				    (lab->out_len + (size_t)n + 1) * 2;
				lab->out =
				    alloc_resize(lab->out, lab->out_cap, 1);
			}
			memcpy(lab->out + lab->out_len, buf, (size_t)n);
			lab->out_len += (size_t)n;
			got = true;
			continue;
		}
		if (n == 0)
			lab->closed = true;
		return got;
	}
}

void sessionlab_run(struct sessionlab *lab, unsigned quiet_ms)
{
	uint64_t quiet_since = evloop_now_ms();

	for (;;) {
		struct timeval tv = {0, 2000};

		event_base_loopexit(lab->base, &tv);
		event_base_loop(lab->base, 0);
		if (drain(lab))
			quiet_since = evloop_now_ms();
		if (lab->closed || evloop_now_ms() - quiet_since >= quiet_ms)
			return;
	}
}

const char *sessionlab_output(struct sessionlab *lab, size_t *len_r,
                              bool *closed_r)
{
	free(lab->given);
	lab->given =
	    alloc_strndup(lab->out != NULL ? lab->out : "", lab->out_len);
	*len_r = lab->out_len;
	*closed_r = lab->closed;
	lab->out_len = 0;
	return lab->given;
}

size_t sessionlab_count_replies(const char *out, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i + 3 < len; i++) {
		if ((i == 0 || out[i - 1] == '\n') && out[i + 3] == ' ')
			n++;
	}
	return n;
}

void sessionlab_free(struct sessionlab **labp)
{
	struct sessionlab *lab = *labp;
	char cmd[128];

	if (lab == NULL)
		return;
	*labp = NULL;
	if (lab->sess != NULL)
		session_destroy(lab->sess);
	if (lab->peer >= 0)
		close(lab->peer);
	authc_deinit(&lab->authc);
	spool_deinit(&lab->spool);
	policy_deinit(&lab->policy);
	session_params_clear(&lab->params);
	evloop_free(&lab->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lab->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "sessionlab: could not remove %s\n", lab->dir);
	free(lab->out);
	free(lab->given);
	free(lab);
}
