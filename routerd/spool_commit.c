/*
 * spool_commit - write messages into the spool and make them durable in
 * groups; see spool.h for the promise and the file format.
 *
 * The loop thread does the cheap part: it creates tmp/<id>, streams the
 * data into it through a 64 KiB buffer, appends the envelope and writes
 * the header, all into the page cache. The worker thread does the slow
 * part, for a whole batch at a time: fdatasync every file, rename them
 * into q/, fsync q/ once. Results come back through a pipe watched by a
 * libevent event, so every callback runs in the loop thread, after the
 * call that queued it has returned.
 */
#include "spool_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "alloc.h"
#include "log.h"
#include "rstats.h"
#include "sbuf.h"
#include "spoolfmt.h"

#define MSG_BUF_SIZE 65536

struct spool_msg {
	struct spool *spool;
	char id[SPOOL_ID_LEN + 1];
	int fd;
	unsigned char *buf;
	size_t buf_len;
	uint64_t data_len;
	uint32_t data_crc;
	uint32_t env_len;
	bool failed;
	bool image; /* buf holds the whole file as written (msg_finish) */
	struct spool_op *op; /* set by commit */
	char error[SPOOL_ERROR_MAX];
};

static int msg_fail(struct spool_msg *msg, const char **error_r,
                    const char *what)
{
	char ebuf[128];

	if (!msg->failed) {
		snprintf(msg->error, sizeof(msg->error), "%s tmp/%s: %s", what,
		         msg->id, strerror_r(errno, ebuf, sizeof(ebuf)));
		msg->failed = true;
	}
	*error_r = msg->error;
	return -1;
}

