/*
 * spoolrec - format and parse envelope records; see spoolrec.h.
 *
 * Format builds the whole record in a scratch sbuf first, so the caller's
 * buffer is untouched on error, then appends the end line computed over
 * that scratch copy. Parse first checks the frame (the fixed-length end
 * line and its CRC), so a torn record is reported as such before any field
 * is looked at; then walks the lines with a table of the keys in order.
 * All reads of the input go through struct buf.
 *
 * A record holds twelve lines per recipient (seven in version 1, eleven
 * in versions 2 and 3, read
 * only), and a message to a large group has thousands of recipients,
 * formatted before the 250 and parsed again for every delivery attempt.
 * So both directions work in runs, not bytes: format appends each run of
 * bytes that need no escaping with one append and writes keys and numbers
 * without printf; parse finds each line end with one memchr() over the
 * bytes left in the buf, and decodes a value by copying the runs between
 * escapes.
 */
#include "spoolrec.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"
#include "str.h"

/* "end=" 8HEXDIG LF */
#define END_LINE_LEN 13

static const char *const body_names[] = {"7bit", "8bitmime", "binarymime"};
static const char *const ret_names[] = {"none", "full", "hdrs"};
static const char *const state_names[] = {"pending", "delivered", "bounced",
                                          "deferred"};
#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

enum spoolrec_key {
	K_VERSION,
	K_ID,
	K_ARRIVAL,
	K_CLIENT,
	K_HELO,
	K_AUTH,
	K_FROM,
	K_SIZE,
	K_BODY,
	K_SMTPUTF8,
	K_RET,
	K_ENVID,
	K_HELD,
	K_DELAY_NOTIFIED,
	K_RCPT,
	K_HOP,
	K_NOTIFY,
	K_ORCPT,
	K_STATE,
	K_ATTEMPTS,
	K_ERROR,
	K_CODE,
	K_STATUS,
	K_DIAG,
	K_RHOST,
	K_SENDER,
	K_COUNT
};
#define K_FIRST_RCPT K_RCPT

static const char *const key_names[K_COUNT] = {
    "version", "id",     "arrival", "client",         "helo",
    "auth",    "from",   "size",    "body",           "smtputf8",
    "ret",     "envid",  "held",    "delay_notified", "rcpt",
    "hop",     "notify", "orcpt",   "state",          "attempts",
    "error",   "code",   "status",  "diag",           "rhost",
    "sender",
};

/* zlib's crc32 is this very CRC (reflected 0xEDB88320, pre- and
   post-inverted, so it continues the same way), pure and thread-safe, and
   its braided tables run about 15 times faster than the nibble table that
   was here: it checksums every byte spooled and every byte loaded. */
uint32_t spoolrec_crc32(uint32_t crc, const void *data, size_t len)
{
	return (uint32_t)crc32_z(crc, data, len);
}

struct spoolrec *spoolrec_new(void)
{
	return alloc_new(struct spoolrec);
}

static void rcpt_free(struct spoolrec_rcpt *r)
{
	free(r->addr);
	free(r->hop);
	free(r->orcpt);
	free(r->error);
	free(r->status);
	free(r->diag);
	free(r->rhost);
	free(r->sender);
}

void spoolrec_deinit(struct spoolrec **recp)
{
	struct spoolrec *rec = *recp;

	if (rec == NULL)
		return;
	*recp = NULL;
	free(rec->client);
	free(rec->helo);
	free(rec->auth_user);
	free(rec->mail_from);
	free(rec->envid);
	for (size_t i = 0; i < rec->rcpt_count; i++)
		rcpt_free(&rec->rcpts[i]);
	free(rec->rcpts);
	free(rec);
}

void spoolrec_set(char **field, const char *value)
{
	char *copy = value == NULL ? NULL : alloc_strdup(value);

	free(*field);
	*field = copy;
}

