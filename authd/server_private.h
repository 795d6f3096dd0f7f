/*
 * server_private.h - shared by server.c (the socket, the protocol's
 * dispatch) and server_auth.c (the answers built from authcheck's). Not
 * for other modules.
 */
#ifndef DIRMX_SERVER_PRIVATE_H
#define DIRMX_SERVER_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "authproto.h"

struct authcheck_answer;
struct server_backends;

/* The answer to an AUTH, SENDERS or THROTTLE request (op: THROTTLE's op=
 * value, or NULL) with ID id; the caller sends and frees it. */
struct authproto_msg *server_auth_answer(enum authproto_verb request,
                                         uint64_t id, const char *op,
                                         const struct authcheck_answer *a);

/* The answers to DC and STATS with ID id, from the daemon's parts; the
 * caller sends and frees them. version: the connection's (2: DC carries
 * the SMTP service principal and its keys' versions). */
struct authproto_msg *server_dc_answer(uint64_t id,
                                       const struct server_backends *b,
                                       unsigned version);
struct authproto_msg *server_stats_answer(uint64_t id,
                                          const struct server_backends *b);

/* The answer to HELLO request req: OK with the version (and, from
 * version 2, the SMTP AUTH mechanisms), or ERROR; *version_r is the
 * version agreed (0: none, close after sending). */
struct authproto_msg *server_hello_answer(const struct authproto_msg *req,
                                          const struct server_backends *b,
                                          unsigned *version_r);

/* smtp_auth_mechanisms lists mech (no SASL setup: PLAIN and LOGIN). */
bool server_mech_offered(const struct server_backends *b, const char *mech);

/*
 * A LOOKUP, or a SENDERS with from= (server_lookup.c): the sender's
 * identity, then the answer. done(ctx, m) gets the answer to send and
 * free, once, from the loop, after the request has freed itself; an
 * answer known at once comes back in *now_r instead (the result is then
 * NULL, and done is never called). Cancel frees without an answer.
 */
struct server_lookup;
typedef void server_lookup_done_fn(void *ctx, struct authproto_msg *m);
struct server_lookup *server_lookup_start(const struct server_backends *b,
                                          const struct authproto_msg *req,
                                          const char *conn_name,
                                          server_lookup_done_fn *done,
                                          void *ctx,
                                          struct authproto_msg **now_r);
void server_lookup_cancel(struct server_lookup **l);

/*
 * A connection's SASL exchanges (server_sasl.c; authproto.txt, SASL).
 * send(conn, m) sends and frees an answer; it may be called from
 * server_sasl_request() and later from the loop, until deinit, which
 * cancels every exchange of the connection.
 */
struct server_sasl;
typedef void server_sasl_send_fn(void *conn, struct authproto_msg *m);
struct server_sasl *server_sasl_new(const struct server_backends *b,
                                    server_sasl_send_fn *send, void *conn,
                                    const char *conn_name);
void server_sasl_deinit(struct server_sasl **ss);
void server_sasl_request(struct server_sasl *ss,
                         const struct authproto_msg *req);

#endif
