/*
 * dotstream.h - incremental reader of a DATA body (RFC 5321 4.1.1.4,
 * 4.5.2) or of BDAT chunks (RFC 3030): the SMTP smuggling defence.
 *
 * Contract:
 *   - Pure: no I/O, no clock, no logging. The result does not depend on
 *     how the input is split into dotstream_feed() calls.
 *   - DATA mode. The end of data is ONLY the five octets CR LF "." CR LF
 *     (or "." CR LF as the very first line, an empty message). Where the
 *     line before the "." ended with a bare LF or a bare CR, or where the
 *     "." is followed by anything but CR LF, it is content: "\n.\n",
 *     "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r" + anything never end the
 *     message (DESIGN.md invariant 5).
 *   - Dot-unstuffing: a line starting with "." and holding other
 *     characters loses that first "." ("..x" gives ".x", ".x" gives "x").
 *     A lone "." line that did not end the data (because of a bare CR/LF
 *     around it) is kept as "." CR LF.
 *   - Line ends are normalised: every bare LF and every bare CR becomes
 *     CR LF in the output and is counted (stats bare_lf / bare_cr; routerd
 *     logs them). So the output never holds a bare CR or LF, and every
 *     line in it ends with CR LF. Why this cannot smuggle: the only way a
 *     "." line reaches the output is as a whole line "." CR LF, and
 *     routerd dot-stuffs every output line that starts with "." when it
 *     relays (DATA), so the next hop reads ".." CR LF, never an end; and
 *     no bare CR or LF is left for the next hop to interpret its own way.
 *   - BDAT mode (dotstream_new_bdat): no dot handling and no end marker
 *     (the caller counts the chunk octets), but the same normalisation,
 *     counting, limits and header scan. RFC 3030 sends BDAT content as is;
 *     for 7BIT / 8BITMIME content bare CR and LF are still not allowed
 *     (RFC 5321 2.3.8), and for BINARYMIME the caller should not use this
 *     module at all. dotstream_bdat_finish() at the LAST chunk turns a
 *     trailing CR into CR LF and ends an unterminated last line with
 *     CR LF (stats final_eol_added), so the output is always whole lines.
 *   - Limits, both keep consuming to the end so the reply comes after the
 *     final dot and the session stays in sync:
 *       max_size (0: none) - output octets (after unstuffing and
 *       normalisation) above it set too_big and nothing more is appended:
 *       out holds exactly the first max_size octets. Reply 552 5.3.4.
 *       An out sbuf whose own limit is reached also sets too_big (give it
 *       a limit above max_size).
 *       max_line (0: none) - a line of more than max_line octets on the
 *       wire (line end excluded, stuffing dot included; 998 per RFC 5321
 *       4.5.3.1.6) sets line_too_long. The line is still copied. Reply
 *       500 5.5.2 "Line too long" (RFC 5321 4.5.3.1.10 names 500).
 *   - NUL octets are kept in the output and counted (nul_bytes): routerd
 *     rejects such a message (554 5.6.0) after the final dot.
 *   - Header scan for loop detection: the header section is the lines
 *     from the start up to the first empty line, or up to the first line
 *     that is neither a field ("name:" with optional WSP before the colon,
 *     RFC 5322 obs-syntax) nor a continuation. "Received:" fields in it
 *     are counted, case-insensitively; those in the body are not. An
 *     octet >= 0x80 in a field of it sets header_8bit.
 *
 * Ownership: dotstream_new() returns a stream freed with dotstream_deinit().
 * The caller owns out; dotstream only appends to it.
 */
#ifndef DIRMX_DOTSTREAM_H
#define DIRMX_DOTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

struct dotstream;

#define DOTSTREAM_MSGID_MAX 200

struct dotstream_stats {
	uint64_t size;    /* output octets, counting those cut by too_big */
	uint64_t bare_lf; /* bare LFs turned into CR LF */
	uint64_t bare_cr; /* bare CRs turned into CR LF */
	uint64_t nul_bytes;
	uint64_t lines;        /* output lines */
	uint64_t longest_line; /* on the wire, line end excluded */
	bool too_big;
	bool line_too_long;
	bool final_eol_added; /* BDAT: dotstream_bdat_finish() added CR LF */
	unsigned received;    /* "Received:" fields in the header section */
	bool headers_seen;    /* at least one header field line */
	bool header_end_seen; /* the empty line (or body line) was seen */
	/* Octets of out taken by the header field lines, their CR LFs
	   included, the empty separator line excluded. */
	uint64_t header_bytes;
	/* The first Message-ID field's value (unfolded, leading and trailing
	   white space dropped, cut at DOTSTREAM_MSGID_MAX), for logs: "" when
	   there is none. Not validated: quote it when logging. */
	char message_id[DOTSTREAM_MSGID_MAX + 1];
	/* An octet >= 0x80 in a header field (RFC 6532 UTF-8 headers): the
	   message needs SMTPUTF8 to travel as it is (intl.h). */
	bool header_8bit;
};

struct dotstream *dotstream_new(uint64_t max_size, size_t max_line);
struct dotstream *dotstream_new_bdat(uint64_t max_size, size_t max_line);
/* Frees *ds (NULL allowed) and sets it to NULL. */
void dotstream_deinit(struct dotstream **ds);

/*
 * DATA mode. Consume data[0..len), append the content to out. Returns 1
 * when the end of data was seen: *consumed_r then stops right after the
 * final CR LF "." CR LF and the rest of data (pipelined commands) is the
 * caller's. Returns 0 when more is needed (*consumed_r == len). Once the
 * end was seen, further calls consume nothing and return 1.
 */
int dotstream_feed(struct dotstream *ds, const void *data, size_t len,
                   size_t *consumed_r, struct sbuf *out);

/* BDAT mode: consume all of data[0..len) (one chunk or part of one). */
void dotstream_bdat_feed(struct dotstream *ds, const void *data, size_t len,
                         struct sbuf *out);
/* BDAT mode: the LAST chunk is complete; flush the pending line end. */
void dotstream_bdat_finish(struct dotstream *ds, struct sbuf *out);

/* DATA: the end was seen; BDAT: dotstream_bdat_finish() was called. */
bool dotstream_done(const struct dotstream *ds);
void dotstream_stats(const struct dotstream *ds, struct dotstream_stats *st_r);
unsigned dotstream_received_count(const struct dotstream *ds);

#endif
