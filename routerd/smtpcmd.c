/*
 * smtpcmd - SMTP command line and argument parsers; see smtpcmd.h.
 *
 * SYNOPSIS
 *	smtpcmd_parse(line, len, &cmd, &err)
 *	smtpcmd_parse_mail(arg, len, flags, max_size, &mail, &err)
 *	smtpcmd_parse_rcpt(arg, len, flags, &rcpt, &err)
 *	smtpcmd_parse_bdat(arg, len, &size, &last, &err)
 *
 * DESCRIPTION
 *	Everything reads the untrusted line through struct buf. Addresses
 *	are handed to addr.h; this file only knows the command grammar and
 *	the ESMTP parameters (RFC 5321 4.1.2 esmtp-param) of SIZE, BODY,
 *	SMTPUTF8, RET, ENVID, AUTH, NOTIFY and ORCPT. The AUTH command and
 *	the SASL decoders live in smtpcmd_auth.c.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "smtpcmd.h"
#include "smtpcmd_private.h"
#include "str.h"

int smtpcmd_fail(struct smtpcmd_error *err, unsigned code, const char *enh,
                 const char *text)
{
	err->code = code;
	err->enhanced = enh;
	err->text = text;
	return -1;
}

#define E_SYNTAX(err, text) smtpcmd_fail(err, 501, "5.5.4", text)
#define E_UNSUPPORTED(err)                                                     \
	smtpcmd_fail(err, 555, "5.5.4", "Unsupported parameter")

enum arg_rule { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED, ARG_FROM, ARG_TO };

static const struct {
	const char *name;
	enum smtpcmd_verb verb;
	enum arg_rule rule;
	const char *usage;
} verbs[] = {
    {"HELO", SMTPCMD_HELO, ARG_REQUIRED, "Syntax: HELO hostname"},
    {"EHLO", SMTPCMD_EHLO, ARG_REQUIRED, "Syntax: EHLO hostname"},
    {"MAIL", SMTPCMD_MAIL, ARG_FROM, "Syntax: MAIL FROM:<address>"},
    {"RCPT", SMTPCMD_RCPT, ARG_TO, "Syntax: RCPT TO:<address>"},
    {"DATA", SMTPCMD_DATA, ARG_NONE, "Syntax: DATA"},
    {"BDAT", SMTPCMD_BDAT, ARG_REQUIRED, "Syntax: BDAT size [LAST]"},
    {"RSET", SMTPCMD_RSET, ARG_NONE, "Syntax: RSET"},
    {"NOOP", SMTPCMD_NOOP, ARG_OPTIONAL, NULL},
    {"QUIT", SMTPCMD_QUIT, ARG_NONE, "Syntax: QUIT"},
    {"VRFY", SMTPCMD_VRFY, ARG_REQUIRED, "Syntax: VRFY address"},
    {"EXPN", SMTPCMD_EXPN, ARG_REQUIRED, "Syntax: EXPN list"},
    {"HELP", SMTPCMD_HELP, ARG_OPTIONAL, NULL},
    {"STARTTLS", SMTPCMD_STARTTLS, ARG_NONE, "Syntax: STARTTLS"},
    {"AUTH", SMTPCMD_AUTH, ARG_REQUIRED, "Syntax: AUTH mechanism"},
};

int smtpcmd_parse(const char *line, size_t len, struct smtpcmd *cmd_r,
                  struct smtpcmd_error *err_r)
{
	struct buf b;
	const unsigned char *word;
	size_t wlen, end = 0, i, n = sizeof(verbs) / sizeof(verbs[0]);
	const char *prefix = NULL;
	uint8_t c;

	cmd_r->verb = SMTPCMD_UNKNOWN;
	cmd_r->arg = "";
	cmd_r->arg_len = 0;
	/* One pass for forbidden bytes and the end of the trimmed line. */
	buf_init(&b, line, len);
	while (buf_fetch_u8(&b, &c)) {
		if (c < 0x20 || c == 0x7f)
			return smtpcmd_fail(err_r, 500, "5.5.2",
			                    "Syntax error");
		if (c != ' ')
			end = buf_pos(&b);
	}
	buf_init(&b, line, end);
	wlen = buf_fetch_until(&b, " ", &word);
	for (i = 0; i < n; i++) {
		if (str_eq_case((const char *)word, wlen, verbs[i].name,
		                strlen(verbs[i].name)))
			break;
	}
	if (i == n)
		return smtpcmd_fail(err_r, 500, "5.5.2",
		                    "Command unrecognized");
	cmd_r->verb = verbs[i].verb;
	while (buf_consume_char(&b, ' '))
		;
	if (verbs[i].rule == ARG_FROM)
		prefix = "FROM:";
	else if (verbs[i].rule == ARG_TO)
		prefix = "TO:";
	if (prefix != NULL) {
		if (!str_has_prefix_case((const char *)buf_peek(&b),
		                         buf_remaining(&b), prefix))
			return E_SYNTAX(err_r, verbs[i].usage);
		buf_skip(&b, strlen(prefix));
		while (buf_consume_char(&b, ' '))
			;
	}
	cmd_r->arg = (const char *)buf_peek(&b);
	cmd_r->arg_len = buf_remaining(&b);
	if (verbs[i].rule == ARG_NONE && cmd_r->arg_len > 0)
		return E_SYNTAX(err_r, verbs[i].usage);
	if ((verbs[i].rule == ARG_REQUIRED || prefix != NULL) &&
	    cmd_r->arg_len == 0)
		return E_SYNTAX(err_r, verbs[i].usage);
	return 0;
}

