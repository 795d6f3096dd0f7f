/*
 * srvorder - RFC 2782 ordering of SRV targets.
 *
 * SYNOPSIS
 *	srvorder_sort(targets, count, rand_fn, ctx, &order, &n, &error)
 *	srvorder_prefer_site(order, n, dc_sites, client_site)
 *
 * DESCRIPTION
 *	Turns the records of one SRV answer into the order in which a client
 *	tries them: priorities ascending, and inside a priority the weighted
 *	random selection of RFC 2782 ("arrange ... all those with weight 0
 *	placed at the beginning of the list", a uniform number in [0, sum],
 *	the first running sum >= that number wins, repeat on the rest).
 *	When every remaining weight is 0 the RFC's rule would always pick the
 *	first in list order; we pick uniformly instead so that all-zero sets
 *	(common in AD) still spread the load.
 *
 *	No I/O, no clock; the caller passes the random source, which is what
 *	lets the tests script it.
 */
#include "srvorder.h"

#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "alloc.h"

struct entry {
	size_t idx;
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	const char *name;
	size_t name_len; /* without the trailing dot */
};

/* A rand_fn that keeps answering in the rejected zone gets this many. */
#define SRVORDER_MAX_DRAWS 16

static bool is_root_target(const char *name)
{
	return name[0] == '\0' || strcmp(name, ".") == 0;
}

static size_t name_len_nodot(const char *name)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	return len;
}

static int name_cmp(const struct entry *a, const struct entry *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int rc = strncasecmp(a->name, b->name, n);

	if (rc != 0)
		return rc;
	if (a->name_len != b->name_len)
		return a->name_len < b->name_len ? -1 : 1;
	return 0;
}

/* Identity (name, port), then best priority, then input order. */
static int cmp_identity(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int rc = name_cmp(a, b);

	if (rc != 0)
		return rc;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	return a->idx < b->idx ? -1 : (a->idx > b->idx ? 1 : 0);
}

/* Priority, then input order (which makes qsort stable here). */
static int cmp_priority(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;

	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	return a->idx < b->idx ? -1 : (a->idx > b->idx ? 1 : 0);
}

/* Uniform value in [0, range - 1], range >= 1, without modulo bias. */
static uint32_t rand_below(srvorder_rand_fn *rand_fn, void *ctx, uint64_t range)
{
	/* Accept r < limit, the largest multiple of range <= 2^32. */
	uint64_t limit = ((uint64_t)1 << 32) / range * range;
	uint32_t r = 0;

	for (int i = 0; i < SRVORDER_MAX_DRAWS; i++) {
		r = rand_fn(ctx);
		if (r < limit)
			break;
	}
	return (uint32_t)(r % range);
}

/*
 * Order the group e[0..n-1] (one priority) into out, RFC 2782 section
 * "Usage rules". The group is rearranged in place as entries are taken.
 */
static void order_group(struct entry *e, size_t n, srvorder_rand_fn *rand_fn,
                        void *ctx, size_t *out)
{
	size_t zeros = 0;

	/* Weight-0 entries first, both parts keeping their input order. */
	for (size_t i = 0; i < n; i++) {
		if (e[i].weight == 0) {
			struct entry z = e[i];

			memmove(&e[zeros + 1], &e[zeros],
			        (i - zeros) * sizeof(*e));
			e[zeros++] = z;
		}
	}
	for (size_t left = n; left > 0; left--) {
		uint64_t sum = 0, running = 0;
		size_t pick = 0;

		for (size_t i = 0; i < left; i++)
			sum += e[i].weight;
		if (sum == 0) {
			pick = rand_below(rand_fn, ctx, left);
		} else {
			uint32_t r = rand_below(rand_fn, ctx, sum + 1);

			for (pick = 0; pick < left; pick++) {
				running += e[pick].weight;
				if (running >= r)
					break;
			}
		}
		*out++ = e[pick].idx;
		memmove(&e[pick], &e[pick + 1], (left - pick - 1) * sizeof(*e));
	}
}

int srvorder_sort(const struct srvorder_target *targets, size_t count,
                  srvorder_rand_fn *rand_fn, void *rand_ctx, size_t **order_r,
                  size_t *order_count_r, const char **error_r)
{
	struct entry *e;
	size_t n = 0, kept = 0, roots = 0, *order;

	*order_r = NULL;
	*order_count_r = 0;
	if (rand_fn == NULL) {
		*error_r = "srvorder: no random source";
		return -1;
	}
	if (count > 0 && targets == NULL) {
		*error_r = "srvorder: no targets array";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (targets[i].target == NULL) {
			*error_r = "srvorder: target without a name";
			return -1;
		}
		if (is_root_target(targets[i].target))
			roots++;
	}
	if (count == 0)
		return SRVORDER_OK;
	if (roots == count)
		return SRVORDER_UNAVAILABLE;

	e = alloc_array(count, sizeof(*e));
	for (size_t i = 0; i < count; i++) {
		if (is_root_target(targets[i].target))
			continue;
		e[n].idx = i;
		e[n].priority = targets[i].priority;
		e[n].weight = targets[i].weight;
		e[n].port = targets[i].port;
		e[n].name = targets[i].target;
		e[n].name_len = name_len_nodot(targets[i].target);
		n++;
	}

	/* Deduplicate: the first of each identity group is the one kept. */
	qsort(e, n, sizeof(*e), cmp_identity);
	for (size_t i = 0; i < n; i++) {
		if (kept > 0 && name_cmp(&e[kept - 1], &e[i]) == 0 &&
		    e[kept - 1].port == e[i].port)
			continue;
		e[kept++] = e[i];
	}
	qsort(e, kept, sizeof(*e), cmp_priority);

	order = alloc_array(kept, sizeof(*order));
	for (size_t start = 0; start < kept;) {
		size_t end = start + 1;

		while (end < kept && e[end].priority == e[start].priority)
			end++;
		order_group(&e[start], end - start, rand_fn, rand_ctx,
		            &order[start]);
		start = end;
	}
	free(e);
	*order_r = order;
	*order_count_r = kept;
	return SRVORDER_OK;
}

size_t srvorder_prefer_site(size_t *order, size_t count,
                            const char *const *dc_sites,
                            const char *client_site)
{
	size_t *rest, nrest = 0, front = 0;

	if (client_site == NULL || client_site[0] == '\0' || count == 0 ||
	    dc_sites == NULL)
		return 0;
	rest = alloc_array(count, sizeof(*rest));
	for (size_t i = 0; i < count; i++) {
		const char *site = dc_sites[order[i]];

		if (site != NULL && strcasecmp(site, client_site) == 0)
			order[front++] = order[i];
		else
			rest[nrest++] = order[i];
	}
	memcpy(&order[front], rest, nrest * sizeof(*rest));
	free(rest);
	return front;
}
