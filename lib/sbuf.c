/*
 * sbuf - growable byte buffer with a hard limit; see sbuf.h.
 */
#include "sbuf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct sbuf {
	char *data;
	size_t len;
	size_t cap; /* allocated bytes, including room for the NUL */
	size_t limit;
	bool secret; /* wipe what is dropped, moved or freed */
};

struct sbuf *sbuf_new(size_t limit)
{
	struct sbuf *b = alloc_new(struct sbuf);

	b->limit = limit;
	b->cap = 64;
	b->data = alloc_zero(b->cap);
	return b;
}

struct sbuf *sbuf_new_secret(size_t limit)
{
	struct sbuf *b = sbuf_new(limit);

	b->secret = true;
	return b;
}

void sbuf_deinit(struct sbuf **b)
{
	if (*b == NULL)
		return;
	if ((*b)->secret)
		explicit_bzero((*b)->data, (*b)->cap);
	free((*b)->data);
	free(*b);
	*b = NULL;
}

static bool sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t need, cap;

	if (!alloc_add_ok(b->len, extra, &need) || need > b->limit)
		return false;
	if (need + 1 <= b->cap)
		return true;
	cap = b->cap;
	while (cap < need + 1)
		cap = cap > b->limit / 2 + 1 ? need + 1 : cap * 2;
	if (b->secret) {
		/* realloc() would leave the old block's bytes in freed
		 * memory: copy, then wipe the old block before freeing it. */
		char *data = alloc_zero(cap);

		memcpy(data, b->data, b->len + 1);
		explicit_bzero(b->data, b->cap);
		free(b->data);
		b->data = data;
	} else {
		b->data = alloc_resize(b->data, cap, 1);
	}
	b->cap = cap;
	return true;
}

bool sbuf_append(struct sbuf *b, const void *data, size_t len)
{
	if (!sbuf_reserve(b, len))
		return false;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return true;
}

bool sbuf_append_str(struct sbuf *b, const char *s)
{
	return sbuf_append(b, s, strlen(s));
}

/* Formats straight into the free room first: only a result that does
 * not fit is formatted twice (once more after growing). */
bool sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	size_t room = b->cap - b->len;
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(b->data + b->len, room, fmt, copy);
	va_end(copy);
	if (n >= 0 && (size_t)n < room && b->len + (size_t)n <= b->limit) {
		b->len += (size_t)n;
		return true;
	}
	/* Undo the partial result past the end. */
	if (b->secret)
		explicit_bzero(b->data + b->len, room);
	b->data[b->len] = '\0';
	if (n < 0 || !sbuf_reserve(b, (size_t)n))
		return false;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return true;
}

bool sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	bool ok;

	va_start(ap, fmt);
	ok = sbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return ok;
}

const char *sbuf_data(const struct sbuf *b)
{
	return b->data;
}

size_t sbuf_len(const struct sbuf *b)
{
	return b->len;
}

size_t sbuf_limit(const struct sbuf *b)
{
	return b->limit;
}

void sbuf_consume(struct sbuf *b, size_t n)
{
	size_t old = b->len;

	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	/* The bytes past the new end held what was dropped or moved. */
	if (b->secret)
		explicit_bzero(b->data + b->len, old - b->len);
	b->data[b->len] = '\0';
}

void sbuf_reset(struct sbuf *b)
{
	if (b->secret)
		explicit_bzero(b->data, b->len);
	b->len = 0;
	b->data[0] = '\0';
}

char *sbuf_steal(struct sbuf *b, size_t *len_r)
{
	char *s = b->data;

	if (len_r != NULL)
		*len_r = b->len;
	b->cap = 64;
	b->len = 0;
	b->data = alloc_zero(b->cap);
	return s;
}
