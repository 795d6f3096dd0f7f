/*
 * smtpc - the outbound SMTP client: requests, limits, the connection
 * cache, results and their log lines; see smtpc.h.
 *
 *	smtpc_new(base, &settings)	smtpc_deinit(&c)
 *	smtpc_deliver(c, &job, cb, ctx)	smtpc_cancel(&req)
 *
 * Requests wait in one FIFO. The scheduler (smtpc_kick, run from a zero
 * timer so no callback ever runs inside smtpc_deliver) walks it: a
 * request takes an idle connection with its key, else opens one when the
 * total and per-destination limits allow, else closes an idle connection
 * that holds the slot it needs, else keeps waiting (later requests to
 * other destinations may still go). The protocol lives in smtpc_conn.c
 * and smtpc_txn.c; this file never reads a socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "evloop.h"
#include "linefold.h"
#include "log.h"
#include "sbuf.h"
#include "settings.h"
#include "smtpc_private.h"

struct smtpc_creds {
	SLIST_ENTRY(smtpc_creds) link;
	char *ca_file; /* "" for no verification */
	gnutls_certificate_credentials_t creds;
};

struct smtpc {
	struct event_base *base;
	struct smtpc_settings set;
	TAILQ_HEAD(, smtpc_req) waiting; /* FIFO */
	TAILQ_HEAD(, smtpc_req) active;  /* on a connection */
	LIST_HEAD(, smtpc_conn) conns;
	unsigned n_conns, peak;
	struct evloop_timer *kick;
	SLIST_HEAD(, smtpc_creds) creds;
	gnutls_priority_t priority; /* built once, not per connection */
};

static void req_wait(struct smtpc_req *req, bool front);

struct event_base *smtpc_base(const struct smtpc *c)
{
	return c->base;
}

const struct smtpc_settings *smtpc_settings(const struct smtpc *c)
{
	return &c->set;
}

void smtpc_settings_default(struct smtpc_settings *set_r)
{
	memset(set_r, 0, sizeof(*set_r));
	set_r->max_conns_total = 100;
	set_r->max_conns_per_dest = 20;
	set_r->connect_ms = 30 * 1000;
	set_r->greeting_ms = 5 * 60 * 1000;
	set_r->helo_ms = 5 * 60 * 1000;
	set_r->mail_ms = 5 * 60 * 1000;
	set_r->rcpt_ms = 5 * 60 * 1000;
	set_r->data_init_ms = 2 * 60 * 1000;
	set_r->data_block_ms = 3 * 60 * 1000;
	set_r->data_done_ms = 10 * 60 * 1000;
	set_r->idle_ms = 5 * 1000;
	set_r->max_reuse = 100;
	set_r->line_length_limit = LINEFOLD_SMTP_MAX;
	set_r->handshake_ms = 30 * 1000;
	set_r->tls_priority = NULL;
}

