/*
 * smtpcmd_private.h - shared by smtpcmd.c and smtpcmd_auth.c only.
 */
#ifndef DIRMX_SMTPCMD_PRIVATE_H
#define DIRMX_SMTPCMD_PRIVATE_H

#include "smtpcmd.h"

/* Fill *err with a static reply and return -1. */
int smtpcmd_fail(struct smtpcmd_error *err, unsigned code, const char *enh,
                 const char *text);

#endif
