/*
 * test-smtpcmd - SMTP command lines, MAIL / RCPT parameters and BDAT.
 * AUTH, base64 and PLAIN are in test-smtpcmd-auth.c.
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
#include "str.h"

/* ---- command lines ---- */

struct line_case {
	const char *in;
	size_t len;
	enum smtpcmd_verb verb;
	const char *arg; /* NULL: error expected */
	unsigned code;
};

#define L_OK(in, verb, arg)                                                    \
	{                                                                      \
		in, sizeof(in) - 1, verb, arg, 0                               \
	}
#define L_BAD(in, verb, code)                                                  \
	{                                                                      \
		in, sizeof(in) - 1, verb, NULL, code                           \
	}

static const struct line_case line_cases[] = {
    L_OK("HELO client.example", SMTPCMD_HELO, "client.example"),
    L_OK("helo client.example", SMTPCMD_HELO, "client.example"),
    L_OK("EHLO [192.0.2.1]", SMTPCMD_EHLO, "[192.0.2.1]"),
    L_OK("eHlO x  ", SMTPCMD_EHLO, "x"),
    L_OK("MAIL FROM:<a@b>", SMTPCMD_MAIL, "<a@b>"),
    L_OK("mail from:<a@b> SIZE=10", SMTPCMD_MAIL, "<a@b> SIZE=10"),
    L_OK("MAIL FROM: <a@b>", SMTPCMD_MAIL, "<a@b>"),
    L_OK("MAIL  FROM:<>", SMTPCMD_MAIL, "<>"),
    L_OK("RCPT TO:<a@b>", SMTPCMD_RCPT, "<a@b>"),
    L_OK("Rcpt To: <a@b> ", SMTPCMD_RCPT, "<a@b>"),
    L_OK("DATA", SMTPCMD_DATA, ""),
    L_OK("data ", SMTPCMD_DATA, ""),
    L_OK("BDAT 100 LAST", SMTPCMD_BDAT, "100 LAST"),
    L_OK("RSET", SMTPCMD_RSET, ""),
    L_OK("NOOP", SMTPCMD_NOOP, ""),
    L_OK("NOOP anything goes", SMTPCMD_NOOP, "anything goes"),
    L_OK("QUIT", SMTPCMD_QUIT, ""),
    L_OK("VRFY user", SMTPCMD_VRFY, "user"),
    L_OK("EXPN list", SMTPCMD_EXPN, "list"),
    L_OK("HELP", SMTPCMD_HELP, ""),
    L_OK("HELP MAIL", SMTPCMD_HELP, "MAIL"),
    L_OK("STARTTLS", SMTPCMD_STARTTLS, ""),
    L_OK("starttls", SMTPCMD_STARTTLS, ""),
    L_OK("AUTH PLAIN", SMTPCMD_AUTH, "PLAIN"),
    L_OK("AUTH PLAIN AGFiYwBzZWNyZXQ=", SMTPCMD_AUTH, "PLAIN AGFiYwBzZWNyZXQ="),
    L_BAD("", SMTPCMD_UNKNOWN, 500),
    L_BAD("   ", SMTPCMD_UNKNOWN, 500),
    L_BAD("FOO bar", SMTPCMD_UNKNOWN, 500),
    L_BAD("HELOX x", SMTPCMD_UNKNOWN, 500),
    L_BAD("MAILFROM:<a@b>", SMTPCMD_UNKNOWN, 500),
    L_BAD("HELO", SMTPCMD_HELO, 501),
    L_BAD("EHLO ", SMTPCMD_EHLO, 501),
    L_BAD("MAIL", SMTPCMD_MAIL, 501),
    L_BAD("MAIL TO:<a@b>", SMTPCMD_MAIL, 501),
    L_BAD("MAIL FROM <a@b>", SMTPCMD_MAIL, 501),
    L_BAD("MAIL FROM:", SMTPCMD_MAIL, 501),
    L_BAD("RCPT FROM:<a@b>", SMTPCMD_RCPT, 501),
    L_BAD("RCPT TO:", SMTPCMD_RCPT, 501),
    L_BAD("DATA x", SMTPCMD_DATA, 501),
    L_BAD("RSET now", SMTPCMD_RSET, 501),
    L_BAD("QUIT please", SMTPCMD_QUIT, 501),
    L_BAD("STARTTLS x", SMTPCMD_STARTTLS, 501),
    L_BAD("VRFY", SMTPCMD_VRFY, 501),
    L_BAD("EXPN", SMTPCMD_EXPN, 501),
    L_BAD("BDAT", SMTPCMD_BDAT, 501),
    L_BAD("AUTH", SMTPCMD_AUTH, 501),
    /* NUL, bare CR / LF and other controls: the line is refused whole. */
    L_BAD("MAIL FROM:<a@b>\0RCPT TO:<c@d>", SMTPCMD_UNKNOWN, 500),
    L_BAD("DATA\rRSET", SMTPCMD_UNKNOWN, 500),
    L_BAD("NOOP\nQUIT", SMTPCMD_UNKNOWN, 500),
    L_BAD("HELO a\tb", SMTPCMD_UNKNOWN, 500),
    L_BAD("HELO x\x7f", SMTPCMD_UNKNOWN, 500),
    L_BAD("QUIT\r", SMTPCMD_UNKNOWN, 500),
};

