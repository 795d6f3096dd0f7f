/*
 * queue_rehop - before a retry, ask authd again where each waiting
 * recipient's mail goes, for queue_deliver.c.
 *
 * A recipient's next hop is stored in the spool record when the message is
 * accepted. When the directory changes (mailHost moved to a new mailbox
 * server) while mail waits for a retry, the retry must follow the
 * directory, not the hop it was accepted with: before every attempt after
 * the first, each recipient that is still waiting and not external is
 * looked up again (authd's cache makes this free when nothing changed;
 * authd drops the cached answer when the directory changes). Only a plain
 * answer replaces the hop: the same single recipient with a new hop. An
 * answer that would change the recipients (now a group or a forward), a
 * NOTFOUND or a TEMPFAIL keeps the hop the message was accepted with: the
 * recipients of an accepted message are final.
 */
#include "queue_private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "authc.h"
#include "log.h"

struct rehop {
	struct attempt *a;
	size_t i;
	struct authc_req *req;
};

static void rehop_done(struct attempt *a)
{
	if (--a->rehop_pending > 0)
		return;
	free(a->rehops);
	a->rehops = NULL;
	a->n_rehops = 0;
	a->rehop_next(a);
}

static void looked_up(const struct authc_lookup_result *r, void *ctx)
{
	struct rehop *h = ctx;
	struct attempt *a = h->a;
	struct spoolrec_rcpt *rc = &a->m->env->rcpts[h->i];

	h->req = NULL;
	if (r->status == AUTHC_OK && r->n_dests == 1 &&
	    strcasecmp(r->dests[0].rcpt, rc->addr) == 0 &&
	    strcmp(r->dests[0].hop, rc->hop) != 0) {
		log_info(a->m->id, "event=rehop rcpt=<%s> from=%s to=%s",
		         rc->addr, rc->hop, r->dests[0].hop);
		spoolrec_set(&rc->hop, r->dests[0].hop);
	}
	rehop_done(a);
}

void queue_rehop_start(struct attempt *a, void (*next)(struct attempt *a))
{
	struct qmsg *m = a->m;
	struct spoolrec *env = m->env;
	size_t n = 0;

	a->rehop_next = next;
	if (m->attempts == 0 || m->q->authc == NULL) {
		next(a);
		return;
	}
	a->rehops = alloc_array(env->rcpt_count + 1, sizeof(*a->rehops));
	a->rehop_pending = 1; /* this function's own */
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct spoolrec_rcpt *rc = &env->rcpts[i];
		struct rehop *h;

		/* too big for it: bounced, whatever the directory says */
		if ((rc->state != SPOOLREC_PENDING &&
		     rc->state != SPOOLREC_DEFERRED) ||
		    strcmp(rc->hop, "external") == 0 ||
		    strcmp(rc->hop, SPOOLREC_HOP_TOO_BIG) == 0)
			continue;
		h = &a->rehops[n++];
		h->a = a;
		h->i = i;
		a->rehop_pending++;
		h->req = authc_lookup(m->q->authc, rc->addr, "mx", NULL,
		                      looked_up, h);
	}
	a->n_rehops = n;
	rehop_done(a);
}

void queue_rehop_cancel(struct attempt *a)
{
	for (size_t i = 0; i < a->n_rehops; i++)
		authc_cancel(&a->rehops[i].req);
	free(a->rehops);
	a->rehops = NULL;
	a->n_rehops = 0;
}
