/*
 * restrict.h - who may send to a recipient: the decision.
 *
 * Exchange keeps delivery restrictions on the recipient's entry (a user, a
 * contact or a group) and dirmx honours them at RCPT time:
 *
 *   msExchRequireAuthToSendTo  TRUE: only authenticated senders
 *   authOrig                   only these senders (DNs)
 *   dLMemSubmitPerms           only members of these groups (DNs, nested
 *                              membership counted)
 *   unauthOrig                 never these senders
 *   dLMemRejectPerms           never members of these groups
 *
 * (dirmxRequireAuthToSendTo, dirmxAuthOrig, dirmxUnauthOrig,
 * dirmxMemSubmitPerms and dirmxMemRejectPerms on OpenLDAP, schemas/.)
 * authOrig and dLMemSubmitPerms together form one allow list, as
 * Exchange's AcceptMessagesOnlyFrom and ...FromDLMembers do: a sender in
 * either passes. A refusal wins over an allowance: a sender both listed
 * and refused is refused. msExchRecipLimit (dirmxRecipLimit) is the
 * sender's: how many recipients one message of theirs may have.
 *
 * The sender is what authd knows of them: authenticated or not, and the
 * directory entry (DN, every group it belongs to, nested) when there is
 * one it trusts -- the authenticated account, or on the MX listener the
 * owner of the envelope sender only with
 * trust_envelope_sender_for_restrictions. Without an entry the sender is
 * nobody: refused where only listed senders may send, never matched by a
 * refusal list.
 *
 * Pure: no I/O, no clock, no logging. DNs are compared by restrict_dn_key()
 * (ASCII case folded, the spaces RFC 4514 allows around separators cut),
 * which is what every DN in a rule and in a sender must already be.
 *
 * The rules travel in authd's answer cache as one line
 * (restrict_rules_format / restrict_rules_parse): the recipient's rules are
 * cached with its answer, the sender's identity apart from it, and the
 * decision is made per message from both, so neither cache key holds the
 * other side.
 */
#ifndef DIRMX_RESTRICT_H
#define DIRMX_RESTRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ldconn.h"

/* A list of DN keys (restrict_dn_key()), owned. */
struct restrict_dns {
	char **v;
	size_t n;
};

/* Where a group's delivery reports go (restrict_report.c): to the
 * message's sender, to the group's owner, or nowhere. INHERIT: the group
 * says nothing, the group above it decides. */
enum restrict_report {
	RESTRICT_REPORT_INHERIT = 0,
	RESTRICT_REPORT_ORIGINATOR,
	RESTRICT_REPORT_OWNER,
	RESTRICT_REPORT_NONE,
};

/* What a recipient's entry says about who may send to it. */
struct restrict_rules {
	bool require_auth;
	struct restrict_dns auth_orig, unauth_orig;
	struct restrict_dns submit_perms, reject_perms;
	uint64_t max_kb; /* delivContLength; 0: none */
	/* a group's: where its members' copies send their reports */
	enum restrict_report report;
	char *report_to; /* OWNER: the owner's address; NULL: none known */
};

/* What authd knows of the sender of one message. */
struct restrict_sender {
	bool authenticated; /* submission with AUTH */
	const char *dn;     /* its entry's DN key, or NULL: nobody */
	/* Every group the entry belongs to, nested, as DN keys. */
	const char *const *groups;
	size_t n_groups;
	/* Authenticated, but its entry not read: only
	 * msExchRequireAuthToSendTo is decided, the rules that name
	 * senders are not (never a guess that refuses a listed sender). */
	bool identity_unknown;
	/* Authenticated, but reading its entry failed for now: a
	 * recipient with any rule is a temporary failure, never a pass
	 * (lookup_restrict()). */
	bool identity_failed;
};

enum restrict_rule {
	RESTRICT_ALLOWED = 0,
	RESTRICT_REQUIRE_AUTH, /* msExchRequireAuthToSendTo */
	RESTRICT_UNAUTH_ORIG,  /* the sender is refused by name */
	RESTRICT_REJECT_PERMS, /* ... as a member of a refused group */
	RESTRICT_ONLY_LISTED,  /* authOrig / dLMemSubmitPerms: not listed */
	RESTRICT_SIZE,         /* delivContLength: the message is larger */
};

/*
 * Read the rules of an entry (both the Exchange and the dirmx names).
 * Returns 1 when the entry has any, 0 when none (*r_r empty), -1 when a
 * value cannot be read (*error_r, static; the caller answers TEMPFAIL,
 * never a guess in either direction).
 */
int restrict_rules_read(const struct ldconn_entry *e,
                        struct restrict_rules *r_r, const char **error_r);
bool restrict_rules_any(const struct restrict_rules *r);
void restrict_rules_clear(struct restrict_rules *r);

/*
 * May s send to a recipient with rules r? size: the message's size in
 * bytes (declared with SIZE=, or counted at the end of DATA), 0 when
 * unknown: then no size limit refuses. RESTRICT_ALLOWED or the rule that
 * refuses.
 */
