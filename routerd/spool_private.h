/*
 * spool_private.h - what spool.c (open, recovery, reading) and
 * spool_commit.c (writing, the group-commit worker) share.
 *
 * Threads: the loop thread owns struct spool and every struct spool_msg.
 * The worker only touches the queue and done lists under s->lock, the
 * spool_op it took from the queue (fd, names, result, error) until it
 * hands it back on the done list, and s->journal (which has its own error
 * slot: the worker never writes s->error). An op's cancelled and msg
 * fields belong to the loop thread throughout.
 */
#ifndef DIRMX_SPOOL_PRIVATE_H
#define DIRMX_SPOOL_PRIVATE_H

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/queue.h>

#include "spool.h"
#include "spoolfmt.h"

struct event;

#define SPOOL_ERROR_MAX 256

enum spool_op_kind {
	SPOOL_OP_COMMIT,
	SPOOL_OP_UPDATE,
	SPOOL_OP_REMOVE,
};

struct spool_op {
	STAILQ_ENTRY(spool_op) link; /* in queue, a batch or done */
	enum spool_op_kind kind;
	int fd;                           /* to fdatasync; -1 for REMOVE */
	char tmp_name[SPOOLFMT_NAME_MAX]; /* in tmp/ */
	char q_name[SPOOLFMT_NAME_MAX];   /* in q/ */
	char id[SPOOL_ID_LEN + 1];
	uint64_t size; /* COMMIT: bytes in the file */
	/* COMMIT: the file's bytes, when they were written from one buffer
	 * (a message up to SPOOLFMT_IMAGE_MAX): the journal copies them from
	 * here instead of reading the file back. NULL otherwise. */
	unsigned char *image;
	/* COMMIT: no file was written (image only): the worker journals the
	 * image and leaves the message in the journal alone (journal_only),
	 * or writes the file when the journal cannot take it. */
	bool no_file;
	bool journal_only; /* worker: set when it did */
	/* COMMIT of a journal-only message's file, written by the loop:
	 * rename it into q/ (one already there is as good), nothing to
	 * journal or sync (the journal holds it until its segment retires,
	 * and that syncs what is in q/). */
	bool materialize;
	bool journaled; /* worker: durable through the journal */
	/* worker: where spool_journal_add() put a COMMIT's payload */
	uint64_t jseq, joff;
	int result;
	char error[SPOOL_ERROR_MAX];
	/* loop thread only */
	spool_done_cb *cb;
	void *context;
	struct spool_msg *msg; /* COMMIT: freed after the callback */
	bool cancelled;
	uint64_t queued_us; /* for the commit latency (rstats.h) */
};
STAILQ_HEAD(spool_op_list, spool_op);
TAILQ_HEAD(spool_recent_list, spool_recent);

/* Messages larger than SPOOLFMT_IMAGE_MAX are synced file by file, not
 * journaled. */
#define SPOOL_JOURNAL_SEGMENT_MAX (32 * 1024 * 1024)

/* A message only the journal holds (no file in q/ yet): where its
 * record's payload is. */
struct spool_journal_live {
	char id[SPOOL_ID_LEN + 1];
	uint32_t len;
	uint64_t seq, off; /* its segment; the payload's offset there */
};

/* What the worker remembers of a segment it wrote, so that retiring it
 * needs no read of it: the messages it made durable that have a file in
 * q/, which the retirement fdatasyncs. (The journal-only ones are in
 * the live list.) */
struct spool_journal_seg {
	uint64_t seq;
	char (*files)[SPOOL_ID_LEN + 1];
	size_t nfiles, capfiles;
};

/* spool_journal.c's state; the worker's alone once it runs. */
struct spool_journal {
	int dir_fd;       /* journal/ */
	int seg_fd;       /* the active segment; -1: none, sync each file */
	uint64_t seg_seq; /* its number (the last tried, when seg_fd < 0) */
	uint64_t seg_size, seg_max;
	bool broken;        /* a write or sync failed: never append again */
	bool create_failed; /* logged once */
	struct spool_journal_seg cur; /* the active segment's files */
	/* older segments still needed, oldest first */
	struct spool_journal_seg *retire;
	size_t nretire;
	/* Messages only the journal holds, sorted by id: a retiring
	 * segment writes their files from its records. */
	struct spool_journal_live *live;
	size_t nlive, caplive;
	/* A retired segment, renamed out of the log, whose blocks are freed
	 * a slice per batch (spool_retire.c); -1: none. */
	int dead_fd;
	uint64_t dead_seq, dead_size;
	unsigned char *buf; /* the batch's records */
	size_t len, cap;
	uint64_t syncs;
	char error[SPOOL_ERROR_MAX]; /* spool_journal.c's, never s->error */
};

