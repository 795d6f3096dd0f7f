/*
 * routerd.h - the SMTP service, as hooks for the process shell.
 *
 * routerd_start() binds the listeners as root, creates the spool
 * directory and gives it to routerd's user, drops to that user, opens and
 * recovers the spool, and starts serving. routerd never reads a directory
 * credential: recipients and logins are checked through authd's socket.
 */
#ifndef DIRMX_ROUTERD_H
#define DIRMX_ROUTERD_H

#include <stddef.h>

struct event_base;
struct dirmx_config;

int routerd_start(struct event_base *base, const struct dirmx_config *cfg,
                  void **state_r);
size_t routerd_reload(void *state, const struct dirmx_config *old,
                      const struct dirmx_config *cfg);
void routerd_stop(void *state);

#endif
