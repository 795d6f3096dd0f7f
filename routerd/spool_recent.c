/*
 * spool_recent - the images of messages just committed, kept for their
 * first delivery.
 *
 * A message small enough to be written from one buffer (SPOOLFMT_IMAGE_MAX)
 * is, once durable, handed here instead of freed; the delivery that starts
 * a moment later gets it from spool_load() without opening, reading and
 * checking the file again, and without looking for a state file that
 * cannot exist yet. An entry leaves at that load, at any update or
 * removal of its message, or when the list is full (oldest first): then
 * spool_load() reads the file as before. Loop thread only.
 */
#include "spool_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define RECENT_MAX_N 512
#define RECENT_MAX_BYTES (16u * 1024 * 1024)

struct spool_recent {
	TAILQ_ENTRY(spool_recent) link;
	char id[SPOOL_ID_LEN + 1];
	unsigned char *image;
	size_t size;
};

static void recent_free(struct spool *s, struct spool_recent *r)
{
	TAILQ_REMOVE(&s->recent, r, link);
	s->recent_n--;
	s->recent_bytes -= r->size;
	free(r->image);
	free(r);
}

static struct spool_recent *recent_find(struct spool *s, const char *id)
{
	struct spool_recent *r;

	/* Deliveries start in commit order: the oldest is the usual hit. */
	TAILQ_FOREACH(r, &s->recent, link) {
		if (strcmp(r->id, id) == 0)
			return r;
	}
	return NULL;
}

void spool_recent_add(struct spool *s, const char *id, unsigned char **imagep,
                      size_t size)
{
	struct spool_recent *r;

	if (size > RECENT_MAX_BYTES)
		return;
	while (s->recent_n >= RECENT_MAX_N ||
	       s->recent_bytes + size > RECENT_MAX_BYTES)
		recent_free(s, TAILQ_FIRST(&s->recent));
	r = alloc_new(struct spool_recent);
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->image = *imagep;
	*imagep = NULL;
	r->size = size;
	TAILQ_INSERT_TAIL(&s->recent, r, link);
	s->recent_n++;
	s->recent_bytes += size;
}

bool spool_recent_take(struct spool *s, const char *id, unsigned char **image_r,
                       size_t *size_r)
{
	struct spool_recent *r = recent_find(s, id);

	if (r == NULL)
		return false;
	*image_r = r->image;
	*size_r = r->size;
	r->image = NULL;
	recent_free(s, r);
	return true;
}

void spool_recent_drop(struct spool *s, const char *id)
{
	struct spool_recent *r;

	if (s->recent_n > 0 && (r = recent_find(s, id)) != NULL)
		recent_free(s, r);
}

void spool_recent_clear(struct spool *s)
{
	while (!TAILQ_EMPTY(&s->recent))
		recent_free(s, TAILQ_FIRST(&s->recent));
}
