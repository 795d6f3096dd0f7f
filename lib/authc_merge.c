/*
 * authc_merge - the LOOKUPs in flight, by what they ask
 *
 * SYNOPSIS
 *	m = authc_merge_new();
 *	r = authc_merge_find(m, addr, context, user, from);
 *	authc_merge_add(m, addr, context, user, from, r);
 *	authc_merge_forget(m, r);
 *	authc_merge_deinit(&m);
 *
 * DESCRIPTION
 *	See authc_private.h. The key is (address, context, who sends: the
 *	authenticated user, or the envelope sender authd is to find the
 *	owner of, or no one) byte for byte: two spellings of one address
 *	are two lookups, as they are for authd, and two senders never share
 *	an answer, which authd filters for its sender. The table is a POSIX
 *binary search tree (tsearch: red-black in glibc), not a hash table: its keys
 *come from SMTP clients, and a tree gives them no collisions to aim at.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authc_private.h"

struct authc_merge_entry {
	struct authc_req *req;
	size_t len;
	char key[]; /* addr NUL context NUL ('-' | 'u' user | 'f' from) */
};

struct authc_merge {
	void *root;
	size_t n;
};

static struct authc_merge_entry *entry_new(const char *addr,
                                           const char *context,
                                           const char *user, const char *from)
{
	const char *who = user != NULL ? user : from;
	size_t la = strlen(addr), lc = strlen(context);
	size_t lu = who != NULL ? strlen(who) : 0;
	size_t len = la + 1 + lc + 1 + 1 + lu;
	struct authc_merge_entry *e;
	size_t size;
	char *p;

	if (!alloc_add_ok(sizeof(*e), len, &size))
		abort(); /* names are bounded long before this */
	e = alloc_zero(size);
	e->len = len;
	p = e->key;
	memcpy(p, addr, la + 1);
	p += la + 1;
	memcpy(p, context, lc + 1);
	p += lc + 1;
	*p++ = user != NULL ? 'u' : from != NULL ? 'f' : '-';
	if (lu > 0)
		memcpy(p, who, lu);
	return e;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct authc_merge_entry *x = a, *y = b;
	int d = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (d != 0)
		return d;
	return (x->len > y->len) - (x->len < y->len);
}

struct authc_merge *authc_merge_new(void)
{
	return alloc_new(struct authc_merge);
}

void authc_merge_deinit(struct authc_merge **mp)
{
	struct authc_merge *m = *mp;

	if (m == NULL)
		return;
	/* Every request left the table before it was freed. */
	if (m->n != 0 || m->root != NULL)
		abort();
	free(m);
	*mp = NULL;
}

struct authc_req *authc_merge_find(struct authc_merge *m, const char *addr,
                                   const char *context, const char *user,
                                   const char *from)
{
	struct authc_merge_entry *key = entry_new(addr, context, user, from);
	struct authc_merge_entry **found = tfind(key, &m->root, entry_cmp);

	free(key);
	return found != NULL ? (*found)->req : NULL;
}

void authc_merge_add(struct authc_merge *m, const char *addr,
                     const char *context, const char *user, const char *from,
                     struct authc_req *r, struct authc_merge_entry **entry_r)
{
	struct authc_merge_entry *e = entry_new(addr, context, user, from);
	struct authc_merge_entry **slot = tsearch(e, &m->root, entry_cmp);

	if (slot == NULL)
		abort(); /* out of memory (alloc.h) */
	if (*slot != e)
		abort(); /* a second request for a key in flight: a bug */
	e->req = r;
	m->n++;
	*entry_r = e;
}

void authc_merge_forget(struct authc_merge *m, struct authc_merge_entry **entry)
{
	struct authc_merge_entry *e = *entry;

	if (e == NULL)
		return;
	if (tdelete(e, &m->root, entry_cmp) == NULL)
		abort(); /* not in the table: a bug */
	m->n--;
	free(e);
	*entry = NULL;
}
