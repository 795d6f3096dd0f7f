/*
 * session_envelope - MAIL and RCPT of a session: the sender, the
 * recipients and what authd says about each.
 *
 * A recipient is accepted only after authd answered for it: unknown is
 * 550 5.1.1, directory trouble is 451 4.4.3, never a 5xx; mail to the
 * postmaster is always accepted (RFC 5321 4.5.1). On submission the
 * envelope sender must be one the authenticated user may send as (authd
 * SENDERS). MAIL is refused before the body when the spool is short of
 * room.
 *
 * RCPTs are answered one at a time, in order; while one waits for authd,
 * the lookups of those pipelined behind it start (session_ahead.c), and
 * their answers are taken here when their turn comes.
 */
#include "session_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "alerts.h"
#include "alloc.h"
#include "log.h"
#include "policy.h"
#include "restrict.h"
#include "settings.h"

const char *session_lookup_context(const struct session *s)
{
	return s->role == SETTINGS_ROLE_MX ? "mx" : "submission";
}

const char *session_lookup_from(const struct session *s)
{
	if (!s->env->params->trust_envelope_sender || s->auth_user != NULL ||
	    s->mail_from == NULL || *s->mail_from == '\0')
		return NULL;
	return s->mail_from;
}

/* --- MAIL ------------------------------------------------------------ */

static bool sender_allowed(const struct session *s)
{
	const char *from = addr_format(s->mail.path);

	if (addr_is_null(s->mail.path))
		return true;
	for (size_t i = 0; i < s->n_senders; i++)
		if (strcasecmp(s->senders[i], from) == 0)
			return true;
	return false;
}

/* The mail filters answered MAIL: a refusal (replied) ends it. */
static void mail_after(struct session *s, bool ok)
{
	if (ok)
		session_reply(s, 250, "2.1.0", "Ok");
	else
		session_reset_tx(s);
}

static void mail_accept(struct session *s)
{
	if (s->role != SETTINGS_ROLE_MX && !sender_allowed(s)) {
		log_info(s->id, "event=sender_refused user=\"%s\" from=<%s>",
		         s->auth_user, addr_format(s->mail.path));
		s->stats->refused[RSTATS_REFUSE_SENDER]++;
		session_reply(s, 553, "5.7.1",
		              "Sender address <%s> not owned by user %s",
		              addr_format(s->mail.path), s->auth_user);
		smtpcmd_mail_clear(&s->mail);
		return;
	}
	/* The sender's own limit (submissionContLength) against SIZE=;
	 * without SIZE=, the end of DATA checks it (session_size.c). */
	if (session_size_sender_over(s, s->mail.size)) {
		smtpcmd_mail_clear(&s->mail);
		return;
	}
	s->in_mail = true;
	s->mail_from = alloc_strdup(addr_format(s->mail.path));
	if (!session_milter_mail(s, s->mail_from, mail_after))
		session_reply(s, 250, "2.1.0", "Ok");
}

/* SENDERS: the authenticated account's addresses and limits, kept for
 * the session; or on the MX listener, with
 * trust_envelope_sender_for_restrictions, the envelope sender's owner's
 * limit, for this transaction (NOTFOUND: no owner, nobody: no limit). */
static void senders_done(const struct authc_senders_result *r, void *ctx)
{
	struct session *s = ctx;

	s->areq = NULL;
	if (r->status == AUTHC_TEMPFAIL) {
		s->stats->refused[RSTATS_REFUSE_DIRECTORY]++;
		session_reply(s, 451, "4.4.3",
		              "Directory unavailable, try again later");
		smtpcmd_mail_clear(&s->mail);
	} else {
		for (size_t i = 0;
		     s->role != SETTINGS_ROLE_MX && i < r->n_addrs; i++) {
			s->senders = alloc_resize(s->senders, s->n_senders + 1,
			                          sizeof(char *));
			s->senders[s->n_senders++] = alloc_strdup(r->addrs[i]);
		}
		s->senders_known = s->role != SETTINGS_ROLE_MX;
		s->recip_limit = r->recip_limit;
		s->send_max_kb = r->status == AUTHC_OK ? r->send_max_kb : 0;
		mail_accept(s);
	}
	if (!session_milter_waiting(s))
		session_resume(s);
}

