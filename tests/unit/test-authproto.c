/*
 * test-authproto - the authd protocol codec: round trips of every message,
 * strict rejection of malformed lines, records, limits, framing, secret
 * wiping, and a check of the schema tables themselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authproto.h"
#include "sbuf.h"

#include "../../lib/authproto_private.h"

#define NONE AUTHPROTO_NONE
#define REQ AUTHPROTO_NONE /* parse as a request */

struct line_case {
	const char *line;
	/* for answers: the request verb; -1: parse as a request */
	int request;
	const char *error; /* NULL: must parse and format back the same */
};

#define RQ(l)                                                                  \
	{                                                                      \
		l, -1, NULL                                                    \
	}
#define AN(r, l)                                                               \
	{                                                                      \
		l, AUTHPROTO_##r, NULL                                         \
	}
#define BADRQ(l, e)                                                            \
	{                                                                      \
		l, -1, e                                                       \
	}
#define BADAN(r, l, e)                                                         \
	{                                                                      \
		l, AUTHPROTO_##r, e                                            \
	}

static int parse_case(const char *line, size_t len, int request,
                      struct authproto_msg **msg_r, const char **error_r)
{
	if (request < 0)
		return authproto_parse_request(line, len, msg_r, error_r);
	return authproto_parse_answer(line, len, (enum authproto_verb)request,
	                              msg_r, error_r);
}

static const struct line_case good[] = {
    RQ("HELLO 0 version=1 client=routerd"),
    RQ("HELLO 0 version=2 client=dirmxctl"),
    RQ("LOOKUP 1 addr=user@example.com context=mx"),
    RQ("LOOKUP 18446744073709551615 addr=\"a%20b\"@x context=submission "
       "user=alice trace=1 nocache=0"),
    RQ("LOOKUP 7 context=mx addr=postmaster"),
    RQ("LOOKUP 9 addr=%C3%A9l%C3%A8ve@%C3%A9cole.fr context=mx"),
    RQ("AUTH 2 mech=PLAIN user=alice pass=p%25%3D%20%0A%0D%C3%A9 "
       "client=192.0.2.1"),
    RQ("AUTH 3 mech=LOGIN user=EXAMPLE\\bob pass=x client=2001:db8::1"),
    RQ("AUTH 4 mech=PLAIN user=bob pass=%01%7F%FF"),
    RQ("SENDERS 4 user=alice@example.com"),
    RQ("DC 5"),
    RQ("STATS 6"),
    RQ("CACHE 7 op=flush"),
    RQ("CACHE 8 op=flush addr=a@b"),
    RQ("THROTTLE 9 user=alice op=status"),
    RQ("THROTTLE 10 user=alice@example.com op=reset"),
    AN(HELLO, "OK 0 version=1 server=authd"),
    AN(HELLO, "ERROR 0 reason=unsupported%20version supported=1"),
    AN(HELLO, "ERROR 0 reason= supported=1 supported=3"),
    AN(NONE, "ERROR 0 reason=bad%20ID"),
    AN(LOOKUP, "OK 1 rcpt=a@x hop=mbx1.x:25 rcpt=b@x hop=external "
               "cached=0 dc=ldap://dc1.x trace=expand%20group trace="),
    AN(LOOKUP, "OK 1 cached=1 rcpt=a@x hop=local"),
    AN(LOOKUP, "OK 1 rcpt=a@x hop=[192.0.2.7]:2525 trace=1 cached=1 "
               "trace=2 rcpt=c@x hop=local"),
    AN(LOOKUP, "NOTFOUND 1 reason=no%20such%20user trace=a"),
    AN(LOOKUP, "TEMPFAIL 1 reason=dc%20down dc=ldap://dc1"),
    /* Shared domains (issue 16): the kind and the rule that applied. */
    AN(LOOKUP, "OK 1 rcpt=g@s.x hop=[old.s.x]:25 cached=0 "
               "domain=internalrelay rule=internal%20relay"),
    AN(LOOKUP, "NOTFOUND 1 reason=no dc=ldap://dc1 rule=authoritative"),
    AN(LOOKUP, "TEMPFAIL 1 reason=down rule=deferred trace=a"),
    AN(LOOKUP, "ERROR 1 reason=unknown%20key"),
    /* Sender restrictions (issue 16): the rule that refuses. */
    AN(LOOKUP, "NOTFOUND 1 reason=x restricted=msExchRequireAuthToSendTo"),
    AN(LOOKUP, "NOTFOUND 1 reason=x restricted=authOrig/dLMemSubmitPerms"),
    AN(AUTH, "OK 2 user=alice@x"),
    AN(AUTH, "NOTFOUND 2 reason=bad%20credentials delay_ms=1000"),
    AN(AUTH, "TEMPFAIL 2 reason=directory%20unavailable"),
    AN(SENDERS, "OK 4 addr=a@x addr=b@x"),
    AN(SENDERS, "OK 4"),
    AN(SENDERS, "OK 4 addr=a@x recip_limit=50"),
    AN(SENDERS, "NOTFOUND 4 reason=no%20such%20user"),
    AN(DC, "OK 5 source=srv%20_ldap._tcp.dc._msdcs.x "
           "client_site=Default-First-Site-Name "
           "dc=ldap://dc1:389 state=up site=S1 prio=0 weight=100 "
           "dc=ldap://dc2:389 state=down prio=10 weight=0 error=timeout "
           "last_error="),
    /* How each DC's service bind is protected (issue 16, section 6). */
    AN(DC, "OK 5 dc=ldap://dc1:389 state=up prio=0 weight=100 "
           "protection=starttls+sasl-seal "
           "dc=ldap://dc2:389 state=down prio=0 weight=100 error=x"),
    AN(DC, "OK 5"),
    AN(DC, "TEMPFAIL 5 reason=locator%20not%20ready"),
    AN(STATS, "OK 6 counter=lookups value=12 counter=auth_fail value=0"),
    AN(STATS, "OK 6 counter=big value=18446744073709551615"),
    AN(CACHE, "OK 7 entries=3"),
    AN(CACHE, "OK 7"),
    AN(THROTTLE, "OK 9 dn=CN%3Dalice,DC%3Dx policy=domain threshold=5 cap=3 "
                 "unfamiliar_cap=2 failures=2 own_failures=2 "
                 "directory_failures=1 counted_at=ldap://dc1:389 "
                 "strangers=throttled familiar_clients=open "
                 "ends_in_ms=1799000 familiar=2001:db8::/64 "
                 "last_ok=1800000000 familiar=192.0.2.7 last_ok=1"),
    AN(THROTTLE, "OK 10 dn=CN%3Dalice,DC%3Dx cleared=1"),
    AN(THROTTLE, "NOTFOUND 9 reason=no%20such%20account"),
    AN(THROTTLE, "TEMPFAIL 9 reason=directory%20unavailable"),
    AN(THROTTLE, "ERROR 9 reason=THROTTLE%20is%20for%20root"),
};

