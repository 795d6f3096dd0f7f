/*
 * authproto - encode and decode authd protocol lines; see authproto.h and
 * the wire specification in include/authproto.txt.
 *
 * A message keeps its decoded values in one arena and its fields as
 * (schema entry, offset, length), so keys cost nothing (they point into the
 * schema table) and a hostile 8 MiB line of tiny repeated fields cannot
 * make the decoder allocate much more than the line itself. The parser and
 * the builder check values with the same function and whole messages with
 * the same schema walk, so what one side formats the other side parses.
 *
 * The arena of a message whose schema has a secret field (AUTH's pass=) is
 * wiped through authproto_wipe_hook before it is freed, and before it is
 * abandoned when it grows.
 */
#include "authproto.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authproto_private.h"
#include "buf.h"
#include "sbuf.h"
#include "str.h"

#define NO_RECORD ((size_t)-1)

static void wipe_default(void *p, size_t len)
{
	explicit_bzero(p, len);
}

void (*authproto_wipe_hook)(void *p, size_t len) = wipe_default;

const char *authproto_verb_name(enum authproto_verb verb)
{
	return authproto_table_verb_name(verb);
}

bool authproto_verb_is_request(enum authproto_verb verb)
{
	return verb >= AUTHPROTO_HELLO && verb <= AUTHPROTO_SASL;
}

bool authproto_verb_is_answer(enum authproto_verb verb)
{
	return verb >= AUTHPROTO_OK && verb <= AUTHPROTO_CONTINUE;
}

unsigned authproto_verb_since(enum authproto_verb verb)
{
	return verb == AUTHPROTO_SASL || verb == AUTHPROTO_CONTINUE ? 2 : 1;
}

bool authproto_answer_allowed(enum authproto_verb request,
                              enum authproto_verb answer)
{
	return authproto_verb_is_answer(answer) &&
	       authproto_table_schema(answer, request) != NULL;
}

/* Values */

static bool enum_has(const char *const *e, const char *v, size_t len)
{
	for (; *e != NULL; e++) {
		if (strlen(*e) == len && memcmp(*e, v, len) == 0)
			return true;
	}
	return false;
}

bool authproto_uint_parse(const char *v, size_t len, uint64_t max,
                          uint64_t *v_r)
{
	struct buf b;

	buf_init(&b, v, len);
	if (len == 0 || len > AUTHPROTO_ID_DIGITS_MAX ||
	    (len > 1 && v[0] == '0'))
		return false;
	return buf_fetch_uint(&b, max, v_r) && buf_remaining(&b) == 0;
}

/* UTF-8 without C0, DEL or C1 controls (and without space for a token). */
static bool name_ok(const char *v, size_t len, bool space)
{
	struct buf b;
	uint32_t cp;

	buf_init(&b, v, len);
	while (buf_remaining(&b) > 0) {
		if (!str_utf8_next(&b, &cp))
			return false;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return false;
		if (cp == ' ' && !space)
			return false;
	}
	return true;
}

/* Only the one spelling inet_ntop() gives, so equal addresses compare
   equal as strings. */
static bool ip_ok(const char *v, size_t len)
{
	unsigned char bin[16];
	char s[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN];
	int af = memchr(v, ':', len) != NULL ? AF_INET6 : AF_INET;

	if (len == 0 || len >= sizeof(s))
		return false;
	memcpy(s, v, len);
	s[len] = '\0';
	if (inet_pton(af, s, bin) != 1 ||
	    inet_ntop(af, bin, back, sizeof(back)) == NULL)
		return false;
	return strcmp(s, back) == 0;
}

const char *authproto_value_check(const struct authproto_fieldspec *spec,
                                  const char *v, size_t len)
{
	uint64_t n;

	if (memchr(v, '\0', len) != NULL)
		return "NUL in value";
	if (spec->type <= AP_TOKEN && len > spec->max)
		return "value too long";
	switch (spec->type) {
	case AP_TEXT:
		return NULL;
	case AP_SECRET:
		return len == 0 ? "empty value" : NULL;
	case AP_NAME:
	case AP_TOKEN:
		if (len == 0)
			return "empty value";
		return name_ok(v, len, spec->type == AP_NAME)
		           ? NULL
		           : "control character, space or bad UTF-8 in value";
	case AP_UINT:
		return authproto_uint_parse(v, len, spec->max, &n)
		           ? NULL
		           : "bad number";
	case AP_BOOL:
		return len == 1 && (v[0] == '0' || v[0] == '1') ? NULL
		                                                : "bad boolean";
	case AP_ENUM:
		return enum_has(spec->enums, v, len) ? NULL
		                                     : "value not allowed";
	case AP_IP:
		return ip_ok(v, len) ? NULL : "bad IP address";
	}
	return "bad value";
}

