/*
 * test-io-deadline - the rule behind io_set_deadline(): a peer below
 * min_rate meets its deadline however it spreads its bytes; a peer above
 * it never does; the deadline never reaches past max from now.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "io.h"

#define MAX 180000u /* data_timeout 3 min */

/* A peer sending `bytes` every `every_ms`: when does it time out? */
static uint64_t run(unsigned rate, uint64_t bytes, uint64_t every_ms,
                    uint64_t horizon_ms)
{
	uint64_t deadline = MAX, now = 0;

	while (now + every_ms < deadline) {
		now += every_ms;
		if (now > horizon_ms)
			return 0; /* still connected */
		deadline = io_rate_deadline(now, deadline, bytes, rate, MAX);
	}
	return deadline;
}

static void test_table(void **state)
{
	(void)state;
	/* no rate: the deadline is fixed */
	assert_int_equal(io_rate_deadline(1000, 5000, 100000, 0, MAX), 5000);
	/* 500 bytes at 500 B/s: one second more */
	assert_int_equal(io_rate_deadline(1000, 5000, 500, 500, MAX), 6000);
	/* never past now + max */
	assert_int_equal(io_rate_deadline(1000, 5000, 1u << 30, 500, MAX),
	                 1000 + MAX);
	/* already late: only the credit counts */
	assert_int_equal(io_rate_deadline(9000, 5000, 250, 500, MAX), 9500);
	/* huge n does not overflow */
	assert_int_equal(io_rate_deadline(7, 10, UINT64_MAX, 1, MAX), 7 + MAX);
	/* a rate above 1000 B/s: sub-millisecond credit rounds down */
	assert_int_equal(io_rate_deadline(0, 100, 1, 5000, MAX), 100);
}

static void test_trickle(void **state)
{
	uint64_t end;

	(void)state;
	/* one byte every 10 s: out well within data_timeout + a little */
	end = run(500, 1, 10000, 3600000);
	assert_true(end > 0 && end <= MAX + 10000);
	/* 400 B/s in 4 KB bursts every 10 s: below 500, out in the end */
	end = run(500, 4000, 10000, 36000000);
	assert_true(end > 0);
	/* 600 B/s in 6 KB bursts every 10 s: served for hours */
	assert_int_equal(run(500, 6000, 10000, 36000000), 0);
	/* a fast client in small pieces: served */
	assert_int_equal(run(500, 100, 10, 36000000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_trickle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
