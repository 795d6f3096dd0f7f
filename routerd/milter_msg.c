/*
 * milter_msg - header fields and body under the mail filters' edits; see
 * milter_msg.h.
 */
#include "milter_msg.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "sbuf.h"

struct mfield {
	char *name;
	char *orig;  /* the field's bytes as they came (CR LFs), or NULL */
	char *value; /* after the colon: CR LF between folded lines */
	char *shown; /* the same with LF: what a filter sees */
};

struct milter_msg {
	struct mfield *f;
	size_t n, cap;
	bool changed;
	struct sbuf *body; /* the replacement, or NULL */
	size_t body_filter;
	uint64_t body_max;
};

static char *lf_of(const char *v)
{
	char *out = alloc_strdup(v), *w = out;

	for (const char *r = v; *r != '\0'; r++)
		if (!(r[0] == '\r' && r[1] == '\n'))
			*w++ = *r;
	*w = '\0';
	return out;
}

static struct mfield *field_insert(struct milter_msg *mm, size_t at)
{
	if (mm->n == mm->cap) {
		mm->cap = mm->cap == 0 ? 16 : mm->cap * 2;
		mm->f = alloc_resize(mm->f, mm->cap, sizeof(*mm->f));
	}
	memmove(&mm->f[at + 1], &mm->f[at], (mm->n - at) * sizeof(*mm->f));
	mm->n++;
	memset(&mm->f[at], 0, sizeof(mm->f[at]));
	return &mm->f[at];
}

static void field_clear(struct mfield *f)
{
	free(f->name);
	free(f->orig);
	free(f->value);
	free(f->shown);
}

/* One field from its bytes (lines with their CR LFs). */
static void field_parse(struct milter_msg *mm, const char *p, size_t len)
{
	struct mfield *f = field_insert(mm, mm->n);
	const char *colon = memchr(p, ':', len);
	size_t nlen = colon != NULL ? (size_t)(colon - p) : len;
	size_t vlen;

	f->orig = alloc_strndup(p, len);
	while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
		nlen--;
	f->name = alloc_strndup(p, nlen);
	if (colon == NULL) {
		f->value = alloc_strdup("");
	} else {
		vlen = len - (size_t)(colon + 1 - p);
		if (vlen >= 2 && colon[vlen - 1] == '\r' && colon[vlen] == '\n')
			vlen -= 2;
		f->value = alloc_strndup(colon + 1, vlen);
	}
	f->shown = lf_of(f->value);
}

struct milter_msg *milter_msg_new(const char *hdr, size_t len,
                                  uint64_t body_max)
{
	struct milter_msg *mm = alloc_new(struct milter_msg);
	size_t start = 0;

	mm->body_max = body_max;
	for (size_t i = 0; i + 1 < len; i++) {
		if (hdr[i] != '\r' || hdr[i + 1] != '\n')
			continue;
		/* The field goes on when the next line starts with WSP. */
		if (i + 2 < len && (hdr[i + 2] == ' ' || hdr[i + 2] == '\t'))
			continue;
		field_parse(mm, hdr + start, i + 2 - start);
		start = i + 2;
		i++;
	}
	if (start < len)
		field_parse(mm, hdr + start, len - start);
	return mm;
}

void milter_msg_deinit(struct milter_msg **mmp)
{
	struct milter_msg *mm = *mmp;

	if (mm == NULL)
		return;
	for (size_t i = 0; i < mm->n; i++)
		field_clear(&mm->f[i]);
	free(mm->f);
	sbuf_deinit(&mm->body);
	free(mm);
	*mmp = NULL;
}

struct milter_field *milter_msg_fields(struct milter_msg *mm, size_t *n_r)
{
	struct milter_field *out = alloc_array(mm->n + 1, sizeof(*out));

	for (size_t i = 0; i < mm->n; i++) {
		out[i].name = mm->f[i].name;
		out[i].value = mm->f[i].shown;
	}
	*n_r = mm->n;
	return out;
}

