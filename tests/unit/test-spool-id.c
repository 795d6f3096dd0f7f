/*
 * test-spool-id - queue ids: unique and ordered through a clock that
 * stalls, goes backwards and jumps; the carry into the next microsecond;
 * the 16-character form and what spool_id_parse() refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "spool_id.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
