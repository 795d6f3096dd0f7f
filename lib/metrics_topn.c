/*
 * metrics_topn - the N most counted keys of a label, the rest as "other";
 * see metrics_topn.h. Pure.
 *
 * Linear scans: 4N candidates (40 for the next hops) compared with
 * strcmp is cheaper per delivery than any hashing worth the code.
 */
#include "metrics_topn.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct cand {
	char key[METRICS_TOPN_KEY];
	uint64_t score; /* events seen (Space-Saving: an upper bound) */
	bool used;
	bool labelled; /* has a series */
	uint64_t *counts;
};

struct metrics_topn {
	size_t slots, n_results, n_cands, n_labelled;
	struct cand *cands;
	uint64_t *other;
	uint64_t *counts; /* n_cands * n_results */
};

struct metrics_topn *metrics_topn_new(size_t slots, size_t n_results)
{
	struct metrics_topn *t = alloc_new(struct metrics_topn);

	t->slots = slots;
	t->n_results = n_results;
	t->n_cands = slots * 4 > 0 ? slots * 4 : 1;
	t->cands = alloc_array(t->n_cands, sizeof(*t->cands));
	t->counts = alloc_array(t->n_cands * n_results, sizeof(uint64_t));
	t->other = alloc_array(n_results, sizeof(uint64_t));
	for (size_t i = 0; i < t->n_cands; i++)
		t->cands[i].counts = t->counts + i * n_results;
	return t;
}

void metrics_topn_deinit(struct metrics_topn **t)
{
	if (*t == NULL)
		return;
	free((*t)->cands);
	free((*t)->counts);
	free((*t)->other);
	free(*t);
	*t = NULL;
}

static void unlabel(struct metrics_topn *t, struct cand *c)
{
	if (c->labelled)
		t->n_labelled--;
	c->labelled = false;
	memset(c->counts, 0, t->n_results * sizeof(uint64_t));
}

static void label(struct metrics_topn *t, struct cand *c)
{
	c->labelled = true;
	t->n_labelled++;
	memset(c->counts, 0, t->n_results * sizeof(uint64_t));
}

static struct cand *find_or_take(struct metrics_topn *t, const char *key)
{
	struct cand *free_c = NULL, *min = NULL;

	for (size_t i = 0; i < t->n_cands; i++) {
		struct cand *c = &t->cands[i];

		if (!c->used) {
			if (free_c == NULL)
				free_c = c;
			continue;
		}
		if (strncmp(c->key, key, sizeof(c->key) - 1) == 0)
			return c;
		if (min == NULL || c->score < min->score)
			min = c;
	}
	if (free_c != NULL) {
		free_c->used = true;
		free_c->score = 0;
	} else {
		/* Space-Saving: take the least counted one's place and
		 * its count. */
		free_c = min;
		unlabel(t, free_c);
	}
	strncpy(free_c->key, key, sizeof(free_c->key) - 1);
	free_c->key[sizeof(free_c->key) - 1] = '\0';
	if (t->n_labelled < t->slots)
		label(t, free_c);
	return free_c;
}

void metrics_topn_count(struct metrics_topn *t, const char *key, size_t result,
                        uint64_t n)
{
	struct cand *c;

	if (result >= t->n_results)
		return;
	c = find_or_take(t, key);
	c->score += n;
	if (c->labelled)
		c->counts[result] += n;
	else
		t->other[result] += n;
}

static struct cand *best_unlabelled(struct metrics_topn *t)
{
	struct cand *best = NULL;

	for (size_t i = 0; i < t->n_cands; i++) {
		struct cand *c = &t->cands[i];

		if (c->used && !c->labelled &&
		    (best == NULL || c->score > best->score))
			best = c;
	}
	return best;
}

static struct cand *worst_labelled(struct metrics_topn *t)
{
	struct cand *worst = NULL;

	for (size_t i = 0; i < t->n_cands; i++) {
		struct cand *c = &t->cands[i];

		if (c->labelled && (worst == NULL || c->score < worst->score))
			worst = c;
	}
	return worst;
}

void metrics_topn_rank(struct metrics_topn *t)
{
	for (;;) {
		struct cand *in = best_unlabelled(t), *out;

		if (in == NULL)
			return;
		if (t->n_labelled < t->slots) {
			label(t, in);
			continue;
		}
		out = worst_labelled(t);
		if (out == NULL || in->score < 2 * out->score)
			return;
		unlabel(t, out);
		label(t, in);
	}
}

size_t metrics_topn_n(const struct metrics_topn *t)
{
	return t->n_labelled + 1;
}

const char *metrics_topn_get(const struct metrics_topn *t, size_t i,
                             const uint64_t **counts_r)
{
	for (size_t j = 0; j < t->n_cands; j++) {
		const struct cand *c = &t->cands[j];

		if (!c->labelled)
			continue;
		if (i-- == 0) {
			*counts_r = c->counts;
			return c->key;
		}
	}
	*counts_r = t->other;
	return METRICS_TOPN_OTHER;
}
