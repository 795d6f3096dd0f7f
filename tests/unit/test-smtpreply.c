/*
 * test-smtpreply - the delivery client's reply parser: one-line and
 * multi-line replies, every split of the input, pipelined replies,
 * enhanced codes good and bad, hostile input (huge lines, too many lines,
 * mixed codes, bare LF / CR, NUL), EHLO capabilities of Postfix, Exim and
 * Exchange as they answer in the wild, and the DSN diagnostic form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sbuf.h"
#include "smtpreply.h"

struct good {
	const char *in;
	unsigned code;
	const char *enhanced;
	const char *text;
	size_t lines;
};

static const struct good goods[] = {
    {"250 OK\r\n", 250, "", "OK", 1},
    {"250\r\n", 250, "", "", 1},
    {"250 \r\n", 250, "", "", 1},
    {"354 End data with <CR><LF>.<CR><LF>\r\n", 354, "",
     "End data with <CR><LF>.<CR><LF>", 1},
    {"250 2.1.5 Ok\r\n", 250, "2.1.5", "Ok", 1},
    {"250 2.0.0\r\n", 250, "2.0.0", "", 1},
    {"550 5.1.1 <x@y>: Recipient address rejected\r\n", 550, "5.1.1",
     "<x@y>: Recipient address rejected", 1},
    {"451 4.123.999 later\r\n", 451, "4.123.999", "later", 1},
    /* class does not match the code: not an enhanced code */
    {"550 2.1.1 odd\r\n", 550, "", "2.1.1 odd", 1},
    {"250 3.1.1 no\r\n", 250, "", "3.1.1 no", 1},
    /* malformed enhanced codes stay text */
    {"550 5.1 short\r\n", 550, "", "5.1 short", 1},
    {"550 5.1.1000 long\r\n", 550, "", "5.1.1000 long", 1},
    {"550 5.1.1x\r\n", 550, "", "5.1.1x", 1},
    {"550 5..1 x\r\n", 550, "", "5..1 x", 1},
    {"550 5.0001.1 x\r\n", 550, "", "5.0001.1 x", 1},
    {"550-5.1.1 The email account that you tried to reach does\r\n"
     "550-5.1.1 not exist. Please try double-checking\r\n"
     "550 5.1.1 the address. x-gsmtp\r\n",
     550, "5.1.1",
     "The email account that you tried to reach does\n"
     "not exist. Please try double-checking\nthe address. x-gsmtp",
     3},
    /* a different code on a later line is text */
    {"550-5.1.1 a\r\n550 5.7.1 b\r\n", 550, "5.1.1", "a\n5.7.1 b", 2},
    {"250-\r\n250 x\r\n", 250, "", "\nx", 2},
    {"220 mx.example.com ESMTP \xc3\xa9t\xc3\xa9\t ok\r\n", 220, "",
     "mx.example.com ESMTP \xc3\xa9t\xc3\xa9\t ok", 1},
};

struct bad {
	const char *in;
	const char *error;
};

static const struct bad bads[] = {
    {"250 OK\n", "bare LF in reply"},
    {"250 O\rK\r\n", "bare CR in reply"},
    {"250 OK\r\r\n", "bare CR in reply"},
    {"25 OK\r\n", "reply line does not start with a reply code"},
    {"\r\n", "reply line does not start with a reply code"},
    {"2x0 OK\r\n", "reply line does not start with a reply code"},
    {"150 OK\r\n", "reply line does not start with a reply code"},
    {"260 OK\r\n", "reply line does not start with a reply code"},
    {"650 OK\r\n", "reply line does not start with a reply code"},
    {"250OK\r\n", "bad separator after the reply code"},
    {"250_OK\r\n", "bad separator after the reply code"},
    {"250-a\r\n251 b\r\n", "mixed reply codes in one reply"},
    {"250-a\r\n550 b\r\n", "mixed reply codes in one reply"},
    {"250 a\x01z\r\n", "control character in reply"},
    {"250 a\x7fz\r\n", "control character in reply"},
    {" 250 OK\r\n", "reply line does not start with a reply code"},
};

