/*
 * lookup_restrict - a lookup's answer as one sender may have it; see
 * lookup.h (lookup_restrict()).
 *
 * The answer, cached or fresh, holds every recipient the address leads
 * to and the sender restrictions met on the way; the decision is
 * restrict_filter()'s, made here per request, so the cache key stays the
 * address and a second sender costs no search. Each recipient kept also
 * gets its size limit and the envelope sender of its copy (where its
 * groups' reports go) from the same tree.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "lookup.h"

/* No decision can be made: TEMPFAIL, never a pass (why: static). */
static const struct lookup_answer *tempfail(struct lookup_answer *f_r,
                                            const char *log_id, uint64_t id,
                                            const char *why)
{
	log_error(log_id,
	          "event=rcpt_restricted id=%llu action=tempfail "
	          "error=\"%s\"",
	          (unsigned long long)id, why);
	f_r->status = LOOKUP_TEMPFAIL;
	f_r->reason = why;
	f_r->n_dests = 0;
	f_r->dests = NULL;
	return f_r;
}

const struct lookup_answer *lookup_restrict(const struct lookup_answer *a,
                                            const struct restrict_sender *s,
                                            const char *log_id, uint64_t id,
                                            struct lookup_answer *f_r)
{
	unsigned *paths;
	bool *keep;
	enum restrict_rule rule;
	struct lookup_dest *dests;
	size_t n = 0;

	memset(f_r, 0, sizeof(*f_r));
	if (a->status != LOOKUP_OK || a->n_rnodes == 0)
		return a;
	*f_r = *a;
	if (s->identity_failed)
		return tempfail(f_r, log_id, id,
		                "the sender's identity cannot be read");
	paths = alloc_array(a->n_dests + 1, sizeof(*paths));
	keep = alloc_array(a->n_dests + 1, sizeof(*keep));
	for (size_t i = 0; i < a->n_dests; i++)
		paths[i] = a->dests[i].path;
	if (restrict_filter(s, a->rnodes, a->n_rnodes, paths, a->n_dests, keep,
	                    &rule) < 0) {
		tempfail(f_r, log_id, id, "sender restrictions do not read");
		goto done;
	}
	dests = alloc_array(a->n_dests + 1, sizeof(*dests));
	for (size_t i = 0; i < a->n_dests; i++) {
		if (keep[i]) {
			uint64_t kb = 0;

			dests[n] = a->dests[i];
			if (restrict_path_limit(a->rnodes, a->n_rnodes,
			                        a->dests[i].path, &kb) == 0)
				dests[n].max_kb = kb;
			if (restrict_path_report(a->rnodes, a->n_rnodes,
			                         a->dests[i].path,
			                         &dests[n].sender) < 0)
				dests[n].sender = NULL;
			n++;
			continue;
		}
		if (rule == RESTRICT_ALLOWED)
			log_info(log_id,
			         "event=rcpt_restricted id=%llu member=<%s> "
			         "action=dropped",
			         (unsigned long long)id, a->dests[i].addr);
	}
	f_r->dests = dests;
	f_r->n_dests = n;
	if (rule != RESTRICT_ALLOWED) {
		log_info(log_id,
		         "event=rcpt_restricted id=%llu rule=%s sender=%s "
		         "action=refused",
		         (unsigned long long)id, restrict_rule_attr(rule),
		         s->authenticated ? "authenticated" : "nobody");
		f_r->status = LOOKUP_NOTFOUND;
		f_r->reason = restrict_rule_why(rule);
		f_r->restricted = restrict_rule_attr(rule);
		for (size_t i = 0; i < n; i++)
			free(dests[i].sender);
		f_r->n_dests = 0;
	}
done:
	free(paths);
	free(keep);
	return f_r;
}

void lookup_restrict_clear(struct lookup_answer *f)
{
	struct lookup_dest *d = (struct lookup_dest *)f->dests;

	for (size_t i = 0; d != NULL && i < f->n_dests; i++)
		free(d[i].sender);
	free(d);
	memset(f, 0, sizeof(*f));
}
