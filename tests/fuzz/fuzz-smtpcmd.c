/*
 * fuzz-smtpcmd - smtpcmd_parse() and the MAIL / RCPT / BDAT / AUTH / base64
 * / PLAIN parsers on arbitrary bytes.
 *
 * The first byte selects the SMTPCMD_F_* flags (and a SIZE limit), the
 * rest is a command line. The line goes through smtpcmd_parse() and then
 * the parser of its verb; the raw bytes also go to every argument parser.
 * Errors must carry a 4xx/5xx code and printable static texts; results
 * must be consistent (arg inside the line, strict base64 re-encodes to the
 * very same text); any difference abort()s. ASan sees leaks of the owned
 * strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpcmd.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const struct smtpcmd_error *err)
{
	if (err->code < 400 || err->code > 599 || err->enhanced == NULL ||
	    err->text == NULL ||
	    !str_is_printable_ascii(err->text, strlen(err->text)) ||
	    !str_is_printable_ascii(err->enhanced, strlen(err->enhanced)))
		abort();
}

static void check_text(const char *s, bool ascii)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	if (n == 0 || (ascii && !str_is_printable_ascii(s, n)) ||
	    !str_utf8_valid(s, n))
		abort();
}

static void mail(const char *arg, size_t len, unsigned flags)
{
	struct smtpcmd_mail m;
	struct smtpcmd_error err;

	if (smtpcmd_parse_mail(arg, len, flags, 1000, &m, &err) < 0) {
		check_error(&err);
		if (m.path != NULL || m.envid != NULL || m.auth != NULL)
			abort();
		return;
	}
	if (m.path == NULL || (m.has_size && m.size > 1000) ||
	    (m.envid != NULL && strlen(m.envid) > SMTPCMD_ENVID_MAX) ||
	    ((addr_flags(m.path) & ADDR_F_UTF8) != 0 && !m.smtputf8))
		abort();
	check_text(m.envid, true);
	check_text(m.auth, true);
	smtpcmd_mail_clear(&m);
}

static void rcpt(const char *arg, size_t len, unsigned flags)
{
	struct smtpcmd_rcpt r;
	struct smtpcmd_error err;

	if (smtpcmd_parse_rcpt(arg, len, flags, &r, &err) < 0) {
		check_error(&err);
		if (r.path != NULL || r.orcpt != NULL)
			abort();
		return;
	}
	if (r.path == NULL || addr_is_null(r.path) ||
	    ((r.notify & SMTPCMD_NOTIFY_NEVER) != 0 &&
	     r.notify != SMTPCMD_NOTIFY_NEVER) ||
	    (r.orcpt == NULL) != (r.orcpt_type == NULL))
		abort();
	check_text(r.orcpt,
	           r.orcpt_type != NULL && strcmp(r.orcpt_type, "rfc822") == 0);
	smtpcmd_rcpt_clear(&r);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Strict base64 has one spelling: decoding then encoding gives it back. */
static void base64(const char *s, size_t len)
{
	struct smtpcmd_error err;
	unsigned char *out;
	size_t n, k = 0;
	char *enc;
	int rc = smtpcmd_decode_base64(s, len, &out, &n, &err);

	if (rc != 0) {
		check_error(&err);
		if (out != NULL || (rc == 1) != (len == 1 && s[0] == '*'))
			abort();
		return;
	}
	enc = malloc((n + 2) / 3 * 4 + 1);
	if (enc == NULL)
		abort();
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)out[i] << 16;

		if (i + 1 < n)
			w |= (uint32_t)out[i + 1] << 8;
		if (i + 2 < n)
			w |= out[i + 2];
		enc[k++] = b64[w >> 18];
		enc[k++] = b64[(w >> 12) & 63];
		enc[k++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
		enc[k++] = i + 2 < n ? b64[w & 63] : '=';
	}
	if (k != len || memcmp(enc, s, len) != 0)
		abort();
	free(enc);
	smtpcmd_secret_free(out, n);
}

static void plain(const char *s, size_t len)
{
	struct smtpcmd_plain p;
	struct smtpcmd_error err;

	if (smtpcmd_decode_plain(s, len, &p, &err) != 0) {
		check_error(&err);
		if (p.authzid != NULL || p.authcid != NULL ||
		    p.password != NULL)
			abort();
		return;
	}
	if (p.authcid[0] == '\0' || p.password[0] == '\0')
		abort();
	smtpcmd_plain_clear(&p);
}

static void auth(const char *arg, size_t len)
{
	struct smtpcmd_auth a;
	struct smtpcmd_error err;

	if (smtpcmd_parse_auth(arg, len, &a, &err) < 0) {
		check_error(&err);
		return;
	}
	if (a.mech_len == 0 || a.mech_len > 20 || (a.ir_len > 0 && !a.has_ir))
		abort();
	if (a.ir_len > 0) {
		base64(a.ir, a.ir_len);
		plain(a.ir, a.ir_len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;
	struct smtpcmd cmd;
	struct smtpcmd_error err;
	uint64_t chunk;
	bool last;
	unsigned flags;

	if (size < 1)
		return 0;
	flags = data[0] & 0x7f;
	size--;

	if (smtpcmd_parse(s, size, &cmd, &err) < 0) {
		check_error(&err);
	} else {
		if (cmd.verb == SMTPCMD_UNKNOWN || cmd.arg_len > size ||
		    (cmd.arg_len > 0 &&
		     (cmd.arg < s || cmd.arg + cmd.arg_len > s + size)))
			abort();
		if (cmd.verb == SMTPCMD_MAIL)
			mail(cmd.arg, cmd.arg_len, flags);
		else if (cmd.verb == SMTPCMD_RCPT)
			rcpt(cmd.arg, cmd.arg_len, flags);
		else if (cmd.verb == SMTPCMD_AUTH)
			auth(cmd.arg, cmd.arg_len);
	}

	/* The raw bytes through every argument parser. */
	mail(s, size, flags);
	rcpt(s, size, flags);
	auth(s, size);
	base64(s, size);
	plain(s, size);
	/* Every line the strict parser takes as BDAT has a readable size,
	 * and the same one: the chunk is found whatever the reply. */
	if (size > 5 && smtpcmd_bdat_size(s, size, &chunk) < 0 &&
	    smtpcmd_parse_bdat(s + 5, size - 5, &chunk, &last, &err) == 0 &&
	    str_eq_case(s, 5, "BDAT ", 5))
		abort();
	if (smtpcmd_parse_bdat(s, size, &chunk, &last, &err) == 0) {
		if (chunk > SMTPCMD_BDAT_MAX)
			abort();
	} else {
		check_error(&err);
	}
	return 0;
}