/* A filter's value as it will be written after the colon. */
static char *value_of(const char *v, bool lead_space)
{
	struct sbuf *b = sbuf_new(4 * MILTER_MAX_PACKET);
	size_t len = strlen(v);
	char *out;

	while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == '\r'))
		len--;
	if (!lead_space)
		sbuf_append_str(b, " ");
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\r')
			continue; /* bare CR dropped, CR LF becomes LF */
		if (v[i] != '\n') {
			sbuf_append(b, &v[i], 1);
			continue;
		}
		sbuf_append_str(b, "\r\n");
		if (i + 1 < len && v[i + 1] != ' ' && v[i + 1] != '\t')
			sbuf_append_str(b, "\t");
	}
	out = sbuf_steal(b, NULL);
	sbuf_deinit(&b);
	return out;
}

static void field_set(struct mfield *f, const char *name, const char *value,
                      bool lead_space)
{
	field_clear(f);
	memset(f, 0, sizeof(*f));
	f->name = alloc_strdup(name);
	f->value = value_of(value, lead_space);
	f->shown = lf_of(f->value);
}

void milter_msg_header_edit(struct milter_msg *mm, char cmd, uint32_t index,
                            const char *name, const char *value,
                            bool lead_space)
{
	size_t at = mm->n, seen = 0;

	mm->changed = true;
	if (cmd == MILTER_R_INSHEADER && index < mm->n)
		at = index;
	if (cmd == MILTER_R_CHGHEADER) {
		if (index == 0)
			index = 1;
		for (size_t i = 0; i < mm->n; i++) {
			if (strcasecmp(mm->f[i].name, name) != 0 ||
			    ++seen != index)
				continue;
			if (value[0] == '\0') {
				field_clear(&mm->f[i]);
				memmove(&mm->f[i], &mm->f[i + 1],
				        (mm->n - i - 1) * sizeof(*mm->f));
				mm->n--;
			} else {
				field_set(&mm->f[i], name, value, lead_space);
			}
			return;
		}
		if (value[0] == '\0')
			return;
	}
	field_set(field_insert(mm, at), name, value, lead_space);
}

bool milter_msg_body_replace(struct milter_msg *mm, size_t filter,
                             const void *data, size_t len)
{
	if (mm->body == NULL || mm->body_filter != filter) {
		sbuf_deinit(&mm->body);
		mm->body = sbuf_new((size_t)mm->body_max);
		mm->body_filter = filter;
	}
	mm->changed = true;
	return sbuf_append(mm->body, data, len);
}

bool milter_msg_body_replaced(const struct milter_msg *mm)
{
	return mm->body != NULL;
}

uint64_t milter_msg_body_len(const struct milter_msg *mm)
{
	return mm->body != NULL ? sbuf_len(mm->body) : 0;
}

int milter_msg_body_read(const struct milter_msg *mm, uint64_t off, void *buf,
                         size_t len, size_t *n_r)
{
	size_t have = mm->body != NULL ? sbuf_len(mm->body) : 0;

	*n_r = 0;
	if (off >= have)
		return 0;
	if (len > have - off)
		len = (size_t)(have - off);
	memcpy(buf, sbuf_data(mm->body) + off, len);
	*n_r = len;
	return 0;
}

bool milter_msg_changed(const struct milter_msg *mm)
{
	return mm->changed;
}

bool milter_msg_format_header(const struct milter_msg *mm, struct sbuf *out)
{
	bool ok = true;

	for (size_t i = 0; i < mm->n; i++) {
		const struct mfield *f = &mm->f[i];

		if (f->orig != NULL)
			ok = ok && sbuf_append_str(out, f->orig);
		else
			ok = ok &&
			     sbuf_printf(out, "%s:%s\r\n", f->name, f->value);
	}
	return ok && sbuf_append_str(out, "\r\n");
}