/*
 * Refuse a transaction before its body when the spool's file system is
 * short of room: spool_min_free must stay free after the message (its
 * SIZE= or, without one, nothing). 452 4.3.1, as Postfix's queue_minfree.
 */
static bool spool_has_room(struct session *s)
{
	const struct session_params *p = s->env->params;
	uint64_t avail, need;
	const char *error;

	if (p->spool_min_free == 0 && s->mail.size == 0)
		return true;
	if (spool_free_space(s->env->spool, &avail, &error) < 0) {
		log_error(s->id, "event=spool_statvfs_failed error=\"%s\"",
		          error);
		return true; /* the write itself will tell */
	}
	need = p->spool_min_free + s->mail.size;
	if (need >= p->spool_min_free && avail >= need)
		return true;
	log_warn(s->id,
	         "event=limit limit=spool_min_free free=%llu "
	         "need=%llu client=%s",
	         (unsigned long long)avail, (unsigned long long)need, s->peer);
	s->stats->refused[RSTATS_REFUSE_STORAGE]++;
	session_reply(s, 452, "4.3.1", "Insufficient system storage");
	return false;
}

void session_do_mail(struct session *s, const struct smtpcmd *c)
{
	const struct session_params *p = s->env->params;
	unsigned flags = SMTPCMD_F_UTF8 | SMTPCMD_F_8BITMIME | SMTPCMD_F_DSN |
	                 SMTPCMD_F_SIZE;
	struct smtpcmd_error e;

	if (s->role != SETTINGS_ROLE_MX)
		flags |= SMTPCMD_F_AUTH;
	if (smtpcmd_parse_mail(c->arg, c->arg_len, flags, p->max_message_size,
	                       &s->mail, &e) < 0) {
		session_reply_error(s, &e);
		return;
	}
	if (!spool_has_room(s)) {
		smtpcmd_mail_clear(&s->mail);
		return;
	}
	if (s->role == SETTINGS_ROLE_MX && p->trust_envelope_sender &&
	    !addr_is_null(s->mail.path)) {
		/* Who owns the envelope sender: its limit now, its
		 * identity for each RCPT's restrictions. */
		s->areq = authc_senders_from(
		    s->env->authc, addr_format(s->mail.path), senders_done, s);
		session_wait(s);
		return;
	}
	if (s->role == SETTINGS_ROLE_MX || s->senders_known) {
		if (s->role == SETTINGS_ROLE_MX)
			s->send_max_kb = 0; /* nobody's: no limit */
		mail_accept(s);
		return;
	}
	s->areq = authc_senders(s->env->authc, s->auth_user, senders_done, s);
	session_wait(s);
}

/* --- RCPT ------------------------------------------------------------ */

struct rcpt_wait {
	struct session *s;
	bool relay_check; /* accept only what authd says is ours */
};

static unsigned spool_notify(unsigned notify)
{
	unsigned n = 0;

	if (notify & SMTPCMD_NOTIFY_NEVER)
		n |= SPOOLREC_NOTIFY_NEVER;
	if (notify & SMTPCMD_NOTIFY_SUCCESS)
		n |= SPOOLREC_NOTIFY_SUCCESS;
	if (notify & SMTPCMD_NOTIFY_FAILURE)
		n |= SPOOLREC_NOTIFY_FAILURE;
	if (notify & SMTPCMD_NOTIFY_DELAY)
		n |= SPOOLREC_NOTIFY_DELAY;
	return n;
}

/* The mail filters answered RCPT: a refused recipient (replied) goes;
 * it is the last one added, nothing ran in between. */
static void rcpt_after(struct session *s, bool ok)
{
	if (ok)
		session_reply(s, 250, "2.1.5", "Ok");
	else if (s->n_rcpts > 0)
		session_rcpt_free(&s->rcpts[--s->n_rcpts]);
}

/* Accept the pending recipient with these final recipients and hops;
 * the mail filters may still refuse it (session_milter_waiting()). */
