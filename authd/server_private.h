/*
 * server_private.h - shared by server.c (the socket, the protocol's
 * dispatch) and server_auth.c (the answers built from authcheck's). Not
 * for other modules.
 */
#ifndef DIRMX_SERVER_PRIVATE_H
#define DIRMX_SERVER_PRIVATE_H

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
 * caller sends and frees them. */
struct authproto_msg *server_dc_answer(uint64_t id,
                                       const struct server_backends *b);
struct authproto_msg *server_stats_answer(uint64_t id,
                                          const struct server_backends *b);

#endif
