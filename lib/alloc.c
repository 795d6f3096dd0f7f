/*
 * alloc - allocation wrappers that abort instead of returning NULL.
 *
 * See alloc.h for the contract. The abort path writes one line to stderr
 * directly: the logger may itself need memory.
 */
#include "alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void __attribute__((noreturn)) alloc_fail(const char *what, size_t n)
{
	fprintf(stderr, "dirmx: fatal: out of memory (%s of %zu bytes)\n", what,
	        n);
	abort();
}

bool alloc_mul_ok(size_t a, size_t b, size_t *result_r)
{
	return !__builtin_mul_overflow(a, b, result_r);
}

bool alloc_add_ok(size_t a, size_t b, size_t *result_r)
{
	return !__builtin_add_overflow(a, b, result_r);
}

void *alloc_zero(size_t size)
{
	void *p = calloc(1, size == 0 ? 1 : size);

	if (p == NULL)
		alloc_fail("calloc", size);
	return p;
}

void *alloc_array(size_t n, size_t size)
{
	size_t total;

	if (!alloc_mul_ok(n, size, &total))
		alloc_fail("array overflow", SIZE_MAX);
	return alloc_zero(total);
}

void *alloc_resize(void *p, size_t n, size_t size)
{
	size_t total;
	void *q;

	if (!alloc_mul_ok(n, size, &total))
		alloc_fail("resize overflow", SIZE_MAX);
	q = realloc(p, total == 0 ? 1 : total);
	if (q == NULL)
		alloc_fail("realloc", total);
	return q;
}

void *alloc_memdup(const void *p, size_t n)
{
	void *q = malloc(n == 0 ? 1 : n);

	if (q == NULL)
		alloc_fail("malloc", n);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

char *alloc_strndup(const char *s, size_t n)
{
	size_t total;
	char *q;

	if (!alloc_add_ok(n, 1, &total))
		alloc_fail("strndup overflow", SIZE_MAX);
	q = malloc(total);
	if (q == NULL)
		alloc_fail("malloc", total);
	memcpy(q, s, n);
	q[n] = '\0';
	return q;
}

char *alloc_strdup(const char *s)
{
	return alloc_strndup(s, strlen(s));
}

char *alloc_vprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		alloc_fail("vasprintf", 0);
	return s;
}

char *alloc_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = alloc_vprintf(fmt, ap);
	va_end(ap);
	return s;
}
