/*
 * session_milter_eom - the message at its end, complete in the spool but
 * not committed, and the listener's mail filters (session_milter.c holds
 * their conversations).
 *
 * The filters are shown the message one after the other once the
 * client's final dot (or last BDAT) arrived: DATA, the header fields, the
 * body, end of message. What the previous ones changed, the next ones see
 * changed. A refusal (or the default_action of a filter that failed) is
 * the reply to the message. Nothing is committed before every filter
 * agreed, and a message the filters changed is written anew (header
 * fields, then the body, read back from the first copy or taken from the
 * filter) before the commit: what is spooled is the modified message, and
 * the 250 still comes from the commit's callback alone.
 *
 * A recipient a filter adds is looked up in authd like one the client
 * gave (its final recipients and next hops: a mailbox's mailHost, a
 * group's members); the commit waits for those answers. When authd does
 * not know it or is unavailable, it is routed by its domain and asked
 * again before every retry (queue_rehop.c): the filter, the admin's, has
 * the last word on who receives the message.
 */
#include "session_milter_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "log.h"
#include "milter_msg.h"
#include "sbuf.h"

/* A filter that keeps sending changes is not followed without bound. */
#define MAX_EDITS 10000

/* A recipient a filter added, while authd is asked about it. */
struct sm_added {
	struct sm_added *next;
	struct sm_message *mm;
	char *addr;
	struct authc_req *req;
	bool ok;
	size_t n_dests;
	char **dests, **hops;
};

struct sm_message {
	struct dotstream_stats st;
	struct milter_msg *mm;       /* header fields, body, edits */
	uint64_t body_off, body_len; /* the client's body in the spool */
	struct milter_field *fields;
	char *quarantine;
	const char *edit_error; /* a change that could not be made */
	unsigned n_edits;
	struct sm_added *added;
	size_t lookups; /* of added recipients, in flight */
	bool filtered;  /* every filter agreed: commit when lookups end */
	struct session_milter *m;
};

static void added_free(struct sm_added *a)
{
	authc_cancel(&a->req);
	for (size_t i = 0; i < a->n_dests; i++) {
		free(a->dests[i]);
		free(a->hops[i]);
	}
	free(a->dests);
	free(a->hops);
	free(a->addr);
	free(a);
}

void session_milter_eom_free(struct session_milter *m)
{
	struct sm_message *mm = m->msg;

	if (mm == NULL)
		return;
	m->msg = NULL;
	if (m->ask == SM_ASK_MESSAGE)
		m->ask = SM_ASK_NONE;
	while (mm->added != NULL) {
		struct sm_added *a = mm->added;

		mm->added = a->next;
		added_free(a);
	}
	milter_msg_deinit(&mm->mm);
	free(mm->fields);
	free(mm->quarantine);
	free(mm);
}

static int read_spool(struct session *s, uint64_t off, void *buf, size_t len,
                      size_t *n_r)
{
	const char *error;

	return spool_msg_read(s->msg, off, buf, len, n_r, &error);
}

static int read_body(void *ctx, uint64_t off, void *buf, size_t len,
                     size_t *n_r)
{
	struct session_milter *m = ctx;
	struct sm_message *mm = m->msg;

	if (milter_msg_body_replaced(mm->mm))
		return milter_msg_body_read(mm->mm, off, buf, len, n_r);
	if (off >= mm->body_len) {
		*n_r = 0;
		return 0;
	}
	if (len > mm->body_len - off)
		len = (size_t)(mm->body_len - off);
	return read_spool(m->s, mm->body_off + off, buf, len, n_r);
}

/* --- recipients -------------------------------------------------------- */

/* An address from a filter, without its angle brackets. */
static char *bare_addr(const char *a)
{
	size_t n = strlen(a);

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>')
		return alloc_strndup(a + 1, n - 2);
	return alloc_strdup(a);
}

static void all_done(struct session_milter *m);

