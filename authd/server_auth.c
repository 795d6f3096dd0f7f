/*
 * server_auth - the authd protocol answers to AUTH, SENDERS and THROTTLE,
 * built from authcheck's answer (authcheck.h) for server.c. Pure: the
 * message is the caller's to send.
 */
#include "server_private.h"

#include "authcheck.h"
#include "authproto.h"
#include "famclient.h"

static void add_status(struct authproto_msg *m,
                       const struct authcheck_answer *a, bool reset)
{
	const struct authcheck_status *st = a->acct;

	authproto_msg_add_str(m, "dn", st->dn);
	if (reset) {
		authproto_msg_add_str(m, "cleared", st->cleared ? "1" : "0");
		return;
	}
	authproto_msg_add_str(m, "policy", st->policy);
	authproto_msg_add_uint(m, "threshold", st->threshold);
	authproto_msg_add_uint(m, "cap", st->cap);
	authproto_msg_add_uint(m, "unfamiliar_cap", st->unfamiliar_cap);
	authproto_msg_add_uint(m, "failures", st->failures);
	authproto_msg_add_uint(m, "own_failures", st->own_failures);
	authproto_msg_add_uint(m, "directory_failures", st->directory_failures);
	if (st->counted_at != NULL)
		authproto_msg_add_str(m, "counted_at", st->counted_at);
	authproto_msg_add_str(m, "strangers",
	                      st->strangers_throttled ? "throttled" : "open");
	authproto_msg_add_str(m, "familiar_clients",
	                      st->familiar_throttled ? "throttled" : "open");
	if (st->ends_in_ms > 0)
		authproto_msg_add_uint(m, "ends_in_ms", st->ends_in_ms);
	if (st->blocked != NULL)
		authproto_msg_add_str(m, "blocked", st->blocked);
	for (size_t i = 0; i < st->n_familiar; i++) {
		authproto_msg_add_str(m, "familiar", st->familiar[i].prefix);
		authproto_msg_add_uint(m, "last_ok", st->familiar[i].last_ok_s);
	}
}

struct authproto_msg *server_auth_answer(enum authproto_verb request,
                                         uint64_t id, const char *op,
                                         const struct authcheck_answer *a)
{
	enum authproto_verb v = a->status == LOOKUP_OK ? AUTHPROTO_OK
	                        : a->status == LOOKUP_NOTFOUND
	                            ? AUTHPROTO_NOTFOUND
	                            : AUTHPROTO_TEMPFAIL;
	struct authproto_msg *m = authproto_msg_new_answer(v, request, id);

	if (a->status != LOOKUP_OK) {
		authproto_msg_add_str(m, "reason", a->reason);
		if ((request == AUTHPROTO_AUTH || request == AUTHPROTO_SASL) &&
		    a->delay_ms > 0)
			authproto_msg_add_uint(m, "delay_ms", a->delay_ms);
	} else if (request == AUTHPROTO_AUTH || request == AUTHPROTO_SASL) {
		authproto_msg_add_str(m, "user", a->account);
	} else if (request == AUTHPROTO_SENDERS) {
		for (size_t i = 0; i < a->n_addrs; i++)
			authproto_msg_add_str(m, "addr", a->addrs[i]);
		if (a->recip_limit > 0)
			authproto_msg_add_uint(m, "recip_limit",
			                       a->recip_limit);
		if (a->send_max_kb > 0)
			authproto_msg_add_uint(m, "send_maxkb", a->send_max_kb);
	} else {
		add_status(m, a, op != NULL && strcmp(op, "reset") == 0);
	}
	return m;
}