static const struct line_case bad[] = {
    /* verbs and IDs */
    BADRQ("FOO 1", "unknown verb"),
    BADRQ("lookup 1 addr=a context=mx", "unknown verb"),
    BADRQ("", "missing ID"),
    BADRQ("DC", "missing ID"),
    BADRQ("DC ", "bad ID"),
    BADRQ("DC 01", "bad ID"),
    BADRQ("DC 00", "bad ID"),
    BADRQ("DC -1", "bad ID"),
    BADRQ("DC +1", "bad ID"),
    BADRQ("DC 1a", "bad ID"),
    BADRQ("DC 18446744073709551616", "bad ID"),
    BADRQ("DC 123456789012345678901", "bad ID"),
    BADRQ("DC 0", "ID not allowed here"),
    BADRQ("HELLO 1 version=1 client=x", "ID not allowed here"),
    BADRQ("OK 1 user=a", "not a request"),
    BADAN(LOOKUP, "LOOKUP 1 addr=a context=mx", "not an answer"),
    BADAN(LOOKUP, "OK 1 rcpt=a hop=b cached=0 restricted=authOrig",
          "unknown key"),
    BADAN(LOOKUP, "OK 0 rcpt=a hop=b cached=0", "ID not allowed here"),
    BADAN(NONE, "ERROR 3 reason=x", "ID not allowed here"),
    BADAN(NONE, "OK 0", "answer not allowed to this request"),
    BADAN(HELLO, "TEMPFAIL 0 reason=x", "answer not allowed"),
    BADAN(DC, "NOTFOUND 5 reason=x", "answer not allowed"),
    BADAN(STATS, "NOTFOUND 5 reason=x", "answer not allowed"),
    BADRQ("THROTTLE 9 user=alice", "required key missing"),
    BADRQ("THROTTLE 9 user=alice op=unlock", "value not allowed"),
    BADAN(THROTTLE, "OK 9 dn=x last_ok=1", "record field out of place"),
    BADAN(THROTTLE, "OK 9 dn=x familiar=192.0.2.7", "record field missing"),
    BADAN(THROTTLE, "OK 9 dn=x strangers=locked", "value not allowed"),
    /* separators and keys */
    BADRQ("DC 1 ", "empty field"),
    BADRQ("SENDERS 1  user=a", "empty field"),
    BADRQ("DC  1", "bad ID"),
    BADRQ("SENDERS 1 user", "missing '='"),
    BADRQ("SENDERS 1 =a", "empty field"),
    BADRQ("SENDERS 1 USER=a", "bad key"),
    BADRQ("SENDERS 1 us-er=a", "bad key"),
    BADRQ("SENDERS 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=a", "bad key"),
    BADRQ("SENDERS 1 user=a foo=1", "unknown key"),
    BADRQ("DC 1 x=1", "unknown key"),
    BADRQ("LOOKUP 1 addr=a", "required key missing"),
    BADRQ("LOOKUP 1 addr=a addr=b context=mx", "duplicate key"),
    BADRQ("HELLO 0 version=1", "required key missing"),
    /* escapes and raw bytes */
    BADRQ("SENDERS 1 user=a%2", "bad escape"),
    BADRQ("SENDERS 1 user=a%", "bad escape"),
    BADRQ("SENDERS 1 user=%zz", "bad escape"),
    BADRQ("SENDERS 1 user=a%2f", "bad escape"),
    BADRQ("SENDERS 1 user=%41", "needless escape"),
    BADRQ("SENDERS 1 user=a%00b", "NUL in value"),
    BADRQ("SENDERS 1 user=a=b", "unescaped byte"),
    BADRQ("SENDERS 1 user=\xc3\xa9", "unescaped byte"),
    BADRQ("SENDERS 1 user=a\tb", "unescaped byte"),
    BADRQ("SENDERS 1 user=a\r", "CR in line"),
    BADRQ("SENDERS 1 user=a\n", "unescaped byte"),
    BADRQ("DC 1\r", "bad ID"),
    /* values */
    BADRQ("SENDERS 1 user=", "empty value"),
    BADRQ("SENDERS 1 user=a%01", "control character"),
    BADRQ("SENDERS 1 user=a%C2%85", "control character"),
    BADRQ("SENDERS 1 user=a%C3", "bad UTF-8"),
    BADRQ("SENDERS 1 user=%C0%AF", "bad UTF-8"),
    BADRQ("LOOKUP 1 addr=a context=MX", "value not allowed"),
    BADRQ("LOOKUP 1 addr=a context=", "value not allowed"),
    BADRQ("LOOKUP 1 addr=a context=mx trace=2", "bad boolean"),
    BADRQ("LOOKUP 1 addr=a context=mx trace=yes", "bad boolean"),
    BADRQ("AUTH 1 mech=PLAIN user=a pass=", "empty value"),
    BADRQ("AUTH 1 mech=CRAM-MD5 user=a pass=x", "value not allowed"),
    BADRQ("AUTH 1 mech=PLAIN user=a pass=x client=192.0.2.01", "bad IP"),
    BADRQ("AUTH 1 mech=PLAIN user=a pass=x client=2001:DB8::1", "bad IP"),
    BADRQ("AUTH 1 mech=PLAIN user=a pass=x client=host", "bad IP"),
    BADRQ("HELLO 0 version=01 client=x", "bad number"),
    BADRQ("HELLO 0 version=65536 client=x", "bad number"),
    BADRQ("HELLO 0 version=1 client=a%20b", "control character, space"),
    BADAN(AUTH, "NOTFOUND 2 reason=x delay_ms=3600001", "bad number"),
    BADAN(STATS, "OK 6 counter=a value=18446744073709551616", "bad number"),
    /* records */
    BADAN(LOOKUP, "OK 1 rcpt=a cached=0", "record field missing"),
    BADAN(LOOKUP, "OK 1 rcpt=a", "record field missing"),
    BADAN(LOOKUP, "OK 1 hop=x rcpt=a cached=0", "out of place"),
    BADAN(LOOKUP, "OK 1 rcpt=a hop=x hop=y cached=0", "out of place"),
    BADAN(LOOKUP, "OK 1 rcpt=a cached=0 hop=x", "record field missing"),
    BADAN(LOOKUP, "OK 1 cached=0", "required key missing"),
    BADAN(LOOKUP, "OK 1 rcpt=a hop=x cached=0 cached=1", "duplicate key"),
    BADAN(LOOKUP, "OK 1 rcpt=a hop=a%20b cached=0", "space"),
    BADAN(LOOKUP, "OK 1 rcpt=a hop=x cached=0 domain=internal",
          "value not allowed"),
    BADAN(LOOKUP, "OK 1 rcpt=a hop=x cached=0 rule=a rule=b", "duplicate key"),
    BADAN(DC, "OK 5 dc=a state=up weight=1 prio=1", "record field"),
    BADAN(DC, "OK 5 dc=a state=up prio=1 weight=1 state=up", "out of place"),
    BADAN(DC, "OK 5 dc=a prio=1 weight=1", "record field missing"),
    BADAN(DC, "OK 5 state=up", "out of place"),
    BADAN(DC, "OK 5 dc=a state=up prio=1 weight=1 site=x", "out of place"),
    BADAN(DC, "OK 5 dc=a state=up prio=1 weight=1 error=x error=y",
          "out of place"),
    BADAN(DC, "OK 5 dc=a state=sleepy prio=1 weight=1", "value not allowed"),
    BADAN(DC, "OK 5 dc=a state=up prio=65536 weight=1", "bad number"),
    BADAN(DC, "OK 5 dc=a state=up prio=1 weight=1 error=x protection=s",
          "out of place"),
    BADAN(DC, "OK 5 protection=starttls", "out of place"),
    BADAN(STATS, "OK 6 counter=a", "record field missing"),
    BADAN(HELLO, "ERROR 0 reason=x", "required key missing"),
};

