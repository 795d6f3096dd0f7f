/*
 * dcping - learn the client's AD site with the LDAP ping; see dcping.h.
 *
 * One round pings up to DCPING_MAX_DCS DCs: their addresses are resolved
 * through lib's DNS, each gets a connected UDP socket in the loop and one
 * CLDAP datagram (cldap.c encodes it, netlogon.c decodes the answer). When
 * the UDP phase times out, the same DCs are asked over TCP through an
 * anonymous ldconn; when that times out too, the round ends without a
 * site. Teardown always happens from a timer, never inside a callback of
 * the thing being torn down.
 */
#include "dcping.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <ldap.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "cldap.h"
#include "dcloc.h"
#include "dns.h"
#include "evloop.h"
#include "ldconn.h"
#include "log.h"
#include "netlogon.h"

#define CLDAP_PORT 389

struct ping_target {
	struct dcping *p;
	struct dcloc_dc *dc;
	struct dns_request *req;
	int fd;
	struct event *ev;
	int msgid;
	struct ldconn *tcp;
	struct ldconn_req *tcp_req;
	int family_tried;
};

struct dcping {
	struct event_base *base;
	struct dns *dns;
	struct dcloc *loc;
	char *domain;
	unsigned timeout_ms;
	bool running;
	bool tcp_phase;
	struct ping_target t[DCPING_MAX_DCS];
	size_t n;
	int next_msgid;
	struct evloop_timer *phase_timer;
	struct evloop_timer *finish_timer;
};

static void target_clear(struct ping_target *t)
{
	dns_request_cancel(&t->req);
	if (t->ev != NULL) {
		event_free(t->ev);
		t->ev = NULL;
	}
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
	ldconn_req_cancel(&t->tcp_req);
	ldconn_deinit(&t->tcp);
	t->dc = NULL;
}

static void round_end(void *ctx)
{
	struct dcping *p = ctx;

	for (size_t i = 0; i < p->n; i++)
		target_clear(&p->t[i]);
	p->n = 0;
	p->running = false;
	p->tcp_phase = false;
	evloop_timer_stop(p->phase_timer);
}

/* A Netlogon value arrived from t: use it if it decodes. */
static void got_netlogon(struct ping_target *t, const void *data, size_t len,
                         const char *how)
{
	struct dcping *p = t->p;
	struct netlogon_info *info = NULL;
	const char *error;

	if (netlogon_decode(data, len, &info, &error) < 0) {
		log_warn("dcping",
		         "event=bad_netlogon dc=%s via=%s error=\"%s\"",
		         t->dc->uri, how, error);
		return;
	}
	log_info("dcping",
	         "event=ping_answer dc=%s via=%s dc_site=%s "
	         "client_site=%s",
	         t->dc->uri, how, info->dc_site != NULL ? info->dc_site : "-",
	         info->client_site != NULL ? info->client_site : "-");
	if (info->dc_site != NULL && *info->dc_site != '\0')
		dcloc_set_dc_site(p->loc, t->dc, info->dc_site);
	if (info->client_site != NULL && *info->client_site != '\0') {
		dcloc_set_client_site(p->loc, info->client_site);
		evloop_timer_start(p->finish_timer, 0);
	}
	netlogon_info_deinit(&info);
}

static void udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct ping_target *t = arg;
	unsigned char buf[4096];
	void *netlogon = NULL;
	size_t len;
	const char *error;
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	if (n <= 0)
		return; /* ICMP unreachable or nothing: the timer moves on */
	if (cldap_decode_reply(buf, (size_t)n, t->msgid, &netlogon, &len,
	                       &error) < 0) {
		log_warn("dcping", "event=bad_cldap dc=%s error=\"%s\"",
		         t->dc->uri, error);
		return;
	}
	got_netlogon(t, netlogon, len, "udp");
	free(netlogon);
}

static void udp_send(struct ping_target *t, const struct sockaddr *sa,
                     socklen_t salen)
{
	struct dcping *p = t->p;
	void *data = NULL;
	size_t len;
	const char *error;

	t->msgid = p->next_msgid++;
	if (p->next_msgid <= 0)
		p->next_msgid = 1;
	if (cldap_encode_ping(t->msgid, p->domain, NETLOGON_NT_VERSION_PING,
	                      &data, &len, &error) < 0) {
		log_warn("dcping", "event=ping_encode error=\"%s\"", error);
		return;
	}
	t->fd =
	    socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || connect(t->fd, sa, salen) < 0 ||
	    send(t->fd, data, len, 0) < 0) {
		log_debug("dcping", "event=ping_send_failed dc=%s", t->dc->uri);
		free(data);
		return;
	}
	free(data);
	t->ev = event_new(p->base, t->fd, EV_READ | EV_PERSIST, udp_read, t);
	event_add(t->ev, NULL);
}