struct spoolrec_rcpt *spoolrec_add_rcpt(struct spoolrec *rec, const char *addr,
                                        const char *hop)
{
	struct spoolrec_rcpt *r;

	if (rec->rcpt_count == rec->rcpt_alloc) {
		rec->rcpt_alloc =
		    rec->rcpt_alloc == 0 ? 4 : rec->rcpt_alloc * 2;
		rec->rcpts = alloc_resize(rec->rcpts, rec->rcpt_alloc,
		                          sizeof(*rec->rcpts));
	}
	r = &rec->rcpts[rec->rcpt_count++];
	memset(r, 0, sizeof(*r));
	spoolrec_set(&r->addr, addr);
	spoolrec_set(&r->hop, hop);
	return r;
}

struct spoolrec *spoolrec_dup(const struct spoolrec *rec)
{
	struct spoolrec *d = spoolrec_new();

	memcpy(d->id, rec->id, sizeof(d->id));
	d->arrival = rec->arrival;
	spoolrec_set(&d->client, rec->client);
	spoolrec_set(&d->helo, rec->helo);
	spoolrec_set(&d->auth_user, rec->auth_user);
	spoolrec_set(&d->mail_from, rec->mail_from);
	d->size = rec->size;
	d->body = rec->body;
	d->smtputf8 = rec->smtputf8;
	d->smtputf8_needed = rec->smtputf8_needed;
	d->ret = rec->ret;
	spoolrec_set(&d->envid, rec->envid);
	d->held = rec->held;
	d->delay_notified = rec->delay_notified;
	for (size_t i = 0; i < rec->rcpt_count; i++) {
		const struct spoolrec_rcpt *s = &rec->rcpts[i];
		struct spoolrec_rcpt *r = spoolrec_add_rcpt(d, s->addr, s->hop);

		r->notify = s->notify;
		spoolrec_set(&r->orcpt, s->orcpt);
		r->state = s->state;
		r->attempts = s->attempts;
		spoolrec_set(&r->error, s->error);
		r->code = s->code;
		spoolrec_set(&r->status, s->status);
		spoolrec_set(&r->diag, s->diag);
		spoolrec_set(&r->rhost, s->rhost);
		spoolrec_set(&r->sender, s->sender);
	}
	return d;
}

const char *spoolrec_rcpt_from(const struct spoolrec *rec,
                               const struct spoolrec_rcpt *r)
{
	const char *own = rec->mail_from != NULL ? rec->mail_from : "";

	/* a bounce stays one: never a sender for a copy of <> */
	if (r->sender == NULL || *r->sender == '\0' || *own == '\0')
		return own;
	return strcmp(r->sender, "<>") == 0 ? "" : r->sender;
}

/* ---- format ---- */

static bool notify_valid(unsigned n)
{
	if (n == SPOOLREC_NOTIFY_NEVER)
		return true;
	return (n & ~(SPOOLREC_NOTIFY_SUCCESS | SPOOLREC_NOTIFY_FAILURE |
	              SPOOLREC_NOTIFY_DELAY)) == 0;
}

static bool byte_is_safe(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '%' && c != '=';
}

static bool put_key(struct sbuf *out, enum spoolrec_key k)
{
	return sbuf_append_str(out, key_names[k]) && sbuf_append(out, "=", 1);
}

static bool put_str(struct sbuf *out, enum spoolrec_key k, const char *v)
{
	const unsigned char *p = (const unsigned char *)(v ? v : "");

	if (!put_key(out, k))
		return false;
	while (*p != '\0') {
		size_t run = 0;

		while (p[run] != '\0' && byte_is_safe(p[run]))
			run++;
		if (run == 0) {
			char esc[3] = {'%',
			               str_hex_digit(*p >> 4, STR_HEX_UPPER),
			               str_hex_digit(*p, STR_HEX_UPPER)};

			if (!sbuf_append(out, esc, 3))
				return false;
			run = 1;
		} else if (!sbuf_append(out, p, run)) {
			return false;
		}
		p += run;
	}
	return sbuf_append(out, "\n", 1);
}

