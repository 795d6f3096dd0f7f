/*
 * smtpcmd.h - parse one SMTP command line and the arguments of MAIL, RCPT,
 * BDAT and AUTH (RFC 5321, 1870, 3030, 3461, 4616, 4954, 6152, 6531).
 *
 * Contract:
 *   - Pure functions: no I/O, no logging, no global state.
 *   - The caller frames lines: smtpcmd_parse() gets one line WITHOUT its
 *     CRLF, after the caller has enforced its line-length limit (512
 *     octets with CRLF, RFC 5321 4.5.3.1.4, plus what the advertised
 *     extensions add; up to 12288 for AUTH, RFC 4954 4). Any CR, LF, NUL
 *     or other C0 control / DEL byte in the line is a syntax error (500):
 *     a line holding a bare CR or LF is never split into two commands.
 *   - Return 0 on success, -1 on error with *err_r set to the reply
 *     routerd sends (code, enhanced code, text). All strings in a
 *     struct smtpcmd_error are static; the input is never echoed in them.
 *   - struct smtpcmd's arg points INTO the line (borrowed, not
 *     NUL-terminated); smtpcmd_auth's pointers likewise point into arg.
 *   - struct smtpcmd_mail / smtpcmd_rcpt / smtpcmd_plain OWN their strings
 *     and the struct addr inside: free them with smtpcmd_mail_clear(),
 *     smtpcmd_rcpt_clear(), smtpcmd_plain_clear(). The parse functions
 *     overwrite the output struct (clear it first when reusing it) and leave
 *     it empty (nothing to free) on error.
 *   - Secrets (decoded base64, PLAIN fields) are wiped before being freed.
 *
 * Leniency, on purpose and nowhere else: verbs and keywords in any case;
 * one or more spaces between verb and argument, after "FROM:" / "TO:"
 * (many clients send "MAIL FROM: <a@b>") and between ESMTP parameters;
 * trailing spaces are dropped from the argument.
 */
#ifndef DIRMX_SMTPCMD_H
#define DIRMX_SMTPCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum smtpcmd_verb {
	SMTPCMD_HELO,
	SMTPCMD_EHLO,
	SMTPCMD_MAIL,
	SMTPCMD_RCPT,
	SMTPCMD_DATA,
	SMTPCMD_BDAT,
	SMTPCMD_RSET,
	SMTPCMD_NOOP,
	SMTPCMD_QUIT,
	SMTPCMD_VRFY,
	SMTPCMD_EXPN,
	SMTPCMD_HELP,
	SMTPCMD_STARTTLS,
	SMTPCMD_AUTH,
	SMTPCMD_UNKNOWN,
};

struct smtpcmd_error {
	unsigned code;        /* 500, 501, 552, 553, 555 */
	const char *enhanced; /* "5.5.2" */
	const char *text;     /* "Syntax error" */
};

struct smtpcmd {
	enum smtpcmd_verb verb;
	/*
	 * The argument, borrowed from the line. MAIL / RCPT: what follows
	 * "FROM:" / "TO:" and its spaces. Empty (arg_len 0) when none.
	 */
	const char *arg;
	size_t arg_len;
};

/*
 * What routerd advertised in its EHLO reply, plus the state of the
 * transaction (SMTPCMD_F_TXN_UTF8: MAIL FROM carried SMTPUTF8).
 */
enum smtpcmd_flags {
	SMTPCMD_F_UTF8 = 1u << 0,     /* SMTPUTF8 (RFC 6531) */
	SMTPCMD_F_8BITMIME = 1u << 1, /* BODY=7BIT|8BITMIME (RFC 6152) */
	SMTPCMD_F_DSN = 1u << 2,      /* RET ENVID NOTIFY ORCPT (RFC 3461) */
	SMTPCMD_F_BINARY = 1u << 3,   /* BODY=BINARYMIME (RFC 3030) */
	SMTPCMD_F_SIZE = 1u << 4,     /* SIZE= (RFC 1870) */
	SMTPCMD_F_AUTH = 1u << 5,     /* AUTH= (RFC 4954 5) */
	SMTPCMD_F_TXN_UTF8 = 1u << 6, /* RCPT: the MAIL had SMTPUTF8 */
};

