/*
 * test-qshape - the queue's shape (qshape.h): age buckets at their edges,
 * one count per message and domain, only pending recipients, rows by
 * total, and the state of a message as the metrics and the summary see it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "qshape.h"
#include "queue.h"
#include "sbuf.h"
#include "spoolrec.h"

#define NOW 1000000000ULL

static struct spoolrec *env_new(uint64_t age_s, const char *const *rcpts,
                                const enum spoolrec_state *states)
{
	struct spoolrec *e = spoolrec_new();

	e->arrival = NOW - age_s;
	for (size_t i = 0; rcpts[i] != NULL; i++)
		spoolrec_add_rcpt(e, rcpts[i], "")->state = states[i];
	return e;
}

static void test_shape(void **state)
{
	static const char *const r1[] = {"a@x.example", "b@X.example",
	                                 "c@y.example", "d@z.example", NULL};
	static const enum spoolrec_state s1[] = {
	    SPOOLREC_PENDING, SPOOLREC_DEFERRED, SPOOLREC_DEFERRED,
	    SPOOLREC_DELIVERED};
	static const char *const r2[] = {"e@y.example", NULL};
	static const enum spoolrec_state s2[] = {SPOOLREC_PENDING};
	struct spoolrec *e1 = env_new(4 * 60 + 59, r1, s1);
	struct spoolrec *e2 = env_new(1280 * 60, r2, s2);
	struct spoolrec *e3 = env_new(5 * 60, r2, s2);
	struct queue_view v1 = {.id = "1", .env = e1};
	struct queue_view v2 = {.id = "2", .env = e2, .held = true};
	struct queue_view v3 = {.id = "3", .env = e3, .active = true};
	struct qshape *q = qshape_new();
	struct sbuf *out = sbuf_new(1 << 16);

	(void)state;
	assert_int_equal(qshape_state_of(&v1), QSHAPE_DEFERRED);
	assert_int_equal(qshape_state_of(&v2), QSHAPE_HELD);
	assert_int_equal(qshape_state_of(&v3), QSHAPE_ACTIVE);
	assert_int_equal(qshape_state_parse("deferred"), QSHAPE_DEFERRED);
	assert_int_equal(qshape_state_parse("all"), -1);
	qshape_add(q, &v1, NOW);
	qshape_add(q, &v2, NOW);
	qshape_add(q, &v3, NOW);
	qshape_render(q, out);
	assert_string_equal(
	    sbuf_data(out),
	    "               T     5    10    20    40    80   160"
	    "   320   640  1280 1280+\n"
	    "    TOTAL      3     1     1     0     0     0     0"
	    "     0     0     0     1\n"
	    "y.example      3     1     1     0     0     0     0"
	    "     0     0     0     1\n"
	    "x.example      1     1     0     0     0     0     0"
	    "     0     0     0     0\n");
	qshape_deinit(&q);
	assert_null(q);
	sbuf_deinit(&out);
	spoolrec_deinit(&e1);
	spoolrec_deinit(&e2);
	spoolrec_deinit(&e3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