static void test_good(void **state)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct line_case *c = &good[i];
		struct authproto_msg *m = NULL;
		struct sbuf *out = sbuf_new(AUTHPROTO_LINE_MAX);
		const char *err = NULL;
		size_t len = strlen(c->line);

		if (parse_case(c->line, len, c->request, &m, &err) < 0)
			fail_msg("case %zu: %s: %s", i, c->line, err);
		assert_int_equal(authproto_msg_format(m, out, &err), 0);
		assert_int_equal(sbuf_len(out), len + 1);
		assert_memory_equal(sbuf_data(out), c->line, len);
		assert_int_equal(sbuf_data(out)[len], '\n');
		authproto_msg_deinit(&m);
		assert_null(m);
		sbuf_deinit(&out);
	}
}

static void test_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct line_case *c = &bad[i];
		struct authproto_msg *m = (void *)&m;
		const char *err = NULL;

		if (parse_case(c->line, strlen(c->line), c->request, &m,
		               &err) == 0)
			fail_msg("case %zu accepted: %s", i, c->line);
		assert_null(m);
		if (err == NULL || strstr(err, c->error) == NULL)
			fail_msg("case %zu: %s: got \"%s\", want \"%s\"", i,
			         c->line, err, c->error);
	}
}

static void test_raw_nul(void **state)
{
	static const char line[] = "SENDERS 1 user=a\0b";
	struct authproto_msg *m;
	const char *err;

	assert_int_equal(
	    authproto_parse_request(line, sizeof(line) - 1, &m, &err), -1);
	assert_string_equal(err, "unescaped byte in value");
	assert_int_equal(authproto_parse_request("DC\0 1", 5, &m, &err), -1);
	/* a NUL value given to the builder is refused too */
	m = authproto_msg_new_request(AUTHPROTO_SENDERS, 1);
	assert_false(authproto_msg_add(m, "user", "a\0b", 3));
	authproto_msg_deinit(&m);
}

