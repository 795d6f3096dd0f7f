/*
 * smtpreply.h - the outbound SMTP client's reply parser (RFC 5321 4.2).
 *
 * An incremental, pure parser: bytes from the next hop go in, one whole
 * reply at a time comes out. smtpreply_parse() returns 1 when a complete
 * reply (one line "250 ok", or several "250-..." ... "250 ...") is in
 * *reply_r, 0 when it needs more input, -1 when the input is malformed.
 * *consumed_r says how many bytes of data were used: on 1 it stops right
 * after the reply's last CR LF, so pipelined replies that follow are read
 * by calling again with the rest; on 0 it is len (the parser keeps the
 * partial line itself); on -1 it is meaningless. Any split of the input
 * gives the same replies.
 *
 * Strict on purpose, because a reply that is half understood is worse
 * than a connection dropped with a temporary failure:
 *   - every line ends with CR LF; a bare LF, a bare CR, a NUL or any
 *     other control character but TAB is an error. One exception, by
 *     choice of the caller: with SMTPREPLY_BARE_LF a bare LF ends a line
 *     as CR LF does (a bare CR is still an error). The delivery client
 *     sets it, as Postfix's smtp client reads replies: a server that
 *     ends its replies with LF alone is broken but unambiguous (replies
 *     carry no payload that could be smuggled), and refusing it would
 *     turn its every verdict into a retry;
 *   - every line is three digits (first 2-5, second 0-5, RFC 5321 4.2)
 *     then "-" (more lines follow), " " or the end of the line (last
 *     line); every line of one reply has the same code;
 *   - a line is at most SMTPREPLY_LINE_MAX octets (CR LF included) and a
 *     reply at most SMTPREPLY_LINES_MAX lines, so one reply holds at most
 *     about 4 MB whatever the peer sends.
 * Octets >= 0x80 are kept as they are (SMTPUTF8 servers send UTF-8);
 * smtpreply_format_diag() makes them safe for a DSN.
 *
 * Enhanced status codes (RFC 2034 / RFC 3463): when the first line's text
 * starts with "class.subject.detail" (1-3 digits each) followed by a space
 * or the end of the line, and class is 2, 4 or 5 and equals the reply
 * code's first digit, it goes to reply->enhanced and is cut from the text;
 * the same code at the start of a later line is cut too. Otherwise the
 * reply has no enhanced code ("" ) and the text is left whole.
 *
 * After -1 the parser stays failed: every later call returns -1. The
 * caller drops the connection.
 *
 * Ownership: the parser belongs to the caller (smtpreply_parser_deinit()).
 * A reply filled by smtpreply_parse() owns its text; the caller frees it
 * with smtpreply_clear(). Errors are static, printable-ASCII strings that
 * never quote the input. Nothing here does I/O, logs or keeps global
 * state.
 */
#ifndef DIRMX_SMTPREPLY_H
#define DIRMX_SMTPREPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf;

#define SMTPREPLY_LINE_MAX 4096   /* octets per line, CR LF included */
#define SMTPREPLY_LINES_MAX 1000  /* lines per reply */
#define SMTPREPLY_ENHANCED_MAX 10 /* "5.123.456" and its NUL */
#define SMTPREPLY_DIAG_MAX 1000   /* text octets smtpreply_format_diag keeps */
#define SMTPREPLY_AUTH_MECHS_MAX 256

struct smtpreply {
	unsigned code; /* 200..559 */
	/* "2.1.5", or "" when the reply has no (valid) enhanced code */
	char enhanced[SMTPREPLY_ENHANCED_MAX];
	/* the text of every line (after "250-" / "250 " and any enhanced
	   code), lines joined with "\n", no final "\n"; never NULL after a
	   successful parse; no NUL, CR or other control but TAB and "\n" */
	char *text;
	size_t line_count;
};

struct smtpreply_parser;

/* Flags of smtpreply_parser_new(). */
#define SMTPREPLY_BARE_LF 0x1u /* a bare LF ends a line (above) */

/* flags: 0 (strict) or SMTPREPLY_BARE_LF. */
struct smtpreply_parser *smtpreply_parser_new(unsigned flags);
/* Frees *p (NULL allowed) and sets *p to NULL. */
void smtpreply_parser_deinit(struct smtpreply_parser **p);