static bool put_num(struct sbuf *out, enum spoolrec_key k, uint64_t v)
{
	char digits[24];
	size_t i = sizeof(digits);

	digits[--i] = '\n';
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return put_key(out, k) &&
	       sbuf_append(out, digits + i, sizeof(digits) - i);
}

static bool put_word(struct sbuf *out, enum spoolrec_key k, const char *w)
{
	return put_key(out, k) && sbuf_append_str(out, w) &&
	       sbuf_append(out, "\n", 1);
}

static bool put_notify(struct sbuf *out, unsigned n)
{
	static const char *const names[] = {"success", "failure", "delay"};
	bool first = true;

	if (!put_key(out, K_NOTIFY))
		return false;
	if (n == SPOOLREC_NOTIFY_NEVER)
		return sbuf_append_str(out, "never\n");
	for (unsigned i = 0; i < 3; i++) {
		if ((n & (1u << i)) == 0)
			continue;
		if ((!first && !sbuf_append(out, ",", 1)) ||
		    !sbuf_append_str(out, names[i]))
			return false;
		first = false;
	}
	return sbuf_append(out, "\n", 1);
}

/* 0 (no reply) or an SMTP reply code. */
static bool code_valid(uint64_t code)
{
	return code == 0 || (code >= 200 && code <= 599);
}

static const char *format_check(const struct spoolrec *rec)
{
	struct spool_id id;

	if (!spool_id_parse(rec->id, strnlen(rec->id, sizeof(rec->id)), &id))
		return "invalid queue id";
	if ((unsigned)rec->body >= N_ELEMENTS(body_names))
		return "invalid body type";
	if ((unsigned)rec->ret >= N_ELEMENTS(ret_names))
		return "invalid DSN ret";
	if (rec->rcpt_count == 0)
		return "no recipient";
	for (size_t i = 0; i < rec->rcpt_count; i++) {
		if (!notify_valid(rec->rcpts[i].notify))
			return "invalid DSN notify";
		if ((unsigned)rec->rcpts[i].state >= N_ELEMENTS(state_names))
			return "invalid recipient state";
		if (!code_valid(rec->rcpts[i].code))
			return "invalid reply code";
	}
	return NULL;
}

static bool format_body(const struct spoolrec *rec, struct sbuf *s)
{
	bool ok = put_num(s, K_VERSION, SPOOLREC_VERSION) &&
	          put_str(s, K_ID, rec->id) &&
	          put_num(s, K_ARRIVAL, rec->arrival) &&
	          put_str(s, K_CLIENT, rec->client) &&
	          put_str(s, K_HELO, rec->helo) &&
	          put_str(s, K_AUTH, rec->auth_user) &&
	          put_str(s, K_FROM, rec->mail_from) &&
	          put_num(s, K_SIZE, rec->size) &&
	          put_word(s, K_BODY, body_names[rec->body]) &&
	          put_num(s, K_SMTPUTF8,
	                  !rec->smtputf8         ? 0
	                  : rec->smtputf8_needed ? 1
	                                         : 2) &&
	          put_word(s, K_RET, ret_names[rec->ret]) &&
	          put_str(s, K_ENVID, rec->envid) &&
	          put_num(s, K_HELD, rec->held ? 1 : 0) &&
	          put_num(s, K_DELAY_NOTIFIED, rec->delay_notified ? 1 : 0);

	for (size_t i = 0; ok && i < rec->rcpt_count; i++) {
		const struct spoolrec_rcpt *r = &rec->rcpts[i];

		ok = put_str(s, K_RCPT, r->addr) && put_str(s, K_HOP, r->hop) &&
		     put_notify(s, r->notify) &&
		     put_str(s, K_ORCPT, r->orcpt) &&
		     put_word(s, K_STATE, state_names[r->state]) &&
		     put_num(s, K_ATTEMPTS, r->attempts) &&
		     put_str(s, K_ERROR, r->error) &&
		     put_num(s, K_CODE, r->code) &&
		     put_str(s, K_STATUS, r->status) &&
		     put_str(s, K_DIAG, r->diag) &&
		     put_str(s, K_RHOST, r->rhost) &&
		     put_str(s, K_SENDER, r->sender);
	}
	return ok;
}

