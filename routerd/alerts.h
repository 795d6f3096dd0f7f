/*
 * alerts.h - the local alert store: mail for the postmaster that has
 * nowhere else to go.
 *
 * A message to <postmaster> when the directory has no postmaster and no
 * [routerd] postmaster address is configured (or it cannot be found), and
 * a report about a failed bounce that could not be delivered either, are
 * never dropped: each is written to the spool's alerts/ folder as one
 * file, ID.eml, with a first header line X-Dirmx-Alert saying why, and
 * fsynced (file and folder) before the recipient counts as delivered.
 * The admin reads them there (`ls SPOOL/alerts`); dirmx never deletes
 * them.
 *
 * The hop ALERTS_HOP in an envelope sends a recipient here.
 */
#ifndef DIRMX_ALERTS_H
#define DIRMX_ALERTS_H

#include <stdint.h>

#define ALERTS_HOP "dirmx:alerts"

/* Copy len bytes at offset of fd (or at mem, when not NULL: a message
 * loaded from memory has no file yet) into dir/id.eml. 0, or -1 with
 * *error_r (static or strerror text). An existing file is kept (a retry
 * after a crash): the copy goes beside it, as id.N.eml. */
int alerts_store(const char *dir, const char *id, const char *reason, int fd,
                 const unsigned char *mem, uint64_t offset, uint64_t len,
                 const char **error_r);

#endif
