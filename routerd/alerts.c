/*
 * alerts - the local alert store; see alerts.h.
 */
#include "alerts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int copy(int out, int in, const unsigned char *mem, uint64_t offset,
                uint64_t len)
{
	char buf[65536];

	if (mem != NULL)
		return write_all(out, mem, (size_t)len);
	while (len > 0) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t r = pread(in, buf, want, (off_t)offset);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (write_all(out, buf, (size_t)r) < 0)
			return -1;
		offset += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

int alerts_store(const char *dir, const char *id, const char *reason, int fd,
                 const unsigned char *mem, uint64_t offset, uint64_t len,
                 const char **error_r)
{
	char path[4096], head[600];
	int out = -1, dfd = -1, ret = -1;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		*error_r = strerror(errno);
		return -1;
	}
	for (unsigned n = 0; n < 1000 && out < 0; n++) {
		if (n == 0)
			snprintf(path, sizeof(path), "%s/%s.eml", dir, id);
		else
			snprintf(path, sizeof(path), "%s/%s.%u.eml", dir, id,
			         n);
		out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (out < 0 && errno != EEXIST) {
			*error_r = strerror(errno);
			return -1;
		}
	}
	if (out < 0) {
		*error_r = "too many alert files for this message";
		return -1;
	}
	snprintf(head, sizeof(head), "X-Dirmx-Alert: %s\r\n", reason);
	if (write_all(out, head, strlen(head)) < 0 ||
	    copy(out, fd, mem, offset, len) < 0 || fsync(out) < 0) {
		*error_r = strerror(errno != 0 ? errno : EIO);
		unlink(path);
		goto done;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		*error_r = strerror(errno);
		goto done;
	}
	ret = 0;
done:
	if (out >= 0)
		close(out);
	if (dfd >= 0)
		close(dfd);
	return ret;
}
