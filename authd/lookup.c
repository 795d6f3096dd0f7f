/*
 * lookup - from an address to its final recipients and next hops; see
 * lookup.h.
 *
 * One job runs per distinct address (identical lookups in flight wait on
 * the same job). A job is a set of tasks, each one LDAP search through the
 * pool: ADDR finds the owner of an address with the recipient filter, DN
 * reads one group member by its DN, RANGE reads the next slice of a large
 * AD member attribute ("member;range=1500-*"). Up to JOB_MAX_INFLIGHT
 * searches of a job run at once; the rest wait in the job's queue. The
 * job ends when no task is left, or at the first TEMPFAIL.
 *
 * What an entry means (disabled, group, forwards, own next hop, primary
 * address) is dirmap's answer; this file acts on it.
 */
#include "lookup.h"

#include <ldap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "alloc.h"
#include "cache.h"
#include "dcloc.h"
#include "dirmap.h"
#include "domains.h"
#include "ldfilter.h"
#include "ldpool.h"
#include "log.h"
#include "lookup_private.h"
#include "restrict.h"
#include "str.h"

#define JOB_MAX_INFLIGHT 64

static void job_run_queue(struct job *j);
static void task_result(const struct ldconn_result *res, const char *dc_uri,
                        void *ctx);
static void job_check_done(struct job *j);

static void job_fail(struct job *j, enum lookup_status status,
                     const char *reason)
{
	if (j->status_set)
		return;
	j->status_set = true;
	j->status = status;
	j->reason = alloc_strdup(reason);
	lookup_trace(j, "%s: %s",
	             status == LOOKUP_TEMPFAIL ? "TEMPFAIL" : "NOTFOUND",
	             reason);
	/* Nothing more is useful: drop what waits, cancel what runs. */
	lookup_job_cancel_tasks(j);
}

/*
 * A permanent problem with one branch (a member's forward that leads
 * nowhere, a loop): drop the branch, not the whole answer. Only when
 * nothing deliverable is left does the reason become the answer.
 */
static void job_skip(struct job *j, const char *reason)
{
	lookup_trace(j, "drop this branch: %s", reason);
	if (j->skip_reason == NULL)
		j->skip_reason = alloc_strdup(reason);
}

static bool job_add_dest(struct job *j, const char *addr, const char *hop)
{
	char *key = lookup_lower_dup(addr);

	if (!lookup_set_add(&j->dest_set, key)) {
		free(key);
		return true; /* already there */
	}
	free(key);
	if (j->n_dests >= j->lk->map.max_expansion) {
		char reason[128];

		snprintf(reason, sizeof(reason),
		         "expands to more than %u recipients",
		         j->lk->map.max_expansion);
		job_fail(j, LOOKUP_TEMPFAIL, reason);
		return false;
	}
	if (j->n_dests == j->cap_dests) {
		j->cap_dests = j->cap_dests == 0 ? 8 : j->cap_dests * 2;
		j->dests =
		    alloc_resize(j->dests, j->cap_dests, sizeof(*j->dests));
	}
	j->dests[j->n_dests].addr = alloc_strdup(addr);
	j->dests[j->n_dests].hop = alloc_strdup(hop);
	j->dests[j->n_dests].path = j->cur_rnode;
	j->dests[j->n_dests].max_kb = 0;    /* lookup_restrict()'s */
	j->dests[j->n_dests].sender = NULL; /* and this */
	j->n_dests++;
	lookup_trace(j, "deliver %s -> %s", addr, hop);
	return true;
}

