/*
 * authproto.h - the authd protocol codec (version 1).
 *
 * The wire format is specified in include/authproto.txt, beside this
 * header; read it first. In short: one message per LF-terminated line,
 * "VERB SP ID *(SP key=value)", values percent-encoded in one canonical
 * form, every message checked against a per-verb schema (allowed keys,
 * required, repeatable, value type, ordered records). Anything that does
 * not match is an error, never a guess.
 *
 * Versions: the codec knows every message of every version; which
 * version a connection speaks is the server's and the client's business
 * (authproto_verb_since() says where each verb starts).
 *
 * The module is pure: no sockets, no clock, no logging, no global state
 * other than the wipe hook below. It decodes lines the caller framed
 * (authproto_frame() helps) and encodes messages into a caller's sbuf.
 *
 * Requests and answers: a request names its own schema; an answer's keys
 * depend on the request it answers, which only the client knows (it keeps
 * the request verb by ID). So a client first reads the ID with
 * authproto_parse_head(), finds its pending request, then calls
 * authproto_parse_answer() with that request's verb. A server calls
 * authproto_parse_request(); when that fails it answers ERROR with the ID
 * authproto_parse_head() found, or with ID 0 (and closes) when even the ID
 * cannot be read.
 *
 * Building: authproto_msg_new_request() / _new_answer(), then
 * authproto_msg_add*() per field in wire order, then authproto_msg_format().
 * An add that fails (unknown key, bad value) is remembered, and format
 * then refuses the message: a caller may check only format's result. Format
 * checks the message against the same schema the parser uses, so a server
 * can never send what a client would reject.
 *
 * Ownership: a message belongs to the caller and is freed with
 * authproto_msg_deinit(), which first zeroes every value of a field the
 * schema marks secret (AUTH's pass=). Strings returned by the accessors
 * belong to the message and stay valid until it is freed or another field
 * is added. The lines themselves stay the caller's: an AUTH line holds
 * the encoded password, so wipe the input buffer it was read from and the
 * output buffer it was formatted into once they are done with.
 *
 * Errors: functions returning int give 0 (or 1) on success and -1 on
 * error with *error_r set to a static, printable-ASCII reason that never
 * quotes the input: safe to log and to send back as ERROR reason=.
 * Passing a constructor a verb combination that has no schema, or an ID
 * the protocol forbids there (0 except for HELLO and its answers, and for
 * answers to AUTHPROTO_NONE), is a programming error and aborts.
 */
#ifndef DIRMX_AUTHPROTO_H
#define DIRMX_AUTHPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf;

/* The newest version this codec speaks; AUTHPROTO_VERSION_MIN the oldest.
   Version 2 adds the SASL request, the CONTINUE answer and HELLO's mech=
   (authproto.txt, section 7). */
#define AUTHPROTO_VERSION 2
#define AUTHPROTO_VERSION_MIN 1
/* Longest line, counting its LF (8 MiB): big enough for a LOOKUP answer
   that lists a 5,000-member group with its trace. */
#define AUTHPROTO_LINE_MAX ((size_t)8 * 1024 * 1024)

enum authproto_verb {
	AUTHPROTO_NONE = 0, /* not a verb: "unknown" or "no request" */
	/* requests, client to server */
	AUTHPROTO_HELLO,
	AUTHPROTO_LOOKUP,
	AUTHPROTO_AUTH,
	AUTHPROTO_SENDERS,
	AUTHPROTO_DC,
	AUTHPROTO_STATS,
	AUTHPROTO_CACHE,
	AUTHPROTO_RELOAD,
	AUTHPROTO_THROTTLE,
	AUTHPROTO_SASL, /* version 2 */
	/* answers, server to client */
	AUTHPROTO_OK,
	AUTHPROTO_NOTFOUND,
	AUTHPROTO_TEMPFAIL,
	AUTHPROTO_ERROR,
	AUTHPROTO_CONTINUE, /* version 2: SASL's challenge */
};
#define AUTHPROTO_VERB_COUNT (AUTHPROTO_CONTINUE + 1)

struct authproto_msg;

/* One field, as a view into its message. value is NUL-terminated; values
   never contain NUL in protocol version 1. */
struct authproto_field {
	const char *key;
	const char *value;
	size_t value_len;
};

