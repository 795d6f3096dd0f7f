/*
 * authproto_table - the schema of every authd protocol message.
 *
 * One table per (request verb, answer verb) pair, in the order fields are
 * checked: a field marked AP_HEAD opens a record made of the AP_MEMBER
 * fields listed right after it, which must follow the head on the wire in
 * this same order. include/authproto.txt documents the same tables for
 * client writers; change both together (and the protocol version when an
 * old peer would reject the new form).
 */
#include "authproto_private.h"

#include <stddef.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SCHEMA(a)                                                              \
	{                                                                      \
		a, N(a)                                                        \
	}

/* Decoded length limits. */
#define ADDR_MAX 512 /* larger than RFC 5321's 256 on purpose: SMTPUTF8 */
#define NAME_MAX_ 1024
#define TEXT_MAX 65536
#define PASS_MAX 4096
/* A SASL step in base64: a Kerberos AP-REQ with a large PAC (many
   groups) is a few KiB; 16 KiB of base64 is 12 KiB of token. */
#define SASL_B64_MAX 16384

static const char *const contexts[] = {"mx", "submission", NULL};
static const char *const mechs[] = {"PLAIN", "LOGIN", NULL};
static const char *const sasl_mechs[] = {"GSSAPI", "GSS-SPNEGO", NULL};
static const char *const cache_ops[] = {"flush", NULL};
static const char *const reload_states[] = {"ok", "partial", "failed", NULL};
static const char *const dc_states[] = {"unknown", "up", "down", "gone", NULL};
static const char *const domain_kinds[] = {"local", "internalrelay", "relay",
                                           "external", NULL};
static const char *const throttle_ops[] = {"status", "reset", NULL};
static const char *const throttle_states[] = {"open", "throttled", NULL};

/* Requests. */
static const struct authproto_fieldspec hello_req[] = {
    {"version", AP_UINT, AP_REQ, 65535, NULL},
    {"client", AP_TOKEN, AP_REQ, 64, NULL},
};
static const struct authproto_fieldspec lookup_req[] = {
    {"addr", AP_NAME, AP_REQ, ADDR_MAX, NULL},
    {"context", AP_ENUM, AP_REQ, 0, contexts},
    {"user", AP_NAME, 0, ADDR_MAX, NULL},
    {"from", AP_NAME, 0, ADDR_MAX, NULL},
    {"trace", AP_BOOL, 0, 0, NULL},
    {"nocache", AP_BOOL, 0, 0, NULL},
};
static const struct authproto_fieldspec auth_req[] = {
    {"mech", AP_ENUM, AP_REQ, 0, mechs},
    {"user", AP_NAME, AP_REQ, ADDR_MAX, NULL},
    {"pass", AP_SECRET, AP_REQ, PASS_MAX, NULL},
    {"client", AP_IP, 0, 0, NULL},
};
static const struct authproto_fieldspec sasl_req[] = {
    {"exch", AP_UINT, AP_REQ, UINT32_MAX, NULL},
    {"mech", AP_ENUM, 0, 0, sasl_mechs},
    {"resp", AP_TEXT, 0, SASL_B64_MAX, NULL},
    {"abort", AP_BOOL, 0, 0, NULL},
    {"client", AP_IP, 0, 0, NULL},
};
static const struct authproto_fieldspec senders_req[] = {
    {"user", AP_NAME, 0, ADDR_MAX, NULL}, /* one of user and from */
    {"from", AP_NAME, 0, ADDR_MAX, NULL},
};
static const struct authproto_fieldspec throttle_req[] = {
    {"user", AP_NAME, AP_REQ, ADDR_MAX, NULL},
    {"op", AP_ENUM, AP_REQ, 0, throttle_ops},
};
static const struct authproto_fieldspec cache_req[] = {
    {"op", AP_ENUM, AP_REQ, 0, cache_ops},
    {"addr", AP_NAME, 0, ADDR_MAX, NULL},
};

