/*
 * test-spool - the durable store on a real directory: commit then reopen
 * finds the same envelope and data; abort leaves nothing; tmp/ leftovers
 * are removed and corrupt files moved aside at open; updates, removals,
 * group commit, the lock; journal maintenance failing in the worker while
 * the loop fails too (run under ThreadSanitizer by tests/run-all.sh); a
 * directory that cannot be read. The journal's recovery is in
 * test-spool-journal.c, queue ids in test-spool-id.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spooltest.h"

/*
 * fdopendir() is wrapped at link time (tests/CMakeLists.txt) so that a
 * test can make the nth call from now fail, as it may (ENOMEM).
 */
DIR *__real_fdopendir(int fd);
DIR *__wrap_fdopendir(int fd);
static int fdopendir_fail_in;

DIR *__wrap_fdopendir(int fd)
{
	if (fdopendir_fail_in > 0 && --fdopendir_fail_in == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_fdopendir(fd);
}

static void test_commit_reopen(void **state)
{
	struct spooltest *e = *state;
	static const size_t sizes[] = {0, 1, 1000, 65535, 65536, 200001};
	char ids[6][17];
	char *data[6];
	struct spooltest_ids c = {.n = 0};

	for (size_t i = 0; i < 6; i++)
		data[i] = spooltest_commit(e, sizes[i], ids[i]);
	spooltest_wait(e, 6);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);
	spooltest_reopen(e);
	spool_foreach(e->spool, spooltest_on_found, &c);
	assert_int_equal(c.n, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(c.ids[i], ids[i]); /* time order */
		spooltest_check_loaded(e, ids[i], data[i], sizes[i]);
		free(data[i]);
	}
}

static void on_orphan(void *context, const char *id)
{
	char *got = context;

	assert_string_equal(got, ""); /* once */
	snprintf(got, 17, "%s", id);
}

static void test_abort(void **state)
{
	struct spooltest *e = *state;
	struct spool_msg *msg = NULL;
	const char *error = NULL;
	struct spoolrec *r;
	char id[17], marker[17], orphan[17] = "";

	static char big[70000];

	/* A message that fits the buffer has no file; a larger one has. */
	assert_int_equal(spool_msg_begin(e->spool, &msg, &error), 0);
	assert_int_equal(spool_msg_write(msg, "hello", 5, &error), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);
	assert_int_equal(spool_msg_write(msg, big, sizeof(big), &error), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 1);
	spool_msg_abort(&msg);
	assert_null(msg);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 0);

	/* A commit that fails (wrong id) leaves msg to the caller. */
	assert_int_equal(spool_msg_begin(e->spool, &msg, &error), 0);
	r = spooltest_make_env("0000000000000000", "");
	assert_int_equal(spool_msg_commit(msg, r, spooltest_on_done, e, &error),
	                 -1);
	assert_string_equal(error, "envelope id is not the message id");
	spool_msg_abort(&msg);
	spoolrec_deinit(&r);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);

	/* Aborted after commit: no callback, but the message is kept and
	 * reported to the orphan callback once it is durable. */
	spool_set_orphan_cb(e->spool, on_orphan, orphan);
	assert_int_equal(spool_msg_begin(e->spool, &msg, &error), 0);
	snprintf(id, sizeof(id), "%s", spool_msg_id(msg));
	r = spooltest_make_env(id, "");
	assert_int_equal(spool_msg_commit(msg, r, spooltest_on_done, e, &error),
	                 0);
	spool_msg_abort(&msg);
	spoolrec_deinit(&r);
	assert_string_equal(orphan, "");
	free(
	    spooltest_commit(e, 10, marker)); /* a marker that does call back */
	spooltest_wait(e, 1);
	assert_string_equal(orphan, id);
	/* Both in the journal only; their files come with its retirement. */
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);
	spooltest_reopen(e);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 2);
}

static void test_recovery(void **state)
{
	struct spooltest *e = *state;
	char good[17], bad[17], path[300];
	char *data = spooltest_commit(e, 5000, good);
	struct spooltest_ids c = {.n = 0};
	int fd;

	free(spooltest_commit(e, 100, bad));
	spooltest_wait(e, 2);
	spool_deinit(&e->spool);
	/* leftovers of a crash */
	spooltest_write_file(e->dir, "tmp/0000000000000001", "half", 4);
	spooltest_write_file(e->dir, "tmp/junk", "x", 1);
	/* a torn file in q/ (impossible by design; a bad disk) */
	snprintf(path, sizeof(path), "%s/q/%s", e->dir, bad);
	assert_int_equal(truncate(path, 50), 0);
	spooltest_write_file(e->dir, "q/not-an-id", "?", 1);
	spooltest_write_file(e->dir, "q/0000000000000002", "DMX1 garbage", 12);
	/* an orphan state file */
	spooltest_write_file(e->dir, "q/0000000000000003.state", "x", 1);
	spooltest_reopen(e);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 1);
	assert_int_equal(spooltest_count_dir(e->dir, "corrupt"), 3);
	spool_foreach(e->spool, spooltest_on_found, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.ids[0], good);
	spooltest_check_loaded(e, good, data, 5000);

	/* A flipped data byte is found by spool_load, and moved aside. */
	snprintf(path, sizeof(path), "%s/q/%s", e->dir, good);
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "\xff", 1, SPOOL_HEADER_LEN + 10), 1);
	close(fd);
	{
		struct spoolrec *r = NULL;
		struct spool_data d;
		const char *error = NULL;

		assert_int_equal(spool_load(e->spool, good, &r, &d, &error),
		                 -1);
		assert_non_null(strstr(error, "data checksum"));
		assert_int_equal(spool_load(e->spool, good, &r, &d, &error), 0);
	}
	assert_int_equal(spooltest_count_dir(e->dir, "corrupt"), 4);
	free(data);
}

