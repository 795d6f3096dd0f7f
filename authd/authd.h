/*
 * authd.h - the directory service, as hooks for the process shell.
 *
 * authd_start() builds the service from the configuration: the resolver,
 * the domain controller locator (dcloc.c), the site discovery (dcping.c)
 * and the pool of bound service connections (ldpool.c). The bind password
 * is read from its file here and never logged.
 */
#ifndef DIRMX_AUTHD_H
#define DIRMX_AUTHD_H

#include <stddef.h>

struct event_base;
struct dirmx_config;

int authd_start(struct event_base *base, const struct dirmx_config *cfg,
                void **state_r);
size_t authd_reload(void *state, const struct dirmx_config *old,
                    const struct dirmx_config *cfg);
void authd_stop(void *state);

#endif