/* OK answers. */
static const struct authproto_fieldspec hello_ok[] = {
    {"version", AP_UINT, AP_REQ, 65535, NULL},
    {"server", AP_TOKEN, AP_REQ, 64, NULL},
    {"mech", AP_TOKEN, AP_REP, 20, NULL}, /* version 2 */
};
static const struct authproto_fieldspec lookup_ok[] = {
    {"rcpt", AP_NAME, AP_REQ | AP_REP | AP_HEAD, ADDR_MAX, NULL},
    {"hop", AP_TOKEN, AP_REQ | AP_MEMBER, NAME_MAX_, NULL},
    {"maxkb", AP_UINT, AP_MEMBER, UINT64_MAX >> 11, NULL},
    {"sender", AP_NAME, AP_MEMBER, ADDR_MAX, NULL},
    {"dc", AP_TOKEN, 0, NAME_MAX_, NULL},
    {"cached", AP_BOOL, AP_REQ, 0, NULL},
    {"domain", AP_ENUM, 0, 0, domain_kinds},
    {"rule", AP_TEXT, 0, TEXT_MAX, NULL},
    {"trace", AP_TEXT, AP_REP, TEXT_MAX, NULL},
};
static const struct authproto_fieldspec auth_ok[] = {
    {"user", AP_NAME, AP_REQ, ADDR_MAX, NULL},
};
static const struct authproto_fieldspec sasl_continue[] = {
    {"challenge", AP_TEXT, AP_REQ, SASL_B64_MAX, NULL},
};
static const struct authproto_fieldspec senders_ok[] = {
    {"addr", AP_NAME, AP_REP, ADDR_MAX, NULL},
    {"recip_limit", AP_UINT, 0, 4294967295u, NULL},
    {"send_maxkb", AP_UINT, 0, UINT64_MAX >> 11, NULL},
};
static const struct authproto_fieldspec dc_ok[] = {
    {"source", AP_TEXT, 0, TEXT_MAX, NULL},
    {"client_site", AP_NAME, 0, NAME_MAX_, NULL},
    {"last_error", AP_TEXT, 0, TEXT_MAX, NULL},
    {"watch", AP_TOKEN, 0, 32, NULL},
    {"watch_state", AP_TOKEN, 0, 32, NULL},
    {"watch_dc", AP_TOKEN, 0, NAME_MAX_, NULL},
    {"watch_changes", AP_UINT, 0, UINT64_MAX, NULL},
    {"watch_dropped", AP_UINT, 0, UINT64_MAX, NULL},
    {"watch_flushes", AP_UINT, 0, UINT64_MAX, NULL},
    {"watch_last_change", AP_UINT, 0, UINT64_MAX, NULL},
    {"watch_last_dn", AP_TEXT, 0, TEXT_MAX, NULL},
    {"watch_error", AP_TEXT, 0, TEXT_MAX, NULL},
    {"watch_deletions", AP_TOKEN, 0, 16, NULL},
    {"dc", AP_TOKEN, AP_REP | AP_HEAD, NAME_MAX_, NULL},
    {"state", AP_ENUM, AP_REQ | AP_MEMBER, 0, dc_states},
    {"site", AP_NAME, AP_MEMBER, NAME_MAX_, NULL},
    {"prio", AP_UINT, AP_REQ | AP_MEMBER, 65535, NULL},
    {"weight", AP_UINT, AP_REQ | AP_MEMBER, 65535, NULL},
    {"protection", AP_TOKEN, AP_MEMBER, 32, NULL},
    {"error", AP_TEXT, AP_MEMBER, TEXT_MAX, NULL},
    /* version 2: Kerberos SMTP AUTH's principal and keytab */
    {"smtp_service", AP_TOKEN, 0, NAME_MAX_, NULL},
    {"smtp_key", AP_TOKEN, AP_REP | AP_HEAD, NAME_MAX_, NULL},
    {"kvno", AP_UINT, AP_REQ | AP_MEMBER, UINT32_MAX, NULL},
    {"enctype", AP_TOKEN, AP_REQ | AP_MEMBER, 64, NULL},
};
static const struct authproto_fieldspec stats_ok[] = {
    {"counter", AP_TOKEN, AP_REP | AP_HEAD, 64, NULL},
    {"value", AP_UINT, AP_REQ | AP_MEMBER, UINT64_MAX, NULL},
};
static const struct authproto_fieldspec cache_ok[] = {
    {"entries", AP_UINT, 0, UINT64_MAX, NULL},
};
static const struct authproto_fieldspec reload_ok[] = {
    {"status", AP_ENUM, AP_REQ, 0, reload_states},
    {"line", AP_TEXT, AP_REP, TEXT_MAX, NULL},
};