/* Parse all of in, fed chunk bytes at a time; fills replies, returns
   how many, or -1 on error (error in *error_r). */
static int parse_chunks(const char *in, size_t len, size_t chunk,
                        struct smtpreply *replies, size_t max,
                        const char **error_r)
{
	struct smtpreply_parser *p = smtpreply_parser_new(0);
	size_t off = 0, n = 0, used, piece;
	int rc = 0;

	while (off < len) {
		piece = len - off < chunk ? len - off : chunk;
		rc = smtpreply_parse(p, in + off, piece, &used, &replies[n],
		                     error_r);
		if (rc < 0)
			break;
		assert_true(used <= piece);
		if (rc == 1) {
			assert_true(n + 1 < max);
			n++;
		} else {
			assert_int_equal(used, piece);
		}
		off += used;
	}
	smtpreply_parser_deinit(&p);
	assert_null(p);
	return rc < 0 ? -1 : (int)n;
}

static void test_good(void **state)
{
	size_t i, chunk, len;
	struct smtpreply r[4];
	const char *error;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		len = strlen(goods[i].in);
		for (chunk = 1; chunk <= len; chunk++) {
			assert_int_equal(
			    parse_chunks(goods[i].in, len, chunk, r, 4, &error),
			    1);
			assert_int_equal(r[0].code, goods[i].code);
			assert_string_equal(r[0].enhanced, goods[i].enhanced);
			assert_string_equal(r[0].text, goods[i].text);
			assert_int_equal(r[0].line_count, goods[i].lines);
			smtpreply_clear(&r[0]);
			assert_null(r[0].text);
		}
	}
}

/* Every split into two pieces gives the same result as one piece. */
static void test_every_split(void **state)
{
	const char *in = "250-mx.example.com\r\n250-PIPELINING\r\n"
	                 "250 8BITMIME\r\n250 2.1.0 Ok\r\n"
	                 "550-5.1.1 no\r\n550 5.1.1 such user\r\n";
	size_t len = strlen(in), split, used, off, n;
	struct smtpreply r[4];
	const char *error;
	int rc;

	for (split = 0; split <= len; split++) {
		struct smtpreply_parser *p = smtpreply_parser_new(0);

		n = 0;
		off = 0;
		while (off < len) {
			size_t end = off < split ? split : len;

			rc = smtpreply_parse(p, in + off, end - off, &used,
			                     &r[n], &error);
			assert_true(rc >= 0);
			n += rc == 1;
			off += used;
		}
		assert_int_equal(n, 3);
		assert_string_equal(r[0].text, "mx.example.com\nPIPELINING\n"
		                               "8BITMIME");
		assert_int_equal(r[1].code, 250);
		assert_string_equal(r[1].enhanced, "2.1.0");
		assert_string_equal(r[2].text, "no\nsuch user");
		while (n > 0)
			smtpreply_clear(&r[--n]);
		smtpreply_parser_deinit(&p);
	}
}

static void test_bad(void **state)
{
	size_t i, chunk, len;
	struct smtpreply r[4];
	const char *error;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		len = strlen(bads[i].in);
		for (chunk = 1; chunk <= len; chunk++) {
			error = NULL;
			assert_int_equal(
			    parse_chunks(bads[i].in, len, chunk, r, 4, &error),
			    -1);
			assert_string_equal(error, bads[i].error);
		}
	}
}

static void test_nul_and_sticky_failure(void **state)
{
	struct smtpreply_parser *p = smtpreply_parser_new(0);
	struct smtpreply r;
	const char *error;
	size_t used;

	assert_int_equal(
	    smtpreply_parse(p, "250 a\0b\r\n", 9, &used, &r, &error), -1);
	assert_string_equal(error, "control character in reply");
	assert_int_equal(smtpreply_parse(p, "250 OK\r\n", 8, &used, &r, &error),
	                 -1);
	smtpreply_parser_deinit(&p);
}

