/*
 * test-authproto-sasl - version 2 of the authd protocol: the SASL request,
 * its CONTINUE answer and HELLO's mech= (round trips and strict refusals),
 * and authd's SASL server setup (smtpsasl.h) where no KDC is needed: the
 * default mechanisms, the errors for a keytab it cannot use, base64.
 * The exchange itself runs against real KDCs in tests/integration
 * (test_smtp_gssapi.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authproto.h"
#include "sbuf.h"
#include "smtpsasl.h"

struct line_case {
	const char *line;
	enum authproto_verb request; /* NONE: a request */
	const char *error;           /* NULL: must round-trip */
};

static const struct line_case good[] = {
    {"SASL 1 exch=1 mech=GSSAPI client=192.0.2.7", AUTHPROTO_NONE, NULL},
    {"SASL 2 exch=1 mech=GSSAPI resp=YIIB client=2001:db8::1", AUTHPROTO_NONE,
     NULL},
    {"SASL 3 exch=4294967295 resp=", AUTHPROTO_NONE, NULL},
    {"SASL 4 exch=7 resp=YWJj%3D", AUTHPROTO_NONE, NULL},
    {"SASL 5 exch=7 abort=1", AUTHPROTO_NONE, NULL},
    {"SASL 6 exch=1 mech=GSS-SPNEGO", AUTHPROTO_NONE, NULL},
    {"CONTINUE 1 challenge=", AUTHPROTO_SASL, NULL},
    {"CONTINUE 1 challenge=YIIB+/w%3D%3D", AUTHPROTO_SASL, NULL},
    {"OK 1 user=alice", AUTHPROTO_SASL, NULL},
    {"NOTFOUND 1 reason=authentication%20failed delay_ms=250", AUTHPROTO_SASL,
     NULL},
    {"TEMPFAIL 1 reason=Kerberos", AUTHPROTO_SASL, NULL},
    {"ERROR 1 reason=x", AUTHPROTO_SASL, NULL},
    {"OK 0 version=2 server=authd mech=PLAIN mech=LOGIN mech=GSSAPI",
     AUTHPROTO_HELLO, NULL},
};

static const struct line_case bad[] = {
    {"SASL 1 mech=GSSAPI", AUTHPROTO_NONE, "required key missing"},
    {"SASL 1 exch=4294967296 mech=GSSAPI", AUTHPROTO_NONE, ""},
    {"SASL 1 exch=1 mech=PLAIN", AUTHPROTO_NONE, ""},
    {"SASL 1 exch=1 mech=gssapi", AUTHPROTO_NONE, ""},
    {"SASL 1 exch=1 user=alice", AUTHPROTO_NONE, "unknown key"},
    {"SASL 0 exch=1 mech=GSSAPI", AUTHPROTO_NONE, "ID"},
    {"SASL 1 exch=1 abort=2", AUTHPROTO_NONE, ""},
    {"CONTINUE 1", AUTHPROTO_SASL, "required key missing"},
    {"CONTINUE 1 challenge=x", AUTHPROTO_AUTH, ""},
    {"CONTINUE 1 challenge=x", AUTHPROTO_LOOKUP, ""},
    {"OK 1", AUTHPROTO_SASL, "required key missing"},
    {"OK 0 version=2 server=authd mech=GSS%20API", AUTHPROTO_HELLO, ""},
};

static int parse(const struct line_case *c, struct authproto_msg **m,
                 const char **err)
{
	if (c->request == AUTHPROTO_NONE)
		return authproto_parse_request(c->line, strlen(c->line), m,
		                               err);
	return authproto_parse_answer(c->line, strlen(c->line), c->request, m,
	                              err);
}

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct authproto_msg *m = NULL;
		struct sbuf *out = sbuf_new(AUTHPROTO_LINE_MAX);
		const char *err = NULL;
		size_t len = strlen(good[i].line);

		if (parse(&good[i], &m, &err) < 0)
			fail_msg("case %zu: %s: %s", i, good[i].line, err);
		assert_int_equal(authproto_msg_format(m, out, &err), 0);
		assert_int_equal(sbuf_len(out), len + 1);
		assert_memory_equal(sbuf_data(out), good[i].line, len);
		authproto_msg_deinit(&m);
		sbuf_deinit(&out);
	}
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct authproto_msg *m = NULL;
		const char *err = NULL;

		if (parse(&bad[i], &m, &err) == 0)
			fail_msg("case %zu accepted: %s", i, bad[i].line);
		assert_null(m);
		if (err == NULL || strstr(err, bad[i].error) == NULL)
			fail_msg("case %zu: %s: got \"%s\", want \"%s\"", i,
			         bad[i].line, err, bad[i].error);
	}
}

