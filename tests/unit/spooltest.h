/*
 * spooltest.h - what the spool's unit tests (test-spool.c,
 * test-spool-journal.c) share: a spool in a fresh directory under /tmp
 * with its event loop (cmocka setup and teardown), messages of a known
 * pattern committed and loaded back, directory listings. Every helper
 * fails the running test itself; nothing returns an error.
 */
#ifndef DIRMX_SPOOLTEST_H
#define DIRMX_SPOOLTEST_H

#include <stddef.h>

#include "spool.h"

struct event_base;
struct evloop_timer;

struct spooltest {
	char dir[128]; /* the spool: <mkdtemp>/s */
	struct event_base *base;
	struct spool *spool;
	int done, want, failed; /* callbacks so far, awaited, failed */
	struct evloop_timer *timeout;
};

/* cmocka fixtures: *state is a struct spooltest with an open spool. */
int spooltest_setup(void **state);
int spooltest_teardown(void **state);
void spooltest_rm_rf(const char *path);
/* Close and open the spool again (as after a clean restart). */
void spooltest_reopen(struct spooltest *e);
/* A spool_done_cb counting into the struct spooltest in context. */
void spooltest_on_done(void *context, int result, const char *error);
/* Run the loop until want callbacks in total have come (10 s at most). */
void spooltest_wait(struct spooltest *e, int want);
/* An envelope for id with two recipients. */
struct spoolrec *spooltest_make_env(const char *id, const char *from);
/* Commit one message of len pattern bytes; returns the data (the caller
 * frees it), its id in id_r. Its callback is spooltest_on_done. */
char *spooltest_commit(struct spooltest *e, size_t len, char id_r[17]);
/* Entries of dir/sub, dot files aside. */
size_t spooltest_count_dir(const char *dir, const char *sub);
/* spool_load() of id gives spooltest_make_env()'s envelope and data. */
void spooltest_check_loaded(struct spooltest *e, const char *id,
                            const char *data, size_t len);
void spooltest_write_file(const char *dir, const char *name, const void *data,
                          size_t len);

/* The ids spool_foreach() gives, collected by spooltest_on_found. */
struct spooltest_ids {
	char ids[64][17];
	size_t n;
};
void spooltest_on_found(void *context, const char *id);

#endif
