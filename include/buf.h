/*
 * buf.h - bounded read cursor over untrusted bytes.
 *
 * Every parser of untrusted input in dirmx reads through this API (the
 * c-ares discipline): no pointer arithmetic on raw input, no atoi, no
 * strtok. Each fetch checks the remaining length first and returns false,
 * consuming nothing, when the input is too short; a parser therefore cannot
 * read past its input however malformed that input is.
 *
 * struct buf is a small value type kept on the stack; it does not own the
 * bytes it points to, which must outlive it.
 */
#ifndef DIRMX_BUF_H
#define DIRMX_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	const unsigned char *data;
	size_t len;
	size_t pos;
	size_t tag;
};

void buf_init(struct buf *b, const void *data, size_t len);
size_t buf_remaining(const struct buf *b);
size_t buf_pos(const struct buf *b);
/* Move to an absolute offset; false when past the end. */
bool buf_seek(struct buf *b, size_t pos);
/* Pointer to the unread bytes (buf_remaining() of them). */
const unsigned char *buf_peek(const struct buf *b);

bool buf_peek_u8(const struct buf *b, uint8_t *v_r);
bool buf_fetch_u8(struct buf *b, uint8_t *v_r);
bool buf_fetch_be16(struct buf *b, uint16_t *v_r);
bool buf_fetch_be32(struct buf *b, uint32_t *v_r);
bool buf_fetch_be64(struct buf *b, uint64_t *v_r);
bool buf_fetch_le16(struct buf *b, uint16_t *v_r);
bool buf_fetch_le32(struct buf *b, uint32_t *v_r);
bool buf_fetch_bytes(struct buf *b, void *out, size_t n);
bool buf_skip(struct buf *b, size_t n);
/* Consume the byte c when it is next; false otherwise. */
bool buf_consume_char(struct buf *b, char c);

/* Remember the current position, later fetch what was read since. */
void buf_tag(struct buf *b);
size_t buf_tag_len(const struct buf *b);
const unsigned char *buf_tag_data(const struct buf *b);

/*
 * The writing side, for fixed-layout binary formats: store v big-endian
 * in exactly the 4 (8) bytes at out, which the caller sized. Encoders use
 * these so that every number goes out the way buf_fetch_be* reads it.
 */
void buf_store_be32(unsigned char out[4], uint32_t v);
void buf_store_be64(unsigned char out[8], uint64_t v);

/*
 * Fetch the bytes up to (not including) the first byte found in stop, or
 * to the end. Returns how many were consumed; *p_r points at them.
 */
size_t buf_fetch_until(struct buf *b, const char *stop,
                       const unsigned char **p_r);

/*
 * Fetch an unsigned decimal number of at least one digit, with no sign and
 * no space, not greater than max. False (nothing consumed) on no digits or
 * a value above max.
 */
bool buf_fetch_uint(struct buf *b, uint64_t max, uint64_t *v_r);

#endif
