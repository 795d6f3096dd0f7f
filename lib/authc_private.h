/*
 * authc_private.h - what lib/authc*.c share; not for other modules.
 *
 * authc_result: turns an authd answer (or a failure) into the result
 * struct of authc.h and runs the caller's callback with it. The result
 * points into the message and into memory freed when the callback
 * returns, as authc.h promises.
 *
 * The client's output buffer and its request lines are secret sbufs
 * (sbuf_new_secret): AUTH lines carry passwords.
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

/* Bytes waiting for authd at most (a secret sbuf, sbuf.h). */
#define AUTHC_OUT_MAX ((size_t)64 * 1024 * 1024)

#endif