static void test_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]);
	     i++) {
		const struct line_case *t = &line_cases[i];
		struct smtpcmd cmd;
		struct smtpcmd_error err = {0, NULL, NULL};
		int rc = smtpcmd_parse(t->in, t->len, &cmd, &err);

		printf("line %zu: %s\n", i, t->in);
		assert_int_equal(cmd.verb, t->verb);
		if (t->arg == NULL) {
			assert_int_equal(rc, -1);
			assert_int_equal(err.code, t->code);
			assert_non_null(err.enhanced);
			assert_true(
			    str_is_printable_ascii(err.text, strlen(err.text)));
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(cmd.arg_len, strlen(t->arg));
			assert_memory_equal(cmd.arg, t->arg, cmd.arg_len);
		}
	}
}

/* Long arguments are the caller's limit, not a parser failure. */
static void test_long_line(void **state)
{
	char line[2000];
	struct smtpcmd cmd;
	struct smtpcmd_error err;

	(void)state;
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'x', sizeof(line) - 5);
	assert_int_equal(smtpcmd_parse(line, sizeof(line), &cmd, &err), 0);
	assert_int_equal(cmd.arg_len, sizeof(line) - 5);
}

/* ---- MAIL ---- */

#define F_ALL                                                                  \
	(SMTPCMD_F_UTF8 | SMTPCMD_F_8BITMIME | SMTPCMD_F_DSN |                 \
	 SMTPCMD_F_SIZE | SMTPCMD_F_AUTH)

struct mail_case {
	const char *in;
	unsigned flags;
	uint64_t max;
	unsigned code; /* 0: success */
	const char *enhanced;
	const char *addr;
	unsigned aflags; /* ADDR_F_* expected set */
	uint64_t size;
	enum smtpcmd_body body;
	bool utf8;
	enum smtpcmd_ret ret;
	const char *envid;
	const char *auth;
};

#define M_OK(in, flags, addr)                                                  \
	{                                                                      \
		in, flags, 0, 0, NULL, addr, 0, 0, 0, 0, 0, NULL, NULL         \
	}
#define M_BAD(in, flags, max, code, enh)                                       \
	{                                                                      \
		in, flags, max, code, enh, NULL, 0, 0, 0, 0, 0, NULL, NULL     \
	}