static void rcpt_accept(struct session *s, const struct authc_dest *dests,
                        size_t n, bool cached)
{
	struct smtpcmd_rcpt *pr = &s->pending_rcpt;
	const char *addr = addr_format(pr->path);
	struct session_rcpt *sr;

	sr = session_rcpt_new(s);
	sr->addr = alloc_strdup(addr);
	sr->notify = spool_notify(pr->notify);
	sr->orcpt = pr->orcpt != NULL
	                ? alloc_printf("%s;%s", pr->orcpt_type, pr->orcpt)
	                : NULL;
	sr->dests = alloc_array(n, sizeof(char *));
	sr->hops = alloc_array(n, sizeof(char *));
	sr->max_kb = alloc_array(n, sizeof(uint64_t));
	sr->senders = alloc_array(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		sr->dests[i] = alloc_strdup(dests[i].rcpt);
		sr->hops[i] = alloc_strdup(dests[i].hop);
		sr->max_kb[i] = dests[i].max_kb;
		sr->senders[i] = dests[i].sender != NULL
		                     ? alloc_strdup(dests[i].sender)
		                     : NULL;
	}
	sr->n_dests = n;
	log_info(s->id, "event=rcpt rcpt=<%s> dests=%zu hop=%s%s", addr, n,
	         n > 0 ? dests[0].hop : "-", cached ? " cached=1" : "");
	if (!session_milter_rcpt(s, addr, rcpt_after))
		session_reply(s, 250, "2.1.5", "Ok");
}

static void rcpt_done(const struct authc_lookup_result *r, void *ctx);

/*
 * Mail to the postmaster is always accepted (RFC 5321 4.5.1). When the
 * directory has no postmaster for the domain: the configured postmaster
 * address, else (or when that cannot be found either) the local alert
 * store (alerts.h). True when it took the recipient over.
 */
static bool postmaster_fallback(struct session *s,
                                const struct authc_lookup_result *r)
{
	const struct addr *path = s->pending_rcpt.path;
	const char *pm = s->env->params->postmaster;
	const char *domain = addr_domain(path);
	bool ours = (addr_flags(path) & ADDR_F_POSTMASTER) != 0 ||
	            policy_is_local_domain(s->env->policy, domain) ||
	            (r != NULL && r->status == AUTHC_NOTFOUND &&
	             strcmp(r->domain, "local") == 0);
	struct authc_dest alert = {addr_format(path), ALERTS_HOP, 0, NULL};

	if (s->pm_stage == 0 || !ours)
		return false;
	if (s->pm_stage == 1 && pm != NULL &&
	    (r == NULL || r->status == AUTHC_NOTFOUND) &&
	    strcasecmp(pm, addr_format(path)) != 0) {
		s->pm_stage = 2;
		s->areq = authc_lookup_from(
		    s->env->authc, pm, session_lookup_context(s), s->auth_user,
		    session_lookup_from(s), rcpt_done, s);
		return true;
	}
	log_warn(s->id,
	         "event=rcpt_postmaster rcpt=<%s> to=alerts "
	         "reason=\"%s\"",
	         addr_format(path), r == NULL ? "no domain" : r->reason);
	rcpt_accept(s, &alert, 1, false);
	return true;
}

/* Refuse the pending RCPT by a restriction of the directory (rule: its
 * attribute). */
static void refuse_restricted(struct session *s, const char *addr,
                              const char *rule, int code, const char *status,
                              const char *why)
{
	log_info(s->id, "event=rcpt_restricted rcpt=<%s> rule=%s sender=%s",
	         addr, rule, s->auth_user != NULL ? s->auth_user : "(none)");
	s->stats->refused[RSTATS_REFUSE_RESTRICTED]++;
	session_reply(s, code, status, "<%s>: %s", addr, why);
}

/* Does every destination of the address refuse the declared SIZE= by its
 * size limit (delivContLength)? A group's limit is every member's; a
 * member alone over its own is left to the end of DATA. */
static bool size_refused(const struct session *s,
                         const struct authc_lookup_result *r)
{
	if (s->mail.size == 0 || r->n_dests == 0)
		return false;
	for (size_t i = 0; i < r->n_dests; i++)
		if (r->dests[i].max_kb == 0 ||
		    s->mail.size <= r->dests[i].max_kb * 1024)
			return false;
	return true;
}

/* Answer the pending RCPT with what authd said about it. False when it
 * waits for one more answer (the configured postmaster's, or the mail
 * filters'). */
