/*
 * spool_journal - the spool's write-ahead journal: many acknowledged
 * messages share one fdatasync; see spool.h for the promise.
 *
 * A new file costs the disk its own journal commit when it is fsynced
 * (its blocks, its size, its inode), so one fdatasync per message file
 * is what limits how fast a file-per-message spool can say 250. Appending
 * to one file that already exists is a single sequential write and one
 * flush however many messages it carries. So the worker copies every
 * message of a batch (up to SPOOLFMT_IMAGE_MAX) into the
 * active journal segment, fdatasyncs that once, and only then renames the
 * message files into q/ and reports success. The files in q/ are then
 * ordinary page-cache files: a crash may lose them, the journal cannot.
 *
 * A segment is retired once it is larger than seg_max: a new one is
 * created (and journal/ fsynced, so that its name survives), every
 * message the old one holds that is still in q/ is fdatasynced, q/ is
 * fsynced (which also makes the removals durable), and only then is the
 * old segment renamed out of the log (x<seq>: its blocks are freed a
 * slice per batch later) and journal/ fsynced. spool_retire.c does that
 * from what the worker remembers of the segment, without reading it.
 * Segments retire strictly in order: a removal recorded in a later
 * segment must outlive the commit of the same message in an earlier one.
 * Removals are journaled too, before the unlink, so that recovery does
 * not bring back a delivered message.
 *
 * RECORD: a 32-byte header (spoolfmt.h), then its payload: a commit
 * carries the whole message file, a removal nothing. A commit's payload carries
 * its own checksums (the message file's header, envelope and data CRCs),
 * checked before anything is restored. A segment is read up to its first record
 * that does not verify: that is where the write in progress at a crash was
 * torn.
 *
 * RECOVERY (spool_open, before q/ is read): every removal in every
 * segment is collected first; then, segment by segment, each commit whose
 * message was not removed is compared with q/<id> and, when that is
 * missing or does not verify in full (data CRC included), written back
 * through tmp/ (fdatasync, rename); each removal is applied. q/ is
 * fsynced, the segments are unlinked, journal/ is fsynced, and a fresh
 * segment starts.
 *
 * THREADS: the loop thread calls spool_journal_open() at open, and
 * spool_journal_close() after the worker stopped; everything else runs in
 * the worker.
 */
#include "spool_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

/*
 * Set the journal's own error (printf style), point *error_r at it;
 * returns -1. Not spool_fail(): s->error is the loop thread's, and this
 * runs in the worker (or at open, before the worker starts).
 */
__attribute__((format(printf, 3, 4))) static int
journal_fail(struct spool_journal *j, const char **error_r, const char *fmt,
             ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	*error_r = j->error;
	return -1;
}

/* Keep a batch buffer this large between batches; free a larger one. */
#define BUF_KEEP (4u << 20)

struct rec {
	struct spoolfmt_rec h;
	uint64_t payload_off;
};

/* ---- reading a segment ---- */

/* The record whose header raw holds, at *off of a segment of size octets:
 * 1 and *rec_r (off moves past it), 0 when it is not a whole record. */
static int rec_at(const unsigned char *raw, uint64_t size, uint64_t *off,
                  struct rec *rec_r)
{
	const char *why;

	if (spoolfmt_rec_decode(raw, SPOOLFMT_REC_HEADER_LEN, &rec_r->h, &why) <
	        0 ||
	    size - *off - SPOOLFMT_REC_HEADER_LEN < rec_r->h.len)
		return 0;
	rec_r->payload_off = *off + SPOOLFMT_REC_HEADER_LEN;
	*off = rec_r->payload_off + rec_r->h.len;
	return 1;
}

/* The record at *off: 1 and *rec_r (off moves past it), 0 at the end. */
static int seg_next(int fd, uint64_t size, uint64_t *off, struct rec *rec_r)
{
	unsigned char raw[SPOOLFMT_REC_HEADER_LEN];

	if (size - *off < SPOOLFMT_REC_HEADER_LEN ||
	    spool_read_full(fd, raw, sizeof(raw), *off) < 0)
		return 0;
	return rec_at(raw, size, off, rec_r);
}