static void added_answer(const struct authc_lookup_result *r, void *ctx)
{
	struct sm_added *a = ctx;
	struct sm_message *mm = a->mm;
	struct session_milter *m = mm->m;

	a->req = NULL;
	log_info(m->s->id,
	         "event=milter_rcpt_lookup rcpt=<%s> status=%s dests=%zu "
	         "hop=%s",
	         a->addr,
	         r->status == AUTHC_OK         ? "ok"
	         : r->status == AUTHC_NOTFOUND ? "notfound"
	                                       : "tempfail",
	         r->n_dests, r->n_dests > 0 ? r->dests[0].hop : "domain");
	if (r->status == AUTHC_OK && r->n_dests > 0) {
		a->ok = true;
		a->dests = alloc_array(r->n_dests, sizeof(char *));
		a->hops = alloc_array(r->n_dests, sizeof(char *));
		for (size_t i = 0; i < r->n_dests; i++) {
			a->dests[i] = alloc_strdup(r->dests[i].rcpt);
			a->hops[i] = alloc_strdup(r->dests[i].hop);
		}
		a->n_dests = r->n_dests;
	}
	if (--mm->lookups == 0 && mm->filtered)
		all_done(m);
}

static void rcpt_add(struct session_milter *m, const char *addr)
{
	struct session *s = m->s;
	struct sm_message *mm = m->msg;
	struct sm_added *a = alloc_new(struct sm_added), **tail = &mm->added;

	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = a;
	a->mm = mm;
	a->addr = alloc_strdup(addr);
	mm->lookups++;
	a->req = authc_lookup(s->env->authc, addr, session_lookup_context(s),
	                      s->auth_user, added_answer, a);
}

/* The added recipients into the transaction. */
static void rcpts_added(struct session *s, struct sm_message *mm)
{
	for (struct sm_added *a = mm->added; a != NULL; a = a->next) {
		struct session_rcpt *r = session_rcpt_new(s);

		r->addr = alloc_strdup(a->addr);
		if (a->ok) {
			r->dests = a->dests;
			r->hops = a->hops;
			r->n_dests = a->n_dests;
			a->dests = a->hops = NULL;
			a->n_dests = 0;
			continue;
		}
		/* Routed by its domain (route, smarthost, MX) at first, and
		 * asked again before every retry (queue_rehop.c). */
		r->dests = alloc_array(1, sizeof(char *));
		r->hops = alloc_array(1, sizeof(char *));
		r->dests[0] = alloc_strdup(a->addr);
		r->hops[0] = alloc_strdup("local");
		r->n_dests = 1;
	}
}

static void rcpt_delete(struct session_milter *m, const char *addr)
{
	struct session *s = m->s;

	for (size_t i = s->n_rcpts; i-- > 0;)
		if (strcasecmp(s->rcpts[i].addr, addr) == 0) {
			session_rcpt_free(&s->rcpts[i]);
			memmove(&s->rcpts[i], &s->rcpts[i + 1],
			        (s->n_rcpts - i - 1) * sizeof(*s->rcpts));
			s->n_rcpts--;
		}
	for (struct sm_added **ap = &m->msg->added; *ap != NULL;) {
		struct sm_added *a = *ap;

		if (strcasecmp(a->addr, addr) != 0) {
			ap = &a->next;
			continue;
		}
		*ap = a->next;
		if (a->req != NULL)
			m->msg->lookups--;
		added_free(a);
	}
}

/* --- the filter's modifications ----------------------------------------- */

void session_milter_eom_edit(void *ctx, const struct milter_reply *r,
                             bool lead_space)
{
	struct sm_filter *f = ctx;
	struct session_milter *m = f->m;
	struct sm_message *mm = m->msg;
	struct session *s = m->s;
	char *a;

	if (mm == NULL || m->ask != SM_ASK_MESSAGE)
		return; /* cannot happen: milter.c takes edits at eom only */
	if (++mm->n_edits > MAX_EDITS) {
		mm->edit_error = "too many changes";
		return;
	}
	switch (r->cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		milter_msg_header_edit(mm->mm, r->cmd, r->index, r->name,
		                       r->value, lead_space);
		break;
	case MILTER_R_REPLBODY:
		if (!milter_msg_body_replace(mm->mm, m->cur, r->body,
		                             r->body_len))
			mm->edit_error = "replacement body too big";
		break;
	case MILTER_R_ADDRCPT:
	case MILTER_R_ADDRCPT_PAR:
		a = bare_addr(r->name);
		rcpt_add(m, a);
		free(a);
		break;
	case MILTER_R_DELRCPT:
		a = bare_addr(r->name);
		rcpt_delete(m, a);
		free(a);
		break;
	case MILTER_R_CHGFROM:
		free(s->mail_from);
		s->mail_from = bare_addr(r->name);
		break;
	case MILTER_R_QUARANTINE:
		free(mm->quarantine);
		mm->quarantine = alloc_printf("quarantined by milter %s: %s",
		                              f->name, r->name);
		break;
	}
	log_info(spool_msg_id(s->msg), "event=milter_edit milter=%s action=%c",
	         f->name, r->cmd);
}