/* Build from hostile values, format, parse back: the same fields. */
static void test_hostile_round_trip(void **state)
{
	char big[2001], all[255];
	const char *err;
	struct sbuf *out = sbuf_new(AUTHPROTO_LINE_MAX);
	struct authproto_msg *m, *back;
	struct authproto_field f, g;

	memset(big, 'x', sizeof(big) - 1);
	big[100] = ' ';
	big[200] = '%';
	big[300] = '=';
	big[sizeof(big) - 1] = '\0';
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (char)(i + 1);

	m = authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_LOOKUP, 42);
	assert_true(authproto_msg_add_str(m, "rcpt", "\"a b\"@x"));
	assert_true(authproto_msg_add_str(m, "hop", "m\xc3\xa9l.x"));
	assert_true(authproto_msg_add_str(m, "trace", big));
	assert_true(authproto_msg_add_str(m, "trace", "a\r\nb\n% = \t"));
	assert_true(authproto_msg_add(m, "trace", all, sizeof(all)));
	assert_true(authproto_msg_add_str(m, "trace", ""));
	assert_true(authproto_msg_add_uint(m, "cached", 0));
	assert_int_equal(authproto_msg_format(m, out, &err), 0);
	/* one line: the only LF is the last byte */
	assert_ptr_equal(memchr(sbuf_data(out), '\n', sbuf_len(out)),
	                 sbuf_data(out) + sbuf_len(out) - 1);
	assert_int_equal(authproto_parse_answer(sbuf_data(out),
	                                        sbuf_len(out) - 1,
	                                        AUTHPROTO_LOOKUP, &back, &err),
	                 0);
	assert_int_equal(authproto_msg_count(back), authproto_msg_count(m));
	for (size_t i = 0; authproto_msg_field(m, i, &f); i++) {
		assert_true(authproto_msg_field(back, i, &g));
		assert_string_equal(f.key, g.key);
		assert_int_equal(f.value_len, g.value_len);
		assert_memory_equal(f.value, g.value, f.value_len);
	}
	assert_false(authproto_msg_field(back, 7, &g));
	authproto_msg_deinit(&back);
	authproto_msg_deinit(&m);

	/* a 2,000-byte address is over the limit */
	m = authproto_msg_new_request(AUTHPROTO_SENDERS, 1);
	assert_false(authproto_msg_add_str(m, "user", big));
	assert_int_equal(authproto_msg_format(m, out, &err), -1);
	assert_string_equal(err, "value too long");
	authproto_msg_deinit(&m);
	sbuf_deinit(&out);
}