static void test_limits(void **state)
{
	size_t max = SMTPREPLY_LINE_MAX, i, used;
	char *line = alloc_zero(max + 2);
	struct smtpreply r;
	struct smtpreply_parser *p;
	const char *error;

	/* exactly SMTPREPLY_LINE_MAX octets with CR LF: fine */
	memcpy(line, "250 ", 4);
	memset(line + 4, 'a', max - 6);
	memcpy(line + max - 2, "\r\n", 2);
	assert_int_equal(parse_chunks(line, max, max, &r, 1 + 1, &error), 1);
	assert_int_equal(strlen(r.text), max - 6);
	smtpreply_clear(&r);
	/* one more: refused, even before its CR LF arrives */
	memset(line + 4, 'a', max - 5);
	memcpy(line + max - 1, "\r\n", 2);
	assert_int_equal(parse_chunks(line, max + 1, 7, &r, 2, &error), -1);
	assert_string_equal(error, "reply line too long");
	p = smtpreply_parser_new(0);
	assert_int_equal(smtpreply_parse(p, line, max - 2, &used, &r, &error),
	                 0);
	assert_int_equal(smtpreply_parse(p, "a", 1, &used, &r, &error), -1);
	smtpreply_parser_deinit(&p);
	free(line);

	/* SMTPREPLY_LINES_MAX lines: fine; one more: refused */
	for (i = 0; i < 2; i++) {
		size_t n = SMTPREPLY_LINES_MAX + i, k;
		struct sbuf *s = sbuf_new(n * 8 + 16);
		int rc;

		for (k = 0; k + 1 < n; k++)
			assert_true(sbuf_append_str(s, "250-x\r\n"));
		assert_true(sbuf_append_str(s, "250 y\r\n"));
		rc =
		    parse_chunks(sbuf_data(s), sbuf_len(s), 100, &r, 2, &error);
		if (i == 0) {
			assert_int_equal(rc, 1);
			assert_int_equal(r.line_count, n);
			smtpreply_clear(&r);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(error, "too many lines in reply");
		}
		sbuf_deinit(&s);
	}
}

static void test_status_class(void **state)
{
	assert_int_equal(smtpreply_status_class(250), 2);
	assert_int_equal(smtpreply_status_class(354), 3);
	assert_int_equal(smtpreply_status_class(421), 4);
	assert_int_equal(smtpreply_status_class(599), 5);
	assert_int_equal(smtpreply_status_class(199), 0);
	assert_int_equal(smtpreply_status_class(600), 0);
	assert_int_equal(smtpreply_status_class(0), 0);
}

static void diag_of(const char *in, const char *want)
{
	struct smtpreply r;
	struct sbuf *s = sbuf_new(4096);
	const char *error;

	assert_int_equal(parse_chunks(in, strlen(in), 4096, &r, 2, &error), 1);
	assert_int_equal(smtpreply_format_diag(&r, s), 0);
	assert_string_equal(sbuf_data(s), want);
	smtpreply_clear(&r);
	sbuf_deinit(&s);
}

static void test_diag(void **state)
{
	struct smtpreply r;
	struct sbuf *s;
	char *in;
	size_t i;
	const char *error;

	diag_of("550 5.1.1 <bob@x>: user unknown\r\n",
	        "smtp; 550 5.1.1 <bob@x>: user unknown");
	diag_of("550-5.7.1 first\r\n550 5.7.1 second\r\n",
	        "smtp; 550 5.7.1 first second");
	diag_of("421\r\n", "smtp; 421");
	diag_of("554 caf\xc3\xa9\tx\r\n", "smtp; 554 caf?? x");

	/* long texts are cut */
	in = alloc_zero(3000);
	memcpy(in, "550 ", 4);
	for (i = 4; i < 2000; i++)
		in[i] = 'a' + (char)(i % 26);
	memcpy(in + 2000, "\r\n", 3);
	assert_int_equal(parse_chunks(in, 2002, 4096, &r, 2, &error), 1);
	s = sbuf_new(4096);
	assert_int_equal(smtpreply_format_diag(&r, s), 0);
	assert_int_equal(sbuf_len(s),
	                 strlen("smtp; 550 ") + SMTPREPLY_DIAG_MAX + 3);
	sbuf_deinit(&s);
	/* and do not overflow the caller's limit */
	s = sbuf_new(20);
	assert_int_equal(smtpreply_format_diag(&r, s), -1);
	assert_int_equal(sbuf_len(s), 0);
	sbuf_deinit(&s);
	smtpreply_clear(&r);
	free(in);
}

