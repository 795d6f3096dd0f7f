/*
 * spoolrec.h - the envelope record of a spooled message (version 4;
 * versions 1 to 3 are still read).
 *
 * A pure codec: no files, no clock, no logging. The spool (spool.h) stores
 * the formatted record beside the message data; the delivery side parses it
 * back. The format, one "key=value" per LF-terminated line, is:
 *
 *     version=4          (1: records written before the result fields,
 *                        2: before held and delay_notified, 3: before
 *                        sender)
 *     id=<queue id, 16 chars, spool_id.h>
 *     arrival=<unix seconds>
 *     client=<client address>          helo=<HELO/EHLO argument>
 *     auth=<authenticated user, empty when none>
 *     from=<MAIL FROM address without <>, empty for the null path>
 *     size=<message size in bytes>
 *     body=7bit | 8bitmime | binarymime
 *     smtputf8=0 | 1 | 2   (0: no SMTPUTF8; 1: SMTPUTF8, and the message
 *                          - its header or sender - needs it; 2:
 *                          SMTPUTF8, but only a recipient with a UTF-8
 *                          local part would need it, intl.h. Records
 *                          written before 2 existed say 1 for every
 *                          SMTPUTF8 message: read as needed.)
 *     ret=none | full | hdrs            (DSN RET; none = not given)
 *     envid=<DSN ENVID, empty when none>
 *     held=0 | 1            (dirmxctl queue hold: not delivered until
 *                           released; version 3)
 *     delay_notified=0 | 1  (the one delay notice, NOTIFY=DELAY, was
 *                           sent; version 3)
 *   then, for each recipient (at least one), these twelve lines in order
 *   (seven in version 1, which has no code, status, diag and rhost;
 *   eleven in versions 2 and 3, which have no sender):
 *     rcpt=<address>
 *     hop=<next hop from authd: "mbx1.example.com", "[host]:port",
 *          "local", "external", ...>
 *     notify= | never | success,failure,delay (any non-empty subset, in
 *             that order; empty = NOTIFY not given)
 *     orcpt=<DSN ORCPT, empty when none>
 *     state=pending | delivered | bounced | deferred
 *     attempts=<delivery attempts so far>
 *     error=<the last result for people, "mx.example: 550 5.1.1 no such
 *           user", empty when none: shown by dirmxctl queue, never parsed
 *           (the fields below are the result)>
 *     code=<SMTP reply code of the last result, 0 when no server reply
 *          decided it (a local decision, or none yet)>
 *     status=<its RFC 3463 enhanced status, "5.1.1", empty when none>
 *     diag=<its RFC 3464 Diagnostic-Code, "smtp; 550 5.1.1 no such user"
 *          or "x-dirmx; <local reason>", empty when none>
 *     rhost=<the remote MTA whose reply it is, empty when none>
 *     sender=<the envelope sender of this recipient's copy, where its
 *            group's delivery reports go: empty for the message's own,
 *            "<>" for none, else an address (version 4)>
 *   and last:
 *     end=<CRC-32 (IEEE, as zlib) of every byte before this line, 8
 *          lowercase hex digits>
 *
 * Every line of its version is required, exactly once, in this order
 * (one line per header field shown on one line above): a record has
 * exactly one spelling, so format(parse(x)) == x for version 4. Format
 * always writes version 4; a version 1 record parses with code 0 and the
 * other result fields empty, versions 1 and 2 with held and
 * delay_notified false, versions 1 to 3 with sender empty, and they
 * format as version 4. Values use the authd
 * protocol's escaping (include/authproto.txt): bytes outside 0x21-0x7E, '%' and
 * '=' are written %XX with uppercase hex, every other byte as itself; %00 is an
 * error (values are C strings). Numbers are decimal without leading zeros. An
 * unknown key, a key out of order, a bad value, a missing or wrong end line, or
 * a byte after it is an error: a torn or truncated record never parses.
 *
 * Ownership: struct spoolrec and every string in it belong to whoever
 * made it (spoolrec_new() or spoolrec_parse()) and are freed with
 * spoolrec_deinit(). String fields are set with spoolrec_set(), which
 * copies; a NULL string field formats as empty. Parsed records never have
 * NULL strings.
 *
 * Errors: -1 with *error_r set to a static, printable-ASCII reason that
 * never quotes the input.
 */
#ifndef DIRMX_SPOOLREC_H
#define DIRMX_SPOOLREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool_id.h"

