/*
 * sbuf.h - growable byte buffer with a hard size limit.
 *
 * Used for network input and output buffers and for building strings. An
 * append that would grow the buffer past its limit fails and leaves the
 * buffer unchanged, so a peer cannot make a daemon allocate without bound.
 * The contents are always NUL-terminated (the NUL is not counted), so a
 * buffer holding text can be passed as a C string; binary data may contain
 * NUL bytes and is read with sbuf_len().
 */
#ifndef DIRMX_SBUF_H
#define DIRMX_SBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct sbuf;

struct sbuf *sbuf_new(size_t limit);
/*
 * A buffer for secrets (passwords in AUTH lines, on both sides of the
 * authd socket): every byte it drops is wiped - consumed, moved by a
 * consume, left behind when it grows (no realloc: copy, wipe, free), and
 * everything at sbuf_reset() and sbuf_deinit(). sbuf_steal() hands the
 * block over as it is: the caller then wipes it.
 */
struct sbuf *sbuf_new_secret(size_t limit);
void sbuf_deinit(struct sbuf **b);

bool sbuf_append(struct sbuf *b, const void *data, size_t len);
bool sbuf_append_str(struct sbuf *b, const char *s);
bool sbuf_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

const char *sbuf_data(const struct sbuf *b);
size_t sbuf_len(const struct sbuf *b);
size_t sbuf_limit(const struct sbuf *b);
/* Drop the first n bytes (all of them when n >= length). */
void sbuf_consume(struct sbuf *b, size_t n);
void sbuf_reset(struct sbuf *b);
/* Hand the contents to the caller (free()) and empty the buffer. */
char *sbuf_steal(struct sbuf *b, size_t *len_r);

#endif