/* The summary text for logs and results: 8-bit and TAB kept, no cut. */
static void test_text(void **state)
{
	struct smtpreply r;
	struct sbuf *s = sbuf_new(4096);
	const char *error;

	assert_int_equal(parse_chunks("550-5.7.1 first\r\n550 5.7.1 caf\xc3\xa9"
	                              "\tx\r\n",
	                              36, 64, &r, 2, &error),
	                 1);
	assert_int_equal(smtpreply_format_text(&r, s), 0);
	assert_string_equal(sbuf_data(s), "550 5.7.1 first caf\xc3\xa9\tx");
	smtpreply_clear(&r);
	sbuf_deinit(&s);
	s = sbuf_new(5);
	assert_int_equal(parse_chunks("250 OK\r\n", 8, 8, &r, 2, &error), 1);
	assert_int_equal(smtpreply_format_text(&r, s), -1);
	assert_int_equal(sbuf_len(s), 0);
	smtpreply_clear(&r);
	sbuf_deinit(&s);
}

/*
 * SMTPREPLY_BARE_LF (the delivery client's choice, as Postfix's): a bare
 * LF ends a line like CR LF, in any split and mixed with CR LF; a bare
 * CR and control characters are still errors; without the flag a bare
 * LF is one (test_bad).
 */
static void test_bare_lf(void **state)
{
	static const char in[] = "220 mx ESMTP\n"
	                         "250-mx\r\n250-PIPELINING\n250 SIZE 10\n"
	                         "550 5.1.1 no\r\n";
	static const char *const lf_bads[][2] = {
	    {"250 O\rK\n", "bare CR in reply"},
	    {"250 OK\r\r\n", "bare CR in reply"},
	    {"250 a\x01z\n", "control character in reply"},
	    {"250-a\n251 b\n", "mixed reply codes in one reply"},
	};
	size_t len = sizeof(in) - 1, chunk, off, used, n, i;
	struct smtpreply r[3];
	const char *error;
	int rc;

	for (chunk = 1; chunk <= len; chunk++) {
		struct smtpreply_parser *p =
		    smtpreply_parser_new(SMTPREPLY_BARE_LF);

		for (off = 0, n = 0; off < len; off += used) {
			size_t piece = len - off < chunk ? len - off : chunk;

			rc = smtpreply_parse(p, in + off, piece, &used, &r[n],
			                     &error);
			assert_int_not_equal(rc, -1);
			n += rc == 1;
		}
		assert_int_equal(n, 3);
		assert_int_equal(r[0].code, 220);
		assert_string_equal(r[0].text, "mx ESMTP");
		assert_int_equal(r[1].line_count, 3);
		assert_string_equal(r[1].text, "mx\nPIPELINING\nSIZE 10");
		assert_int_equal(r[2].code, 550);
		assert_string_equal(r[2].enhanced, "5.1.1");
		assert_string_equal(r[2].text, "no");
		for (i = 0; i < n; i++)
			smtpreply_clear(&r[i]);
		smtpreply_parser_deinit(&p);
	}
	for (i = 0; i < sizeof(lf_bads) / sizeof(lf_bads[0]); i++) {
		struct smtpreply_parser *p =
		    smtpreply_parser_new(SMTPREPLY_BARE_LF);

		assert_int_equal(smtpreply_parse(p, lf_bads[i][0],
		                                 strlen(lf_bads[i][0]), &used,
		                                 &r[0], &error),
		                 -1);
		assert_string_equal(error, lf_bads[i][1]);
		smtpreply_parser_deinit(&p);
	}
}

