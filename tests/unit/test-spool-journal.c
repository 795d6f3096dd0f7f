/*
 * test-spool-journal - the spool's write-ahead journal across a power
 * cut: messages that only the journal made durable are restored, a
 * removal is not undone, a torn tail ends the log, full segments retire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spooltest.h"

/*
 * A power cut while the spool runs: copy the directory as it is on disk
 * now (the worker is idle) into a second one, where the test then takes
 * away what a crash may take (q/ files that only the journal made
 * durable), and open that copy.
 */
static void snapshot(struct spooltest *e, char copy[160])
{
	char cmd[400];

	snprintf(copy, 160, "%.*s-copy", (int)strlen(e->dir) - 2, e->dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", copy,
	         e->dir, copy);
	assert_int_equal(system(cmd), 0);
}

static void open_copy(struct spooltest *e, const char *copy, struct spool **s_r)
{
	const char *error = NULL;

	if (spool_open(e->base, copy, s_r, &error) < 0)
		fail_msg("open copy: %s", error);
}

static void check_loaded_in(struct spool *s, const char *id, const char *data,
                            size_t len)
{
	struct spooltest other = {.spool = s};

	spooltest_check_loaded(&other, id, data, len);
}

static void test_journal_restores(void **state)
{
	struct spooltest *e = *state;
	static const size_t sizes[] = {0, 5000, 70000, 300};
	char ids[4][17], copy[160], path[400], cmd[1000];
	char *data[4];
	const char *error = NULL;
	struct spool *s = NULL;
	struct spool_stats st;
	struct spooltest_ids c = {.n = 0};

	for (size_t i = 0; i < 4; i++)
		data[i] = spooltest_commit(e, sizes[i], ids[i]);
	spooltest_wait(e, 4);
	assert_int_equal(e->failed, 0);
	spool_get_stats(e->spool, &st);
	assert_true(st.journal_syncs >= 1);
	/* Only message 2 (over SPOOLFMT_IMAGE_MAX) has a file: the others
	 * are durable in the journal alone. */
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 1);
	/* Message 3 is delivered: its removal is journaled. */
	assert_int_equal(
	    spool_remove(e->spool, ids[3], spooltest_on_done, e, &error), 0);
	spooltest_wait(e, 5);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spooltest_count_dir(e->dir, "journal"), 1);

	snapshot(e, copy);
	/* As a crash may leave it: message 1 has a torn file (written when
	 * the journal retired, cut by the crash), message 3 a file that its
	 * journaled removal must take (an unlink the crash took back). */
	snprintf(path, sizeof(path), "%s/q", copy);
	spooltest_write_file(path, ids[1], "DMX1 torn", 9);
	spooltest_write_file(path, ids[3], "DMX1 back", 9);
	(void)cmd;
	open_copy(e, copy, &s);
	spool_foreach(s, spooltest_on_found, &c);
	assert_int_equal(c.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(c.ids[i], ids[i]);
		check_loaded_in(s, ids[i], data[i], sizes[i]);
	}
	assert_int_equal(spooltest_count_dir(copy, "corrupt"), 0);
	assert_int_equal(spooltest_count_dir(copy, "tmp"), 0);
	assert_int_equal(spooltest_count_dir(copy, "journal"),
	                 1); /* a fresh one */
	spool_deinit(&s);
	/* A clean stop leaves no journal behind. */
	assert_int_equal(spooltest_count_dir(copy, "journal"), 0);
	spooltest_rm_rf(copy);
	for (size_t i = 0; i < 4; i++)
		free(data[i]);
}

