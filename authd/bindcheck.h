/*
 * bindcheck.h - authd -t --bind: one real bind to each domain controller
 * with the configuration's settings, and the fix when one fails.
 *
 * bindcheck_run() prints one report line per DC on stdout (the protection
 * the bind got, or the failure and what to change: bindfix.h) and returns
 * the exit status: 0 every DC tried took the bind, 1 otherwise.
 */
#ifndef DIRMX_BINDCHECK_H
#define DIRMX_BINDCHECK_H

struct dirmx_config;

int bindcheck_run(const struct dirmx_config *cfg);

#endif
