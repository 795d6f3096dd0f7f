/*
 * spool.h - routerd's durable message store, with group commit.
 *
 * THE PROMISE. spool_msg_commit()'s callback reports success only when
 * the message's data and envelope are on stable storage in a form that
 * spool_open() will find: either in a journal segment that was
 * fdatasync()ed (and whose name was made durable when it was created), or
 * as its own file, fdatasync()ed, renamed from tmp/ into q/, with q/
 * fsync()ed after the rename. routerd sends 250 to DATA from that
 * callback and from nowhere else. After kill -9 or a power cut at any
 * moment, spool_open() finds every message whose callback reported
 * success, complete and verified (restoring q/<id> from the journal when
 * the crash took the page-cache copy).

 * LAYOUT of the directory given to spool_open() (created 0700 if missing):
 *     lock          flock()ed by the one process using the spool
 *     tmp/          files being written; never acknowledged, removed by
 *                   spool_open()
 *     q/<id>        one file per acknowledged message (id: spool_id.h)
 *     q/<id>.state  optional: a newer envelope for <id> (recipient states)
 *     corrupt/      files that failed verification, moved aside (never
 *                   deleted silently)
 *     journal/j<16 hex digits>  write-ahead journal segments
 *                   (spool_journal.c): copies of recent messages and
 *                   removals, until their q/ files are durable by
 *                   themselves
 *
 * MESSAGE FILE q/<id>: a 32-byte header (lengths and CRCs), the message
 * data, the envelope (a spoolrec record); the bytes of this and every
 * other file and name here are spoolfmt.h's. The data is streamed first
 * (its length is not known in advance) behind a zeroed header; commit
 * appends the envelope and pwrite()s the header. A file whose header,
 * size or envelope does not verify is moved to corrupt/; the data CRC is
 * checked by spool_load() (it would cost a full read of the queue at
 * start-up).
 *
 * STATE FILE q/<id>.state: a complete envelope record for the same id,
 * written by spool_update() (tmp/ + fdatasync + rename + fsync q/). When
 * present and valid it replaces the envelope in the message file; the
 * message file itself is never rewritten. A stale or lost update only
 * makes a recipient be tried again (at-least-once), never lost.
 *
 * GROUP COMMIT. Commits, updates and removals are queued to one worker
 * thread. The worker takes everything queued so far as one batch: (1) it
 * appends a copy of every message of the batch up to 1 MiB, and a record
 * of every removal, to the active journal segment with one write and
 * fdatasync()s the segment once; (2) fdatasync()s the file of every other
 * commit and update, back to back; (3) renames each file into q/
 * (renameat2 RENAME_NOREPLACE: a message is never overwritten) or unlinks
 * what is removed, in queue order; (4) fsync()s q/ once if (2) had
 * anything; then hands the batch back to the event loop through a pipe,
 * where the callbacks run. While a batch is being synced the next one
 * accumulates, so under load N messages share one fdatasync. Batching
 * changes only when callbacks run, never what they promise. A journaled
 * removal is durable before its unlink, so recovery does not resurrect a
 * delivered message. When a segment outgrows its limit (32 MiB), the
 * worker starts a new one and retires the old: it fdatasyncs each of the
 * old one's messages still in q/, fsyncs q/, and only then unlinks it.
 * A journal write or sync error makes the batch fall back to (2)-(4).
 * tmp/ is never fsynced: an entry there is worthless after a crash.
 *
 * THREADS. Everything here is called from the loop thread only; callbacks
 * run in the loop thread, never from inside the call that queued them.
 *
 * Errors: -1 with *error_r set to a printable reason that stays valid
 * until the next call on the same spool (or, for spool_open(), the next
 * spool_open()). A failure of one message is that message's temporary
 * failure (4xx), never the daemon's.
 */
#ifndef DIRMX_SPOOL_H
#define DIRMX_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool_id.h"
#include "spoolfmt.h"
#include "spoolrec.h"

struct event_base;
struct spool;
struct spool_msg;

#define SPOOL_HEADER_LEN SPOOLFMT_MSG_HEADER_LEN

/* result 0: durable. -1: not stored (error says why); answer 4xx. */
typedef void spool_done_cb(void *context, int result, const char *error);
/* Called for each message found at open, oldest first. */
typedef void spool_foreach_cb(void *context, const char *id);

/*
 * Open (creating it if needed) and recover the spool in dir: empty tmp/,
 * verify every q/ file, move bad ones to corrupt/ with a log line, drop
 * orphan .state files, and start the worker. Fails when another process
 * holds the spool.
 */
int spool_open(struct event_base *base, const char *dir, struct spool **spool_r,
               const char **error_r);
/*
 * Wait for queued operations to finish on disk, stop the worker, free.
 * Callbacks still pending are dropped, not called. Not from a callback.
 */
