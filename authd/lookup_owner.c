/*
 * lookup_owner - a group whose delivery reports go to its owner
 * (reportToOwner, restrict_report.c): the owner's entry, read by its DN
 * (managedBy; OpenLDAP: owner) while the group expands, gives the
 * address that becomes the envelope sender of the members' copies. It is
 * written into the group's node of the restriction tree, so it is cached
 * with the answer and read back with it.
 *
 * An owner that is gone, or has no address, leaves the reports with the
 * message's sender (traced); a read that fails is a temporary failure of
 * the lookup, as any other read of the expansion.
 */
#include <stdlib.h>

#include "alloc.h"
#include "dirmap.h"
#include "lookup_private.h"
#include "restrict.h"

void lookup_owner_result(struct job *j, struct task *t,
                         const struct ldconn_result *res)
{
	struct restrict_node *node;
	struct dirmap_recipient r;
	struct restrict_rules rules;
	const char *error;

	if (res->status != LDCONN_OK && res->status != LDCONN_NO_SUCH_OBJECT) {
		lookup_addr_result(j, t, res);
		return;
	}
	if (res->n_entries != 1 ||
	    dirmap_recipient(j->lk->dm, &res->entries[0], &r, &error) < 0 ||
	    r.primary == NULL) {
		lookup_trace(
		    j, "owner %s: no address, reports go to the sender", t->dn);
		return;
	}
	if (t->rnode == 0 || t->rnode > j->n_rnodes)
		return; /* cannot be: the task was made under its node */
	node = &j->rnodes[t->rnode - 1];
	if (restrict_rules_parse(node->rules, &rules) < 0)
		return; /* ours, just written: cannot be */
	free(rules.report_to);
	rules.report_to = alloc_strdup(r.primary);
	free((char *)node->rules);
	node->rules = restrict_rules_format(&rules);
	lookup_trace(j, "owner %s: reports go to %s", t->dn, r.primary);
	restrict_rules_clear(&rules);
}