static int seg_open(struct spool *s, uint64_t seq, uint64_t *size_r)
{
	char name[SPOOLFMT_SEG_NAME_LEN + 1];
	off_t end;
	int fd;

	spoolfmt_seg_name(seq, name);
	fd = openat(s->journal.dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		close(fd);
		return -1;
	}
	*size_r = (uint64_t)end;
	return fd;
}

/* ---- recovery ---- */

struct replay {
	uint64_t *segs;
	size_t nsegs;
	char (*removed)[SPOOL_ID_LEN + 1];
	size_t nremoved;
	unsigned restored, applied;
};

static int id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int seq_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int list_segments(struct spool *s, struct replay *r,
                         const char **error_r)
{
	DIR *d = spool_opendir(s->journal.dir_fd);
	struct dirent *e;
	uint64_t seq;

	if (d == NULL)
		return journal_fail(&s->journal, error_r, "opendir journal: %s",
		                    strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (spool_journal_is_dead(e->d_name)) {
			(void)unlinkat(s->journal.dir_fd, e->d_name, 0);
			continue;
		}
		if (!spoolfmt_seg_parse(e->d_name, strlen(e->d_name), &seq)) {
			char q[LOG_QUOTE_MAX];

			log_warn("-", "spool: journal: ignored file=%s",
			         log_quote_str(q, e->d_name));
			continue;
		}
		r->segs = alloc_resize(r->segs, r->nsegs + 1, sizeof(*r->segs));
		r->segs[r->nsegs++] = seq;
	}
	closedir(d);
	if (r->nsegs > 0)
		qsort(r->segs, r->nsegs, sizeof(*r->segs), seq_cmp);
	return 0;
}

static void collect_removed(struct spool *s, struct replay *r)
{
	for (size_t i = 0; i < r->nsegs; i++) {
		uint64_t size, off = 0;
		struct rec rec;
		int fd = seg_open(s, r->segs[i], &size);

		if (fd < 0)
			continue;
		while (seg_next(fd, size, &off, &rec) > 0) {
			if (rec.h.kind != SPOOLFMT_REC_REMOVE)
				continue;
			r->removed = alloc_resize(r->removed, r->nremoved + 1,
			                          sizeof(*r->removed));
			memcpy(r->removed[r->nremoved++], rec.h.id,
			       SPOOL_ID_LEN + 1);
		}
		close(fd);
	}
	if (r->nremoved > 0)
		qsort(r->removed, r->nremoved, sizeof(*r->removed), id_cmp);
}

static bool is_removed(const struct replay *r, const char *id)
{
	return r->nremoved > 0 && bsearch(id, r->removed, r->nremoved,
	                                  sizeof(*r->removed), id_cmp) != NULL;
}

/* q/<id> from the image at off in fd, unless q/<id> is good already. */
static int restore(struct spool *s, int seg, const struct rec *rec,
                   const char **error_r)
{
	unsigned char *image;
	const char *why;
	int fd = openat(s->q_fd, rec->h.id, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		why = spool_check_file(fd, rec->h.id, true);
		close(fd);
		if (why == NULL)
			return 0;
	}
	image = alloc_array(rec->h.len, 1);
	fd = openat(s->tmp_fd, rec->h.id,
	            O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 ||
	    spool_read_full(seg, image, rec->h.len, rec->payload_off) < 0 ||
	    spool_write_all(fd, image, rec->h.len) < 0 || fdatasync(fd) < 0) {
		free(image);
		if (fd >= 0)
			close(fd);
		return journal_fail(&s->journal, error_r,
		                    "journal: restore %s: %s", rec->h.id,
		                    strerror(errno));
	}
	free(image);
	why = spool_check_file(fd, rec->h.id, true);
	close(fd);
	if (why != NULL) {
		/* A torn payload behind a good header: the end of the log. */
		(void)unlinkat(s->tmp_fd, rec->h.id, 0);
		return 1;
	}
	if (renameat(s->tmp_fd, rec->h.id, s->q_fd, rec->h.id) < 0)
		return journal_fail(&s->journal, error_r,
		                    "journal: rename %s: %s", rec->h.id,
		                    strerror(errno));
	log_info(rec->h.id, "spool: restored from the journal");
	return 0;
}