struct sbuf;

#define SPOOLREC_VERSION 4
/* Largest record parse accepts and format produces. */
#define SPOOLREC_MAX_LEN ((size_t)16 * 1024 * 1024)

enum spoolrec_body {
	SPOOLREC_BODY_7BIT = 0,
	SPOOLREC_BODY_8BITMIME,
	SPOOLREC_BODY_BINARYMIME,
};

enum spoolrec_ret {
	SPOOLREC_RET_NONE = 0,
	SPOOLREC_RET_FULL,
	SPOOLREC_RET_HDRS,
};

enum spoolrec_state {
	SPOOLREC_PENDING = 0,
	SPOOLREC_DELIVERED,
	SPOOLREC_BOUNCED,
	SPOOLREC_DEFERRED,
};

/* DSN NOTIFY: 0 = not given; NEVER excludes the three others. */
#define SPOOLREC_NOTIFY_SUCCESS 0x1u
#define SPOOLREC_NOTIFY_FAILURE 0x2u
#define SPOOLREC_NOTIFY_DELAY 0x4u
#define SPOOLREC_NOTIFY_NEVER 0x8u

/* The hop of a recipient whose size limit (delivContLength) the message
 * was found over at the end of DATA (session_size.c): the first attempt
 * bounces it with 5.2.3, and its DSN goes through the usual path. */
#define SPOOLREC_HOP_TOO_BIG "dirmx:too-big"

struct spoolrec_rcpt {
	char *addr;
	char *hop;
	unsigned notify;
	char *orcpt;
	enum spoolrec_state state;
	uint32_t attempts;
	char *error; /* for people only: nothing parses it (above) */
	/* the last result: reply code (0 or 200-599), enhanced status,
	   Diagnostic-Code, remote MTA (above) */
	unsigned code;
	char *status;
	char *diag;
	char *rhost;
	/* The envelope sender of its copy, where its group's delivery
	   reports go (version 4; spoolrec_rcpt_from()): "" (or NULL) the
	   message's own, "<>" none, else an address. */
	char *sender;
};

struct spoolrec {
	char id[SPOOL_ID_LEN + 1];
	uint64_t arrival;
	char *client;
	char *helo;
	char *auth_user;
	char *mail_from; /* "" is the null path <> */
	uint64_t size;
	enum spoolrec_body body;
	bool smtputf8;        /* the sender used SMTPUTF8 */
	bool smtputf8_needed; /* ... and the message (header, sender) needs
	                         it, whatever the recipients (intl.h) */
	enum spoolrec_ret ret;
	char *envid;
	bool held;           /* dirmxctl queue hold, persisted */
	bool delay_notified; /* the delay notice went out (once) */
	struct spoolrec_rcpt *rcpts;
	size_t rcpt_count;
	size_t rcpt_alloc; /* private */
};

/* The MAIL FROM path of r's copy, without <> ("" is the null path): its
 * sender, unless the message's own is the null path (a bounce keeps it). */
const char *spoolrec_rcpt_from(const struct spoolrec *rec,
                               const struct spoolrec_rcpt *r);

struct spoolrec *spoolrec_new(void);
void spoolrec_deinit(struct spoolrec **rec);
/* Replace *field with a copy of value (NULL clears it). */
void spoolrec_set(char **field, const char *value);
/* Append a pending recipient (copies addr and hop); returns it. */
struct spoolrec_rcpt *spoolrec_add_rcpt(struct spoolrec *rec, const char *addr,
                                        const char *hop);
/* A deep copy. */
struct spoolrec *spoolrec_dup(const struct spoolrec *rec);

/*
 * Append the record to out. -1 when the record is invalid (bad id, no
 * recipient, enum out of range, bad NOTIFY combination) or does not fit
 * in out's limit or SPOOLREC_MAX_LEN; out is then left unchanged.
 */
int spoolrec_format(const struct spoolrec *rec, struct sbuf *out,
                    const char **error_r);
/* Parse exactly one whole record. *rec_r is NULL on error. */
int spoolrec_parse(const void *data, size_t len, struct spoolrec **rec_r,
                   const char **error_r);

/* CRC-32 (IEEE 802.3, the zlib one): crc = spoolrec_crc32(0, p, n) and
   may be continued with further spoolrec_crc32(crc, ...) calls. */
uint32_t spoolrec_crc32(uint32_t crc, const void *data, size_t len);

#endif
