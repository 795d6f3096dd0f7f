/*
 * linefold.h - fold long lines of a spooled message for the next hop, and
 * dot-stuff it (RFC 5321 4.5.3.1.6, 4.5.2).
 *
 * routerd accepts lines up to [routerd] max_line_length (64 KiB by
 * default), far beyond the 998 octets RFC 5321 lets a client send. When it
 * relays, every line longer than max octets is broken by inserting
 * CR LF SP, as Postfix does with smtp_line_length_limit: a folded header
 * field stays one field (the SP makes the rest a continuation line, RFC
 * 5322 2.2.3), and in the body the damage to MIME structure is least. A
 * reader gets the original back by removing every CR LF SP that follows a
 * line of exactly max octets.
 *
 * Contract:
 *   - Pure: no I/O, no clock, no logging. The output does not depend on
 *     how the input is split into linefold_feed() calls.
 *   - Input: message text whose lines end with CR LF (dotstream.h output;
 *     a CR or LF elsewhere is passed through and ends nothing but the
 *     line count, so the result is still bounded).
 *   - Dot-stuffing (dot_stuff, for DATA): a line that starts with "." gets
 *     one more "."; the added dot counts toward the line's length, so no
 *     line on the wire is longer than max. A continuation line starts
 *     with SP, never with ".", so folding never creates a line that needs
 *     stuffing or could end the data.
 *   - Every output line, its CR LF excluded, is at most max octets
 *     (max >= 2; 0 disables folding). Octets are counted, not characters:
 *     a UTF-8 sequence may be split across the fold, as Postfix does.
 *   - Output goes to out through sbuf_append(); false when out's limit
 *     was reached (out then holds a prefix of the result).
 *
 * Ownership: struct linefold is the caller's (no allocation).
 */
#ifndef DIRMX_LINEFOLD_H
#define DIRMX_LINEFOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf;

/* RFC 5321 4.5.3.1.6: 1000 octets with the CR LF. */
#define LINEFOLD_SMTP_MAX 998

struct linefold {
	size_t max;     /* private: 0 = no folding */
	bool dot_stuff; /* private */
	size_t col;     /* private: octets on the current output line */
	uint64_t folds; /* CR LF SP inserted so far */
};

void linefold_init(struct linefold *lf, size_t max, bool dot_stuff);
bool linefold_feed(struct linefold *lf, const void *data, size_t len,
                   struct sbuf *out);

#endif