static int replay_segment(struct spool *s, struct replay *r, uint64_t seq,
                          const char **error_r)
{
	char name[SPOOLFMT_NAME_MAX];
	uint64_t size, off = 0;
	struct rec rec;
	int fd = seg_open(s, seq, &size), ret = 0;

	if (fd < 0)
		return journal_fail(&s->journal, error_r,
		                    "open journal segment %" PRIx64 ": %s", seq,
		                    strerror(errno));
	while (ret == 0 && seg_next(fd, size, &off, &rec) > 0) {
		if (rec.h.kind == SPOOLFMT_REC_REMOVE) {
			spoolfmt_state_name(rec.h.id, name);
			(void)unlinkat(s->q_fd, name, 0);
			if (unlinkat(s->q_fd, rec.h.id, 0) == 0)
				r->applied++;
		} else if (!is_removed(r, rec.h.id)) {
			ret = restore(s, fd, &rec, error_r);
			if (ret == 0)
				r->restored++;
		}
	}
	close(fd);
	return ret < 0 ? -1 : 0;
}

static int seg_create(struct spool *s, uint64_t seq, const char **error_r)
{
	char name[SPOOLFMT_SEG_NAME_LEN + 1];
	int fd;

	spoolfmt_seg_name(seq, name);
	fd = openat(s->journal.dir_fd, name,
	            O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return journal_fail(&s->journal, error_r,
		                    "create journal/%s: %s", name,
		                    strerror(errno));
	/* Its name must be durable before anything in it is promised. */
	if (fsync(s->journal.dir_fd) < 0) {
		close(fd);
		(void)unlinkat(s->journal.dir_fd, name, 0);
		return journal_fail(&s->journal, error_r, "fsync journal: %s",
		                    strerror(errno));
	}
	s->journal.seg_fd = fd;
	s->journal.seg_seq = s->journal.cur.seq = seq;
	s->journal.seg_size = 0;
	return 0;
}

int spool_journal_open(struct spool *s, const char **error_r)
{
	struct replay r = {0};
	char name[SPOOLFMT_SEG_NAME_LEN + 1];
	uint64_t next = 1;
	int ret = -1;

	s->journal.seg_fd = -1;
	s->journal.seg_max = s->seg_max_wanted = SPOOL_JOURNAL_SEGMENT_MAX;
	if (list_segments(s, &r, error_r) < 0)
		goto done;
	collect_removed(s, &r);
	for (size_t i = 0; i < r.nsegs; i++) {
		if (replay_segment(s, &r, r.segs[i], error_r) < 0)
			goto done;
		next = r.segs[i] + 1;
	}
	if (r.nsegs > 0) {
		if (fsync(s->q_fd) < 0) {
			journal_fail(&s->journal, error_r, "fsync q: %s",
			             strerror(errno));
			goto done;
		}
		for (size_t i = 0; i < r.nsegs; i++) {
			spoolfmt_seg_name(r.segs[i], name);
			if (unlinkat(s->journal.dir_fd, name, 0) < 0) {
				journal_fail(&s->journal, error_r,
				             "unlink journal/%s: %s", name,
				             strerror(errno));
				goto done;
			}
		}
		log_info("-",
		         "spool: journal replayed segments=%zu restored=%u "
		         "removed=%u",
		         r.nsegs, r.restored, r.applied);
	}
	ret = seg_create(s, next, error_r);
done:
	free(r.segs);
	free(r.removed);
	return ret;
}

/* ---- the worker: appending ---- */

static unsigned char *buf_room(struct spool_journal *j, size_t n)
{
	if (j->cap - j->len < n) {
		size_t cap = j->cap ? j->cap : 65536;

		while (cap - j->len < n)
			cap *= 2;
		j->buf = alloc_resize(j->buf, cap, 1);
		j->cap = cap;
	}
	return j->buf + j->len;
}

bool spool_journal_add(struct spool *s, struct spool_op *op)
{
	struct spool_journal *j = &s->journal;
	struct spoolfmt_rec rec = {.kind = SPOOLFMT_REC_REMOVE};
	const char *why;
	unsigned char *p;

	if (j->seg_fd < 0)
		return false;
	memcpy(rec.id, op->id, sizeof(rec.id));
	if (op->kind == SPOOL_OP_COMMIT) {
		if ((op->fd < 0 && op->image == NULL) || op->materialize ||
		    op->size > SPOOLFMT_IMAGE_MAX)
			return false;
		rec.kind = SPOOLFMT_REC_COMMIT;
		rec.len = (uint32_t)op->size;
		op->jseq = j->seg_seq;
		op->joff = j->seg_size + j->len + SPOOLFMT_REC_HEADER_LEN;
	} else if (op->kind != SPOOL_OP_REMOVE)
		return false;
	p = buf_room(j, SPOOLFMT_REC_HEADER_LEN + rec.len);
	if (spoolfmt_rec_encode(&rec, p, &why) < 0)
		return false;
	if (op->image != NULL)
		memcpy(p + SPOOLFMT_REC_HEADER_LEN, op->image, rec.len);
	/* The file is still in the page cache: this is a memory copy. */
	else if (rec.len > 0 &&
	         spool_read_full(op->fd, p + SPOOLFMT_REC_HEADER_LEN, rec.len,
	                         0) < 0)
		return false;
	j->len += SPOOLFMT_REC_HEADER_LEN + rec.len;
	/* Its retirement syncs the file (the journal-only ones are in the
	 * live list). */
	if (rec.kind == SPOOLFMT_REC_COMMIT && !op->no_file)
		spool_journal_seg_file(&j->cur, op->id);
	return true;
}

int spool_journal_sync(struct spool *s)
{
	struct spool_journal *j = &s->journal;
	char ebuf[128];
	int ret = 0;

	if (j->len == 0)
		return 0;
	if (spool_write_all(j->seg_fd, j->buf, j->len) < 0 ||
	    fdatasync(j->seg_fd) < 0) {
		/* What the segment holds now is unknown: never append to it
		 * again (a failed fsync may have dropped the pages). */
		log_error("-",
		          "spool: journal segment %" PRIx64 ": %s; "
		          "syncing each file until a new segment works",
		          j->seg_seq, strerror_r(errno, ebuf, sizeof(ebuf)));
		j->broken = true;
		ret = -1;
	} else {
		j->seg_size += j->len;
		j->syncs++;
	}
	j->len = 0;
	if (j->cap > BUF_KEEP) {
		free(j->buf);
		j->buf = NULL;
		j->cap = 0;
	}
	return ret;
}

/* ---- the worker: rotating ---- */

void spool_journal_maintain(struct spool *s, bool closing)
{
	struct spool_journal *j = &s->journal;
	const char *error;
	uint64_t next = j->seg_seq + 1;

	spool_journal_shrink_dead(s, closing);
	if (j->seg_fd >= 0 &&
	    (closing || j->broken || j->seg_size >= j->seg_max)) {
		close(j->seg_fd);
		j->seg_fd = -1;
		j->retire =
		    alloc_resize(j->retire, j->nretire + 1, sizeof(*j->retire));
		j->retire[j->nretire++] = j->cur;
		memset(&j->cur, 0, sizeof(j->cur));
	}
	if (j->seg_fd < 0 && !closing) {
		if (seg_create(s, next, &error) == 0)
			j->broken = false;
		else if (!j->create_failed)
			log_error("-", "spool: %s; syncing each file", error);
		j->create_failed = j->seg_fd < 0;
		/* A name taken by a failed attempt is skipped next time. */
		j->seg_seq = next;
	}
	spool_journal_retire_pending(s);
}

void spool_journal_close(struct spool *s)
{
	struct spool_journal *j = &s->journal;

	if (j->dir_fd >= 0) {
		spool_journal_maintain(s, true);
		spool_journal_shrink_dead(s, true);
	}
	/* What failed to retire stays in journal/ for the next open. */
	for (size_t i = 0; i < j->nretire; i++)
		spool_journal_seg_free(&j->retire[i]);
	spool_journal_seg_free(&j->cur);
	free(j->retire);
	j->retire = NULL;
	j->nretire = 0;
	free(j->live);
	j->live = NULL;
	j->nlive = j->caplive = 0;
	free(j->buf);
	j->buf = NULL;
	j->cap = j->len = 0;
}

void spool_set_journal_segment_max(struct spool *s, uint64_t bytes)
{
	/* The worker takes it from here under the lock, between batches. */
	pthread_mutex_lock(&s->lock);
	s->seg_max_wanted = bytes;
	pthread_mutex_unlock(&s->lock);
}
