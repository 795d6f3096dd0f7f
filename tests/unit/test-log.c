/*
 * test-log - log levels, quoting of untrusted values, and that a logged
 * line never breaks in two.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

static void test_levels(void **state)
{
	enum log_level l;

	assert_true(log_level_parse("debug", &l));
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_true(log_level_parse("error", &l));
	assert_int_equal(l, LOG_LEVEL_ERROR);
	assert_false(log_level_parse("DEBUG", &l));
	assert_false(log_level_parse("", &l));
	assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
	assert_string_equal(log_level_name((enum log_level)42), "unknown");
	log_set_level(LOG_LEVEL_WARN);
	assert_true(log_enabled(LOG_LEVEL_ERROR));
	assert_true(log_enabled(LOG_LEVEL_WARN));
	assert_false(log_enabled(LOG_LEVEL_INFO));
}

static void test_quote(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
	    {"plain", 5, "\"plain\""},
	    {"", 0, "\"\""},
	    {"a b", 3, "\"a b\""},
	    {"say \"hi\"", 8, "\"say \\\"hi\\\"\""},
	    {"back\\slash", 10, "\"back\\\\slash\""},
	    {"line\r\nbreak", 11, "\"line\\x0d\\x0abreak\""},
	    {"nul\0byte", 8, "\"nul\\x00byte\""},
	    {"\xc3\xa9t\xc3\xa9", 5, "\"\\xc3\\xa9t\\xc3\\xa9\""},
	    {"key=value", 9, "\"key=value\""},
	};
	char buf[LOG_QUOTE_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(log_quote(buf, cases[i].in, cases[i].len),
		                    cases[i].out);
}

static void test_quote_cut(void **state)
{
	char big[5000], buf[LOG_QUOTE_MAX];
	size_t n;

	memset(big, '\n', sizeof(big));
	log_quote(buf, big, sizeof(big));
	n = strlen(buf);
	assert_true(n < LOG_QUOTE_MAX);
	assert_memory_equal(buf + n - 4, "...\"", 4);
	memset(big, 'x', sizeof(big));
	log_quote(buf, big, sizeof(big));
	assert_true(strlen(buf) < LOG_QUOTE_MAX);
}

/* A message with line breaks in it is still one line on stderr. */
static void test_one_line(void **state)
{
	char path[] = "/tmp/dirmx-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char out[8192];
	ssize_t n;
	int lines = 0;

	assert_true(fd >= 0);
	dup2(fd, STDERR_FILENO);
	log_init("test", LOG_DEST_STDERR, LOG_LEVEL_DEBUG);
	log_info("Q123", "event=x text=%s", "first\nsecond\rthird");
	log_debug("Q124", "event=y");
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	out[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		lines += out[i] == '\n';
	assert_int_equal(lines, 2);
	assert_non_null(
	    strstr(out, "info: Q123 event=x text=first second third"));
	assert_non_null(strstr(out, "debug: Q124 event=y"));
}

/* Every write(2) stderr got, one per message of a SOCK_SEQPACKET pair. */
struct writes {
	size_t n;
	char text[64][PIPE_BUF + 1];
};

static void drain(int fd, struct writes *w)
{
	ssize_t n;

	while (w->n < 64 &&
	       (n = recv(fd, w->text[w->n], PIPE_BUF + 1, MSG_DONTWAIT)) > 0) {
		w->text[w->n][n] = '\0';
		w->n++;
	}
}

static void *other_thread(void *arg)
{
	(void)arg;
	log_info("T1", "event=from_other_thread");
	return NULL;
}

/*
 * A batch: info lines wait for log_flush() and go out in one write; a
 * warning flushes at once and keeps the order; a full block is written
 * as whole lines of at most PIPE_BUF octets; another thread's lines are
 * not held; log_batch_stop() flushes what is left.
 */
static void test_batch(void **state)
{
	static struct writes w;
	int sv[2], saved = dup(STDERR_FILENO);
	char filler[200];
	pthread_t t;
	size_t lines = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	dup2(sv[0], STDERR_FILENO);
	log_init("test", LOG_DEST_STDERR, LOG_LEVEL_INFO);
	log_batch_start();
	log_info("B1", "event=one");
	log_info("B2", "event=two");
	drain(sv[1], &w);
	assert_int_equal(w.n, 0);
	log_flush();
	drain(sv[1], &w);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.text[0], "B1 event=one\n"));
	assert_true(strstr(w.text[0], "B1 ") < strstr(w.text[0], "B2 "));

	w.n = 0;
	log_info("B3", "event=three");
	log_warn("B4", "event=four");
	drain(sv[1], &w);
	assert_int_equal(w.n, 1);
	assert_true(strstr(w.text[0], "B3 ") < strstr(w.text[0], "B4 "));

	w.n = 0;
	log_info("B5", "event=held");
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	drain(sv[1], &w);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.text[0], "T1 event=from_other_thread\n"));
	log_flush();

	w.n = 0;
	memset(filler, 'x', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	for (int i = 0; i < 100; i++)
		log_info("F", "n=%d %s", i, filler);
	log_batch_stop();
	drain(sv[1], &w);
	assert_true(w.n >= 6 && w.n < 64);
	for (size_t i = 0; i < w.n; i++) {
		size_t len = strlen(w.text[i]);

		assert_true(len <= PIPE_BUF);
		assert_int_equal(w.text[i][len - 1], '\n');
		for (size_t j = 0; j < len; j++)
			lines += w.text[i][j] == '\n';
	}
	assert_int_equal(lines, 101); /* B5 and the 100 */
	/* Whole lines in order: the last write ends with the last line. */
	assert_non_null(strstr(w.text[w.n - 1], "n=99 "));

	/* Stopped: a line goes out on its own again. */
	w.n = 0;
	log_info("A1", "event=after");
	drain(sv[1], &w);
	assert_int_equal(w.n, 1);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(sv[0]);
	close(sv[1]);
}

static void test_alloc_overflow_checks(void **state)
{
	size_t r;
	char *s;

	assert_true(alloc_mul_ok(1000, 1000, &r));
	assert_int_equal(r, 1000000);
	assert_false(alloc_mul_ok(SIZE_MAX / 2 + 1, 2, &r));
	assert_true(alloc_add_ok(SIZE_MAX - 1, 1, &r));
	assert_false(alloc_add_ok(SIZE_MAX, 1, &r));
	s = alloc_printf("%s-%d", "a", 42);
	assert_string_equal(s, "a-42");
	free(s);
	s = alloc_strndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	s = alloc_memdup("x\0y", 3);
	assert_memory_equal(s, "x\0y", 3);
	free(s);
}

static void test_alloc_abort_on_overflow(void **state)
{
	/* The wrappers never return NULL: an impossible size aborts. */
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		close(STDERR_FILENO);
		(void)alloc_array(SIZE_MAX / 2, 4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_quote_cut),
	    cmocka_unit_test(test_one_line),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_alloc_overflow_checks),
	    cmocka_unit_test(test_alloc_abort_on_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
