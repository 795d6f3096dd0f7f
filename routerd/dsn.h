/*
 * dsn.h - delivery status notifications (RFC 3464, RFC 3461, RFC 6533).
 *
 * Builds the bounce or delay notice for one spooled message, as a whole
 * RFC 5322 message ready to be spooled: pure, no I/O, no clock (now is
 * passed in), no randomness (the MIME boundary and Message-ID come from
 * boundary_seed, so a test gets the same bytes every time).
 *
 * Rules dsn_build() enforces:
 *   - Never a DSN to the null sender (MAIL FROM:<>): -1 "null sender: no
 *     bounce". That is what stops bounce loops (RFC 5321 4.5.5, 6.1).
 *   - NOTIFY (RFC 3461 4.1), per recipient, dsn_should_report():
 *       NEVER                      -> nothing, ever;
 *       given, with FAILURE        -> "failed" reported;
 *       given, with DELAY          -> "delayed" reported;
 *       given, with SUCCESS        -> "delivered", "relayed", "expanded";
 *       not given (0)              -> "failed" only. Delays are not
 *         reported unless NOTIFY=DELAY was asked for explicitly (Postfix
 *         also sends no delay notices by default: they are noise), and
 *         successes never unasked.
 *     Recipients it refuses are left out; when none is left, dsn_build()
 *     returns 0 and writes nothing.
 *   - Every line ends with CR LF and holds at most 998 octets: remote
 *     diagnostic texts are folded at spaces and cut hard where a word is
 *     too long; control characters in them become spaces, other octets
 *     outside printable ASCII become "?".
 *
 * The message: From "Mail Delivery System <postmaster>", To the original
 * sender, Subject "Undelivered Mail Returned to Sender" when any reported
 * recipient failed, else "Delayed Mail (still being retried)" when any is
 * delayed, else "Successful Mail Delivery Report"; Date, Message-ID,
 * Auto-Submitted: auto-replied (RFC 3834), and a multipart/report with:
 *   1. text/plain: what happened to which recipient, in plain words;
 *   2. message/delivery-status: Reporting-MTA, X-Dirmx-Queue-ID,
 *      Original-Envelope-Id (when ENVID was given), Arrival-Date, then per
 *      recipient Original-Recipient (when ORCPT was given), Final-Recipient,
 *      Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date,
 *      Will-Retry-Until (the last four when known);
 *   3. the original: message/rfc822 with the whole message when RET=FULL
 *      and the whole message can be returned (below); else
 *      text/rfc822-headers with its header section (RET=HDRS, RET not
 *      given, or the fallback).
 *
 * RET=FULL falls back to headers (and part 1 says so) when: the caller's
 * buffer is not the whole message (orig_complete false) or is larger
 * than full_max; the original was BINARYMIME; or its content is not valid
 * for its declared body (a NUL, a line over 998 octets, 8-bit octets in a
 * 7BIT message). So message/rfc822 holds 8-bit content only when the
 * original was 8BITMIME, with Content-Transfer-Encoding: 8bit.
 * In the returned headers, a line over 998 octets is broken with CR LF
 * TAB, a NUL becomes "?", and so does any 8-bit octet of a 7BIT original
 * (it lied; the notice stays 7-bit).
 *
 * SMTPUTF8 originals (env->smtputf8) get the RFC 6533 types:
 * message/global-delivery-status (addresses with non-ASCII octets as
 * "utf-8;" with "+", "=", "\" written \x{HH}), message/global-headers or
 * message/global, and a text/plain part in UTF-8: 8-bit body content
 * (8BITMIME), not header. The notice's own header stays ASCII - To: holds
 * the sender's A-label form, the UTF-8 original as an RFC 2047 display
 * name - so the notice needs SMTPUTF8 only when the sender's local part
 * is non-ASCII (dsn_envelope() sets smtputf8_needed so): a notice about a
 * message that needed SMTPUTF8 must not bounce where the original did.
 *
 * Errors: -1 with a static, printable-ASCII *error_r that never quotes
 * the input; out is then unchanged (so it is when 0 is returned).
 */