/* Forward to target (one hop further along chain). */
static void job_forward(struct job *j, const char *target, unsigned depth,
                        const char *chain)
{
	struct lookup *lk = j->lk;
	const char *at = strrchr(target, '@');
	const char *hop = NULL;
	char lower[LOOKUP_ADDR_MAX + 1];
	size_t n = strlen(target);

	if (at == NULL || n > LOOKUP_ADDR_MAX) {
		lookup_trace(j, "skip forward to malformed address %s", target);
		return;
	}
	memcpy(lower, target, n + 1);
	str_lower_ascii(lower, n);
	if (lookup_chain_has(chain, lower)) {
		job_skip(j, "mail forwarding loop");
		return;
	}
	if (depth > lk->map.max_hops) {
		job_skip(j, "too many forwarding hops");
		return;
	}
	switch (domains_classify(lk->domains, at + 1, &hop)) {
	case DOMAINS_LOCAL:
	case DOMAINS_INTERNAL_RELAY:
		lookup_trace(j, "forward to %s (local: look up again)", target);
		lookup_task_addr(j, target, depth, chain);
		return;
	case DOMAINS_UNKNOWN:
		job_fail(j, LOOKUP_TEMPFAIL,
		         "accepted domains not loaded from the directory yet");
		return;
	case DOMAINS_EXTERNAL_RELAY:
		job_add_dest(j, target, hop != NULL ? hop : "local");
		return;
	case DOMAINS_EXTERNAL:
		job_add_dest(j, target, hop != NULL ? hop : "external");
		return;
	}
}

/* Mailbox: deliver addr to the entry's own hop or its domain's. */
static void job_mailbox(struct job *j, const char *own_hop, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *dhop = NULL;
	enum domains_kind kind = DOMAINS_LOCAL;

	if (at != NULL)
		kind = domains_classify(j->lk->domains, at + 1, &dhop);
	if (own_hop != NULL) {
		job_add_dest(j, addr, own_hop);
		return;
	}
	if (kind == DOMAINS_EXTERNAL) {
		job_add_dest(j, addr, dhop != NULL ? dhop : "external");
		return;
	}
	/* An internal relay's hop is the other mail system's: our own
	 * mailboxes there go by routerd's route, smarthost or MX. */
	if (kind == DOMAINS_INTERNAL_RELAY)
		dhop = NULL;
	job_add_dest(j, addr, dhop != NULL ? dhop : "local");
}

/*
 * An address the directory does not hold, in an internal relay domain:
 * the other mail system's, relayed to the domain's hop. True when the
 * domain is one (the job has a destination, or a TEMPFAIL when the domain
 * has no hop).
 */
static bool job_relay_unknown(struct job *j, const char *addr, unsigned depth)
{
	const char *at = strrchr(addr, '@');
	const char *hop = NULL;

	if (at == NULL || domains_classify(j->lk->domains, at + 1, &hop) !=
	                      DOMAINS_INTERNAL_RELAY)
		return false;
	if (hop == NULL) {
		job_fail(j, LOOKUP_TEMPFAIL,
		         "internal relay domain without a next hop "
		         "(dirmxNextHop)");
		return true;
	}
	lookup_trace(j, "no object has %s: internal relay to %s", addr, hop);
	if (depth == 0)
		j->relayed_unknown = true;
	job_add_dest(j, addr, hop);
	return true;
}

/* An entry holds a value we cannot read: TEMPFAIL, never a guess. */
static void job_unreadable(struct job *j, const struct ldconn_entry *e,
                           const char *error)
{
	char *reason = alloc_printf("directory: %s", error);

	log_warn("lookup", "event=unreadable dn=\"%s\" error=\"%s\"", e->dn,
	         error);
	job_fail(j, LOOKUP_TEMPFAIL, reason);
	free(reason);
}

/* What the entry says, once its restrictions are noted. */
static void entry_act(struct job *j, const struct ldconn_entry *e,
                      const struct dirmap_recipient *r, const char *addressed,
                      unsigned depth, const char *chain)
{
	struct lookup *lk = j->lk;
	struct dirmap_iter it = {0};
	const char *value, *target;

	if (r->group) {
		if (depth > lk->map.max_hops) {
			job_skip(j, "groups nested too deep");
			return;
		}
		lookup_expand_group(j, e, depth);
		return;
	}
	if (r->forwards) {
		while (!j->status_set &&
		       dirmap_forward_next(lk->dm, e, &it, &value, &target)) {
			if (target == NULL)
				lookup_trace(j,
				             "skip forward to %s: not a mail "
				             "address",
				             value);
			else if (r->hop != NULL)
				/* A rewrite delivered to the entry's host. */
				job_add_dest(j, target, r->hop);
			else
				job_forward(j, target, depth + 1, chain);
		}
		return;
	}
	if (addressed == NULL) {
		addressed = r->primary;
		if (addressed == NULL) {
			lookup_trace(j, "skip %s: no mail address", e->dn);
			return;
		}
	}
	job_mailbox(j, r->hop, addressed);
}

