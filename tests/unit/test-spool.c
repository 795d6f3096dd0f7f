/*
 * test-spool - the durable store on a real directory: commit then reopen
 * finds the same envelope and data; abort leaves nothing; tmp/ leftovers
 * are removed and corrupt files moved aside at open; updates, removals,
 * group commit, the lock, the journal (replay, torn tails, rotation, a
 * segment that cannot be created), a directory that cannot be read; and
 * queue IDs (unique and ordered through a clock that goes backwards).
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

#include "evloop.h"
#include "log.h"
#include "sbuf.h"
#include "spool.h"

struct env {
	char dir[128];
	struct event_base *base;
	struct spool *spool;
	int done, want, failed;
	struct evloop_timer *timeout;
};

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

static void on_timeout(void *context)
{
	fail_msg("spool callbacks did not come");
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *error = NULL;

	snprintf(e->dir, sizeof(e->dir), "/tmp/test-spool.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	strcat(e->dir, "/s"); /* created by spool_open */
	e->base = evloop_new();
	e->timeout = evloop_timer_new(e->base, on_timeout, e);
	if (spool_open(e->base, e->dir, &e->spool, &error) < 0)
		fail_msg("open: %s", error);
	*state = e;
	return 0;
}

static void rm_rf(const char *path)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static int teardown(void **state)
{
	struct env *e = *state;

	spool_deinit(&e->spool);
	evloop_timer_free(&e->timeout);
	evloop_free(&e->base);
	e->dir[strlen(e->dir) - 2] = '\0';
	rm_rf(e->dir);
	free(e);
	return 0;
}

static void reopen(struct env *e)
{
	const char *error = NULL;

	spool_deinit(&e->spool);
	if (spool_open(e->base, e->dir, &e->spool, &error) < 0)
		fail_msg("reopen: %s", error);
}

static void on_done(void *context, int result, const char *error)
{
	struct env *e = context;

	if (result < 0)
		e->failed++;
	if (++e->done == e->want)
		evloop_break(e->base);
}

/* Run the loop until want callbacks in total have come. */
static void wait_done(struct env *e, int want)
{
	e->want = want;
	if (e->done >= want)
		return;
	evloop_timer_start(e->timeout, 10000);
	evloop_run(e->base);
	evloop_timer_stop(e->timeout);
	assert_int_equal(e->done, want);
}

static struct spoolrec *make_env(const char *id, const char *from)
{
	struct spoolrec *r = spoolrec_new();
	struct spoolrec_rcpt *rc;

	/* Queue ids are SPOOL_ID_LEN characters: copy exactly that. */
	memcpy(r->id, id, strnlen(id, sizeof(r->id) - 1));
	r->arrival = 1700000000;
	spoolrec_set(&r->client, "192.0.2.1");
	spoolrec_set(&r->helo, "h=%\n");
	spoolrec_set(&r->mail_from, from);
	rc = spoolrec_add_rcpt(r, "rcpt@example.com", "mbx1.example.com");
	rc->notify = SPOOLREC_NOTIFY_FAILURE;
	spoolrec_add_rcpt(r, "other@example.net", "external");
	return r;
}

/* Commit one message of len bytes of a pattern; returns its id. */
static char *commit_one(struct env *e, size_t len, char id_r[17])
{
	struct spool_msg *msg = NULL;
	const char *error = NULL;
	char *data = malloc(len + 1);
	struct spoolrec *r;

	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 7 + len);
	assert_int_equal(spool_msg_begin(e->spool, &msg, &error), 0);
	snprintf(id_r, 17, "%s", spool_msg_id(msg));
	/* in uneven chunks, one of them larger than the buffer */
	for (size_t off = 0, step = 1; off < len; step = step * 3 + 1) {
		size_t n = len - off < step ? len - off : step;

		assert_int_equal(spool_msg_write(msg, data + off, n, &error),
		                 0);
		off += n;
	}
	r = make_env(id_r, "a@b");
	r->size = len;
	assert_int_equal(spool_msg_commit(msg, r, on_done, e, &error), 0);
	spoolrec_deinit(&r);
	return data;
}

