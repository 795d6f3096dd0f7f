/*
 * authc_obuf - authc's output buffer, wiped as it goes
 *
 * DESCRIPTION
 *	See authc_private.h. A resize copies the waiting bytes to a new
 *	block and wipes the old one before freeing it (realloc() would
 *	leave a copy of a password in freed memory); written bytes are
 *	wiped before they are dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authc_private.h"

bool authc_obuf_append(struct authc_obuf *o, const char *p, size_t len)
{
	size_t live = o->end - o->start;

	if (len > AUTHC_OBUF_MAX - live)
		return false;
	if (len > o->cap - o->end) {
		size_t cap = o->cap > 0 ? o->cap : 4096;
		char *data;

		while (cap < live + len)
			cap *= 2;
		data = alloc_zero(cap);
		if (live > 0)
			memcpy(data, o->data + o->start, live);
		if (o->data != NULL)
			explicit_bzero(o->data, o->cap);
		free(o->data);
		o->data = data;
		o->cap = cap;
		o->start = 0;
		o->end = live;
	}
	memcpy(o->data + o->end, p, len);
	o->end += len;
	return true;
}

void authc_obuf_consume(struct authc_obuf *o, size_t n)
{
	explicit_bzero(o->data + o->start, n);
	o->start += n;
	if (o->start == o->end)
		o->start = o->end = 0;
}

void authc_obuf_free(struct authc_obuf *o)
{
	if (o->data != NULL)
		explicit_bzero(o->data, o->cap);
	free(o->data);
	memset(o, 0, sizeof(*o));
}
