/*
 * metrics_http - the /metrics endpoint on libevent's evhttp; see
 * metrics.h.
 *
 * Bound only to the one configured address. GET /metrics (any query
 * string is ignored) renders every collector at that moment, on the loop
 * thread like everything else the collectors read; HEAD and every other
 * method get 405 with "Allow: GET", every other path 404. A scrape is a
 * few kilobytes: the rendering is capped at 16 MiB and a scrape that
 * hits the cap gets 500 rather than a truncated body.
 */
#include "metrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "config.h"
#include "log.h"
#include "sbuf.h"

#define RENDER_LIMIT (16u * 1024 * 1024)

struct metrics_http {
	struct evhttp *http;
	const struct metrics *m;
};

uint64_t metrics_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *text)
{
	struct evbuffer *body = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	if (code == 405)
		evhttp_add_header(h, "Allow", "GET");
	if (body != NULL)
		evbuffer_add_printf(body, "%s\n", text);
	evhttp_send_reply(req, code, reason, body);
	if (body != NULL)
		evbuffer_free(body);
}

static void serve(struct evhttp_request *req, void *arg)
{
	struct metrics_http *mh = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *h;
	struct evbuffer *body;
	struct sbuf *out;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		reply_text(req, 404, "Not Found", "not found: try /metrics");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		reply_text(req, 405, "Method Not Allowed", "only GET");
		return;
	}
	out = sbuf_new(RENDER_LIMIT);
	if (!metrics_render(mh->m, out)) {
		log_error("metrics", "event=metrics_too_big limit=%u",
		          RENDER_LIMIT);
		reply_text(req, 500, "Internal Server Error", "too big");
		sbuf_deinit(&out);
		return;
	}
	body = evbuffer_new();
	if (body == NULL ||
	    evbuffer_add(body, sbuf_data(out), sbuf_len(out)) < 0) {
		reply_text(req, 500, "Internal Server Error", "out of memory");
	} else {
		h = evhttp_request_get_output_headers(req);
		evhttp_add_header(h, "Content-Type",
		                  "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, 200, "OK", body);
	}
	if (body != NULL)
		evbuffer_free(body);
	sbuf_deinit(&out);
}

struct metrics_http *metrics_http_new(struct event_base *base,
                                      const struct config_hostport *addr,
                                      const struct metrics *m,
                                      const char **error_r)
{
	struct metrics_http *mh = alloc_new(struct metrics_http);

	mh->m = m;
	mh->http = evhttp_new(base);
	if (mh->http == NULL) {
		*error_r = "evhttp_new failed";
		goto fail;
	}
	evhttp_set_allowed_methods(
	    mh->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                  EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                  EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(mh->http, 16 * 1024);
	evhttp_set_max_body_size(mh->http, 64 * 1024);
	evhttp_set_timeout(mh->http, 30);
	evhttp_set_gencb(mh->http, serve, mh);
	errno = 0;
	if (evhttp_bind_socket(mh->http, addr->host, (uint16_t)addr->port) <
	    0) {
		*error_r = errno != 0 ? strerror(errno) : "cannot bind";
		goto fail;
	}
	return mh;
fail:
	metrics_http_deinit(&mh);
	return NULL;
}

void metrics_http_deinit(struct metrics_http **h)
{
	if (*h == NULL)
		return;
	if ((*h)->http != NULL)
		evhttp_free((*h)->http);
	free(*h);
	*h = NULL;
}