/*
 * See above. On 1, *reply_r is overwritten (not freed first: clear it
 * before reusing it); on 0 and -1 it is left untouched.
 */
int smtpreply_parse(struct smtpreply_parser *p, const char *data, size_t len,
                    size_t *consumed_r, struct smtpreply *reply_r,
                    const char **error_r);

/* Frees r->text and zeroes *r. */
void smtpreply_clear(struct smtpreply *r);

/* The first digit of code (2, 3, 4 or 5); 0 when code is not 200..599. */
unsigned smtpreply_status_class(unsigned code);

/*
 * Append "smtp; 550 5.1.1 text of the reply" to out: the lines joined
 * with spaces, every byte outside printable ASCII as "?", at most
 * SMTPREPLY_DIAG_MAX octets of text (then "..."). This is the form of an
 * RFC 3464 Diagnostic-Code and of spoolrec's diag field. -1 (out
 * unchanged) when it does not fit in out's limit.
 */
int smtpreply_format_diag(const struct smtpreply *r, struct sbuf *out);

/*
 * Append "550 5.1.1 text of the reply" to out, for logs and a delivery
 * result's summary: the lines joined with spaces (TAB kept), octets
 * >= 0x80 kept as they are, no length cut but out's limit. -1 (out
 * unchanged) when it does not fit.
 */
int smtpreply_format_text(const struct smtpreply *r, struct sbuf *out);

/* EHLO keywords (RFC 5321 4.1.1.1; each extension's RFC). */
enum smtpreply_cap {
	SMTPREPLY_CAP_PIPELINING = 1u << 0,          /* RFC 2920 */
	SMTPREPLY_CAP_SIZE = 1u << 1,                /* RFC 1870 */
	SMTPREPLY_CAP_8BITMIME = 1u << 2,            /* RFC 6152 */
	SMTPREPLY_CAP_SMTPUTF8 = 1u << 3,            /* RFC 6531 */
	SMTPREPLY_CAP_STARTTLS = 1u << 4,            /* RFC 3207 */
	SMTPREPLY_CAP_CHUNKING = 1u << 5,            /* RFC 3030 */
	SMTPREPLY_CAP_BINARYMIME = 1u << 6,          /* RFC 3030 */
	SMTPREPLY_CAP_ENHANCEDSTATUSCODES = 1u << 7, /* RFC 2034 */
	SMTPREPLY_CAP_DSN = 1u << 8,                 /* RFC 3461 */
	SMTPREPLY_CAP_AUTH = 1u << 9,                /* RFC 4954 */
};

/* SASL mechanisms the client knows by name (others only in the list). */
enum smtpreply_auth {
	SMTPREPLY_AUTH_PLAIN = 1u << 0,
	SMTPREPLY_AUTH_LOGIN = 1u << 1,
	SMTPREPLY_AUTH_CRAM_MD5 = 1u << 2,
	SMTPREPLY_AUTH_GSSAPI = 1u << 3,
	SMTPREPLY_AUTH_XOAUTH2 = 1u << 4,
};

struct smtpreply_caps {
	unsigned flags; /* SMTPREPLY_CAP_* */
	uint64_t size;  /* SIZE limit; 0 = none given (or SIZE absent) */
	unsigned auth;  /* SMTPREPLY_AUTH_* */
	/* every well-formed SASL mechanism name of "AUTH ..." and of the
	   old "AUTH=..." lines, uppercase, space-separated, each once; names
	   that do not fit are dropped whole */
	char auth_mechs[SMTPREPLY_AUTH_MECHS_MAX];
};

/*
 * Read the capabilities of an EHLO reply: every line but the first (the
 * server's name and greeting) is "KEYWORD [params]", keywords compared
 * without ASCII case; unknown keywords and malformed parameters are
 * ignored (a SIZE with a bad number counts as SIZE with no limit). -1
 * with *caps_r zeroed when the reply is not a 250.
 */
int smtpreply_ehlo_caps(const struct smtpreply *r,
                        struct smtpreply_caps *caps_r);

#endif
