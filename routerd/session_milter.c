/*
 * session_milter - a listener's mail filters (milter.h) on a message that
 * is complete in the spool but not committed: the glue between the SMTP
 * session and the filters.
 *
 * The filters run one after the other once the client's final dot (or
 * last BDAT) arrived, each shown the whole transaction from connect to
 * end of message: what the previous ones changed, they see changed. A
 * filter's refusal of a recipient drops that recipient; its refusal at any
 * other step is the reply to the message. Nothing is committed before
 * every filter agreed, and a message the filters changed is written anew
 * (header fields, then the body, read back from the first copy or taken
 * from the filter) before the commit: what is spooled is the modified
 * message, and the 250 still comes from the commit's callback alone.
 *
 * A filter that fails (down, silent, gone mid-message, garbage) gets its
 * default_action: tempfail (451 4.7.1), reject (550 5.7.1) or accept (the
 * message goes on without it), logged as event=milter_failed.
 */
#include "session_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "log.h"
#include "milter.h"
#include "milter_msg.h"
#include "sbuf.h"
#include "settings.h"

struct session_milter {
	struct session *s;
	struct milter_conv *conv;
	size_t next; /* the filter to run next */
	char *name;  /* its name (a copy: a SIGHUP may replace params) */
	int def;     /* and its default_action */
	struct dotstream_stats st;
	struct milter_msg *mm;       /* header fields, body, edits */
	uint64_t body_off, body_len; /* the client's body in the spool */
	char **rcpts;                /* what the running filter was shown */
	size_t n_shown;
	struct milter_field *fields;
	char tls_bits[16];
	char underscore[128];
	char *quarantine;
	const char *edit_error; /* a change that could not be made */
	unsigned n_edits;
};

/* A filter that keeps sending changes is not followed without bound. */
#define MAX_EDITS 10000

static const struct session_filters *filters_of(const struct session *s)
{
	const struct session_params *p = s->env->params;

	for (size_t i = 0; i < p->n_filters; i++)
		if (strcmp(p->filters[i].listener, s->listener) == 0)
			return &p->filters[i];
	return NULL;
}

