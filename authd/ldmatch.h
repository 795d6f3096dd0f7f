/*
 * ldmatch.h - decide on this side whether a directory entry satisfies a
 * search filter: what lets one search answer several lookups (ldpool's
 * batches, see ldpool.h).
 *
 * Only the filters an address lookup uses are understood: '&', '|', '!',
 * equality and presence, on attributes without options, with ASCII
 * assertion values. Equality compares ASCII case-insensitively, as the
 * matching rules of every attribute that holds an address do (mail is
 * caseIgnoreIA5Match, AD's proxyAddresses is case-insensitive). What it
 * cannot decide the same way the server would (a substring, ordering,
 * approximate or extensible item, an attribute option, a non-ASCII byte
 * in the assertion or in a value compared with it, a malformed filter) is
 * LDMATCH_UNSURE: the caller must then ask the server instead.
 *
 * Pure: no I/O, no global state; only ldmatch_names_add() allocates.
 */
#ifndef DIRMX_LDMATCH_H
#define DIRMX_LDMATCH_H

#include <stdbool.h>

#include "ldconn.h"

enum ldmatch {
	LDMATCH_NO = 0,
	LDMATCH_YES = 1,
	LDMATCH_UNSURE = -1,
};

/* Does e satisfy filter? Attributes e lacks are absent (so the caller
 * must have asked for every attribute the filter names). */
enum ldmatch ldmatch_entry(const char *filter, const struct ldconn_entry *e);

/*
 * Can ldmatch_entry() decide filter for entries read with attrs (NULL-
 * terminated, as requested from the server): is every item understood,
 * and is every attribute it names among attrs? A template's expansion is
 * checked once (with an ASCII sample address) at configuration time.
 */
bool ldmatch_decidable(const char *filter, const char *const *attrs);

/*
 * attrs (may be NULL) and every attribute filter names that attrs lacks,
 * as a new NULL-terminated array (free it with ldmatch_names_free()): what
 * to ask for so that the filter is decidable on what comes back.
 */
char **ldmatch_names_add(const char *const *attrs, const char *filter);
void ldmatch_names_free(char **names);

#endif