static void enqueue(struct spool *s, struct spool_op *op)
{
	pthread_mutex_lock(&s->lock);
	STAILQ_INSERT_TAIL(&s->queue, op, link);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void op_free(struct spool_op *op)
{
	if (op == NULL)
		return;
	free(op->image);
	free(op);
}

static struct spool_op *op_new(enum spool_op_kind kind, const char *id,
                               spool_done_cb *cb, void *context)
{
	struct spool_op *op = alloc_new(struct spool_op);

	op->kind = kind;
	op->fd = -1;
	snprintf(op->id, sizeof(op->id), "%s", id);
	op->cb = cb;
	op->context = context;
	op->queued_us = metrics_now_us();
	return op;
}

int spool_msg_begin(struct spool *s, struct spool_msg **msg_r,
                    const char **error_r)
{
	struct timespec ts;
	uint64_t now_us = 0;
	struct spool_msg *msg;
	char id[SPOOL_ID_LEN + 1];

	*msg_r = NULL;
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > 0)
		now_us =
		    (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	s->last_id = spool_id_new(now_us, s->last_id);
	spool_id_format(s->last_id, id);
	msg = alloc_new(struct spool_msg);
	msg->spool = s;
	memcpy(msg->id, id, sizeof(id));
	/* tmp/<id> is made when the buffer first overflows: a message that
	 * fits is written from memory, into the journal only. */
	msg->fd = -1;
	/* Zeroes where the header goes: no magic until commit. The rest is
	 * filled before it is written: not zeroed. */
	msg->buf = alloc_resize(NULL, MSG_BUF_SIZE, 1);
	memset(msg->buf, 0, SPOOLFMT_MSG_HEADER_LEN);
	msg->buf_len = SPOOLFMT_MSG_HEADER_LEN;
	*msg_r = msg;
	return 0;
}

const char *spool_msg_id(const struct spool_msg *msg)
{
	return msg->id;
}

static int msg_flush(struct spool_msg *msg, const char **error_r)
{
	/* Readable too: the worker copies small files into the journal. */
	if (msg->fd < 0 &&
	    (msg->fd = openat(msg->spool->tmp_fd, msg->id,
	                      O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return msg_fail(msg, error_r, "create");
	if (spool_write_all(msg->fd, msg->buf, msg->buf_len) < 0)
		return msg_fail(msg, error_r, "write");
	msg->buf_len = 0;
	return 0;
}

int spool_msg_write(struct spool_msg *msg, const void *data, size_t len,
                    const char **error_r)
{
	if (msg->failed || msg->op != NULL) {
		*error_r =
		    msg->failed ? msg->error : "message already committed";
		return -1;
	}
	msg->data_crc = spoolrec_crc32(msg->data_crc, data, len);
	msg->data_len += len;
	if (msg->buf_len + len > MSG_BUF_SIZE) {
		if (msg_flush(msg, error_r) < 0)
			return -1;
		if (len >= MSG_BUF_SIZE) {
			if (spool_write_all(msg->fd, data, len) < 0)
				return msg_fail(msg, error_r, "write");
			return 0;
		}
	}
	memcpy(msg->buf + msg->buf_len, data, len);
	msg->buf_len += len;
	return 0;
}

int spool_msg_take_id(struct spool_msg *msg, const char *id,
                      const char **error_r)
{
	char ebuf[128];

	if (msg->op != NULL || strlen(id) != SPOOL_ID_LEN) {
		*error_r = "cannot rename this message";
		return -1;
	}
	/* A message that fits the buffer has no file to rename. */
	if (msg->fd >= 0 &&
	    renameat(msg->spool->tmp_fd, msg->id, msg->spool->tmp_fd, id) < 0) {
		snprintf(msg->error, sizeof(msg->error),
		         "rename tmp/%s to tmp/%s: %s", msg->id, id,
		         strerror_r(errno, ebuf, sizeof(ebuf)));
		*error_r = msg->error;
		return -1;
	}
	memcpy(msg->id, id, SPOOL_ID_LEN + 1);
	return 0;
}

uint64_t spool_msg_size(const struct spool_msg *msg)
{
	return msg->data_len;
}

int spool_msg_read(struct spool_msg *msg, uint64_t off, void *buf, size_t len,
                   size_t *n_r, const char **error_r)
{
	/* The buffer holds the file's last buf_len octets; the rest is in
	 * the file. */
	uint64_t pos = SPOOLFMT_MSG_HEADER_LEN + off;
	uint64_t end = SPOOLFMT_MSG_HEADER_LEN + msg->data_len;
	uint64_t buf_start = end - msg->buf_len;
	ssize_t r;

	*n_r = 0;
	if (msg->failed || msg->op != NULL) {
		*error_r =
		    msg->failed ? msg->error : "message already committed";
		return -1;
	}
	if (off >= msg->data_len)
		return 0;
	if (len > end - pos)
		len = (size_t)(end - pos);
	if (pos >= buf_start) {
		memcpy(buf, msg->buf + (pos - buf_start), len);
		*n_r = len;
		return 0;
	}
	if (len > buf_start - pos)
		len = (size_t)(buf_start - pos);
	r = pread(msg->fd, buf, len, (off_t)pos);
	if (r < 0)
		return msg_fail(msg, error_r, "read");
	*n_r = (size_t)r;
	return 0;
}

static int msg_finish(struct spool_msg *msg, const struct spoolrec *env,
                      const char **error_r)
{
	unsigned char hdr[SPOOLFMT_MSG_HEADER_LEN];
	struct spoolfmt_msg_header h;
	struct sbuf *e = sbuf_new(SPOOLREC_MAX_LEN);
	int ret = -1;

	if (strcmp(env->id, msg->id) != 0) {
		*error_r = "envelope id is not the message id";
		goto done;
	}
	if (spoolrec_format(env, e, error_r) < 0)
		goto done;
	h.data_len = msg->data_len;
	h.env_len = (uint32_t)sbuf_len(e);
	h.env_crc = spoolrec_crc32(0, sbuf_data(e), sbuf_len(e));
	h.data_crc = msg->data_crc;
	if (spoolfmt_msg_header_encode(&h, hdr, error_r) < 0)
		goto done;
	msg->env_len = h.env_len;
	if (msg->buf_len == SPOOLFMT_MSG_HEADER_LEN + msg->data_len &&
	    msg->buf_len + sbuf_len(e) <= SPOOLFMT_IMAGE_MAX) {
		/* Nothing written yet: the whole file in memory, for the
		 * worker to journal (or write, if the journal cannot). */
		size_t size = msg->buf_len + sbuf_len(e);

		if (size > MSG_BUF_SIZE)
			msg->buf = alloc_resize(msg->buf, size, 1);
		memcpy(msg->buf, hdr, sizeof(hdr));
		memcpy(msg->buf + msg->buf_len, sbuf_data(e), sbuf_len(e));
		msg->buf_len = size;
		msg->image = true;
		ret = 0;
		goto done;
	}
	if (msg_flush(msg, error_r) < 0)
		goto done;
	if (spool_write_all(msg->fd, sbuf_data(e), sbuf_len(e)) < 0) {
		ret = msg_fail(msg, error_r, "write");
		goto done;
	}
	if (pwrite(msg->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		ret = msg_fail(msg, error_r, "write header");
		goto done;
	}
	ret = 0;
done:
	sbuf_deinit(&e);
	return ret;
}

int spool_msg_commit(struct spool_msg *msg, const struct spoolrec *env,
                     spool_done_cb *cb, void *context, const char **error_r)
{
	struct spool_op *op;

	if (msg->failed || msg->op != NULL) {
		*error_r =
		    msg->failed ? msg->error : "message already committed";
		return -1;
	}
	if (msg_finish(msg, env, error_r) < 0)
		return -1;
	op = op_new(SPOOL_OP_COMMIT, msg->id, cb, context);
	op->fd = msg->fd;
	op->no_file = msg->fd < 0;
	op->size = SPOOLFMT_MSG_HEADER_LEN + msg->data_len + msg->env_len;
	msg->fd = -1;
	snprintf(op->tmp_name, sizeof(op->tmp_name), "%s", msg->id);
	snprintf(op->q_name, sizeof(op->q_name), "%s", msg->id);
	op->msg = msg;
	msg->op = op;
	if (msg->image)
		op->image = msg->buf; /* == the file: op->size bytes */
	else
		free(msg->buf);
	msg->buf = NULL;
	enqueue(msg->spool, op);
	return 0;
}

static void msg_free(struct spool_msg *msg)
{
	if (msg->fd >= 0)
		close(msg->fd);
	free(msg->buf);
	free(msg);
}

void spool_msg_abort(struct spool_msg **msgp)
{
	struct spool_msg *msg = *msgp;

	if (msg == NULL)
		return;
	*msgp = NULL;
	if (msg->op != NULL) {
		/* Committed: the worker owns the file now. */
		msg->op->cancelled = true;
		msg->op->msg = NULL;
	} else if (msg->fd >= 0) {
		(void)unlinkat(msg->spool->tmp_fd, msg->id, 0);
	}
	msg_free(msg);
}

int spool_update(struct spool *s, const struct spoolrec *env, spool_done_cb *cb,
                 void *context, const char **error_r)
{
	struct sbuf *e = sbuf_new(SPOOLREC_MAX_LEN);
	struct spool_op *op = NULL;
	int ret = -1;

	if (spoolrec_format(env, e, error_r) < 0)
		goto done;
	spool_recent_drop(s, env->id, true);
	op = op_new(SPOOL_OP_UPDATE, env->id, cb, context);
	spoolfmt_state_tmp_name(env->id, ++s->tmp_seq, op->tmp_name);
	spoolfmt_state_name(env->id, op->q_name);
	op->fd = openat(s->tmp_fd, op->tmp_name,
	                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (op->fd < 0) {
		spool_fail(s, error_r, "create tmp/%s: %s", op->tmp_name,
		           strerror(errno));
		goto done;
	}
	if (spool_write_all(op->fd, sbuf_data(e), sbuf_len(e)) < 0) {
		spool_fail(s, error_r, "write tmp/%s: %s", op->tmp_name,
		           strerror(errno));
		(void)unlinkat(s->tmp_fd, op->tmp_name, 0);
		close(op->fd);
		goto done;
	}
	enqueue(s, op);
	op = NULL;
	ret = 0;
done:
	op_free(op);
	sbuf_deinit(&e);
	return ret;
}

int spool_remove(struct spool *s, const char *id, spool_done_cb *cb,
                 void *context, const char **error_r)
{
	struct spool_id sid;
	struct spool_op *op;

	if (!spool_id_parse(id, strlen(id), &sid))
		return spool_fail(s, error_r, "invalid queue id");
	spool_recent_drop(s, id, false);
	op = op_new(SPOOL_OP_REMOVE, id, cb, context);
	snprintf(op->q_name, sizeof(op->q_name), "%s", id);
	enqueue(s, op);
	return 0;
}

int spool_materialize(struct spool *s, const char *id,
                      const unsigned char *image, size_t size)
{
	struct spool_op *op = op_new(SPOOL_OP_COMMIT, id, NULL, NULL);
	int fd;

	op->materialize = true;
	snprintf(op->tmp_name, sizeof(op->tmp_name), "%s", id);
	snprintf(op->q_name, sizeof(op->q_name), "%s", id);
	fd = openat(s->tmp_fd, id, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	            0600);
	if (fd < 0 || spool_write_all(fd, image, size) < 0) {
		log_error(id, "spool: write tmp/%s: %s", id, strerror(errno));
		if (fd >= 0) {
			close(fd);
			(void)unlinkat(s->tmp_fd, id, 0);
		}
		op_free(op);
		return -1;
	}
	close(fd);
	enqueue(s, op);
	return 0;
}

/* ---- the worker thread ---- */

static void op_fail(struct spool_op *op, const char *what, int err)
{
	char ebuf[128];

	op->result = -1;
	snprintf(op->error, sizeof(op->error), "%s %s: %s", what, op->id,
	         strerror_r(err, ebuf, sizeof(ebuf)));
}

/* Step (2) for one op: make it visible in q/. True when q/ changed. */
/* Worker: a message the journal could not take gets its file now. */
static void worker_write_file(struct spool *s, struct spool_op *op)
{
	op->fd = openat(s->tmp_fd, op->tmp_name,
	                O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (op->fd < 0) {
		op_fail(op, "create", errno);
		return;
	}
	if (spool_write_all(op->fd, op->image, (size_t)op->size) < 0)
		op_fail(op, "write", errno);
	op->no_file = false;
}

static bool worker_publish(struct spool *s, struct spool_op *op)
{
	char name[SPOOLFMT_NAME_MAX];
	struct stat st;

	switch (op->kind) {
	case SPOOL_OP_COMMIT:
		if (op->no_file) {
			/* Journaled, and nothing else: the journal holds it
			 * until its segment retires (spool_journal.c). */
			spool_journal_live_add(s, op);
			op->journal_only = true;
			return true;
		}
		if (renameat2(s->tmp_fd, op->tmp_name, s->q_fd, op->q_name,
		              RENAME_NOREPLACE) == 0 ||
		    (op->materialize && errno == EEXIST)) {
			/* A retired segment may have written it first. */
			if (op->materialize) {
				(void)unlinkat(s->tmp_fd, op->tmp_name, 0);
				spool_journal_live_filed(s, op->id);
			}
			return true;
		}
		op_fail(op, "rename", errno);
		break;
	case SPOOL_OP_UPDATE:
		/* Never leave a state file without its message. */
		if (fstatat(s->q_fd, op->id, &st, 0) < 0)
			op_fail(op, "update", errno);
		else if (renameat(s->tmp_fd, op->tmp_name, s->q_fd,
		                  op->q_name) == 0)
			return true;
		else
			op_fail(op, "rename", errno);
		break;
	case SPOOL_OP_REMOVE:
		if (spool_journal_live_del(s, op->id))
			return true; /* only the journal had it */
		if (unlinkat(s->q_fd, op->id, 0) < 0 && errno != ENOENT) {
			op_fail(op, "unlink", errno);
			return false;
		}
		spoolfmt_state_name(op->id, name);
		(void)unlinkat(s->q_fd, name, 0);
		return true;
	}
	(void)unlinkat(s->tmp_fd, op->tmp_name, 0);
	return false;
}

static uint64_t worker_batch(struct spool *s, struct spool_op_list *batch)
{
	struct spool_op *op;
	uint64_t n = 0;
	bool journaled = false, changed = false;
	int err;

	/* (1) Small commits and every removal: one append, one fdatasync. */
	STAILQ_FOREACH(op, batch, link) {
		n++;
		op->journaled =
		    op->kind != SPOOL_OP_UPDATE && spool_journal_add(s, op);
		journaled |= op->journaled;
	}
	if (journaled && spool_journal_sync(s) < 0) {
		STAILQ_FOREACH(op, batch, link)
			op->journaled = false;
	}
	/* (2) The others: data and size of each file, back to back (a
	 * message kept in memory gets its file first). */
	STAILQ_FOREACH(op, batch, link) {
		if (op->no_file && !op->journaled)
			worker_write_file(s, op);
		if (op->fd < 0)
			continue;
		if (!op->journaled && fdatasync(op->fd) < 0)
			op_fail(op, "fdatasync", errno);
		close(op->fd);
		op->fd = -1;
	}
	/* (3) Names, in queue order (an update after its commit). */
	STAILQ_FOREACH(op, batch, link) {
		if (op->result < 0) {
			if (op->kind != SPOOL_OP_REMOVE)
				(void)unlinkat(s->tmp_fd, op->tmp_name, 0);
			continue;
		}
		if (worker_publish(s, op) && !op->journaled && !op->materialize)
			changed = true;
	}
	/* (4) One directory fsync makes every rename of the batch durable
	 * that the journal does not cover. */
	if (changed && fsync(s->q_fd) < 0) {
		err = errno;
		STAILQ_FOREACH(op, batch, link) {
			if (op->result == 0 && !op->journaled)
				op_fail(op, "fsync q/ for", err);
		}
	}
	return n;
}

static void *worker_main(void *arg)
{
	struct spool *s = arg;
	struct spool_op_list batch;
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while ((STAILQ_EMPTY(&s->queue) || s->held) && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		if (STAILQ_EMPTY(&s->queue))
			break;
		STAILQ_INIT(&batch);
		STAILQ_CONCAT(&batch, &s->queue);
		pthread_mutex_unlock(&s->lock);

		n = worker_batch(s, &batch);

		pthread_mutex_lock(&s->lock);
		STAILQ_CONCAT(&s->done, &batch);
		s->stats.batches++;
		s->stats.ops += n;
		s->stats.journal_syncs = s->journal.syncs;
		s->journal.seg_max = s->seg_max_wanted;
		pthread_mutex_unlock(&s->lock);
		/* A full pipe already holds a wake-up: EAGAIN is fine. */
		(void)!write(s->notify_wr, "", 1);
		/* After the callbacks are on their way, not before. */
		spool_journal_maintain(s, false);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Move every finished op to *list (empty before). */
static void take_done(struct spool *s, struct spool_op_list *list)
{
	STAILQ_INIT(list);
	pthread_mutex_lock(&s->lock);
	STAILQ_CONCAT(list, &s->done);
	pthread_mutex_unlock(&s->lock);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spool *s = arg;
	char drain[64];
	struct spool_op_list done;
	struct spool_op *op;

	while (read(fd, drain, sizeof(drain)) > 0)
		;
	take_done(s, &done);
	while ((op = STAILQ_FIRST(&done)) != NULL) {
		STAILQ_REMOVE_HEAD(&done, link);
		if (op->result < 0)
			log_error(op->id, "spool: %s", op->error);
		else if (op->kind == SPOOL_OP_COMMIT && !op->materialize) {
			metrics_hist_observe(&rstats.spool_commit,
			                     metrics_now_us() - op->queued_us);
			if (op->image != NULL)
				spool_recent_add(s, op->id, &op->image,
				                 (size_t)op->size,
				                 op->journal_only);
		}
		if (op->materialize)
			spool_recent_materialized(s, op->id, op->result);
		if (!op->cancelled && op->cb != NULL)
			op->cb(op->context, op->result,
			       op->result < 0 ? op->error : NULL);
		else if (op->cancelled && op->kind == SPOOL_OP_COMMIT &&
		         op->result == 0 && s->orphan_cb != NULL)
			s->orphan_cb(s->orphan_ctx, op->id);
		/* The callback may have aborted its own message. */
		if (op->msg != NULL)
			msg_free(op->msg);
		op_free(op);
	}
}

int spool_worker_start(struct spool *s, const char **error_r)
{
	int fds[2], err;

	STAILQ_INIT(&s->queue);
	STAILQ_INIT(&s->done);
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return spool_fail(s, error_r, "pipe: %s", strerror(errno));
	s->notify_rd = fds[0];
	s->notify_wr = fds[1];
	s->notify_event = event_new(s->base, s->notify_rd, EV_READ | EV_PERSIST,
	                            notify_cb, s);
	if (s->notify_event == NULL || event_add(s->notify_event, NULL) < 0)
		return spool_fail(s, error_r, "cannot add the spool event");
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	err = pthread_create(&s->thread, NULL, worker_main, s);
	if (err != 0)
		return spool_fail(s, error_r, "pthread_create: %s",
		                  strerror(err));
	s->thread_started = true;
	return 0;
}

void spool_worker_stop(struct spool *s)
{
	struct spool_op_list done;
	struct spool_op *op;

	if (s->thread_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
		s->thread_started = false;
		/* Durable (or failed) now; their callbacks are dropped. */
		take_done(s, &done);
		while ((op = STAILQ_FIRST(&done)) != NULL) {
			STAILQ_REMOVE_HEAD(&done, link);
			if (op->msg != NULL)
				msg_free(op->msg);
			op_free(op);
		}
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
	}
	if (s->notify_event != NULL)
		event_free(s->notify_event);
	s->notify_event = NULL;
	if (s->notify_rd >= 0)
		close(s->notify_rd);
	if (s->notify_wr >= 0)
		close(s->notify_wr);
	s->notify_rd = s->notify_wr = -1;
}

void spool_set_orphan_cb(struct spool *s, spool_orphan_cb *cb, void *context)
{
	s->orphan_cb = cb;
	s->orphan_ctx = context;
}

void spool_get_stats(struct spool *s, struct spool_stats *stats_r)
{
	pthread_mutex_lock(&s->lock);
	*stats_r = s->stats;
	pthread_mutex_unlock(&s->lock);
}

void spool_hold_worker(struct spool *s, bool hold)
{
	pthread_mutex_lock(&s->lock);
	s->held = hold;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}
