/*
 * test-addr - RFC 5321 / RFC 6531 path parsing, normalisation and flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define NUL_OK ADDR_ALLOW_NULL
#define UTF8 ADDR_ALLOW_UTF8
#define NOBR ADDR_ALLOW_NO_BRACKETS
#define PM ADDR_ALLOW_POSTMASTER

struct path_case {
	const char *in;
	size_t len;
	unsigned allow;
	const char *local; /* NULL: an error is expected */
	const char *domain;
	unsigned flags;
	const char *error;
};

#define OK(in, allow, local, domain, flags)                                    \
	{                                                                      \
		in, sizeof(in) - 1, allow, local, domain, flags, NULL          \
	}
#define BAD(in, allow, error)                                                  \
	{                                                                      \
		in, sizeof(in) - 1, allow, NULL, NULL, 0, error                \
	}

static const struct path_case path_cases[] = {
    /* Plain dot-strings and domains. */
    OK("<user@example.com>", 0, "user", "example.com", 0),
    OK("<User.Name@Example.COM>", 0, "User.Name", "example.com", 0),
    OK("<a@b>", 0, "a", "b", 0),
    OK("<postmaster@localhost>", 0, "postmaster", "localhost", 0),
    OK("<first.last+tag@Sub.Example.ORG>", 0, "first.last+tag",
       "sub.example.org", 0),
    OK("<!#$%&'*+-/=?^_`{|}~@x.y>", 0, "!#$%&'*+-/=?^_`{|}~", "x.y",
       ADDR_F_PERCENT | ADDR_F_BANG),
    OK("<a-b.c-d@x-y.example>", 0, "a-b.c-d", "x-y.example", 0),
    OK("<1@2.3>", 0, "1", "2.3", 0),
    OK("<a@B-1.C>", 0, "a", "b-1.c", 0),
    OK("<a@xn--bcher-kva.example>", 0, "a", "xn--bcher-kva.example", 0),
    OK("<a@b.c.d.e.f.g>", 0, "a", "b.c.d.e.f.g", 0),
    /* Quoted strings: unquoted when they need not be. */
    OK("<\"john\"@x.org>", 0, "john", "x.org", 0),
    OK("<\"john.doe\"@x.org>", 0, "john.doe", "x.org", 0),
    OK("<\"j\\ohn\"@x>", 0, "john", "x", 0),
    OK("<\"a%b\"@x>", 0, "a%b", "x", ADDR_F_PERCENT),
    OK("<\"john smith\"@x>", 0, "\"john smith\"", "x", ADDR_F_QUOTED),
    OK("<\"a\\\"b\"@x>", 0, "\"a\\\"b\"", "x", ADDR_F_QUOTED),
    OK("<\"a\\\\b\"@x>", 0, "\"a\\\\b\"", "x", ADDR_F_QUOTED),
    OK("<\".a\"@x>", 0, "\".a\"", "x", ADDR_F_QUOTED),
    OK("<\"a..b\"@x>", 0, "\"a..b\"", "x", ADDR_F_QUOTED),
    OK("<\"a.\"@x>", 0, "\"a.\"", "x", ADDR_F_QUOTED),
    OK("<\"a>b\"@x>", 0, "\"a>b\"", "x", ADDR_F_QUOTED),
    OK("<\"(comment)\"@x>", 0, "\"(comment)\"", "x", ADDR_F_QUOTED),
    OK("<\"\\ \"@x>", 0, "\" \"", "x", ADDR_F_QUOTED),
    OK("<\"user@other\"@local>", 0, "\"user@other\"", "local",
       ADDR_F_QUOTED | ADDR_F_AT_IN_LOCAL),
    OK("<\"a!b\"@x>", 0, "a!b", "x", ADDR_F_BANG),
    /* Routing hacks are legal; they are reported. */
    OK("<user%other.com@relay.com>", 0, "user%other.com", "relay.com",
       ADDR_F_PERCENT),
    OK("<host!user@relay.com>", 0, "host!user", "relay.com", ADDR_F_BANG),
    /* Address literals, rewritten in inet_ntop() form. */
    OK("<a@[192.0.2.1]>", 0, "a", "[192.0.2.1]", ADDR_F_DOMAIN_LITERAL),
    OK("<a@[IPv6:2001:DB8::1]>", 0, "a", "[IPv6:2001:db8::1]",
       ADDR_F_DOMAIN_LITERAL),
    OK("<a@[ipv6:0:0:0:0:0:0:0:1]>", 0, "a", "[IPv6:::1]",
       ADDR_F_DOMAIN_LITERAL),
    OK("<a@[IPv6:::ffff:192.0.2.1]>", 0, "a", "[IPv6:::ffff:192.0.2.1]",
       ADDR_F_DOMAIN_LITERAL),
    /* Source routes: checked, dropped, reported. */
    OK("<@a.com,@b.com:user@c.com>", 0, "user", "c.com", ADDR_F_SOURCE_ROUTE),
    OK("<@Relay:user@C.com>", 0, "user", "c.com", ADDR_F_SOURCE_ROUTE),
    OK("<@b\xc3\xbc.de:u@x>", UTF8, "u", "x", ADDR_F_SOURCE_ROUTE),
    /* Null path, Postmaster, no brackets: each behind its flag. */
    OK("<>", NUL_OK, "", "", 0),
    OK("<Postmaster>", PM, "Postmaster", "", ADDR_F_POSTMASTER),
    OK("<POSTMASTER>", PM, "POSTMASTER", "", ADDR_F_POSTMASTER),
    OK("<postmaster@x>", PM, "postmaster", "x", 0),
    OK("user@x.com", NOBR, "user", "x.com", ADDR_F_NO_BRACKETS),
    OK("<user@x.com>", NOBR, "user", "x.com", 0),
    /* SMTPUTF8. */
    OK("<j\xc3\xb6hn@example.com>", UTF8, "j\xc3\xb6hn", "example.com",
       ADDR_F_UTF8),
    OK("<user@b\xc3\xbc"
       "cher.Example>",
       UTF8, "user",
       "b\xc3\xbc"
       "cher.example",
       ADDR_F_UTF8),
    /* Non-ASCII letters keep their case (documented choice). */
    OK("<user@B\xc3\x9c"
       "CHER.de>",
       UTF8, "user",
       "b\xc3\x9c"
       "cher.de",
       ADDR_F_UTF8),
    OK("<\"j\xc3\xb6 hn\"@x>", UTF8, "\"j\xc3\xb6 hn\"", "x",
       ADDR_F_QUOTED | ADDR_F_UTF8),
    OK("<\"j\xc3\xb6hn\"@x>", UTF8, "j\xc3\xb6hn", "x", ADDR_F_UTF8),
    OK("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
       "\xe5\x91\x8a>",
       UTF8, "\xe7\x94\xa8\xe6\x88\xb7",
       "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", ADDR_F_UTF8),
    OK("<\xf0\x9f\x98\x80@x>", UTF8, "\xf0\x9f\x98\x80", "x", ADDR_F_UTF8),
    OK("<plain@x>", UTF8, "plain", "x", 0),

    /* Domains. */
    BAD("<user@example.com.>", 0, "domain ends with a dot"),
    BAD("<user@example..com>", 0, "empty label in domain"),
    BAD("<user@.example.com>", 0, "domain starts with a dot"),
    BAD("<user@-x.com>", 0, "domain label starts with a hyphen"),
    BAD("<user@x-.com>", 0, "domain label ends with a hyphen"),
    BAD("<user@x.com->", 0, "domain label ends with a hyphen"),
    BAD("<user@>", 0, "missing domain"),
    BAD("<user>", 0, "address has no domain"),
    BAD("<a@b_c.com>", 0, "invalid character in domain"),
    BAD("<a@b,c>", 0, "invalid character in domain"),
    BAD("<user@other@local>", 0, "more than one @ in address"),
    BAD("<a@b@>", 0, "more than one @ in address"),
    /* Local parts. */
    BAD("<.user@x>", 0, "local part starts with a dot"),
    BAD("<user.@x>", 0, "local part ends with a dot"),
    BAD("<a..b@x>", 0, "consecutive dots in local part"),
    BAD("<a(b)@x>", 0, "invalid character in local part"),
    BAD("<a,b@x>", 0, "invalid character in local part"),
    BAD("<a[b]@x>", 0, "invalid character in local part"),
    BAD("<a\\b@x>", 0, "invalid character in local part"),
    BAD("<\"abc@x>", 0, "unbalanced quote in local part"),
    BAD("<\"abc\\\">", 0, "unbalanced quote in local part"),
    BAD("<\"abc\\", 0, "backslash at end of local part"),
    BAD("\"abc\\", NOBR, "backslash at end of local part"),
    BAD("<\"\"@x>", 0, "empty quoted local part"),
    BAD("<a\"b\"@x>", 0, "misplaced quote in address"),
    BAD("<\"a\"b@x>", 0, "invalid character in local part"),
    BAD("<\"a\"\"b\"@x>", 0, "misplaced quote in address"),
    /* Brackets, spaces, structure. */
    BAD("user@x.com", 0, "missing < before address"),
    BAD(" <user@x.com>", 0, "space before address"),
    BAD("< user@x.com>", 0, "space in address"),
    BAD("<user@x.com >", 0, "space in address"),
    BAD("<user @x.com>", 0, "space in address"),
    BAD("<user@ x.com>", 0, "space in address"),
    BAD("<<a@b>>", 0, "unexpected angle bracket in address"),
    BAD("<a@b>>", 0, "unexpected data after address"),
    BAD("<a@b", 0, "missing > after address"),
    BAD("<a@b> SIZE=1", 0, "unexpected data after address"),
    BAD("a@x.com>", NOBR, "unexpected angle bracket in address"),
    BAD("a@x.com SIZE=5", NOBR, "space in address"),
    BAD("", 0, "empty address"),
    BAD("", NOBR, "empty address"),
    BAD("<", 0, "empty local part"),
    BAD("<>", 0, "null address not allowed here"),
    BAD("<> ", NUL_OK, "unexpected data after address"),
    BAD("<Postmaster>", 0, "address has no domain"),
    BAD("<Postmaster >", PM, "space in address"),
    /* Control characters, NUL, bare CR / LF. */
    BAD("<a\0b@x>", 0, "NUL character in address"),
    BAD("<a@x\0.com>", 0, "NUL character in address"),
    BAD("<\"a\0b\"@x>", 0, "NUL character in address"),
    BAD("<\"a\\\0b\"@x>", 0, "NUL character in address"),
    BAD("<a\r\n@x>", 0, "CR or LF in address"),
    BAD("<a@x\r.com>", 0, "CR or LF in address"),
    BAD("<a@x.com\n>", 0, "CR or LF in address"),
    BAD("<\"a\rb\"@x>", 0, "CR or LF in address"),
    BAD("<\"a\\\nb\"@x>", 0, "CR or LF in address"),
    BAD("<a\tb@x>", 0, "control character in address"),
    BAD("<a\x7f@x>", 0, "control character in address"),
    BAD("<\"a\x1b\"@x>", 0, "control character in address"),
    /* 8-bit without SMTPUTF8, malformed UTF-8 with it. */
    BAD("<j\xc3\xb6hn@x>", 0, "8-bit characters in address need SMTPUTF8"),
    BAD("<john@b\xc3\xbc"
        "cher.de>",
        0, "8-bit characters in address need SMTPUTF8"),
    BAD("<\"j\xc3\xb6hn\"@x>", 0, "8-bit characters in address need SMTPUTF8"),
    BAD("<\xc3\x28@x>", UTF8, "invalid UTF-8 in address"),
    BAD("<\xc0\xaf@x>", UTF8, "invalid UTF-8 in address"),
    BAD("<\xe0\x80\xaf@x>", UTF8, "invalid UTF-8 in address"),
    BAD("<\xed\xa0\x80@x>", UTF8, "invalid UTF-8 in address"),
    BAD("<\xf4\x90\x80\x80@x>", UTF8, "invalid UTF-8 in address"),
    BAD("<\xf8\x88\x80\x80\x80@x>", UTF8, "invalid UTF-8 in address"),
    BAD("<a@x\xc3>", UTF8, "invalid UTF-8 in address"),
    BAD("<\"\xff\"@x>", UTF8, "invalid UTF-8 in address"),
    BAD("<\xc2\x85@x>", UTF8, "control character in address"),
    BAD("<\"a\\\xc3\xa9\"@x>", UTF8, "invalid escape in local part"),
    /* Address literals. */
    BAD("<a@[1.2.3]>", 0, "invalid IPv4 address literal"),
    BAD("<a@[256.1.1.1]>", 0, "invalid IPv4 address literal"),
    BAD("<a@[01.2.3.4]>", 0, "invalid IPv4 address literal"),
    BAD("<a@[IPv6:1::2::3]>", 0, "invalid IPv6 address literal"),
    BAD("<a@[IPv6:fe80::1%eth0]>", 0, "invalid IPv6 address literal"),
    BAD("<a@[IPv6:1.2.3.4]>", 0, "invalid IPv6 address literal"),
    BAD("<a@[x-tag:foo]>", 0, "unsupported address literal"),
    BAD("<a@[::1]>", 0, "unsupported address literal"),
    BAD("<a@[1.2.3.4>", 0, "unterminated address literal"),
    BAD("<a@[1.2.3.4].com>", 0, "data after address literal"),
    BAD("<a@[ 1.2.3.4]>", 0, "invalid address literal"),
    BAD("<a@[]>", 0, "invalid IPv4 address literal"),
    BAD("<a@x.[1.2.3.4]>", 0, "invalid character in domain"),
    /* Source routes. */
    BAD("<@[1.2.3.4]:a@b>", 0, "address literal not allowed here"),
    BAD("<@a,b:c@d>", 0, "invalid source route"),
    BAD("<@a.com,@b.com,user@c.com>", 0, "invalid source route"),
    BAD("<@x>", 0, "invalid source route"),
    BAD("<@a.com:@b.com:u@c>", 0, "empty local part"),
    BAD("<@a.:u@c>", 0, "domain ends with a dot"),
    BAD("<@:u@c>", 0, "missing domain"),
};