static void test_journal_torn_tail(void **state)
{
	struct spooltest *e = *state;
	char ids[2][17], copy[160], path[600];
	char *data[2];
	struct spool *s = NULL;
	struct spooltest_ids c = {.n = 0};
	struct stat st;
	DIR *d;
	struct dirent *de;

	data[0] = spooltest_commit(e, 1000, ids[0]);
	spooltest_wait(e, 1);
	data[1] = spooltest_commit(e, 1000, ids[1]);
	spooltest_wait(e, 2);
	snapshot(e, copy);
	/* Neither has a file (the journal alone holds them); the second
	 * record torn in its payload. */
	assert_int_equal(spooltest_count_dir(copy, "q"), 0);
	snprintf(path, sizeof(path), "%s/journal", copy);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(path, sizeof(path), "%s/journal/%s", copy, de->d_name);
	closedir(d);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 10), 0);
	open_copy(e, copy, &s);
	spool_foreach(s, spooltest_on_found, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.ids[0], ids[0]);
	check_loaded_in(s, ids[0], data[0], 1000);
	assert_int_equal(spooltest_count_dir(copy, "corrupt"), 0);
	spool_deinit(&s);
	spooltest_rm_rf(copy);
	free(data[0]);
	free(data[1]);
}

static void test_journal_rotation(void **state)
{
	struct spooltest *e = *state;
	struct spool_stats st;
	char ids[40][17];
	char *data[40];
	struct spooltest_ids c = {.n = 0};

	spool_set_journal_segment_max(e->spool, 8000);
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 5; i++)
			data[round * 5 + i] =
			    spooltest_commit(e, 2000, ids[round * 5 + i]);
		spooltest_wait(e, round * 5 + 5);
	}
	assert_int_equal(e->failed, 0);
	spool_get_stats(e->spool, &st);
	assert_true(st.journal_syncs >= 8);
	/* Full segments are retired: one (or, during a rotation, two). */
	assert_true(spooltest_count_dir(e->dir, "journal") <= 2);
	spooltest_reopen(e);
	spool_foreach(e->spool, spooltest_on_found, &c);
	assert_int_equal(c.n, 40);
	for (int i = 0; i < 40; i++) {
		spooltest_check_loaded(e, ids[i], data[i], 2000);
		free(data[i]);
	}
}

/* Bytes this process has read so far (every thread: the worker too). */
static unsigned long long bytes_read(void)
{
	unsigned long long n = 0;
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "rchar: %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * A segment retires by what the worker remembers of it, not by reading it
 * back: a full segment is 32 MiB, and reading it whole held up every
 * commit queued behind it (200 ms with the page cache cold). Only the
 * records of messages still pending are read. Those and the one with a
 * file survive a power cut after the retirement; the delivered ones stay
 * gone.
 */
static void test_journal_retire_reads_only_pending(void **state)
{
	enum { N = 120 };
	struct spooltest *e = *state;
	char ids[N + 3][17], copy[160], path[300];
	char *data[N + 3];
	const char *error = NULL;
	struct spool *s = NULL;
	struct spooltest_ids c = {.n = 0};
	unsigned long long before;
	int done = 0;

	for (int i = 0; i < N; i++)
		data[i] = spooltest_commit(e, 2000, ids[i]);
	data[N] = spooltest_commit(e, 70000, ids[N]); /* has a file */
	spooltest_wait(e, done += N + 1);
	for (int i = 0; i < N; i++) {
		if (i == 7 || i == 77)
			continue;
		assert_int_equal(spool_remove(e->spool, ids[i],
		                              spooltest_on_done, e, &error),
		                 0);
		done++;
	}
	spooltest_wait(e, done);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spooltest_count_dir(e->dir, "journal"), 1);

	spool_set_journal_segment_max(e->spool, 1);
	before = bytes_read();
	/* After this batch the first segment retires; the next batch waits
	 * for that. */
	data[N + 1] = spooltest_commit(e, 2000, ids[N + 1]);
	spooltest_wait(e, ++done);
	data[N + 2] = spooltest_commit(e, 2000, ids[N + 2]);
	spooltest_wait(e, ++done);
	assert_int_equal(e->failed, 0);
	/* Two pending records of the first segment (and at most one of the
	 * second), not its 300 KB. */
	assert_in_range(bytes_read() - before, 0, 16 * 1024);
	/* The pending ones have their files now. */
	for (int i = 7; i < N; i += 70) {
		snprintf(path, sizeof(path), "%s/q/%s", e->dir, ids[i]);
		assert_int_equal(access(path, F_OK), 0);
	}

	snapshot(e, copy);
	open_copy(e, copy, &s);
	spool_foreach(s, spooltest_on_found, &c);
	assert_int_equal(c.n, 5);
	check_loaded_in(s, ids[7], data[7], 2000);
	check_loaded_in(s, ids[77], data[77], 2000);
	check_loaded_in(s, ids[N], data[N], 70000);
	check_loaded_in(s, ids[N + 1], data[N + 1], 2000);
	check_loaded_in(s, ids[N + 2], data[N + 2], 2000);
	spool_deinit(&s);
	spooltest_rm_rf(copy);
	for (int i = 0; i < N + 3; i++)
		free(data[i]);
}