static int priority_build(const char *s, gnutls_priority_t *prio_r)
{
	const char *pos = NULL;
	int rc = gnutls_priority_init(prio_r, s, &pos);

	if (rc < 0) {
		log_error(NULL,
		          "event=tls_priority_failed priority=\"%s\" "
		          "error=\"%s\"",
		          s, gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int smtpc_set_tls_priority(struct smtpc *c, const char *priority)
{
	gnutls_priority_t p;

	if (priority_build(priority != NULL ? priority : SETTINGS_TLS_PRIORITY,
	                   &p) < 0)
		return -1;
	/* Sessions keep their own reference (gnutls_priority_set). */
	if (c->priority != NULL)
		gnutls_priority_deinit(c->priority);
	c->priority = p;
	return 0;
}

gnutls_priority_t smtpc_priority(const struct smtpc *c)
{
	return c->priority;
}

enum smtpc_tls smtpc_req_tls(const struct smtpc_req *req)
{
	if (req->tls == SMTPC_TLS_MAY && req->plain_target >= 0 &&
	    (size_t)req->plain_target == req->target)
		return SMTPC_TLS_NONE;
	return req->tls;
}

void smtpc_req_plaintext(struct smtpc_req *req)
{
	req->conn = NULL;
	req->plain_target = (long)req->target;
	req_wait(req, true);
}

gnutls_certificate_credentials_t smtpc_creds(struct smtpc *c,
                                             const char *ca_file)
{
	struct smtpc_creds *e;
	gnutls_certificate_credentials_t cr;
	int rc;

	if (ca_file == NULL)
		ca_file = "";
	SLIST_FOREACH(e, &c->creds, link) {
		if (strcmp(e->ca_file, ca_file) == 0)
			return e->creds;
	}
	if (gnutls_certificate_allocate_credentials(&cr) < 0)
		return NULL;
	if (*ca_file != '\0') {
		rc = gnutls_certificate_set_x509_trust_file(
		    cr, ca_file, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			log_error(NULL,
			          "event=tls_ca_load_failed file=%s "
			          "error=\"%s\"",
			          ca_file,
			          rc < 0 ? gnutls_strerror(rc)
			                 : "no certificate");
			gnutls_certificate_free_credentials(cr);
			return NULL;
		}
	}
	e = alloc_new(struct smtpc_creds);
	e->ca_file = alloc_strdup(ca_file);
	e->creds = cr;
	SLIST_INSERT_HEAD(&c->creds, e, link);
	return cr;
}

/* -- lists ---------------------------------------------------------- */

static void req_unlink(struct smtpc_req *req)
{
	struct smtpc *c = req->c;

	if (!req->listed)
		return;
	req->listed = false;
	if (req->waiting)
		TAILQ_REMOVE(&c->waiting, req, link);
	else
		TAILQ_REMOVE(&c->active, req, link);
}

static void req_wait(struct smtpc_req *req, bool front)
{
	struct smtpc *c = req->c;

	req_unlink(req);
	req->waiting = true;
	req->listed = true;
	if (front)
		TAILQ_INSERT_HEAD(&c->waiting, req, link);
	else
		TAILQ_INSERT_TAIL(&c->waiting, req, link);
	evloop_timer_start(c->kick, 0);
}

static void req_activate(struct smtpc_req *req, struct smtpc_conn *conn)
{
	struct smtpc *c = req->c;

	req_unlink(req);
	req->waiting = false;
	req->listed = true;
	TAILQ_INSERT_HEAD(&c->active, req, link);
	req->conn = conn;
}

static void req_free(struct smtpc_req *req)
{
	size_t i;

	req_unlink(req);
	for (i = 0; i < req->n_rcpts; i++) {
		free(req->rcpts[i].addr);
		free(req->rcpts[i].orcpt);
		free(req->rcpts[i].text);
		free(req->rcpts[i].diag);
	}
	free(req->rcpts);
	for (i = 0; i < req->n_targets; i++)
		free(req->target_hosts[i]);
	free(req->target_hosts);
	free(req->targets);
	if (req->auth_password != NULL) {
		explicit_bzero(req->auth_password, strlen(req->auth_password));
		free(req->auth_password);
	}
	free(req->queue_id);
	free(req->dest);
	free(req->helo);
	free(req->ca_file);
	free(req->auth_user);
	free(req->mail_from);
	free(req->envid);
	free(req->error);
	if (req->data_fd >= 0)
		close(req->data_fd);
	free(req);
}

/* -- scheduling ----------------------------------------------------- */

static char *req_key(const struct smtpc_req *req)
{
	const struct smtpc_target *t = &req->targets[req->target];
	char ip[INET6_ADDRSTRLEN + 8];

	smtpc_addr_str(&t->addr, ip, sizeof(ip));
	return alloc_printf(
	    "%s|%s|%d|%s|%s|%s", req->target_hosts[req->target], ip,
	    (int)smtpc_req_tls(req), req->ca_file != NULL ? req->ca_file : "",
	    req->auth_user != NULL ? req->auth_user : "", req->helo);
}

static unsigned dest_conns(const struct smtpc *c, const char *dest,
                           struct smtpc_conn **idle_r)
{
	struct smtpc_conn *conn;
	unsigned n = 0;

	*idle_r = NULL;
	LIST_FOREACH(conn, &c->conns, link) {
		if (dest != NULL && strcmp(conn->dest, dest) != 0)
			continue;
		n++;
		if (conn->state == SMTPC_S_IDLE)
			*idle_r = conn;
	}
	return n;
}

static bool try_start(struct smtpc *c, struct smtpc_req *req)
{
	struct smtpc_conn *conn, *idle;
	char *key = req_key(req);
	bool ok = false;

	LIST_FOREACH(conn, &c->conns, link) {
		if (conn->state == SMTPC_S_IDLE && strcmp(conn->key, key) == 0)
			break;
	}
	if (conn != NULL) {
		req_activate(req, conn);
		smtpc_conn_take(conn, req);
		ok = true;
		goto done;
	}
	if (dest_conns(c, req->dest, &idle) >= c->set.max_conns_per_dest) {
		if (idle == NULL)
			goto done;
		smtpc_conn_free(&idle);
	}
	if (c->n_conns >= c->set.max_conns_total) {
		dest_conns(c, NULL, &idle);
		if (idle == NULL)
			goto done;
		smtpc_conn_free(&idle);
	}
	conn = smtpc_conn_open(c, req, key);
	LIST_INSERT_HEAD(&c->conns, conn, link);
	c->n_conns++;
	if (c->n_conns > c->peak)
		c->peak = c->n_conns;
	req_activate(req, conn);
	smtpc_conn_take(conn, req);
	ok = true;
done:
	free(key);
	return ok;
}

static void smtpc_kick(void *arg)
{
	struct smtpc *c = arg;
	struct smtpc_req *req = TAILQ_FIRST(&c->waiting), *next;

	/* Requests decided before they started (smtpc_deliver) are only
	 * reported; their callbacks may change the list: look again. */
	while (req != NULL) {
		if (!req->failed) {
			req = TAILQ_NEXT(req, link);
			continue;
		}
		smtpc_req_finish(req);
		req = TAILQ_FIRST(&c->waiting);
	}
	for (req = TAILQ_FIRST(&c->waiting); req != NULL; req = next) {
		next = TAILQ_NEXT(req, link);
		try_start(c, req);
	}
}

void smtpc_schedule(struct smtpc *c)
{
	if (!TAILQ_EMPTY(&c->waiting))
		evloop_timer_start(c->kick, 0);
}

void smtpc_conn_gone(struct smtpc_conn *conn)
{
	struct smtpc *c = conn->c;

	LIST_REMOVE(conn, link);
	c->n_conns--;
	if (!TAILQ_EMPTY(&c->waiting))
		evloop_timer_start(c->kick, 0);
}

void smtpc_conn_released(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;

	conn->req = NULL;
	req->conn = NULL;
	if (!TAILQ_EMPTY(&conn->c->waiting))
		evloop_timer_start(conn->c->kick, 0);
	smtpc_req_finish(req);
}

void smtpc_req_target_failed(struct smtpc_req *req, bool dead_cache,
                             const char *status, const char *why)
{
	char st[16];
	size_t i;

	if (status == NULL)
		status = "";
	log_info(req->queue_id,
	         "event=target_failed host=%s ip=%s status=%s "
	         "error=%s",
	         req->host, req->ip, status, why);
	free(req->error);
	req->error = alloc_strdup(why);
	req->conn = NULL;
	if (dead_cache && !req->retried_reuse) {
		/* A cached connection the server had closed meanwhile. */
		req->retried_reuse = true;
		req_wait(req, true);
		return;
	}
	if (req->target + 1 < req->n_targets) {
		req->target++;
		req_wait(req, true);
		return;
	}
	/* No target took it: a temporary failure, whatever the last one
	 * said (DESIGN.md invariant 2). */
	snprintf(st, sizeof(st), "4%s",
	         status != NULL && status[0] != '\0' ? status + 1 : ".4.0");
	req->failed = true;
	for (i = 0; i < req->n_rcpts; i++) {
		if (!req->rcpts[i].decided)
			smtpc_rcpt_decide(&req->rcpts[i], st, why);
	}
	smtpc_req_finish(req);
}

/* -- results -------------------------------------------------------- */

static void rcpt_set(struct smtpc_rcpt *r, int code, int cls,
                     const char *status, const char *text, const char *diag)
{
	r->decided = true;
	r->res.code = code;
	r->res.verdict = cls == 2   ? SMTPC_DONE
	                 : cls == 5 ? SMTPC_BOUNCE
	                            : SMTPC_RETRY;
	if (status != NULL && status[0] != '\0')
		snprintf(r->res.status, sizeof(r->res.status), "%s", status);
	else
		snprintf(r->res.status, sizeof(r->res.status), "%d.0.0", cls);
	free(r->text);
	r->text = alloc_strdup(text);
	r->res.text = r->text;
	free(r->diag);
	r->diag = diag != NULL ? alloc_strdup(diag) : NULL;
	r->res.diag = r->diag;
}

void smtpc_rcpt_decide(struct smtpc_rcpt *r, const char *status,
                       const char *text)
{
	/* status is checked before it is read: no status is a retry */
	int cls = status != NULL && status[0] >= '2' && status[0] <= '5'
	              ? status[0] - '0'
	              : 4;

	rcpt_set(r, 0, cls, status, text, NULL);
}

void smtpc_rcpt_decide_reply(struct smtpc_rcpt *r,
                             const struct smtpreply *reply)
{
	struct sbuf *text = sbuf_new(SIZE_MAX);
	struct sbuf *diag = sbuf_new(SMTPREPLY_DIAG_MAX + 64);

	/* Neither can fail: no limit, and format_diag's own bound. */
	(void)smtpreply_format_text(reply, text);
	(void)smtpreply_format_diag(reply, diag);
	rcpt_set(r, (int)reply->code, (int)smtpreply_status_class(reply->code),
	         reply->enhanced, sbuf_data(text), sbuf_data(diag));
	sbuf_deinit(&text);
	sbuf_deinit(&diag);
}

static const char *verdict_name(enum smtpc_verdict v)
{
	return v == SMTPC_DONE     ? "done"
	       : v == SMTPC_BOUNCE ? "bounce"
	                           : "retry";
}

void smtpc_req_finish(struct smtpc_req *req)
{
	struct smtpc_rcpt_result *res;
	struct smtpc_result r;
	uint64_t delay = evloop_now_ms() - req->start_ms;
	size_t i;

	res = alloc_array(req->n_rcpts, sizeof(*res));
	for (i = 0; i < req->n_rcpts; i++) {
		struct smtpc_rcpt *rc = &req->rcpts[i];
		char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX];

		if (!rc->decided)
			smtpc_rcpt_decide(rc, "4.3.0", "no verdict");
		res[i] = rc->res;
		log_info(
		    req->queue_id,
		    "event=delivery rcpt=%s host=%s ip=%s "
		    "tls=%d status=%s code=%d verdict=%s "
		    "reply=%s delay_ms=%llu",
		    log_quote_str(q1, rc->addr), req->reached ? req->host : "-",
		    req->reached ? req->ip : "-", req->tls_info[0] != '\0',
		    rc->res.status, rc->res.code, verdict_name(rc->res.verdict),
		    log_quote_str(q2, rc->res.text), (unsigned long long)delay);
	}
	memset(&r, 0, sizeof(r));
	r.queue_id = req->queue_id;
	r.rcpts = res;
	r.n_rcpts = req->n_rcpts;
	r.host = req->reached ? req->host : NULL;
	r.ip = req->reached ? req->ip : NULL;
	r.tls = req->tls_info[0] != '\0' ? req->tls_info : NULL;
	r.reused = req->reused;
	r.delay_ms = delay;
	r.error = req->failed ? req->error : NULL;
	req->cb(&r, req->ctx);
	free(res);
	req_free(req);
}

/* -- public --------------------------------------------------------- */

struct smtpc *smtpc_new(struct event_base *base,
                        const struct smtpc_settings *set)
{
	struct smtpc *c = alloc_new(struct smtpc);

	TAILQ_INIT(&c->waiting);
	TAILQ_INIT(&c->active);
	LIST_INIT(&c->conns);
	SLIST_INIT(&c->creds);
	c->base = base;
	c->set = *set;
	if (c->set.max_conns_total == 0)
		c->set.max_conns_total = 1;
	if (c->set.max_conns_per_dest == 0)
		c->set.max_conns_per_dest = 1;
	c->set.tls_priority = NULL;
	c->kick = evloop_timer_new(base, smtpc_kick, c);
	if (smtpc_set_tls_priority(c, set->tls_priority) < 0) {
		evloop_timer_free(&c->kick);
		free(c);
		return NULL;
	}
	return c;
}

void smtpc_deinit(struct smtpc **cp)
{
	struct smtpc *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	while (!TAILQ_EMPTY(&c->active)) {
		struct smtpc_req *req = TAILQ_FIRST(&c->active);

		smtpc_cancel(&req);
	}
	while (!TAILQ_EMPTY(&c->waiting))
		req_free(TAILQ_FIRST(&c->waiting));
	while (!LIST_EMPTY(&c->conns)) {
		struct smtpc_conn *conn = LIST_FIRST(&c->conns);

		smtpc_conn_free(&conn);
	}
	while (!SLIST_EMPTY(&c->creds)) {
		struct smtpc_creds *e = SLIST_FIRST(&c->creds);

		SLIST_REMOVE_HEAD(&c->creds, link);
		gnutls_certificate_free_credentials(e->creds);
		free(e->ca_file);
		free(e);
	}
	evloop_timer_free(&c->kick);
	if (c->priority != NULL)
		gnutls_priority_deinit(c->priority);
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? alloc_strdup(s) : NULL;
}

struct smtpc_req *smtpc_deliver(struct smtpc *c, const struct smtpc_job *job,
                                smtpc_cb *cb, void *ctx)
{
	struct smtpc_req *req = alloc_new(struct smtpc_req);
	size_t i;

	req->c = c;
	req->queue_id =
	    alloc_strdup(job->queue_id != NULL ? job->queue_id : "-");
	req->dest =
	    alloc_strdup(job->dest != NULL ? job->dest : job->targets[0].host);
	req->helo =
	    alloc_strdup(job->helo_name != NULL ? job->helo_name : "localhost");
	req->ca_file = dup_or_null(job->ca_file);
	req->auth_user = dup_or_null(job->auth_user);
	req->auth_password = dup_or_null(job->auth_password);
	req->mail_from =
	    alloc_strdup(job->mail_from != NULL ? job->mail_from : "");
	req->envid = job->envid != NULL && job->envid[0] != '\0'
	                 ? alloc_strdup(job->envid)
	                 : NULL;
	req->n_targets = job->n_targets;
	req->targets =
	    alloc_memdup(job->targets, job->n_targets * sizeof(*job->targets));
	req->target_hosts = alloc_array(job->n_targets, sizeof(char *));
	for (i = 0; i < job->n_targets; i++) {
		req->target_hosts[i] = alloc_strdup(job->targets[i].host);
		req->targets[i].host = req->target_hosts[i];
	}
	req->tls = job->tls;
	req->plain_target = -1;
	req->need_smtputf8 = job->need_smtputf8;
	req->eightbit = job->eightbit;
	req->size = job->size != 0 ? job->size : job->data_len;
	req->ret = job->ret;
	req->n_rcpts = job->n_rcpts;
	req->rcpts = alloc_array(job->n_rcpts, sizeof(*req->rcpts));
	memset(req->rcpts, 0, job->n_rcpts * sizeof(*req->rcpts));
	for (i = 0; i < job->n_rcpts; i++) {
		req->rcpts[i].addr = alloc_strdup(job->rcpts[i]);
		req->rcpts[i].notify = job->notify != NULL ? job->notify[i] : 0;
		if (job->orcpt != NULL && job->orcpt[i] != NULL &&
		    job->orcpt[i][0] != '\0')
			req->rcpts[i].orcpt = alloc_strdup(job->orcpt[i]);
	}
	req->data_mem = job->data_mem;
	req->data_fd = req->data_mem != NULL
	                   ? -1
	                   : fcntl(job->data_fd, F_DUPFD_CLOEXEC, 0);
	if (req->data_mem == NULL && req->data_fd < 0) {
		/* Nothing to send: RETRY for all, from the loop as always. */
		req->error = alloc_printf("cannot duplicate the message "
		                          "descriptor: %s",
		                          strerror(errno));
		req->failed = true;
		for (i = 0; i < req->n_rcpts; i++)
			smtpc_rcpt_decide(&req->rcpts[i], "4.3.0", req->error);
	}
	req->data_offset = job->data_offset;
	req->data_len = job->data_len;
	req->cb = cb;
	req->ctx = ctx;
	req->start_ms = evloop_now_ms();
	req_wait(req, false);
	return req;
}

void smtpc_cancel(struct smtpc_req **reqp)
{
	struct smtpc_req *req = *reqp;

	if (req == NULL)
		return;
	*reqp = NULL;
	if (req->conn != NULL) {
		struct smtpc_conn *conn = req->conn;

		conn->req = NULL;
		req->conn = NULL;
		smtpc_conn_free(&conn);
	}
	req_free(req);
}

unsigned smtpc_conns(const struct smtpc *c, unsigned *peak_r)
{
	if (peak_r != NULL)
		*peak_r = c->peak;
	return c->n_conns;
}
