/*
 * metrics.h - counters, gauges and histograms in the Prometheus text
 * exposition format (version 0.0.4), and the HTTP endpoint that serves
 * them.
 *
 * The numbers live where they are counted: plain uint64_t fields and
 * struct metrics_hist in each module's own stats struct, incremented on
 * the loop thread with no lock, no allocation and no call (the hot path
 * of a daemon doing thousands of messages a second). Nothing is
 * registered per series: a daemon adds collectors to a struct metrics,
 * and at scrape time each collector reads its module's stats and writes
 * whole families through the writer below. Label names are declared once
 * per family (struct metrics_family); label values come from fixed enums
 * or from bounded sets (configured listeners, known DCs, the top-N next
 * hops of metrics_topn.h), never straight from a peer.
 *
 * The writer (metrics.c) is pure and lives in dirmx_pure: it renders
 * "# HELP", "# TYPE", the _total suffix of counters, _bucket{le=...},
 * _sum and _count of histograms, and escapes label values and help text.
 * A family's samples are written together, right after its header; a
 * family with no sample still gets its header. A programming error (a
 * sample before a header, a wrong number of label values, a bad name)
 * aborts: it is a bug, not an input.
 *
 * Histograms take observations in microseconds and are exposed in
 * seconds (families named ..._seconds).
 *
 * The endpoint (metrics_http.c, libevent's evhttp) answers GET /metrics
 * with the rendering, 405 to any other method, 404 to any other path.
 */
#ifndef DIRMX_METRICS_H
#define DIRMX_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf;
struct event_base;
struct config_hostport;

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

/* A family, declared once (static const) by the module that exposes it.
 * name is without the _total suffix, which the writer adds to counters. */
struct metrics_family {
	const char *name;
	const char *help;
	enum metrics_type type;
	const char *const *labels; /* NULL-terminated; NULL: none */
};

#define METRICS_HIST_MAX 16

/* A histogram with fixed upper bounds (microseconds, increasing); the
 * +Inf bucket is implied. Embedded in its owner's stats; no allocation. */
struct metrics_hist {
	const uint64_t *bounds_us;
	size_t n_bounds; /* at most METRICS_HIST_MAX */
	uint64_t buckets[METRICS_HIST_MAX];
	uint64_t count;
	uint64_t sum_us;
};

/* 100 us to 10 s: LDAP searches, fsync. */
extern const uint64_t metrics_latency_bounds_us[];
extern const size_t metrics_latency_n_bounds;

void metrics_hist_init(struct metrics_hist *h, const uint64_t *bounds_us,
                       size_t n_bounds);
void metrics_hist_observe(struct metrics_hist *h, uint64_t us);

/* --- the writer (pure) ------------------------------------------------- */

struct metrics_writer;

/* Start family f: its HELP and TYPE lines. */
void metrics_family(struct metrics_writer *w, const struct metrics_family *f);
/* One sample of the current family; values has one entry per label. */
void metrics_counter(struct metrics_writer *w, const char *const *values,
                     uint64_t value);
void metrics_gauge(struct metrics_writer *w, const char *const *values,
                   double value);
void metrics_histogram(struct metrics_writer *w, const char *const *values,
                       const struct metrics_hist *h);

/* Shortcuts for a family of one unlabelled sample. */
void metrics_one_counter(struct metrics_writer *w,
                         const struct metrics_family *f, uint64_t value);
void metrics_one_gauge(struct metrics_writer *w, const struct metrics_family *f,
                       double value);

/* --- the registry (pure) ----------------------------------------------- */

typedef void metrics_collect_fn(struct metrics_writer *w, void *ctx);

struct metrics;

struct metrics *metrics_new(void);
void metrics_deinit(struct metrics **m);
/* Collectors run in the order added, at every rendering. */
void metrics_add(struct metrics *m, metrics_collect_fn *fn, void *ctx);
/* Render everything to out (appended); false when out's limit was hit. */
bool metrics_render(const struct metrics *m, struct sbuf *out);

/* The text of a label value or HELP as the format escapes it (appended to
 * out): backslash, newline and (label values only) double quote. */
void metrics_escape(struct sbuf *out, const char *s, bool label);

/* --- the endpoint (metrics_http.c: libevent) --------------------------- */

struct metrics_http;

/* Serve m at addr (an IP literal and a port). NULL and *error_r (static or
 * from strerror) when it cannot bind. m must outlive the server. */
struct metrics_http *metrics_http_new(struct event_base *base,
                                      const struct config_hostport *addr,
                                      const struct metrics *m,
                                      const char **error_r);
void metrics_http_deinit(struct metrics_http **h);

/* Microseconds on the monotonic clock, for latency histograms. */
uint64_t metrics_now_us(void);

#endif
