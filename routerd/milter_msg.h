/*
 * milter_msg.h - a message's header fields and body as the mail filters
 * see and change them: the header section split into fields, the
 * filters' header edits (add, insert, change, delete) and body
 * replacement applied in order, and the changed header section formatted
 * again.
 *
 * Contract:
 *   - Pure: no I/O, no clock, no logging.
 *   - milter_msg_new() takes the header section as the spool holds it
 *     (field lines ending in CR LF, without the empty line); a line that
 *     starts with a space or a tab continues the field before it.
 *   - Fields never changed are formatted byte for byte as they came; a
 *     field from a filter is "name:" then its value with every line break
 *     made CR LF and every continuation line starting with white space (a
 *     filter's value cannot start a new field), a space after the colon
 *     unless the filter negotiated leading spaces.
 *   - CHGHEADER index n is the n-th field of that name (0 counts as 1);
 *     an empty value deletes it; a change of a field that is not there
 *     adds it. INSHEADER index n puts the field before the n-th field
 *     (0: at the top; past the end: at the end).
 *   - A replacement body is kept in memory up to body_max octets; beyond
 *     that milter_msg_body_replace() returns false.
 * Ownership: the caller frees the milter_msg with milter_msg_deinit(),
 * and the array milter_msg_fields() returns with free(); its strings stay
 * valid until the next edit.
 */
#ifndef DIRMX_MILTER_MSG_H
#define DIRMX_MILTER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "milter.h"

struct milter_msg;
struct sbuf;

struct milter_msg *milter_msg_new(const char *hdr, size_t len,
                                  uint64_t body_max);
void milter_msg_deinit(struct milter_msg **mm);

/* The fields for a filter: values with their leading white space, lines
 * of a folded field joined by LF (as Sendmail and Postfix send them). */
struct milter_field *milter_msg_fields(struct milter_msg *mm, size_t *n_r);

/* cmd: MILTER_R_ADDHEADER, MILTER_R_INSHEADER or MILTER_R_CHGHEADER. */
void milter_msg_header_edit(struct milter_msg *mm, char cmd, uint32_t index,
                            const char *name, const char *value,
                            bool lead_space);
/* A chunk of the body that filter number filter sends instead of the
 * body; the first chunk from another filter starts the body over. */
bool milter_msg_body_replace(struct milter_msg *mm, size_t filter,
                             const void *data, size_t len);
bool milter_msg_body_replaced(const struct milter_msg *mm);
uint64_t milter_msg_body_len(const struct milter_msg *mm);
int milter_msg_body_read(const struct milter_msg *mm, uint64_t off, void *buf,
                         size_t len, size_t *n_r);
/* Headers or body changed: the message must be written anew. */
bool milter_msg_changed(const struct milter_msg *mm);
/* The header section, then the empty line; false when out is full. */
bool milter_msg_format_header(const struct milter_msg *mm, struct sbuf *out);

#endif