/* Messages */

struct authproto_msg *authproto_msg_alloc(enum authproto_verb verb,
                                          enum authproto_verb request,
                                          uint64_t id,
                                          const struct authproto_schema *schema,
                                          size_t arena)
{
	struct authproto_msg *m = alloc_new(struct authproto_msg);

	m->verb = verb;
	m->request = request;
	m->id = id;
	m->schema = schema;
	m->size = arena > 0 ? arena : 64;
	m->arena = alloc_zero(m->size);
	for (size_t i = 0; i < schema->count; i++) {
		if (schema->fields[i].type == AP_SECRET)
			m->has_secret = true;
	}
	return m;
}

bool authproto_id_allowed(enum authproto_verb request, uint64_t id)
{
	if (request == AUTHPROTO_HELLO || request == AUTHPROTO_NONE)
		return id == 0;
	return id != 0;
}

struct authproto_msg *authproto_msg_new_request(enum authproto_verb verb,
                                                uint64_t id)
{
	const struct authproto_schema *s = authproto_table_schema(verb, verb);

	if (!authproto_verb_is_request(verb) || s == NULL ||
	    !authproto_id_allowed(verb, id))
		abort();
	return authproto_msg_alloc(verb, verb, id, s, 0);
}

struct authproto_msg *authproto_msg_new_answer(enum authproto_verb verb,
                                               enum authproto_verb request,
                                               uint64_t id)
{
	const struct authproto_schema *s =
	    authproto_table_schema(verb, request);

	if (!authproto_verb_is_answer(verb) || s == NULL ||
	    !authproto_id_allowed(request, id))
		abort();
	return authproto_msg_alloc(verb, request, id, s, 0);
}

void authproto_msg_deinit(struct authproto_msg **msgp)
{
	struct authproto_msg *m = *msgp;

	if (m == NULL)
		return;
	/* The whole arena: a parse that failed half-way through decoding a
	   password left its bytes there without a field to find them by. */
	if (m->has_secret)
		authproto_wipe_hook(m->arena, m->size);
	free(m->arena);
	free(m->fields);
	free(m);
	*msgp = NULL;
}

const struct authproto_fieldspec *
authproto_spec_find(const struct authproto_schema *s, const char *key,
                    size_t len, size_t *idx_r)
{
	for (size_t i = 0; i < s->count; i++) {
		if (strlen(s->fields[i].key) == len &&
		    memcmp(s->fields[i].key, key, len) == 0) {
			*idx_r = i;
			return &s->fields[i];
		}
	}
	return NULL;
}

/* Room for len more bytes; a grown arena never leaves a secret behind. */
static void arena_reserve(struct authproto_msg *m, size_t len)
{
	size_t need, size;
	char *p;

	if (!alloc_add_ok(m->used, len, &need))
		abort();
	if (need <= m->size)
		return;
	size = m->size;
	while (size < need)
		if (!alloc_mul_ok(size, 2, &size))
			abort();
	p = alloc_zero(size);
	memcpy(p, m->arena, m->used);
	if (m->has_secret)
		authproto_wipe_hook(m->arena, m->used);
	free(m->arena);
	m->arena = p;
	m->size = size;
}

void authproto_field_push(struct authproto_msg *m, size_t spec, size_t off,
                          size_t len)
{
	if (m->count == m->cap) {
		m->cap = m->cap == 0 ? 8 : m->cap * 2;
		m->fields = alloc_resize(m->fields, m->cap, sizeof(*m->fields));
	}
	m->fields[m->count++] = (struct authproto_rawfield){spec, off, len};
}

bool authproto_msg_add(struct authproto_msg *m, const char *key,
                       const void *value, size_t len)
{
	const struct authproto_fieldspec *spec;
	const char *err;
	size_t idx, need;

	spec = authproto_spec_find(m->schema, key, strlen(key), &idx);
	if (spec == NULL)
		err = "unknown key";
	else
		err = authproto_value_check(spec, value, len);
	if (err != NULL) {
		if (m->error == NULL)
			m->error = err;
		return false;
	}
	if (!alloc_add_ok(len, 1, &need))
		abort();
	arena_reserve(m, need);
	memcpy(m->arena + m->used, value, len);
	m->arena[m->used + len] = '\0';
	authproto_field_push(m, idx, m->used, len);
	m->used += need;
	return true;
}