static void test_accessors(void **state)
{
	static const char line[] =
	    "OK 5 source=srv dc=ldap://a state=up site=S prio=1 weight=2 "
	    "dc=ldap://b state=down prio=3 weight=4 error=e client_site=S";
	struct authproto_msg *m;
	const char *err;
	uint64_t v;

	assert_int_equal(
	    authproto_parse_answer(line, strlen(line), AUTHPROTO_DC, &m, &err),
	    0);
	assert_int_equal(authproto_msg_verb(m), AUTHPROTO_OK);
	assert_int_equal(authproto_msg_request(m), AUTHPROTO_DC);
	assert_int_equal(authproto_msg_id(m), 5);
	assert_int_equal(authproto_msg_count(m), 12);
	assert_string_equal(authproto_msg_get(m, "dc"), "ldap://a");
	assert_null(authproto_msg_get(m, "nope"));
	assert_true(authproto_msg_get_uint(m, "weight", &v));
	assert_int_equal(v, 2);
	assert_false(authproto_msg_get_uint(m, "source", &v));
	assert_false(authproto_msg_get_uint(m, "nope", &v));
	/* records: field 1 and field 6 are the heads */
	assert_string_equal(authproto_msg_record_get(m, 1, "site"), "S");
	assert_string_equal(authproto_msg_record_get(m, 1, "prio"), "1");
	assert_null(authproto_msg_record_get(m, 1, "error"));
	assert_null(authproto_msg_record_get(m, 6, "site"));
	assert_string_equal(authproto_msg_record_get(m, 6, "error"), "e");
	assert_null(authproto_msg_record_get(m, 6, "client_site"));
	assert_null(authproto_msg_record_get(m, 2, "prio")); /* not a head */
	assert_null(authproto_msg_record_get(m, 99, "prio"));
	authproto_msg_deinit(&m);
	authproto_msg_deinit(&m); /* NULL is fine */
}

