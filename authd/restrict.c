/*
 * restrict - who may send to a recipient; see restrict.h.
 *
 * The cached form of the rules is a space-separated list of tokens: "a"
 * (only authenticated senders), then "o:DN" (authOrig), "u:DN"
 * (unauthOrig), "s:DN" (dLMemSubmitPerms), "r:DN" (dLMemRejectPerms), each
 * DN a key with every byte outside 0x21-0x7E, '%' and ':' written %XX
 * (uppercase hex), so that each rule set has exactly one spelling, and
 * last "m:N" (delivContLength, N decimal KB, no leading zero, > 0).
 */
#include "restrict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"

/* The attribute names, the Exchange one first, then dirmx's own. */
static const char *const attr_require[] = {"msExchRequireAuthToSendTo",
                                           "dirmxRequireAuthToSendTo", NULL};
static const char *const attr_auth_orig[] = {"authOrig", "dirmxAuthOrig", NULL};
static const char *const attr_unauth_orig[] = {"unauthOrig", "dirmxUnauthOrig",
                                               NULL};
static const char *const attr_submit[] = {"dLMemSubmitPerms",
                                          "dirmxMemSubmitPerms", NULL};
static const char *const attr_reject[] = {"dLMemRejectPerms",
                                          "dirmxMemRejectPerms", NULL};
static const char *const attr_recv_size[] = {"delivContLength",
                                             "dirmxMaxReceiveSize", NULL};
static const char *const attr_send_size[] = {"submissionContLength",
                                             "dirmxMaxSendSize", NULL};

/* Above this many KB a limit is none: KB * 1024 stays in a uint64_t. */
#define SIZE_KB_MAX (UINT64_MAX >> 11)

char *restrict_dn_key(const char *dn)
{
	char *k = alloc_strdup(dn), *o = k;

	for (const char *p = dn; *p != '\0'; p++) {
		if (*p == ' ' && o > k &&
		    (o[-1] == ',' || o[-1] == '=' || o[-1] == '+' ||
		     o[-1] == ';'))
			continue;
		if (*p == ' ' && (p[1] == '=' || p[1] == ','))
			continue;
		*o++ = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	}
	*o = '\0';
	return k;
}

static void dns_add(struct restrict_dns *l, char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], key) == 0) {
			free(key);
			return;
		}
	l->v = alloc_resize(l->v, l->n + 1, sizeof(char *));
	l->v[l->n++] = key;
}