struct spool {
	struct event_base *base;
	int dir_fd, tmp_fd, q_fd, corrupt_fd, lock_fd;
	struct spool_journal journal;
	struct spool_id last_id;
	uint64_t tmp_seq;
	char (*recovered)[SPOOL_ID_LEN + 1];
	size_t recovered_count;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct spool_op_list queue; /* loop -> worker */
	struct spool_op_list done;  /* worker -> loop */
	bool stopping;
	bool held; /* spool_hold_worker(): tests only */
	struct spool_stats stats;
	uint64_t seg_max_wanted;    /* for the journal, under lock */
	spool_orphan_cb *orphan_cb; /* loop thread only */
	void *orphan_ctx;
	int notify_rd, notify_wr;
	struct event *notify_event;
	/* spool_recent.c: images of messages just committed */
	struct spool_recent_list recent;
	size_t recent_n, recent_bytes;
	/* spool_free_space(): fstatvfs() at most once a second */
	uint64_t free_space, free_space_ms;

	char error[SPOOL_ERROR_MAX];
};

/* spool_io.c */
/* Set s->error (printf style) and point *error_r at it; returns -1.
 * Loop thread only. */
int spool_fail(struct spool *s, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Move q/<name> to corrupt/ with a log line. */
void spool_move_corrupt(struct spool *s, const char *name, const char *why);

/* Read the directory open on fd through a close-on-exec duplicate, from
 * its start; closedir() closes the duplicate. NULL: errno, nothing
 * leaked. */
DIR *spool_opendir(int fd);
/* Whole writes and reads, retrying EINTR and short counts; -1: errno. */
int spool_write_all(int fd, const void *p, size_t len);
int spool_read_full(int fd, void *p, size_t len, uint64_t off);

/*
 * Check a message file open on fd (readable) named id: header, size,
 * envelope and, when data is set, the data CRC. NULL when good.
 */
const char *spool_check_file(int fd, const char *id, bool data);
/* The header, size and envelope of q/<id> open on fd: NULL when good,
 * with *h and *env_r filled; else why not. */
struct spoolfmt_msg_header;
const char *spool_verify_msg(int fd, const char *id,
                             struct spoolfmt_msg_header *h,
                             struct spoolrec **env_r);
/* The data of a verified file matches its CRC. */
bool spool_data_crc_ok(int fd, const struct spoolfmt_msg_header *h);
/* spool_verify_msg() and spool_data_crc_ok() at once, of a message file
 * read whole into file[0..size). */
const char *spool_verify_whole(const unsigned char *file, size_t size,
                               const char *id, struct spoolfmt_msg_header *h,
                               struct spoolrec **env_r);

/* spool_journal.c. Open: replay what journal/ holds into q/ (tmp/ must be
 * empty), remove it, start a new segment. */
int spool_journal_open(struct spool *s, const char **error_r);
/* Worker: put op's record into the batch; false: sync op's file instead. */
bool spool_journal_add(struct spool *s, struct spool_op *op);
/* Worker: write the batch's records and fdatasync; -1: none is durable. */
int spool_journal_sync(struct spool *s);
/* Worker, between batches: rotate a full or broken segment, retire old
 * ones. closing: retire the active one too. */
void spool_journal_maintain(struct spool *s, bool closing);
/* After the worker stopped: retire everything, free. */
void spool_journal_close(struct spool *s);

/* spool_recent.c (loop thread). Keep the durable image of id (the whole
 * file, size octets; taken from *imagep); take it back once, for the
 * message's first load; forget it (the message changed or went). A
 * journal-only message (no file in q/) is kept until its file is written:
 * a load gets a copy, and an update writes the file first. */
void spool_recent_add(struct spool *s, const char *id, unsigned char **imagep,
                      size_t size, bool journal_only);
/* A journal-only message's file is in q/ now (result 0), or not. */
void spool_recent_materialized(struct spool *s, const char *id, int result);
/* spool_commit.c: queue the rename of tmp/<id> (written by the loop from
 * a journal-only message's image) into q/. */
int spool_materialize(struct spool *s, const char *id,
                      const unsigned char *image, size_t size);
bool spool_recent_take(struct spool *s, const char *id, unsigned char **image_r,
                       size_t *size_r);
void spool_recent_drop(struct spool *s, const char *id, bool keep_file);
void spool_recent_clear(struct spool *s);

/* spool_retire.c (worker). op's message is held by the journal alone
 * (its record where op->jseq and op->joff say). */
void spool_journal_live_add(struct spool *s, const struct spool_op *op);
/* id is no longer held by the journal alone. true when it was (then it
 * has no file in q/, nor a state file). */
bool spool_journal_live_del(struct spool *s, const char *id);
/* A journal-only message's file is in q/ now, not yet synced: its
 * segment's retirement syncs it. */
void spool_journal_live_filed(struct spool *s, const char *id);
/* The active segment made id's file in q/ durable. */
void spool_journal_seg_file(struct spool_journal_seg *seg, const char *id);
/* Retire the segments waiting for it, oldest first, until one fails. */
void spool_journal_retire_pending(struct spool *s);
/* Free the next slice of the retired segment's blocks; all of them (and
 * its name) when all is set. */
void spool_journal_shrink_dead(struct spool *s, bool all);
/* name (in journal/) is a retired segment that was not freed in full:
 * spool_journal_open() removes it. */
bool spool_journal_is_dead(const char *name);
void spool_journal_seg_free(struct spool_journal_seg *seg);

/* spool_commit.c: start and stop the worker and its notify event. */
int spool_worker_start(struct spool *s, const char **error_r);
void spool_worker_stop(struct spool *s);

#endif