static bool rcpt_answer(struct session *s, const struct authc_lookup_result *r)
{
	struct smtpcmd_rcpt *pr = &s->pending_rcpt;
	const char *addr = addr_format(pr->path);
	bool relay_check = s->pending_reply != NULL;

	free(s->pending_reply);
	s->pending_reply = NULL;
	if (r->status == AUTHC_NOTFOUND && r->restricted != NULL) {
		/* The directory says who may send here: the admin's choice
		 * holds for the postmaster too. */
		refuse_restricted(s, addr, r->restricted, 550, "5.7.1",
		                  "sender not allowed to send to this "
		                  "recipient");
		goto done;
	}
	if (r->status != AUTHC_OK && postmaster_fallback(s, r)) {
		if (s->areq != NULL)
			return false; /* asking for the configured postmaster */
		goto done;
	}
	if (s->pm_stage == 2 && r->status == AUTHC_OK) {
		rcpt_accept(s, r->dests, r->n_dests, r->cached);
		goto done;
	}
	if (r->status == AUTHC_TEMPFAIL) {
		log_info(s->id, "event=rcpt_tempfail rcpt=<%s> reason=\"%s\"",
		         addr, r->reason);
		s->stats->refused[RSTATS_REFUSE_DIRECTORY]++;
		session_reply(s, 451, "4.4.3",
		              "Directory unavailable, try again later");
		goto done;
	}
	if (r->status == AUTHC_NOTFOUND) {
		log_info(s->id, "event=rcpt_unknown rcpt=<%s> reason=\"%s\"",
		         addr, r->reason);
		s->stats->refused[RSTATS_REFUSE_UNKNOWN_RCPT]++;
		session_reply(s, 550, "5.1.1",
		              "<%s>: Recipient address rejected: User unknown",
		              addr);
		goto done;
	}
	/* Not authorized to relay: the domain must be one the directory
	 * accepts (local, internal or external relay); a routed partner
	 * domain is not ours. */
	if (relay_check && strcmp(r->domain, "local") != 0 &&
	    strcmp(r->domain, "internalrelay") != 0 &&
	    strcmp(r->domain, "relay") != 0) {
		log_info(s->id, "event=relay_denied rcpt=<%s> client=%s", addr,
		         s->peer);
		s->stats->refused[RSTATS_REFUSE_RELAY]++;
		session_reply(s, 550, "5.7.1", "<%s>: Relaying denied", addr);
		goto done;
	}
	if (size_refused(s, r)) {
		refuse_restricted(s, addr, "delivContLength", 552, "5.2.3",
		                  "message larger than this recipient "
		                  "accepts");
		goto done;
	}
	rcpt_accept(s, r->dests, r->n_dests, r->cached);
done:
	smtpcmd_rcpt_clear(pr);
	s->has_pending_rcpt = false;
	s->pm_stage = 0;
	return !session_milter_waiting(s);
}

void session_rcpt_answered(struct session *s,
                           const struct authc_lookup_result *r)
{
	if (rcpt_answer(s, r))
		session_resume(s);
}

static void rcpt_done(const struct authc_lookup_result *r, void *ctx)
{
	struct session *s = ctx;

	s->areq = NULL;
	session_rcpt_answered(s, r);
}

static unsigned rcpt_flags(const struct session *s)
{
	unsigned flags = SMTPCMD_F_UTF8 | SMTPCMD_F_DSN;

	if (s->mail.smtputf8)
		flags |= SMTPCMD_F_TXN_UTF8;
	return flags;
}

/* Mail to the postmaster: "<Postmaster>" or postmaster@any domain. */
static bool rcpt_is_postmaster(const struct addr *path)
{
	return (addr_flags(path) & ADDR_F_POSTMASTER) != 0 ||
	       strcasecmp(addr_local(path), "postmaster") == 0;
}

/* Refused by the policy outright (*reason_r, *enhanced_r)? A domain that
 * is not configured here may still be one the directory holds: then
 * authd decides, and *relay_check_r says its answer must show that. */
static bool rcpt_refused(const struct session *s, const struct addr *path,
                         bool *relay_check_r, const char **reason_r,
                         const char **enhanced_r)
{
	enum policy_rcpt verdict =
	    policy_check_rcpt(s->env->policy, path, s->auth_user != NULL,
	                      s->relay_client, reason_r, enhanced_r);

	*relay_check_r = false;
	if (verdict != POLICY_REJECT)
		return false;
	if (strcmp(*reason_r, "Relaying denied") != 0)
		return true;
	*relay_check_r = true;
	return false;
}

