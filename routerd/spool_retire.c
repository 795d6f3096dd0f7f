/*
 * spool_retire - what the worker remembers of the journal segments it
 * wrote, and their retirement (spool_journal.c has the promise).
 *
 * Retiring a segment makes every message it made durable that is still
 * pending durable by itself: a journal-only message gets its file, written
 * from its record; a message with a file in q/ gets that file synced. The
 * worker knows which those are without reading the segment back:
 *
 *   - the live list holds every journal-only message, with its segment
 *     and the offset of its record; a delivery takes it out;
 *   - each segment keeps the ids of the messages with a file that it made
 *     durable (a delivered one has no file any more: ENOENT, skipped).
 *
 * So a retirement reads only the records of messages still pending, not
 * the segment (32 MiB when full): reading it whole held up every commit
 * queued behind the worker.
 *
 * THREADS: the worker only (and spool_journal_close() after it stopped).
 */
#include "spool_private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

/* ---- journal-only messages ---- */

static size_t live_pos(const struct spool_journal *j, const char *id,
                       bool *found_r)
{
	size_t lo = 0, hi = j->nlive;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(j->live[mid].id, id);

		if (c == 0) {
			*found_r = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found_r = false;
	return lo;
}

void spool_journal_live_add(struct spool *s, const struct spool_op *op)
{
	struct spool_journal *j = &s->journal;
	struct spool_journal_live *l;
	bool found;
	size_t at = live_pos(j, op->id, &found);

	if (!found) {
		if (j->nlive == j->caplive) {
			j->caplive = j->caplive ? j->caplive * 2 : 256;
			j->live =
			    alloc_resize(j->live, j->caplive, sizeof(*j->live));
		}
		/* Ids grow with time: usually an append. */
		memmove(j->live + at + 1, j->live + at,
		        (j->nlive - at) * sizeof(*j->live));
		j->nlive++;
	}
	l = &j->live[at];
	snprintf(l->id, sizeof(l->id), "%s", op->id);
	l->len = (uint32_t)op->size;
	l->seq = op->jseq;
	l->off = op->joff;
}

bool spool_journal_live_del(struct spool *s, const char *id)
{
	struct spool_journal *j = &s->journal;
	bool found;
	size_t at;

	if (j->nlive == 0)
		return false;
	at = live_pos(j, id, &found);
	if (!found)
		return false;
	memmove(j->live + at, j->live + at + 1,
	        (j->nlive - at - 1) * sizeof(*j->live));
	j->nlive--;
	return true;
}

void spool_journal_live_filed(struct spool *s, const char *id)
{
	struct spool_journal *j = &s->journal;
	struct spool_journal_seg *seg = NULL;
	bool found;
	size_t at = live_pos(j, id, &found);

	/* Not found: its segment retired, and wrote the file first. */
	if (!found)
		return;
	if (j->cur.seq == j->live[at].seq)
		seg = &j->cur;
	for (size_t i = 0; seg == NULL && i < j->nretire; i++)
		if (j->retire[i].seq == j->live[at].seq)
			seg = &j->retire[i];
	/* A live message's segment has not retired: seg is never NULL. */
	if (seg != NULL)
		spool_journal_seg_file(seg, id);
	spool_journal_live_del(s, id);
}

/* ---- segments ---- */

void spool_journal_seg_file(struct spool_journal_seg *seg, const char *id)
{
	if (seg->nfiles == seg->capfiles) {
		seg->capfiles = seg->capfiles ? seg->capfiles * 2 : 64;
		seg->files = alloc_resize(seg->files, seg->capfiles,
		                          sizeof(*seg->files));
	}
	snprintf(seg->files[seg->nfiles], sizeof(seg->files[0]), "%s", id);
	seg->nfiles++;
}

void spool_journal_seg_free(struct spool_journal_seg *seg)
{
	free(seg->files);
	memset(seg, 0, sizeof(*seg));
}

/* The file of a journal-only message, from its record: through tmp/,
 * synced, renamed into q/ (where one already there is as good). */
static int write_back(struct spool *s, const char *id,
                      const unsigned char *file, size_t len)
{
	char name[SPOOLFMT_NAME_MAX];
	int fd, err = 0;

	snprintf(name, sizeof(name), "%s.r", id);
	fd = openat(s->tmp_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	            0600);
	if (fd < 0)
		return errno;
	if (spool_write_all(fd, file, len) < 0 || fdatasync(fd) < 0)
		err = errno;
	close(fd);
	if (err == 0 &&
	    renameat2(s->tmp_fd, name, s->q_fd, id, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST)
			(void)unlinkat(s->tmp_fd, name, 0);
		else
			err = errno;
	}
	if (err != 0)
		(void)unlinkat(s->tmp_fd, name, 0);
	else
		spool_journal_live_del(s, id);
	return err;
}

/* The record of l, read from the segment open on fd and checked against
 * what the worker wrote: 0 and the record in *raw_r (header first, the
 * caller frees it), or an errno. */
static int read_record(int fd, const struct spool_journal_live *l,
                       unsigned char **raw_r)
{
	size_t n = SPOOLFMT_REC_HEADER_LEN + l->len;
	unsigned char *raw = alloc_array(n, 1);
	struct spoolfmt_rec h;
	const char *why;

	errno = 0;
	if (l->off < SPOOLFMT_REC_HEADER_LEN ||
	    spool_read_full(fd, raw, n, l->off - SPOOLFMT_REC_HEADER_LEN) < 0) {
		free(raw);
		return errno != 0 ? errno : EIO;
	}
	if (spoolfmt_rec_decode(raw, SPOOLFMT_REC_HEADER_LEN, &h, &why) < 0 ||
	    h.kind != SPOOLFMT_REC_COMMIT || h.len != l->len ||
	    strcmp(h.id, l->id) != 0) {
		free(raw);
		return EIO;
	}
	*raw_r = raw;
	return 0;
}

/* ---- burial ---- */

/* Freeing this much of a file's blocks holds the worker for about half a
 * millisecond; all 32 MiB of a full segment at once, for 16 ms (ext4
 * with online discard). */
#define DEAD_SLICE (1024 * 1024)

/* A retired segment's name: its log name with 'x' for 'j'. */
static void dead_name(const char *seg, char name_r[SPOOLFMT_SEG_NAME_LEN + 1])
{
	snprintf(name_r, SPOOLFMT_SEG_NAME_LEN + 1, "x%s", seg + 1);
}

bool spool_journal_is_dead(const char *name)
{
	char seg[SPOOLFMT_SEG_NAME_LEN + 1];
	uint64_t seq;

	if (name[0] != 'x' || strlen(name) != SPOOLFMT_SEG_NAME_LEN)
		return false;
	snprintf(seg, sizeof(seg), "j%s", name + 1);
	return spoolfmt_seg_parse(seg, SPOOLFMT_SEG_NAME_LEN, &seq);
}

void spool_journal_shrink_dead(struct spool *s, bool all)
{
	struct spool_journal *j = &s->journal;
	char seg[SPOOLFMT_SEG_NAME_LEN + 1], name[SPOOLFMT_SEG_NAME_LEN + 1];
	char ebuf[128];

	if (j->dead_fd < 0)
		return;
	if (!all && j->dead_size > DEAD_SLICE &&
	    ftruncate(j->dead_fd, (off_t)(j->dead_size - DEAD_SLICE)) == 0) {
		j->dead_size -= DEAD_SLICE;
		return;
	}
	close(j->dead_fd);
	j->dead_fd = -1;
	spoolfmt_seg_name(j->dead_seq, seg);
	dead_name(seg, name);
	/* Left behind, the next open removes it. */
	if (unlinkat(j->dir_fd, name, 0) < 0 && errno != ENOENT)
		log_warn("-", "spool: unlink journal/%s: %s", name,
		         strerror_r(errno, ebuf, sizeof(ebuf)));
}

/* Take segment seq (named name) out of the log: renamed, so that the
 * fsync of journal/ that follows retires it, and its blocks freed later,
 * a slice per batch. 0 or an errno. */
static int bury(struct spool *s, uint64_t seq, const char *name)
{
	struct spool_journal *j = &s->journal;
	char dead[SPOOLFMT_SEG_NAME_LEN + 1];
	struct stat st;
	int fd;

	spool_journal_shrink_dead(s, true);
	dead_name(name, dead);
	fd = openat(j->dir_fd, name, O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 &&
	    renameat(j->dir_fd, name, j->dir_fd, dead) == 0) {
		j->dead_fd = fd;
		j->dead_seq = seq;
		j->dead_size = (uint64_t)st.st_size;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	/* All at once, then. */
	return unlinkat(j->dir_fd, name, 0) < 0 ? errno : 0;
}

/* Make every pending message of seg durable by itself; then bury it. */
static int retire(struct spool *s, const struct spool_journal_seg *seg)
{
	struct spool_journal *j = &s->journal;
	char name[SPOOLFMT_SEG_NAME_LEN + 1], id[SPOOL_ID_LEN + 1];
	unsigned char *raw;
	size_t i = 0;
	int fd = -1, mfd, err = 0;

	spoolfmt_seg_name(seg->seq, name);
	while (err == 0 && i < j->nlive) {
		const struct spool_journal_live *l = &j->live[i];

		if (l->seq != seg->seq) {
			i++;
			continue;
		}
		if (fd < 0)
			fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = errno;
			break;
		}
		err = read_record(fd, l, &raw);
		if (err != 0)
			break;
		/* write_back() takes it out of the live list: i stays. */
		snprintf(id, sizeof(id), "%s", l->id);
		err = write_back(s, id, raw + SPOOLFMT_REC_HEADER_LEN, l->len);
		free(raw);
	}
	if (fd >= 0)
		close(fd);
	for (size_t k = 0; err == 0 && k < seg->nfiles; k++) {
		mfd = openat(s->q_fd, seg->files[k], O_RDONLY | O_CLOEXEC);
		if (mfd < 0) {
			if (errno != ENOENT)
				err = errno;
			continue;
		}
		if (fdatasync(mfd) < 0)
			err = errno;
		close(mfd);
	}
	/* One fsync of q/ covers the renames and the removals. */
	if (err == 0 && fsync(s->q_fd) < 0)
		err = errno;
	if (err == 0)
		err = bury(s, seg->seq, name);
	if (err == 0 && fsync(j->dir_fd) < 0)
		err = errno;
	errno = err;
	return err == 0 ? 0 : -1;
}

void spool_journal_retire_pending(struct spool *s)
{
	struct spool_journal *j = &s->journal;
	char ebuf[128];
	size_t done = 0;

	while (done < j->nretire) {
		if (retire(s, &j->retire[done]) < 0) {
			log_error("-",
			          "spool: retire journal segment %" PRIx64
			          ": %s; kept, tried again later",
			          j->retire[done].seq,
			          strerror_r(errno, ebuf, sizeof(ebuf)));
			break;
		}
		spool_journal_seg_free(&j->retire[done]);
		done++;
	}
	if (done == 0)
		return;
	memmove(j->retire, j->retire + done,
	        (j->nretire - done) * sizeof(*j->retire));
	j->nretire -= done;
}
