/*
 * smtpcmd_auth - the AUTH command, strict base64 and RFC 4616 PLAIN.
 *
 * SYNOPSIS
 *	smtpcmd_parse_auth(arg, len, &auth, &err)
 *	smtpcmd_decode_base64(in, len, &out, &out_len, &err)
 *	smtpcmd_decode_plain(b64, len, &plain, &err)
 *
 * DESCRIPTION
 *	Part of smtpcmd (see smtpcmd.h). Base64 is decoded strictly: one
 *	spelling per byte string, so nothing can hide in padding bits or
 *	whitespace. Every buffer that held a decoded secret is wiped with
 *	explicit_bzero() before free(), on the error paths too.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "smtpcmd.h"
#include "smtpcmd_private.h"
#include "str.h"

#define PLAIN_ID_MAX 255
#define PLAIN_PASS_MAX 1024

void smtpcmd_wipe(void *p, size_t len)
{
	if (p != NULL)
		explicit_bzero(p, len);
}

void smtpcmd_secret_free(void *p, size_t len)
{
	smtpcmd_wipe(p, len);
	free(p);
}

static bool is_b64char(uint8_t c)
{
	return str_is_alpha_ascii(c) || str_is_digit_ascii(c) || c == '+' ||
	       c == '/';
}

static int b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int smtpcmd_parse_auth(const char *arg, size_t len, struct smtpcmd_auth *auth_r,
                       struct smtpcmd_error *err_r)
{
	struct buf b, mb;
	const unsigned char *w;
	uint8_t c;

	memset(auth_r, 0, sizeof(*auth_r));
	buf_init(&b, arg, len);
	auth_r->mech_len = buf_fetch_until(&b, " ", &w);
	auth_r->mech_name = (const char *)w;
	/* RFC 4422 3.1: 1*20 of upper-case ALPHA, DIGIT, "-", "_". */
	if (auth_r->mech_len == 0 || auth_r->mech_len > 20)
		goto bad_mech;
	buf_init(&mb, w, auth_r->mech_len);
	while (buf_fetch_u8(&mb, &c)) {
		if (!str_is_alpha_ascii(c) && !str_is_digit_ascii(c) &&
		    c != '-' && c != '_')
			goto bad_mech;
	}
	if (str_eq_case(auth_r->mech_name, auth_r->mech_len, "PLAIN", 5))
		auth_r->mech = SMTPCMD_AUTH_PLAIN;
	else if (str_eq_case(auth_r->mech_name, auth_r->mech_len, "LOGIN", 5))
		auth_r->mech = SMTPCMD_AUTH_LOGIN;
	else
		auth_r->mech = SMTPCMD_AUTH_OTHER;
	while (buf_consume_char(&b, ' '))
		;
	if (buf_remaining(&b) == 0)
		return 0;
	auth_r->has_ir = true;
	if (buf_remaining(&b) == 1 && buf_consume_char(&b, '='))
		return 0; /* "=": an empty initial response */
	auth_r->ir = (const char *)buf_peek(&b);
	auth_r->ir_len = buf_remaining(&b);
	while (buf_fetch_u8(&b, &c)) {
		if (!is_b64char(c) && c != '=') {
			memset(auth_r, 0, sizeof(*auth_r));
			return smtpcmd_fail(err_r, 501, "5.5.2",
			                    "Invalid base64 data");
		}
	}
	return 0;
bad_mech:
	memset(auth_r, 0, sizeof(*auth_r));
	return smtpcmd_fail(err_r, 501, "5.5.4", "Invalid mechanism name");
}

int smtpcmd_decode_base64(const char *in, size_t len, unsigned char **out_r,
                          size_t *out_len_r, struct smtpcmd_error *err_r)
{
	struct buf b;
	unsigned char *out;
	size_t n = 0, cap;
	uint8_t q[4];
	int v[4], pad, i;
	uint32_t w;

	*out_r = NULL;
	*out_len_r = 0;
	if (str_eq_case(in, len, "*", 1)) {
		smtpcmd_fail(err_r, 501, "5.7.0", "Authentication cancelled");
		return 1;
	}
	if (len % 4 != 0)
		return smtpcmd_fail(err_r, 501, "5.5.2", "Invalid base64 data");
	cap = len / 4 * 3 + 1;
	out = alloc_zero(cap);
	buf_init(&b, in, len);
	while (buf_fetch_bytes(&b, q, 4)) {
		bool final = buf_remaining(&b) == 0;

		pad = 0;
		for (i = 0; i < 4; i++) {
			if (q[i] == '=') {
				/* "x===" never; padding only at the end. */
				if (!final || i < 2)
					goto bad;
				pad++;
				v[i] = 0;
			} else if (pad > 0 || (v[i] = b64val(q[i])) < 0) {
				goto bad;
			}
		}
		/* The bits padding leaves over must be zero (RFC 4648 3.5). */
		if ((pad == 2 && (v[1] & 0x0f) != 0) ||
		    (pad == 1 && (v[2] & 0x03) != 0))
			goto bad;
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[n++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)w;
	}
	*out_r = out;
	*out_len_r = n;
	return 0;
bad:
	smtpcmd_secret_free(out, cap);
	return smtpcmd_fail(err_r, 501, "5.5.2", "Invalid base64 data");
}

/* One NUL-terminated field of a PLAIN message; false when malformed. */
static bool plain_field(struct buf *b, bool last, size_t max, char **out_r)
{
	const unsigned char *p;
	size_t n;
	uint8_t c = 1;

	buf_tag(b);
	while (buf_fetch_u8(b, &c) && c != '\0')
		;
	n = buf_tag_len(b);
	p = buf_tag_data(b);
	if (!last) {
		if (c != '\0')
			return false; /* a separator is missing */
		n--;
	}
	if (n > max || !str_utf8_valid(p, n))
		return false;
	*out_r = alloc_zero(n + 1);
	memcpy(*out_r, p, n);
	return true;
}

int smtpcmd_decode_plain(const char *b64, size_t len,
                         struct smtpcmd_plain *plain_r,
                         struct smtpcmd_error *err_r)
{
	unsigned char *msg;
	size_t msg_len;
	struct buf b;
	int rc;

	memset(plain_r, 0, sizeof(*plain_r));
	rc = smtpcmd_decode_base64(b64, len, &msg, &msg_len, err_r);
	if (rc != 0)
		return rc;
	buf_init(&b, msg, msg_len);
	/*
	 * authzid NUL authcid NUL passwd: the last field runs to the end,
	 * so a third NUL lands inside the password and is refused there.
	 */
	if (!plain_field(&b, false, PLAIN_ID_MAX, &plain_r->authzid) ||
	    !plain_field(&b, false, PLAIN_ID_MAX, &plain_r->authcid) ||
	    !plain_field(&b, true, PLAIN_PASS_MAX, &plain_r->password) ||
	    plain_r->authcid[0] == '\0' || plain_r->password[0] == '\0' ||
	    strlen(plain_r->password) != buf_tag_len(&b)) {
		rc = smtpcmd_fail(err_r, 501, "5.5.2", "Invalid PLAIN message");
		smtpcmd_plain_clear(plain_r);
	}
	smtpcmd_secret_free(msg, msg_len);
	return rc;
}

static void secret_str_free(char **s)
{
	if (*s != NULL)
		smtpcmd_secret_free(*s, strlen(*s));
	*s = NULL;
}

void smtpcmd_plain_clear(struct smtpcmd_plain *plain)
{
	secret_str_free(&plain->authzid);
	secret_str_free(&plain->authcid);
	secret_str_free(&plain->password);
}
