/*
 * qshape - messages per recipient domain and age bucket; see qshape.h.
 * Pure: the views and the time come in, text goes out.
 */
#include "qshape.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "queue.h"
#include "sbuf.h"
#include "spoolrec.h"

/* Upper bounds of the buckets, in minutes; the last is open. */
static const uint64_t bucket_min[QSHAPE_BUCKETS - 1] = {5,   10,  20,  40,  80,
                                                        160, 320, 640, 1280};

struct row {
	char *domain;
	uint64_t total;
	uint64_t n[QSHAPE_BUCKETS];
};

struct qshape {
	struct row total;
	struct row *rows;
	size_t n_rows;
};

static const char *const state_names[QSHAPE_N] = {"incoming", "active",
                                                  "deferred", "held"};

enum qshape_state qshape_state_of(const struct queue_view *v)
{
	if (v->held)
		return QSHAPE_HELD;
	if (v->active)
		return QSHAPE_ACTIVE;
	for (size_t i = 0; i < v->env->rcpt_count; i++)
		if (v->env->rcpts[i].state == SPOOLREC_DEFERRED)
			return QSHAPE_DEFERRED;
	return QSHAPE_INCOMING;
}

const char *qshape_state_name(enum qshape_state st)
{
	return (unsigned)st < QSHAPE_N ? state_names[st] : "?";
}

int qshape_state_parse(const char *name)
{
	for (int i = 0; i < QSHAPE_N; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

struct qshape *qshape_new(void)
{
	return alloc_new(struct qshape);
}

void qshape_deinit(struct qshape **q)
{
	if (*q == NULL)
		return;
	for (size_t i = 0; i < (*q)->n_rows; i++)
		free((*q)->rows[i].domain);
	free((*q)->rows);
	free(*q);
	*q = NULL;
}

static struct row *row_for(struct qshape *q, const char *domain)
{
	struct row *r;

	for (size_t i = 0; i < q->n_rows; i++)
		if (strcasecmp(q->rows[i].domain, domain) == 0)
			return &q->rows[i];
	q->rows = alloc_resize(q->rows, q->n_rows + 1, sizeof(*q->rows));
	r = &q->rows[q->n_rows++];
	memset(r, 0, sizeof(*r));
	r->domain = alloc_strdup(domain);
	return r;
}

static void count(struct row *r, size_t bucket)
{
	r->total++;
	r->n[bucket]++;
}

void qshape_add(struct qshape *q, const struct queue_view *v, uint64_t now)
{
	const struct spoolrec *env = v->env;
	uint64_t age_min = env->arrival > 0 && now > env->arrival
	                       ? (now - env->arrival) / 60
	                       : 0;
	size_t bucket = QSHAPE_BUCKETS - 1;
	bool counted = false;

	for (size_t i = 0; i < QSHAPE_BUCKETS - 1; i++) {
		if (age_min < bucket_min[i]) {
			bucket = i;
			break;
		}
	}
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct spoolrec_rcpt *r = &env->rcpts[i];
		const char *at = strrchr(r->addr, '@');
		const char *domain = at != NULL ? at + 1 : r->addr;
		bool seen = false;

		if (r->state == SPOOLREC_DELIVERED ||
		    r->state == SPOOLREC_BOUNCED)
			continue;
		/* Once per domain: an earlier pending recipient of this
		 * message may have counted it already. */
		for (size_t j = 0; j < i && !seen; j++) {
			const struct spoolrec_rcpt *o = &env->rcpts[j];
			const char *oat = strrchr(o->addr, '@');

			seen = o->state != SPOOLREC_DELIVERED &&
			       o->state != SPOOLREC_BOUNCED &&
			       strcasecmp(oat != NULL ? oat + 1 : o->addr,
			                  domain) == 0;
		}
		if (seen)
			continue;
		count(row_for(q, domain), bucket);
		counted = true;
	}
	if (counted)
		count(&q->total, bucket);
}

static int by_total(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcasecmp(x->domain, y->domain);
}

static size_t width(const struct qshape *q)
{
	size_t w = strlen("TOTAL");

	for (size_t i = 0; i < q->n_rows; i++)
		if (strlen(q->rows[i].domain) > w)
			w = strlen(q->rows[i].domain);
	return w > 60 ? 60 : w;
}

static void put_row(struct sbuf *out, int w, const char *name,
                    const struct row *r)
{
	sbuf_printf(out, "%*.*s %6llu", w, w, name,
	            (unsigned long long)r->total);
	for (size_t i = 0; i < QSHAPE_BUCKETS; i++)
		sbuf_printf(out, " %5llu", (unsigned long long)r->n[i]);
	sbuf_append_str(out, "\n");
}

void qshape_render(struct qshape *q, struct sbuf *out)
{
	int w = (int)width(q);

	qsort(q->rows, q->n_rows, sizeof(*q->rows), by_total);
	sbuf_printf(out, "%*s %6s", w, "", "T");
	for (size_t i = 0; i < QSHAPE_BUCKETS - 1; i++)
		sbuf_printf(out, " %5llu", (unsigned long long)bucket_min[i]);
	sbuf_printf(out, " %5s\n", "1280+");
	put_row(out, w, "TOTAL", &q->total);
	for (size_t i = 0; i < q->n_rows; i++)
		put_row(out, w, q->rows[i].domain, &q->rows[i]);
}