/* The size of journal/'s retired segment (x<16 hex>); -1: there is none. */
static long long dead_size(const char *dir)
{
	char path[300];
	struct dirent *de;
	struct stat st;
	long long size = -1;
	DIR *d;

	snprintf(path, sizeof(path), "%s/journal", dir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != 'x')
			continue;
		snprintf(path, sizeof(path), "%s/journal/%s", dir, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		size = (long long)st.st_size;
	}
	closedir(d);
	return size;
}

/*
 * A retired segment leaves the log by a rename, and its blocks are freed
 * a slice per batch: freeing a full segment's 32 MiB at once held up the
 * commits behind the worker for 16 ms. One left behind by a crash is
 * removed at the next open, and nothing of it comes back.
 */
static void test_journal_retired_segment_freed_in_slices(void **state)
{
	enum { N = 40 };
	struct spooltest *e = *state;
	char ids[N + 6][17], copy[160];
	char *data[N + 6];
	struct spool *s = NULL;
	struct spooltest_ids c = {.n = 0};
	int n = 0;

	/* 2.8 MB of journal. */
	for (; n < N; n++)
		data[n] = spooltest_commit(e, 70000, ids[n]);
	spooltest_wait(e, n);
	spool_set_journal_segment_max(e->spool, 1);
	data[n] = spooltest_commit(e, 100, ids[n]);
	spooltest_wait(e, ++n);
	/* The segment retires after that batch; the next one waits for it. */
	spool_set_journal_segment_max(e->spool, 32u << 20);
	data[n] = spooltest_commit(e, 100, ids[n]);
	spooltest_wait(e, ++n);
	assert_int_equal(e->failed, 0);
	assert_in_range(dead_size(e->dir), 1500000, 3000000);

	snapshot(e, copy);
	open_copy(e, copy, &s);
	assert_int_equal(dead_size(copy), -1);
	spool_foreach(s, spooltest_on_found, &c);
	assert_int_equal(c.n, N + 2);
	check_loaded_in(s, ids[3], data[3], 70000);
	spool_deinit(&s);
	spooltest_rm_rf(copy);

	/* A slice per batch until it is gone. */
	for (int i = 0; i < 4; i++) {
		data[n] = spooltest_commit(e, 100, ids[n]);
		spooltest_wait(e, ++n);
	}
	assert_int_equal(dead_size(e->dir), -1);
	for (int i = 0; i < n; i++)
		free(data[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_journal_restores, spooltest_setup, spooltest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_journal_torn_tail, spooltest_setup, spooltest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_journal_rotation, spooltest_setup, spooltest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_journal_retire_reads_only_pending, spooltest_setup,
	        spooltest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_journal_retired_segment_freed_in_slices, spooltest_setup,
	        spooltest_teardown),
	};

	log_init("test-spool-journal", LOG_DEST_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