static const struct authproto_fieldspec throttle_ok[] = {
    {"dn", AP_TEXT, AP_REQ, TEXT_MAX, NULL},
    {"cleared", AP_BOOL, 0, 0, NULL},
    {"policy", AP_TOKEN, 0, 32, NULL},
    {"threshold", AP_UINT, 0, 65535, NULL},
    {"cap", AP_UINT, 0, 100000, NULL},
    {"unfamiliar_cap", AP_UINT, 0, 100000, NULL},
    {"failures", AP_UINT, 0, UINT32_MAX, NULL},
    {"own_failures", AP_UINT, 0, UINT32_MAX, NULL},
    {"directory_failures", AP_UINT, 0, UINT32_MAX, NULL},
    {"counted_at", AP_TOKEN, 0, NAME_MAX_, NULL},
    {"strangers", AP_ENUM, 0, 0, throttle_states},
    {"familiar_clients", AP_ENUM, 0, 0, throttle_states},
    {"ends_in_ms", AP_UINT, 0, UINT64_MAX, NULL},
    {"blocked", AP_TEXT, 0, TEXT_MAX, NULL},
    {"familiar", AP_TOKEN, AP_REP | AP_HEAD, 64, NULL},
    {"last_ok", AP_UINT, AP_REQ | AP_MEMBER, UINT64_MAX, NULL},
};

/* NOTFOUND, TEMPFAIL and ERROR answers. */
static const struct authproto_fieldspec reason_only[] = {
    {"reason", AP_TEXT, AP_REQ, TEXT_MAX, NULL},
};
static const struct authproto_fieldspec lookup_fail[] = {
    {"reason", AP_TEXT, AP_REQ, TEXT_MAX, NULL},
    {"dc", AP_TOKEN, 0, NAME_MAX_, NULL},
    {"rule", AP_TEXT, 0, TEXT_MAX, NULL},
    {"trace", AP_TEXT, AP_REP, TEXT_MAX, NULL},
    {"restricted", AP_TOKEN, 0, 64, NULL},
};
static const struct authproto_fieldspec auth_fail[] = {
    {"reason", AP_TEXT, AP_REQ, TEXT_MAX, NULL},
    {"delay_ms", AP_UINT, 0, 3600000, NULL},
};
static const struct authproto_fieldspec hello_error[] = {
    {"reason", AP_TEXT, AP_REQ, TEXT_MAX, NULL},
    {"supported", AP_UINT, AP_REQ | AP_REP, 65535, NULL},
};

static const struct authproto_schema s_reason = SCHEMA(reason_only);

/* An answer schema with no fields array is an answer not allowed. */
struct verb_schemas {
	struct authproto_schema request, ok, notfound, tempfail, error, cont;
};

