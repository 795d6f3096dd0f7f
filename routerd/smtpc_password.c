/*
 * smtpc_password - read a smarthost account's password from its file;
 * see smtpc_password_read() in smtpc.h.
 *
 * Apart from smtpc.c, which only schedules and never touches a file: the
 * file must be a regular file that only routerd's user can read (checked
 * on the descriptor, not the name, and never through a symlink), and the
 * buffer that held it is wiped.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "smtpc.h"

int smtpc_password_read(const char *path, char **password_r,
                        const char **error_r)
{
	char buf[1024];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int ret = -1;

	*password_r = NULL;
	if (fd < 0) {
		*error_r = "cannot open the password file";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error_r = "the password file is not a regular file";
		goto done;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		*error_r = "the password file is accessible to group or others";
		goto done;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0) {
		*error_r = "the password file is empty or unreadable";
		goto done;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	if (len == 0) {
		*error_r = "the password file is empty";
		goto done;
	}
	*password_r = alloc_strndup(buf, len);
	ret = 0;
done:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return ret;
}