/* ---- ESMTP parameters ---- */

struct param {
	const char *key;
	size_t key_len;
	const unsigned char *val; /* NULL: no "=value" */
	size_t val_len;
};

/* Fetch the next keyword[=value]; 1 got one, 0 at the end, -1 error. */
static int param_next(struct buf *b, struct param *p, struct smtpcmd_error *err)
{
	const unsigned char *k;
	uint8_t c;
	struct buf kb;

	while (buf_consume_char(b, ' '))
		;
	if (buf_remaining(b) == 0)
		return 0;
	p->key_len = buf_fetch_until(b, " =", &k);
	p->key = (const char *)k;
	buf_init(&kb, k, p->key_len);
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (p->key_len == 0)
		return E_SYNTAX(err, "Syntax error in parameters");
	while (buf_fetch_u8(&kb, &c)) {
		if (!str_is_alpha_ascii(c) && !str_is_digit_ascii(c) &&
		    (c != '-' || buf_pos(&kb) == 1))
			return E_SYNTAX(err, "Syntax error in parameters");
	}
	p->val = NULL;
	p->val_len = 0;
	if (buf_consume_char(b, '=')) {
		p->val_len = buf_fetch_until(b, " ", &p->val);
		buf_init(&kb, p->val, p->val_len);
		if (p->val_len == 0)
			return E_SYNTAX(err, "Syntax error in parameters");
		/* esmtp-value: no '=' (RFC 6531 adds UTF-8 octets). */
		while (buf_fetch_u8(&kb, &c)) {
			if (c == '=')
				return E_SYNTAX(err,
				                "Syntax error in parameters");
		}
	}
	return 1;
}

static bool key_is(const struct param *p, const char *name)
{
	return str_eq_case(p->key, p->key_len, name, strlen(name));
}

static bool val_is(const struct param *p, const char *name)
{
	return str_eq_case((const char *)p->val, p->val_len, name,
	                   strlen(name));
}

/* Mark keyword bit as seen: -1 on a repeat. */
static int seen_once(unsigned *seen, unsigned bit, struct smtpcmd_error *err)
{
	if ((*seen & bit) != 0)
		return E_SYNTAX(err, "Duplicate parameter");
	*seen |= bit;
	return 0;
}

static int hexval(uint8_t c)
{
	return str_hex_value(c, STR_HEX_ANY);
}

