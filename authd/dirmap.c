/*
 * dirmap - what a directory entry means for mail; see dirmap.h.
 *
 * Attributes are found with a loop of its own rather than
 * ldconn_entry_attr(), so that this file needs the entry's types and
 * nothing of the LDAP connection.
 */
#include "dirmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"
#include "restrict.h"
#include "str.h"

/* AD's userAccountControl flag for a disabled account. */
#define UF_ACCOUNTDISABLE 0x2u

struct dirmap {
	bool ad;
	char **mail_attrs, **member_attrs, **nexthop_attrs, **forward_attrs;
	char *disabled_attr;
	/* Sender addresses: the mapped mail attributes, then these. */
	const char **addr_attrs;
	const char **recipient_attrs, **account_attrs;
	char **ranges; /* "member;range=0-*" strings recipient_attrs uses */
};

void dirmap_preset(struct dirmap_settings *s, bool ad)
{
	static const char *const mail[] = {"mail", NULL};
	static const char *const ad_member[] = {"member", NULL};
	static const char *const ad_hop[] = {"dirmxNextHop", NULL};
	static const char *const ad_fwd[] = {"targetAddress", "dirmxForwardTo",
	                                     NULL};
	static const char *const ldap_member[] = {"member", "uniqueMember",
	                                          NULL};
	static const char *const ldap_hop[] = {"dirmxNextHop", "mailHost",
	                                       NULL};
	static const char *const ldap_fwd[] = {"mailRoutingAddress",
	                                       "dirmxForwardTo", NULL};

	s->ad = ad;
	s->mail_attrs = mail;
	s->member_attrs = ad ? ad_member : ldap_member;
	s->nexthop_attrs = ad ? ad_hop : ldap_hop;
	s->forward_attrs = ad ? ad_fwd : ldap_fwd;
	s->disabled_attr = "dirmxAccountDisabled";
}

/* --- the mapping object ------------------------------------------------ */

static char **list_dup(const char *const *list)
{
	size_t n = 0;
	char **copy;

	while (list != NULL && list[n] != NULL)
		n++;
	copy = alloc_array(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		copy[i] = alloc_strdup(list[i]);
	return copy;
}

static void list_free(char **list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

/* A NULL-terminated list of names without repeats, grown one by one. */
struct names {
	const char **v;
	size_t n;
};

static void names_add(struct names *l, const char *name)
{
	if (name == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], name) == 0)
			return;
	l->v = alloc_resize(l->v, l->n + 2, sizeof(char *));
	l->v[l->n++] = name;
	l->v[l->n] = NULL;
}

static void names_add_list(struct names *l, char **list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		names_add(l, list[i]);
}

static const char **names_done(struct names *l)
{
	if (l->v == NULL)
		l->v = alloc_array(1, sizeof(char *));
	return l->v;
}

struct dirmap *dirmap_new(const struct dirmap_settings *s)
{
	static const char *const account[] = {"sAMAccountName",
	                                      "uid",
	                                      "userPrincipalName",
	                                      "userAccountControl",
	                                      "lockoutTime",
	                                      "badPwdCount",
	                                      "msDS-ResultantPSO",
	                                      "pwdAccountLockedTime",
	                                      NULL};
	struct dirmap *m = alloc_new(struct dirmap);
	struct names addr = {0}, rcpt = {0}, acct = {0};
	size_t n_members = 0;

	m->ad = s->ad;
	m->mail_attrs = list_dup(s->mail_attrs);
	m->member_attrs = list_dup(s->member_attrs);
	m->nexthop_attrs = list_dup(s->nexthop_attrs);
	m->forward_attrs = list_dup(s->forward_attrs);
	m->disabled_attr = s->disabled_attr != NULL && *s->disabled_attr != '\0'
	                       ? alloc_strdup(s->disabled_attr)
	                       : NULL;

	names_add_list(&addr, m->mail_attrs);
	names_add(&addr, "proxyAddresses");
	names_add(&addr, "mailLocalAddress");
	m->addr_attrs = names_done(&addr);

