/*
 * spool_io - what every spool file does to its files: whole reads and
 * writes, a directory listing that leaks nothing, the check of a message
 * file (header, envelope, data CRC), the move of a bad file to corrupt/,
 * and the error slot of the loop thread. spool.c, spool_commit.c and
 * spool_journal.c use it; it uses none of them, so none of them uses
 * another through it.
 */
#include "spool_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "spool_id.h"
#include "spoolfmt.h"

int spool_fail(struct spool *s, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	*error_r = s->error;
	return -1;
}

void spool_move_corrupt(struct spool *s, const char *name, const char *why)
{
	char target[SPOOLFMT_NAME_MAX + 16], id[SPOOL_ID_LEN + 1] = "-";
	char q[LOG_QUOTE_MAX], qw[LOG_QUOTE_MAX];
	struct spool_id sid;

	if (spool_id_parse(name, strnlen(name, SPOOL_ID_LEN), &sid))
		snprintf(id, sizeof(id), "%s", name);
	log_quote_str(qw, why);
	spoolfmt_corrupt_name(name, 0, target, sizeof(target));
	for (unsigned n = 1; n < 1000; n++) {
		if (renameat2(s->q_fd, name, s->corrupt_fd, target,
		              RENAME_NOREPLACE) == 0) {
			(void)fsync(s->corrupt_fd);
			(void)fsync(s->q_fd);
			log_error(id,
			          "spool: moved to corrupt/ file=%s "
			          "reason=%s",
			          log_quote_str(q, target), qw);
			return;
		}
		if (errno != EEXIST)
			break;
		spoolfmt_corrupt_name(name, n, target, sizeof(target));
	}
	log_error(id,
	          "spool: cannot move to corrupt/ file=%s reason=%s "
	          "error=%s",
	          log_quote_str(q, name), qw, strerror(errno));
}

DIR *spool_opendir(int fd)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0), err;
	DIR *d;

	if (dfd < 0)
		return NULL;
	d = fdopendir(dfd);
	if (d == NULL) {
		err = errno;
		close(dfd);
		errno = err;
		return NULL;
	}
	/* The duplicate shares fd's offset: start at the beginning. */
	rewinddir(d);
	return d;
}

int spool_read_full(int fd, void *p, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)p + done, len - done,
		                  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* The header raw (SPOOLFMT_MSG_HEADER_LEN octets) of a file of size
 * octets: NULL and *h when it decodes and names that size. */
static const char *check_header(const unsigned char *raw, uint64_t size,
                                struct spoolfmt_msg_header *h)
{
	const char *error = NULL;

	if (spoolfmt_msg_header_decode(raw, SPOOLFMT_MSG_HEADER_LEN, h,
	                               &error) < 0)
		return error;
	if (size != spoolfmt_msg_size(h))
		return "file size does not match header";
	return NULL;
}

/*
 * Check q/<id> open on fd: header, size, envelope. NULL when good, with
 * *env_r parsed; else why not.
 */
const char *spool_verify_msg(int fd, const char *id,
                             struct spoolfmt_msg_header *h,
                             struct spoolrec **env_r)
{
	unsigned char raw[SPOOLFMT_MSG_HEADER_LEN];
	struct stat st;
	char *env;
	const char *error = NULL;

	*env_r = NULL;
	if (fstat(fd, &st) < 0 || spool_read_full(fd, raw, sizeof(raw), 0) < 0)
		return "short header";
	error = check_header(raw, (uint64_t)st.st_size, h);
	if (error != NULL)
		return error;
	env = alloc_array(h->env_len + 1, 1);
	if (spool_read_full(fd, env, h->env_len, spoolfmt_msg_env_offset(h)) <
	    0)
		error = "short envelope";
	else
		(void)spoolfmt_msg_envelope(h, env, h->env_len, id, env_r,
		                            &error);
	free(env);
	return error;
}

bool spool_data_crc_ok(int fd, const struct spoolfmt_msg_header *h)
{
	/* No bigger than the data, and not zeroed: pread() fills it. */
	size_t size = h->data_len < 65536 ? (size_t)h->data_len : 65536;
	unsigned char *chunk = alloc_resize(NULL, size, 1);
	uint64_t done = 0;
	uint32_t crc = 0;
	bool ok = true;

	while (done < h->data_len) {
		size_t n = h->data_len - done < size
		               ? (size_t)(h->data_len - done)
		               : size;

		if (spool_read_full(fd, chunk, n,
		                    SPOOLFMT_MSG_HEADER_LEN + done) < 0) {
			ok = false;
			break;
		}
		crc = spoolrec_crc32(crc, chunk, n);
		done += n;
	}
	free(chunk);
	return ok && crc == h->data_crc;
}

const char *spool_verify_whole(const unsigned char *file, size_t size,
                               const char *id, struct spoolfmt_msg_header *h,
                               struct spoolrec **env_r)
{
	const char *error;

	*env_r = NULL;
	if (size < SPOOLFMT_MSG_HEADER_LEN)
		return "short header";
	error = check_header(file, size, h);
	if (error != NULL)
		return error;
	/* size is the header's sum: the parts lie inside file. */
	if (spoolfmt_msg_envelope(h, file + spoolfmt_msg_env_offset(h),
	                          h->env_len, id, env_r, &error) < 0)
		return error;
	if (spoolrec_crc32(0, file + SPOOLFMT_MSG_HEADER_LEN, h->data_len) !=
	    h->data_crc) {
		spoolrec_deinit(env_r);
		return "data checksum mismatch";
	}
	return NULL;
}

const char *spool_check_file(int fd, const char *id, bool data)
{
	struct spoolrec *env = NULL;
	struct spoolfmt_msg_header h;
	const char *why = spool_verify_msg(fd, id, &h, &env);

	spoolrec_deinit(&env);
	if (why == NULL && data && !spool_data_crc_ok(fd, &h))
		why = "data checksum mismatch";
	return why;
}

int spool_write_all(int fd, const void *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p = (const char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}
