/*
 * server_lookup - LOOKUP, and SENDERS with from=: who sends, then what a
 * recipient's answer is for that sender; see server_private.h.
 *
 * The sender (restrict.h) is the authenticated account's entry (user=),
 * the entry that owns the envelope sender (from=, which routerd sends
 * only with trust_envelope_sender_for_restrictions and no user=), or
 * nobody. Its identity is read once and cached with the answers
 * (lookup_identity_get()), so a second message of the same sender costs
 * no search; then the recipient is looked up as for anyone and
 * lookup_restrict() filters the answer for this sender. SENDERS from=
 * asks the identity alone: the owner's submissionContLength, for the
 * MAIL SIZE= check.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authcheck.h"
#include "log.h"
#include "lookup.h"
#include "restrict.h"
#include "server.h"
#include "server_private.h"

struct server_lookup {
	const struct server_backends *b;
	server_lookup_done_fn *done;
	void *ctx;
	const char *conn_name; /* the connection's: it outlives us */
	uint64_t id;
	bool senders; /* SENDERS from=: the answer is the identity */
	struct lookup_req *lreq;
	struct authcheck_req *areq;
	struct restrict_sender sender;
	struct lookup_identity ident;
	char *addr, *name; /* name: the identity's cache key */
	unsigned flags;
	uint64_t seq;
};

static void sl_free(struct server_lookup *l)
{
	lookup_cancel(&l->lreq);
	authcheck_cancel(&l->areq);
	lookup_identity_clear(&l->ident);
	free(l->addr);
	free(l->name);
	free(l);
}

/* Free l, then hand its answer over (the caller may free its owner). */
static void sl_finish(struct server_lookup *l, struct authproto_msg *m)
{
	server_lookup_done_fn *done = l->done;
	void *ctx = l->ctx;

	l->lreq = NULL;
	l->areq = NULL;
	sl_free(l);
	done(ctx, m);
}

static struct authproto_msg *lookup_answer(struct server_lookup *l,
                                           const struct lookup_answer *whole)
{
	struct lookup_answer f;
	const struct lookup_answer *a =
	    lookup_restrict(whole, &l->sender, l->conn_name, l->id, &f);
	enum authproto_verb v = a->status == LOOKUP_OK ? AUTHPROTO_OK
	                        : a->status == LOOKUP_NOTFOUND
	                            ? AUTHPROTO_NOTFOUND
	                            : AUTHPROTO_TEMPFAIL;
	struct authproto_msg *m =
	    authproto_msg_new_answer(v, AUTHPROTO_LOOKUP, l->id);

	if (a->restricted != NULL)
		authproto_msg_add_str(m, "restricted", a->restricted);
	if (a->status == LOOKUP_OK) {
		for (size_t i = 0; i < a->n_dests; i++) {
			authproto_msg_add_str(m, "rcpt", a->dests[i].addr);
			authproto_msg_add_str(m, "hop", a->dests[i].hop);
			if (a->dests[i].max_kb > 0)
				authproto_msg_add_uint(m, "maxkb",
				                       a->dests[i].max_kb);
			if (a->dests[i].sender != NULL)
				authproto_msg_add_str(m, "sender",
				                      *a->dests[i].sender !=
				                              '\0'
				                          ? a->dests[i].sender
				                          : "<>");
		}
		authproto_msg_add_str(m, "cached", a->cached ? "1" : "0");
		authproto_msg_add_str(m, "domain", a->domain);
	} else {
		authproto_msg_add_str(m, "reason", a->reason);
	}
	if (a->dc != NULL)
		authproto_msg_add_str(m, "dc", a->dc);
	if (a->rule != NULL)
		authproto_msg_add_str(m, "rule", a->rule);
	for (size_t i = 0; i < a->n_trace; i++)
		authproto_msg_add_str(m, "trace", a->trace[i]);
	log_info(l->conn_name,
	         "event=lookup id=%llu status=%s dests=%zu "
	         "searches=%u cached=%d",
	         (unsigned long long)l->id,
	         a->status == LOOKUP_OK         ? "ok"
	         : a->status == LOOKUP_NOTFOUND ? "notfound"
	                                        : "tempfail",
	         a->n_dests, a->searches, a->cached ? 1 : 0);
	lookup_restrict_clear(&f);
	return m;
}

static void lookup_done(const struct lookup_answer *whole, void *ctx)
{
	struct server_lookup *l = ctx;

	l->lreq = NULL;
	sl_finish(l, lookup_answer(l, whole));
}

/* SENDERS from=: the owner's limit, or NOTFOUND (nobody: no limit). */
static struct authproto_msg *senders_answer(const struct server_lookup *l)
{
	struct authproto_msg *m;

