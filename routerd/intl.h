/*
 * intl.h - internationalized mail addresses for delivery: when a message
 * really needs SMTPUTF8 (RFC 6531 3.4), and U-label domains as A-labels
 * (IDNA2008, RFC 5890/5891, with UTS #46 non-transitional mapping, as
 * libidn2's IDN2_NONTRANSITIONAL).
 *
 * Contract:
 *   - Pure: no I/O, no clock, no logging (libidn2 is a pure library).
 *   - An address is the text routerd stores ("local@domain", no <>; ""
 *     is the null path); the domain is what follows the last '@'.
 *   - A domain is ASCII when every octet is < 0x80. An ASCII domain is
 *     never changed here (nexthop.c checks its labels); a non-ASCII one
 *     is converted with libidn2 and checked: each label 1..63 octets, the
 *     whole at most 253. A domain libidn2 refuses, or one too long, can
 *     never be valid: the caller fails it permanently (5.1.2).
 *   - An address needs SMTPUTF8 when its local part holds an octet
 *     >= 0x80 (no ASCII form exists), or its domain is non-ASCII and has
 *     no valid A-label form. A non-ASCII domain alone does not need it:
 *     the A-label form is the same domain.
 *   - A transaction needs SMTPUTF8 when the message does - an 8-bit
 *     octet in its header section (dotstream.h stats header_8bit: RFC
 *     6532 headers cannot travel without it; the body does not count,
 *     8BITMIME covers it) or a sender that needs it - or one of ITS
 *     recipients has a non-ASCII local part. The message's part is known
 *     at receive time and kept in the spool record (spoolrec.h
 *     smtputf8=); the recipients' part is judged per transaction, so one
 *     UTF-8 mailbox does not make mail to the others need SMTPUTF8. A
 *     recipient whose domain can never be valid does not count: it
 *     bounces on its own (5.1.2).
 *
 * Ownership: strings returned in *_r are the caller's (free()).
 * Errors: -1 with *error_r set to a static, printable-ASCII reason.
 */
#ifndef DIRMX_INTL_H
#define DIRMX_INTL_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf;

bool intl_is_ascii(const char *s);

/*
 * The A-label form of domain[0..len) (one trailing dot dropped),
 * lowercase, into *ascii_r. 1 when it was converted, 0 when it was ASCII
 * already (*ascii_r is then a plain copy), -1 when it can never be valid.
 */
int intl_domain_to_ascii(const char *domain, size_t len, char **ascii_r,
                         const char **error_r);

/*
 * addr with its domain in A-label form, into *ascii_r: 1 converted, 0
 * ASCII already (a copy), -1 when there is no ASCII form (non-ASCII local
 * part, or a domain that cannot be converted).
 */
int intl_addr_to_ascii(const char *addr, char **ascii_r, const char **error_r);

bool intl_addr_needs_utf8(const char *addr);

/*
 * Append s for a terminal, on one line: well-formed UTF-8 of printable
 * characters as it is (so "dirmxctl queue" shows "jörg@bücher.example");
 * every other byte - controls (C0, DEL, C1), '\', malformed UTF-8, and
 * the bidirectional and line-separator controls that could make one
 * address look like another (U+200E/F, U+202A-202E, U+2028/9,
 * U+2066-2069) - as \xNN per byte.
 */
void intl_put_printable(struct sbuf *out, const char *s);

/* The message's own need: its header section and its sender. */
bool intl_msg_needs_utf8(const char *mail_from, bool header_8bit);
/* One transaction's recipients: a non-ASCII local part among them. */
bool intl_rcpts_need_utf8(const char *const *rcpts, size_t n);

#endif
