/*
 * dsn_private.h - shared by dsn.c (the notice: its parts, MIME and the
 * envelope) and dsn_text.c (the text helpers that write into it). Not
 * for other modules: they use dsn.h.
 *
 * Every dsn_text_ function writes through a struct dsn_writer and does
 * nothing once w->ok is false, so a caller writes a whole part and
 * checks w->ok once at the end.
 */
#ifndef DIRMX_DSN_PRIVATE_H
#define DIRMX_DSN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "dsn.h"

struct sbuf;

#define DSN_LINE_MAX_OCTETS 998 /* RFC 5322 2.1.1, without CR LF */

struct dsn_writer {
	struct sbuf *s;
	bool ok; /* false after the first failed write */
};

void dsn_text_put(struct dsn_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dsn_text_put_bytes(struct dsn_writer *w, const void *p, size_t n);

/* Whether any of the n octets at p is >= 0x80. */
bool dsn_text_has_8bit(const void *p, size_t n);

/* RFC 5322 3.3 date of t in UTC into out; false when t is out of range. */
bool dsn_text_fmt_date(time_t t, char *out, size_t size);
/* "field: date" CR LF; a date out of range makes w fail. */
void dsn_text_put_date(struct dsn_writer *w, const char *field, time_t t);

/*
 * s with control octets as "?" and 8-bit octets kept only when utf8 is
 * allowed and s is well-formed UTF-8. Short strings only (token length).
 */
void dsn_text_put_clean(struct dsn_writer *w, const char *s, bool utf8);
/*
 * prefix, then text folded at spaces, continuation lines starting with
 * cont (which begins with white space), no line over DSN_LINE_MAX_OCTETS.
 * Ends with CR LF.
 */
void dsn_text_fold(struct dsn_writer *w, const char *prefix, const char *text,
                   const char *cont, bool utf8);

/* "Field: rfc822;addr", or "utf-8;" unitext for non-ASCII when global. */
void dsn_text_put_addr_field(struct dsn_writer *w, const char *field,
                             const char *addr, bool global);
/* Original-Recipient from a spooled "type;address" ORCPT, if representable. */
void dsn_text_put_orcpt(struct dsn_writer *w, const char *orcpt, bool global);
/*
 * "To: <addr>" CR LF for the notice's own header. A non-ASCII address
 * with an ASCII form (U-label domain, intl.h) is written in that form,
 * with the original as an RFC 2047 encoded-word display name, so the
 * notice needs no SMTPUTF8 (RFC 6531 3.4); one without (a non-ASCII
 * local part) is kept as UTF-8 when global (the notice needs SMTPUTF8
 * anyway, to reach such a mailbox), else cleaned.
 */
void dsn_text_put_to(struct dsn_writer *w, const char *addr, bool global);

#endif