enum smtpcmd_body {
	SMTPCMD_BODY_NONE, /* not given */
	SMTPCMD_BODY_7BIT,
	SMTPCMD_BODY_8BITMIME,
	SMTPCMD_BODY_BINARYMIME,
};

enum smtpcmd_ret {
	SMTPCMD_RET_NONE,
	SMTPCMD_RET_FULL,
	SMTPCMD_RET_HDRS,
};

enum smtpcmd_notify {
	SMTPCMD_NOTIFY_NEVER = 1u << 0,
	SMTPCMD_NOTIFY_SUCCESS = 1u << 1,
	SMTPCMD_NOTIFY_FAILURE = 1u << 2,
	SMTPCMD_NOTIFY_DELAY = 1u << 3,
};

#define SMTPCMD_ENVID_MAX 100      /* RFC 3461 4.4, encoded form */
#define SMTPCMD_ORCPT_MAX 500      /* RFC 3461 4.2, encoded form */
#define SMTPCMD_BDAT_MAX INT64_MAX /* fits an off_t */

struct smtpcmd_mail {
	struct addr *path; /* addr_is_null() for "<>" */
	bool has_size;
	uint64_t size;
	enum smtpcmd_body body;
	bool smtputf8;
	enum smtpcmd_ret ret;
	char *envid; /* decoded xtext, printable ASCII; NULL when absent */
	char *auth;  /* decoded AUTH= xtext ("<>" kept); NULL when absent */
};

struct smtpcmd_rcpt {
	struct addr *path;
	unsigned notify;  /* SMTPCMD_NOTIFY_* bits; 0 when absent */
	char *orcpt_type; /* "rfc822" or "utf-8" (lowercase); NULL if absent */
	char *orcpt;      /* decoded address (printable ASCII / UTF-8) */
};

enum smtpcmd_auth_mech {
	SMTPCMD_AUTH_PLAIN,
	SMTPCMD_AUTH_LOGIN,
	SMTPCMD_AUTH_OTHER, /* syntactically valid SASL name, for the caller */
};

struct smtpcmd_auth {
	enum smtpcmd_auth_mech mech;
	const char *mech_name; /* borrowed from arg */
	size_t mech_len;
	/* "AUTH PLAIN =" gives has_ir with ir_len 0 (RFC 4954 4). */
	bool has_ir;
	const char *ir; /* borrowed base64 text, not decoded */
	size_t ir_len;
};

/* RFC 4616 message; every field NUL-terminated, authzid "" when absent. */
struct smtpcmd_plain {
	char *authzid;
	char *authcid;
	char *password;
};

/*
 * Split a command line into verb and argument and check what the verb
 * needs: HELO/EHLO/VRFY/EXPN/BDAT/AUTH an argument (501 when missing),
 * DATA/RSET/QUIT/STARTTLS none (501 when given), MAIL "FROM:" and RCPT
 * "TO:" (501 when missing). cmd_r->verb is set even on error (UNKNOWN for
 * an unrecognised verb: 500 5.5.2 "Command unrecognized").
 */
int smtpcmd_parse(const char *line, size_t len, struct smtpcmd *cmd_r,
                  struct smtpcmd_error *err_r);

/*
 * MAIL FROM: argument (cmd.arg): reverse-path ("<>" allowed) then ESMTP
 * parameters. A parameter of an extension not in flags: 555 5.5.4; a
 * repeated one: 501 5.5.4; bad value: 501 5.5.4. SIZE above max_size
 * (0: no limit) gives 552 5.3.4. A UTF-8 address without the SMTPUTF8
 * parameter gives 553 5.6.7, another bad address 553 5.1.3 (text from
 * addr.h). Suspicious but legal forms (% ! source route quotes) parse;
 * see addr_flags(mail_r->path).
 */
