/*
 * test-smtpcmd-auth - the AUTH command, strict base64, RFC 4616 PLAIN and
 * the wiping of secrets (smtpcmd_auth.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpcmd.h"
static void test_auth(void **state)
{
	static const struct {
		const char *in;
		int rc;
		enum smtpcmd_auth_mech mech;
		bool has_ir;
		const char *ir;
	} cases[] = {
	    {"PLAIN", 0, SMTPCMD_AUTH_PLAIN, false, ""},
	    {"plain AGEAYg==", 0, SMTPCMD_AUTH_PLAIN, true, "AGEAYg=="},
	    {"PLAIN =", 0, SMTPCMD_AUTH_PLAIN, true, ""},
	    {"LOGIN", 0, SMTPCMD_AUTH_LOGIN, false, ""},
	    {"Login dXNlcg==", 0, SMTPCMD_AUTH_LOGIN, true, "dXNlcg=="},
	    {"GSSAPI", 0, SMTPCMD_AUTH_OTHER, false, ""},
	    {"SCRAM-SHA-256", 0, SMTPCMD_AUTH_OTHER, false, ""},
	    {"PLAIN AGE AYg==", -1, 0, false, NULL},
	    {"PLAIN AG\x01", -1, 0, false, NULL},
	    {"PL@IN", -1, 0, false, NULL},
	    {"ABCDEFGHIJKLMNOPQRSTU", -1, 0, false, NULL},
	    {"", -1, 0, false, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpcmd_auth a;
		struct smtpcmd_error err;
		int rc = smtpcmd_parse_auth(cases[i].in, strlen(cases[i].in),
		                            &a, &err);

		printf("auth %zu: %s\n", i, cases[i].in);
		assert_int_equal(rc, cases[i].rc);
		if (rc < 0) {
			assert_int_equal(err.code, 501);
			continue;
		}
		assert_int_equal(a.mech, cases[i].mech);
		assert_int_equal(a.has_ir, cases[i].has_ir);
		assert_int_equal(a.ir_len, strlen(cases[i].ir));
		if (a.ir_len > 0)
			assert_memory_equal(a.ir, cases[i].ir, a.ir_len);
	}
}

static void test_base64(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
		size_t out_len;
	} cases[] = {
	    {"", 0, "", 0},
	    {"Zg==", 0, "f", 1},
	    {"Zm8=", 0, "fo", 2},
	    {"Zm9v", 0, "foo", 3},
	    {"Zm9vYmFy", 0, "foobar", 6},
	    {"AAEC", 0, "\0\1\2", 3},
	    {"+/+/", 0, "\xfb\xff\xbf", 3},
	    {"*", 1, NULL, 0},
	    {"Zg=", -1, NULL, 0},
	    {"Zg", -1, NULL, 0},
	    {"Zh==", -1, NULL, 0}, /* non-zero pad bits */
	    {"Zm9=", -1, NULL, 0},
	    {"Z===", -1, NULL, 0},
	    {"====", -1, NULL, 0},
	    {"Zg==Zg==", -1, NULL, 0},
	    {"Z=g=", -1, NULL, 0},
	    {"Zm9v\r\n", -1, NULL, 0},
	    {"Zm 9v", -1, NULL, 0},
	    {"Zm9v YmFy", -1, NULL, 0},
	    {"Zm-_", -1, NULL, 0},
	    {"**", -1, NULL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpcmd_error err;
		unsigned char *out = (unsigned char *)"x";
		size_t n = 99;
		int rc = smtpcmd_decode_base64(cases[i].in, strlen(cases[i].in),
		                               &out, &n, &err);

		printf("base64 %zu: %s\n", i, cases[i].in);
		assert_int_equal(rc, cases[i].rc);
		if (rc != 0) {
			assert_null(out);
			assert_int_equal(err.code, 501);
			assert_string_equal(err.enhanced,
			                    rc == 1 ? "5.7.0" : "5.5.2");
			continue;
		}
		assert_int_equal(n, cases[i].out_len);
		assert_memory_equal(out, cases[i].out, n);
		assert_int_equal(out[n], 0);
		smtpcmd_secret_free(out, n);
	}
}

