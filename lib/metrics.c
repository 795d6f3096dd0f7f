/*
 * metrics - the Prometheus text exposition writer, the collector list and
 * fixed-bucket histograms; see metrics.h. Pure: no clock, no I/O.
 *
 * The format (version 0.0.4): per family "# HELP name text" and
 * "# TYPE name type", then one line per sample, name{label="value",...}
 * value. Counters are named with _total; a histogram writes cumulative
 * name_bucket{...,le="bound"} lines ending with le="+Inf", then name_sum
 * and name_count. In label values \, " and newline are escaped as \\, \"
 * and \n; in HELP text \ and newline.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sbuf.h"

const uint64_t metrics_latency_bounds_us[] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
const size_t metrics_latency_n_bounds =
    sizeof(metrics_latency_bounds_us) / sizeof(metrics_latency_bounds_us[0]);

struct metrics_writer {
	struct sbuf *out;
	const struct metrics_family *cur;
	size_t n_labels;
	bool ok;
};

struct collector {
	metrics_collect_fn *fn;
	void *ctx;
};

struct metrics {
	struct collector *c;
	size_t n;
};

static void bug(const char *what, const char *name)
{
	fprintf(stderr, "metrics: %s: %s\n", what, name != NULL ? name : "?");
	abort();
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* ; label names take no ':' */
static bool valid_name(const char *s, bool label)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s != '\0'; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' ||
		      (c == ':' && !label)))
			return false;
	}
	return true;
}

/* ---- histograms ------------------------------------------------------- */

void metrics_hist_init(struct metrics_hist *h, const uint64_t *bounds_us,
                       size_t n_bounds)
{
	memset(h, 0, sizeof(*h));
	if (n_bounds > METRICS_HIST_MAX)
		bug("too many histogram buckets", NULL);
	for (size_t i = 1; i < n_bounds; i++)
		if (bounds_us[i] <= bounds_us[i - 1])
			bug("histogram bounds must increase", NULL);
	h->bounds_us = bounds_us;
	h->n_bounds = n_bounds;
}

void metrics_hist_observe(struct metrics_hist *h, uint64_t us)
{
	/* Non-cumulative here (one increment); the writer sums. */
	for (size_t i = 0; i < h->n_bounds; i++) {
		if (us <= h->bounds_us[i]) {
			h->buckets[i]++;
			break;
		}
	}
	h->count++;
	h->sum_us += us;
}

/* ---- text ------------------------------------------------------------- */

void metrics_escape(struct sbuf *out, const char *s, bool label)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *rep = NULL;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (*s == '"' && label)
			rep = "\\\"";
		if (rep == NULL)
			continue;
		sbuf_append(out, run, (size_t)(s - run));
		sbuf_append_str(out, rep);
		run = s + 1;
	}
	sbuf_append(out, run, (size_t)(s - run));
}

/* Microseconds as seconds, exactly: "0.00025", "2.5", "10". */
static void put_seconds(struct metrics_writer *w, uint64_t us)
{
	char frac[8];
	size_t n;

	snprintf(frac, sizeof(frac), "%06llu",
	         (unsigned long long)(us % 1000000));
	for (n = 6; n > 0 && frac[n - 1] == '0'; n--)
		;
	frac[n] = '\0';
	w->ok &=
	    sbuf_printf(w->out, "%llu%s%s", (unsigned long long)(us / 1000000),
	                n > 0 ? "." : "", frac);
}

static void put_double(struct metrics_writer *w, double v)
{
	if (isnan(v))
		w->ok &= sbuf_append_str(w->out, "NaN");
	else if (isinf(v))
		w->ok &= sbuf_append_str(w->out, v > 0 ? "+Inf" : "-Inf");
	else if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
	         v == (double)(long long)v)
		w->ok &= sbuf_printf(w->out, "%.0f", v);
	else {
		/* The shortest of 15 or 17 digits that reads back as v. */
		char text[32];

		snprintf(text, sizeof(text), "%.15g", v);
		if (strtod(text, NULL) != v)
			snprintf(text, sizeof(text), "%.17g", v);
		w->ok &= sbuf_append_str(w->out, text);
	}
}

