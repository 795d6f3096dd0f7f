/*
 * addr.h - RFC 5321 / RFC 6531 envelope address parsing and normalisation.
 *
 * Parses the path that follows "MAIL FROM:" or "RCPT TO:" (RFC 5321
 * section 4.1.2) and bare mailboxes (local@domain) into a struct addr in a
 * canonical form, so that two spellings of the same address compare equal
 * with strcmp() and a relay policy can look at what was sent:
 *
 *   - local part: a Quoted-string whose content is a valid Dot-string is
 *     unquoted ("john"@x -> john@x); otherwise it stays quoted, with only
 *     '"' and '\' escaped. Local parts keep their case (RFC 5321 2.4).
 *   - domain: ASCII letters lowercased; UTF-8 (U-label) bytes kept exactly
 *     as sent, not IDNA-mapped (the choice of the caller's IDN policy).
 *     Address literals are checked with inet_pton() and rewritten in the
 *     inet_ntop() form: "[1.2.3.4]", "[IPv6:2001:db8::1]".
 *   - an obsolete source route "<@a,@b:user@c>" is checked, then dropped
 *     (RFC 5321 4.1.1.3) and reported with ADDR_F_SOURCE_ROUTE.
 *
 * The parser reports, the policy decides: ADDR_F_* flags on the result say
 * which legal-but-suspicious forms were used (quotes, '%' and '!' routing
 * hacks, '@' inside quotes, literals, source routes, UTF-8).
 *
 * Refused: NUL and control characters anywhere (CR and LF included), space
 * outside quotes, unbalanced quotes, a backslash at the end, empty labels,
 * leading/trailing/double dots, a second unquoted '@', a domain ending in a
 * dot, an empty quoted local part (""@x), general address literals,
 * malformed UTF-8 (overlongs, surrogates, > U+10FFFF) and C1 controls, and
 * anything over the RFC 5321 4.5.3.1 limits: local part 64 octets, domain
 * 255, label 63, path 256 including the brackets (254 for a bare mailbox).
 * Octets >= 0x80 need ADDR_ALLOW_UTF8 (the client said SMTPUTF8).
 *
 * Errors: functions return 0 on success and -1 on error with *error_r set
 * to a static, human-readable, printable-ASCII reason fit for the text of
 * an SMTP reply ("local part too long"); the input is never echoed in it.
 *
 * Ownership: a parse function gives the caller a new struct addr, freed
 * with addr_deinit(). Strings returned by the accessors belong to the addr
 * and stay valid until addr_deinit(). The functions are pure: no I/O, no
 * logging, no global state; safe from any thread.
 */
#ifndef DIRMX_ADDR_H
#define DIRMX_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Input flags: what the caller allows. */
enum addr_parse_flags {
	/* "<>" is a valid (null) reverse-path: MAIL FROM only. */
	ADDR_ALLOW_NULL = 1u << 0,
	/* UTF-8 in local part and domain (RFC 6531, SMTPUTF8 was given). */
	ADDR_ALLOW_UTF8 = 1u << 1,
	/* A path without "<" ">" (lenient clients); not RFC 5321. */
	ADDR_ALLOW_NO_BRACKETS = 1u << 2,
	/* "<Postmaster>" without a domain (RFC 5321 4.1.1.3): RCPT TO only. */
	ADDR_ALLOW_POSTMASTER = 1u << 3,
};

/* Result flags: what the address used (see addr_flags()). */
enum addr_result_flags {
	/* The canonical local part is a Quoted-string. */
	ADDR_F_QUOTED = 1u << 0,
	/* The domain is an address literal [1.2.3.4] or [IPv6:...]. */
	ADDR_F_DOMAIN_LITERAL = 1u << 1,
	/* Octets >= 0x80 in the local part or the domain. */
	ADDR_F_UTF8 = 1u << 2,
	/* An obsolete source route was given (and dropped). */
	ADDR_F_SOURCE_ROUTE = 1u << 3,
	/* '%' in the local part (user%other@relay hack). */
	ADDR_F_PERCENT = 1u << 4,
	/* '!' in the local part (UUCP bang path host!user). */
	ADDR_F_BANG = 1u << 5,
	/* '@' inside a quoted local part ("user@other"@relay). */
	ADDR_F_AT_IN_LOCAL = 1u << 6,
	/* The path had no brackets (only with ADDR_ALLOW_NO_BRACKETS). */
	ADDR_F_NO_BRACKETS = 1u << 7,
	/* "<Postmaster>" without domain (only with ADDR_ALLOW_POSTMASTER). */
	ADDR_F_POSTMASTER = 1u << 8,
};

/* The parts a canonical address keeps: format + re-parse gives them back. */
#define ADDR_F_CANONICAL_MASK                                                  \
	(ADDR_F_QUOTED | ADDR_F_DOMAIN_LITERAL | ADDR_F_UTF8 |                 \
	 ADDR_F_PERCENT | ADDR_F_BANG | ADDR_F_AT_IN_LOCAL |                   \
	 ADDR_F_POSTMASTER)

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_LABEL_MAX 63
#define ADDR_PATH_MAX 256

struct addr;

/*
 * Parse a Reverse-path or Forward-path: s[0..len) is exactly "<...>" (or
 * "<>"), without the ESMTP parameters (see addr_split_path_arg()).
 */
int addr_parse_path(const char *s, size_t len, unsigned flags,
                    struct addr **addr_r, const char **error_r);

/*
 * Parse a bare Mailbox "local@domain" (no brackets, no source route).
 * Only ADDR_ALLOW_UTF8 is meaningful in flags.
 */
int addr_parse_mailbox(const char *s, size_t len, unsigned flags,
                       struct addr **addr_r, const char **error_r);

/*
 * Split the argument of MAIL FROM: / RCPT TO: (the bytes after the colon)
 * into the path and the ESMTP parameters. The path starts at arg[0]: a
 * space before it is refused here, the SMTP layer strips it first if it
 * chooses to be lenient. With brackets, the path ends at the '>' that
 * closes it ('>' inside a quoted local part does not); without brackets
 * (only with ADDR_ALLOW_NO_BRACKETS) it ends at the first space. The path
 * must be followed by the end of arg or by one or more spaces; then
 * *params_off_r is the offset of the parameters (len when there are none).
 * Nothing is validated beyond that: pass arg[0..*path_len_r) to
 * addr_parse_path().
 */
int addr_split_path_arg(const char *arg, size_t len, unsigned flags,
                        size_t *path_len_r, size_t *params_off_r,
                        const char **error_r);

/* Frees *a (NULL allowed) and sets *a to NULL. */
void addr_deinit(struct addr **a);

/* Canonical local part; "" for the null path. */
const char *addr_local(const struct addr *a);
/* Canonical domain; "" for the null path and for "<Postmaster>". */
const char *addr_domain(const struct addr *a);
/* ADDR_F_* flags. */
unsigned addr_flags(const struct addr *a);
/*
 * Canonical "local@domain", owned by a (valid until addr_deinit()); ""
 * for the null path, "Postmaster" (as sent) for "<Postmaster>".
 */
const char *addr_format(const struct addr *a);
/* The null reverse-path "<>". */
bool addr_is_null(const struct addr *a);

/*
 * Sub-addressing (user+detail@domain): when the local part is not quoted
 * and holds delim at a position other than the first, *base_len_r is the
 * length of addr_local()'s prefix before the first delim and *detail_r
 * points just after it, into addr_local() (it may be ""), and true is
 * returned. Otherwise false and the outputs are untouched.
 */
bool addr_detail_split(const struct addr *a, char delim, size_t *base_len_r,
                       const char **detail_r);

#endif