int smtpcmd_parse_mail(const char *arg, size_t len, unsigned flags,
                       uint64_t max_size, struct smtpcmd_mail *mail_r,
                       struct smtpcmd_error *err_r);
void smtpcmd_mail_clear(struct smtpcmd_mail *mail);

/*
 * RCPT TO: argument: forward-path (no "<>"; "<Postmaster>" allowed) then
 * NOTIFY and ORCPT (need SMTPCMD_F_DSN). UTF-8 in the path or in a
 * "utf-8" ORCPT needs SMTPCMD_F_TXN_UTF8 (553 5.6.7 otherwise).
 */
int smtpcmd_parse_rcpt(const char *arg, size_t len, unsigned flags,
                       struct smtpcmd_rcpt *rcpt_r,
                       struct smtpcmd_error *err_r);
void smtpcmd_rcpt_clear(struct smtpcmd_rcpt *rcpt);

/* "BDAT <chunk-size> [LAST]": size <= SMTPCMD_BDAT_MAX, else 501. */
int smtpcmd_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
                       bool *last_r, struct smtpcmd_error *err_r);

/*
 * Where does a BDAT command's chunk end? Whatever else is wrong with the
 * line, a chunk of this size follows it and must never be read as
 * commands (RFC 3030 section 2). For a whole command line (no CRLF):
 * 0 when it is not a BDAT command; 1 with *size_r when it is and its size
 * can be read (the verb in any case, spaces, then digits up to a space or
 * the end, <= SMTPCMD_BDAT_MAX); -1 when it is a BDAT command whose size
 * cannot be read: the end of its chunk is unknown.
 */
int smtpcmd_bdat_size(const char *line, size_t len, uint64_t *size_r);

/*
 * "AUTH <mechanism> [initial-response]". An unknown but well-formed
 * mechanism name is returned as SMTPCMD_AUTH_OTHER (the caller answers
 * 504 5.5.4 unless its SASL layer knows it); a malformed one: 501 5.5.4.
 * The initial response is only checked to be base64 characters or "=".
 */
int smtpcmd_parse_auth(const char *arg, size_t len, struct smtpcmd_auth *auth_r,
                       struct smtpcmd_error *err_r);

/*
 * Strict base64 (RFC 4648 4): no whitespace, length a multiple of 4,
 * correct padding, zero pad bits. "" decodes to an empty result. "*" is
 * the client cancelling (RFC 4954 4): returns 1 and 501 5.7.0 in *err_r.
 * On 0, *out_r is a new NUL-terminated buffer of *out_len_r bytes that
 * the caller frees with smtpcmd_secret_free(*out_r, *out_len_r).
 * Malformed: -1, 501 5.5.2.
 */
int smtpcmd_decode_base64(const char *in, size_t len, unsigned char **out_r,
                          size_t *out_len_r, struct smtpcmd_error *err_r);

/*
 * Decode and split an RFC 4616 PLAIN response: authzid NUL authcid NUL
 * passwd, exactly two NULs, non-empty authcid and password, each field
 * valid UTF-8; authzid and authcid at most 255 octets, the password at
 * most 1024. Returns like smtpcmd_decode_base64()
 * (1 for "*"); a malformed message is -1 with 501 5.5.2.
 */
int smtpcmd_decode_plain(const char *b64, size_t len,
                         struct smtpcmd_plain *plain_r,
                         struct smtpcmd_error *err_r);
/* Wipe and free the fields; the struct is left empty. */
void smtpcmd_plain_clear(struct smtpcmd_plain *plain);

/* Overwrite len bytes in a way the compiler keeps (explicit_bzero). */
void smtpcmd_wipe(void *p, size_t len);
/* smtpcmd_wipe() then free(); NULL allowed. */
void smtpcmd_secret_free(void *p, size_t len);

#endif