/* The protocol version that introduced verb (1 or 2). */
unsigned authproto_verb_since(enum authproto_verb verb);
/* "LOOKUP", ...; NULL for AUTHPROTO_NONE or out of range. */
const char *authproto_verb_name(enum authproto_verb verb);
bool authproto_verb_is_request(enum authproto_verb verb);
bool authproto_verb_is_answer(enum authproto_verb verb);
/* The schema allows this answer verb to this request verb (request may be
   AUTHPROTO_NONE: only ERROR, with ID 0). */
bool authproto_answer_allowed(enum authproto_verb request,
                              enum authproto_verb answer);

/*
 * Framing: find the first complete line in the input buffer.
 * 1: *line_r / *len_r are the line without its LF (pointing into in), and
 *    *consumed_r the bytes to sbuf_consume() once the line is handled;
 * 0: no LF yet, read more;
 * -1: no LF within AUTHPROTO_LINE_MAX bytes: the peer is broken, close.
 */
int authproto_frame(const struct sbuf *in, const char **line_r, size_t *len_r,
                    size_t *consumed_r, const char **error_r);

/*
 * Read only the verb and the ID of a line (without its LF). 0 when the ID
 * is well-formed: *verb_r is the verb, or AUTHPROTO_NONE when the first
 * word is not one; -1 when no ID can be read.
 */
int authproto_parse_head(const char *line, size_t len,
                         enum authproto_verb *verb_r, uint64_t *id_r,
                         const char **error_r);
/* Parse a whole request line (without its LF) strictly. */
int authproto_parse_request(const char *line, size_t len,
                            struct authproto_msg **msg_r, const char **error_r);
/* Parse an answer line to a request of verb request (AUTHPROTO_NONE when
   no request has that ID: only "ERROR 0" is then valid). */
int authproto_parse_answer(const char *line, size_t len,
                           enum authproto_verb request,
                           struct authproto_msg **msg_r, const char **error_r);

struct authproto_msg *authproto_msg_new_request(enum authproto_verb verb,
                                                uint64_t id);
struct authproto_msg *authproto_msg_new_answer(enum authproto_verb verb,
                                               enum authproto_verb request,
                                               uint64_t id);
/* Zero secret values, free, set *msg to NULL. NULL is fine. */
void authproto_msg_deinit(struct authproto_msg **msg);

/* Append a field. False (message unchanged, format will fail) for a key
   the schema does not have or a value its type refuses. */
bool authproto_msg_add(struct authproto_msg *msg, const char *key,
                       const void *value, size_t len);
bool authproto_msg_add_str(struct authproto_msg *msg, const char *key,
                           const char *value);
bool authproto_msg_add_uint(struct authproto_msg *msg, const char *key,
                            uint64_t value);

/*
 * Append the message as one line, LF included, to out. -1 (out unchanged)
 * when an add failed, the message breaks its schema (missing required key,
 * duplicate, record out of order), or the line would be longer than
 * AUTHPROTO_LINE_MAX or not fit out's limit.
 */
int authproto_msg_format(const struct authproto_msg *msg, struct sbuf *out,
                         const char **error_r);

enum authproto_verb authproto_msg_verb(const struct authproto_msg *msg);
/* For an answer, the request verb it answers; for a request, its verb. */
enum authproto_verb authproto_msg_request(const struct authproto_msg *msg);
uint64_t authproto_msg_id(const struct authproto_msg *msg);

size_t authproto_msg_count(const struct authproto_msg *msg);
/* Field i in wire order; false when i >= count. */
bool authproto_msg_field(const struct authproto_msg *msg, size_t i,
                         struct authproto_field *field_r);
/* First value of key, or NULL. */
const char *authproto_msg_get(const struct authproto_msg *msg, const char *key);
/* First value of key as a number; false when absent or not a number. */
bool authproto_msg_get_uint(const struct authproto_msg *msg, const char *key,
                            uint64_t *v_r);
/*
 * Records (see the spec): field i is a record head (LOOKUP's rcpt=, DC's
 * dc=); the value of member key within that record, or NULL.
 */
const char *authproto_msg_record_get(const struct authproto_msg *msg, size_t i,
                                     const char *key);

#endif