int spoolrec_format(const struct spoolrec *rec, struct sbuf *out,
                    const char **error_r)
{
	struct sbuf *s;
	int ret = -1;

	if ((*error_r = format_check(rec)) != NULL)
		return -1;
	s = sbuf_new(SPOOLREC_MAX_LEN);
	if (!format_body(rec, s) ||
	    sbuf_len(s) > SPOOLREC_MAX_LEN - END_LINE_LEN ||
	    !sbuf_printf(
	        s, "end=%08lx\n",
	        (unsigned long)spoolrec_crc32(0, sbuf_data(s), sbuf_len(s))) ||
	    !sbuf_append(out, sbuf_data(s), sbuf_len(s))) {
		*error_r = "record too large";
		goto done;
	}
	ret = 0;
done:
	sbuf_deinit(&s);
	return ret;
}

/* ---- parse ---- */

/* %XX escapes are uppercase, the CRC lowercase: one spelling each. */
static int hex_value(uint8_t c)
{
	return str_hex_value(c, STR_HEX_UPPER);
}

static int lower_hex_value(uint8_t c)
{
	return str_hex_value(c, STR_HEX_LOWER);
}

/* Read the line of key want; *value_r is the bytes after '='. */
static const char *get_line(struct buf *b, enum spoolrec_key want,
                            struct buf *value_r)
{
	const unsigned char *p = buf_peek(b), *lf, *eq;
	size_t n, klen;
	struct buf line;

	if (buf_remaining(b) == 0)
		return want == K_RCPT ? "no recipient" : "missing field";
	lf = memchr(p, '\n', buf_remaining(b));
	if (lf == NULL)
		return "line without LF";
	n = (size_t)(lf - p);
	buf_init(&line, p, n);
	buf_skip(b, n + 1);
	eq = memchr(p, '=', n);
	if (eq == NULL)
		return "line without '='";
	klen = (size_t)(eq - p);
	buf_skip(&line, klen + 1);
	if (klen != strlen(key_names[want]) ||
	    memcmp(p, key_names[want], klen) != 0) {
		for (unsigned i = 0; i < K_COUNT; i++) {
			if (klen == strlen(key_names[i]) &&
			    memcmp(p, key_names[i], klen) == 0)
				return "field out of order";
		}
		return "unknown field";
	}
	buf_init(value_r, buf_peek(&line), buf_remaining(&line));
	return NULL;
}

/* Decode one escaped value (the authd protocol's rules) into s. */
static const char *decode_value(const unsigned char *v, size_t len, char *s)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t run = 0;
		int h, l;

		while (i + run < len && byte_is_safe(v[i + run]))
			run++;
		memcpy(s + o, v + i, run);
		o += run;
		i += run;
		if (i == len)
			break;
		if (v[i] != '%')
			return "unescaped byte in a value";
		if (len - i < 3 || (h = hex_value(v[i + 1])) < 0 ||
		    (l = hex_value(v[i + 2])) < 0)
			return "bad percent escape";
		if (h == 0 && l == 0)
			return "%00 in a value";
		if (byte_is_safe((unsigned char)(h << 4 | l)))
			return "needless percent escape";
		s[o++] = (char)(h << 4 | l);
		i += 3;
	}
	s[o] = '\0';
	return NULL;
}

static const char *get_str(struct buf *b, enum spoolrec_key k, char **out_r)
{
	struct buf v;
	const char *error = get_line(b, k, &v);
	char *s;

	if (error != NULL)
		return error;
	s = alloc_array(buf_remaining(&v) + 1, 1);
	error = decode_value(buf_peek(&v), buf_remaining(&v), s);
	if (error != NULL)
		free(s);
	else
		*out_r = s;
	return error;
}