struct ehlo {
	const char *name;
	const char *in;
	unsigned flags;
	uint64_t size;
	unsigned auth;
	const char *mechs;
};

static const struct ehlo ehlos[] = {
    {"postfix",
     "250-mail.example.org\r\n"
     "250-PIPELINING\r\n"
     "250-SIZE 10240000\r\n"
     "250-VRFY\r\n"
     "250-ETRN\r\n"
     "250-STARTTLS\r\n"
     "250-AUTH PLAIN LOGIN\r\n"
     "250-AUTH=PLAIN LOGIN\r\n"
     "250-ENHANCEDSTATUSCODES\r\n"
     "250-8BITMIME\r\n"
     "250-DSN\r\n"
     "250-SMTPUTF8\r\n"
     "250 CHUNKING\r\n",
     SMTPREPLY_CAP_PIPELINING | SMTPREPLY_CAP_SIZE | SMTPREPLY_CAP_STARTTLS |
         SMTPREPLY_CAP_AUTH | SMTPREPLY_CAP_ENHANCEDSTATUSCODES |
         SMTPREPLY_CAP_8BITMIME | SMTPREPLY_CAP_DSN | SMTPREPLY_CAP_SMTPUTF8 |
         SMTPREPLY_CAP_CHUNKING,
     10240000, SMTPREPLY_AUTH_PLAIN | SMTPREPLY_AUTH_LOGIN, "PLAIN LOGIN"},
    {"exim",
     "250-mx.example.net Hello client.example.com [192.0.2.1]\r\n"
     "250-SIZE 52428800\r\n"
     "250-8BITMIME\r\n"
     "250-PIPELINING\r\n"
     "250-PIPE_CONNECT\r\n"
     "250-AUTH CRAM-MD5 PLAIN\r\n"
     "250-CHUNKING\r\n"
     "250-STARTTLS\r\n"
     "250-PRDR\r\n"
     "250 HELP\r\n",
     SMTPREPLY_CAP_SIZE | SMTPREPLY_CAP_8BITMIME | SMTPREPLY_CAP_PIPELINING |
         SMTPREPLY_CAP_AUTH | SMTPREPLY_CAP_CHUNKING | SMTPREPLY_CAP_STARTTLS,
     52428800, SMTPREPLY_AUTH_CRAM_MD5 | SMTPREPLY_AUTH_PLAIN,
     "CRAM-MD5 PLAIN"},
    {"exchange",
     "250-EX01.corp.example.com Hello [10.1.2.3]\r\n"
     "250-SIZE 37748736\r\n"
     "250-PIPELINING\r\n"
     "250-DSN\r\n"
     "250-ENHANCEDSTATUSCODES\r\n"
     "250-STARTTLS\r\n"
     "250-X-ANONYMOUSTLS\r\n"
     "250-AUTH NTLM GSSAPI\r\n"
     "250-X-EXPS GSSAPI NTLM\r\n"
     "250-8BITMIME\r\n"
     "250-BINARYMIME\r\n"
     "250-CHUNKING\r\n"
     "250-XRDST\r\n"
     "250 SMTPUTF8\r\n",
     SMTPREPLY_CAP_SIZE | SMTPREPLY_CAP_PIPELINING | SMTPREPLY_CAP_DSN |
         SMTPREPLY_CAP_ENHANCEDSTATUSCODES | SMTPREPLY_CAP_STARTTLS |
         SMTPREPLY_CAP_AUTH | SMTPREPLY_CAP_8BITMIME |
         SMTPREPLY_CAP_BINARYMIME | SMTPREPLY_CAP_CHUNKING |
         SMTPREPLY_CAP_SMTPUTF8,
     37748736, SMTPREPLY_AUTH_GSSAPI, "NTLM GSSAPI"},
    {"old AUTH= only, lowercase, odd spacing",
     "250-host\r\n250-auth=login\r\n250-size\r\n250 pipelining\r\n",
     SMTPREPLY_CAP_AUTH | SMTPREPLY_CAP_SIZE | SMTPREPLY_CAP_PIPELINING, 0,
     SMTPREPLY_AUTH_LOGIN, "LOGIN"},
    {"no extensions", "250 host\r\n", 0, 0, 0, ""},
    {"bad SIZE, keyword prefixes, bad mechanism names",
     "250-host\r\n250-SIZE 12abc\r\n250-PIPELININGX\r\n250-DSNX\r\n"
     "250-STARTTLS now\r\n"
     "250 AUTH PLAIN THIS-NAME-IS-FAR-TOO-LONG-FOR-SASL b@d XOAUTH2\r\n",
     SMTPREPLY_CAP_SIZE | SMTPREPLY_CAP_STARTTLS | SMTPREPLY_CAP_AUTH, 0,
     SMTPREPLY_AUTH_PLAIN | SMTPREPLY_AUTH_XOAUTH2, "PLAIN XOAUTH2"},
    {"SIZE 0 and a huge SIZE",
     "250-host\r\n250-SIZE 99999999999999999999999\r\n250 SIZE 0\r\n",
     SMTPREPLY_CAP_SIZE, 0, 0, ""},
};

