/*
 * test-smtpc - the outbound client's local decisions: a verdict from a
 * status alone (none, empty or odd is a temporary failure, never a
 * crash).
 * Everything that talks to a server is in tests/integration/test_smtpc.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "log.h"
#include "smtpc_private.h"

static void decide(int code, const char *status, enum smtpc_verdict verdict,
                   const char *want_status)
{
	struct smtpc_rcpt r = {0};

	smtpc_rcpt_decide(&r, code, status, "why");
	assert_true(r.decided);
	assert_int_equal(r.res.verdict, verdict);
	assert_int_equal(r.res.code, code);
	assert_string_equal(r.res.status, want_status);
	assert_string_equal(r.res.text, "why");
	free(r.text);
}

static void test_decide(void **state)
{
	decide(250, "2.1.5", SMTPC_DONE, "2.1.5");
	decide(550, "5.1.1", SMTPC_BOUNCE, "5.1.1");
	decide(451, "", SMTPC_RETRY, "4.0.0");
	decide(550, NULL, SMTPC_BOUNCE, "5.0.0");
	decide(0, "5.3.4", SMTPC_BOUNCE, "5.3.4");
	decide(0, "4.4.1", SMTPC_RETRY, "4.4.1");
	/* No usable status for a local decision: temporary. */
	decide(0, NULL, SMTPC_RETRY, "4.0.0");
	decide(0, "", SMTPC_RETRY, "4.0.0");
	decide(0, "x", SMTPC_RETRY, "x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),
	};

	log_init("test-smtpc", LOG_DEST_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