/* --- running the filters ------------------------------------------------ */

static void run_next(struct session_milter *m);

/* End with a reply and no message. */
static void refuse(struct session_milter *m, unsigned code, const char *enh,
                   const char *text)
{
	struct session *s = m->s;

	session_reply(s, code, enh, "%s", text);
	session_reset_tx(s); /* frees m->msg */
	session_resume(s);
}

/* The changed message into a new spool file: header fields, the empty
 * line, the body (the filters' or the client's). */
static int rewrite(struct session_milter *m, struct spool_msg **nm_r,
                   const char **error_r)
{
	struct session *s = m->s;
	struct sm_message *mm = m->msg;
	struct sbuf *h = sbuf_new((size_t)s->env->params->max_message_size +
	                          MILTER_MAX_PACKET);
	bool replaced = milter_msg_body_replaced(mm->mm);
	uint64_t len = replaced ? milter_msg_body_len(mm->mm) : mm->body_len;
	unsigned char *chunk = alloc_resize(NULL, MILTER_CHUNK, 1);
	char last[2] = {'\r', '\n'};
	int ret = -1;

	*nm_r = NULL;
	if (!milter_msg_format_header(mm->mm, h)) {
		*error_r = "header section too big";
		goto done;
	}
	if (spool_msg_begin(s->env->spool, nm_r, error_r) < 0 ||
	    spool_msg_write(*nm_r, sbuf_data(h), sbuf_len(h), error_r) < 0)
		goto done;
	for (uint64_t off = 0; off < len;) {
		size_t n;

		if (read_body(m, off, chunk, MILTER_CHUNK, &n) < 0 || n == 0) {
			*error_r = "cannot read the body back";
			goto done;
		}
		if (spool_msg_write(*nm_r, chunk, n, error_r) < 0)
			goto done;
		off += n;
		last[0] = n >= 2 ? (char)chunk[n - 2] : last[1];
		last[1] = (char)chunk[n - 1];
	}
	/* Every line of a spooled message ends with CR LF. */
	if ((last[0] != '\r' || last[1] != '\n') &&
	    spool_msg_write(*nm_r, "\r\n", 2, error_r) < 0)
		goto done;
	ret = 0;
done:
	if (ret < 0 && *nm_r != NULL)
		spool_msg_abort(nm_r);
	free(chunk);
	sbuf_deinit(&h);
	return ret;
}

/* Every filter agreed and authd answered for the added recipients:
 * write the changed message, then commit. */
static void all_done(struct session_milter *m)
{
	struct session *s = m->s;
	struct sm_message *mm = m->msg;
	struct dotstream_stats st = mm->st;
	char *quarantine = mm->quarantine;
	const char *error;

	mm->quarantine = NULL;
	rcpts_added(s, mm);
	if (s->n_rcpts == 0) {
		free(quarantine);
		refuse(m, 554, "5.7.1", "No recipients left after filtering");
		return;
	}
	if (milter_msg_changed(mm->mm)) {
		struct spool_msg *nm = NULL;
		char id[SPOOL_ID_LEN + 1];

		if (rewrite(m, &nm, &error) < 0) {
			log_error(s->id,
			          "event=milter_rewrite_failed "
			          "error=\"%s\"",
			          error);
			free(quarantine);
			refuse(m, 451, "4.3.0",
			       "Temporary failure storing the message");
			return;
		}
		snprintf(id, sizeof(id), "%s", spool_msg_id(s->msg));
		spool_msg_abort(&s->msg);
		s->msg = nm;
		st.size = spool_msg_size(nm);
		if (spool_msg_take_id(nm, id, &error) < 0)
			log_warn(spool_msg_id(nm),
			         "event=milter_rewrite old_id=%s error=\"%s\"",
			         id, error);
	}
	if (quarantine != NULL)
		log_info(spool_msg_id(s->msg), "event=quarantine reason=\"%s\"",
		         quarantine);
	session_milter_eom_free(m);
	session_message_commit(s, &st, quarantine);
	free(quarantine);
}

