/*
 * restrict_report - where a group's delivery reports go, as Exchange
 * decides it: to the message's sender (the default), to the group's
 * owner (reportToOwner TRUE: managedBy's address), or nowhere
 * (reportToOriginator FALSE and reportToOwner FALSE). dirmx applies it
 * the way Exchange and mailing-list managers do: by the envelope sender
 * of the copies the group's members get, so a bounce from a member's
 * mailbox server goes to the sender, the owner, or no one (<>).
 *
 * The setting travels with the group's restrictions (restrict.h: the
 * report fields of its rules, in the cached line), and the nearest group
 * above a member that says anything decides for it; a group with neither
 * attribute inherits. Pure: no I/O.
 */
#include "restrict.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

static const char *const attr_to_originator[] = {
    "reportToOriginator", "dirmxReportToOriginator", NULL};
static const char *const attr_to_owner[] = {"reportToOwner",
                                            "dirmxReportToOwner", NULL};
/* The group's owner: AD's managedBy, OpenLDAP's groupOfNames owner. */
static const char *const attr_owner[] = {"managedBy", "owner", NULL};
static const char *const all_attrs[] = {"reportToOriginator",
                                        "dirmxReportToOriginator",
                                        "reportToOwner",
                                        "dirmxReportToOwner",
                                        "managedBy",
                                        "owner",
                                        NULL};

const char *const *restrict_report_attrs(void)
{
	return all_attrs;
}

/* The first value of the first of names e has (pure: no ldconn.c). */
static const char *value0(const struct ldconn_entry *e,
                          const char *const *names)
{
	for (const char *const *n = names; *n != NULL; n++)
		for (const struct ldconn_attr *a = e->attrs;
		     a < e->attrs + e->n_attrs; a++)
			if (a->n_values > 0 && strcasecmp(a->name, *n) == 0)
				return a->values[0].data;
	return NULL;
}

/* An LDAP Boolean (RFC 4517): 1 TRUE, 0 FALSE, -1 absent, -2 neither. */
static int boolean(const struct ldconn_entry *e, const char *const *names)
{
	const char *v = value0(e, names);

	if (v == NULL)
		return -1;
	if (strcmp(v, "TRUE") == 0)
		return 1;
	return strcmp(v, "FALSE") == 0 ? 0 : -2;
}

int restrict_report_read(const struct ldconn_entry *e, struct restrict_rules *r,
                         const char **owner_dn_r, const char **error_r)
{
	int to_originator = boolean(e, attr_to_originator);
	int to_owner = boolean(e, attr_to_owner);

	*owner_dn_r = NULL;
	if (to_originator == -2 || to_owner == -2) {
		*error_r = "reportToOriginator or reportToOwner is not TRUE "
		           "or FALSE";
		return -1;
	}
	if (to_owner == 1) {
		r->report = RESTRICT_REPORT_OWNER;
		*owner_dn_r = value0(e, attr_owner);
		if (*owner_dn_r != NULL && **owner_dn_r == '\0')
			*owner_dn_r = NULL;
	} else if (to_originator == 0) {
		/* not the sender, not the owner (absent is FALSE) */
		r->report = RESTRICT_REPORT_NONE;
	} else if (to_originator == 1 || to_owner == 0) {
		/* said explicitly: the sender, whatever the group above */
		r->report = RESTRICT_REPORT_ORIGINATOR;
	}
	return 0;
}

int restrict_path_report(const struct restrict_node *nodes, size_t n_nodes,
                         unsigned path, char **sender_r)
{
	struct restrict_rules r;

	*sender_r = NULL;
	if (path > n_nodes)
		return -1;
	for (unsigned k = path; k != 0; k = nodes[k - 1].parent) {
		enum restrict_report report;

		if (nodes[k - 1].parent >= k ||
		    restrict_rules_parse(nodes[k - 1].rules, &r) < 0)
			return -1;
		report = r.report;
		if (report == RESTRICT_REPORT_OWNER && r.report_to != NULL) {
			*sender_r = r.report_to;
			r.report_to = NULL;
		} else if (report == RESTRICT_REPORT_NONE) {
			*sender_r = alloc_strdup("");
		}
		restrict_rules_clear(&r);
		if (report != RESTRICT_REPORT_INHERIT)
			return 0;
	}
	return 0;
}
