/*
 * sessionlab.h - one SMTP session driven in-process, without a listener:
 * for unit tests (tests/unit/test-session.c) and the session fuzzer
 * (tests/fuzz/fuzz-session.c).
 *
 * sessionlab_new() builds what routerd.c builds for real sessions: an
 * event loop, a spool in a fresh temporary folder, an authd client whose
 * socket does not exist (every lookup and login is a temporary failure,
 * 451 / 454: nothing here needs authd), the policy (local domain
 * dirmx.test) and the limits; then a session on one end of a socketpair.
 * The test writes to the other end and reads the replies.
 *
 * sessionlab_run() runs the loop until the session has been quiet for
 * quiet_ms (or it closed): everything the session will answer to what
 * was sent has been answered.
 */
#ifndef DIRMX_SESSIONLAB_H
#define DIRMX_SESSIONLAB_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct sessionlab;

/* role: enum settings_role (MX: 0 ... see settings.h). */
struct sessionlab *sessionlab_new(int role);
/* The same with authd at authd_socket (a test's own: authdpeer.h), its
 * answers awaited timeout_ms. */
struct sessionlab *sessionlab_new_authd(int role, const char *authd_socket,
                                        unsigned timeout_ms);
/* The lab's event loop. */
struct event_base *sessionlab_base(struct sessionlab *lab);
/* A new session (the old one, if any, is ended first). */
void sessionlab_connect(struct sessionlab *lab);
void sessionlab_send(struct sessionlab *lab, const void *data, size_t len);
void sessionlab_run(struct sessionlab *lab, unsigned quiet_ms);
/* Everything the session wrote since the last call (NUL-terminated,
 * owned by the lab until the next call); *closed_r: it closed. */
const char *sessionlab_output(struct sessionlab *lab, size_t *len_r,
                              bool *closed_r);
/* Reply lines (final lines of replies: "250 ..." not "250-...") in out. */
size_t sessionlab_count_replies(const char *out, size_t len);
void sessionlab_free(struct sessionlab **lab);

#endif
