/*
 * dns - c-ares lookups driven by a libevent loop; see dns.h.
 *
 * c-ares tells us which sockets it wants watched through its socket state
 * callback; each gets a persistent libevent event, and one timer follows
 * ares_timeout() so that retries and timeouts happen without anybody
 * polling. Every request is one ares_query() (never ares_search(): no
 * search domains) whose raw answer dns_parse.c reads, so every record
 * keeps its TTL.
 *
 * c-ares 1.18 cannot cancel one query, so a cancelled request stays
 * allocated, callback cleared, until c-ares finishes with it. A query that
 * c-ares completes inside ares_query() itself (a bad name, no server) is
 * delivered from a zero timer, so callers never see their callback run
 * before the lookup function has returned.
 */
#include "dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <strings.h>
#include <sys/socket.h>

#include "alloc.h"
#include "dns_parse.h"
#include "evloop.h"
#include "log.h"

#define DNS_DEFAULT_TIMEOUT_MS 5000
#define DNS_DEFAULT_TRIES 2
#define DNS_MAX_SERVERS 16
#define DNS_CLASS_IN 1

struct dns_fd {
	LIST_ENTRY(dns_fd) link;
	struct dns *dns;
	ares_socket_t fd;
	short what;
	struct event *ev;
};

struct dns {
	struct event_base *base;
	ares_channel channel;
	bool channel_ok;
	LIST_HEAD(, dns_fd) fds;
	struct evloop_timer *timer;
	LIST_HEAD(, dns_request) requests;
	unsigned int in_callback;
	bool deinit;
};

struct dns_request {
	LIST_ENTRY(dns_request) link;
	struct dns *dns;
	char *name;
	dns_callback_t *callback; /* NULL once cancelled */
	void *context;
	bool in_ares;  /* c-ares still holds a pointer to us */
	bool starting; /* inside ares_query() */
	struct evloop_timer *defer;
	struct dns_result result;
};

static void request_free(struct dns_request *req)
{
	LIST_REMOVE(req, link);
	evloop_timer_free(&req->defer);
	dns_result_clear(&req->result);
	free(req->name);
	free(req);
}

static void request_deliver(struct dns_request *req)
{
	struct dns *dns = req->dns;
	const struct dns_result *res = &req->result;
	char q[LOG_QUOTE_MAX];

	log_debug("-",
	          "event=dns_answer type=%s name=%s status=%s count=%zu "
	          "ttl=%u",
	          dns_type_str(res->type), log_quote_str(q, req->name),
	          dns_status_str(res->status), res->count, res->ttl);
	dns->in_callback++;
	req->callback(res, req->context);
	dns->in_callback--;
	request_free(req);
}

static void request_deferred(void *context)
{
	request_deliver(context);
}

static enum dns_status ares_status(int status, const char **reason_r)
{
	switch (status) {
	case ARES_ENODATA:
		*reason_r = "no record of that type";
		return DNS_NODATA;
	case ARES_ENOTFOUND:
		*reason_r = "the name does not exist (NXDOMAIN)";
		return DNS_NXDOMAIN;
	case ARES_ESERVFAIL:
		*reason_r = "server failure (SERVFAIL)";
		return DNS_SERVFAIL;
	case ARES_EREFUSED:
		*reason_r = "the server refused the query (REFUSED)";
		return DNS_REFUSED;
	case ARES_ETIMEOUT:
		*reason_r = "no answer within the timeout";
		return DNS_TIMEOUT;
	case ARES_EBADRESP:
		*reason_r = "malformed response";
		return DNS_BADRESP;
	case ARES_ECONNREFUSED:
		*reason_r = "no server reachable (connection refused)";
		return DNS_ERROR;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		*reason_r = "lookup cancelled";
		return DNS_CANCELLED;
	default:
		*reason_r = ares_strerror(status);
		return DNS_ERROR;
	}
}

static void ares_done(void *arg, int status, int timeouts, unsigned char *abuf,
                      int alen)
{
	struct dns_request *req = arg;
	struct dns_result *res = &req->result;
	enum dns_type type = res->type;

	req->in_ares = false;
	if (req->callback == NULL) {
		request_free(req);
		return;
	}
	if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION ||
	    req->dns->deinit) {
		res->status = DNS_CANCELLED;
		res->reason = "lookup cancelled";
	} else if (abuf != NULL && alen > 0) {
		/* ares_query() passes the answer also with NXDOMAIN/NODATA. */
		(void)dns_parse_response(abuf, (size_t)alen, type, res);
	} else {
		res->status = ares_status(status, &res->reason);
	}
	res->type = type;
	res->name = req->name;
	if (req->starting) {
		req->defer =
		    evloop_timer_new(req->dns->base, request_deferred, req);
		evloop_timer_start(req->defer, 0);
		return;
	}
	request_deliver(req);
}