/* name + suffix + {labels[, le="..."]} + space */
static void put_series(struct metrics_writer *w, const char *suffix,
                       const char *const *values, const uint64_t *le_us,
                       bool le_inf)
{
	const struct metrics_family *f = w->cur;
	bool any = w->n_labels > 0 || le_us != NULL || le_inf;

	if (f == NULL)
		bug("sample without a family", NULL);
	if (w->n_labels > 0 && values == NULL)
		bug("label values missing", f->name);
	sbuf_append_str(w->out, f->name);
	sbuf_append_str(w->out, suffix);
	if (any)
		sbuf_append_str(w->out, "{");
	for (size_t i = 0; i < w->n_labels; i++) {
		if (values[i] == NULL)
			bug("label value missing", f->name);
		sbuf_printf(w->out, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
		metrics_escape(w->out, values[i], true);
		sbuf_append_str(w->out, "\"");
	}
	if (le_us != NULL || le_inf) {
		sbuf_append_str(w->out, w->n_labels > 0 ? ",le=\"" : "le=\"");
		if (le_inf)
			sbuf_append_str(w->out, "+Inf");
		else
			put_seconds(w, *le_us);
		sbuf_append_str(w->out, "\"");
	}
	w->ok &= sbuf_append_str(w->out, any ? "} " : " ");
}

void metrics_family(struct metrics_writer *w, const struct metrics_family *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	const char *suffix = f->type == METRICS_COUNTER ? "_total" : "";

	if (!valid_name(f->name, false) || (unsigned)f->type > 2)
		bug("bad family", f->name);
	w->cur = f;
	w->n_labels = 0;
	for (; f->labels != NULL && f->labels[w->n_labels] != NULL;
	     w->n_labels++)
		if (!valid_name(f->labels[w->n_labels], true) ||
		    strcmp(f->labels[w->n_labels], "le") == 0)
			bug("bad label name", f->name);
	sbuf_printf(w->out, "# HELP %s%s ", f->name, suffix);
	metrics_escape(w->out, f->help, false);
	w->ok &= sbuf_printf(w->out, "\n# TYPE %s%s %s\n", f->name, suffix,
	                     types[f->type]);
}

void metrics_counter(struct metrics_writer *w, const char *const *values,
                     uint64_t value)
{
	if (w->cur == NULL || w->cur->type != METRICS_COUNTER)
		bug("counter sample outside a counter family",
		    w->cur != NULL ? w->cur->name : NULL);
	put_series(w, "_total", values, NULL, false);
	w->ok &= sbuf_printf(w->out, "%llu\n", (unsigned long long)value);
}

void metrics_gauge(struct metrics_writer *w, const char *const *values,
                   double value)
{
	if (w->cur == NULL || w->cur->type != METRICS_GAUGE)
		bug("gauge sample outside a gauge family",
		    w->cur != NULL ? w->cur->name : NULL);
	put_series(w, "", values, NULL, false);
	put_double(w, value);
	w->ok &= sbuf_append_str(w->out, "\n");
}

void metrics_histogram(struct metrics_writer *w, const char *const *values,
                       const struct metrics_hist *h)
{
	uint64_t cum = 0;

	if (w->cur == NULL || w->cur->type != METRICS_HISTOGRAM)
		bug("histogram sample outside a histogram family",
		    w->cur != NULL ? w->cur->name : NULL);
	for (size_t i = 0; i < h->n_bounds; i++) {
		cum += h->buckets[i];
		put_series(w, "_bucket", values, &h->bounds_us[i], false);
		w->ok &= sbuf_printf(w->out, "%llu\n", (unsigned long long)cum);
	}
	put_series(w, "_bucket", values, NULL, true);
	w->ok &= sbuf_printf(w->out, "%llu\n", (unsigned long long)h->count);
	put_series(w, "_sum", values, NULL, false);
	put_seconds(w, h->sum_us);
	w->ok &= sbuf_append_str(w->out, "\n");
	put_series(w, "_count", values, NULL, false);
	w->ok &= sbuf_printf(w->out, "%llu\n", (unsigned long long)h->count);
}

void metrics_one_counter(struct metrics_writer *w,
                         const struct metrics_family *f, uint64_t value)
{
	metrics_family(w, f);
	metrics_counter(w, NULL, value);
}

void metrics_one_gauge(struct metrics_writer *w, const struct metrics_family *f,
                       double value)
{
	metrics_family(w, f);
	metrics_gauge(w, NULL, value);
}

/* ---- registry --------------------------------------------------------- */

struct metrics *metrics_new(void)
{
	return alloc_new(struct metrics);
}

void metrics_deinit(struct metrics **m)
{
	if (*m == NULL)
		return;
	free((*m)->c);
	free(*m);
	*m = NULL;
}

void metrics_add(struct metrics *m, metrics_collect_fn *fn, void *ctx)
{
	m->c = alloc_resize(m->c, m->n + 1, sizeof(*m->c));
	m->c[m->n].fn = fn;
	m->c[m->n].ctx = ctx;
	m->n++;
}

bool metrics_render(const struct metrics *m, struct sbuf *out)
{
	struct metrics_writer w = {.out = out, .ok = true};

	for (size_t i = 0; i < m->n; i++) {
		w.cur = NULL;
		m->c[i].fn(&w, m->c[i].ctx);
	}
	return w.ok;
}