bool authproto_msg_add_str(struct authproto_msg *m, const char *key,
                           const char *value)
{
	return authproto_msg_add(m, key, value, strlen(value));
}

bool authproto_msg_add_uint(struct authproto_msg *m, const char *key,
                            uint64_t value)
{
	char s[AUTHPROTO_ID_DIGITS_MAX + 1];
	size_t i = sizeof(s);

	do {
		s[--i] = (char)('0' + value % 10);
		value /= 10;
	} while (value > 0);
	return authproto_msg_add(m, key, s + i, sizeof(s) - i);
}

/* Index just past the members of the record whose head is spec h. */
static size_t record_end(const struct authproto_schema *s, size_t h)
{
	size_t e = h + 1;

	while (e < s->count && (s->fields[e].flags & AP_MEMBER) != 0)
		e++;
	return e;
}

static bool required_between(const struct authproto_schema *s, size_t a,
                             size_t b)
{
	for (size_t i = a; i < b; i++) {
		if ((s->fields[i].flags & AP_REQ) != 0)
			return true;
	}
	return false;
}

/*
 * The schema walk shared by parser and formatter: known keys only, no
 * repeated non-repeatable key, every record's members right after their
 * head in schema order with none required missing, every required key
 * present.
 */
const char *authproto_msg_check(const struct authproto_msg *m)
{
	const struct authproto_schema *s = m->schema;
	bool seen[AUTHPROTO_SCHEMA_MAX] = {false};
	size_t head = NO_RECORD, last = 0;

	for (size_t i = 0; i < m->count; i++) {
		size_t k = m->fields[i].spec;
		unsigned fl = s->fields[k].flags;

		if ((fl & AP_MEMBER) != 0) {
			if (head == NO_RECORD || k <= last ||
			    k >= record_end(s, head))
				return "record field out of place";
			if (required_between(s, last + 1, k))
				return "record field missing";
			last = k;
			continue;
		}
		if (head != NO_RECORD &&
		    required_between(s, last + 1, record_end(s, head)))
			return "record field missing";
		head = NO_RECORD;
		if (seen[k] && (fl & AP_REP) == 0)
			return "duplicate key";
		seen[k] = true;
		if ((fl & AP_HEAD) != 0)
			head = last = k;
	}
	if (head != NO_RECORD &&
	    required_between(s, last + 1, record_end(s, head)))
		return "record field missing";
	for (size_t k = 0; k < s->count; k++) {
		if ((s->fields[k].flags & (AP_REQ | AP_MEMBER)) == AP_REQ &&
		    !seen[k])
			return "required key missing";
	}
	return NULL;
}

/* Accessors */

enum authproto_verb authproto_msg_verb(const struct authproto_msg *m)
{
	return m->verb;
}

enum authproto_verb authproto_msg_request(const struct authproto_msg *m)
{
	return m->request;
}

uint64_t authproto_msg_id(const struct authproto_msg *m)
{
	return m->id;
}

size_t authproto_msg_count(const struct authproto_msg *m)
{
	return m->count;
}

bool authproto_msg_field(const struct authproto_msg *m, size_t i,
                         struct authproto_field *field_r)
{
	if (i >= m->count)
		return false;
	field_r->key = m->schema->fields[m->fields[i].spec].key;
	field_r->value = m->arena + m->fields[i].off;
	field_r->value_len = m->fields[i].len;
	return true;
}

const char *authproto_msg_get(const struct authproto_msg *m, const char *key)
{
	for (size_t i = 0; i < m->count; i++) {
		if (strcmp(m->schema->fields[m->fields[i].spec].key, key) == 0)
			return m->arena + m->fields[i].off;
	}
	return NULL;
}

bool authproto_msg_get_uint(const struct authproto_msg *m, const char *key,
                            uint64_t *v_r)
{
	const char *v = authproto_msg_get(m, key);

	return v != NULL && authproto_uint_parse(v, strlen(v), UINT64_MAX, v_r);
}

const char *authproto_msg_record_get(const struct authproto_msg *m, size_t i,
                                     const char *key)
{
	const struct authproto_fieldspec *f = m->schema->fields;

	if (i >= m->count || (f[m->fields[i].spec].flags & AP_HEAD) == 0)
		return NULL;
	for (size_t j = i + 1; j < m->count; j++) {
		const struct authproto_fieldspec *fs = &f[m->fields[j].spec];

		if ((fs->flags & AP_MEMBER) == 0)
			break;
		if (strcmp(fs->key, key) == 0)
			return m->arena + m->fields[j].off;
	}
	return NULL;
}
