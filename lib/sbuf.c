/*
 * sbuf - growable byte buffer with a hard limit; see sbuf.h.
 */
#include "sbuf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/*
 * A consume moves data forward instead of shifting the bytes that remain:
 * a buffer holding many lines (authd's answers to a flood, a pipelined
 * SMTP client's commands) is consumed a line at a time, and shifting the
 * rest each time was quadratic. The free room in front of data is taken
 * back (one move) only when an append needs it.
 */
struct sbuf {
	char *base; /* the allocated block */
	char *data; /* the contents: base + what consumes dropped */
	size_t len;
	size_t cap; /* bytes from data to the block's end, NUL included */
	size_t limit;
	bool secret; /* wipe what is dropped, moved or freed */
};

struct sbuf *sbuf_new(size_t limit)
{
	struct sbuf *b = alloc_new(struct sbuf);

	b->limit = limit;
	b->cap = 64;
	b->base = b->data = alloc_zero(b->cap);
	return b;
}

/* The whole block's size. */
static size_t block_size(const struct sbuf *b)
{
	return (size_t)(b->data - b->base) + b->cap;
}

/* Move the contents (and the NUL) to the block's start. */
static void compact(struct sbuf *b)
{
	size_t gap = (size_t)(b->data - b->base);

	if (gap == 0)
		return;
	memmove(b->base, b->data, b->len + 1);
	/* Up to the old end, the bytes past the new one held what was
	 * moved (or were wiped by a consume). */
	if (b->secret)
		explicit_bzero(b->base + b->len + 1, gap);
	b->data = b->base;
	b->cap += gap;
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
		explicit_bzero((*b)->base, block_size(*b));
	free((*b)->base);
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
	compact(b);
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
		explicit_bzero(b->base, b->cap);
		free(b->base);
		b->data = data;
	} else {
		b->data = alloc_resize(b->base, cap, 1);
	}
	b->base = b->data;
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
	if (n >= b->len) {
		sbuf_reset(b);
		return;
	}
	if (b->secret)
		explicit_bzero(b->data, n);
	b->data += n;
	b->cap -= n;
	b->len -= n;
}

void sbuf_reset(struct sbuf *b)
{
	if (b->secret)
		explicit_bzero(b->data, b->len);
	b->cap = block_size(b);
	b->data = b->base;
	b->len = 0;
	b->data[0] = '\0';
}

char *sbuf_steal(struct sbuf *b, size_t *len_r)
{
	char *s;

	compact(b);
	s = b->base;
	if (len_r != NULL)
		*len_r = b->len;
	b->cap = 64;
	b->len = 0;
	b->base = b->data = alloc_zero(b->cap);
	return s;
}