#ifndef DIRMX_DSN_H
#define DIRMX_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "spoolrec.h"

struct sbuf;

enum dsn_action {
	DSN_ACTION_FAILED = 0,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
	DSN_ACTION_RELAYED,
	DSN_ACTION_EXPANDED,
};

struct dsn_rcpt {
	size_t index; /* into env->rcpts */
	enum dsn_action action;
	/* RFC 3463 "5.1.1"; its class must fit the action (5 or 4 failed,
	   4 delayed, 2 otherwise). NULL, malformed or not fitting: 5.0.0 /
	   4.0.0 / 2.0.0 (a bad status from a remote text must not cost the
	   sender the bounce). */
	const char *status;
	/* "smtp; 550 5.1.1 <x>: user unknown" (smtpreply_format_diag()).
	   Without a "type;" prefix, "smtp; " is put before text starting
	   with a reply code and a space ("550 5.1.1 ...") and "x-dirmx; "
	   before anything else. NULL or "": no Diagnostic-Code. */
	const char *diag;
	/* Host name of the remote MTA, written "dns; name". NULL (or not
	   one printable token): no Remote-MTA. */
	const char *remote_mta;
	time_t last_attempt;     /* 0: no Last-Attempt-Date */
	time_t will_retry_until; /* delayed only; 0: no Will-Retry-Until */
};

struct dsn_input {
	const char *reporting_mta;  /* our host name */
	const char *postmaster;     /* "MAILER-DAEMON@host.example" */
	const struct spoolrec *env; /* the original envelope */
	const struct dsn_rcpt *rcpts;
	size_t rcpt_count;
	/* The first orig_len bytes of the original message as spooled (CR
	   LF line ends; bare CR or LF are made CR LF again). */
	const void *orig;
	size_t orig_len;
	bool orig_complete; /* orig is the whole message */
	size_t full_max;    /* RET=FULL only up to this size; 0 = never */
	time_t now;
	uint64_t boundary_seed;
};

/*
 * Append the notice to out: 1 built, 0 nothing to report (every
 * recipient refused by NOTIFY), -1 error (null sender, a recipient index
 * out of range, a bad reporting MTA or postmaster name, a time that
 * cannot be written, out's limit reached).
 */
int dsn_build(const struct dsn_input *in, struct sbuf *out,
              const char **error_r);

/*
 * The report of env->rcpts[index] for action, from the result fields its
 * spool record keeps (spoolrec.h: status, diag, rhost): Status from
 * status, Diagnostic-Code from diag, Remote-MTA from rhost, each left out
 * when empty (a version 1 record has none: Status N.0.0, no
 * Diagnostic-Code, no Remote-MTA). The strings point into env; nothing is
 * parsed out of the error summary.
 */
void dsn_rcpt_from_result(struct dsn_rcpt *dr_r, const struct spoolrec *env,
                          size_t index, enum dsn_action action,
                          time_t last_attempt);

/* Whether r's NOTIFY asks for a report of this action (rules above). */
bool dsn_should_report(const struct spoolrec_rcpt *r, enum dsn_action action);

/*
 * The envelope of the notice built from in (msg, msg_len: dsn_build()'s
 * output): id as given (a new queue ID), arrival in->now, MAIL FROM:<>,
 * one recipient, the original sender, with NOTIFY=NEVER and an empty hop
 * (routing fills it in), helo the reporting MTA, body 8BITMIME when msg
 * holds an octet >= 0x80 else 7BIT, smtputf8 as the original's but
 * smtputf8_needed only for a sender with no ASCII form (above), no RET,
 * no ENVID, size msg_len. -1 for the null sender. The caller frees
 * *env_r with spoolrec_deinit().
 */
int dsn_envelope(const struct dsn_input *in, const char *id, const void *msg,
                 size_t msg_len, struct spoolrec **env_r, const char **error_r);

#endif
