/*
 * spool - open, recover and read the durable message store; see spool.h
 * for the format and the promise. Writing and the group-commit worker are
 * in spool_commit.c.
 *
 * Recovery trusts nothing it reads: the header and the envelope are
 * checked by spoolfmt.c's strict decoders, sizes against the file size,
 * before a message is listed. What fails is moved aside with a log
 * line, so an operator can look at it; nothing in q/ is deleted here
 * except orphan state files (their message was removed).
 */
#include "spool_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <unistd.h>

#include "alloc.h"
#include "evloop.h"
#include "log.h"
#include "spoolfmt.h"

static char spool_open_error[SPOOL_ERROR_MAX];

/* The state file q/<id>.state: 1 and *env_r, 0 none, -1 bad (*why_r). */
static int read_state(struct spool *s, const char *id, struct spoolrec **env_r,
                      const char **why_r)
{
	char name[SPOOLFMT_NAME_MAX];
	struct stat st;
	char *data;
	int fd, ret = -1;

	spoolfmt_state_name(id, name);
	fd = openat(s->q_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why_r = "cannot open state file";
		return errno == ENOENT ? 0 : -1;
	}
	if (fstat(fd, &st) < 0 || st.st_size > (off_t)SPOOLREC_MAX_LEN) {
		close(fd);
		*why_r = "state file too large";
		return -1;
	}
	data = alloc_array((size_t)st.st_size + 1, 1);
	if (spool_read_full(fd, data, (size_t)st.st_size, 0) < 0)
		*why_r = "short state file";
	else if (spoolfmt_state_decode(data, (size_t)st.st_size, id, env_r,
	                               why_r) == 0)
		ret = 1;
	free(data);
	close(fd);
	return ret;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Remove everything in tmp/: none of it was ever acknowledged. */
static int recover_tmp(struct spool *s, const char **error_r)
{
	DIR *d = spool_opendir(s->tmp_fd);
	struct dirent *e;
	unsigned removed = 0;

	if (d == NULL)
		return spool_fail(s, error_r, "opendir tmp: %s",
		                  strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(s->tmp_fd, e->d_name, 0) < 0) {
			closedir(d);
			return spool_fail(s, error_r, "unlink tmp/%s: %s",
			                  e->d_name, strerror(errno));
		}
		removed++;
	}
	closedir(d);
	if (removed > 0)
		log_info("-", "spool: recovery removed=%u from=tmp/", removed);
	return 0;
}

static void recover_one(struct spool *s, const char *id)
{
	struct spoolrec *env = NULL;
	struct spoolfmt_msg_header h;
	const char *why;
	struct spool_id sid;
	int fd = openat(s->q_fd, id, O_RDONLY | O_CLOEXEC);

	why = fd < 0 ? "cannot open" : spool_verify_msg(fd, id, &h, &env);
	if (fd >= 0)
		close(fd);
	spoolrec_deinit(&env);
	if (why != NULL) {
		spool_move_corrupt(s, id, why);
		return;
	}
	s->recovered = alloc_resize(s->recovered, s->recovered_count + 1,
	                            sizeof(*s->recovered));
	memcpy(s->recovered[s->recovered_count++], id, SPOOL_ID_LEN + 1);
	if (spool_id_parse(id, SPOOL_ID_LEN, &sid) &&
	    spool_id_cmp(sid, s->last_id) > 0)
		s->last_id = sid;
}

static void recover_state(struct spool *s, const char *id)
{
	char name[SPOOLFMT_NAME_MAX];
	struct spoolrec *env = NULL;
	const char *why = NULL;

	spoolfmt_state_name(id, name);
	if (s->recovered_count == 0 ||
	    bsearch(id, s->recovered, s->recovered_count, sizeof(*s->recovered),
	            name_cmp) == NULL) {
		/* Its message was removed before the state file was. */
		if (unlinkat(s->q_fd, name, 0) == 0)
			log_info(id, "spool: removed orphan state file");
		return;
	}
	if (read_state(s, id, &env, &why) < 0)
		spool_move_corrupt(s, name, why);
	spoolrec_deinit(&env);
}

