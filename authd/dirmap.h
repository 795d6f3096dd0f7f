/*
 * dirmap.h - what a directory entry means for mail.
 *
 * The one place that reads an entry's attributes and says what they mean,
 * under the attribute mapping of the configuration (the ad or ldap preset,
 * then mail_attributes, member_attributes, nexthop_attributes,
 * forward_attributes, disabled_attribute): whether the account is disabled
 * or locked, whether the entry is a group, where it forwards, its own next
 * hop, its primary address and the addresses it may send as. Lookups
 * (lookup.c) and credential checks (authcheck.c) both ask here, so a
 * disabled account is disabled for delivery and for AUTH alike.
 *
 * Pure: no sockets, no event loop, no logging, no clock. An entry is read
 * as authd's LDAP layer holds it (struct ldconn_entry); attribute names
 * match ASCII case-insensitively.
 *
 * AD conventions (the ad preset): proxyAddresses "SMTP:" (upper case) is
 * the primary address and "smtp:" an alias, other prefixes (X500:, SIP:)
 * are not mail; targetAddress carries an "SMTP:" prefix; userAccountControl
 * bit 2 (ACCOUNTDISABLE) marks a disabled account and a non-zero
 * lockoutTime a locked one. Everywhere, the mapped disabled attribute with
 * a value TRUE (any case) marks a disabled account and an OpenLDAP
 * pwdAccountLockedTime a locked one.
 *
 * Numbers in entries come from outside and are read with the buf readers.
 * One that cannot be read is an error (-1 with *error_r, a static string):
 * the caller answers TEMPFAIL, never a guess in either direction.
 *
 * Ownership: dirmap_new() copies everything it needs from the settings.
 * Strings returned point into the entry (valid as long as it is) or into
 * the dirmap.
 */
#ifndef DIRMX_DIRMAP_H
#define DIRMX_DIRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "ldconn.h"

/* The attribute mapping, as the configuration gives it. */
struct dirmap_settings {
	bool ad;                          /* AD conventions (above) */
	const char *const *mail_attrs;    /* primary address: mail */
	const char *const *member_attrs;  /* member, uniqueMember */
	const char *const *nexthop_attrs; /* mailHost, dirmxNextHop */
	const char *const *forward_attrs; /* mailRoutingAddress, ... */
	const char *disabled_attr;        /* TRUE = disabled; may be NULL */
};

/* Fill s with the preset's mapping (static strings). */
void dirmap_preset(struct dirmap_settings *s, bool ad);

struct dirmap;

struct dirmap *dirmap_new(const struct dirmap_settings *s);
void dirmap_deinit(struct dirmap **m);

bool dirmap_ad(const struct dirmap *m);
/* NULL-terminated lists owned by m: what a search for a recipient (the
 * mapped attributes, AD member attributes as a range from 0) and for an
 * account (login names, addresses, account state) must ask for. */
const char *const *dirmap_recipient_attrs(const struct dirmap *m);
const char *const *dirmap_account_attrs(const struct dirmap *m);
/* The mapped member attributes (member, uniqueMember). */
const char *const *dirmap_member_attrs(const struct dirmap *m);
/* The attributes dirmap_address_next() reads. */
const char *const *dirmap_address_attrs(const struct dirmap *m);

/* What an entry means as a recipient. */
struct dirmap_recipient {
	bool disabled;
	bool group;      /* a group class, or a mapped member attribute */
	bool forwards;   /* a forward attribute has a value: not a mailbox */
	const char *hop; /* its own next hop ("smtp:" cut), or NULL */
	const char *primary; /* its primary address ("smtp:" cut), or NULL */
};

/* 0, or -1 when a value cannot be read (*error_r says which). */
int dirmap_recipient(const struct dirmap *m, const struct ldconn_entry *e,
                     struct dirmap_recipient *r_r, const char **error_r);

/* Walks the values of several attributes; start with {0}. */
struct dirmap_iter {
	size_t attr, value;
};

/*
 * The next forward value of e: *value_r as stored, *target_r the mail
 * address it holds or NULL when it holds none (X400:, no '@'). False when
 * there are no more.
 */
bool dirmap_forward_next(const struct dirmap *m, const struct ldconn_entry *e,
                         struct dirmap_iter *it, const char **value_r,
                         const char **target_r);

/*
 * Is name (as the server sent it, maybe "member;range=0-1499") one of the
 * mapped member attributes? Sets *base_r to the mapped name and *end_r to
 * the range's upper bound ("1499", "*"), or NULL without a range.
 */
bool dirmap_member_attr(const struct dirmap *m, const char *name,
                        const char **base_r, const char **end_r);

/* What an entry means as an account, for a credential check. */
struct dirmap_account {
	const char *name;       /* sAMAccountName (ad) or uid (ldap), or NULL */
	const char *blocked;    /* why no bind may be tried, or NULL */
	unsigned bad_pwd_count; /* AD badPwdCount; 0 when absent */
	bool pso;               /* AD: a fine-grained password policy applies */
	const char *pso_dn;     /* AD: msDS-ResultantPSO (into the entry) */
};

/* 0, or -1 when a value cannot be read (*error_r says which). */
int dirmap_account(const struct dirmap *m, const struct ldconn_entry *e,
                   struct dirmap_account *a_r, const char **error_r);

/*
 * The next address e may send as (mapped mail attributes,
 * proxyAddresses, mailLocalAddress), "smtp:" cut; values that hold no
 * mail address are skipped. The same address may come more than once.
 */
bool dirmap_address_next(const struct dirmap *m, const struct ldconn_entry *e,
                         struct dirmap_iter *it, const char **addr_r);

/*
 * The directory's own name of the object, which survives renames and
 * moves: AD objectGUID (16 bytes) or OpenLDAP entryUUID ("8-4-4-4-12"
 * hex), as 32 lowercase hex digits. False when e has none that reads.
 */
bool dirmap_object_id(const struct dirmap *m, const struct ldconn_entry *e,
                      char out[33]);
/* A 16-byte id (objectGUID, or an entryUUID as a syncrepl message carries
 * it) in that form. */
void dirmap_object_id_hex(const unsigned char id[16], char out[33]);
/* The attribute that holds it: "objectGUID" or "entryUUID". */
const char *dirmap_object_id_attr(const struct dirmap *m);

/*
 * The mail address a value holds: "smtp:" cut; NULL when it holds none
 * (another "type:" prefix, or no '@'). typed: the value always carries a
 * type prefix (proxyAddresses), so one without "smtp:" is not mail.
 */
const char *dirmap_mail_address(const char *value, bool typed);

#endif
