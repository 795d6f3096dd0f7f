/*
 * authc_private.h - what lib/authc*.c share; not for other modules.
 *
 * authc_result: turns an authd answer (or a failure) into the result
 * struct of authc.h and runs the caller's callback with it. The result
 * points into the message and into memory freed when the callback
 * returns, as authc.h promises.
 *
 * authc_obuf: the client's output buffer. Unlike an sbuf it wipes every
 * byte it lets go of (written, moved by a resize, or freed), because AUTH
 * lines carry passwords. Appends fail past AUTHC_OBUF_MAX bytes waiting.
 */
#ifndef DIRMX_AUTHC_PRIVATE_H
#define DIRMX_AUTHC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authc.h"
#include "authproto.h"

union authc_cb {
	authc_lookup_cb *lookup;
	authc_auth_cb *auth;
	authc_senders_cb *senders;
};

/* Run cb (for a request of verb) with TEMPFAIL and reason. */
void authc_result_fail(enum authproto_verb verb, union authc_cb cb, void *ctx,
                       const char *reason);
/* Run cb with answer m (parsed for verb). ERROR becomes TEMPFAIL (and is
   logged with the request's id). */
void authc_result_deliver(enum authproto_verb verb, uint64_t id,
                          union authc_cb cb, void *ctx,
                          const struct authproto_msg *m);

#define AUTHC_OBUF_MAX ((size_t)64 * 1024 * 1024)

/* Bytes [start, end) of data wait to be written. Zero-initialised is
   empty. */
struct authc_obuf {
	char *data;
	size_t cap, start, end;
};

bool authc_obuf_append(struct authc_obuf *o, const char *p, size_t len);
/* The first n waiting bytes were written: wipe and drop them. */
void authc_obuf_consume(struct authc_obuf *o, size_t n);
/* Wipe and free; o is empty and reusable afterwards. */
void authc_obuf_free(struct authc_obuf *o);

#endif
