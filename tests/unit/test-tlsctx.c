/*
 * test-tlsctx - the reference count of routerd's TLS contexts
 * (routerd/tlsctx.c): a reloaded context stays alive while a session
 * holds it and is freed with its last user, never before, never leaked
 * (the ASan build checks the frees as well).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>

#include "settings.h"
#include "tlsctx.h"

static struct tlsctx *make(void)
{
	gnutls_certificate_credentials_t creds;
	gnutls_priority_t prio;

	assert_int_equal(gnutls_certificate_allocate_credentials(&creds), 0);
	assert_int_equal(
	    gnutls_priority_init(&prio, SETTINGS_TLS_PRIORITY, NULL), 0);
	return tlsctx_new_from(creds, prio);
}

static void test_reload_while_sessions(void **state)
{
	unsigned base = tlsctx_live();
	struct tlsctx *listeners = make();
	struct tlsctx *s1, *s2, *s3;

	(void)state;
	/* Two sessions start TLS with the first context. */
	s1 = tlsctx_ref(listeners);
	s2 = tlsctx_ref(listeners);
	assert_int_equal(tlsctx_refs(listeners), 3);
	/* SIGHUP: the listeners move to a new one. */
	tlsctx_unref(&listeners);
	assert_null(listeners);
	listeners = make();
	assert_int_equal(tlsctx_live(), base + 2);
	s3 = tlsctx_ref(listeners);
	/* The old one lives as long as its last session. */
	tlsctx_unref(&s1);
	assert_int_equal(tlsctx_live(), base + 2);
	assert_non_null(tlsctx_creds(s2));
	tlsctx_unref(&s2);
	assert_int_equal(tlsctx_live(), base + 1);
	/* A second reload with no session on the current context. */
	tlsctx_unref(&listeners);
	assert_int_equal(tlsctx_live(), base + 1);
	tlsctx_unref(&s3);
	assert_int_equal(tlsctx_live(), base);
	tlsctx_unref(&s3); /* NULL is fine */
}

static void test_new_errors(void **state)
{
	struct tlsctx *ctx = NULL;
	const char *error = NULL;
	unsigned base = tlsctx_live();

	(void)state;
	assert_int_equal(tlsctx_new("/nonexistent.crt", "/nonexistent.key",
	                            SETTINGS_TLS_PRIORITY, &ctx, &error),
	                 -1);
	assert_null(ctx);
	assert_non_null(error);
	assert_int_equal(tlsctx_live(), base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reload_while_sessions),
	    cmocka_unit_test(test_new_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
