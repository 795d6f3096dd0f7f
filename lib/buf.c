/*
 * buf - bounded read cursor, and the big-endian stores that mirror its
 * fetches; see buf.h.
 */
#include "buf.h"

#include <string.h>

void buf_init(struct buf *b, const void *data, size_t len)
{
	b->data = data;
	b->len = data == NULL ? 0 : len;
	b->pos = 0;
	b->tag = 0;
}

size_t buf_remaining(const struct buf *b)
{
	return b->len - b->pos;
}

size_t buf_pos(const struct buf *b)
{
	return b->pos;
}

bool buf_seek(struct buf *b, size_t pos)
{
	if (pos > b->len)
		return false;
	b->pos = pos;
	return true;
}

const unsigned char *buf_peek(const struct buf *b)
{
	return b->data + b->pos;
}

bool buf_peek_u8(const struct buf *b, uint8_t *v_r)
{
	if (buf_remaining(b) < 1)
		return false;
	*v_r = b->data[b->pos];
	return true;
}

bool buf_fetch_u8(struct buf *b, uint8_t *v_r)
{
	if (!buf_peek_u8(b, v_r))
		return false;
	b->pos++;
	return true;
}

bool buf_fetch_be16(struct buf *b, uint16_t *v_r)
{
	const unsigned char *p = b->data + b->pos;

	if (buf_remaining(b) < 2)
		return false;
	*v_r = (uint16_t)((p[0] << 8) | p[1]);
	b->pos += 2;
	return true;
}

bool buf_fetch_be32(struct buf *b, uint32_t *v_r)
{
	const unsigned char *p = b->data + b->pos;

	if (buf_remaining(b) < 4)
		return false;
	*v_r = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
	b->pos += 4;
	return true;
}

bool buf_fetch_be64(struct buf *b, uint64_t *v_r)
{
	uint32_t hi = 0, lo = 0;

	/* Both halves or nothing: the length is checked once, here. */
	if (buf_remaining(b) < 8 || !buf_fetch_be32(b, &hi) ||
	    !buf_fetch_be32(b, &lo))
		return false;
	*v_r = (uint64_t)hi << 32 | lo;
	return true;
}

void buf_store_be32(unsigned char out[4], uint32_t v)
{
	out[0] = (unsigned char)(v >> 24);
	out[1] = (unsigned char)(v >> 16);
	out[2] = (unsigned char)(v >> 8);
	out[3] = (unsigned char)v;
}

void buf_store_be64(unsigned char out[8], uint64_t v)
{
	buf_store_be32(out, (uint32_t)(v >> 32));
	buf_store_be32(out + 4, (uint32_t)v);
}

bool buf_fetch_le16(struct buf *b, uint16_t *v_r)
{
	const unsigned char *p = b->data + b->pos;

	if (buf_remaining(b) < 2)
		return false;
	*v_r = (uint16_t)(p[0] | (p[1] << 8));
	b->pos += 2;
	return true;
}

bool buf_fetch_le32(struct buf *b, uint32_t *v_r)
{
	const unsigned char *p = b->data + b->pos;

	if (buf_remaining(b) < 4)
		return false;
	*v_r = p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
	b->pos += 4;
	return true;
}

bool buf_fetch_bytes(struct buf *b, void *out, size_t n)
{
	if (buf_remaining(b) < n)
		return false;
	if (n > 0)
		memcpy(out, b->data + b->pos, n);
	b->pos += n;
	return true;
}

bool buf_skip(struct buf *b, size_t n)
{
	if (buf_remaining(b) < n)
		return false;
	b->pos += n;
	return true;
}

bool buf_consume_char(struct buf *b, char c)
{
	if (buf_remaining(b) < 1 || b->data[b->pos] != (unsigned char)c)
		return false;
	b->pos++;
	return true;
}

void buf_tag(struct buf *b)
{
	b->tag = b->pos;
}

size_t buf_tag_len(const struct buf *b)
{
	return b->pos >= b->tag ? b->pos - b->tag : 0;
}

const unsigned char *buf_tag_data(const struct buf *b)
{
	return b->data + b->tag;
}

size_t buf_fetch_until(struct buf *b, const char *stop,
                       const unsigned char **p_r)
{
	size_t start = b->pos;

	while (b->pos < b->len && (b->data[b->pos] == '\0' ||
	                           strchr(stop, b->data[b->pos]) == NULL))
		b->pos++;
	/* NUL bytes are data here, never a stop: strchr would match them. */
	*p_r = b->data + start;
	return b->pos - start;
}

bool buf_fetch_uint(struct buf *b, uint64_t max, uint64_t *v_r)
{
	size_t p = b->pos;
	uint64_t v = 0;

	if (p >= b->len || b->data[p] < '0' || b->data[p] > '9')
		return false;
	while (p < b->len && b->data[p] >= '0' && b->data[p] <= '9') {
		unsigned d = b->data[p] - '0';

		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
		p++;
	}
	b->pos = p;
	*v_r = v;
	return true;
}