enum restrict_rule restrict_decide(const struct restrict_sender *s,
                                   const struct restrict_rules *r,
                                   uint64_t size);

/* The attribute(s) behind a rule, and why it refuses (static strings). */
const char *restrict_rule_attr(enum restrict_rule rule);
const char *restrict_rule_why(enum restrict_rule rule);

/*
 * Is one more recipient beyond limit (msExchRecipLimit; 0 = none) when
 * n_accepted are accepted already?
 */
bool restrict_recip_over(unsigned limit, unsigned n_accepted);
/*
 * The sender's msExchRecipLimit (dirmxRecipLimit) from its entry into
 * *limit_r (0: none). 0, or -1 when the value is not a non-negative
 * integer below 2^32 (the caller answers TEMPFAIL).
 */
int restrict_recip_limit_read(const struct ldconn_entry *e, unsigned *limit_r);
/* The attributes it reads (static, NULL-terminated). */
const char *const *restrict_recip_limit_attrs(void);

/*
 * Is a message of size bytes larger than limit_kb KB (0 = no limit)?
 * The one comparison behind delivContLength and submissionContLength.
 */
bool restrict_size_over(uint64_t limit_kb, uint64_t size);

/*
 * Read a size limit in KB from the first of names an entry has (for the
 * sender: submissionContLength, dirmxMaxSendSize; see
 * restrict_send_size_attrs()). 1 with *kb_r set, 0 with *kb_r = 0
 * when absent or 0, -1 when the value is not a non-negative decimal integer
 * (*error_r, static: the caller answers TEMPFAIL).
 */
int restrict_size_read(const struct ldconn_entry *e, const char *const *names,
                       uint64_t *kb_r, const char **error_r);
const char *const *restrict_send_size_attrs(void);

/* The attributes restrict_rules_read() reads (static, NULL-terminated). */
const char *const *restrict_attr_names(void);

/*
 * The restricted entries an expansion met, as a tree: node k (from 1)
 * is nodes[k - 1], its parent the restricted entry above it (0: none),
 * top when it is the looked-up address's own entry; rules in the cached
 * form. Each final recipient names the node of the last restricted entry
 * on its way (0: none).
 */
struct restrict_node {
	unsigned parent;
	bool top;
	const char *rules;
};

/*
 * Apply the tree to one sender: keep_r[i] says whether recipient i (on
 * path paths[i]) may receive. *rule_r is the rule that refuses the
 * looked-up address as a whole (its own entry refuses, or no recipient is
 * left), else RESTRICT_ALLOWED. -1 when a node is malformed (a parent
 * not before it, rules that do not parse): the caller answers TEMPFAIL.
 */
int restrict_filter(const struct restrict_sender *s,
                    const struct restrict_node *nodes, size_t n_nodes,
                    const unsigned *paths, size_t n, bool *keep_r,
                    enum restrict_rule *rule_r);

/*
 * The size limit in KB that holds for a recipient on path (a node of the
 * tree, 0: none): the smallest delivContLength of the restricted entries
 * above it, so that a group's limit applies to every member. 0: no limit.
 * -1 when a node is malformed, as for restrict_filter().
 */
int restrict_path_limit(const struct restrict_node *nodes, size_t n_nodes,
                        unsigned path, uint64_t *kb_r);

/*
 * A group's report routing (reportToOriginator, reportToOwner; dirmx's
 * dirmxReportToOriginator, dirmxReportToOwner) into r->report, and the
 * owner's DN (managedBy; OpenLDAP: owner) into *owner_dn_r (into e, or
 * NULL) when reports go to the owner, whose address the caller reads and
 * sets in r->report_to. A group with both attributes TRUE reports to its
 * owner (a copy has one envelope sender). 0, or -1 when a Boolean is not
 * TRUE or FALSE (*error_r, static).
 */
int restrict_report_read(const struct ldconn_entry *e, struct restrict_rules *r,
                         const char **owner_dn_r, const char **error_r);
/* The attributes it reads (static, NULL-terminated). */
const char *const *restrict_report_attrs(void);
/*
 * The envelope sender of the copy for a recipient on path: the nearest
 * group above it that says where reports go decides. *sender_r: NULL for
 * the message's own sender (the default, and an owner with no address),
 * "" for none (<>), else the owner's address; the caller frees it. -1
 * when a node is malformed, as for restrict_filter().
 */
int restrict_path_report(const struct restrict_node *nodes, size_t n_nodes,
                         unsigned path, char **sender_r);

/* One line, no tab, no LF, no space; "" for no rules. The caller frees. */
char *restrict_rules_format(const struct restrict_rules *r);
/* Strict: 0, or -1 for anything restrict_rules_format() never writes. */
int restrict_rules_parse(const char *line, struct restrict_rules *r_r);

/* A DN as a key (the caller frees). */
char *restrict_dn_key(const char *dn);

#endif