void lookup_process_entry(struct job *j, const struct ldconn_entry *e,
                          const char *addressed, unsigned depth,
                          const char *chain)
{
	struct lookup *lk = j->lk;
	struct dirmap_recipient r;
	struct restrict_rules rules;
	unsigned saved = j->cur_rnode;
	const char *error, *owner_dn = NULL;
	int has;

	if (!lookup_set_add(&j->dn_set, e->dn)) {
		lookup_trace(j, "skip %s: already expanded (cycle or repeat)",
		             e->dn);
		return;
	}
	lookup_trace(j, "object %s", e->dn);
	{
		char id[33];

		if (dirmap_object_id(lk->dm, e, id))
			lookup_tag(j, 'g', id);
		lookup_tag(j, 'd', e->dn);
	}
	if (dirmap_recipient(lk->dm, e, &r, &error) < 0) {
		job_unreadable(j, e, error);
		return;
	}
	if (r.disabled) {
		if (depth == 0)
			job_fail(j, LOOKUP_NOTFOUND, "account disabled");
		else
			lookup_trace(j, "skip %s: account disabled", e->dn);
		return;
	}
	has = restrict_rules_read(e, &rules, &error);
	/* a group's: where its members' reports go (restrict_report.c) */
	if (has >= 0 && r.group &&
	    restrict_report_read(e, &rules, &owner_dn, &error) < 0) {
		restrict_rules_clear(&rules);
		has = -1;
	}
	if (has < 0) {
		job_unreadable(j, e, error);
		return;
	}
	if (restrict_rules_any(&rules)) {
		char *line = restrict_rules_format(&rules);

		lookup_trace(j, "sender restrictions of %s: %s", e->dn, line);
		j->cur_rnode = lookup_job_rnode(j, line, depth == 0);
		if (owner_dn != NULL)
			lookup_task_owner(j, owner_dn);
		restrict_rules_clear(&rules);
	}
	entry_act(j, e, &r, addressed, depth, chain);
	j->cur_rnode = saved;
}

/* The answer of an ADDR task: who owns the address? */
void lookup_addr_result(struct job *j, struct task *t,
                        const struct ldconn_result *res)
{
	if (res->status == LDCONN_SIZELIMIT ||
	    (res->status == LDCONN_OK && res->n_entries > 1)) {
		log_warn("lookup",
		         "event=duplicate address=%s dn1=\"%s\" "
		         "dn2=\"%s\"",
		         t->addr != NULL ? t->addr : t->dn,
		         res->n_entries > 0 ? res->entries[0].dn : "?",
		         res->n_entries > 1 ? res->entries[1].dn : "?");
		lookup_trace(j, "duplicate: %s and %s both claim %s",
		             res->n_entries > 0 ? res->entries[0].dn : "?",
		             res->n_entries > 1 ? res->entries[1].dn : "?",
		             t->addr != NULL ? t->addr : t->dn);
		job_fail(j, LOOKUP_TEMPFAIL,
		         "two directory objects claim this address");
		return;
	}
	if (res->status != LDCONN_OK && res->status != LDCONN_NO_SUCH_OBJECT) {
		char *reason = alloc_printf(
		    "directory: %s", res->error != NULL ? res->error : "error");

		job_fail(j, LOOKUP_TEMPFAIL, reason);
		free(reason);
		return;
	}
	if (res->n_entries == 0) {
		if (t->depth == 0 && !t->stripped &&
		    lookup_try_subaddress(j, t))
			return;
		if (job_relay_unknown(j, t->depth == 0 ? j->address : t->addr,
		                      t->depth))
			return;
		lookup_trace(j, "no object has %s", t->addr);
		if (t->depth == 0)
			job_fail(j, LOOKUP_NOTFOUND, "no such recipient");
		else
			job_skip(j, "forwarding target does not exist");
		return;
	}
	/* The owner of a looked-up address receives it as addressed: a
	 * +detail address found through its base keeps its detail. */
	lookup_process_entry(j, &res->entries[0],
	                     t->stripped ? j->address : t->addr, t->depth,
	                     t->chain);
}

static void job_start_local(struct job *j)
{
	lookup_task_addr(j, j->address, 0, NULL);
}

