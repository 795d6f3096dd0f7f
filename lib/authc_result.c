/*
 * authc_result - authd answers to authc.h's result structs
 *
 * DESCRIPTION
 *	See authc_private.h. Arrays (LOOKUP's destinations, SENDERS'
 *	addresses) are built for the callback and freed after it; the
 *	strings in them are the message's own.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authc_private.h"
#include "log.h"

#define LOG_ID "authc"

void authc_result_fail(enum authproto_verb verb, union authc_cb cb, void *ctx,
                       const char *reason)
{
	switch (verb) {
	case AUTHPROTO_LOOKUP: {
		struct authc_lookup_result res = {.status = AUTHC_TEMPFAIL,
		                                  .reason = reason};
		cb.lookup(&res, ctx);
		break;
	}
	case AUTHPROTO_AUTH:
	case AUTHPROTO_SASL: {
		struct authc_auth_result res = {.status = AUTHC_TEMPFAIL,
		                                .reason = reason};
		cb.auth(&res, ctx);
		break;
	}
	default: {
		struct authc_senders_result res = {.status = AUTHC_TEMPFAIL,
		                                   .reason = reason};
		cb.senders(&res, ctx);
		break;
	}
	}
}

static void deliver_lookup(union authc_cb cb, void *ctx,
                           const struct authproto_msg *m, enum authc_status st,
                           const char *reason)
{
	struct authc_lookup_result res = {.status = st, .reason = reason};
	struct authc_dest *dests = NULL;
	struct authproto_field f;
	const char *kb;
	size_t n = 0;

	if (st == AUTHC_OK) {
		for (size_t i = 0; authproto_msg_field(m, i, &f); i++)
			n += strcmp(f.key, "rcpt") == 0;
		dests = alloc_array(n, sizeof(*dests));
		n = 0;
		for (size_t i = 0; authproto_msg_field(m, i, &f); i++) {
			if (strcmp(f.key, "rcpt") != 0)
				continue;
			dests[n].rcpt = f.value;
			dests[n].hop = authproto_msg_record_get(m, i, "hop");
			dests[n].sender =
			    authproto_msg_record_get(m, i, "sender");
			kb = authproto_msg_record_get(m, i, "maxkb");
			dests[n++].max_kb =
			    kb != NULL ? strtoull(kb, NULL, 10) : 0;
		}
		res.cached = strcmp(authproto_msg_get(m, "cached"), "1") == 0;
		res.domain = authproto_msg_get(m, "domain");
	}
	if (res.domain == NULL)
		res.domain = "external";
	res.n_dests = n;
	res.dests = dests;
	res.dc = authproto_msg_get(m, "dc");
	if (st == AUTHC_NOTFOUND)
		res.restricted = authproto_msg_get(m, "restricted");
	cb.lookup(&res, ctx);
	free(dests);
}

static void deliver_auth(union authc_cb cb, void *ctx,
                         const struct authproto_msg *m, enum authc_status st,
                         const char *reason)
{
	struct authc_auth_result res = {.status = st, .reason = reason};
	uint64_t delay;

	if (authproto_msg_verb(m) == AUTHPROTO_CONTINUE)
		res.challenge = authproto_msg_get(m, "challenge");
	else if (st == AUTHC_OK)
		res.user = authproto_msg_get(m, "user");
	if (authproto_msg_get_uint(m, "delay_ms", &delay))
		res.delay_ms = (unsigned int)delay; /* <= 3600000: schema */
	cb.auth(&res, ctx);
}

static void deliver_senders(union authc_cb cb, void *ctx,
                            const struct authproto_msg *m, enum authc_status st,
                            const char *reason)
{
	struct authc_senders_result res = {.status = st, .reason = reason};
	struct authproto_field f;
	const char **addrs;
	uint64_t limit;
	size_t n = 0;

	addrs = alloc_array(authproto_msg_count(m) + 1, sizeof(*addrs));
	for (size_t i = 0; st == AUTHC_OK && authproto_msg_field(m, i, &f); i++)
		if (strcmp(f.key, "addr") == 0)
			addrs[n++] = f.value;
	res.n_addrs = n;
	res.addrs = addrs;
	if (st == AUTHC_OK && authproto_msg_get_uint(m, "recip_limit", &limit))
		res.recip_limit = (unsigned)limit; /* < 2^32: schema */
	if (st == AUTHC_OK && authproto_msg_get_uint(m, "send_maxkb", &limit))
		res.send_max_kb = limit;
	cb.senders(&res, ctx);
	free(addrs);
}

void authc_result_deliver(enum authproto_verb verb, uint64_t id,
                          union authc_cb cb, void *ctx,
                          const struct authproto_msg *m)
{
	const char *reason = authproto_msg_get(m, "reason");
	enum authc_status st = AUTHC_TEMPFAIL;
	char *text = NULL;

	switch (authproto_msg_verb(m)) {
	case AUTHPROTO_OK:
	case AUTHPROTO_CONTINUE: /* SASL: the exchange goes on */
		st = AUTHC_OK;
		break;
	case AUTHPROTO_NOTFOUND:
		st = AUTHC_NOTFOUND;
		break;
	case AUTHPROTO_ERROR: {
		char q[LOG_QUOTE_MAX];

		log_warn(LOG_ID,
		         "event=request_refused req=%llu verb=%s "
		         "reason=%s",
		         (unsigned long long)id, authproto_verb_name(verb),
		         log_quote_str(q, reason));
		text = alloc_printf("authd refused the request: %s", reason);
		reason = text;
		break;
	}
	default:
		break;
	}
	if (reason == NULL)
		reason = "";
	if (verb == AUTHPROTO_LOOKUP)
		deliver_lookup(cb, ctx, m, st, reason);
	else if (verb == AUTHPROTO_AUTH || verb == AUTHPROTO_SASL)
		deliver_auth(cb, ctx, m, st, reason);
	else
		deliver_senders(cb, ctx, m, st, reason);
	free(text);
}
