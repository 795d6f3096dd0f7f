/*
 * NAME
 *	queue_group - group an attempt's recipients by next hop (pure)
 *
 * SYNOPSIS
 *	#include "queue_group.h"
 *
 *	queue_group_build(env, cfg, &grouping);
 *	queue_group_free(&grouping);
 *
 * DESCRIPTION
 *	A message to a directory group carries thousands of recipients,
 *	most of them sharing a handful of next hops. Two open-addressing
 *	hash tables keep the work linear: one from (hop, domain) - all
 *	that nexthop_choose() looks at besides the configuration - to its
 *	answer, so each distinct pair is parsed once; one from (the
 *	formatted next hop, the copy's envelope sender) to its group, so
 *	recipients whose hops are written differently but mean the same
 *	host and port share one transaction, as they always did, and
 *	copies whose group's reports go elsewhere (spoolrec_rcpt_from())
 *	travel in a transaction of their own: one MAIL FROM each. The
 *	first table answers with the group of the first sender seen for
 *	the pair; only a recipient with another one asks the second
 *	again. Arrays grow by
 *	doubling.
 *
 * SEE ALSO
 *	queue_group.h for the contract, queue_deliver.c for its one user.
 */
#include "queue_group.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "spoolrec.h"

#define NO_GROUP SIZE_MAX

/* A slot maps the strings (a, b) to value; a == NULL: empty. */
struct slot {
	const char *a, *b;
	uint64_t hash;
	size_t value;            /* a group index, or NO_GROUP */
	const char *error;       /* NO_GROUP: why */
	enum nexthop_source src; /* NO_GROUP: whose fault */
};

struct table {
	struct slot *slots;
	size_t cap; /* 0 or a power of two */
	size_t used;
	bool owns_a; /* free every a with the table */
};

/* FNV-1a over a, a separator no C string holds, then b. */
static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = 14695981039346656037u;

	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	h *= 1099511628211u;
	for (const unsigned char *p = (const unsigned char *)b; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

/* The slot holding (a, b), or the empty slot where it belongs. */
static struct slot *table_find(struct table *t, uint64_t hash, const char *a,
                               const char *b)
{
	size_t i = (size_t)hash & (t->cap - 1);

	for (;;) {
		struct slot *s = &t->slots[i];

		if (s->a == NULL || (s->hash == hash && strcmp(s->a, a) == 0 &&
		                     strcmp(s->b, b) == 0))
			return s;
		i = (i + 1) & (t->cap - 1);
	}
}

/* Room for one more entry, at most half full. */
static void table_reserve(struct table *t)
{
	struct table old = *t;

	if ((t->used + 1) * 2 <= t->cap)
		return;
	t->cap = old.cap == 0 ? 16 : old.cap * 2;
	t->slots = alloc_array(t->cap, sizeof(*t->slots));
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].a != NULL)
			*table_find(t, old.slots[i].hash, old.slots[i].a,
			            old.slots[i].b) = old.slots[i];
	}
	free(old.slots);
}

static void table_free(struct table *t)
{
	for (size_t i = 0; t->owns_a && i < t->cap; i++)
		free((char *)t->slots[i].a);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* Double *alloc when n items fill it. */
static void *grow(void *p, size_t n, size_t *alloc, size_t size)
{
	if (n < *alloc)
		return p;
	*alloc = *alloc == 0 ? 4 : *alloc * 2;
	return alloc_resize(p, *alloc, size);
}

/* The group of (nh, from), made when it is the first of its key; from
 * must outlive the table. */
static size_t group_of(struct queue_grouping *g, size_t *groups_alloc,
                       struct table *keys, const struct nexthop *nh,
                       enum nexthop_source src, const char *from)
{
	char key[QUEUE_GROUP_KEY_MAX];
	struct queue_group *grp;
	struct slot *s;
	uint64_t h;

	nexthop_format(nh, key, sizeof(key));
	h = hash2(key, from);
	table_reserve(keys);
	s = table_find(keys, h, key, from);
	if (s->a != NULL)
		return s->value;
	g->groups =
	    grow(g->groups, g->n_groups, groups_alloc, sizeof(*g->groups));
	grp = &g->groups[g->n_groups];
	memset(grp, 0, sizeof(*grp));
	grp->nh = *nh;
	grp->src = src;
	grp->from = from;
	memcpy(grp->key, key, sizeof(key));
	s->a = alloc_strdup(key);
	s->b = from;
	s->hash = h;
	s->value = g->n_groups;
	keys->used++;
	return g->n_groups++;
}

void queue_group_build(const struct spoolrec *env,
                       const struct nexthop_config *cfg,
                       struct queue_grouping *grouping_r)
{
	struct table hops = {0}, keys = {.owns_a = true};
	size_t groups_alloc = 0, bad_alloc = 0;

	memset(grouping_r, 0, sizeof(*grouping_r));
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct spoolrec_rcpt *rc = &env->rcpts[i];
		const char *at = strrchr(rc->addr, '@');
		const char *domain = at != NULL ? at + 1 : "";
		const char *hop = rc->hop != NULL ? rc->hop : "";
		struct slot *s;
		uint64_t h;

		if (rc->state == SPOOLREC_DELIVERED ||
		    rc->state == SPOOLREC_BOUNCED)
			continue;
		h = hash2(hop, domain);
		table_reserve(&hops);
		s = table_find(&hops, h, hop, domain);
		if (s->a == NULL) {
			struct nexthop nh;
			enum nexthop_source src;
			const char *error;

			s->a = hop;
			s->b = domain;
			s->hash = h;
			hops.used++;
			if (nexthop_choose(rc->hop, domain, cfg, &nh, &src,
			                   &error) < 0) {
				s->value = NO_GROUP;
				s->error = error;
				s->src = src;
			} else {
				s->value = group_of(
				    grouping_r, &groups_alloc, &keys, &nh, src,
				    spoolrec_rcpt_from(env, rc));
			}
		}
		if (s->value == NO_GROUP) {
			struct queue_group_bad *b;

			grouping_r->bad =
			    grow(grouping_r->bad, grouping_r->n_bad, &bad_alloc,
			         sizeof(*grouping_r->bad));
			b = &grouping_r->bad[grouping_r->n_bad++];
			b->idx = i;
			b->error = s->error;
			b->src = s->src;
		} else {
			const char *from = spoolrec_rcpt_from(env, rc);
			struct queue_group *grp;
			size_t gi = s->value;

			if (strcmp(from, grouping_r->groups[gi].from) != 0) {
				/* copied: groups may move as the array grows */
				struct nexthop nh = grouping_r->groups[gi].nh;

				gi = group_of(grouping_r, &groups_alloc, &keys,
				              &nh, grouping_r->groups[gi].src,
				              from);
			}
			grp = &grouping_r->groups[gi];

			grp->idx = grow(grp->idx, grp->n, &grp->alloc,
			                sizeof(*grp->idx));
			grp->idx[grp->n++] = i;
		}
	}
	table_free(&hops);
	table_free(&keys);
}

void queue_group_free(struct queue_grouping *grouping)
{
	for (size_t g = 0; g < grouping->n_groups; g++)
		free(grouping->groups[g].idx);
	free(grouping->groups);
	free(grouping->bad);
	memset(grouping, 0, sizeof(*grouping));
}
