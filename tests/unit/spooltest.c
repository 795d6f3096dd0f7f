/*
 * spooltest - what the spool's unit tests share; see spooltest.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "sbuf.h"
#include "spooltest.h"

static void on_timeout(void *context)
{
	fail_msg("spool callbacks did not come");
}

int spooltest_setup(void **state)
{
	struct spooltest *e = calloc(1, sizeof(*e));
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

void spooltest_rm_rf(const char *path)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

int spooltest_teardown(void **state)
{
	struct spooltest *e = *state;

	spool_deinit(&e->spool);
	evloop_timer_free(&e->timeout);
	evloop_free(&e->base);
	e->dir[strlen(e->dir) - 2] = '\0';
	spooltest_rm_rf(e->dir);
	free(e);
	return 0;
}

void spooltest_reopen(struct spooltest *e)
{
	const char *error = NULL;

	spool_deinit(&e->spool);
	if (spool_open(e->base, e->dir, &e->spool, &error) < 0)
		fail_msg("spooltest_reopen: %s", error);
}

void spooltest_on_done(void *context, int result, const char *error)
{
	struct spooltest *e = context;

	if (result < 0)
		e->failed++;
	if (++e->done == e->want)
		evloop_break(e->base);
}

/* Run the loop until want callbacks in total have come. */
void spooltest_wait(struct spooltest *e, int want)
{
	e->want = want;
	if (e->done >= want)
		return;
	evloop_timer_start(e->timeout, 10000);
	evloop_run(e->base);
	evloop_timer_stop(e->timeout);
	assert_int_equal(e->done, want);
}

struct spoolrec *spooltest_make_env(const char *id, const char *from)
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
char *spooltest_commit(struct spooltest *e, size_t len, char id_r[17])
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
	r = spooltest_make_env(id_r, "a@b");
	r->size = len;
	assert_int_equal(spool_msg_commit(msg, r, spooltest_on_done, e, &error),
	                 0);
	spoolrec_deinit(&r);
	return data;
}

size_t spooltest_count_dir(const char *dir, const char *sub)
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

void spooltest_check_loaded(struct spooltest *e, const char *id,
                            const char *data, size_t len)
{
	struct spoolrec *r = NULL, *want = spooltest_make_env(id, "a@b");
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
	/* A small file is read whole: its data is in memory as well. */
	if (len + 4096 <= SPOOL_LOAD_WHOLE_MAX) {
		assert_non_null(d.mem);
		assert_memory_equal(d.mem, data, len);
	} else if (len > SPOOL_LOAD_WHOLE_MAX) {
		assert_null(d.mem);
	}
	spool_data_close(&d);
	assert_int_equal(d.fd, -1);
	assert_null(d.mem);
	free(got);
	sbuf_deinit(&a);
	sbuf_deinit(&b);
	spoolrec_deinit(&r);
	spoolrec_deinit(&want);
}

void spooltest_on_found(void *context, const char *id)
{
	struct spooltest_ids *c = context;

	assert_true(c->n < 64);
	snprintf(c->ids[c->n++], 17, "%s", id);
}

void spooltest_write_file(const char *dir, const char *name, const void *data,
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