static void timer_update(struct dns *dns)
{
	struct timeval tv, *tvp;

	if (dns->deinit)
		return;
	tvp = ares_timeout(dns->channel, NULL, &tv);
	if (tvp == NULL)
		evloop_timer_stop(dns->timer);
	else
		evloop_timer_start_tv(dns->timer, tvp);
}

static void timer_fired(void *context)
{
	struct dns *dns = context;

	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(dns);
}

static void fd_ready(evutil_socket_t fd, short what, void *arg)
{
	/* Process may close this socket and free arg: keep only dns. */
	struct dns *dns = ((struct dns_fd *)arg)->dns;

	ares_process_fd(dns->channel,
	                (what & EV_READ) != 0 ? fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) != 0 ? fd : ARES_SOCKET_BAD);
	timer_update(dns);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *dns = data;
	struct dns_fd *f;
	short what =
	    (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	LIST_FOREACH(f, &dns->fds, link) {
		if (f->fd == fd)
			break;
	}
	if (f != NULL && (what == 0 || what != f->what)) {
		event_free(f->ev);
		f->ev = NULL;
		if (what == 0) {
			LIST_REMOVE(f, link);
			free(f);
			return;
		}
	}
	if (what == 0 || (f != NULL && f->ev != NULL))
		return;
	if (f == NULL) {
		f = alloc_new(struct dns_fd);
		f->dns = dns;
		f->fd = fd;
		LIST_INSERT_HEAD(&dns->fds, f, link);
	}
	f->what = what;
	f->ev =
	    event_new(dns->base, fd, (short)(what | EV_PERSIST), fd_ready, f);
	if (f->ev == NULL || event_add(f->ev, NULL) < 0) {
		log_error("-",
		          "event=fatal reason=\"cannot watch a DNS socket\"");
		abort();
	}
}

static int set_servers(struct dns *dns, const struct dns_options *opts,
                       const char **error_r)
{
	struct ares_addr_port_node nodes[DNS_MAX_SERVERS];
	struct dns_server srv;

	if (opts->n_servers > DNS_MAX_SERVERS) {
		*error_r = "too many DNS servers";
		return -1;
	}
	memset(nodes, 0, sizeof(nodes));
	for (size_t i = 0; i < opts->n_servers; i++) {
		if (dns_server_parse(opts->servers[i], &srv, error_r) < 0)
			return -1;
		nodes[i].next = i + 1 < opts->n_servers ? &nodes[i + 1] : NULL;
		nodes[i].family = srv.family;
		if (srv.family == AF_INET)
			nodes[i].addr.addr4 = srv.u.v4;
		else
			memcpy(&nodes[i].addr.addr6, &srv.u.v6,
			       sizeof(srv.u.v6));
		nodes[i].udp_port = srv.port;
		nodes[i].tcp_port = srv.port;
	}
	if (ares_set_servers_ports(dns->channel, nodes) != ARES_SUCCESS) {
		*error_r = "c-ares refused the DNS server list";
		return -1;
	}
	return 0;
}

struct dns *dns_init(struct event_base *base, const struct dns_options *opts,
                     const char **error_r)
{
	struct ares_options ao;
	struct dns *dns;
	char lookups[] = "b";
	int mask, ret;

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		*error_r = "c-ares library initialisation failed";
		return NULL;
	}
	dns = alloc_new(struct dns);
	LIST_INIT(&dns->requests);
	LIST_INIT(&dns->fds);
	dns->base = base;
	memset(&ao, 0, sizeof(ao));
	/*
	 * No search list, no HOSTALIASES, no /etc/hosts: one exact name.
	 * NOCHECKRESP: c-ares 1.18 turns a SERVFAIL or REFUSED answer into
	 * "connection refused" once it has tried every server; we rather
	 * take the first such answer and say what it was.
	 */
	ao.flags =
	    ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
	ao.timeout = (int)(opts->timeout_ms == 0 ? DNS_DEFAULT_TIMEOUT_MS
	                                         : opts->timeout_ms);
	ao.tries = (int)(opts->tries == 0 ? DNS_DEFAULT_TRIES : opts->tries);
	ao.ndots = 1;
	ao.lookups = lookups;
	ao.sock_state_cb = sock_state;
	ao.sock_state_cb_data = dns;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	       ARES_OPT_NDOTS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB |
	       ARES_OPT_NOROTATE;
	if (opts->timeout_ms > 24 * 3600 * 1000U || opts->tries > 100) {
		*error_r = "DNS timeout or tries out of range";
		goto fail;
	}
	ret = ares_init_options(&dns->channel, &ao, mask);
	if (ret != ARES_SUCCESS) {
		*error_r = ares_strerror(ret);
		goto fail;
	}
	dns->channel_ok = true;
	if (opts->n_servers > 0 && set_servers(dns, opts, error_r) < 0)
		goto fail;
	dns->timer = evloop_timer_new(base, timer_fired, dns);
	return dns;