void session_milter_eom_done(struct sm_filter *f, const struct milter_result *r)
{
	struct session_milter *m = f->m;
	struct sm_message *mm = m->msg;
	struct session *s = m->s;
	const char *id = spool_msg_id(s->msg);
	unsigned code;
	const char *enh, *text;

	if (mm->edit_error != NULL && r->verdict != MILTER_FAILED) {
		/* Never spool a message cut short. */
		log_warn(id, "event=milter_edit_failed milter=%s error=\"%s\"",
		         f->name, mm->edit_error);
		refuse(m, 451, "4.3.0",
		       "Temporary failure filtering the message");
		return;
	}
	switch (session_milter_outcome(f, r, &code, &enh, &text)) {
	case SM_REFUSE:
		refuse(m, code, enh, text);
		return;
	case SM_DISCARD:
		refuse(m, 250, "2.0.0", "Ok: discarded");
		return;
	case SM_GO_ON:
		break;
	}
	m->cur++;
	run_next(m);
}

static void run_next(struct session_milter *m)
{
	struct sm_message *mm = m->msg;
	struct milter_content content = {0};
	size_t n_fields;

	while (m->cur < m->n && m->f[m->cur].off)
		m->cur++;
	if (m->cur >= m->n) {
		mm->filtered = true;
		if (mm->lookups == 0)
			all_done(m);
		return;
	}
	free(mm->fields);
	mm->fields = milter_msg_fields(mm->mm, &n_fields);
	content.fields = mm->fields;
	content.n_fields = n_fields;
	content.body_len = milter_msg_body_replaced(mm->mm)
	                       ? milter_msg_body_len(mm->mm)
	                       : mm->body_len;
	content.read_body = read_body;
	content.ctx = m;
	milter_message(m->f[m->cur].conv, &content);
}

/* Split the header section (our Received: field and the client's
 * fields) from the body. */
static int load(struct session *s, struct sm_message *mm,
                const struct dotstream_stats *st, const char **error_r)
{
	uint64_t size = spool_msg_size(s->msg);
	uint64_t hlen = s->data_start + st->header_bytes;
	char *hdr, sep[2];
	size_t n = 0;
	int ret = -1;

	if (hlen > size) {
		*error_r = "header section past the data";
		return -1;
	}
	hdr = alloc_resize(NULL, (size_t)hlen + 1, 1);
	for (uint64_t off = 0; off < hlen; off += n)
		if (spool_msg_read(s->msg, off, hdr + off, (size_t)(hlen - off),
		                   &n, error_r) < 0 ||
		    n == 0)
			goto done;
	mm->mm =
	    milter_msg_new(hdr, (size_t)hlen, s->env->params->max_message_size);
	mm->body_off = hlen;
	if (spool_msg_read(s->msg, hlen, sep, 2, &n, error_r) < 0)
		goto done;
	if (n == 2 && sep[0] == '\r' && sep[1] == '\n')
		mm->body_off += 2; /* the empty line is not the body's */
	mm->body_len = size - mm->body_off;
	ret = 0;
done:
	if (ret < 0 && *error_r == NULL)
		*error_r = "short read";
	free(hdr);
	return ret;
}

bool session_milter_start(struct session *s, const struct dotstream_stats *st)
{
	struct session_milter *m = s->milter;
	const char *error = NULL;
	size_t on = 0;

	if (m == NULL)
		return false;
	if (m->discard) {
		/* A filter discarded it at MAIL or RCPT. */
		log_info(spool_msg_id(s->msg), "event=milter_discarded");
		session_reply(s, 250, "2.0.0", "Ok: discarded");
		session_reset_tx(s);
		return true;
	}
	for (size_t i = 0; i < m->n; i++)
		on += !m->f[i].off;
	if (on == 0)
		return false;
	m->msg = alloc_new(struct sm_message);
	m->msg->m = m;
	m->msg->st = *st;
	if (load(s, m->msg, st, &error) < 0) {
		log_error(s->id, "event=milter_read_failed error=\"%s\"",
		          error);
		session_reply(s, 451, "4.3.0",
		              "Temporary failure storing the message");
		session_reset_tx(s);
		return true;
	}
	m->ask = SM_ASK_MESSAGE;
	m->cur = 0;
	session_wait(s);
	run_next(m);
	return true;
}