static size_t count_dir(const char *dir, const char *sub)
{
	char path[300];
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void check_loaded(struct env *e, const char *id, const char *data,
                         size_t len)
{
	struct spoolrec *r = NULL, *want = make_env(id, "a@b");
	struct spool_data d;
	const char *error = NULL;
	struct sbuf *a = sbuf_new(1 << 20), *b = sbuf_new(1 << 20);
	char *got = malloc(len + 1);

	want->size = len;
	assert_int_equal(spool_load(e->spool, id, &r, &d, &error), 1);
	assert_int_equal(spoolrec_format(r, a, &error), 0);
	assert_int_equal(spoolrec_format(want, b, &error), 0);
	assert_string_equal(sbuf_data(a), sbuf_data(b));
	assert_int_equal(d.len, len);
	assert_int_equal(pread(d.fd, got, len, (off_t)d.offset), (ssize_t)len);
	assert_memory_equal(got, data, len);
	close(d.fd);
	free(got);
	sbuf_deinit(&a);
	sbuf_deinit(&b);
	spoolrec_deinit(&r);
	spoolrec_deinit(&want);
}

struct collect {
	char ids[64][17];
	size_t n;
};

static void on_found(void *context, const char *id)
{
	struct collect *c = context;

	assert_true(c->n < 64);
	snprintf(c->ids[c->n++], 17, "%s", id);
}

static void test_commit_reopen(void **state)
{
	struct env *e = *state;
	static const size_t sizes[] = {0, 1, 1000, 65535, 65536, 200001};
	char ids[6][17];
	char *data[6];
	struct collect c = {.n = 0};

	for (size_t i = 0; i < 6; i++)
		data[i] = commit_one(e, sizes[i], ids[i]);
	wait_done(e, 6);
	assert_int_equal(e->failed, 0);
	assert_int_equal(count_dir(e->dir, "tmp"), 0);
	reopen(e);
	spool_foreach(e->spool, on_found, &c);
	assert_int_equal(c.n, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(c.ids[i], ids[i]); /* time order */
		check_loaded(e, ids[i], data[i], sizes[i]);
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
	struct env *e = *state;
	struct spool_msg *msg = NULL;
	const char *error = NULL;
	struct spoolrec *r;
	char id[17], marker[17], orphan[17] = "";

	assert_int_equal(spool_msg_begin(e->spool, &msg, &error), 0);
	assert_int_equal(spool_msg_write(msg, "hello", 5, &error), 0);
	assert_int_equal(count_dir(e->dir, "tmp"), 1);
	spool_msg_abort(&msg);
	assert_null(msg);
	assert_int_equal(count_dir(e->dir, "tmp"), 0);
	assert_int_equal(count_dir(e->dir, "q"), 0);

	/* A commit that fails (wrong id) leaves msg to the caller. */
	assert_int_equal(spool_msg_begin(e->spool, &msg, &error), 0);
	r = make_env("0000000000000000", "");
	assert_int_equal(spool_msg_commit(msg, r, on_done, e, &error), -1);
	assert_string_equal(error, "envelope id is not the message id");
	spool_msg_abort(&msg);
	spoolrec_deinit(&r);
	assert_int_equal(count_dir(e->dir, "tmp"), 0);

	/* Aborted after commit: no callback, but the message is kept and
	 * reported to the orphan callback once it is durable. */
	spool_set_orphan_cb(e->spool, on_orphan, orphan);
	assert_int_equal(spool_msg_begin(e->spool, &msg, &error), 0);
	snprintf(id, sizeof(id), "%s", spool_msg_id(msg));
	r = make_env(id, "");
	assert_int_equal(spool_msg_commit(msg, r, on_done, e, &error), 0);
	spool_msg_abort(&msg);
	spoolrec_deinit(&r);
	assert_string_equal(orphan, "");
	free(commit_one(e, 10, marker)); /* a marker that does call back */
	wait_done(e, 1);
	assert_string_equal(orphan, id);
	assert_int_equal(count_dir(e->dir, "q"), 2);
	assert_int_equal(count_dir(e->dir, "tmp"), 0);
}

static void write_file(const char *dir, const char *name, const void *data,
                       size_t len)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_recovery(void **state)
{
	struct env *e = *state;
	char good[17], bad[17], path[300];
	char *data = commit_one(e, 5000, good);
	struct collect c = {.n = 0};
	int fd;

	free(commit_one(e, 100, bad));
	wait_done(e, 2);
	spool_deinit(&e->spool);
	/* leftovers of a crash */
	write_file(e->dir, "tmp/0000000000000001", "half", 4);
	write_file(e->dir, "tmp/junk", "x", 1);
	/* a torn file in q/ (impossible by design; a bad disk) */
	snprintf(path, sizeof(path), "%s/q/%s", e->dir, bad);
	assert_int_equal(truncate(path, 50), 0);
	write_file(e->dir, "q/not-an-id", "?", 1);
	write_file(e->dir, "q/0000000000000002", "DMX1 garbage", 12);
	/* an orphan state file */
	write_file(e->dir, "q/0000000000000003.state", "x", 1);
	reopen(e);
	assert_int_equal(count_dir(e->dir, "tmp"), 0);
	assert_int_equal(count_dir(e->dir, "q"), 1);
	assert_int_equal(count_dir(e->dir, "corrupt"), 3);
	spool_foreach(e->spool, on_found, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.ids[0], good);
	check_loaded(e, good, data, 5000);

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
	assert_int_equal(count_dir(e->dir, "corrupt"), 4);
	free(data);
}

static void test_update_remove(void **state)
{
	struct env *e = *state;
	char id[17];
	char *data = commit_one(e, 300, id);
	struct spoolrec *r = NULL, *u;
	struct spool_data d;
	const char *error = NULL;

	wait_done(e, 1);
	u = make_env(id, "a@b");
	u->rcpts[0].state = SPOOLREC_DELIVERED;
	u->rcpts[1].state = SPOOLREC_DEFERRED;
	u->rcpts[1].attempts = 2;
	spoolrec_set(&u->rcpts[1].error, "421 busy");
	assert_int_equal(spool_update(e->spool, u, on_done, e, &error), 0);
	wait_done(e, 2);
	reopen(e);
	assert_int_equal(spool_load(e->spool, id, &r, &d, &error), 1);
	close(d.fd);
	assert_int_equal(r->rcpts[0].state, SPOOLREC_DELIVERED);
	assert_int_equal(r->rcpts[1].attempts, 2);
	assert_string_equal(r->rcpts[1].error, "421 busy");
	spoolrec_deinit(&r);

	assert_int_equal(spool_remove(e->spool, id, on_done, e, &error), 0);
	wait_done(e, 3);
	assert_int_equal(e->failed, 0);
	assert_int_equal(spool_load(e->spool, id, &r, &d, &error), 0);
	assert_int_equal(count_dir(e->dir, "q"), 0);
	/* An update of a removed message fails and leaves nothing. */
	assert_int_equal(spool_update(e->spool, u, on_done, e, &error), 0);
	wait_done(e, 4);
	assert_int_equal(e->failed, 1);
	assert_int_equal(count_dir(e->dir, "q"), 0);
	assert_int_equal(count_dir(e->dir, "tmp"), 0);
	spoolrec_deinit(&u);
	free(data);
}

static void test_group_commit(void **state)
{
	struct env *e = *state;
	struct spool_stats st;
	char id[17];

	for (int i = 0; i < 50; i++)
		free(commit_one(e, 100, id));
	wait_done(e, 50);
	spool_get_stats(e->spool, &st);
	assert_int_equal(st.ops, 50);
	/* Queued before the loop ran: far fewer batches than messages. */
	assert_true(st.batches < 50);
	assert_int_equal(count_dir(e->dir, "q"), 50);
}

static void test_lock(void **state)
{
	struct env *e = *state;
	struct spool *other = NULL;
	const char *error = NULL;

	assert_int_equal(spool_open(e->base, e->dir, &other, &error), -1);
	assert_non_null(strstr(error, "in use"));
	assert_null(other);
}

static void test_ids(void **state)
{
	struct spool_id last = {0, 0}, id, back;
	char prev[SPOOL_ID_LEN + 1] = "", cur[SPOOL_ID_LEN + 1];
	uint64_t now = UINT64_C(1700000000000000);

	for (int i = 0; i < 100000; i++) {
		/* a clock that stalls, jumps back a second, jumps ahead */
		if (i % 1000 == 500)
			now -= 1000000;
		else if (i % 7 == 0)
			now += 3;
		id = spool_id_new(now, last);
		assert_true(spool_id_cmp(id, last) > 0);
		spool_id_format(id, cur);
		assert_int_equal(strlen(cur), SPOOL_ID_LEN);
		assert_true(strcmp(cur, prev) > 0);
		assert_true(spool_id_parse(cur, SPOOL_ID_LEN, &back));
		assert_int_equal(spool_id_cmp(back, id), 0);
		memcpy(prev, cur, sizeof(cur));
		last = id;
	}
	/* 65,536 in one microsecond carry into the next. */
	last.us = 5;
	last.seq = UINT16_MAX;
	id = spool_id_new(5, last);
	assert_true(id.us == 6 && id.seq == 0);
	id.us = UINT64_MAX;
	id.seq = UINT16_MAX;
	spool_id_format(id, cur);
	assert_string_equal(cur, "zzzzzzzzzzzzzzzz");
	assert_false(spool_id_parse("zzzzzzzzzzzzzzz", 15, &back));
	assert_false(spool_id_parse("zzzzzzzzzzzzzzzi", 16, &back));
	assert_false(spool_id_parse("Zzzzzzzzzzzzzzzz", 16, &back));
	assert_false(spool_id_parse("zzzzzzz\0zzzzzzzz", 16, &back));
}

/*
 * A power cut while the spool runs: copy the directory as it is on disk
 * now (the worker is idle) into a second one, where the test then takes
 * away what a crash may take (q/ files that only the journal made
 * durable), and open that copy.
 */
static void snapshot(struct env *e, char copy[160])
{
	char cmd[400];

	snprintf(copy, 160, "%.*s-copy", (int)strlen(e->dir) - 2, e->dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", copy,
	         e->dir, copy);
	assert_int_equal(system(cmd), 0);
}

static void open_copy(struct env *e, const char *copy, struct spool **s_r)
{
	const char *error = NULL;

	if (spool_open(e->base, copy, s_r, &error) < 0)
		fail_msg("open copy: %s", error);
}

static void check_loaded_in(struct spool *s, const char *id, const char *data,
                            size_t len)
{
	struct env other = {.spool = s};

	check_loaded(&other, id, data, len);
}

static void test_journal_restores(void **state)
{
	struct env *e = *state;
	static const size_t sizes[] = {0, 5000, 70000, 300};
	char ids[4][17], copy[160], path[400], cmd[1000];
	char *data[4];
	const char *error = NULL;
	struct spool *s = NULL;
	struct spool_stats st;
	struct collect c = {.n = 0};

	for (size_t i = 0; i < 4; i++)
		data[i] = commit_one(e, sizes[i], ids[i]);
	wait_done(e, 4);
	assert_int_equal(e->failed, 0);
	spool_get_stats(e->spool, &st);
	assert_true(st.journal_syncs >= 1);
	/* Message 3 is delivered: its removal is journaled before the
	 * unlink. Keep its file to play an unlink the crash took back. */
	snprintf(cmd, sizeof(cmd), "cp -a '%s/q/%s' '%s.saved'", e->dir, ids[3],
	         e->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(spool_remove(e->spool, ids[3], on_done, e, &error), 0);
	wait_done(e, 5);
	assert_int_equal(e->failed, 0);
	assert_int_equal(count_dir(e->dir, "journal"), 1);

	snapshot(e, copy);
	/* The crash took message 0's file, tore message 1's, left 2. */
	snprintf(path, sizeof(path), "%s/q/%s", copy, ids[0]);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/q/%s", copy, ids[1]);
	assert_int_equal(truncate(path, 2000), 0);
	snprintf(cmd, sizeof(cmd), "mv '%s.saved' '%s/q/%s'", e->dir, copy,
	         ids[3]);
	assert_int_equal(system(cmd), 0);
	open_copy(e, copy, &s);
	spool_foreach(s, on_found, &c);
	assert_int_equal(c.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(c.ids[i], ids[i]);
		check_loaded_in(s, ids[i], data[i], sizes[i]);
	}
	assert_int_equal(count_dir(copy, "corrupt"), 0);
	assert_int_equal(count_dir(copy, "tmp"), 0);
	assert_int_equal(count_dir(copy, "journal"), 1); /* a fresh one */
	spool_deinit(&s);
	/* A clean stop leaves no journal behind. */
	assert_int_equal(count_dir(copy, "journal"), 0);
	rm_rf(copy);
	for (size_t i = 0; i < 4; i++)
		free(data[i]);
}

static void test_journal_torn_tail(void **state)
{
	struct env *e = *state;
	char ids[2][17], copy[160], path[600];
	char *data[2];
	struct spool *s = NULL;
	struct collect c = {.n = 0};
	struct stat st;
	DIR *d;
	struct dirent *de;

	data[0] = commit_one(e, 1000, ids[0]);
	wait_done(e, 1);
	data[1] = commit_one(e, 1000, ids[1]);
	wait_done(e, 2);
	snapshot(e, copy);
	/* Both files lost; the second record torn in its payload. */
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/q/%s", copy, ids[i]);
		assert_int_equal(unlink(path), 0);
	}
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
	spool_foreach(s, on_found, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.ids[0], ids[0]);
	check_loaded_in(s, ids[0], data[0], 1000);
	assert_int_equal(count_dir(copy, "corrupt"), 0);
	spool_deinit(&s);
	rm_rf(copy);
	free(data[0]);
	free(data[1]);
}

static void test_journal_rotation(void **state)
{
	struct env *e = *state;
	struct spool_stats st;
	char ids[40][17];
	char *data[40];
	struct collect c = {.n = 0};

	spool_set_journal_segment_max(e->spool, 8000);
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 5; i++)
			data[round * 5 + i] =
			    commit_one(e, 2000, ids[round * 5 + i]);
		wait_done(e, round * 5 + 5);
	}
	assert_int_equal(e->failed, 0);
	spool_get_stats(e->spool, &st);
	assert_true(st.journal_syncs >= 8);
	/* Full segments are retired: one (or, during a rotation, two). */
	assert_true(count_dir(e->dir, "journal") <= 2);
	reopen(e);
	spool_foreach(e->spool, on_found, &c);
	assert_int_equal(c.n, 40);
	for (int i = 0; i < 40; i++) {
		check_loaded(e, ids[i], data[i], 2000);
		free(data[i]);
	}
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
static void loop_fails(struct env *e)
{
	const char *error = NULL;

	assert_int_equal(
	    spool_remove(e->spool, "not an id", on_done, e, &error), -1);
	assert_string_equal(error, "invalid queue id");
}

static void test_journal_create_fails(void **state)
{
	struct env *e = *state;
	char ids[40][17], name[32];
	char *data[40];
	struct collect c = {.n = 0};

	/* j0000000000000001 is the active segment; take the next ones. */
	for (unsigned seq = 2; seq < 256; seq++) {
		snprintf(name, sizeof(name), "journal/j%016x", seq);
		write_file(e->dir, name, "", 0);
	}
	spool_set_journal_segment_max(e->spool, 1);
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 5; i++)
			data[round * 5 + i] =
			    commit_one(e, 2000, ids[round * 5 + i]);
		/* While the worker syncs, then maintains the journal. */
		loop_fails(e);
		wait_done(e, round * 5 + 5);
		loop_fails(e);
	}
	assert_int_equal(e->failed, 0);
	reopen(e);
	spool_foreach(e->spool, on_found, &c);
	assert_int_equal(c.n, 40);
	for (int i = 0; i < 40; i++) {
		check_loaded(e, ids[i], data[i], 2000);
		free(data[i]);
	}
	/* The taken names were replayed (empty) and removed at open. */
	assert_int_equal(count_dir(e->dir, "journal"), 1);
}

static size_t count_fds(void)
{
	return count_dir("/proc/self", "fd");
}

/* Open fails when a directory cannot be read, and leaks nothing. */
static void test_opendir_fails(void **state)
{
	static const char *const want[] = {"opendir tmp", "opendir journal",
	                                   "opendir q"};
	struct env *e = *state;
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
	reopen(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_reopen, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_remove, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test_setup_teardown(test_journal_restores, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_journal_torn_tail, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_journal_rotation, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_journal_create_fails, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_opendir_fails, setup,
	                                    teardown),
	};

	log_init("test-spool", LOG_DEST_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