static void test_head(void **state)
{
	enum authproto_verb verb;
	uint64_t id;
	const char *err;

	assert_int_equal(authproto_parse_head("FOO 17 x", 8, &verb, &id, &err),
	                 0);
	assert_int_equal(verb, AUTHPROTO_NONE);
	assert_int_equal(id, 17);
	assert_int_equal(
	    authproto_parse_head("AUTH 3 garbage", 14, &verb, &id, &err), 0);
	assert_int_equal(verb, AUTHPROTO_AUTH);
	assert_int_equal(id, 3);
	assert_int_equal(authproto_parse_head("AUTH x3", 7, &verb, &id, &err),
	                 -1);
	assert_int_equal(authproto_parse_head("AUTH", 4, &verb, &id, &err), -1);
	assert_string_equal(authproto_verb_name(AUTHPROTO_SENDERS), "SENDERS");
	assert_null(authproto_verb_name(AUTHPROTO_NONE));
	assert_null(authproto_verb_name((enum authproto_verb)99));
	assert_true(authproto_verb_is_request(AUTHPROTO_HELLO));
	assert_false(authproto_verb_is_request(AUTHPROTO_OK));
	assert_true(authproto_verb_is_answer(AUTHPROTO_TEMPFAIL));
	assert_false(authproto_verb_is_answer(AUTHPROTO_NONE));
	assert_true(
	    authproto_answer_allowed(AUTHPROTO_LOOKUP, AUTHPROTO_NOTFOUND));
	assert_false(
	    authproto_answer_allowed(AUTHPROTO_DC, AUTHPROTO_NOTFOUND));
	assert_false(
	    authproto_answer_allowed(AUTHPROTO_HELLO, AUTHPROTO_TEMPFAIL));
	assert_true(authproto_answer_allowed(AUTHPROTO_NONE, AUTHPROTO_ERROR));
	assert_false(authproto_answer_allowed(AUTHPROTO_NONE, AUTHPROTO_OK));
	assert_false(
	    authproto_answer_allowed(AUTHPROTO_LOOKUP, AUTHPROTO_LOOKUP));
}

static void test_builder(void **state)
{
	struct sbuf *out = sbuf_new(64);
	struct authproto_msg *m;
	const char *err;

	/* unknown key: remembered, format refuses */
	m = authproto_msg_new_request(AUTHPROTO_LOOKUP, 1);
	assert_true(authproto_msg_add_str(m, "addr", "a@x"));
	assert_true(authproto_msg_add_str(m, "context", "mx"));
	assert_false(authproto_msg_add_str(m, "colour", "blue"));
	assert_int_equal(authproto_msg_count(m), 2);
	assert_int_equal(authproto_msg_format(m, out, &err), -1);
	assert_string_equal(err, "unknown key");
	assert_int_equal(sbuf_len(out), 0);
	authproto_msg_deinit(&m);

	/* schema broken by the builder: missing, duplicate, records */
	m = authproto_msg_new_request(AUTHPROTO_LOOKUP, 1);
	assert_true(authproto_msg_add_str(m, "addr", "a@x"));
	assert_int_equal(authproto_msg_format(m, out, &err), -1);
	assert_string_equal(err, "required key missing");
	authproto_msg_deinit(&m);
	m = authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_LOOKUP, 1);
	assert_true(authproto_msg_add_str(m, "hop", "local"));
	assert_int_equal(authproto_msg_format(m, out, &err), -1);
	assert_string_equal(err, "record field out of place");
	authproto_msg_deinit(&m);

	/* out of room in the output buffer: unchanged */
	assert_true(sbuf_append_str(out, "x"));
	m = authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_AUTH, 9);
	assert_true(authproto_msg_add_str(
	    m, "user", "a-rather-long-account-name@example.com"));
	assert_int_equal(authproto_msg_format(m, out, &err), 0);
	assert_string_equal(
	    sbuf_data(out),
	    "xOK 9 user=a-rather-long-account-name@example.com\n");
	assert_int_equal(authproto_msg_format(m, out, &err), -1);
	assert_string_equal(err, "output buffer full");
	assert_int_equal(sbuf_len(out), 50);
	authproto_msg_deinit(&m);

	/* numbers */
	m = authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_STATS, 2);
	assert_true(authproto_msg_add_str(m, "counter", "c"));
	assert_true(authproto_msg_add_uint(m, "value", UINT64_MAX));
	assert_false(authproto_msg_add_uint(m, "counter", 1) &&
	             authproto_msg_add_str(m, "value", "-1"));
	authproto_msg_deinit(&m);
	m = authproto_msg_new_request(AUTHPROTO_HELLO, 0);
	assert_false(authproto_msg_add_uint(m, "version", 65536));
	authproto_msg_deinit(&m);
	sbuf_deinit(&out);
}