fail:
	if (dns->channel_ok)
		ares_destroy(dns->channel);
	free(dns);
	ares_library_cleanup();
	return NULL;
}

void dns_deinit(struct dns **_dns)
{
	struct dns *dns = *_dns;
	struct dns_fd *f;

	if (dns == NULL)
		return;
	*_dns = NULL;
	/* Freeing c-ares from inside its own callback is a caller bug. */
	assert(dns->in_callback == 0);
	dns->deinit = true;
	/* Calls ares_done() with ARES_EDESTRUCTION for each query. */
	ares_destroy(dns->channel);
	while (!LIST_EMPTY(&dns->requests)) {
		/* Results that waited for their zero timer. */
		struct dns_request *req = LIST_FIRST(&dns->requests);

		if (req->callback == NULL) {
			request_free(req);
			continue;
		}
		dns_result_clear(&req->result);
		req->result.status = DNS_CANCELLED;
		req->result.reason = "lookup cancelled";
		request_deliver(req);
	}
	while ((f = LIST_FIRST(&dns->fds)) != NULL) {
		LIST_REMOVE(f, link);
		if (f->ev != NULL)
			event_free(f->ev);
		free(f);
	}
	evloop_timer_free(&dns->timer);
	free(dns);
	ares_library_cleanup();
}

struct dns_request *dns_lookup(struct dns *dns, enum dns_type type,
                               const char *name, dns_callback_t *callback,
                               void *context)
{
	struct dns_request *req = alloc_new(struct dns_request);

	assert(!dns->deinit);
	req->dns = dns;
	req->name = alloc_strdup(name);
	req->callback = callback;
	req->context = context;
	req->result.type = type;
	LIST_INSERT_HEAD(&dns->requests, req, link);
	req->in_ares = true;
	req->starting = true;
	ares_query(dns->channel, name, DNS_CLASS_IN, (int)type, ares_done, req);
	req->starting = false;
	timer_update(dns);
	return req;
}

struct dns_request *dns_lookup_srv(struct dns *dns, const char *name,
                                   dns_callback_t *callback, void *context)
{
	return dns_lookup(dns, DNS_TYPE_SRV, name, callback, context);
}

struct dns_request *dns_lookup_mx(struct dns *dns, const char *name,
                                  dns_callback_t *callback, void *context)
{
	return dns_lookup(dns, DNS_TYPE_MX, name, callback, context);
}

struct dns_request *dns_lookup_addr(struct dns *dns, int family,
                                    const char *name, dns_callback_t *callback,
                                    void *context)
{
	assert(family == AF_INET || family == AF_INET6);
	return dns_lookup(dns, family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA,
	                  name, callback, context);
}

void dns_request_cancel(struct dns_request **_req)
{
	struct dns_request *req = *_req;

	if (req == NULL)
		return;
	*_req = NULL;
	req->callback = NULL;
	if (!req->in_ares)
		request_free(req);
}

const char *dns_status_str(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "OK";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NODATA:
		return "NODATA";
	case DNS_SERVFAIL:
		return "SERVFAIL";
	case DNS_REFUSED:
		return "REFUSED";
	case DNS_TIMEOUT:
		return "TIMEOUT";
	case DNS_BADRESP:
		return "BADRESP";
	case DNS_ERROR:
		return "ERROR";
	case DNS_CANCELLED:
		return "CANCELLED";
	}
	return "UNKNOWN";
}

bool dns_status_is_permanent(enum dns_status status)
{
	return status == DNS_NXDOMAIN || status == DNS_NODATA;
}

static const struct {
	enum dns_type type;
	const char *name;
} dns_types[] = {
    {DNS_TYPE_A, "A"},
    {DNS_TYPE_AAAA, "AAAA"},
    {DNS_TYPE_MX, "MX"},
    {DNS_TYPE_SRV, "SRV"},
};

const char *dns_type_str(enum dns_type type)
{
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++) {
		if (dns_types[i].type == type)
			return dns_types[i].name;
	}
	return "UNKNOWN";
}

bool dns_type_parse(const char *s, enum dns_type *type_r)
{
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++) {
		if (strcasecmp(dns_types[i].name, s) == 0) {
			*type_r = dns_types[i].type;
			return true;
		}
	}
	return false;
}