	names_add_list(&rcpt, m->mail_attrs);
	while (m->member_attrs[n_members] != NULL)
		n_members++;
	m->ranges = alloc_array(n_members + 1, sizeof(char *));
	for (size_t i = 0; i < n_members; i++) {
		/* AD: ask for member values as a range from the start.
		 * Windows cuts a large member attribute into ranges anyway;
		 * asking for one makes every AD-like server (Samba too)
		 * answer the same way. */
		if (m->ad) {
			m->ranges[i] =
			    alloc_printf("%s;range=0-*", m->member_attrs[i]);
			names_add(&rcpt, m->ranges[i]);
		} else {
			names_add(&rcpt, m->member_attrs[i]);
		}
	}
	names_add_list(&rcpt, m->nexthop_attrs);
	names_add_list(&rcpt, m->forward_attrs);
	names_add(&rcpt, "objectClass");
	if (m->ad) {
		names_add(&rcpt, "proxyAddresses");
		names_add(&rcpt, "userAccountControl");
	}
	names_add(&rcpt, m->disabled_attr);
	/* who may send to it (restrict.h) */
	for (const char *const *r = restrict_attr_names(); *r != NULL; r++)
		names_add(&rcpt, *r);
	/* what a directory change names the object by (dirwatch.h) */
	/* where a group's reports go (restrict_report.c) */
	for (const char *const *r = restrict_report_attrs(); *r != NULL; r++)
		names_add(&rcpt, *r);
	names_add(&rcpt, dirmap_object_id_attr(m));
	m->recipient_attrs = names_done(&rcpt);

	for (size_t i = 0; account[i] != NULL; i++)
		names_add(&acct, account[i]);
	for (size_t i = 0; m->addr_attrs[i] != NULL; i++)
		names_add(&acct, m->addr_attrs[i]);
	names_add(&acct, m->disabled_attr);
	/* how many recipients the sender may write to (restrict.h) */
	for (const char *const *r = restrict_recip_limit_attrs(); *r != NULL;
	     r++)
		names_add(&acct, *r);
	/* and how large a message it may send (restrict.h) */
	for (const char *const *r = restrict_send_size_attrs(); *r != NULL; r++)
		names_add(&acct, *r);
	m->account_attrs = names_done(&acct);
	return m;
}

void dirmap_deinit(struct dirmap **mp)
{
	struct dirmap *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	list_free(m->mail_attrs);
	list_free(m->member_attrs);
	list_free(m->nexthop_attrs);
	list_free(m->forward_attrs);
	list_free(m->ranges);
	free(m->disabled_attr);
	free(m->addr_attrs);
	free(m->recipient_attrs);
	free(m->account_attrs);
	free(m);
}

bool dirmap_ad(const struct dirmap *m)
{
	return m->ad;
}

const char *const *dirmap_member_attrs(const struct dirmap *m)
{
	return (const char *const *)m->member_attrs;
}

const char *const *dirmap_recipient_attrs(const struct dirmap *m)
{
	return m->recipient_attrs;
}

const char *const *dirmap_address_attrs(const struct dirmap *m)
{
	return m->addr_attrs;
}

const char *const *dirmap_account_attrs(const struct dirmap *m)
{
	return m->account_attrs;
}

/* --- reading an entry --------------------------------------------------- */

static const struct ldconn_attr *attr_find(const struct ldconn_entry *e,
                                           const char *name)
{
	for (size_t i = 0; name != NULL && i < e->n_attrs; i++)
		if (strcasecmp(e->attrs[i].name, name) == 0)
			return &e->attrs[i];
	return NULL;
}

static const char *value0(const struct ldconn_entry *e, const char *name)
{
	const struct ldconn_attr *a = attr_find(e, name);

	return a != NULL && a->n_values > 0 ? a->values[0].data : NULL;
}

/* The first non-empty first value of the first of attrs e has. */
static const char *first_value(const struct ldconn_entry *e, char **attrs)
{
	for (size_t i = 0; attrs[i] != NULL; i++) {
		const struct ldconn_attr *a = attr_find(e, attrs[i]);

		if (a != NULL && a->n_values > 0 && a->values[0].len > 0)
			return a->values[0].data;
	}
	return NULL;
}

static const char *strip_smtp(const char *v)
{
	return v != NULL && strncasecmp(v, "smtp:", 5) == 0 ? v + 5 : v;
}

/*
 * An LDAP integer (RFC 4517: an optional '-', decimal digits) as the
 * magnitude and its sign. AD writes 32-bit flags as signed integers.
 */
static bool read_integer(const struct ldconn_value *v, bool *neg_r,
                         uint64_t *mag_r)
{
	struct buf b;

	buf_init(&b, v->data, v->len);
	*neg_r = buf_consume_char(&b, '-');
	return buf_fetch_uint(&b, UINT64_MAX, mag_r) && buf_remaining(&b) == 0;
}

/* The first value of name as a 32-bit field, signed or not: 0 when the
 * entry has none, -1 when it is not such a number. */