void spool_deinit(struct spool **spool);

/* The ids q/ held at open, after recovery, in time order. */
void spool_foreach(struct spool *spool, spool_foreach_cb *cb, void *context);

/* Start a message: a new id and a file in tmp/. */
int spool_msg_begin(struct spool *spool, struct spool_msg **msg_r,
                    const char **error_r);
const char *spool_msg_id(const struct spool_msg *msg);

/* Bytes free for routerd's user on the spool's file system (fstatvfs:
 * f_bavail, asked at most once a second), or -1 with *error_r. */
int spool_free_space(struct spool *s, uint64_t *bytes_r, const char **error_r);
/* Append message data (buffered). After an error, every later call fails. */
int spool_msg_write(struct spool_msg *msg, const void *data, size_t len,
                    const char **error_r);
/* The message data written so far: its length, and up to len octets of
 * it from off (*n_r 0 at the end), before commit. For the mail filters,
 * which read back what the client sent. */
uint64_t spool_msg_size(const struct spool_msg *msg);
int spool_msg_read(struct spool_msg *msg, uint64_t off, void *buf, size_t len,
                   size_t *n_r, const char **error_r);
/* Before commit: msg takes the id of a message begun earlier and
 * aborted since (a rewritten message keeps the queue ID the client and
 * the mail filters were told). */
int spool_msg_take_id(struct spool_msg *msg, const char *id,
                      const char **error_r);
/*
 * Write the envelope (env->id must be spool_msg_id()) and queue the
 * message for the next group commit; cb runs later from the loop, exactly
 * once, unless spool_msg_abort() comes first, and msg is freed when cb
 * returns. On -1 nothing was queued and cb will not run: the caller still
 * owns msg and must abort it. Every message begun must be committed or
 * aborted before spool_deinit().
 */
int spool_msg_commit(struct spool_msg *msg, const struct spoolrec *env,
                     spool_done_cb *cb, void *context, const char **error_r);
/*
 * Before commit: remove the temp file and free msg. After a commit that
 * has not called back yet (the client went away): its callback will not
 * run, the message itself still becomes durable (the client saw no 250:
 * at worst a duplicate, which SMTP allows) and is then reported to the
 * orphan callback. Sets *msg to NULL.
 */
void spool_msg_abort(struct spool_msg **msg);

/*
 * A message whose commit was aborted (above) has become durable: cb tells
 * its owner, from the loop, so that it is delivered now rather than found
 * at the next start. NULL cb: nobody is told.
 */
typedef void spool_orphan_cb(void *context, const char *id);
void spool_set_orphan_cb(struct spool *spool, spool_orphan_cb *cb,
                         void *context);

/*
 * Where the data of a loaded message is: len octets at offset of fd, and
 * also at mem when the file was small enough to be read whole (NULL
 * otherwise). spool_data_close() closes and frees both.
 */
struct spool_data {
	int fd;
	uint64_t offset;
	uint64_t len;
	const unsigned char *mem;
	void *block; /* private: what mem points into */
};

/* Files up to this size are read whole by spool_load(), in one read. */
#define SPOOL_LOAD_WHOLE_MAX (64u * 1024)

/*
 * Load q/<id>: its current envelope (the .state one when present) and an
 * open descriptor on its data, whose CRC has been checked (or, for the
 * first load of a message just committed, its data in memory only). 1 found, 0
 * no such message, -1 error (a file that fails verification is moved to
 * corrupt/ first).
 */
int spool_load(struct spool *spool, const char *id, struct spoolrec **env_r,
               struct spool_data *data_r, const char **error_r);
/* Close and free what spool_load() gave (fd -1, mem NULL: nothing). */
void spool_data_close(struct spool_data *data);
/* Durably replace the envelope of env->id (recipient states). */
int spool_update(struct spool *spool, const struct spoolrec *env,
                 spool_done_cb *cb, void *context, const char **error_r);
/* Durably remove q/<id> and its state file; every recipient is done. */
int spool_remove(struct spool *spool, const char *id, spool_done_cb *cb,
                 void *context, const char **error_r);

struct spool_stats {
	uint64_t batches;       /* group commits done */
	uint64_t ops;           /* commits + updates + removals in them */
	uint64_t journal_syncs; /* fdatasyncs of the journal */
};
void spool_get_stats(struct spool *spool, struct spool_stats *stats_r);
/* Tests: while held, the worker takes nothing from its queue (so that
 * what is queued meanwhile is one batch, whatever the machine's speed). */
void spool_hold_worker(struct spool *spool, bool hold);
/* Tuning for tests: rotate journal segments beyond this many bytes. */
void spool_set_journal_segment_max(struct spool *spool, uint64_t bytes);

#endif
