/*
 * authproto_private.h - what authproto.c and authproto_table.c share: the
 * message schema types and the test hook for secret wiping. Not for users
 * of the codec.
 */
#ifndef DIRMX_AUTHPROTO_PRIVATE_H
#define DIRMX_AUTHPROTO_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authproto.h"

enum authproto_type {
	/* the string types first: their max is a length */
	AP_TEXT,   /* any bytes but NUL, may be empty */
	AP_SECRET, /* like TEXT but not empty; wiped on deinit */
	AP_NAME,   /* UTF-8, no C0 control or DEL, not empty */
	AP_TOKEN,  /* NAME without space */
	AP_UINT,   /* decimal, no leading zero, at most max */
	AP_BOOL,   /* "0" or "1" */
	AP_ENUM,   /* one of enums[] (case matters) */
	AP_IP,     /* IPv4 dotted quad or IPv6, as inet_pton() reads them */
};

enum authproto_flags {
	AP_REQ = 1u << 0,    /* at least once (a record member: per record) */
	AP_REP = 1u << 1,    /* may appear more than once */
	AP_HEAD = 1u << 2,   /* opens a record of the AP_MEMBER fields after */
	AP_MEMBER = 1u << 3, /* belongs to the nearest AP_HEAD before it */
};

struct authproto_fieldspec {
	const char *key;
	enum authproto_type type;
	unsigned flags;
	/* AP_UINT: largest value; other types: longest decoded value. */
	uint64_t max;
	const char *const *enums; /* AP_ENUM: NULL-terminated */
};

/* A schema never has more fields than this (a test checks it). */
#define AUTHPROTO_SCHEMA_MAX 24

struct authproto_schema {
	const struct authproto_fieldspec *fields;
	size_t count;
};

/* The schema of verb (answering request when verb is an answer), or NULL
   when the protocol has no such message. */
const struct authproto_schema *
authproto_table_schema(enum authproto_verb verb, enum authproto_verb request);
const char *authproto_table_verb_name(enum authproto_verb verb);

/* Message internals, shared by authproto.c (messages, values, schema walk)
   and authproto_wire.c (the line format). */
#define AUTHPROTO_KEY_MAX 32
#define AUTHPROTO_VERB_MAX 16
#define AUTHPROTO_ID_DIGITS_MAX 20

struct authproto_rawfield {
	size_t spec; /* index in the message's schema */
	size_t off;  /* value in the arena, NUL-terminated */
	size_t len;
};

struct authproto_msg {
	enum authproto_verb verb;
	enum authproto_verb request;
	uint64_t id;
	const struct authproto_schema *schema;
	struct authproto_rawfield *fields;
	size_t count, cap;
	char *arena; /* values, each followed by a NUL */
	size_t used, size;
	bool has_secret;   /* the schema has an AP_SECRET field */
	const char *error; /* first failed add, refused by format */
};

/* A message with an arena of arena bytes (0: a small default). */
struct authproto_msg *authproto_msg_alloc(enum authproto_verb verb,
                                          enum authproto_verb request,
                                          uint64_t id,
                                          const struct authproto_schema *schema,
                                          size_t arena);
/* Record a value already stored at arena + off. */
void authproto_field_push(struct authproto_msg *m, size_t spec, size_t off,
                          size_t len);
const struct authproto_fieldspec *
authproto_spec_find(const struct authproto_schema *s, const char *key,
                    size_t len, size_t *idx_r);
/* NULL when the value suits spec, else a static reason. */
const char *authproto_value_check(const struct authproto_fieldspec *spec,
                                  const char *v, size_t len);
/* NULL when the message's fields follow its schema, else a reason. */
const char *authproto_msg_check(const struct authproto_msg *m);
/* ID 0 for HELLO and for answers to no request, non-zero otherwise. */
bool authproto_id_allowed(enum authproto_verb request, uint64_t id);
/* Decimal, no sign, no leading zero, whole string, at most max. */
bool authproto_uint_parse(const char *v, size_t len, uint64_t max,
                          uint64_t *v_r);

/* Called on every secret value before its memory is freed or moved;
   explicit_bzero by default. Tests replace it to watch the wiping. */
extern void (*authproto_wipe_hook)(void *p, size_t len);

#endif