	if (l->sender.identity_failed) {
		m = authproto_msg_new_answer(AUTHPROTO_TEMPFAIL,
		                             AUTHPROTO_SENDERS, l->id);
		authproto_msg_add_str(m, "reason",
		                      "the sender's entry cannot be read");
	} else if (l->ident.dn == NULL) {
		m = authproto_msg_new_answer(AUTHPROTO_NOTFOUND,
		                             AUTHPROTO_SENDERS, l->id);
		authproto_msg_add_str(m, "reason", "no entry owns the sender");
	} else {
		m = authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_SENDERS,
		                             l->id);
		if (l->ident.send_max_kb > 0)
			authproto_msg_add_uint(m, "send_maxkb",
			                       l->ident.send_max_kb);
	}
	return m;
}

/* The identity is known (or known to be unreadable): on to the answer.
 * NULL when it comes later. */
static struct authproto_msg *identity_ready(struct server_lookup *l)
{
	l->sender.dn = l->ident.dn;
	l->sender.groups = (const char *const *)l->ident.groups;
	l->sender.n_groups = l->ident.n_groups;
	if (l->senders)
		return senders_answer(l);
	l->lreq = lookup_start(l->b->lookup, l->addr, l->flags, lookup_done, l);
	return NULL;
}

static void identity_done(const struct authcheck_answer *a, void *ctx)
{
	struct server_lookup *l = ctx;
	struct authproto_msg *m;

	l->areq = NULL;
	if (a->status == LOOKUP_OK) {
		l->ident.dn = restrict_dn_key(a->dn);
		l->ident.groups = alloc_array(a->n_groups + 1, sizeof(char *));
		for (size_t i = 0; i < a->n_groups; i++)
			l->ident.groups[i] = alloc_strdup(a->groups[i]);
		l->ident.n_groups = a->n_groups;
		l->ident.send_max_kb = a->send_max_kb;
	}
	if (a->status == LOOKUP_TEMPFAIL) {
		log_warn(l->conn_name,
		         "event=sender_identity id=%llu status=tempfail "
		         "reason=\"%s\"",
		         (unsigned long long)l->id, a->reason);
		l->sender.identity_failed = true;
	} else {
		/* NOTFOUND: no entry: nobody, and cached as such */
		lookup_identity_put(l->b->lookup, l->name, l->seq, &l->ident);
	}
	m = identity_ready(l);
	if (m != NULL)
		sl_finish(l, m);
}

struct server_lookup *server_lookup_start(const struct server_backends *b,
                                          const struct authproto_msg *req,
                                          const char *conn_name,
                                          server_lookup_done_fn *done,
                                          void *ctx,
                                          struct authproto_msg **now_r)
{
	struct server_lookup *l = alloc_new(struct server_lookup);
	const char *trace = authproto_msg_get(req, "trace");
	const char *nocache = authproto_msg_get(req, "nocache");
	const char *user = authproto_msg_get(req, "user");
	const char *from = authproto_msg_get(req, "from");

	*now_r = NULL;
	l->b = b;
	l->done = done;
	l->ctx = ctx;
	l->conn_name = conn_name;
	l->id = authproto_msg_id(req);
	l->senders = authproto_msg_verb(req) == AUTHPROTO_SENDERS;
	if (!l->senders)
		l->addr = alloc_strdup(authproto_msg_get(req, "addr"));
	if (trace != NULL && strcmp(trace, "1") == 0)
		l->flags |= LOOKUP_F_TRACE;
	if (nocache != NULL && strcmp(nocache, "1") == 0)
		l->flags |= LOOKUP_F_NOCACHE;
	/* An authenticated sender is its account's entry; an
	 * unauthenticated one is nobody, or with from= the entry that owns
	 * the envelope sender (restrict.h). */
	l->sender.authenticated = user != NULL;
	if (user != NULL)
		l->name = alloc_strdup(user);
	else if (from != NULL)
		l->name = alloc_printf(LOOKUP_IDENTITY_FROM "%s", from);
	if (l->name == NULL || b->auth == NULL) {
		l->sender.identity_unknown = user != NULL;
		*now_r = identity_ready(l);
	} else if (lookup_identity_get(b->lookup, l->name, &l->ident)) {
		*now_r = identity_ready(l);
	} else {
		l->seq = lookup_identity_seq(b->lookup);
		l->areq =
		    user != NULL
		        ? authcheck_identity(b->auth, user, identity_done, l)
		        : authcheck_identity_from(b->auth, from, identity_done,
		                                  l);
	}
	if (*now_r != NULL) {
		sl_free(l);
		return NULL;
	}
	return l;
}

void server_lookup_cancel(struct server_lookup **lp)
{
	if (*lp == NULL)
		return;
	sl_free(*lp);
	*lp = NULL;
}