static const struct mail_case mail_cases[] = {
    M_OK("<user@example.com>", 0, "user@example.com"),
    M_OK("<>", 0, ""),
    M_OK("<User@Example.COM>", 0, "User@example.com"),
    M_OK("<a@b>  ", 0, "a@b"),
    {"<a@b> SIZE=1000", F_ALL, 2000, .addr = "a@b", .size = 1000},
    {"<a@b> size=2000", F_ALL, 2000, .addr = "a@b", .size = 2000},
    {"<a@b> SIZE=18446744073709551615", F_ALL, .addr = "a@b",
     .size = UINT64_MAX},
    {"<a@b> BODY=8BITMIME", F_ALL, .addr = "a@b",
     .body = SMTPCMD_BODY_8BITMIME},
    {"<a@b> body=7bit", F_ALL, .addr = "a@b", .body = SMTPCMD_BODY_7BIT},
    {"<a@b> BODY=BINARYMIME", SMTPCMD_F_BINARY, .addr = "a@b",
     .body = SMTPCMD_BODY_BINARYMIME},
    {"<a@b> SMTPUTF8", F_ALL, .addr = "a@b", .utf8 = true},
    {"<用户@例子.广告> SMTPUTF8", F_ALL, .addr = "用户@例子.广告",
     .aflags = ADDR_F_UTF8, .utf8 = true},
    {"<a@b> RET=HDRS ENVID=QQ+2BZ", F_ALL, .addr = "a@b",
     .ret = SMTPCMD_RET_HDRS, .envid = "QQ+Z"},
    {"<a@b> ret=full envid=a+3db", F_ALL, .addr = "a@b",
     .ret = SMTPCMD_RET_FULL, .envid = "a=b"},
    {"<a@b> AUTH=<>", F_ALL, .addr = "a@b", .auth = "<>"},
    {"<a@b> AUTH=e+2Bc@d", F_ALL, .addr = "a@b", .auth = "e+c@d"},
    {"<a@b>  SIZE=5   BODY=8BITMIME  ", F_ALL, .addr = "a@b", .size = 5,
     .body = SMTPCMD_BODY_8BITMIME},
    /* Relay tricks parse; the flags let the policy refuse them. */
    {"<user%other@relay.example>", 0, .addr = "user%other@relay.example",
     .aflags = ADDR_F_PERCENT},
    {"<host!user@relay.example>", 0, .addr = "host!user@relay.example",
     .aflags = ADDR_F_BANG},
    {"<\"user@other\"@relay.example>", 0,
     .addr = "\"user@other\"@relay.example", .aflags = ADDR_F_AT_IN_LOCAL},
    {"<@hop1,@hop2:user@dest.example>", 0, .addr = "user@dest.example",
     .aflags = ADDR_F_SOURCE_ROUTE},
    /* Errors. */
    M_BAD("<a@b> SIZE=3000", F_ALL, 2000, 552, "5.3.4"),
    M_BAD("<a@b> SIZE=18446744073709551616", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SIZE=", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SIZE=-1", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SIZE=1x", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SIZE", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SIZE=1 SIZE=1", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SIZE=1", 0, 0, 555, "5.5.4"),
    M_BAD("<a@b> BODY=8BITMIME", 0, 0, 555, "5.5.4"),
    M_BAD("<a@b> BODY=BINARYMIME", F_ALL, 0, 555, "5.5.4"),
    M_BAD("<a@b> BODY=9BIT", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> BODY=7BIT BODY=7BIT", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SMTPUTF8", 0, 0, 555, "5.5.4"),
    M_BAD("<a@b> SMTPUTF8=yes", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<用户@例子.广告>", F_ALL, 0, 553, "5.6.7"),
    M_BAD("<用户@例子.广告>", 0, 0, 553, "5.6.7"),
    M_BAD("<a\xc0\xaf@b> SMTPUTF8", F_ALL, 0, 553, "5.1.3"),
    M_BAD("<a@b> RET=ALL", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> RET=FULL", 0, 0, 555, "5.5.4"),
    M_BAD("<a@b> ENVID=a+4", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> ENVID=a+zz", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> ENVID=a+00", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> ENVID=a+0A", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> ENVID=\xc3\xa9", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> "
          "ENVID="
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
          F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> AUTH=<>", 0, 0, 555, "5.5.4"),
    M_BAD("<a@b> FOO=bar", F_ALL, 0, 555, "5.5.4"),
    M_BAD("<a@b> X-FOO", F_ALL, 0, 555, "5.5.4"),
    M_BAD("<a@b> -X=1", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> SIZE==1", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b> =1", F_ALL, 0, 501, "5.5.4"),
    M_BAD("<a@b>SIZE=1", F_ALL, 0, 501, "5.5.4"),
    M_BAD("a@b", 0, 0, 501, "5.5.4"),
    M_BAD("<a@b", 0, 0, 501, "5.5.4"),
    M_BAD("<a b@c>", 0, 0, 553, "5.1.3"),
    M_BAD("<a@@b>", 0, 0, 553, "5.1.3"),
    M_BAD("<a@b..c>", 0, 0, 553, "5.1.3"),
    M_BAD("", 0, 0, 501, "5.5.4"),
};

static void test_mail(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]);
	     i++) {
		const struct mail_case *t = &mail_cases[i];
		struct smtpcmd_mail m;
		struct smtpcmd_error err = {0, NULL, NULL};
		int rc;

		printf("mail %zu: %s\n", i, t->in);
		rc = smtpcmd_parse_mail(t->in, strlen(t->in), t->flags, t->max,
		                        &m, &err);
		if (t->code != 0) {
			assert_int_equal(rc, -1);
			assert_int_equal(err.code, t->code);
			assert_string_equal(err.enhanced, t->enhanced);
			assert_true(
			    str_is_printable_ascii(err.text, strlen(err.text)));
			assert_null(m.path);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(addr_format(m.path), t->addr);
		assert_int_equal(addr_flags(m.path) & t->aflags, t->aflags);
		assert_int_equal(m.has_size, t->size != 0);
		assert_true(m.size == t->size);
		assert_int_equal(m.body, t->body);
		assert_int_equal(m.smtputf8, t->utf8);
		assert_int_equal(m.ret, t->ret);
		if (t->envid == NULL)
			assert_null(m.envid);
		else
			assert_string_equal(m.envid, t->envid);
		if (t->auth == NULL)
			assert_null(m.auth);
		else
			assert_string_equal(m.auth, t->auth);
		smtpcmd_mail_clear(&m);
		assert_null(m.path);
	}
}

/* ---- RCPT ---- */

struct rcpt_case {
	const char *in;
	unsigned flags;
	unsigned code;
	const char *enhanced;
	const char *addr;
	unsigned notify;
	const char *orcpt_type;
	const char *orcpt;
};

#define R_OK(in, flags, addr)                                                  \
	{                                                                      \
		in, flags, 0, NULL, addr, 0, NULL, NULL                        \
	}
#define R_BAD(in, flags, code, enh)                                            \
	{                                                                      \
		in, flags, code, enh, NULL, 0, NULL, NULL                      \
	}
#define N_S SMTPCMD_NOTIFY_SUCCESS
#define N_F SMTPCMD_NOTIFY_FAILURE
#define N_D SMTPCMD_NOTIFY_DELAY

static const struct rcpt_case rcpt_cases[] = {
    R_OK("<user@example.com>", 0, "user@example.com"),
    R_OK("<Postmaster>", 0, "Postmaster"),
    R_OK("<postmaster>", 0, "postmaster"),
    R_OK("<user%other@relay.example>", 0, "user%other@relay.example"),
    {"<a@b> NOTIFY=NEVER", F_ALL, 0, NULL, "a@b", SMTPCMD_NOTIFY_NEVER, NULL,
     NULL},
    {"<a@b> notify=success,failure,delay", F_ALL, 0, NULL, "a@b",
     N_S | N_F | N_D, NULL, NULL},
    {"<a@b> NOTIFY=DELAY", F_ALL, 0, NULL, "a@b", N_D, NULL, NULL},
    {"<a@b> ORCPT=rfc822;user+40x.example", F_ALL, 0, NULL, "a@b", 0, "rfc822",
     "user@x.example"},
    {"<a@b> ORCPT=RFC822;u@x NOTIFY=FAILURE", F_ALL, 0, NULL, "a@b", N_F,
     "rfc822", "u@x"},
    {"<a@b> ORCPT=utf-8;\\x{7528}@x", F_ALL, 0, NULL, "a@b", 0, "utf-8",
     "用@x"},
    {"<a@b> ORCPT=UTF-8;用@x", F_ALL | SMTPCMD_F_TXN_UTF8, 0, NULL, "a@b", 0,
     "utf-8", "用@x"},
    {"<用@例子.广告>", SMTPCMD_F_TXN_UTF8, 0, NULL, "用@例子.广告", 0, NULL,
     NULL},
    R_BAD("<>", 0, 553, "5.1.3"),
    R_BAD("<用@例子.广告>", F_ALL, 553, "5.6.7"),
    R_BAD("<a@b> ORCPT=utf-8;用@x", F_ALL, 553, "5.6.7"),
    R_BAD("<a@b> NOTIFY=NEVER,SUCCESS", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> NOTIFY=SUCCESS,SUCCESS", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> NOTIFY=SUCCESS,", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> NOTIFY=,SUCCESS", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> NOTIFY=ALWAYS", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> NOTIFY", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> NOTIFY=NEVER NOTIFY=NEVER", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> NOTIFY=NEVER", 0, 555, "5.5.4"),
    R_BAD("<a@b> ORCPT=x400;foo", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=rfc822", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=rfc822;", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=rfc822;a+0Db", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=utf-8;\\x{D800}", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=utf-8;\\x{110000}", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=utf-8;\\x{0}", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=utf-8;\\x{41", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> ORCPT=utf-8;a+b", F_ALL, 501, "5.5.4"),
    R_BAD("<a@b> SIZE=1", F_ALL, 555, "5.5.4"),
    R_BAD("<a@b> BODY=8BITMIME", F_ALL, 555, "5.5.4"),
    R_BAD("a@b", 0, 501, "5.5.4"),
};

static void test_rcpt(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]);
	     i++) {
		const struct rcpt_case *t = &rcpt_cases[i];
		struct smtpcmd_rcpt r;
		struct smtpcmd_error err = {0, NULL, NULL};
		int rc;

		printf("rcpt %zu: %s\n", i, t->in);
		rc = smtpcmd_parse_rcpt(t->in, strlen(t->in), t->flags, &r,
		                        &err);
		if (t->code != 0) {
			assert_int_equal(rc, -1);
			assert_int_equal(err.code, t->code);
			assert_string_equal(err.enhanced, t->enhanced);
			assert_null(r.path);
			assert_null(r.orcpt);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(addr_format(r.path), t->addr);
		assert_int_equal(r.notify, t->notify);
		if (t->orcpt == NULL) {
			assert_null(r.orcpt);
		} else {
			assert_string_equal(r.orcpt_type, t->orcpt_type);
			assert_string_equal(r.orcpt, t->orcpt);
		}
		smtpcmd_rcpt_clear(&r);
	}
}

/* ---- BDAT ---- */

static void test_bdat(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t size;
		bool last;
	} cases[] = {
	    {"0", 0, 0, false},
	    {"100", 0, 100, false},
	    {"100 LAST", 0, 100, true},
	    {"100 last", 0, 100, true},
	    {"0 LAST", 0, 0, true},
	    {"9223372036854775807", 0, INT64_MAX, false},
	    {"9223372036854775808", -1, 0, false},
	    {"99999999999999999999999", -1, 0, false},
	    {"", -1, 0, false},
	    {"LAST", -1, 0, false},
	    {"-1", -1, 0, false},
	    {"10x", -1, 0, false},
	    {"10 LAST x", -1, 0, false},
	    {"10 FIRST", -1, 0, false},
	    {"10 LASTX", -1, 0, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpcmd_error err;
		uint64_t size = 42;
		bool last = false;
		int rc = smtpcmd_parse_bdat(cases[i].in, strlen(cases[i].in),
		                            &size, &last, &err);

		printf("bdat %zu: %s\n", i, cases[i].in);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_true(size == cases[i].size);
			assert_int_equal(last, cases[i].last);
		} else {
			assert_int_equal(err.code, 501);
		}
	}
}