static void check_ok(const struct path_case *c, size_t i, struct addr *a)
{
	char expect[600];
	const char *error = NULL;
	struct addr *b = NULL;
	char *wrapped;

	if (strcmp(addr_local(a), c->local) != 0 ||
	    strcmp(addr_domain(a), c->domain) != 0 || addr_flags(a) != c->flags)
		fail_msg("case %zu %s: got local=%s domain=%s flags=%#x", i,
		         c->in, addr_local(a), addr_domain(a), addr_flags(a));
	if (c->domain[0] != '\0')
		snprintf(expect, sizeof(expect), "%s@%s", c->local, c->domain);
	else
		snprintf(expect, sizeof(expect), "%s", c->local);
	assert_string_equal(addr_format(a), expect);
	assert_int_equal(addr_is_null(a), c->in[1] == '>');
	/* The canonical form parses back to itself. */
	wrapped = malloc(strlen(expect) + 3);
	assert_non_null(wrapped);
	sprintf(wrapped, "<%s>", expect);
	if (addr_parse_path(wrapped, strlen(wrapped), c->allow, &b, &error) < 0)
		fail_msg("case %zu: re-parse of %s: %s", i, wrapped, error);
	assert_string_equal(addr_format(b), addr_format(a));
	assert_int_equal(addr_flags(b) & ADDR_F_CANONICAL_MASK,
	                 addr_flags(a) & ADDR_F_CANONICAL_MASK);
	addr_deinit(&b);
	free(wrapped);
}