int session_rcpt_lookup_addr(const struct session *s, const char *arg,
                             size_t len, char **addr_r)
{
	struct smtpcmd_rcpt pr;
	struct smtpcmd_error e;
	const char *reason, *enhanced;
	bool relay_check;
	int ret = 0;

	*addr_r = NULL;
	if (smtpcmd_parse_rcpt(arg, len, rcpt_flags(s), &pr, &e) < 0)
		return -1;
	if (!rcpt_is_postmaster(pr.path) &&
	    !rcpt_refused(s, pr.path, &relay_check, &reason, &enhanced)) {
		*addr_r = alloc_strdup(addr_format(pr.path));
		ret = 1;
	}
	smtpcmd_rcpt_clear(&pr);
	return ret;
}

/* Ask authd about addr, unless the look-ahead has asked already. */
static void rcpt_lookup(struct session *s, const char *addr,
                        struct session_ahead **ahead)
{
	struct authc_lookup_result r;

	if (session_ahead_answer(*ahead, addr, &r)) {
		if (!rcpt_answer(s, &r))
			session_wait(s);
		return;
	}
	/* What was answered before this RCPT (MAIL, earlier RCPTs) waits
	 * for its answer and goes out with it: a pipelining client reads
	 * them all anyway. */
	io_hold_output(s->io, true);
	if (session_ahead_wait(s, ahead, addr)) {
		session_wait(s);
		return;
	}
	s->areq = authc_lookup_from(s->env->authc, addr,
	                            session_lookup_context(s), s->auth_user,
	                            session_lookup_from(s), rcpt_done, s);
	session_wait(s);
}

static void rcpt_start(struct session *s, const struct smtpcmd *c,
                       struct session_ahead **ahead)
{
	const struct session_params *p = s->env->params;
	struct smtpcmd_error e;
	const char *reason, *enhanced;
	const struct addr *path;
	bool relay_check;

	if (s->n_rcpts >= p->max_recipients ||
	    restrict_recip_over(s->recip_limit, (unsigned)s->n_rcpts)) {
		s->stats->refused[RSTATS_REFUSE_TOO_MANY_RCPTS]++;
		session_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	if (smtpcmd_parse_rcpt(c->arg, c->arg_len, rcpt_flags(s),
	                       &s->pending_rcpt, &e) < 0) {
		session_reply_error(s, &e);
		return;
	}
	s->has_pending_rcpt = true;
	path = s->pending_rcpt.path;
	s->pm_stage = rcpt_is_postmaster(path) ? 1 : 0;
	if ((addr_flags(path) & ADDR_F_POSTMASTER) != 0) {
		/* "<Postmaster>": the primary domain's, if there is one. */
		const char *primary = policy_primary_domain(s->env->policy);
		char *pm;

		if (primary == NULL) {
			postmaster_fallback(s, NULL);
			if (s->areq != NULL) {
				session_wait(s);
				return;
			}
			smtpcmd_rcpt_clear(&s->pending_rcpt);
			s->has_pending_rcpt = false;
			s->pm_stage = 0;
			return;
		}
		pm = alloc_printf("postmaster@%s", primary);
		free(s->pending_reply);
		s->pending_reply = NULL;
		s->areq = authc_lookup_from(
		    s->env->authc, pm, session_lookup_context(s), s->auth_user,
		    session_lookup_from(s), rcpt_done, s);
		free(pm);
		session_wait(s);
		return;
	}
	if (rcpt_refused(s, path, &relay_check, &reason, &enhanced)) {
		log_info(s->id, "event=rcpt_refused rcpt=<%s> reason=\"%s\"",
		         addr_format(path), reason);
		s->stats->refused[RSTATS_REFUSE_RCPT_POLICY]++;
		session_reply(s, policy_reply_code(enhanced), enhanced,
		              "<%s>: %s", addr_format(path), reason);
		smtpcmd_rcpt_clear(&s->pending_rcpt);
		s->has_pending_rcpt = false;
		return;
	}
	/* pending_reply marks "relay check" for rcpt_answer. */
	free(s->pending_reply);
	s->pending_reply = relay_check ? alloc_strdup("relay") : NULL;
	rcpt_lookup(s, addr_format(path), ahead);
}

void session_do_rcpt(struct session *s, const struct smtpcmd *c)
{
	struct session_ahead *ahead = session_ahead_next(s, c->arg, c->arg_len);

	rcpt_start(s, c, &ahead);
	session_ahead_free(&ahead);
	if (s->phase == PHASE_WAIT)
		session_ahead_scan(s, c);
}
