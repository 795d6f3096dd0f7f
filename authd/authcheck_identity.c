/*
 * authcheck_identity - who an authenticated sender is, for the sender
 * restrictions (restrict.h): its account's DN, found as AUTH and SENDERS
 * find it (authcheck.c), and every group it belongs to, nested. With
 * trust_envelope_sender_for_restrictions, an unauthenticated sender is
 * the entry that owns the envelope sender, found with the recipients'
 * address filter instead (authcheck_identity_from()).
 *
 * AD answers the nesting itself: one subtree search with the in-chain
 * matching rule, (member:1.2.840.113556.1.4.1941:=DN), returns every
 * group that holds the DN at any depth. OpenLDAP has no such rule: one
 * search per nesting level, (|(member=a)(uniqueMember=a)(member=b)...)
 * over the mapped member attributes for the groups found at the level
 * before (the account itself first), until a level finds nothing new or
 * IDENTITY_MAX_DEPTH levels are read. A group met twice (a loop, or two
 * paths) is taken once, so a loop ends. An OpenLDAP sender in a chain of
 * n nested groups therefore costs n + 1 searches (the last finds none)
 * besides the account's own.
 *
 * Groups are kept as DN keys (restrict_dn_key()); a key is still a DN
 * that an equality match on a DN-syntax attribute accepts, since DN
 * matching ignores case and the spaces the key cuts.
 */
#include <ldap.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "dirmap.h"
#include "ldconn.h"
#include "ldfilter.h"
#include "ldpool.h"
#include "log.h"
#include "restrict.h"
#include "sbuf.h"

#define IDENTITY_MAX_DEPTH 16
#define AD_IN_CHAIN "1.2.840.113556.1.4.1941"

static const char *const no_attrs[] = {"1.1", NULL};

static void groups_done(const struct ldconn_result *res, const char *dc,
                        void *ctx);

static bool group_known(const struct authcheck_req *r, const char *key)
{
	for (size_t i = 0; i < r->n_groups; i++)
		if (strcmp(r->groups[i], key) == 0)
			return true;
	return false;
}

/* One search: the groups that hold any DN of the last level. */
static void level_search(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;
	const char *const *attrs = dirmap_member_attrs(ac->opts.dirmap);
	struct ldconn_search s = {.base = ac->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .attrs = no_attrs};
	struct sbuf *f = sbuf_new(64u * 1024);
	size_t from = r->level_start, to = r->n_groups;

	sbuf_append_str(f, "(|");
	for (size_t i = from; i <= to; i++) {
		/* level 0 is the account itself, later ones the groups
		 * found by the level before */
		const char *dn = r->group_depth == 0 ? r->dn
		                 : i < to            ? r->groups[i]
		                                     : NULL;

		if (dn == NULL)
			break;
		for (size_t a = 0; attrs[a] != NULL; a++) {
			sbuf_printf(f, "(%s%s=", attrs[a],
			            dirmap_ad(ac->opts.dirmap) ? ":" AD_IN_CHAIN
			                                         ":"
			                                       : "");
			ldfilter_escape(dn, strlen(dn), f);
			sbuf_append_str(f, ")");
		}
		if (r->group_depth == 0)
			break;
	}
	sbuf_append_str(f, ")");
	r->level_start = r->n_groups;
	s.filter = sbuf_data(f);
	r->search = ldpool_search(ac->pool, &s, groups_done, r);
	sbuf_deinit(&f);
}

static void groups_done(const struct ldconn_result *res, const char *dc,
                        void *ctx)
{
	struct authcheck_req *r = ctx;
	size_t before = r->n_groups;

	(void)dc;
	r->search = NULL;
	if (res->status != LDCONN_OK && res->status != LDCONN_NO_SUCH_OBJECT) {
		log_warn("authcheck",
		         "event=sender_groups_failed user=\"%s\" dn=\"%s\"",
		         r->user, r->dn);
		authcheck_req_finish(r, LOOKUP_TEMPFAIL,
		                     "the sender's groups cannot be read");
		return;
	}
	for (size_t i = 0; i < res->n_entries; i++) {
		char *k = restrict_dn_key(res->entries[i].dn);

		if (group_known(r, k)) {
			free(k);
			continue;
		}
		r->groups =
		    alloc_resize(r->groups, r->n_groups + 1, sizeof(char *));
		r->groups[r->n_groups++] = k;
	}
	r->group_depth++;
	if (dirmap_ad(r->ac->opts.dirmap) || r->n_groups == before ||
	    r->group_depth >= IDENTITY_MAX_DEPTH) {
		authcheck_req_finish(r, LOOKUP_OK, NULL);
		return;
	}
	level_search(r);
}

void authcheck_identity_groups(struct authcheck_req *r)
{
	r->group_depth = 0;
	r->level_start = 0;
	level_search(r);
}

struct authcheck_req *authcheck_identity_from(struct authcheck *ac,
                                              const char *addr,
                                              authcheck_cb *cb, void *ctx)
{
	struct authcheck_req *r =
	    authcheck_req_new(ac, REQ_IDENTITY, addr, cb, ctx);
	const char *error;

	/* Found as a recipient is: the envelope sender's owner, whatever
	 * its kind (a user, a contact, a group). */
	if (ac->address_filter == NULL ||
	    ldfilter_expand(ac->address_filter, addr, strlen(addr), &r->filter,
	                    &error) < 0) {
		authcheck_req_finish(r, LOOKUP_NOTFOUND, "no entry owns it");
		return r;
	}
	authcheck_account_search(r);
	return r;
}