static const char *get_num(struct buf *b, enum spoolrec_key k, uint64_t max,
                           uint64_t *v_r)
{
	struct buf v;
	const char *error = get_line(b, k, &v);
	uint8_t c;

	if (error != NULL)
		return error;
	if (buf_peek_u8(&v, &c) && c == '0' && buf_remaining(&v) > 1)
		return "number with a leading zero";
	if (!buf_fetch_uint(&v, max, v_r) || buf_remaining(&v) != 0)
		return "bad number";
	return NULL;
}

static bool buf_equals(const struct buf *v, const char *s)
{
	size_t n = strlen(s);

	return buf_remaining(v) == n && memcmp(buf_peek(v), s, n) == 0;
}

static const char *get_word(struct buf *b, enum spoolrec_key k,
                            const char *const *names, size_t count,
                            unsigned *v_r)
{
	struct buf v;
	const char *error = get_line(b, k, &v);

	if (error != NULL)
		return error;
	for (size_t i = 0; i < count; i++) {
		if (buf_equals(&v, names[i])) {
			*v_r = (unsigned)i;
			return NULL;
		}
	}
	return "bad keyword";
}

static const char *get_notify(struct buf *b, unsigned *v_r)
{
	static const char *const names[] = {"success", "failure", "delay"};
	struct buf v;
	const char *error = get_line(b, K_NOTIFY, &v);
	unsigned n = 0, i = 0;

	if (error != NULL)
		return error;
	if (buf_equals(&v, "never")) {
		*v_r = SPOOLREC_NOTIFY_NEVER;
		return NULL;
	}
	while (buf_remaining(&v) > 0) {
		const unsigned char *p;
		size_t len = buf_fetch_until(&v, ",", &p);
		struct buf word;

		buf_init(&word, p, len);
		/* Canonical order: each name only after the ones before it. */
		while (i < 3 && !buf_equals(&word, names[i]))
			i++;
		if (i == 3)
			return "bad DSN notify";
		n |= 1u << i++;
		if (buf_consume_char(&v, ',') && buf_remaining(&v) == 0)
			return "bad DSN notify";
	}
	*v_r = n;
	return NULL;
}

static const char *parse_rcpt(struct buf *b, struct spoolrec *rec,
                              uint64_t version)
{
	struct spoolrec_rcpt *r = spoolrec_add_rcpt(rec, NULL, NULL);
	const char *error;
	uint64_t n;
	unsigned w;

	if ((error = get_str(b, K_RCPT, &r->addr)) != NULL ||
	    (error = get_str(b, K_HOP, &r->hop)) != NULL ||
	    (error = get_notify(b, &r->notify)) != NULL ||
	    (error = get_str(b, K_ORCPT, &r->orcpt)) != NULL ||
	    (error = get_word(b, K_STATE, state_names, N_ELEMENTS(state_names),
	                      &w)) != NULL)
		return error;
	r->state = (enum spoolrec_state)w;
	if ((error = get_num(b, K_ATTEMPTS, UINT32_MAX, &n)) != NULL ||
	    (error = get_str(b, K_ERROR, &r->error)) != NULL)
		return error;
	r->attempts = (uint32_t)n;
	if (version < 2) {
		/* no result fields yet: the error text stays words only */
		r->status = alloc_strdup("");
		r->diag = alloc_strdup("");
		r->rhost = alloc_strdup("");
		return NULL;
	}
	if ((error = get_num(b, K_CODE, 599, &n)) != NULL)
		return error;
	if (!code_valid(n))
		return "bad reply code";
	r->code = (unsigned)n;
	if ((error = get_str(b, K_STATUS, &r->status)) != NULL ||
	    (error = get_str(b, K_DIAG, &r->diag)) != NULL ||
	    (error = get_str(b, K_RHOST, &r->rhost)) != NULL)
		return error;
	if (version >= 4)
		return get_str(b, K_SENDER, &r->sender);
	r->sender = alloc_strdup("");
	return NULL;
}

