/*
 * lookup_group - expanding a distribution group, for lookup.c.
 *
 * Every value of a member attribute (member, uniqueMember, as mapped) is
 * a DN read by its own base search. AD returns a large member attribute
 * in slices: "member;range=0-1499" with the first values and, while the
 * upper bound is not "*", the next slice is asked for with
 * "member;range=1500-*". A server that returns all values at once (Samba
 * does, for a plain "member") needs nothing more. uniqueMember values may
 * carry an "#'bitstring'B" UID suffix, which is cut before use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"
#include "dirmap.h"
#include "lookup_private.h"

static void add_member(struct job *j, const struct ldconn_value *v,
                       unsigned depth)
{
	char *dn = alloc_strndup(v->data, v->len);
	char *hash = strstr(dn, "#'");

	if (hash != NULL)
		*hash = '\0';
	lookup_task_dn(j, dn, depth);
	free(dn);
}

/* Queue the members of one attribute, and its next slice if any. */
static void take_attr(struct job *j, const char *dn, const char *base,
                      const struct ldconn_attr *a, const char *end,
                      unsigned depth)
{
	for (size_t k = 0; k < a->n_values && !j->status_set; k++)
		add_member(j, &a->values[k], depth);
	if (end != NULL && strcmp(end, "*") != 0 && !j->status_set) {
		struct buf b;
		uint64_t last;

		/* The server's upper bound: a number, or no next slice. */
		buf_init(&b, end, strlen(end));
		if (buf_fetch_uint(&b, 99999999, &last) &&
		    buf_remaining(&b) == 0)
			lookup_task_range(j, dn, base, (unsigned)last + 1,
			                  depth);
	}
}

void lookup_expand_group(struct job *j, const struct ldconn_entry *e,
                         unsigned depth)
{
	for (size_t i = 0; i < e->n_attrs; i++) {
		const char *base, *end;

		if (dirmap_member_attr(j->lk->dm, e->attrs[i].name, &base,
		                       &end))
			take_attr(j, e->dn, base, &e->attrs[i], end, depth + 1);
	}
}

void lookup_range_result(struct job *j, struct task *t,
                         const struct ldconn_result *res)
{
	if (res->status != LDCONN_OK) {
		if (res->status == LDCONN_NO_SUCH_OBJECT)
			return; /* the group went away meanwhile */
		lookup_addr_result(j, t, res);
		return;
	}
	for (size_t e = 0; e < res->n_entries; e++) {
		const struct ldconn_entry *en = &res->entries[e];

		for (size_t i = 0; i < en->n_attrs; i++) {
			const char *base, *end;

			if (dirmap_member_attr(j->lk->dm, en->attrs[i].name,
			                       &base, &end) &&
			    strcasecmp(base, t->attr) == 0)
				take_attr(j, en->dn, t->attr, &en->attrs[i],
				          end, t->depth);
		}
	}
}
