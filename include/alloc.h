/*
 * alloc.h - allocation helpers that never return NULL.
 *
 * Every function here either returns usable memory or aborts the process
 * with a log line: out of memory is not a condition a mail router can
 * recover from in the middle of a request, and checking NULL at hundreds of
 * call sites only hides the bugs where it is forgotten. Size arithmetic is
 * overflow-checked: alloc_array(n, size) aborts when n * size overflows.
 *
 * The caller owns what these return and frees it with free().
 */
#ifndef DIRMX_ALLOC_H
#define DIRMX_ALLOC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

void *alloc_zero(size_t size);
void *alloc_array(size_t n, size_t size);
void *alloc_resize(void *p, size_t n, size_t size);
char *alloc_strdup(const char *s);
char *alloc_strndup(const char *s, size_t n);
void *alloc_memdup(const void *p, size_t n);
char *alloc_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *alloc_vprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* a * b without overflow: false when it would overflow. */
bool alloc_mul_ok(size_t a, size_t b, size_t *result_r);
/* a + b without overflow: false when it would overflow. */
bool alloc_add_ok(size_t a, size_t b, size_t *result_r);

#define alloc_new(type) ((type *)alloc_zero(sizeof(type)))

#endif