static void dns_clear(struct restrict_dns *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool dns_has(const struct restrict_dns *l, const char *key)
{
	for (size_t i = 0; key != NULL && i < l->n; i++)
		if (strcmp(l->v[i], key) == 0)
			return true;
	return false;
}

static const struct ldconn_attr *attr_find(const struct ldconn_entry *e,
                                           const char *const *names)
{
	for (size_t n = 0; names[n] != NULL; n++)
		for (size_t i = 0; i < e->n_attrs; i++)
			if (strcasecmp(e->attrs[i].name, names[n]) == 0 &&
			    e->attrs[i].n_values > 0)
				return &e->attrs[i];
	return NULL;
}

/* The DN values of an attribute into l; false for a value with a NUL. */
static bool read_dns(const struct ldconn_entry *e, const char *const *names,
                     struct restrict_dns *l)
{
	const struct ldconn_attr *a = attr_find(e, names);

	for (size_t i = 0; a != NULL && i < a->n_values; i++) {
		if (strlen(a->values[i].data) != a->values[i].len ||
		    a->values[i].len == 0)
			return false;
		dns_add(l, restrict_dn_key(a->values[i].data));
	}
	return true;
}

/* A canonical or plain decimal KB count: digits only, within bounds. */
static bool parse_kb(const char *v, size_t len, bool canonical, uint64_t *kb_r)
{
	uint64_t kb = 0;

	if (len == 0 || len > 19 || (canonical && v[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		kb = kb * 10 + (uint64_t)(v[i] - '0');
	}
	*kb_r = kb > SIZE_KB_MAX ? 0 : kb;
	return !canonical || (kb > 0 && kb <= SIZE_KB_MAX);
}

int restrict_size_read(const struct ldconn_entry *e, const char *const *names,
                       uint64_t *kb_r, const char **error_r)
{
	const struct ldconn_attr *a = attr_find(e, names);

	*kb_r = 0;
	if (a == NULL)
		return 0;
	if (!parse_kb(a->values[0].data, a->values[0].len, false, kb_r)) {
		*error_r = "a size limit is not a non-negative integer";
		return -1;
	}
	return *kb_r > 0 ? 1 : 0;
}

const char *const *restrict_send_size_attrs(void)
{
	return attr_send_size;
}

bool restrict_size_over(uint64_t limit_kb, uint64_t size)
{
	return limit_kb > 0 && limit_kb <= SIZE_KB_MAX &&
	       size > limit_kb * 1024;
}

int restrict_rules_read(const struct ldconn_entry *e,
                        struct restrict_rules *r_r, const char **error_r)
{
	const struct ldconn_attr *a = attr_find(e, attr_require);

	memset(r_r, 0, sizeof(*r_r));
	if (restrict_size_read(e, attr_recv_size, &r_r->max_kb, error_r) < 0)
		return -1;
	if (a != NULL) {
		/* LDAP Boolean (RFC 4517): exactly TRUE or FALSE. */
		if (strcmp(a->values[0].data, "TRUE") == 0)
			r_r->require_auth = true;
		else if (strcmp(a->values[0].data, "FALSE") != 0) {
			*error_r = "msExchRequireAuthToSendTo is not TRUE "
			           "or FALSE";
			return -1;
		}
	}
	if (!read_dns(e, attr_auth_orig, &r_r->auth_orig) ||
	    !read_dns(e, attr_unauth_orig, &r_r->unauth_orig) ||
	    !read_dns(e, attr_submit, &r_r->submit_perms) ||
	    !read_dns(e, attr_reject, &r_r->reject_perms)) {
		restrict_rules_clear(r_r);
		*error_r = "a sender restriction holds an empty or binary DN";
		return -1;
	}
	return restrict_rules_any(r_r) ? 1 : 0;
}

bool restrict_rules_any(const struct restrict_rules *r)
{
	return r->require_auth || r->auth_orig.n > 0 || r->unauth_orig.n > 0 ||
	       r->submit_perms.n > 0 || r->reject_perms.n > 0 ||
	       r->max_kb > 0 || r->report != RESTRICT_REPORT_INHERIT;
}

void restrict_rules_clear(struct restrict_rules *r)
{
	dns_clear(&r->auth_orig);
	dns_clear(&r->unauth_orig);
	dns_clear(&r->submit_perms);
	dns_clear(&r->reject_perms);
	r->require_auth = false;
	r->max_kb = 0;
	r->report = RESTRICT_REPORT_INHERIT;
	free(r->report_to);
	r->report_to = NULL;
}

static bool member_of(const struct restrict_sender *s,
                      const struct restrict_dns *groups)
{
	for (size_t i = 0; i < s->n_groups; i++)
		if (dns_has(groups, s->groups[i]))
			return true;
	return false;
}

/* The rules that name the sender, or require authentication. */
static enum restrict_rule decide_sender(const struct restrict_sender *s,
                                        const struct restrict_rules *r)
{
	if (r->require_auth && !s->authenticated)
		return RESTRICT_REQUIRE_AUTH;
	if (s->identity_unknown)
		return RESTRICT_ALLOWED;
	/* Nobody is never matched by a refusal list ... */
	if (s->dn != NULL && dns_has(&r->unauth_orig, s->dn))
		return RESTRICT_UNAUTH_ORIG;
	if (s->dn != NULL && member_of(s, &r->reject_perms))
		return RESTRICT_REJECT_PERMS;
	if (r->auth_orig.n == 0 && r->submit_perms.n == 0)
		return RESTRICT_ALLOWED;
	/* ... and never among the listed. */
	if (s->dn != NULL &&
	    (dns_has(&r->auth_orig, s->dn) || member_of(s, &r->submit_perms)))
		return RESTRICT_ALLOWED;
	return RESTRICT_ONLY_LISTED;
}

enum restrict_rule restrict_decide(const struct restrict_sender *s,
                                   const struct restrict_rules *r,
                                   uint64_t size)
{
	enum restrict_rule rule = decide_sender(s, r);

	if (rule == RESTRICT_ALLOWED && restrict_size_over(r->max_kb, size))
		return RESTRICT_SIZE;
	return rule;
}

const char *restrict_rule_attr(enum restrict_rule rule)
{
	switch (rule) {
	case RESTRICT_ALLOWED:
		return "none";
	case RESTRICT_REQUIRE_AUTH:
		return "msExchRequireAuthToSendTo";
	case RESTRICT_UNAUTH_ORIG:
		return "unauthOrig";
	case RESTRICT_REJECT_PERMS:
		return "dLMemRejectPerms";
	case RESTRICT_ONLY_LISTED:
		return "authOrig/dLMemSubmitPerms";
	case RESTRICT_SIZE:
		return "delivContLength";
	}
	return "?";
}

const char *restrict_rule_why(enum restrict_rule rule)
{
	switch (rule) {
	case RESTRICT_ALLOWED:
		return "the sender may send to this recipient";
	case RESTRICT_REQUIRE_AUTH:
		return "only authenticated senders may send to this recipient";
	case RESTRICT_UNAUTH_ORIG:
		return "the sender is among the refused senders";
	case RESTRICT_REJECT_PERMS:
		return "the sender is a member of a refused group";
	case RESTRICT_ONLY_LISTED:
		return "only listed senders and members of listed groups may "
		       "send, and the sender is neither";
	case RESTRICT_SIZE:
		return "the message is larger than this recipient accepts";
	}
	return "?";
}

const char *const *restrict_attr_names(void)
{
	static const char *const *const lists[] = {
	    attr_require, attr_auth_orig, attr_unauth_orig,
	    attr_submit,  attr_reject,    attr_recv_size};
	static const char *all[16];

	if (all[0] == NULL) {
		size_t n = 0;

		for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
			for (size_t i = 0; lists[l][i] != NULL; i++)
				all[n++] = lists[l][i];
	}
	return all;
}

/* Decide node k (from 1) once; -1 when its rules do not parse. */
static int node_rule(const struct restrict_sender *s,
                     const struct restrict_node *nodes, unsigned k, int *memo)
{
	struct restrict_rules r;

	if (memo[k - 1] < 0) {
		if (restrict_rules_parse(nodes[k - 1].rules, &r) < 0)
			return -1;
		memo[k - 1] = (int)restrict_decide(s, &r, 0);
		restrict_rules_clear(&r);
	}
	return memo[k - 1];
}

int restrict_filter(const struct restrict_sender *s,
                    const struct restrict_node *nodes, size_t n_nodes,
                    const unsigned *paths, size_t n, bool *keep_r,
                    enum restrict_rule *rule_r)
{
	int *memo = alloc_array(n_nodes + 1, sizeof(int));
	enum restrict_rule first = RESTRICT_ALLOWED;
	size_t kept = 0;
	int ret = -1;

	*rule_r = RESTRICT_ALLOWED;
	for (size_t k = 0; k < n_nodes; k++) {
		memo[k] = -1;
		if (nodes[k].parent > k) /* a parent comes before its child */
			goto done;
	}
	for (size_t i = 0; i < n; i++) {
		keep_r[i] = true;
		if (paths[i] > n_nodes)
			goto done;
		for (unsigned k = paths[i]; k != 0; k = nodes[k - 1].parent) {
			int rule = node_rule(s, nodes, k, memo);

			if (rule < 0)
				goto done;
			if (rule == RESTRICT_ALLOWED)
				continue;
			keep_r[i] = false;
			if (first == RESTRICT_ALLOWED)
				first = (enum restrict_rule)rule;
			if (nodes[k - 1].top) /* the whole address */
				*rule_r = (enum restrict_rule)rule;
		}
		kept += keep_r[i];
	}
	if (*rule_r == RESTRICT_ALLOWED && kept == 0 && n > 0)
		*rule_r = first;
	ret = 0;
done:
	free(memo);
	return ret;
}

static const char *const attr_recip_limit[] = {"msExchRecipLimit",
                                               "dirmxRecipLimit", NULL};

const char *const *restrict_recip_limit_attrs(void)
{
	return attr_recip_limit;
}

int restrict_recip_limit_read(const struct ldconn_entry *e, unsigned *limit_r)
{
	const struct ldconn_attr *a = attr_find(e, attr_recip_limit);
	struct buf b;
	uint64_t v;

	*limit_r = 0;
	if (a == NULL)
		return 0;
	/* An INTEGER (RFC 4517); unlimited is no value, or 0. */
	buf_init(&b, a->values[0].data, a->values[0].len);
	if (!buf_fetch_uint(&b, UINT32_MAX, &v) || buf_remaining(&b) != 0)
		return -1;
	*limit_r = (unsigned)v;
	return 0;
}

int restrict_path_limit(const struct restrict_node *nodes, size_t n_nodes,
                        unsigned path, uint64_t *kb_r)
{
	struct restrict_rules r;

	*kb_r = 0;
	if (path > n_nodes)
		return -1;
	for (unsigned k = path; k != 0; k = nodes[k - 1].parent) {
		/* A parent comes before its child: the walk ends. */
		if (nodes[k - 1].parent >= k ||
		    restrict_rules_parse(nodes[k - 1].rules, &r) < 0)
			return -1;
		if (r.max_kb > 0 && (*kb_r == 0 || r.max_kb < *kb_r))
			*kb_r = r.max_kb;
		restrict_rules_clear(&r);
	}
	return 0;
}

bool restrict_recip_over(unsigned limit, unsigned n_accepted)
{
	return limit > 0 && n_accepted >= limit;
}

/* --- the cached form ------------------------------------------------------ */

static bool plain(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '%' && c != ':';
}

/* " X:value", value escaped (no space, no ':', no '%'). */
static void format_token(struct sbuf *b, char tag, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";

	if (sbuf_len(b) > 0)
		sbuf_append_str(b, " ");
	sbuf_printf(b, "%c:", tag);
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0';
	     p++)
		if (plain(*p))
			sbuf_append(b, p, 1);
		else
			sbuf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
}

static void format_dns(struct sbuf *b, char tag, const struct restrict_dns *l)
{
	for (size_t i = 0; i < l->n; i++)
		format_token(b, tag, l->v[i]);
}

/* p:o, p:w, p:n: reports to the originator, the owner, nowhere */
static const char report_tags[] = "?own";

char *restrict_rules_format(const struct restrict_rules *r)
{
	struct sbuf *b = sbuf_new(SIZE_MAX / 2);
	char *out;

	if (r->require_auth)
		sbuf_append_str(b, "a");
	format_dns(b, 'o', &r->auth_orig);
	format_dns(b, 'u', &r->unauth_orig);
	format_dns(b, 's', &r->submit_perms);
	format_dns(b, 'r', &r->reject_perms);
	if (r->report != RESTRICT_REPORT_INHERIT) {
		char v[2] = {report_tags[r->report], '\0'};

		format_token(b, 'p', v);
	}
	if (r->report_to != NULL)
		format_token(b, 'w', r->report_to);
	if (r->max_kb > 0 && r->max_kb <= SIZE_KB_MAX)
		sbuf_printf(b, "%sm:%llu", sbuf_len(b) > 0 ? " " : "",
		            (unsigned long long)r->max_kb);
	out = sbuf_steal(b, NULL);
	sbuf_deinit(&b);
	return out != NULL ? out : alloc_strdup("");
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* An escaped value of len bytes at p (format_token()), or NULL. */
static char *unescape(const char *p, size_t len)
{
	char *v = alloc_array(len + 1, 1), *o = v;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (plain((unsigned char)p[i])) {
			*o++ = p[i];
			continue;
		}
		if (p[i] != '%' || i + 2 >= len || (hi = unhex(p[i + 1])) < 0 ||
		    (lo = unhex(p[i + 2])) < 0 || hi * 16 + lo == 0 ||
		    plain((unsigned char)(hi * 16 + lo))) {
			free(v);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return v;
}

/* p:X once, then w:ADDR once, only after p:w. */
static int parse_report(const char *p, size_t len, struct restrict_rules *r)
{
	const char *t;

	if (p[0] == 'w') {
		if (r->report != RESTRICT_REPORT_OWNER || r->report_to != NULL)
			return -1;
		r->report_to = unescape(p + 2, len - 2);
		return r->report_to != NULL ? 0 : -1;
	}
	t = len == 3 && p[2] != '?' ? strchr(report_tags, p[2]) : NULL;
	if (t == NULL || r->report != RESTRICT_REPORT_INHERIT)
		return -1;
	r->report = (enum restrict_report)(t - report_tags);
	return 0;
}

/* One "X:value" token of len bytes at p into the list its tag names. */
static int parse_token(const char *p, size_t len, struct restrict_rules *r)
{
	struct restrict_dns *l;
	char *dn;

	if (len < 3 || p[1] != ':')
		return -1;
	if (p[0] == 'm') /* once, and last: the canonical order */
		return r->max_kb == 0 && p[len] == '\0' &&
		               parse_kb(p + 2, len - 2, true, &r->max_kb)
		           ? 0
		           : -1;
	if (p[0] == 'p' || p[0] == 'w')
		return parse_report(p, len, r);
	switch (p[0]) {
	case 'o':
		l = &r->auth_orig;
		break;
	case 'u':
		l = &r->unauth_orig;
		break;
	case 's':
		l = &r->submit_perms;
		break;
	case 'r':
		l = &r->reject_perms;
		break;
	default:
		return -1;
	}
	dn = unescape(p + 2, len - 2);
	if (dn == NULL)
		return -1;
	dns_add(l, dn);
	return 0;
}

int restrict_rules_parse(const char *line, struct restrict_rules *r_r)
{
	const char *p = line;

	memset(r_r, 0, sizeof(*r_r));
	if (*p == '\0')
		return 0;
	if (p[0] == 'a' && (p[1] == ' ' || p[1] == '\0')) {
		r_r->require_auth = true;
		p += p[1] == ' ' ? 2 : 1;
		if (p[-1] == ' ' && *p == '\0')
			goto fail;
	}
	while (*p != '\0') {
		const char *end = strchr(p, ' ');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (parse_token(p, len, r_r) < 0)
			goto fail;
		p += len;
		if (*p == ' ' && *++p == '\0')
			goto fail;
	}
	return 0;
fail:
	restrict_rules_clear(r_r);
	return -1;
}