static void test_update_remove(void **state)
{
	struct spooltest *e = *state;
	char id[17];
	char *data = spooltest_commit(e, 300, id);
	struct spoolrec *r = NULL, *u;
	struct spool_data d;
	const char *error = NULL;

	spooltest_wait(e, 1);
	u = spooltest_make_env(id, "a@b");
	u->rcpts[0].state = SPOOLREC_DELIVERED;
	u->rcpts[1].state = SPOOLREC_DEFERRED;
	u->rcpts[1].attempts = 2;
	spoolrec_set(&u->rcpts[1].error, "421 busy");
	assert_int_equal(
	    spool_update(e->spool, u, spooltest_on_done, e, &error), 0);
	spooltest_wait(e, 2);
	spooltest_reopen(e);
	assert_int_equal(spool_load(e->spool, id, &r, &d, &error), 1);
	spool_data_close(&d);
	assert_int_equal(r->rcpts[0].state, SPOOLREC_DELIVERED);
	assert_int_equal(r->rcpts[1].attempts, 2);
	assert_string_equal(r->rcpts[1].error, "421 busy");
	spoolrec_deinit(&r);

	assert_int_equal(
	    spool_remove(e->spool, id, spooltest_on_done, e, &error), 0);
	spooltest_wait(e, 3);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spool_load(e->spool, id, &r, &d, &error), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 0);
	/* An update of a removed message fails and leaves nothing. */
	assert_int_equal(
	    spool_update(e->spool, u, spooltest_on_done, e, &error), 0);
	spooltest_wait(e, 4);
	assert_int_equal(e->failed, 1);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);
	spoolrec_deinit(&u);
	free(data);
}

/*
 * A small message is durable in the journal alone: no file in q/. Its
 * loads come from the image kept in memory (no file: fd -1), as often as
 * asked; an update writes its file first (the state file needs it), and
 * the load after it reads the file and the new state; a removal leaves
 * nothing, also across a reopen (which retires the journal: the files of
 * what is left are written then).
 */
static void test_journal_only_messages(void **state)
{
	struct spooltest *e = *state;
	char id[17], id2[17];
	char *data = spooltest_commit(e, 3000, id);
	char *data2 = spooltest_commit(e, 100, id2);
	struct spoolrec *r = NULL, *u;
	struct spool_data d = {.fd = -1};
	const char *error = NULL;
	struct spooltest_ids c = {.n = 0};

	spooltest_wait(e, 2);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 0);
	assert_int_equal(spooltest_count_dir(e->dir, "tmp"), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(spool_load(e->spool, id, &r, &d, &error), 1);
		assert_int_equal(d.fd, -1);
		assert_int_equal(d.len, 3000);
		assert_memory_equal(d.mem, data, 3000);
		assert_string_equal(r->id, id);
		spool_data_close(&d);
		spoolrec_deinit(&r);
	}

	u = spooltest_make_env(id2, "a@b");
	u->rcpts[0].state = SPOOLREC_DELIVERED;
	assert_int_equal(
	    spool_update(e->spool, u, spooltest_on_done, e, &error), 0);
	spooltest_wait(e, 3);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 2); /* + .state */
	assert_int_equal(spool_load(e->spool, id2, &r, &d, &error), 1);
	assert_true(d.fd >= 0);
	assert_int_equal(r->rcpts[0].state, SPOOLREC_DELIVERED);
	assert_memory_equal(d.mem, data2, 100);
	spool_data_close(&d);
	spoolrec_deinit(&r);

	assert_int_equal(
	    spool_remove(e->spool, id, spooltest_on_done, e, &error), 0);
	spooltest_wait(e, 4);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spool_load(e->spool, id, &r, &d, &error), 0);
	spooltest_reopen(e);
	spool_foreach(e->spool, spooltest_on_found, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.ids[0], id2);
	assert_int_equal(spool_load(e->spool, id2, &r, &d, &error), 1);
	assert_int_equal(r->rcpts[0].state, SPOOLREC_DELIVERED);
	spool_data_close(&d);
	spoolrec_deinit(&r);
	spoolrec_deinit(&u);
	free(data);
	free(data2);
}

