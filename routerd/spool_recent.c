/*
 * spool_recent - the images of messages just committed, kept for their
 * first delivery.
 *
 * A message small enough to be written from one buffer (SPOOLFMT_IMAGE_MAX)
 * is never written to a file of its own when the journal takes it: the
 * journal's fdatasync makes it durable, and the image comes back here. The
 * delivery that starts a moment later gets it from spool_load() without a
 * file to read; when it is delivered, its removal is a journal record and
 * nothing else. Such a message is journal-only until one of these writes
 * its file into q/: its journal segment retiring (the worker, from the
 * record), an update of its recipients' states (a deferral: the state file
 * needs its message beside it), or this list growing past its bound (the
 * loop writes tmp/<id> from the image and the worker renames it). Until
 * then the entry stays, whatever was loaded: a load gets a copy.
 *
 * A message that has its file (the journal could not take it) is kept
 * only for its first load, and dropped, oldest first, when the list is
 * full. Loop thread only.
 */
#include "spool_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

#define RECENT_MAX_N 512
#define RECENT_MAX_BYTES (16u * 1024 * 1024)

struct spool_recent {
	TAILQ_ENTRY(spool_recent) link;
	char id[SPOOL_ID_LEN + 1];
	unsigned char *image;
	size_t size;
	bool journal_only;  /* no file in q/ yet */
	bool materializing; /* its file is on the way (not counted) */
	bool stale;         /* updated or removed: never loaded again */
};

static void recent_free(struct spool *s, struct spool_recent *r)
{
	TAILQ_REMOVE(&s->recent, r, link);
	if (!r->materializing) {
		s->recent_n--;
		s->recent_bytes -= r->size;
	}
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

/* Have the file of a journal-only message written; the entry stays (and
 * answers loads unless stale) until that is done. */
static void recent_materialize(struct spool *s, struct spool_recent *r)
{
	if (r->materializing)
		return;
	if (spool_materialize(s, r->id, r->image, r->size) < 0)
		return; /* logged; the segment's retirement writes it */
	r->materializing = true;
	s->recent_n--;
	s->recent_bytes -= r->size;
}

void spool_recent_add(struct spool *s, const char *id, unsigned char **imagep,
                      size_t size, bool journal_only)
{
	struct spool_recent *r, *next;

	r = TAILQ_FIRST(&s->recent);
	while (r != NULL && (s->recent_n >= RECENT_MAX_N ||
	                     s->recent_bytes + size > RECENT_MAX_BYTES)) {
		next = TAILQ_NEXT(r, link);
		if (!r->journal_only)
			recent_free(s, r);
		else
			recent_materialize(s, r);
		r = next;
	}
	r = alloc_new(struct spool_recent);
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->image = *imagep;
	*imagep = NULL;
	r->size = size;
	r->journal_only = journal_only;
	TAILQ_INSERT_TAIL(&s->recent, r, link);
	s->recent_n++;
	s->recent_bytes += size;
}

bool spool_recent_take(struct spool *s, const char *id, unsigned char **image_r,
                       size_t *size_r)
{
	struct spool_recent *r = recent_find(s, id);

	if (r == NULL || r->stale)
		return false;
	*size_r = r->size;
	if (r->journal_only) {
		/* Still the only copy outside the journal: lend a copy. */
		*image_r = alloc_memdup(r->image, r->size);
		return true;
	}
	*image_r = r->image;
	r->image = NULL;
	recent_free(s, r);
	return true;
}

void spool_recent_drop(struct spool *s, const char *id, bool keep_file)
{
	struct spool_recent *r;

	if (TAILQ_EMPTY(&s->recent) || (r = recent_find(s, id)) == NULL)
		return;
	r->stale = true;
	if (r->journal_only && keep_file) {
		/* Updated: the state file needs its message in q/ first (the
		 * worker takes this before the update). */
		recent_materialize(s, r);
		if (r->materializing)
			return;
		log_error(id, "spool: the message's file could not be written "
		              "before its update");
	}
	if (!r->materializing)
		recent_free(s, r);
}

void spool_recent_materialized(struct spool *s, const char *id, int result)
{
	struct spool_recent *r = recent_find(s, id);

	if (r == NULL || !r->materializing)
		return;
	r->materializing = false;
	s->recent_n++;
	s->recent_bytes += r->size;
	/* In q/ now: an ordinary entry, for one load at most. (Failed: a
	 * stale one goes anyway, its segment's retirement writes it.) */
	if (result == 0)
		r->journal_only = false;
	if (r->stale)
		recent_free(s, r);
}

void spool_recent_clear(struct spool *s)
{
	while (!TAILQ_EMPTY(&s->recent))
		recent_free(s, TAILQ_FIRST(&s->recent));
}