/* A step of 16 KiB of base64 passes, one byte more does not. */
static void test_step_limit(void **state)
{
	struct authproto_msg *m = authproto_msg_new_request(AUTHPROTO_SASL, 9);
	char *big = malloc(16386);

	(void)state;
	memset(big, 'A', 16385);
	big[16385] = '\0';
	assert_true(authproto_msg_add_uint(m, "exch", 1));
	assert_false(authproto_msg_add_str(m, "resp", big));
	big[16384] = '\0';
	assert_true(authproto_msg_add_str(m, "resp", big));
	authproto_msg_deinit(&m);
	free(big);
}

static void test_verb_versions(void **state)
{
	(void)state;
	assert_int_equal(authproto_verb_since(AUTHPROTO_SASL), 2);
	assert_int_equal(authproto_verb_since(AUTHPROTO_CONTINUE), 2);
	assert_int_equal(authproto_verb_since(AUTHPROTO_AUTH), 1);
	assert_true(
	    authproto_answer_allowed(AUTHPROTO_SASL, AUTHPROTO_CONTINUE));
	assert_false(
	    authproto_answer_allowed(AUTHPROTO_AUTH, AUTHPROTO_CONTINUE));
}

static void test_mechs_default(void **state)
{
	struct smtpsasl_options o = {.service = "smtp/mail.example.com"};
	char *error = NULL;
	struct smtpsasl *s = smtpsasl_new(&o, &error);
	const char *const *mechs;

	(void)state;
	assert_non_null(s);
	assert_int_equal(smtpsasl_mechs(s, &mechs), 2);
	assert_string_equal(mechs[0], "PLAIN");
	assert_string_equal(mechs[1], "LOGIN");
	assert_false(smtpsasl_runs(s, "GSSAPI"));
	assert_null(smtpsasl_keytab(s));
	smtpsasl_deinit(&s);
	assert_null(s);
}

static void test_keytab_errors(void **state)
{
	static const char *const gss[] = {"PLAIN", "GSSAPI"};
	struct smtpsasl_options o = {
	    .service = "smtp/mail.example.com", .mechs = gss, .n_mechs = 2};
	char path[] = "/tmp/test-sasl-XXXXXX";
	char *error = NULL;
	int fd;

	(void)state;
	/* GSSAPI listed without a keytab */
	assert_null(smtpsasl_new(&o, &error));
	assert_non_null(strstr(error, "needs smtp_keytab"));
	free(error);
	/* a keytab that does not exist */
	o.keytab = "/nonexistent/smtp.keytab";
	assert_null(smtpsasl_new(&o, &error));
	assert_non_null(strstr(error, "No such file or directory"));
	free(error);
	/* a keytab with no key (an empty file is no keytab at all) */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x05\x02", 2), 2); /* version 0x502 */
	close(fd);
	o.keytab = path;
	assert_null(smtpsasl_new(&o, &error));
	assert_non_null(
	    strstr(error, "holds no key for smtp/mail.example.com"));
	free(error);
	unlink(path);
}

static void test_b64(void **state)
{
	static const unsigned char bin[] = {0x60, 0x82, 0x01, 0xff, 0x00};
	unsigned char *out = NULL;
	size_t n = 0;
	char *b64 = smtpsasl_b64_encode(bin, sizeof(bin));

	(void)state;
	assert_string_equal(b64, "YIIB/wA=");
	assert_int_equal(smtpsasl_b64_decode(b64, strlen(b64), &out, &n), 0);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(out, bin, n);
	free(out);
	free(b64);
	assert_int_equal(smtpsasl_b64_decode("YII*", 4, &out, &n), -1);
	assert_int_equal(smtpsasl_b64_decode("", 0, &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_step_limit),
	    cmocka_unit_test(test_verb_versions),
	    cmocka_unit_test(test_mechs_default),
	    cmocka_unit_test(test_keytab_errors),
	    cmocka_unit_test(test_b64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
