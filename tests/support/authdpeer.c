/*
 * authdpeer - a hand-driven authd for unit tests; see authdpeer.h.
 */
#include "authdpeer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

#define WAIT_MS 5000

struct authdpeer {
	struct event_base *base;
	char dir[32], path[64];
	int lfd, pfd; /* listener, connection */
	char buf[65536];
	size_t len;
};

long long authdpeer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct authdpeer *authdpeer_new(struct event_base *base)
{
	struct authdpeer *p = alloc_new(struct authdpeer);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	p->base = base;
	p->pfd = -1;
	snprintf(p->dir, sizeof(p->dir), "/tmp/authdpeer-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/sock", p->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", p->path);
	p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(p->lfd, 16), 0);
	return p;
}

void authdpeer_free(struct authdpeer **pp)
{
	struct authdpeer *p = *pp;

	if (p == NULL)
		return;
	authdpeer_hangup(p);
	authdpeer_unlisten(p);
	rmdir(p->dir);
	free(p);
	*pp = NULL;
}

void authdpeer_set_base(struct authdpeer *p, struct event_base *base)
{
	p->base = base;
}

const char *authdpeer_path(const struct authdpeer *p)
{
	return p->path;
}

void authdpeer_pump(struct authdpeer *p)
{
	event_base_loop(p->base, EVLOOP_NONBLOCK);
	usleep(500);
}

bool authdpeer_try_accept(struct authdpeer *p)
{
	int fd = p->lfd >= 0
	             ? accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)
	             : -1;

	if (fd < 0)
		return false;
	authdpeer_hangup(p);
	p->pfd = fd;
	return true;
}

void authdpeer_accept(struct authdpeer *p)
{
	long long deadline = authdpeer_now_ms() + WAIT_MS;

	while (!authdpeer_try_accept(p)) {
		assert_true(authdpeer_now_ms() < deadline);
		authdpeer_pump(p);
	}
}

void authdpeer_hello(struct authdpeer *p, const char *client)
{
	char line[128];

	authdpeer_accept(p);
	snprintf(line, sizeof(line), "HELLO 0 version=2 client=%s", client);
	authdpeer_expect(p, line);
	authdpeer_send(p, "OK 0 version=2 server=authd\n");
}

/* Read what is there; false when nothing came. */
static bool fill(struct authdpeer *p)
{
	ssize_t n;

	assert_true(p->pfd >= 0);
	n = recv(p->pfd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
	if (n > 0) {
		p->len += (size_t)n;
		return true;
	}
	assert_true(n < 0 && errno == EAGAIN);
	return false;
}

bool authdpeer_has_line(struct authdpeer *p, unsigned ms)
{
	long long deadline = authdpeer_now_ms() + ms;

	for (;;) {
		while (fill(p))
			;
		if (memchr(p->buf, '\n', p->len) != NULL)
			return true;
		if (authdpeer_now_ms() >= deadline)
			return false;
		authdpeer_pump(p);
	}
}

void authdpeer_line(struct authdpeer *p, char *out, size_t size)
{
	char *lf;
	size_t len;

	assert_true(authdpeer_has_line(p, WAIT_MS));
	lf = memchr(p->buf, '\n', p->len);
	len = (size_t)(lf - p->buf);
	assert_true(len < size);
	memcpy(out, p->buf, len);
	out[len] = '\0';
	memmove(p->buf, lf + 1, p->len - len - 1);
	p->len -= len + 1;
}

void authdpeer_expect(struct authdpeer *p, const char *line)
{
	char got[4096];

	authdpeer_line(p, got, sizeof(got));
	assert_string_equal(got, line);
}

void authdpeer_send_bytes(struct authdpeer *p, const void *s, size_t n)
{
	assert_int_equal(send(p->pfd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

void authdpeer_send(struct authdpeer *p, const char *s)
{
	authdpeer_send_bytes(p, s, strlen(s));
}

void authdpeer_hangup(struct authdpeer *p)
{
	if (p->pfd >= 0)
		close(p->pfd);
	p->pfd = -1;
	p->len = 0;
}

void authdpeer_unlisten(struct authdpeer *p)
{
	if (p->lfd < 0)
		return;
	close(p->lfd);
	p->lfd = -1;
	unlink(p->path);
}

bool authdpeer_sees_eof(struct authdpeer *p)
{
	long long deadline = authdpeer_now_ms() + 2000;

	while (authdpeer_now_ms() < deadline) {
		char b[4096];
		ssize_t n = recv(p->pfd, b, sizeof(b), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		authdpeer_pump(p);
	}
	return false;
}