static void test_ehlo(void **state)
{
	struct smtpreply r;
	struct smtpreply_caps caps;
	const char *error;
	size_t i;

	for (i = 0; i < sizeof(ehlos) / sizeof(ehlos[0]); i++) {
		const struct ehlo *e = &ehlos[i];

		print_message("ehlo: %s\n", e->name);
		assert_int_equal(
		    parse_chunks(e->in, strlen(e->in), 7, &r, 2, &error), 1);
		assert_int_equal(smtpreply_ehlo_caps(&r, &caps), 0);
		assert_int_equal(caps.flags, e->flags);
		assert_int_equal(caps.size, e->size);
		assert_int_equal(caps.auth, e->auth);
		assert_string_equal(caps.auth_mechs, e->mechs);
		smtpreply_clear(&r);
	}
	/* a refusal has no capabilities */
	assert_int_equal(
	    parse_chunks("554 5.7.1 go away\r\n", 19, 19, &r, 2, &error), 1);
	assert_int_equal(smtpreply_ehlo_caps(&r, &caps), -1);
	assert_int_equal(caps.flags, 0);
	smtpreply_clear(&r);
}

/* Many AUTH mechanisms: the list is bounded and keeps whole names. */
static void test_ehlo_mech_overflow(void **state)
{
	struct sbuf *s = sbuf_new(65536);
	struct smtpreply r;
	struct smtpreply_caps caps;
	const char *error;
	size_t i, n;

	assert_true(sbuf_append_str(s, "250-host\r\n250 AUTH"));
	for (i = 0; i < 200; i++)
		assert_true(sbuf_printf(s, " MECH-%zu", i));
	assert_true(sbuf_append_str(s, " PLAIN PLAIN\r\n"));
	assert_int_equal(
	    parse_chunks(sbuf_data(s), sbuf_len(s), 4096, &r, 2, &error), 1);
	assert_int_equal(smtpreply_ehlo_caps(&r, &caps), 0);
	n = strlen(caps.auth_mechs);
	assert_true(n < sizeof(caps.auth_mechs));
	assert_true(strncmp(caps.auth_mechs, "MECH-0 MECH-1 ", 14) == 0);
	assert_true(caps.auth_mechs[n - 1] != ' ');
	assert_int_equal(caps.auth, SMTPREPLY_AUTH_PLAIN);
	smtpreply_clear(&r);
	sbuf_deinit(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_nul_and_sticky_failure),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_status_class),
	    cmocka_unit_test(test_diag),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_bare_lf),
	    cmocka_unit_test(test_ehlo),
	    cmocka_unit_test(test_ehlo_mech_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
