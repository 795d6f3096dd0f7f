/*
 * server_sasl - the SASL request of the authd protocol (version 2): a
 * multi-step SMTP AUTH exchange (GSSAPI, GSS-SPNEGO) that routerd relays
 * step by step; see authproto.txt, section 5, and smtpsasl.h.
 *
 * Each exchange is named by its exch= number, chosen by the client and
 * unique on its connection while it runs. The first request names the
 * mechanism; every request carries the client's step in base64 (resp=)
 * and gets CONTINUE with authd's challenge, or the end: OK with the
 * canonical account (the principal mapped to the directory entry by
 * authcheck_kerberos(), as AUTH answers), NOTFOUND (with the client's
 * delay: every failure counts against the client as a wrong password
 * does), TEMPFAIL. The exchange is gone after its end, after abort=1, and
 * when the connection closes.
 *
 * Tokens are never logged; the principal and the outcome are.
 */
#include "server_private.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "alloc.h"
#include "authcheck.h"
#include "authproto.h"
#include "log.h"
#include "server.h"
#include "smtpsasl.h"

/* Exchanges in flight on one connection at most: one per SMTP session
 * in AUTH, which routerd's connection limits bound far below this. */
#define EXCH_MAX 4096

struct exch {
	struct server_sasl *ss;
	uint64_t exch;
	uint64_t id; /* the request being answered */
	char *client;
	struct smtpsasl_exch *x;
	struct authcheck_req *areq; /* mapping the principal, or counting */
	LIST_ENTRY(exch) link;
};

struct server_sasl {
	const struct server_backends *b;
	server_sasl_send_fn *send;
	void *conn;
	const char *name;
	LIST_HEAD(, exch) exchs;
	size_t n;
};

struct server_sasl *server_sasl_new(const struct server_backends *b,
                                    server_sasl_send_fn *send, void *conn,
                                    const char *conn_name)
{
	struct server_sasl *ss = alloc_new(struct server_sasl);

	ss->b = b;
	ss->send = send;
	ss->conn = conn;
	ss->name = conn_name;
	LIST_INIT(&ss->exchs);
	return ss;
}

static void exch_free(struct exch *e)
{
	LIST_REMOVE(e, link);
	e->ss->n--;
	smtpsasl_exch_deinit(&e->x);
	authcheck_cancel(&e->areq);
	free(e->client);
	free(e);
}

void server_sasl_deinit(struct server_sasl **ssp)
{
	struct server_sasl *ss = *ssp;

	if (ss == NULL)
		return;
	*ssp = NULL;
	while (!LIST_EMPTY(&ss->exchs))
		exch_free(LIST_FIRST(&ss->exchs));
	free(ss);
}

static struct exch *exch_find(struct server_sasl *ss, uint64_t n)
{
	struct exch *e;

	LIST_FOREACH(e, &ss->exchs, link)
		if (e->exch == n)
			return e;
	return NULL;
}

static void answer(struct server_sasl *ss, enum authproto_verb verb,
                   uint64_t id, const char *key, const char *value)
{
	struct authproto_msg *m =
	    authproto_msg_new_answer(verb, AUTHPROTO_SASL, id);

	authproto_msg_add_str(m, key, value);
	ss->send(ss->conn, m);
}

/* authcheck answered: the end of the exchange. */
static void mapped(const struct authcheck_answer *a, void *ctx)
{
	struct exch *e = ctx;
	struct server_sasl *ss = e->ss;

	e->areq = NULL;
	ss->send(ss->conn, server_auth_answer(AUTHPROTO_SASL, e->id, NULL, a));
	exch_free(e);
}

/* The exchange failed (why) or proved principal: let authcheck map it or
 * count the failure, then answer. */
static void finish(struct exch *e, const char *principal, const char *why)
{
	const struct smtpkeytab *kt = smtpsasl_keytab(e->ss->b->sasl);

	if (principal == NULL)
		log_info(e->ss->name,
		         "event=sasl_failed exch=%llu client=%s reason=\"%s\"",
		         (unsigned long long)e->exch,
		         e->client != NULL ? e->client : "-", why);
	e->areq = authcheck_kerberos(e->ss->b->auth, principal,
	                             kt != NULL ? kt->realm : NULL, why,
	                             e->client, mapped, e);
	/* principal was the exchange's: authcheck has its own copy now */
	smtpsasl_exch_deinit(&e->x);
}

