/*
 * queue_group.h - the pending recipients of one delivery attempt, grouped
 * by next hop (for queue_deliver.c; pure, unit-tested).
 *
 * Contract:
 * - Pure: no sockets, files, clock or logging.
 * - Every recipient of env that is neither delivered nor bounced lands in
 *   exactly one place: the group of its next hop (nexthop_choose() on its
 *   hop and its domain; recipients whose hops format alike share a group)
 *   and of its copy's envelope sender (spoolrec_rcpt_from(): a group's
 *   MAIL FROM is its first recipient's), or the list of recipients whose
 *   next hop is invalid. Groups come in
 *   the order their first recipient appears in env; inside a group and in
 *   the invalid list, recipients keep env's order.
 * - Time and memory are linear in the number of recipients: a message to
 *   a group of thousands must not cost thousands squared. Next hops are
 *   chosen once per distinct (hop, domain) pair and groups found by hash,
 *   never by scanning the groups so far.
 * - Ownership: queue_group_build() fills *grouping_r with arrays the
 *   caller frees with queue_group_free() (or takes over, setting them to
 *   NULL first); nothing in it points into env but each group's from;
 *   errors are static texts.
 */
#ifndef DIRMX_QUEUE_GROUP_H
#define DIRMX_QUEUE_GROUP_H

#include <stddef.h>

#include "nexthop.h"

struct spoolrec;

/* "[host]:port" of nexthop_format(), with room. */
#define QUEUE_GROUP_KEY_MAX 300

struct queue_group {
	struct nexthop nh;
	enum nexthop_source src;
	char key[QUEUE_GROUP_KEY_MAX]; /* nexthop_format(&nh) */
	size_t *idx;                   /* indexes into env->rcpts */
	const char *from; /* its MAIL FROM (spoolrec_rcpt_from()), in env */
	size_t n, alloc;
};

struct queue_group_bad {
	size_t idx;        /* index into env->rcpts */
	const char *error; /* static: why its next hop is invalid */
	/* NEXTHOP_SOURCE_MX: the recipient's domain itself can never be
	 * valid (the sender's to fix: bounce); else our configuration or
	 * directory is at fault (ours to fix: defer). */
	enum nexthop_source src;
};

struct queue_grouping {
	struct queue_group *groups;
	size_t n_groups;
	struct queue_group_bad *bad;
	size_t n_bad;
};

/* cfg may be NULL: no routes, no smarthost (nexthop_choose()). */
void queue_group_build(const struct spoolrec *env,
                       const struct nexthop_config *cfg,
                       struct queue_grouping *grouping_r);
/* Free the arrays and zero *grouping. */
void queue_group_free(struct queue_grouping *grouping);

#endif