/* A LOOKUP answer of exactly total bytes with its LF. */
static char *big_answer(size_t total)
{
	static const char head[] = "OK 1 rcpt=a@x hop=local cached=0";
	char *s = malloc(total);
	size_t pos = sizeof(head) - 1;

	assert_non_null(s);
	memcpy(s, head, pos);
	while (pos < total - 1) {
		size_t room = total - 1 - pos, n;

		/* " trace=" + up to 65536 bytes, never leaving 1..7 bytes */
		n = room - 7 > 65536 ? 65536 : room - 7;
		if (room - 7 - n > 0 && room - 7 - n < 8)
			n -= 8;
		memcpy(s + pos, " trace=", 7);
		memset(s + pos + 7, 't', n);
		pos += 7 + n;
	}
	s[total - 1] = '\n';
	return s;
}

static void test_limits(void **state)
{
	const size_t max = AUTHPROTO_LINE_MAX;
	char *line = big_answer(max), *over = big_answer(max + 1);
	struct sbuf *in = sbuf_new(max + 2), *out = sbuf_new(max + 2);
	struct authproto_msg *m, *m2;
	const char *err, *l;
	size_t len, used;

	/* 8 MiB with its LF: fine both ways */
	assert_int_equal(
	    authproto_parse_answer(line, max - 1, AUTHPROTO_LOOKUP, &m, &err),
	    0);
	assert_int_equal(authproto_msg_format(m, out, &err), 0);
	assert_int_equal(sbuf_len(out), max);
	assert_memory_equal(sbuf_data(out), line, max);
	/* one more byte: refused by parse and by format */
	assert_int_equal(
	    authproto_parse_answer(over, max, AUTHPROTO_LOOKUP, &m2, &err), -1);
	assert_string_equal(err, "line too long");
	assert_true(authproto_msg_add_str(m, "trace", ""));
	sbuf_reset(out);
	assert_int_equal(authproto_msg_format(m, out, &err), -1);
	assert_string_equal(err, "line too long");
	assert_int_equal(sbuf_len(out), 0);
	authproto_msg_deinit(&m);

	/* framing at the limit */
	assert_true(sbuf_append(in, line, max));
	assert_int_equal(authproto_frame(in, &l, &len, &used, &err), 1);
	assert_int_equal(len, max - 1);
	assert_int_equal(used, max);
	sbuf_reset(in);
	assert_true(sbuf_append(in, line, max - 1));
	assert_int_equal(authproto_frame(in, &l, &len, &used, &err), 0);
	assert_true(sbuf_append(in, "t", 1));
	assert_int_equal(authproto_frame(in, &l, &len, &used, &err), -1);
	assert_string_equal(err, "line too long");
	free(line);
	free(over);
	sbuf_deinit(&in);
	sbuf_deinit(&out);
}

static void test_frame(void **state)
{
	struct sbuf *in = sbuf_new(1024);
	const char *l, *err;
	size_t len, used;
	int n = 0;

	assert_int_equal(authproto_frame(in, &l, &len, &used, &err), 0);
	assert_true(sbuf_append_str(in, "DC 1\nSTATS 2\nSENDERS 3 us"));
	while (authproto_frame(in, &l, &len, &used, &err) == 1) {
		struct authproto_msg *m;

		assert_int_equal(authproto_parse_request(l, len, &m, &err), 0);
		assert_int_equal(authproto_msg_id(m), ++n);
		authproto_msg_deinit(&m);
		sbuf_consume(in, used);
	}
	assert_int_equal(n, 2);
	assert_string_equal(sbuf_data(in), "SENDERS 3 us");
	assert_true(sbuf_append_str(in, "er=a\n\n"));
	assert_int_equal(authproto_frame(in, &l, &len, &used, &err), 1);
	assert_int_equal(len, 16);
	sbuf_consume(in, used);
	/* an empty line is framed, and refused by the parser */
	assert_int_equal(authproto_frame(in, &l, &len, &used, &err), 1);
	assert_int_equal(len, 0);
	assert_int_equal(authproto_parse_request(
	                     l, len, &(struct authproto_msg *){NULL}, &err),
	                 -1);
	sbuf_deinit(&in);
}

/* Secret wiping: watch every call of the hook. */
static char wiped[8][256];
static size_t wiped_len[8];
static size_t wiped_count;

static void wipe_watch(void *p, size_t len)
{
	if (wiped_count < 8) {
		size_t n = len < sizeof(wiped[0]) ? len : sizeof(wiped[0]);

		memcpy(wiped[wiped_count], p, n);
		wiped_len[wiped_count] = n;
	}
	wiped_count++;
	explicit_bzero(p, len);
	/* what the default hook leaves behind */
	for (size_t i = 0; i < len; i++)
		assert_int_equal(((unsigned char *)p)[i], 0);
}