void lookup_job_begin(struct job *j)
{
	struct lookup *lk = j->lk;
	const char *at = strrchr(j->address, '@');
	const char *hop = NULL;

	switch (domains_classify(lk->domains, at + 1, &hop)) {
	case DOMAINS_UNKNOWN:
		job_fail(j, LOOKUP_TEMPFAIL,
		         "accepted domains not loaded from the directory yet");
		break;
	case DOMAINS_EXTERNAL:
		lookup_trace(j, "domain %s is not local", at + 1);
		job_add_dest(j, j->address, hop != NULL ? hop : "external");
		break;
	case DOMAINS_EXTERNAL_RELAY:
		lookup_trace(j, "domain %s is an external relay", at + 1);
		job_add_dest(j, j->address, hop != NULL ? hop : "local");
		break;
	case DOMAINS_LOCAL:
		lookup_trace(j, "domain %s is local", at + 1);
		job_start_local(j);
		break;
	case DOMAINS_INTERNAL_RELAY:
		lookup_trace(j,
		             "domain %s is an internal relay: look up, relay "
		             "the unknown to %s",
		             at + 1, hop != NULL ? hop : "(no next hop)");
		job_start_local(j);
		break;
	}
	job_run_queue(j);
	job_check_done(j);
}

static void job_run_queue(struct job *j)
{
	while (!TAILQ_EMPTY(&j->queue) && j->inflight < JOB_MAX_INFLIGHT &&
	       !j->status_set)
		lookup_task_send(j, lookup_task_dequeue(j), task_result);
}

void lookup_task_finished(struct job *j)
{
	job_run_queue(j);
	job_check_done(j);
}

static void job_check_done(struct job *j)
{
	if (!j->status_set && (j->inflight > 0 || !TAILQ_EMPTY(&j->queue)))
		return;
	if (j->finishing)
		return;
	j->finishing = true;
	if (!j->status_set) {
		j->status_set = true;
		if (j->n_dests == 0) {
			j->status = LOOKUP_NOTFOUND;
			j->reason =
			    alloc_strdup(j->skip_reason != NULL
			                     ? j->skip_reason
			                     : "no deliverable recipients");
		} else {
			j->status = LOOKUP_OK;
		}
	}
	lookup_job_finish(j);
}

void lookup_map_preset(struct lookup_map *map, bool ad)
{
	map->subaddress_delim = '+';
	map->max_expansion = 10000;
	map->max_hops = 10;
	/* proxyAddresses matches case-insensitively: "smtp:" finds the
	 * primary "SMTP:" address and the aliases alike. */
	map->recipient_filter = ad ? "(|(mail=%s)(proxyAddresses=smtp:%s))"
	                           : "(|(mail=%s)(mailLocalAddress=%s))";
}

/* A search ended: what its result means is decided here, the task's
 * bookkeeping is lookup_job.c's. */
static void task_result(const struct ldconn_result *res, const char *dc_uri,
                        void *ctx)
{
	struct task *t = ctx;
	struct job *j = t->j;

	lookup_task_detach(t);
	j->cur_rnode = t->rnode;
	if (dc_uri != NULL && j->dc == NULL)
		j->dc = alloc_strdup(dc_uri);
	if (!j->status_set) {
		switch (t->kind) {
		case TASK_ADDR:
			lookup_addr_result(j, t, res);
			break;
		case TASK_DN:
			if (res->status == LDCONN_OK && res->n_entries == 1)
				lookup_process_entry(j, &res->entries[0], NULL,
				                     t->depth, NULL);
			else if (res->status == LDCONN_NO_SUCH_OBJECT ||
			         res->status == LDCONN_OK)
				; /* a dangling member DN: nothing to deliver */
			else
				lookup_addr_result(j, t, res);
			break;
		case TASK_RANGE:
			lookup_range_result(j, t, res);
			break;
		case TASK_DNS:
			lookup_dns_result(j, t, res);
			break;
		case TASK_OWNER:
			lookup_owner_result(j, t, res);
			break;
		}
	}
	j->cur_rnode = 0;
	lookup_task_free(t);
	lookup_task_finished(j);
}

struct lookup_req *lookup_start(struct lookup *lk, const char *address,
                                unsigned flags, lookup_cb *cb, void *ctx)
{
	return lookup_job_start(lk, address, flags, cb, ctx, lookup_job_begin);
}
