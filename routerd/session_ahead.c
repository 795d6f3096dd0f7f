/*
 * session_ahead - the RCPT look-ahead. When a RCPT waits for authd, the
 * lookups of the RCPT lines the client pipelined behind it start at
 * once, so that N recipients cost about one round trip to authd (and to
 * the directory) instead of N; each answer waits here for its RCPT's
 * turn, and the replies go out in command order as before.
 *
 * The look-ahead only starts lookups. Every decision is still made in
 * order by session_envelope.c, which parses each line again when its
 * turn comes (limits, policy, relay check, the postmaster, the reply,
 * the log) and takes an answer from here only for the very line and
 * address it was asked for. When its turn comes before its answer, the
 * RCPT waits for that lookup rather than asking again.
 *
 * What is looked at: only whole RCPT lines directly behind the RCPT
 * being answered, already received, at most AHEAD_MAX of them and no
 * more than the transaction may still accept. The first line that is
 * anything else (another verb, a RCPT that does not parse, an over-long
 * or incomplete line) ends the look-ahead, so nothing behind a DATA,
 * BDAT, RSET, AUTH or STARTTLS is ever read: payload bytes (DESIGN.md
 * invariant 7) and bytes that came before a TLS handshake (which drops
 * them) never start anything. Answers never used (RSET, a new EHLO, the
 * session's end) are dropped with the transaction.
 */
#include "session_private.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

#define AHEAD_MAX 32

struct session_ahead {
	struct session_ahead *next;
	struct session *s;
	char *arg; /* the RCPT's argument: the line it was made for */
	size_t arg_len;
	char *addr;            /* what authd was asked; NULL: nothing */
	struct authc_req *req; /* in flight */
	bool wanted;           /* its RCPT waits for it (s->ahead_wait) */
	bool answered;
	/* the answer, kept until the RCPT's turn */
	enum authc_status status;
	char *reason, *domain;
	bool cached;
	size_t n_dests;
	struct authc_dest *dests; /* strings owned */
};

static void ahead_done(const struct authc_lookup_result *r, void *ctx)
{
	struct session_ahead *a = ctx;
	struct session *s = a->s;

	a->req = NULL;
	if (a->wanted) {
		s->ahead_wait = NULL;
		session_ahead_free(&a);
		session_rcpt_answered(s, r);
		return;
	}
	a->answered = true;
	a->status = r->status;
	a->reason = alloc_strdup(r->reason);
	a->domain = alloc_strdup(r->domain);
	a->cached = r->cached;
	a->dests = alloc_array(r->n_dests + 1, sizeof(*a->dests));
	for (size_t i = 0; i < r->n_dests; i++) {
		a->dests[i].rcpt = alloc_strdup(r->dests[i].rcpt);
		a->dests[i].hop = alloc_strdup(r->dests[i].hop);
	}
	a->n_dests = r->n_dests;
}

void session_ahead_free(struct session_ahead **ap)
{
	struct session_ahead *a = *ap;

	if (a == NULL)
		return;
	authc_cancel(&a->req);
	for (size_t i = 0; i < a->n_dests; i++) {
		free((char *)a->dests[i].rcpt);
		free((char *)a->dests[i].hop);
	}
	free(a->dests);
	free(a->reason);
	free(a->domain);
	free(a->addr);
	free(a->arg);
	free(a);
	*ap = NULL;
}

void session_ahead_drop(struct session *s)
{
	session_ahead_free(&s->ahead_wait);
	while (s->ahead != NULL) {
		struct session_ahead *a = s->ahead;

		s->ahead = a->next;
		session_ahead_free(&a);
	}
}

struct session_ahead *session_ahead_next(struct session *s, const char *arg,
                                         size_t len)
{
	struct session_ahead *a = s->ahead;

	if (a == NULL)
		return NULL;
	if (a->arg_len != len || memcmp(a->arg, arg, len) != 0) {
		/* Out of step (cannot happen): use nothing of it. */
		log_warn(s->id, "event=rcpt_ahead_mismatch action=dropped");
		session_ahead_drop(s);
		return NULL;
	}
	s->ahead = a->next;
	a->next = NULL;
	return a;
}

bool session_ahead_answer(const struct session_ahead *a, const char *addr,
                          struct authc_lookup_result *r)
{
	if (a == NULL || !a->answered || a->addr == NULL ||
	    strcmp(a->addr, addr) != 0)
		return false;
	memset(r, 0, sizeof(*r));
	r->status = a->status;
	r->reason = a->reason;
	r->domain = a->domain;
	r->cached = a->cached;
	r->n_dests = a->n_dests;
	r->dests = a->dests;
	return true;
}

bool session_ahead_wait(struct session *s, struct session_ahead **ap,
                        const char *addr)
{
	struct session_ahead *a = *ap;

	if (a == NULL || a->req == NULL || strcmp(a->addr, addr) != 0)
		return false;
	a->wanted = true;
	s->ahead_wait = a;
	*ap = NULL;
	return true;
}

/* One RCPT line behind the current one: its entry, or NULL when the
 * look-ahead ends here. */
static struct session_ahead *ahead_new(struct session *s, const char *line,
                                       size_t len)
{
	struct session_ahead *a;
	struct smtpcmd_error e;
	struct smtpcmd cmd;
	char *addr;

	if (len + 2 > session_cmd_line_limit(line, len) ||
	    smtpcmd_parse(line, len, &cmd, &e) < 0 ||
	    cmd.verb != SMTPCMD_RCPT ||
	    session_rcpt_lookup_addr(s, cmd.arg, cmd.arg_len, &addr) < 0)
		return NULL;
	a = alloc_new(struct session_ahead);
	a->s = s;
	a->arg = alloc_memdup(cmd.arg, cmd.arg_len);
	a->arg_len = cmd.arg_len;
	a->addr = addr;
	if (addr != NULL)
		a->req = authc_lookup_from(
		    s->env->authc, addr, session_lookup_context(s),
		    s->auth_user, session_lookup_from(s), ahead_done, a);
	return a;
}

void session_ahead_scan(struct session *s, const struct smtpcmd *c)
{
	const struct session_params *p = s->env->params;
	struct session_ahead **tail = &s->ahead;
	size_t n = 0, started = 0, room = 0, off;
	const char *line;
	size_t len;

	/* Recipients the transaction may still take after this one. */
	if (p->max_recipients > s->n_rcpts + 1)
		room = p->max_recipients - s->n_rcpts - 1;
	if (room > AHEAD_MAX)
		room = AHEAD_MAX;
	/* The RCPT being answered is the first line of the input; the
	 * lines the look-ahead has already seen follow it. */
	if (session_input_line(s, 0, &line, &len) != 1 || c->arg < line ||
	    c->arg + c->arg_len > line + len)
		return;
	off = len + 2;
	for (; *tail != NULL; tail = &(*tail)->next, n++) {
		if (session_input_line(s, off, &line, &len) != 1)
			return;
		off += len + 2;
	}
	for (; n < room && session_input_line(s, off, &line, &len) == 1; n++) {
		struct session_ahead *a = ahead_new(s, line, len);

		if (a == NULL)
			break;
		started += a->addr != NULL;
		*tail = a;
		tail = &a->next;
		off += len + 2;
	}
	if (started > 0)
		log_debug(s->id, "event=rcpt_ahead lookups=%zu", started);
}