static void test_group_commit(void **state)
{
	struct spooltest *e = *state;
	struct spool_stats st;
	char id[17];

	/* Queued while the worker waits: the batching does not depend on
	 * which thread this machine happens to run first. */
	spool_hold_worker(e->spool, true);
	for (int i = 0; i < 50; i++)
		free(spooltest_commit(e, 100, id));
	spool_hold_worker(e->spool, false);
	spooltest_wait(e, 50);
	spool_get_stats(e->spool, &st);
	assert_int_equal(st.ops, 50);
	/* Queued before the worker ran: far fewer batches than messages. */
	assert_true(st.batches < 50);
	/* In the journal only; all there after a reopen. */
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 0);
	spooltest_reopen(e);
	assert_int_equal(spooltest_count_dir(e->dir, "q"), 50);
}

static void test_lock(void **state)
{
	struct spooltest *e = *state;
	struct spool *other = NULL;
	const char *error = NULL;

	assert_int_equal(spool_open(e->base, e->dir, &other, &error), -1);
	assert_non_null(strstr(error, "in use"));
	assert_null(other);
}

/*
 * Journal maintenance fails in the worker while the loop thread fails
 * calls of its own: every new segment's name is taken, so after each
 * batch the worker's rotation fails (and the spool falls back to syncing
 * each file), and after each batch the loop refuses a bad queue id. Both
 * threads record an error. Under ThreadSanitizer (tests/run-all.sh) this
 * is the regression test for the worker writing the loop's error slot;
 * everywhere it checks that nothing acknowledged is lost meanwhile.
 */
static void loop_fails(struct spooltest *e)
{
	const char *error = NULL;

	assert_int_equal(
	    spool_remove(e->spool, "not an id", spooltest_on_done, e, &error),
	    -1);
	assert_string_equal(error, "invalid queue id");
}

static void test_journal_create_fails(void **state)
{
	struct spooltest *e = *state;
	char ids[40][17], name[32];
	char *data[40];
	struct spooltest_ids c = {.n = 0};

	/* j0000000000000001 is the active segment; take the next ones. */
	for (unsigned seq = 2; seq < 256; seq++) {
		snprintf(name, sizeof(name), "journal/j%016x", seq);
		spooltest_write_file(e->dir, name, "", 0);
	}
	spool_set_journal_segment_max(e->spool, 1);
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 5; i++)
			data[round * 5 + i] =
			    spooltest_commit(e, 2000, ids[round * 5 + i]);
		/* While the worker syncs, then maintains the journal. */
		loop_fails(e);
		spooltest_wait(e, round * 5 + 5);
		loop_fails(e);
	}
	assert_int_equal(e->failed, 0);
	spooltest_reopen(e);
	spool_foreach(e->spool, spooltest_on_found, &c);
	assert_int_equal(c.n, 40);
	for (int i = 0; i < 40; i++) {
		spooltest_check_loaded(e, ids[i], data[i], 2000);
		free(data[i]);
	}
	/* The taken names were replayed (empty) and removed at open. */
	assert_int_equal(spooltest_count_dir(e->dir, "journal"), 1);
}

static size_t count_fds(void)
{
	return spooltest_count_dir("/proc/self", "fd");
}

/* Open fails when a directory cannot be read, and leaks nothing. */
static void test_opendir_fails(void **state)
{
	static const char *const want[] = {"opendir tmp", "opendir journal",
	                                   "opendir q"};
	struct spooltest *e = *state;
	struct spool *s = NULL;
	const char *error = NULL;
	size_t before;

	spool_deinit(&e->spool);
	before = count_fds();
	/* spool_open reads tmp/, then journal/, then q/. */
	for (int n = 1; n <= 3; n++) {
		fdopendir_fail_in = n;
		assert_int_equal(spool_open(e->base, e->dir, &s, &error), -1);
		assert_null(s);
		assert_non_null(strstr(error, want[n - 1]));
		assert_int_equal(count_fds(), before);
	}
	fdopendir_fail_in = 0;
	spooltest_reopen(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_reopen, spooltest_setup,
	                                    spooltest_teardown),
	    cmocka_unit_test_setup_teardown(test_abort, spooltest_setup,
	                                    spooltest_teardown),
	    cmocka_unit_test_setup_teardown(test_recovery, spooltest_setup,
	                                    spooltest_teardown),
	    cmocka_unit_test_setup_teardown(test_update_remove, spooltest_setup,
	                                    spooltest_teardown),
	    cmocka_unit_test_setup_teardown(test_journal_only_messages,
	                                    spooltest_setup,
	                                    spooltest_teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, spooltest_setup,
	                                    spooltest_teardown),
	    cmocka_unit_test_setup_teardown(test_lock, spooltest_setup,
	                                    spooltest_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_journal_create_fails, spooltest_setup, spooltest_teardown),
	    cmocka_unit_test_setup_teardown(test_opendir_fails, spooltest_setup,
	                                    spooltest_teardown),
	};

	log_init("test-spool", LOG_DEST_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