static int read_u32(const struct ldconn_entry *e, const char *name,
                    uint32_t *v_r)
{
	const struct ldconn_attr *a = attr_find(e, name);
	uint64_t mag;
	bool neg;

	*v_r = 0;
	if (a == NULL || a->n_values == 0)
		return 0;
	if (!read_integer(&a->values[0], &neg, &mag) ||
	    mag > (neg ? 0x80000000u : UINT32_MAX))
		return -1;
	*v_r = neg ? (uint32_t)(0x100000000ULL - mag) : (uint32_t)mag;
	return 0;
}

/* The first value of name is an integer other than 0? (-1: not one) */
static int read_nonzero(const struct ldconn_entry *e, const char *name,
                        bool *set_r)
{
	const struct ldconn_attr *a = attr_find(e, name);
	uint64_t mag;
	bool neg;

	*set_r = false;
	if (a == NULL || a->n_values == 0)
		return 0;
	if (!read_integer(&a->values[0], &neg, &mag))
		return -1;
	*set_r = mag != 0;
	return 0;
}

static bool has_true(const struct ldconn_entry *e, const char *name)
{
	const struct ldconn_attr *a = attr_find(e, name);

	for (size_t i = 0; a != NULL && i < a->n_values; i++)
		if (strcasecmp(a->values[i].data, "TRUE") == 0)
			return true;
	return false;
}

/* Disabled by the preset's or the mapped marker? (-1: unreadable) */
static int disabled(const struct dirmap *m, const struct ldconn_entry *e,
                    bool *disabled_r, const char **error_r)
{
	uint32_t uac;

	*disabled_r = false;
	if (m->ad) {
		if (read_u32(e, "userAccountControl", &uac) < 0) {
			*error_r = "userAccountControl is not a number";
			return -1;
		}
		if ((uac & UF_ACCOUNTDISABLE) != 0)
			*disabled_r = true;
	}
	if (m->disabled_attr != NULL && has_true(e, m->disabled_attr))
		*disabled_r = true;
	return 0;
}

static bool is_group(const struct dirmap *m, const struct ldconn_entry *e)
{
	static const char *const classes[] = {"group", "groupOfNames",
	                                      "groupOfUniqueNames", NULL};
	const struct ldconn_attr *oc = attr_find(e, "objectClass");
	const char *base, *end;

	for (size_t i = 0; oc != NULL && i < oc->n_values; i++)
		for (size_t k = 0; classes[k] != NULL; k++)
			if (strcasecmp(oc->values[i].data, classes[k]) == 0)
				return true;
	/* A class of another name whose members the configuration maps. */
	for (size_t i = 0; i < e->n_attrs; i++)
		if (e->attrs[i].n_values > 0 &&
		    dirmap_member_attr(m, e->attrs[i].name, &base, &end))
			return true;
	return false;
}

static const char *primary_address(const struct dirmap *m,
                                   const struct ldconn_entry *e)
{
	const struct ldconn_attr *pa;

	if (m->ad && (pa = attr_find(e, "proxyAddresses")) != NULL) {
		/* The "SMTP:" (upper case) proxy address is the primary. */
		for (size_t i = 0; i < pa->n_values; i++)
			if (strncmp(pa->values[i].data, "SMTP:", 5) == 0 &&
			    pa->values[i].data[5] != '\0')
				return pa->values[i].data + 5;
	}
	return strip_smtp(first_value(e, m->mail_attrs));
}

int dirmap_recipient(const struct dirmap *m, const struct ldconn_entry *e,
                     struct dirmap_recipient *r_r, const char **error_r)
{
	struct dirmap_iter it = {0};
	const char *value, *target;

	memset(r_r, 0, sizeof(*r_r));
	if (disabled(m, e, &r_r->disabled, error_r) < 0)
		return -1;
	r_r->group = is_group(m, e);
	r_r->forwards = dirmap_forward_next(m, e, &it, &value, &target);
	r_r->hop = strip_smtp(first_value(e, m->nexthop_attrs));
	r_r->primary = primary_address(m, e);
	return 0;
}

/* The next value of the attributes attrs names. */
static bool iter_next(const struct ldconn_entry *e, const char *const *attrs,
                      struct dirmap_iter *it, const char **value_r,
                      const char **attr_r)
{
	for (; attrs[it->attr] != NULL; it->attr++, it->value = 0) {
		const struct ldconn_attr *a = attr_find(e, attrs[it->attr]);

		if (a != NULL && it->value < a->n_values) {
			*value_r = a->values[it->value++].data;
			*attr_r = attrs[it->attr];
			return true;
		}
	}
	return false;
}

