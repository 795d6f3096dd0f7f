/*
 * lookup_group - expanding a distribution group, for lookup.c.
 *
 * The values of a member attribute (member, uniqueMember, as mapped) are
 * DNs, read LOOKUP_DN_BATCH at a time with one subtree search under the
 * base: (|(entryDN=a)(entryDN=b)...) on OpenLDAP, distinguishedName on
 * AD, so a 3,000-member group costs 9 searches, not 3,001. A DN
 * the batch did not return (outside the base, or dangling) is then read
 * alone by a base search, as is a batch the server refuses. AD returns a large
 * member attribute in slices: "member;range=0-1499" with the first values and,
 * while the upper bound is not "*", the next slice is asked for with
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
#include "restrict.h"

/* The member DN a value holds (uniqueMember's UID suffix cut). */
static char *member_dn(const struct ldconn_value *v)
{
	char *dn = alloc_strndup(v->data, v->len);
	char *hash = strstr(dn, "#'");

	if (hash != NULL)
		*hash = '\0';
	return dn;
}

/* Queue the members of one attribute, and its next slice if any. */
static void take_attr(struct job *j, const char *dn, const char *base,
                      const struct ldconn_attr *a, const char *end,
                      unsigned depth)
{
	char **dns;

	if (j->status_set)
		return;
	dns = alloc_array(a->n_values + 1, sizeof(char *));
	for (size_t k = 0; k < a->n_values; k++)
		dns[k] = member_dn(&a->values[k]);
	lookup_task_dns(j, dns, a->n_values, depth);
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

void lookup_dns_result(struct job *j, struct task *t,
                       const struct ldconn_result *res)
{
	struct strset found = {0};

	if (res->status == LDCONN_TIMEOUT || res->status == LDCONN_CONN_LOST ||
	    res->status == LDCONN_CANCELLED) {
		lookup_addr_result(j, t, res); /* the directory: TEMPFAIL */
		return;
	}
	if (res->status == LDCONN_OK) {
		for (size_t e = 0; e < res->n_entries && !j->status_set; e++) {
			char *k = restrict_dn_key(res->entries[e].dn);

			(void)lookup_set_add(&found, k);
			free(k);
			lookup_process_entry(j, &res->entries[e], NULL,
			                     t->depth, NULL);
		}
	}
	/* Not returned (outside the base, dangling), or the server would
	 * not search by DN: each alone, by a base search. */
	for (size_t i = 0; i < t->n_dns && !j->status_set; i++) {
		char *k = restrict_dn_key(t->dns[i]);

		if (lookup_set_add(&found, k))
			lookup_task_dn(j, t->dns[i], t->depth);
		free(k);
	}
	lookup_set_free(&found);
}
