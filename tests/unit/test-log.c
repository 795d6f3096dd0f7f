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
#include <signal.h>
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
	    cmocka_unit_test(test_alloc_overflow_checks),
	    cmocka_unit_test(test_alloc_abort_on_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