bool dirmap_forward_next(const struct dirmap *m, const struct ldconn_entry *e,
                         struct dirmap_iter *it, const char **value_r,
                         const char **target_r)
{
	const char *attr;

	if (!iter_next(e, (const char *const *)m->forward_attrs, it, value_r,
	               &attr))
		return false;
	*target_r = dirmap_mail_address(*value_r, false);
	return true;
}

bool dirmap_address_next(const struct dirmap *m, const struct ldconn_entry *e,
                         struct dirmap_iter *it, const char **addr_r)
{
	const char *value, *attr;

	while (iter_next(e, m->addr_attrs, it, &value, &attr)) {
		*addr_r = dirmap_mail_address(
		    value, strcasecmp(attr, "proxyAddresses") == 0);
		if (*addr_r != NULL)
			return true;
	}
	return false;
}

const char *dirmap_mail_address(const char *value, bool typed)
{
	const char *colon, *at;

	if (strncasecmp(value, "smtp:", 5) == 0)
		value += 5;
	else if (typed)
		return NULL; /* X500:, X400:, SIP: and other address types */
	colon = strchr(value, ':');
	at = strchr(value, '@');
	if (at == NULL || (colon != NULL && colon < at))
		return NULL;
	return value;
}

bool dirmap_member_attr(const struct dirmap *m, const char *name,
                        const char **base_r, const char **end_r)
{
	for (size_t i = 0; m->member_attrs[i] != NULL; i++) {
		const char *base = m->member_attrs[i];
		size_t n = strlen(base);
		const char *dash;

		if (strncasecmp(name, base, n) != 0)
			continue;
		if (name[n] == '\0') {
			*base_r = base;
			*end_r = NULL;
			return true;
		}
		if (strncasecmp(name + n, ";range=", 7) != 0)
			continue;
		dash = strchr(name + n + 7, '-');
		if (dash == NULL)
			continue;
		*base_r = base;
		*end_r = dash + 1;
		return true;
	}
	return false;
}

int dirmap_account(const struct dirmap *m, const struct ldconn_entry *e,
                   struct dirmap_account *a_r, const char **error_r)
{
	bool is_disabled, locked = false;
	uint32_t bad = 0;

	memset(a_r, 0, sizeof(*a_r));
	a_r->name = value0(e, m->ad ? "sAMAccountName" : "uid");
	if (disabled(m, e, &is_disabled, error_r) < 0)
		return -1;
	if (m->ad) {
		if (read_nonzero(e, "lockoutTime", &locked) < 0) {
			*error_r = "lockoutTime is not a number";
			return -1;
		}
		/* Its threshold is the PSO's, which authcheck reads when
		 * the service account may (dirmx-attributes(7)). */
		a_r->pso_dn = value0(e, "msDS-ResultantPSO");
		a_r->pso = a_r->pso_dn != NULL;
	}
	if (read_u32(e, "badPwdCount", &bad) < 0) {
		*error_r = "badPwdCount is not a number";
		return -1;
	}
	a_r->bad_pwd_count = bad;
	if (is_disabled)
		a_r->blocked = "account disabled";
	else if (locked)
		a_r->blocked = "account locked out";
	else if (value0(e, "pwdAccountLockedTime") != NULL)
		a_r->blocked = "account locked";
	return 0;
}

const char *dirmap_object_id_attr(const struct dirmap *m)
{
	return m->ad ? "objectGUID" : "entryUUID";
}

void dirmap_object_id_hex(const unsigned char id[16], char out[33])
{
	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = str_hex_digit(id[i] >> 4, STR_HEX_LOWER);
		out[2 * i + 1] = str_hex_digit(id[i] & 0xf, STR_HEX_LOWER);
	}
	out[32] = '\0';
}

bool dirmap_object_id(const struct dirmap *m, const struct ldconn_entry *e,
                      char out[33])
{
	const struct ldconn_attr *a = attr_find(e, dirmap_object_id_attr(m));
	const unsigned char *p;
	size_t n = 0;

	if (a == NULL || a->n_values != 1)
		return false;
	p = (const unsigned char *)a->values[0].data;
	if (m->ad) {
		if (a->values[0].len != 16)
			return false;
		dirmap_object_id_hex(p, out);
		return true;
	}
	/* entryUUID: 36 characters, dashes at 8, 13, 18 and 23 */
	if (a->values[0].len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (p[i] != '-')
				return false;
			continue;
		}
		if (str_hex_value(p[i], STR_HEX_ANY) < 0)
			return false;
		out[n++] =
		    (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] + 32 : p[i]);
	}
	out[32] = '\0';
	return true;
}