static bool saw_wiped(const char *s)
{
	for (size_t i = 0; i < wiped_count && i < 8; i++) {
		if (memmem(wiped[i], wiped_len[i], s, strlen(s)) != NULL)
			return true;
	}
	return false;
}

static void test_wipe(void **state)
{
	static const char *const bad_lines[] = {
	    /* pass decoded, then an unknown key */
	    "AUTH 7 mech=PLAIN pass=hunter2 x=1",
	    /* pass half-decoded when a bad escape stops the parse */
	    "AUTH 7 mech=PLAIN user=u pass=hunter2%zz",
	    /* pass decoded, then a missing required key */
	    "AUTH 7 mech=PLAIN pass=hunter2",
	};
	static const char line[] = "AUTH 7 mech=PLAIN user=u pass=s3cr%3Dt";
	void (*saved)(void *, size_t) = authproto_wipe_hook;
	struct authproto_msg *m;
	const char *err;

	authproto_wipe_hook = wipe_watch;
	wiped_count = 0;
	assert_int_equal(authproto_parse_request(line, strlen(line), &m, &err),
	                 0);
	assert_string_equal(authproto_msg_get(m, "pass"), "s3cr=t");
	assert_int_equal(wiped_count, 0);
	authproto_msg_deinit(&m);
	assert_int_equal(wiped_count, 1);
	assert_true(saw_wiped("s3cr=t"));

	/* a failed parse wipes what it decoded too */
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		wiped_count = 0;
		assert_int_equal(authproto_parse_request(bad_lines[i],
		                                         strlen(bad_lines[i]),
		                                         &m, &err),
		                 -1);
		assert_true(saw_wiped("hunter2"));
	}

	/* the builder: when the arena grows, the old copy is wiped */
	wiped_count = 0;
	m = authproto_msg_new_request(AUTHPROTO_AUTH, 8);
	assert_true(authproto_msg_add_str(m, "pass", "pa55"));
	assert_true(authproto_msg_add_str(m, "mech", "LOGIN"));
	for (int i = 0; i < 4; i++)
		authproto_msg_add_str(m, "user",
		                      "a-long-user-name-to-grow-the-arena");
	assert_true(saw_wiped("pa55"));
	wiped_count = 0;
	authproto_msg_deinit(&m);
	assert_int_equal(wiped_count, 1);
	assert_true(saw_wiped("pa55"));

	/* a message that cannot hold a secret is not wiped */
	wiped_count = 0;
	m = authproto_msg_new_request(AUTHPROTO_SENDERS, 8);
	assert_true(authproto_msg_add_str(m, "user", "not-a-secret"));
	authproto_msg_deinit(&m);
	assert_int_equal(wiped_count, 0);
	authproto_wipe_hook = saved;
}

static bool key_syntax(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > AUTHPROTO_KEY_MAX)
		return false;
	return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* The tables keep the promises the codec relies on. */
static void test_schema_tables(void **state)
{
	size_t schemas = 0;

	for (int r = AUTHPROTO_NONE; r < AUTHPROTO_VERB_COUNT; r++) {
		for (int v = AUTHPROTO_HELLO; v < AUTHPROTO_VERB_COUNT; v++) {
			const struct authproto_schema *s =
			    authproto_table_schema(v, r);

			if (s == NULL)
				continue;
			schemas++;
			assert_true(s->count <= AUTHPROTO_SCHEMA_MAX);
			for (size_t i = 0; i < s->count; i++) {
				const struct authproto_fieldspec *f =
				    &s->fields[i];

				assert_true(key_syntax(f->key));
				for (size_t j = 0; j < i; j++)
					assert_string_not_equal(
					    f->key, s->fields[j].key);
				if (f->flags & AP_MEMBER) {
					assert_true(i > 0);
					assert_false(f->flags &
					             (AP_HEAD | AP_REP));
				}
				if (f->type == AP_ENUM)
					assert_non_null(f->enums);
				if (f->type == AP_SECRET)
					assert_true(f->max > 0);
			}
		}
	}
	/* 10 requests/OK/ERROR +ERROR 0, 5 NOTFOUND, 8 TEMPFAIL, 1 CONTINUE */
	assert_int_equal(schemas, 45);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_raw_nul),
	    cmocka_unit_test(test_hostile_round_trip),
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_head),
	    cmocka_unit_test(test_builder),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_frame),
	    cmocka_unit_test(test_wipe),
	    cmocka_unit_test(test_schema_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