static void on_result(struct exch *e, const struct smtpsasl_result *r)
{
	struct server_sasl *ss = e->ss;
	char *b64;

	switch (r->status) {
	case SMTPSASL_CONTINUE:
		b64 = smtpsasl_b64_encode(r->out, r->out_len);
		answer(ss, AUTHPROTO_CONTINUE, e->id, "challenge", b64);
		free(b64);
		return;
	case SMTPSASL_DONE:
		finish(e, r->user, NULL);
		return;
	case SMTPSASL_REFUSED:
		finish(e, NULL, r->why);
		return;
	case SMTPSASL_TEMPFAIL:
		log_warn(ss->name,
		         "event=sasl_tempfail exch=%llu reason=\"%s\"",
		         (unsigned long long)e->exch, r->why);
		answer(ss, AUTHPROTO_TEMPFAIL, e->id, "reason",
		       "Kerberos is not available");
		exch_free(e);
		return;
	}
}

static void start(struct server_sasl *ss, uint64_t id, uint64_t n,
                  const struct authproto_msg *req)
{
	const char *mech = authproto_msg_get(req, "mech");
	const char *resp = authproto_msg_get(req, "resp");
	const char *client = authproto_msg_get(req, "client");
	struct smtpsasl_result r;
	unsigned char *in = NULL;
	size_t len = 0;
	unsigned delay = 0;
	struct exch *e;

	if (ss->b->sasl == NULL || !smtpsasl_runs(ss->b->sasl, mech)) {
		answer(ss, AUTHPROTO_ERROR, id, "reason",
		       "mechanism not offered");
		return;
	}
	if (ss->n >= EXCH_MAX) {
		answer(ss, AUTHPROTO_TEMPFAIL, id, "reason",
		       "too many exchanges at once");
		return;
	}
	e = alloc_new(struct exch);
	e->ss = ss;
	e->exch = n;
	e->id = id;
	e->client = client != NULL ? alloc_strdup(client) : NULL;
	LIST_INSERT_HEAD(&ss->exchs, e, link);
	ss->n++;
	if (authcheck_client_throttled(ss->b->auth, client, &delay)) {
		struct authproto_msg *m = authproto_msg_new_answer(
		    AUTHPROTO_NOTFOUND, AUTHPROTO_SASL, id);

		authproto_msg_add_str(m, "reason",
		                      "too many failures from this client");
		authproto_msg_add_uint(m, "delay_ms", delay);
		ss->send(ss->conn, m);
		exch_free(e);
		return;
	}
	if (resp != NULL &&
	    smtpsasl_b64_decode(resp, strlen(resp), &in, &len) < 0) {
		finish(e, NULL, "step is not base64");
		return;
	}
	e->x = smtpsasl_start(ss->b->sasl, mech, resp != NULL ? in : NULL, len,
	                      &r);
	free(in);
	if (e->x == NULL && r.status == SMTPSASL_REFUSED)
		finish(e, NULL, r.why);
	else
		on_result(e, &r);
}

void server_sasl_request(struct server_sasl *ss,
                         const struct authproto_msg *req)
{
	uint64_t id = authproto_msg_id(req), n = 0;
	const char *resp = authproto_msg_get(req, "resp");
	const char *abort_ = authproto_msg_get(req, "abort");
	struct exch *e;
	struct smtpsasl_result r;
	unsigned char *in = NULL;
	size_t len = 0;

	authproto_msg_get_uint(req, "exch", &n);
	e = exch_find(ss, n);
	if (abort_ != NULL && strcmp(abort_, "1") == 0) {
		if (e != NULL)
			exch_free(e);
		answer(ss, AUTHPROTO_NOTFOUND, id, "reason", "cancelled");
		return;
	}
	if (authproto_msg_get(req, "mech") != NULL) {
		if (e != NULL)
			answer(ss, AUTHPROTO_ERROR, id, "reason",
			       "exchange in use");
		else
			start(ss, id, n, req);
		return;
	}
	if (e == NULL || e->x == NULL || e->areq != NULL) {
		answer(ss, AUTHPROTO_ERROR, id, "reason",
		       "no such exchange waiting for a step");
		return;
	}
	e->id = id;
	if (smtpsasl_b64_decode(resp != NULL ? resp : "",
	                        resp != NULL ? strlen(resp) : 0, &in,
	                        &len) < 0) {
		finish(e, NULL, "step is not base64");
		return;
	}
	smtpsasl_step(e->x, in, len, &r);
	free(in);
	on_result(e, &r);
}