static const struct verb_schemas verbs[] = {
    [AUTHPROTO_HELLO] = {.request = SCHEMA(hello_req),
                         .ok = SCHEMA(hello_ok),
                         .error = SCHEMA(hello_error)},
    [AUTHPROTO_LOOKUP] = {.request = SCHEMA(lookup_req),
                          .ok = SCHEMA(lookup_ok),
                          .notfound = SCHEMA(lookup_fail),
                          .tempfail = SCHEMA(lookup_fail),
                          .error = SCHEMA(reason_only)},
    [AUTHPROTO_AUTH] = {.request = SCHEMA(auth_req),
                        .ok = SCHEMA(auth_ok),
                        .notfound = SCHEMA(auth_fail),
                        .tempfail = SCHEMA(auth_fail),
                        .error = SCHEMA(reason_only)},
    [AUTHPROTO_SENDERS] = {.request = SCHEMA(senders_req),
                           .ok = SCHEMA(senders_ok),
                           .notfound = SCHEMA(reason_only),
                           .tempfail = SCHEMA(reason_only),
                           .error = SCHEMA(reason_only)},
    [AUTHPROTO_DC] = {.ok = SCHEMA(dc_ok),
                      .tempfail = SCHEMA(reason_only),
                      .error = SCHEMA(reason_only)},
    [AUTHPROTO_STATS] = {.ok = SCHEMA(stats_ok),
                         .tempfail = SCHEMA(reason_only),
                         .error = SCHEMA(reason_only)},
    [AUTHPROTO_CACHE] = {.request = SCHEMA(cache_req),
                         .ok = SCHEMA(cache_ok),
                         .tempfail = SCHEMA(reason_only),
                         .error = SCHEMA(reason_only)},
    [AUTHPROTO_RELOAD] = {.ok = SCHEMA(reload_ok),
                          .error = SCHEMA(reason_only)},
    [AUTHPROTO_THROTTLE] = {.request = SCHEMA(throttle_req),
                            .ok = SCHEMA(throttle_ok),
                            .notfound = SCHEMA(reason_only),
                            .tempfail = SCHEMA(reason_only),
                            .error = SCHEMA(reason_only)},
    [AUTHPROTO_SASL] = {.request = SCHEMA(sasl_req),
                        .ok = SCHEMA(auth_ok),
                        .notfound = SCHEMA(auth_fail),
                        .tempfail = SCHEMA(auth_fail),
                        .error = SCHEMA(reason_only),
                        .cont = SCHEMA(sasl_continue)},
};

static const char *const names[AUTHPROTO_VERB_COUNT] = {
    [AUTHPROTO_HELLO] = "HELLO",
    [AUTHPROTO_LOOKUP] = "LOOKUP",
    [AUTHPROTO_AUTH] = "AUTH",
    [AUTHPROTO_SENDERS] = "SENDERS",
    [AUTHPROTO_DC] = "DC",
    [AUTHPROTO_STATS] = "STATS",
    [AUTHPROTO_CACHE] = "CACHE",
    [AUTHPROTO_RELOAD] = "RELOAD",
    [AUTHPROTO_THROTTLE] = "THROTTLE",
    [AUTHPROTO_SASL] = "SASL",
    [AUTHPROTO_OK] = "OK",
    [AUTHPROTO_NOTFOUND] = "NOTFOUND",
    [AUTHPROTO_TEMPFAIL] = "TEMPFAIL",
    [AUTHPROTO_ERROR] = "ERROR",
    [AUTHPROTO_CONTINUE] = "CONTINUE",
};

const char *authproto_table_verb_name(enum authproto_verb verb)
{
	if ((unsigned)verb >= AUTHPROTO_VERB_COUNT)
		return NULL;
	return names[verb];
}

const struct authproto_schema *
authproto_table_schema(enum authproto_verb verb, enum authproto_verb request)
{
	const struct verb_schemas *v;
	const struct authproto_schema *a;

	if (request == AUTHPROTO_NONE)
		return verb == AUTHPROTO_ERROR ? &s_reason : NULL;
	if (request < AUTHPROTO_HELLO || request > AUTHPROTO_SASL)
		return NULL;
	v = &verbs[request];
	switch (verb) {
	case AUTHPROTO_OK:
		a = &v->ok;
		break;
	case AUTHPROTO_NOTFOUND:
		a = &v->notfound;
		break;
	case AUTHPROTO_TEMPFAIL:
		a = &v->tempfail;
		break;
	case AUTHPROTO_ERROR:
		a = &v->error;
		break;
	case AUTHPROTO_CONTINUE:
		a = &v->cont;
		break;
	default:
		/* a request: its own verb; DC and STATS have no fields */
		return verb == request ? &v->request : NULL;
	}
	return a->fields != NULL ? a : NULL;
}