static const char *parse_body(struct buf *b, struct spoolrec *rec)
{
	const char *error;
	char *id = NULL;
	struct spool_id sid;
	uint64_t n, version;
	unsigned w;

	if ((error = get_num(b, K_VERSION, UINT32_MAX, &version)) != NULL)
		return error;
	if (version < 1 || version > SPOOLREC_VERSION)
		return "unsupported record version";
	if ((error = get_str(b, K_ID, &id)) != NULL)
		return error;
	if (!spool_id_parse(id, strlen(id), &sid)) {
		free(id);
		return "invalid queue id";
	}
	memcpy(rec->id, id, sizeof(rec->id));
	free(id);
	if ((error = get_num(b, K_ARRIVAL, INT64_MAX, &rec->arrival)) != NULL ||
	    (error = get_str(b, K_CLIENT, &rec->client)) != NULL ||
	    (error = get_str(b, K_HELO, &rec->helo)) != NULL ||
	    (error = get_str(b, K_AUTH, &rec->auth_user)) != NULL ||
	    (error = get_str(b, K_FROM, &rec->mail_from)) != NULL ||
	    (error = get_num(b, K_SIZE, INT64_MAX, &rec->size)) != NULL ||
	    (error = get_word(b, K_BODY, body_names, N_ELEMENTS(body_names),
	                      &w)) != NULL)
		return error;
	rec->body = (enum spoolrec_body)w;
	if ((error = get_num(b, K_SMTPUTF8, 2, &n)) != NULL)
		return error;
	rec->smtputf8 = n != 0;
	rec->smtputf8_needed = n == 1;
	if ((error = get_word(b, K_RET, ret_names, N_ELEMENTS(ret_names),
	                      &w)) != NULL)
		return error;
	rec->ret = (enum spoolrec_ret)w;
	if ((error = get_str(b, K_ENVID, &rec->envid)) != NULL)
		return error;
	if (version >= 3) {
		if ((error = get_num(b, K_HELD, 1, &n)) != NULL)
			return error;
		rec->held = n != 0;
		if ((error = get_num(b, K_DELAY_NOTIFIED, 1, &n)) != NULL)
			return error;
		rec->delay_notified = n != 0;
	}
	do {
		if ((error = parse_rcpt(b, rec, version)) != NULL)
			return error;
	} while (buf_remaining(b) > 0);
	return NULL;
}

int spoolrec_parse(const void *data, size_t len, struct spoolrec **rec_r,
                   const char **error_r)
{
	struct buf b;
	unsigned char tag[4];
	uint32_t crc = 0;
	uint8_t c;
	struct spoolrec *rec;

	*rec_r = NULL;
	if (len > SPOOLREC_MAX_LEN) {
		*error_r = "record too large";
		return -1;
	}
	/* The frame: the record ends with "end=" 8 lowercase hex LF. */
	buf_init(&b, data, len);
	if (len < END_LINE_LEN || !buf_seek(&b, len - END_LINE_LEN) ||
	    !buf_fetch_bytes(&b, tag, 4) || memcmp(tag, "end=", 4) != 0) {
		*error_r = "record truncated: no end line";
		return -1;
	}
	for (int i = 0; i < 8; i++) {
		if (!buf_fetch_u8(&b, &c) || lower_hex_value(c) < 0) {
			*error_r = "bad end line";
			return -1;
		}
		crc = crc << 4 | (uint32_t)lower_hex_value(c);
	}
	if (!buf_consume_char(&b, '\n')) {
		*error_r = "bad end line";
		return -1;
	}
	if (crc != spoolrec_crc32(0, data, len - END_LINE_LEN)) {
		*error_r = "record checksum mismatch";
		return -1;
	}

	buf_init(&b, data, len - END_LINE_LEN);
	rec = spoolrec_new();
	if ((*error_r = parse_body(&b, rec)) != NULL) {
		spoolrec_deinit(&rec);
		return -1;
	}
	*rec_r = rec;
	return 0;
}