static int recover_q(struct spool *s, const char **error_r)
{
	DIR *d = spool_opendir(s->q_fd);
	struct dirent *e;
	char(*states)[SPOOL_ID_LEN + 1] = NULL;
	size_t nstates = 0;
	char id[SPOOL_ID_LEN + 1];

	if (d == NULL)
		return spool_fail(s, error_r, "opendir q: %s", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		switch (spoolfmt_q_parse(e->d_name, strlen(e->d_name), id)) {
		case SPOOLFMT_Q_MSG:
			recover_one(s, id);
			break;
		case SPOOLFMT_Q_STATE:
			states =
			    alloc_resize(states, nstates + 1, sizeof(*states));
			memcpy(states[nstates++], id, sizeof(id));
			break;
		case SPOOLFMT_Q_OTHER:
			spool_move_corrupt(s, e->d_name, "unknown file name");
			break;
		}
	}
	closedir(d);
	if (s->recovered_count > 0)
		qsort(s->recovered, s->recovered_count, sizeof(*s->recovered),
		      name_cmp);
	for (size_t i = 0; i < nstates; i++)
		recover_state(s, states[i]);
	free(states);
	if (fsync(s->q_fd) < 0)
		return spool_fail(s, error_r, "fsync q: %s", strerror(errno));
	return 0;
}

static int open_subdir(struct spool *s, const char *name, int *fd_r,
                       const char **error_r)
{
	if (mkdirat(s->dir_fd, name, 0700) < 0 && errno != EEXIST)
		return spool_fail(s, error_r, "mkdir %s: %s", name,
		                  strerror(errno));
	*fd_r = openat(s->dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd_r < 0)
		return spool_fail(s, error_r, "open %s: %s", name,
		                  strerror(errno));
	return 0;
}

static int spool_open_dirs(struct spool *s, const char *dir,
                           const char **error_r)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return spool_fail(s, error_r, "mkdir %s: %s", dir,
		                  strerror(errno));
	s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return spool_fail(s, error_r, "open %s: %s", dir,
		                  strerror(errno));
	s->lock_fd =
	    openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return spool_fail(s, error_r, "lock %s/lock: %s", dir,
		                  errno == EWOULDBLOCK ? "spool in use by "
		                                         "another process"
		                                       : strerror(errno));
	if (open_subdir(s, "tmp", &s->tmp_fd, error_r) < 0 ||
	    open_subdir(s, "q", &s->q_fd, error_r) < 0 ||
	    open_subdir(s, "corrupt", &s->corrupt_fd, error_r) < 0 ||
	    open_subdir(s, "journal", &s->journal.dir_fd, error_r) < 0)
		return -1;
	/* The subdirectories themselves must survive a crash. */
	if (fsync(s->dir_fd) < 0)
		return spool_fail(s, error_r, "fsync %s: %s", dir,
		                  strerror(errno));
	return 0;
}

static void spool_free(struct spool *s)
{
	int fds[] = {s->tmp_fd,  s->q_fd,           s->corrupt_fd,
	             s->lock_fd, s->journal.dir_fd, s->dir_fd};

	spool_recent_clear(s);

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(s->recovered);
	free(s);
}