static void test_path_table(void **state)
{
	size_t n = sizeof(path_cases) / sizeof(path_cases[0]);

	assert_true(n >= 80);
	for (size_t i = 0; i < n; i++) {
		const struct path_case *c = &path_cases[i];
		struct addr *a = (struct addr *)1;
		const char *error = NULL;
		int ret = addr_parse_path(c->in, c->len, c->allow, &a, &error);

		if (c->local == NULL) {
			if (ret != -1 || a != NULL || error == NULL ||
			    strcmp(error, c->error) != 0)
				fail_msg(
				    "case %zu: expected \"%s\", got %d \"%s\"",
				    i, c->error, ret,
				    error != NULL ? error : "(none)");
			continue;
		}
		if (ret != 0)
			fail_msg("case %zu %s: unexpected error \"%s\"", i,
			         c->in, error);
		check_ok(c, i, a);
		addr_deinit(&a);
		assert_null(a);
	}
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* Parse "<" pre mid post ">" and return the error, or NULL on success. */
static const char *try_path(const char *pre, const char *mid, const char *post)
{
	char buf[4096];
	const char *error = NULL;
	struct addr *a = NULL;
	int len = snprintf(buf, sizeof(buf), "<%s%s%s>", pre, mid, post);

	assert_true(len > 0 && (size_t)len < sizeof(buf));
	if (addr_parse_path(buf, (size_t)len, 0, &a, &error) == 0) {
		addr_deinit(&a);
		return NULL;
	}
	assert_null(a);
	return error;
}

/* A domain of exactly n octets: labels of 63 joined by dots. */
static char *make_domain(size_t n)
{
	char *s = repeat('a', n);

	for (size_t i = 63; i < n; i += 64)
		s[i] = '.';
	if (s[n - 1] == '.')
		s[n - 2] = '.', s[n - 1] = 'b';
	return s;
}

static void test_limits(void **state)
{
	char *s;

	s = repeat('a', 64);
	assert_null(try_path("", s, "@x"));
	free(s);
	s = repeat('a', 65);
	assert_string_equal(try_path("", s, "@x"), "local part too long");
	free(s);
	/* Quoted: 64 octets counting the quotes. */
	s = repeat(' ', 62);
	assert_null(try_path("\"", s, "\"@x"));
	free(s);
	s = repeat(' ', 63);
	assert_string_equal(try_path("\"", s, "\"@x"), "local part too long");
	free(s);
	/* An escaped pair counts twice. */
	s = repeat('a', 61);
	assert_string_equal(try_path("\"\\ ", s, "\"@x"),
	                    "local part too long");
	free(s);
	s = repeat('a', 2000);
	assert_string_equal(try_path("", s, "@x"), "local part too long");
	assert_string_equal(try_path("\"", s, "\"@x"), "local part too long");
	free(s);
	s = repeat('a', 63);
	assert_null(try_path("u@", s, ".com"));
	free(s);
	s = repeat('a', 64);
	assert_string_equal(try_path("u@", s, ".com"), "domain label too long");
	free(s);
	/* Domain: 255 is fine for the domain, not for a 256-octet path. */
	s = make_domain(255);
	assert_string_equal(try_path("u@", s, ""), "path too long");
	free(s);
	s = make_domain(256);
	assert_string_equal(try_path("u@", s, ""), "domain too long");
	free(s);
	s = make_domain(2000);
	assert_string_equal(try_path("u@", s, ""), "domain too long");
	free(s);
	/* Path: "<" + 1 + "@" + 252 + ">" = 256. */
	s = make_domain(252);
	assert_null(try_path("u@", s, ""));
	free(s);
	s = make_domain(253);
	assert_string_equal(try_path("u@", s, ""), "path too long");
	free(s);
}

static void test_long_route(void **state)
{
	char buf[2100];
	size_t n = 0;
	const char *error = NULL;
	struct addr *a = NULL;

	buf[n++] = '<';
	while (n < 2000) {
		memcpy(buf + n, "@a,", 3);
		n += 3;
	}
	memcpy(buf + n - 1, ":u@x>", 5);
	n += 4;
	assert_int_equal(addr_parse_path(buf, n, 0, &a, &error), -1);
	assert_string_equal(error, "path too long");
}

static void test_mailbox(void **state)
{
	struct addr *a = NULL;
	const char *error = NULL;
	char *s;

	assert_int_equal(
	    addr_parse_mailbox("John@Example.COM", 16, 0, &a, &error), 0);
	assert_string_equal(addr_format(a), "John@example.com");
	assert_false(addr_is_null(a));
	addr_deinit(&a);
	assert_int_equal(
	    addr_parse_mailbox("\"x y\"@[10.0.0.1]", 16, 0, &a, &error), 0);
	assert_string_equal(addr_format(a), "\"x y\"@[10.0.0.1]");
	assert_int_equal(addr_flags(a), ADDR_F_QUOTED | ADDR_F_DOMAIN_LITERAL);
	addr_deinit(&a);
	assert_int_equal(addr_parse_mailbox("<a@b>", 5, 0, &a, &error), -1);
	assert_string_equal(error, "unexpected angle bracket in address");
	assert_null(a);
	assert_int_equal(
	    addr_parse_mailbox("a@b", 3, ADDR_ALLOW_NULL, &a, &error), 0);
	addr_deinit(&a);
	assert_int_equal(addr_parse_mailbox("", 0, 0, &a, &error), -1);
	assert_string_equal(error, "empty local part");
	assert_int_equal(addr_parse_mailbox("\xc3\xa9@x", 4, 0, &a, &error),
	                 -1);
	assert_int_equal(addr_parse_mailbox("\xc3\xa9@x", 4, UTF8, &a, &error),
	                 0);
	assert_int_equal(addr_flags(a), ADDR_F_UTF8);
	addr_deinit(&a);
	/* 254 octets is the longest mailbox that fits in a path. */
	s = make_domain(252);
	s[0] = 'u';
	s[1] = '@';
	assert_int_equal(addr_parse_mailbox(s, 252, 0, &a, &error), 0);
	addr_deinit(&a);
	free(s);
	s = make_domain(255);
	memcpy(s, "u@", 2);
	assert_int_equal(addr_parse_mailbox(s, 254, 0, &a, &error), 0);
	addr_deinit(&a);
	assert_int_equal(addr_parse_mailbox(s, 255, 0, &a, &error), -1);
	assert_string_equal(error, "address too long");
	free(s);
	addr_deinit(&a); /* NULL is fine */
}

struct split_case {
	const char *arg;
	unsigned allow;
	size_t path_len; /* 0: an error is expected */
	size_t params_off;
	const char *error;
};

static void test_split(void **state)
{
	static const struct split_case cases[] = {
	    {"<a@b>", 0, 5, 5, NULL},
	    {"<a@b> SIZE=10", 0, 5, 6, NULL},
	    {"<a@b>   SIZE=10 BODY=8BITMIME", 0, 5, 8, NULL},
	    {"<a@b>  ", 0, 5, 7, NULL},
	    {"<\"a>b\"@c> X=1", 0, 9, 10, NULL},
	    {"<\"a\\\">\"@b> P", 0, 10, 11, NULL},
	    {"<> SIZE=1", 0, 2, 3, NULL},
	    {"a@b SIZE=1", NOBR, 3, 4, NULL},
	    {"<a@b> SIZE=1", NOBR, 5, 6, NULL},
	    {"<a@b>X", 0, 0, 0, "unexpected data after address"},
	    {" <a@b>", 0, 0, 0, "space before address"},
	    {"a@b SIZE=1", 0, 0, 0, "missing < before address"},
	    {"<a@b", 0, 0, 0, "missing > after address"},
	    {"<\"a>b@c", 0, 0, 0, "missing > after address"},
	    {"<\"a\\", 0, 0, 0, "missing > after address"},
	    {"", 0, 0, 0, "missing address"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct split_case *c = &cases[i];
		size_t path_len = 999, off = 999;
		const char *error = NULL;
		int ret = addr_split_path_arg(c->arg, strlen(c->arg), c->allow,
		                              &path_len, &off, &error);

		if (c->error != NULL) {
			if (ret != -1 || strcmp(error, c->error) != 0)
				fail_msg("split %zu: got %d %s", i, ret,
				         error != NULL ? error : "(none)");
			continue;
		}
		if (ret != 0 || path_len != c->path_len || off != c->params_off)
			fail_msg("split %zu: got %d %zu %zu", i, ret, path_len,
			         off);
	}
}

static void test_detail(void **state)
{
	static const struct {
		const char *in;
		unsigned allow;
		char delim;
		bool split;
		size_t base_len;
		const char *detail;
	} cases[] = {
	    {"<user+tag@x>", 0, '+', true, 4, "tag"},
	    {"<a+b+c@x>", 0, '+', true, 1, "b+c"},
	    {"<user+@x>", 0, '+', true, 4, ""},
	    {"<\"user+tag\"@x>", 0, '+', true, 4, "tag"},
	    {"<user-tag@x>", 0, '-', true, 4, "tag"},
	    {"<+tag@x>", 0, '+', false, 0, NULL},
	    {"<user@x>", 0, '+', false, 0, NULL},
	    {"<user-tag@x>", 0, '+', false, 0, NULL},
	    {"<\"us er+tag\"@x>", 0, '+', false, 0, NULL},
	    {"<user+tag@x>", 0, '\0', false, 0, NULL},
	    {"<>", NUL_OK, '+', false, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr *a = NULL;
		const char *error = NULL, *detail = "unset";
		size_t base_len = 999;

		assert_int_equal(addr_parse_path(cases[i].in,
		                                 strlen(cases[i].in),
		                                 cases[i].allow, &a, &error),
		                 0);
		if (addr_detail_split(a, cases[i].delim, &base_len, &detail) !=
		    cases[i].split)
			fail_msg("detail %zu", i);
		if (cases[i].split) {
			assert_int_equal(base_len, cases[i].base_len);
			assert_string_equal(detail, cases[i].detail);
		} else {
			assert_int_equal(base_len, 999);
			assert_string_equal(detail, "unset");
		}
		addr_deinit(&a);
	}
}

static void test_null(void **state)
{
	struct addr *a = NULL;
	const char *error = NULL;

	assert_int_equal(addr_parse_path("<>", 2, ADDR_ALLOW_NULL, &a, &error),
	                 0);
	assert_true(addr_is_null(a));
	assert_string_equal(addr_format(a), "");
	assert_string_equal(addr_local(a), "");
	assert_string_equal(addr_domain(a), "");
	addr_deinit(&a);
	assert_int_equal(
	    addr_parse_path("<a@b>", 2, ADDR_ALLOW_NULL, &a, &error), -1);
	assert_string_equal(error, "address has no domain");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_table), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_long_route), cmocka_unit_test(test_mailbox),
	    cmocka_unit_test(test_split),      cmocka_unit_test(test_detail),
	    cmocka_unit_test(test_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