static void test_plain(void **state)
{
	static const struct {
		const char *b64; /* of the message in the comment */
		int rc;
		const char *authzid, *authcid, *password;
	} cases[] = {
	    /* "\0abc\0secret" */
	    {"AGFiYwBzZWNyZXQ=", 0, "", "abc", "secret"},
	    /* "admin\0abc\0pw" */
	    {"YWRtaW4AYWJjAHB3", 0, "admin", "abc", "pw"},
	    /* "\0j\xc3\xbcrgen\0p\xc3\xa4ss" (UTF-8) */
	    {"AGrDvHJnZW4AcMOkc3M=", 0, "", "j\xc3\xbcrgen", "p\xc3\xa4ss"},
	    /* "\0abc\0" (empty password) */
	    {"AGFiYwA=", -1, NULL, NULL, NULL},
	    /* "\0\0pw" (empty authcid) */
	    {"AABwdw==", -1, NULL, NULL, NULL},
	    /* "abc\0pw" (one NUL) */
	    {"YWJjAHB3", -1, NULL, NULL, NULL},
	    /* "\0abc\0pw\0x" (third NUL) */
	    {"AGFiYwBwdwB4", -1, NULL, NULL, NULL},
	    /* "\0abc\0p\xff" (bad UTF-8) */
	    {"AGFiYwBw/w==", -1, NULL, NULL, NULL},
	    /* "" */
	    {"", -1, NULL, NULL, NULL},
	    {"*", 1, NULL, NULL, NULL},
	    {"AGFiYwBzZWNyZXQ", -1, NULL, NULL, NULL},
	    {"AGFiYwBzZWNyZXQ=\n", -1, NULL, NULL, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpcmd_plain p;
		struct smtpcmd_error err;
		int rc = smtpcmd_decode_plain(cases[i].b64,
		                              strlen(cases[i].b64), &p, &err);

		printf("plain %zu: %s\n", i, cases[i].b64);
		assert_int_equal(rc, cases[i].rc);
		if (rc != 0) {
			assert_null(p.authcid);
			assert_null(p.password);
			assert_int_equal(err.code, 501);
			continue;
		}
		assert_string_equal(p.authzid, cases[i].authzid);
		assert_string_equal(p.authcid, cases[i].authcid);
		assert_string_equal(p.password, cases[i].password);
		smtpcmd_plain_clear(&p);
		assert_null(p.password);
	}
}

/* Hostile base64: long, every byte value, never crashes, never leaks. */
static void test_hostile_base64(void **state)
{
	char in[1024];
	struct smtpcmd_plain p;
	struct smtpcmd_error err;
	int rc;

	(void)state;
	for (int v = 0; v < 256; v++) {
		memset(in, v, sizeof(in));
		rc = smtpcmd_decode_plain(in, sizeof(in), &p, &err);
		assert_true(rc == -1 || rc == 0);
		smtpcmd_plain_clear(&p);
	}
	/* "AAAA"* decodes to NULs only: refused. */
	memset(in, 'A', sizeof(in));
	assert_int_equal(smtpcmd_decode_plain(in, sizeof(in), &p, &err), -1);
	/* "\0a\0" + "aaa" * n: 765 octets pass, 1533 are refused. */
	memcpy(in, "AGEA", 4);
	for (size_t i = 4; i < sizeof(in); i += 4)
		memcpy(in + i, "YWFh", 4);
	assert_int_equal(smtpcmd_decode_plain(in, sizeof(in), &p, &err), 0);
	assert_int_equal(strlen(p.password), 765);
	smtpcmd_plain_clear(&p);
	{
		char big[2048];

		memcpy(big, "AGEA", 4);
		for (size_t i = 4; i < sizeof(big); i += 4)
			memcpy(big + i, "YWFh", 4);
		assert_int_equal(
		    smtpcmd_decode_plain(big, sizeof(big), &p, &err), -1);
	}
}

static void test_wipe(void **state)
{
	unsigned char s[8] = "secret!";

	(void)state;
	smtpcmd_wipe(s, sizeof(s));
	for (size_t i = 0; i < sizeof(s); i++)
		assert_int_equal(s[i], 0);
	smtpcmd_wipe(NULL, 5);
	smtpcmd_secret_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth),  cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_plain), cmocka_unit_test(test_hostile_base64),
	    cmocka_unit_test(test_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