/* Control characters and DEL: never in a decoded parameter. */
static bool has_control(const char *s, size_t len)
{
	struct buf b;
	uint8_t c;

	buf_init(&b, s, len);
	while (buf_fetch_u8(&b, &c)) {
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/*
 * RFC 3461 4: xtext = *( xchar / hexchar ), xchar = %x21-2A / %x2C-3C /
 * %x3E-7E, hexchar = "+" 2HEXDIG. The decoded value must be printable
 * ASCII (it is logged and copied into DSNs).
 */
static int xtext_decode(const unsigned char *p, size_t len, char **out_r)
{
	struct buf b;
	char *s = alloc_zero(len + 1);
	size_t n = 0;
	uint8_t c, h, l;

	buf_init(&b, p, len);
	while (buf_fetch_u8(&b, &c)) {
		if (c == '+') {
			if (!buf_fetch_u8(&b, &h) || !buf_fetch_u8(&b, &l) ||
			    hexval(h) < 0 || hexval(l) < 0)
				goto bad;
			c = (uint8_t)(hexval(h) * 16 + hexval(l));
			if (c < 0x20 || c > 0x7e)
				goto bad;
		} else if (c < 0x21 || c > 0x7e || c == '=') {
			goto bad;
		}
		s[n++] = (char)c;
	}
	*out_r = s;
	return 0;
bad:
	free(s);
	return -1;
}

/* Append code point cp as UTF-8; false for surrogates, NUL, > 10FFFF. */
static bool utf8_put(char *s, size_t *n, uint32_t cp)
{
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return false;
	if (cp < 0x80) {
		s[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		s[(*n)++] = (char)(0xc0 | (cp >> 6));
		s[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		s[(*n)++] = (char)(0xe0 | (cp >> 12));
		s[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		s[(*n)++] = (char)(0xf0 | (cp >> 18));
		s[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		s[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
	return true;
}

/*
 * RFC 6533 3: utf-8-addr-xtext / utf-8-addr-unitext. QCHAR is %x21-7E
 * but '+', '=' and '\'; "\x{HEX}" is a code point; raw UTF-8 octets only
 * in unitext (the transaction is SMTPUTF8). Returns -2 for raw UTF-8 when
 * it is not allowed.
 */
static int utf8addr_decode(const unsigned char *p, size_t len, bool raw_ok,
                           char **out_r)
{
	struct buf b;
	char *s;
	size_t n = 0;
	uint8_t c;
	uint32_t cp;
	int rc = -1;

	/* "\x{N}" (5+ bytes) expands to at most 4; raw bytes copy 1:1. */
	s = alloc_zero(len + 1);
	buf_init(&b, p, len);
	while (buf_peek_u8(&b, &c)) {
		if (c == '\\') {
			int digits = 0, v;

			buf_skip(&b, 1);
			if (!buf_consume_char(&b, 'x') ||
			    !buf_consume_char(&b, '{'))
				goto done;
			cp = 0;
			while (buf_fetch_u8(&b, &c) && (v = hexval(c)) >= 0 &&
			       digits < 6) {
				cp = cp * 16 + (uint32_t)v;
				digits++;
			}
			if (c != '}' || digits == 0 || !utf8_put(s, &n, cp))
				goto done;
		} else if (c >= 0x80) {
			if (!raw_ok) {
				rc = -2;
				goto done;
			}
			if (!str_utf8_next(&b, &cp) || !utf8_put(s, &n, cp))
				goto done;
		} else if (c < 0x21 || c > 0x7e || c == '+' || c == '=') {
			goto done;
		} else {
			buf_skip(&b, 1);
			s[n++] = (char)c;
		}
	}
	if (n > 0 && !has_control(s, n) && str_utf8_valid(s, n)) {
		*out_r = s;
		return 0;
	}
done:
	free(s);
	return rc;
}

/* Split the path off arg and parse it; 553 texts come from addr.h. */
static int parse_path(const char *arg, size_t len, unsigned aflags,
                      struct addr **addr_r, size_t *params_off_r,
                      struct smtpcmd_error *err)
{
	const char *error = "Bad address syntax";
	size_t path_len;

	if (addr_split_path_arg(arg, len, aflags, &path_len, params_off_r,
	                        &error) < 0)
		return E_SYNTAX(err, error);
	if (addr_parse_path(arg, path_len, aflags | ADDR_ALLOW_UTF8, addr_r,
	                    &error) < 0)
		return smtpcmd_fail(err, 553, "5.1.3", error);
	return 0;
}

static int mail_param(const struct param *p, unsigned flags, uint64_t max_size,
                      unsigned *seen, struct smtpcmd_mail *m,
                      struct smtpcmd_error *err)
{
	struct buf vb;

	if (key_is(p, "SIZE") && (flags & SMTPCMD_F_SIZE) != 0) {
		if (seen_once(seen, 1u << 0, err) < 0)
			return -1;
		buf_init(&vb, p->val, p->val_len);
		if (p->val == NULL ||
		    !buf_fetch_uint(&vb, UINT64_MAX, &m->size) ||
		    buf_remaining(&vb) != 0)
			return E_SYNTAX(err, "Bad SIZE value");
		m->has_size = true;
		if (max_size != 0 && m->size > max_size)
			return smtpcmd_fail(err, 552, "5.3.4",
			                    "Message size exceeds fixed limit");
	} else if (key_is(p, "BODY") &&
	           (flags & (SMTPCMD_F_8BITMIME | SMTPCMD_F_BINARY)) != 0) {
		if (seen_once(seen, 1u << 1, err) < 0)
			return -1;
		if (p->val == NULL)
			return E_SYNTAX(err, "Bad BODY value");
		if (val_is(p, "7BIT"))
			m->body = SMTPCMD_BODY_7BIT;
		else if (val_is(p, "8BITMIME") &&
		         (flags & SMTPCMD_F_8BITMIME) != 0)
			m->body = SMTPCMD_BODY_8BITMIME;
		else if (val_is(p, "BINARYMIME") &&
		         (flags & SMTPCMD_F_BINARY) != 0)
			m->body = SMTPCMD_BODY_BINARYMIME;
		else if (val_is(p, "8BITMIME") || val_is(p, "BINARYMIME"))
			return E_UNSUPPORTED(err);
		else
			return E_SYNTAX(err, "Bad BODY value");
	} else if (key_is(p, "SMTPUTF8") && (flags & SMTPCMD_F_UTF8) != 0) {
		if (seen_once(seen, 1u << 2, err) < 0)
			return -1;
		if (p->val != NULL)
			return E_SYNTAX(err, "SMTPUTF8 takes no value");
		m->smtputf8 = true;
	} else if (key_is(p, "RET") && (flags & SMTPCMD_F_DSN) != 0) {
		if (seen_once(seen, 1u << 3, err) < 0)
			return -1;
		if (p->val != NULL && val_is(p, "FULL"))
			m->ret = SMTPCMD_RET_FULL;
		else if (p->val != NULL && val_is(p, "HDRS"))
			m->ret = SMTPCMD_RET_HDRS;
		else
			return E_SYNTAX(err, "Bad RET value");
	} else if (key_is(p, "ENVID") && (flags & SMTPCMD_F_DSN) != 0) {
		if (seen_once(seen, 1u << 4, err) < 0)
			return -1;
		if (p->val == NULL || p->val_len > SMTPCMD_ENVID_MAX ||
		    xtext_decode(p->val, p->val_len, &m->envid) < 0)
			return E_SYNTAX(err, "Bad ENVID value");
	} else if (key_is(p, "AUTH") && (flags & SMTPCMD_F_AUTH) != 0) {
		if (seen_once(seen, 1u << 5, err) < 0)
			return -1;
		if (p->val == NULL ||
		    xtext_decode(p->val, p->val_len, &m->auth) < 0)
			return E_SYNTAX(err, "Bad AUTH value");
	} else {
		return E_UNSUPPORTED(err);
	}
	return 0;
}

int smtpcmd_parse_mail(const char *arg, size_t len, unsigned flags,
                       uint64_t max_size, struct smtpcmd_mail *mail_r,
                       struct smtpcmd_error *err_r)
{
	struct buf b;
	struct param p;
	size_t off;
	unsigned seen = 0;
	int rc;

	memset(mail_r, 0, sizeof(*mail_r));
	if (parse_path(arg, len, ADDR_ALLOW_NULL, &mail_r->path, &off, err_r) <
	    0)
		goto fail;
	buf_init(&b, arg, len);
	buf_seek(&b, off);
	while ((rc = param_next(&b, &p, err_r)) > 0) {
		if (mail_param(&p, flags, max_size, &seen, mail_r, err_r) < 0)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	if ((addr_flags(mail_r->path) & ADDR_F_UTF8) != 0 &&
	    !mail_r->smtputf8) {
		smtpcmd_fail(err_r, 553, "5.6.7", "Address requires SMTPUTF8");
		goto fail;
	}
	return 0;
fail:
	smtpcmd_mail_clear(mail_r);
	return -1;
}

void smtpcmd_mail_clear(struct smtpcmd_mail *mail)
{
	addr_deinit(&mail->path);
	free(mail->envid);
	free(mail->auth);
	memset(mail, 0, sizeof(*mail));
}

static int parse_notify(const struct param *p, unsigned *notify_r,
                        struct smtpcmd_error *err)
{
	static const char *const names[] = {"NEVER", "SUCCESS", "FAILURE",
	                                    "DELAY"};
	struct buf b;
	const unsigned char *w;
	size_t wlen, i;
	unsigned v = 0;

	if (p->val == NULL)
		return E_SYNTAX(err, "Bad NOTIFY value");
	buf_init(&b, p->val, p->val_len);
	do {
		wlen = buf_fetch_until(&b, ",", &w);
		for (i = 0; i < 4; i++) {
			if (str_eq_case((const char *)w, wlen, names[i],
			                strlen(names[i])))
				break;
		}
		if (i == 4 || (v & (1u << i)) != 0)
			return E_SYNTAX(err, "Bad NOTIFY value");
		v |= 1u << i;
	} while (buf_consume_char(&b, ',') || buf_remaining(&b) > 0);
	/* A trailing comma leaves an empty word: caught above (i == 4). */
	if ((v & SMTPCMD_NOTIFY_NEVER) != 0 && v != SMTPCMD_NOTIFY_NEVER)
		return E_SYNTAX(err, "NOTIFY=NEVER must be alone");
	*notify_r = v;
	return 0;
}

static int parse_orcpt(const struct param *p, unsigned flags,
                       struct smtpcmd_rcpt *r, struct smtpcmd_error *err)
{
	struct buf b;
	const unsigned char *t;
	size_t tlen;
	int rc;

	if (p->val == NULL || p->val_len > SMTPCMD_ORCPT_MAX)
		return E_SYNTAX(err, "Bad ORCPT value");
	buf_init(&b, p->val, p->val_len);
	tlen = buf_fetch_until(&b, ";", &t);
	if (!buf_consume_char(&b, ';') || buf_remaining(&b) == 0)
		return E_SYNTAX(err, "Bad ORCPT value");
	if (str_eq_case((const char *)t, tlen, "rfc822", 6)) {
		r->orcpt_type = alloc_strdup("rfc822");
		rc = xtext_decode(buf_peek(&b), buf_remaining(&b), &r->orcpt);
	} else if (str_eq_case((const char *)t, tlen, "utf-8", 5)) {
		r->orcpt_type = alloc_strdup("utf-8");
		rc = utf8addr_decode(buf_peek(&b), buf_remaining(&b),
		                     (flags & SMTPCMD_F_TXN_UTF8) != 0,
		                     &r->orcpt);
	} else {
		return E_SYNTAX(err, "Unsupported ORCPT address type");
	}
	if (rc == -2)
		return smtpcmd_fail(err, 553, "5.6.7",
		                    "ORCPT requires SMTPUTF8");
	if (rc < 0)
		return E_SYNTAX(err, "Bad ORCPT value");
	return 0;
}

int smtpcmd_parse_rcpt(const char *arg, size_t len, unsigned flags,
                       struct smtpcmd_rcpt *rcpt_r, struct smtpcmd_error *err_r)
{
	struct buf b;
	struct param p;
	size_t off;
	unsigned seen = 0;
	int rc;

	memset(rcpt_r, 0, sizeof(*rcpt_r));
	if (parse_path(arg, len, ADDR_ALLOW_POSTMASTER, &rcpt_r->path, &off,
	               err_r) < 0)
		goto fail;
	buf_init(&b, arg, len);
	buf_seek(&b, off);
	while ((rc = param_next(&b, &p, err_r)) > 0) {
		if ((flags & SMTPCMD_F_DSN) != 0 && key_is(&p, "NOTIFY")) {
			if (seen_once(&seen, 1u << 0, err_r) < 0 ||
			    parse_notify(&p, &rcpt_r->notify, err_r) < 0)
				goto fail;
		} else if ((flags & SMTPCMD_F_DSN) != 0 &&
		           key_is(&p, "ORCPT")) {
			if (seen_once(&seen, 1u << 1, err_r) < 0 ||
			    parse_orcpt(&p, flags, rcpt_r, err_r) < 0)
				goto fail;
		} else {
			E_UNSUPPORTED(err_r);
			goto fail;
		}
	}
	if (rc < 0)
		goto fail;
	if ((addr_flags(rcpt_r->path) & ADDR_F_UTF8) != 0 &&
	    (flags & SMTPCMD_F_TXN_UTF8) == 0) {
		smtpcmd_fail(err_r, 553, "5.6.7", "Address requires SMTPUTF8");
		goto fail;
	}
	return 0;
fail:
	smtpcmd_rcpt_clear(rcpt_r);
	return -1;
}

void smtpcmd_rcpt_clear(struct smtpcmd_rcpt *rcpt)
{
	addr_deinit(&rcpt->path);
	free(rcpt->orcpt_type);
	free(rcpt->orcpt);
	memset(rcpt, 0, sizeof(*rcpt));
}

int smtpcmd_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
                       bool *last_r, struct smtpcmd_error *err_r)
{
	struct buf b;
	const unsigned char *w;
	size_t wlen;
	uint64_t size;

	buf_init(&b, arg, len);
	if (!buf_fetch_uint(&b, SMTPCMD_BDAT_MAX, &size))
		return E_SYNTAX(err_r, "Syntax: BDAT size [LAST]");
	*last_r = false;
	if (buf_remaining(&b) > 0 && !buf_consume_char(&b, ' '))
		return E_SYNTAX(err_r, "Syntax: BDAT size [LAST]");
	while (buf_consume_char(&b, ' '))
		;
	wlen = buf_fetch_until(&b, " ", &w);
	if (wlen > 0) {
		if (!str_eq_case((const char *)w, wlen, "LAST", 4))
			return E_SYNTAX(err_r, "Syntax: BDAT size [LAST]");
		*last_r = true;
	}
	while (buf_consume_char(&b, ' '))
		;
	if (buf_remaining(&b) > 0)
		return E_SYNTAX(err_r, "Syntax: BDAT size [LAST]");
	*size_r = size;
	return 0;
}

int smtpcmd_bdat_size(const char *line, size_t len, uint64_t *size_r)
{
	struct buf b;
	uint64_t size;

	if (len < 4 || !str_eq_case(line, 4, "BDAT", 4) ||
	    (len > 4 && line[4] != ' '))
		return 0;
	buf_init(&b, line + 4, len - 4);
	while (buf_consume_char(&b, ' '))
		;
	if (!buf_fetch_uint(&b, SMTPCMD_BDAT_MAX, &size))
		return -1;
	if (buf_remaining(&b) > 0 && !buf_consume_char(&b, ' '))
		return -1;
	*size_r = size;
	return 1;
}