/* Where a chunk ends, whatever else is wrong with the line. */
static void test_bdat_size(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t size;
	} cases[] = {
	    {"BDAT 10", 1, 10},
	    {"bdat 10 LAST", 1, 10},
	    {"BDAT 10 LAST junk", 1, 10},
	    {"BDAT 10 FIRST", 1, 10},
	    {"BDAT   7", 1, 7},
	    {"BDAT 0", 1, 0},
	    {"BDAT 9223372036854775807", 1, INT64_MAX},
	    {"BDAT", -1, 0},
	    {"BDAT ", -1, 0},
	    {"BDAT x12", -1, 0},
	    {"BDAT 12x", -1, 0},
	    {"BDAT -5", -1, 0},
	    {"BDAT 9223372036854775808", -1, 0},
	    {"BDAT 99999999999999999999999 LAST", -1, 0},
	    {"BDATA 10", 0, 0},
	    {"BDA", 0, 0},
	    {"NOOP", 0, 0},
	    {"MAIL FROM:<a@b>", 0, 0},
	    {"", 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 42;
		int rc =
		    smtpcmd_bdat_size(cases[i].in, strlen(cases[i].in), &size);

		printf("bdat size %zu: %s\n", i, cases[i].in);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 1)
			assert_true(size == cases[i].size);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines), cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_mail),  cmocka_unit_test(test_rcpt),
	    cmocka_unit_test(test_bdat),  cmocka_unit_test(test_bdat_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