static void rcpts_shown_free(struct session_milter *m)
{
	for (size_t i = 0; i < m->n_shown; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	m->rcpts = NULL;
	m->n_shown = 0;
}

static void sm_free(struct session_milter *m)
{
	milter_cancel(&m->conv);
	milter_msg_deinit(&m->mm);
	rcpts_shown_free(m);
	free(m->fields);
	free(m->quarantine);
	free(m->name);
	free(m);
}

void session_milter_drop(struct session *s)
{
	if (s->milter != NULL) {
		sm_free(s->milter);
		s->milter = NULL;
	}
}

static int read_spool(void *ctx, uint64_t off, void *buf, size_t len,
                      size_t *n_r)
{
	struct session_milter *m = ctx;
	const char *error;

	return spool_msg_read(m->s->msg, off, buf, len, n_r, &error);
}

static int read_body(void *ctx, uint64_t off, void *buf, size_t len,
                     size_t *n_r)
{
	struct session_milter *m = ctx;

	if (milter_msg_body_replaced(m->mm))
		return milter_msg_body_read(m->mm, off, buf, len, n_r);
	if (off >= m->body_len) {
		*n_r = 0;
		return 0;
	}
	if (len > m->body_len - off)
		len = (size_t)(m->body_len - off);
	return read_spool(m, m->body_off + off, buf, len, n_r);
}

static const char *macro(void *ctx, const char *name)
{
	struct session_milter *m = ctx;
	struct session *s = m->s;
	struct io_tls_params tp;
	bool tls = io_tls_params(s->io, &tp);

	if (strcmp(name, "j") == 0 || strcmp(name, "{j}") == 0)
		return s->env->params->hostname;
	if (strcmp(name, "i") == 0 || strcmp(name, "{i}") == 0)
		return spool_msg_id(s->msg);
	if (strcmp(name, "v") == 0 || strcmp(name, "{v}") == 0)
		return "dirmx";
	if (strcmp(name, "_") == 0) {
		snprintf(m->underscore, sizeof(m->underscore), "unknown [%s]",
		         s->peer);
		return m->underscore;
	}
	if (strcmp(name, "{daemon_name}") == 0)
		return s->listener;
	if (strcmp(name, "{client_addr}") == 0)
		return s->peer;
	if (strcmp(name, "{client_name}") == 0)
		return "unknown";
	if (strcmp(name, "{auth_authen}") == 0)
		return s->auth_user;
	if (strcmp(name, "{auth_type}") == 0)
		return s->auth_user != NULL ? s->auth_mech : NULL;
	if (strcmp(name, "{tls_version}") == 0)
		return tls ? tp.version : NULL;
	if (strcmp(name, "{cipher}") == 0)
		return tls ? tp.cipher : NULL;
	if (strcmp(name, "{cipher_bits}") == 0 && tls) {
		snprintf(m->tls_bits, sizeof(m->tls_bits), "%u", tp.bits);
		return m->tls_bits;
	}
	return NULL;
}

/* --- recipients -------------------------------------------------------- */

static void rcpt_remove(struct session *s, size_t i)
{
	session_rcpt_free(&s->rcpts[i]);
	memmove(&s->rcpts[i], &s->rcpts[i + 1],
	        (s->n_rcpts - i - 1) * sizeof(*s->rcpts));
	s->n_rcpts--;
}

/* An address from a filter, without its angle brackets. */
static char *bare_addr(const char *a)
{
	size_t n = strlen(a);

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>')
		return alloc_strndup(a + 1, n - 2);
	return alloc_strdup(a);
}

static void rcpt_add(struct session *s, const char *addr)
{
	struct session_rcpt *r = session_rcpt_new(s);

	r->addr = alloc_strdup(addr);
	r->dests = alloc_array(1, sizeof(char *));
	r->hops = alloc_array(1, sizeof(char *));
	r->dests[0] = alloc_strdup(addr);
	/* Not looked up in the directory now: routed by its domain (route,
	 * smarthost, MX) at first, and asked again before every retry
	 * (queue_rehop.c). */
	r->hops[0] = alloc_strdup("local");
	r->n_dests = 1;
}

static void rcpt_delete(struct session *s, const char *addr)
{
	for (size_t i = s->n_rcpts; i-- > 0;)
		if (strcasecmp(s->rcpts[i].addr, addr) == 0)
			rcpt_remove(s, i);
}

/* --- the filter's modifications ----------------------------------------- */

static void on_edit(void *ctx, const struct milter_reply *r, bool lead_space)
{
	struct session_milter *m = ctx;
	struct session *s = m->s;
	char *a;

	if (++m->n_edits > MAX_EDITS) {
		m->edit_error = "too many changes";
		return;
	}
	switch (r->cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		milter_msg_header_edit(m->mm, r->cmd, r->index, r->name,
		                       r->value, lead_space);
		break;
	case MILTER_R_REPLBODY:
		if (!milter_msg_body_replace(m->mm, m->next, r->body,
		                             r->body_len))
			m->edit_error = "replacement body too big";
		break;
	case MILTER_R_ADDRCPT:
	case MILTER_R_ADDRCPT_PAR:
		a = bare_addr(r->name);
		rcpt_add(s, a);
		free(a);
		break;
	case MILTER_R_DELRCPT:
		a = bare_addr(r->name);
		rcpt_delete(s, a);
		free(a);
		break;
	case MILTER_R_CHGFROM:
		free(s->mail_from);
		s->mail_from = bare_addr(r->name);
		break;
	case MILTER_R_QUARANTINE:
		free(m->quarantine);
		m->quarantine = alloc_printf("quarantined by milter %s: %s",
		                             m->name, r->name);
		break;
	}
	log_info(spool_msg_id(s->msg), "event=milter_edit milter=%s action=%c",
	         m->name, r->cmd);
}

/* --- running the filters ------------------------------------------------ */

static void run_next(struct session_milter *m);

/* End with a reply and no message. */
static void refuse(struct session_milter *m, unsigned code, const char *enh,
                   const char *text)
{
	struct session *s = m->s;

	session_reply(s, code, enh, "%s", text);
	session_reset_tx(s); /* frees m */
	session_resume(s);
}

/* The changed message into a new spool file: header fields, the empty
 * line, the body (the filters' or the client's). */
static int rewrite(struct session_milter *m, struct spool_msg **nm_r,
                   const char **error_r)
{
	struct session *s = m->s;
	struct sbuf *h = sbuf_new((size_t)s->env->params->max_message_size +
	                          MILTER_MAX_PACKET);
	bool replaced = milter_msg_body_replaced(m->mm);
	uint64_t len = replaced ? milter_msg_body_len(m->mm) : m->body_len;
	unsigned char *chunk = alloc_resize(NULL, MILTER_CHUNK, 1);
	char last[2] = {'\r', '\n'};
	int ret = -1;

	*nm_r = NULL;
	if (!milter_msg_format_header(m->mm, h)) {
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

/* Every filter agreed: write the changed message, then commit. */
static void all_done(struct session_milter *m)
{
	struct session *s = m->s;
	struct dotstream_stats st = m->st;
	char *quarantine = m->quarantine;
	const char *error;

	m->quarantine = NULL;
	if (s->n_rcpts == 0) {
		free(quarantine);
		refuse(m, 554, "5.7.1", "No recipients left after filtering");
		return;
	}
	if (milter_msg_changed(m->mm)) {
		struct spool_msg *nm = NULL;

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
		char id[SPOOL_ID_LEN + 1];

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
	session_milter_drop(s);
	session_message_commit(s, &st, quarantine);
	free(quarantine);
}

static void on_done(void *ctx, const struct milter_result *r)
{
	struct session_milter *m = ctx;
	struct session *s = m->s;
	const char *id = spool_msg_id(s->msg);
	int def = m->def;

	m->conv = NULL; /* freed by milter.c when we return */
	m->next++;
	if (m->edit_error != NULL && r->verdict != MILTER_FAILED) {
		/* Never spool a message cut short. */
		log_warn(id, "event=milter_edit_failed milter=%s error=\"%s\"",
		         m->name, m->edit_error);
		refuse(m, 451, "4.3.0",
		       "Temporary failure filtering the message");
		return;
	}
	switch (r->verdict) {
	case MILTER_FAILED:
		log_warn(id,
		         "event=milter_failed milter=%s step=%s error=\"%s\" "
		         "action=%s",
		         m->name, r->step, r->error,
		         def == MILTER_DEFAULT_ACCEPT   ? "accept"
		         : def == MILTER_DEFAULT_REJECT ? "reject"
		                                        : "tempfail");
		if (def == MILTER_DEFAULT_ACCEPT)
			run_next(m);
		else if (def == MILTER_DEFAULT_REJECT)
			refuse(m, 550, "5.7.1",
			       "Message refused: mail filter "
			       "failure");
		else
			refuse(m, 451, "4.7.1",
			       "Temporary failure: mail "
			       "filter unavailable");
		return;
	case MILTER_REJECT:
	case MILTER_TEMPFAIL:
		log_info(id, "event=milter_refused milter=%s step=%s code=%u",
		         m->name, r->step,
		         r->code != 0                  ? r->code
		         : r->verdict == MILTER_REJECT ? 550
		                                       : 451);
		if (r->code != 0)
			refuse(m, r->code, r->enhanced[0] ? r->enhanced : NULL,
			       r->text);
		else if (r->verdict == MILTER_REJECT)
			refuse(m, 550, "5.7.1", "Command rejected");
		else
			refuse(m, 451, "4.7.1",
			       "Service unavailable - try again later");
		return;
	case MILTER_DISCARD:
		log_info(id, "event=milter_discard milter=%s step=%s", m->name,
		         r->step);
		refuse(m, 250, "2.0.0", "Ok: discarded");
		return;
	case MILTER_CONTINUE:
	case MILTER_ACCEPT:
		break;
	}
	/* Recipients it refused at RCPT go; the filter saw m->rcpts. */
	if (r->rcpt_refused != NULL)
		for (size_t i = 0; i < m->n_shown; i++)
			if (r->rcpt_refused[i]) {
				log_info(id,
				         "event=milter_rcpt_refused milter=%s "
				         "rcpt=<%s>",
				         m->name, m->rcpts[i]);
				rcpt_delete(s, m->rcpts[i]);
			}
	run_next(m);
}

static void run_next(struct session_milter *m)
{
	struct session *s = m->s;
	const struct session_filters *f = filters_of(s);
	struct milter_source src = {0};
	size_t n_fields;

	if (f == NULL || m->next >= f->n) {
		all_done(m);
		return;
	}
	free(m->name);
	m->name = alloc_strdup(f->confs[m->next].name);
	m->def = f->confs[m->next].default_action;
	rcpts_shown_free(m);
	m->rcpts = alloc_array(s->n_rcpts + 1, sizeof(*m->rcpts));
	for (size_t i = 0; i < s->n_rcpts; i++)
		m->rcpts[i] = alloc_strdup(s->rcpts[i].addr);
	m->n_shown = s->n_rcpts;
	free(m->fields);
	m->fields = milter_msg_fields(m->mm, &n_fields);
	src.client_name = "unknown";
	src.client_addr = strcmp(s->peer, "unknown") != 0 ? s->peer : NULL;
	src.helo = s->helo;
	src.mail_from = s->mail_from;
	src.rcpts = (const char *const *)m->rcpts;
	src.n_rcpts = s->n_rcpts;
	src.fields = m->fields;
	src.n_fields = n_fields;
	src.body_len = milter_msg_body_replaced(m->mm)
	                   ? milter_msg_body_len(m->mm)
	                   : m->body_len;
	src.read_body = read_body;
	src.macro = macro;
	src.ctx = m;
	m->conv = milter_start(s->env->base, &f->confs[m->next], &src, on_edit,
	                       on_done, m);
}

/* Split the header section (our Received: field and the client's
 * fields) from the body. */
static int load(struct session_milter *m, const struct dotstream_stats *st,
                const char **error_r)
{
	struct session *s = m->s;
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
	m->mm =
	    milter_msg_new(hdr, (size_t)hlen, s->env->params->max_message_size);
	m->body_off = hlen;
	if (spool_msg_read(s->msg, hlen, sep, 2, &n, error_r) < 0)
		goto done;
	if (n == 2 && sep[0] == '\r' && sep[1] == '\n')
		m->body_off += 2; /* the empty line is not the body's */
	m->body_len = size - m->body_off;
	ret = 0;
done:
	if (ret < 0 && *error_r == NULL)
		*error_r = "short read";
	free(hdr);
	return ret;
}

bool session_milter_start(struct session *s, const struct dotstream_stats *st)
{
	const struct session_filters *f = filters_of(s);
	struct session_milter *m;
	const char *error = NULL;

	if (f == NULL || f->n == 0)
		return false;
	m = alloc_new(struct session_milter);
	m->s = s;
	m->st = *st;
	if (load(m, st, &error) < 0) {
		log_error(s->id, "event=milter_read_failed error=\"%s\"",
		          error);
		sm_free(m);
		session_reply(s, 451, "4.3.0",
		              "Temporary failure storing the message");
		session_reset_tx(s);
		return true;
	}
	s->milter = m;
	session_wait(s);
	run_next(m);
	return true;
}
