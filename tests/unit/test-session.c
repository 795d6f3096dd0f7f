/*
 * test-session - the SMTP session driven in-process, without a listener
 * (tests/support/sessionlab): the greeting, refused payloads never run as
 * commands (DESIGN.md invariant 7), pipelining in order, directory
 * trouble as 4xx, an unreadable BDAT closing the session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sessionlab.h"
#include "settings.h"

static const char *exchange(struct sessionlab *lab, const char *in, size_t *n_r,
                            bool *closed_r)
{
	size_t len;
	const char *out;

	sessionlab_send(lab, in, strlen(in));
	sessionlab_run(lab, 80);
	out = sessionlab_output(lab, &len, closed_r);
	*n_r = sessionlab_count_replies(out, len);
	printf("> %s< %s\n", in, out);
	return out;
}

static int setup(void **state)
{
	struct sessionlab *lab = sessionlab_new(SETTINGS_ROLE_MX);
	size_t n;
	bool closed;

	sessionlab_run(lab, 50);
	assert_non_null(strstr(sessionlab_output(lab, &n, &closed),
	                       "220 mx.sessionlab.test ESMTP"));
	*state = lab;
	return 0;
}

static int teardown(void **state)
{
	struct sessionlab *lab = *state;

	sessionlab_free(&lab);
	return 0;
}

static void test_ehlo_and_pipelining(void **state)
{
	struct sessionlab *lab = *state;
	size_t n;
	bool closed;
	const char *out =
	    exchange(lab, "EHLO a.example\r\nNOOP\r\nHELP\r\n", &n, &closed);

	assert_int_equal(n, 3);
	assert_non_null(strstr(out, "250-CHUNKING"));
	assert_non_null(strstr(out, "214 2.0.0"));
	assert_false(closed);
}

static void test_refused_bdat_chunk_is_data(void **state)
{
	struct sessionlab *lab = *state;
	const char *chunk = "MAIL FROM:<x@y>\r\nRCPT TO:<a@dirmx.test>\r\n"
	                    "NOOP\r\nQUIT\r\n";
	char in[512];
	size_t n;
	bool closed;
	const char *out;

	snprintf(in, sizeof(in),
	         "EHLO a.example\r\nMAIL FROM:<a@b.example>\r\n"
	         "BDAT %zu LAST\r\n%sHELP\r\n",
	         strlen(chunk), chunk);
	out = exchange(lab, in, &n, &closed);
	/* EHLO, MAIL, BDAT (no recipient: refused), HELP: nothing else */
	assert_int_equal(n, 4);
	assert_non_null(strstr(out, "554 5.5.1 No valid recipients"));
	assert_non_null(strstr(out, "214 2.0.0"));
	assert_null(strstr(out, "221"));
	assert_false(closed);
}

static void test_chunk_in_pieces(void **state)
{
	struct sessionlab *lab = *state;
	const char *chunk = "NOOP\r\nNOOP\r\nQUIT\r\n";
	size_t n;
	bool closed;
	char head[64];

	snprintf(head, sizeof(head), "BDAT %zu\r\n", strlen(chunk));
	exchange(lab, head, &n, &closed);
	assert_int_equal(n, 0); /* waiting for the chunk */
	for (const char *p = chunk; *p != '\0'; p++) {
		char one[2] = {*p, '\0'};

		exchange(lab, one, &n, &closed);
		assert_int_equal(n, p[1] == '\0' ? 1 : 0);
	}
	assert_false(closed);
}

static void test_unreadable_bdat_closes(void **state)
{
	struct sessionlab *lab = *state;
	size_t n;
	bool closed;
	const char *out =
	    exchange(lab, "BDAT 12x\r\nNOOP\r\nNOOP\r\n", &n, &closed);

	assert_non_null(strstr(out, "501 5.5.4"));
	assert_null(strstr(out, "250"));
	assert_true(closed);
	sessionlab_connect(lab);
	sessionlab_run(lab, 30);
	sessionlab_output(lab, &n, &closed);
}

static void test_directory_down_is_4xx(void **state)
{
	struct sessionlab *lab = *state;
	size_t n;
	bool closed;
	const char *out;

	out = exchange(lab,
	               "EHLO a.example\r\nMAIL FROM:<a@b.example>\r\n"
	               "RCPT TO:<someone@dirmx.test>\r\n",
	               &n, &closed);
	sessionlab_run(lab, 400); /* authc's own timeout */
	if (n < 3) {
		out = sessionlab_output(lab, &n, &closed);
		n += 2;
	}
	assert_int_equal(n, 3);
	assert_non_null(strstr(out, "451 4.4.3"));
}

static void test_refused_data_with_body_closes(void **state)
{
	struct sessionlab *lab = *state;
	size_t n;
	bool closed;
	const char *out;

	sessionlab_connect(lab);
	sessionlab_run(lab, 30);
	sessionlab_output(lab, &n, &closed);
	out = exchange(lab,
	               "EHLO a.example\r\nDATA\r\nMAIL FROM:<x@y>\r\n"
	               "NOOP\r\n",
	               &n, &closed);
	assert_non_null(strstr(out, "503 5.5.1"));
	assert_non_null(strstr(out, "554 5.5.0"));
	assert_null(strstr(out, "250 2.1.0"));
	assert_true(closed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ehlo_and_pipelining, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_refused_bdat_chunk_is_data,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunk_in_pieces, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_bdat_closes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_directory_down_is_4xx, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_refused_data_with_body_closes,
	                                    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