static void addr_done(const struct dns_result *res, void *ctx)
{
	struct ping_target *t = ctx;

	t->req = NULL;
	if (res->status == DNS_OK && res->count > 0) {
		const struct dns_addr *a = &res->addrs[0];

		if (a->family == AF_INET) {
			struct sockaddr_in sin = {.sin_family = AF_INET,
			                          .sin_port = htons(CLDAP_PORT),
			                          .sin_addr = a->u.v4};

			udp_send(t, (struct sockaddr *)&sin, sizeof(sin));
		} else {
			struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
			                            .sin6_port =
			                                htons(CLDAP_PORT),
			                            .sin6_addr = a->u.v6};

			udp_send(t, (struct sockaddr *)&sin6, sizeof(sin6));
		}
		return;
	}
	if (t->family_tried == AF_INET) {
		t->family_tried = AF_INET6;
		t->req = dns_lookup_addr(t->p->dns, AF_INET6, t->dc->host,
		                         addr_done, t);
	}
}

static void target_start_udp(struct ping_target *t)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons(CLDAP_PORT)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
	                            .sin6_port = htons(CLDAP_PORT)};

	if (inet_pton(AF_INET, t->dc->host, &sin.sin_addr) == 1) {
		udp_send(t, (struct sockaddr *)&sin, sizeof(sin));
	} else if (inet_pton(AF_INET6, t->dc->host, &sin6.sin6_addr) == 1) {
		udp_send(t, (struct sockaddr *)&sin6, sizeof(sin6));
	} else {
		t->family_tried = AF_INET;
		t->req = dns_lookup_addr(t->p->dns, AF_INET, t->dc->host,
		                         addr_done, t);
	}
}

static void tcp_result(const struct ldconn_result *res, void *ctx)
{
	struct ping_target *t = ctx;
	const struct ldconn_attr *a;

	t->tcp_req = NULL;
	if (res->status != LDCONN_OK || res->n_entries == 0)
		return;
	a = ldconn_entry_attr(&res->entries[0], "Netlogon");
	if (a != NULL && a->n_values == 1)
		got_netlogon(t, a->values[0].data, a->values[0].len, "tcp");
}

static void tcp_state(struct ldconn *c, enum ldconn_state state,
                      const char *reason, void *ctx)
{
	static const char *const attrs[] = {"Netlogon", NULL};
	struct ping_target *t = ctx;
	struct ldconn_search s = {
	    .base = "", .scope = LDAP_SCOPE_BASE, .attrs = attrs};
	char *filter = NULL;
	const char *error;

	if (state != LDCONN_STATE_UP)
		return;
	if (netlogon_build_filter(t->p->domain, NETLOGON_NT_VERSION_PING,
	                          &filter, &error) < 0)
		return;
	s.filter = filter;
	t->tcp_req = ldconn_search_start(c, &s, tcp_result, t, &error);
	free(filter);
}

static void phase_timeout(void *ctx)
{
	struct dcping *p = ctx;

	if (p->tcp_phase) {
		log_info("dcping", "event=no_site reason=\"no DC answered the "
		                   "LDAP ping\"");
		round_end(p);
		return;
	}
	p->tcp_phase = true;
	for (size_t i = 0; i < p->n; i++) {
		struct ping_target *t = &p->t[i];
		struct ldconn_options o = {.tls = LDCONN_TLS_NONE,
		                           .bind = LDCONN_BIND_NONE,
		                           .timeout_ms = (int)p->timeout_ms};
		char *uri;

		/* The ping is anonymous and plain, on the LDAP port. */
		uri = alloc_printf("ldap://%s:%u", t->dc->host,
		                   t->dc->port == 636    ? 389u
		                   : t->dc->port == 3269 ? 3268u
		                                         : t->dc->port);
		o.uri = uri;
		t->tcp = ldconn_new(p->base, &o, tcp_state, t);
		free(uri);
		ldconn_connect(t->tcp);
	}
	evloop_timer_start(p->phase_timer, p->timeout_ms);
}

void dcping_dcs_changed(struct dcping *p)
{
	if (p->running || dcloc_client_site(p->loc) != NULL ||
	    dcloc_count(p->loc) == 0)
		return;
	p->running = true;
	p->n = dcloc_count(p->loc) < DCPING_MAX_DCS ? dcloc_count(p->loc)
	                                            : DCPING_MAX_DCS;
	for (size_t i = 0; i < p->n; i++) {
		struct ping_target *t = &p->t[i];

		memset(t, 0, sizeof(*t));
		t->p = p;
		t->fd = -1;
		t->dc = dcloc_get(p->loc, i);
		target_start_udp(t);
	}
	evloop_timer_start(p->phase_timer, p->timeout_ms);
}

struct dcping *dcping_new(struct event_base *base, struct dns *dns,
                          struct dcloc *loc, const char *domain,
                          unsigned timeout_ms)
{
	struct dcping *p = alloc_new(struct dcping);

	p->base = base;
	p->dns = dns;
	p->loc = loc;
	p->domain = alloc_strdup(domain);
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	p->next_msgid = 1;
	p->phase_timer = evloop_timer_new(base, phase_timeout, p);
	p->finish_timer = evloop_timer_new(base, round_end, p);
	return p;
}

void dcping_deinit(struct dcping **pp)
{
	struct dcping *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	round_end(p);
	evloop_timer_free(&p->phase_timer);
	evloop_timer_free(&p->finish_timer);
	free(p->domain);
	free(p);
}