int spool_free_space(struct spool *s, uint64_t *bytes_r, const char **error_r)
{
	uint64_t now = evloop_now_ms();
	struct statvfs st;

	/* Asked at every MAIL: a second-old figure is as good a guard. */
	if (s->free_space_ms != 0 && now - s->free_space_ms < 1000) {
		*bytes_r = s->free_space;
		return 0;
	}
	if (fstatvfs(s->dir_fd, &st) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	s->free_space = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	s->free_space_ms = now;
	*bytes_r = s->free_space;
	return 0;
}

int spool_open(struct event_base *base, const char *dir, struct spool **spool_r,
               const char **error_r)
{
	struct spool *s = alloc_new(struct spool);

	*spool_r = NULL;
	s->base = base;
	s->dir_fd = s->tmp_fd = s->q_fd = s->corrupt_fd = s->lock_fd = -1;
	s->journal.dir_fd = s->journal.seg_fd = s->journal.dead_fd = -1;
	s->notify_rd = s->notify_wr = -1;
	TAILQ_INIT(&s->recent);
	if (spool_open_dirs(s, dir, error_r) < 0 ||
	    recover_tmp(s, error_r) < 0 || spool_journal_open(s, error_r) < 0 ||
	    recover_q(s, error_r) < 0 || spool_worker_start(s, error_r) < 0) {
		snprintf(spool_open_error, sizeof(spool_open_error), "%s",
		         *error_r);
		*error_r = spool_open_error;
		spool_worker_stop(s);
		spool_journal_close(s);
		spool_free(s);
		return -1;
	}
	log_info("-", "spool: open dir=%s messages=%zu", dir,
	         s->recovered_count);
	*spool_r = s;
	return 0;
}

void spool_deinit(struct spool **spoolp)
{
	struct spool *s = *spoolp;

	if (s == NULL)
		return;
	*spoolp = NULL;
	spool_worker_stop(s);
	spool_journal_close(s);
	spool_free(s);
}

void spool_foreach(struct spool *s, spool_foreach_cb *cb, void *context)
{
	for (size_t i = 0; i < s->recovered_count; i++)
		cb(context, s->recovered[i]);
}

/*
 * Verify q/<id> open on fd: NULL when good, with *h and *env_r. A file of
 * at most SPOOL_LOAD_WHOLE_MAX octets is read whole, in one read rather
 * than three (header, envelope, data), and kept in *whole_r for the
 * delivery to send from; a larger one is read in parts.
 */
static const char *verify(int fd, const char *id, struct spoolfmt_msg_header *h,
                          struct spoolrec **env_r, unsigned char **whole_r)
{
	struct stat st;
	const char *why;
	size_t size;

	*whole_r = NULL;
	if (fstat(fd, &st) < 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > SPOOL_LOAD_WHOLE_MAX) {
		why = spool_verify_msg(fd, id, h, env_r);
		if (why == NULL && !spool_data_crc_ok(fd, h))
			why = "data checksum mismatch";
		return why;
	}
	size = (size_t)st.st_size;
	*whole_r = alloc_resize(NULL, size, 1);
	if (spool_read_full(fd, *whole_r, size, 0) < 0)
		return "short read";
	return spool_verify_whole(*whole_r, size, id, h, env_r);
}

/* The first load of a message just committed: its image, no file read
 * and no state file (an update would have dropped the image). */
static bool load_recent(struct spool *s, const char *id,
                        struct spoolrec **env_r, struct spool_data *data_r)
{
	struct spoolfmt_msg_header h;
	unsigned char *image;
	size_t size;

	if (!spool_recent_take(s, id, &image, &size))
		return false;
	if (spool_verify_whole(image, size, id, &h, env_r) != NULL) {
		/* Never: it is what was written. The file decides. */
		spoolrec_deinit(env_r);
		free(image);
		return false;
	}
	data_r->fd = -1;
	data_r->offset = SPOOLFMT_MSG_HEADER_LEN;
	data_r->len = h.data_len;
	data_r->block = image;
	data_r->mem = image + SPOOLFMT_MSG_HEADER_LEN;
	return true;
}

int spool_load(struct spool *s, const char *id, struct spoolrec **env_r,
               struct spool_data *data_r, const char **error_r)
{
	unsigned char *whole = NULL;
	struct spoolrec *env = NULL, *state = NULL;
	struct spool_id sid;
	struct spoolfmt_msg_header h;
	const char *why = NULL;
	char name[SPOOLFMT_NAME_MAX];
	int fd;

	*env_r = NULL;
	if (!spool_id_parse(id, strlen(id), &sid))
		return spool_fail(s, error_r, "invalid queue id");
	if (load_recent(s, id, env_r, data_r))
		return 1;
	fd = openat(s->q_fd, id, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return spool_fail(s, error_r, "open q/%s: %s", id,
		                  strerror(errno));
	}
	why = verify(fd, id, &h, &env, &whole);
	if (why != NULL) {
		close(fd);
		free(whole);
		spoolrec_deinit(&env);
		spool_move_corrupt(s, id, why);
		return spool_fail(s, error_r, "q/%s is corrupt: %s", id, why);
	}
	if (read_state(s, id, &state, &why) < 0) {
		spoolfmt_state_name(id, name);
		spool_move_corrupt(s, name, why);
	} else if (state != NULL) {
		spoolrec_deinit(&env);
		env = state;
	}
	*env_r = env;
	data_r->fd = fd;
	data_r->offset = SPOOLFMT_MSG_HEADER_LEN;
	data_r->len = h.data_len;
	data_r->block = whole;
	data_r->mem = whole != NULL ? whole + SPOOLFMT_MSG_HEADER_LEN : NULL;
	return 1;
}

void spool_data_close(struct spool_data *data)
{
	if (data->fd >= 0)
		close(data->fd);
	data->fd = -1;
	free(data->block);
	data->block = NULL;
	data->mem = NULL;
}
