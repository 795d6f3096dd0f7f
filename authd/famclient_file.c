/*
 * famclient_file - authd's familiar clients on disk (famclient.h's text
 * form), so that a restart does not make every user a stranger.
 *
 * Written atomically: the whole table into "<path>.tmp" (created 0600: the
 * file says who logs in from where), fsynced, renamed over <path>, and the
 * directory fsynced. A reader therefore sees the old file or the new one,
 * never half of one. Read at start; a file that is missing is an empty
 * table, one that is malformed or too large is logged by the caller and
 * ignored (the users are strangers until they log in again: safe).
 */
#include "famclient_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "alloc.h"
#include "famclient.h"
#include "sbuf.h"

#define FILE_MAX (256u << 20)

int famclient_file_load(struct famclient *fc, const char *path, uint64_t now_s,
                        long *n_r, const char **error_r)
{
	static char why[160];
	struct sbuf *in = sbuf_new(FILE_MAX);
	char chunk[65536];
	int fd, ret = -1;
	ssize_t n;

	*n_r = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		sbuf_deinit(&in);
		if (errno == ENOENT)
			return 0;
		snprintf(why, sizeof(why), "open: %s", strerror(errno));
		*error_r = why;
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, sizeof(why), "read: %s", strerror(errno));
			*error_r = why;
			goto done;
		}
		if (!sbuf_append(in, chunk, (size_t)n)) {
			*error_r = "file too large";
			goto done;
		}
	}
	*n_r = famclient_parse(fc, sbuf_data(in), sbuf_len(in), now_s, error_r);
	ret = *n_r < 0 ? -1 : 0;
done:
	close(fd);
	sbuf_deinit(&in);
	return ret;
}

static bool write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool fsync_dir(const char *path)
{
	char *copy = alloc_strdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = fd >= 0 && fsync(fd) == 0;

	if (fd >= 0)
		close(fd);
	free(copy);
	return ok;
}

int famclient_file_save(const struct famclient *fc, const char *path,
                        uint64_t now_s, const char **error_r)
{
	static char why[160];
	struct sbuf *out = sbuf_new(FILE_MAX);
	size_t len = strlen(path) + 5;
	char *tmp = alloc_array(len, 1);
	int fd = -1, ret = -1;
	const char *step = "";
	bool renamed = false;

	snprintf(tmp, len, "%s.tmp", path);
	if (!famclient_format(fc, now_s, out)) {
		*error_r = "table too large for the file limit";
		goto done;
	}
	step = "open";
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0600);
	if (fd < 0)
		goto fail;
	step = "write";
	if (!write_all(fd, sbuf_data(out), sbuf_len(out)))
		goto fail;
	step = "fsync";
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	fd = -1;
	step = "rename";
	if (rename(tmp, path) != 0)
		goto fail;
	renamed = true;
	step = "fsync of the directory";
	if (!fsync_dir(path))
		goto fail;
	ret = 0;
	goto done;
fail:
	snprintf(why, sizeof(why), "%s: %s", step, strerror(errno));
	*error_r = why;
	if (fd >= 0)
		close(fd);
	if (!renamed)
		unlink(tmp);
done:
	free(tmp);
	sbuf_deinit(&out);
	return ret;
}
