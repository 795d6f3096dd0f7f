/*
 * test-spoolrec - the envelope record codec: round trips with hostile
 * values in every field, one spelling per record, strict rejection of
 * every malformed line, and torn records (every truncation, every bit
 * flip) that never parse. Version 1 records (no result fields) are still
 * read and written back as version 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "spoolrec.h"

#define ID "0123456789abcdef"

static struct spoolrec *sample(void)
{
	struct spoolrec *r = spoolrec_new();
	struct spoolrec_rcpt *rc;

	memcpy(r->id, ID, sizeof(r->id));
	r->arrival = 1700000000;
	spoolrec_set(&r->client, "192.0.2.7");
	spoolrec_set(&r->helo, "client.example.org");
	spoolrec_set(&r->auth_user, "");
	spoolrec_set(&r->mail_from, "alice@example.org");
	r->size = 12345;
	r->body = SPOOLREC_BODY_8BITMIME;
	r->smtputf8 = true;
	r->ret = SPOOLREC_RET_HDRS;
	spoolrec_set(&r->envid, "QQ314159");
	rc = spoolrec_add_rcpt(r, "bob@example.com", "mbx1.example.com");
	rc->notify = SPOOLREC_NOTIFY_SUCCESS | SPOOLREC_NOTIFY_DELAY;
	spoolrec_set(&rc->orcpt, "rfc822;bob@example.com");
	rc = spoolrec_add_rcpt(r, "carol@example.net", "[10.0.0.1]:2525");
	rc->notify = SPOOLREC_NOTIFY_NEVER;
	rc->state = SPOOLREC_DEFERRED;
	rc->attempts = 3;
	spoolrec_set(&rc->error, "mx.example.net: 451 4.3.0 try again later");
	rc->code = 451;
	spoolrec_set(&rc->status, "4.3.0");
	spoolrec_set(&rc->diag, "smtp; 451 4.3.0 try again later");
	spoolrec_set(&rc->rhost, "mx.example.net");
	spoolrec_set(&rc->sender, "<>");
	return r;
}

static struct sbuf *format_ok(const struct spoolrec *r)
{
	struct sbuf *out = sbuf_new(SPOOLREC_MAX_LEN);
	const char *error = NULL;

	assert_int_equal(spoolrec_format(r, out, &error), 0);
	return out;
}

/* parse(text) succeeds and formats back to exactly text. */
static struct spoolrec *reparse(const struct sbuf *text)
{
	struct spoolrec *r = NULL;
	const char *error = NULL;
	struct sbuf *again;

	if (spoolrec_parse(sbuf_data(text), sbuf_len(text), &r, &error) < 0)
		fail_msg("parse: %s\n%s", error, sbuf_data(text));
	again = format_ok(r);
	assert_int_equal(sbuf_len(again), sbuf_len(text));
	assert_memory_equal(sbuf_data(again), sbuf_data(text), sbuf_len(text));
	sbuf_deinit(&again);
	return r;
}

static void test_round_trip(void **state)
{
	struct spoolrec *r = sample(), *p;
	struct sbuf *text = format_ok(r);

	p = reparse(text);
	assert_string_equal(p->id, ID);
	assert_int_equal(p->arrival, 1700000000);
	assert_string_equal(p->client, "192.0.2.7");
	assert_string_equal(p->auth_user, "");
	assert_string_equal(p->mail_from, "alice@example.org");
	assert_int_equal(p->size, 12345);
	assert_int_equal(p->body, SPOOLREC_BODY_8BITMIME);
	assert_true(p->smtputf8);
	assert_int_equal(p->ret, SPOOLREC_RET_HDRS);
	assert_int_equal(p->rcpt_count, 2);
	assert_string_equal(p->rcpts[0].hop, "mbx1.example.com");
	assert_int_equal(p->rcpts[0].notify,
	                 SPOOLREC_NOTIFY_SUCCESS | SPOOLREC_NOTIFY_DELAY);
	assert_string_equal(p->rcpts[0].error, "");
	assert_int_equal(p->rcpts[1].notify, SPOOLREC_NOTIFY_NEVER);
	assert_int_equal(p->rcpts[1].state, SPOOLREC_DEFERRED);
	assert_int_equal(p->rcpts[1].attempts, 3);
	assert_string_equal(p->rcpts[1].error,
	                    "mx.example.net: 451 4.3.0 try again later");
	assert_int_equal(p->rcpts[0].code, 0);
	assert_string_equal(p->rcpts[0].status, "");
	assert_string_equal(p->rcpts[0].diag, "");
	assert_string_equal(p->rcpts[0].rhost, "");
	assert_int_equal(p->rcpts[1].code, 451);
	assert_string_equal(p->rcpts[1].status, "4.3.0");
	assert_string_equal(p->rcpts[1].diag,
	                    "smtp; 451 4.3.0 try again later");
	assert_string_equal(p->rcpts[1].rhost, "mx.example.net");
	assert_false(p->held);
	assert_false(p->delay_notified);
	assert_non_null(strstr(sbuf_data(text), "version=4\n"));
	assert_non_null(strstr(
	    sbuf_data(text), "attempts=3\nerror=mx.example.net:%20451%204.3.0"
	                     "%20try%20again%20later\ncode=451\nstatus=4.3.0\n"
	                     "diag=smtp;%20451%204.3.0%20try%20again%20later\n"
	                     "rhost=mx.example.net\nsender=<>\nend="));
	assert_string_equal(p->rcpts[0].sender, "");
	assert_string_equal(p->rcpts[1].sender, "<>");
	assert_string_equal(spoolrec_rcpt_from(p, &p->rcpts[0]),
	                    "alice@example.org");
	assert_string_equal(spoolrec_rcpt_from(p, &p->rcpts[1]), "");
	spoolrec_deinit(&p);
	assert_null(p);
	spoolrec_deinit(&r);
	sbuf_deinit(&text);
}

/* A hold and the delay notice survive a restart: they are in the record. */
static void test_held_and_delay_notified(void **state)
{
	struct spoolrec *r = sample(), *p, *d;
	struct sbuf *text;

	(void)state;
	r->held = true;
	r->delay_notified = true;
	text = format_ok(r);
	assert_non_null(strstr(sbuf_data(text), "held=1\ndelay_notified=1\n"));
	p = reparse(text);
	assert_true(p->held);
	assert_true(p->delay_notified);
	d = spoolrec_dup(p);
	assert_true(d->held);
	assert_true(d->delay_notified);
	spoolrec_deinit(&d);
	spoolrec_deinit(&p);
	spoolrec_deinit(&r);
	sbuf_deinit(&text);
}

/*
 * A message to a large group: thousands of recipients, values that mix
 * runs of plain bytes with escapes, one spelling, every value back.
 */
static void test_many_recipients(void **state)
{
	struct spoolrec *r = sample(), *p;
	struct sbuf *text;
	char addr[64], hop[64];

	for (int i = 0; i < 3000; i++) {
		struct spoolrec_rcpt *rc;

		snprintf(addr, sizeof(addr), "user %05d@dirmx.test", i);
		snprintf(hop, sizeof(hop), "[127.0.0.%d]:%d", 11 + i % 3,
		         2525 + i % 2);
		rc = spoolrec_add_rcpt(r, addr, hop);
		spoolrec_set(&rc->orcpt,
		             i % 2 ? "rfc822;big=group@dirmx.test" : "");
		rc->state = (enum spoolrec_state)(i % 4);
		rc->attempts = (uint32_t)i;
	}
	text = format_ok(r);
	assert_non_null(strstr(sbuf_data(text),
	                       "rcpt=user%2002999@dirmx.test\nhop=[127.0.0.13]"
	                       ":2526\nnotify=\norcpt=rfc822;big%3Dgroup@"));
	p = reparse(text);
	assert_int_equal(p->rcpt_count, 3002);
	for (size_t i = 2; i < p->rcpt_count; i++) {
		assert_string_equal(p->rcpts[i].addr, r->rcpts[i].addr);
		assert_string_equal(p->rcpts[i].hop, r->rcpts[i].hop);
		assert_string_equal(p->rcpts[i].orcpt, r->rcpts[i].orcpt);
		assert_int_equal(p->rcpts[i].state, r->rcpts[i].state);
		assert_int_equal(p->rcpts[i].attempts, r->rcpts[i].attempts);
	}
	spoolrec_deinit(&p);
	spoolrec_deinit(&r);
	sbuf_deinit(&text);
}

/*
 * Every byte 1..255 in every string field, every enum value, the largest
 * numbers. format(parse(text)) == text, and format is injective, so the
 * parsed record equals the one formatted; a few fields are also checked
 * by value.
 */
static void test_hostile_values(void **state)
{
	char all[256];
	struct spoolrec *r = sample(), *p, *d;
	struct sbuf *text, *t2;
	char **fields[] = {
	    &r->client,          &r->helo,           &r->auth_user,
	    &r->mail_from,       &r->envid,          &r->rcpts[0].addr,
	    &r->rcpts[0].hop,    &r->rcpts[0].orcpt, &r->rcpts[0].error,
	    &r->rcpts[1].status, &r->rcpts[1].diag,  &r->rcpts[1].rhost};

	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		spoolrec_set(fields[f], all);
		text = format_ok(r);
		/* One line per field: no raw CR or space anywhere. */
		assert_null(strchr(sbuf_data(text), '\r'));
		assert_null(strchr(sbuf_data(text), ' '));
		p = reparse(text);
		spoolrec_deinit(&p);
		sbuf_deinit(&text);
		spoolrec_set(fields[f], NULL); /* NULL formats as "" */
		text = format_ok(r);
		p = reparse(text);
		spoolrec_deinit(&p);
		sbuf_deinit(&text);
	}
	spoolrec_set(&r->helo, all);
	spoolrec_set(&r->rcpts[1].error, "a=b%c d\n.\r\n");
	text = format_ok(r);
	p = reparse(text);
	assert_string_equal(p->helo, all);
	assert_string_equal(p->rcpts[1].error, "a=b%c d\n.\r\n");
	assert_string_equal(p->client, "");
	sbuf_deinit(&text);

	r->arrival = UINT64_C(9223372036854775807);
	r->size = UINT64_C(9223372036854775807);
	r->rcpts[0].attempts = UINT32_MAX;
	for (int b = 0; b < 3; b++) {
		for (int st = 0; st < 4; st++) {
			for (unsigned n = 0; n <= 8; n++) {
				if (n == 8)
					n = SPOOLREC_NOTIFY_NEVER;
				r->body = (enum spoolrec_body)b;
				r->ret = (enum spoolrec_ret)(st % 3);
				r->smtputf8 = st & 1;
				r->rcpts[0].state = (enum spoolrec_state)st;
				r->rcpts[0].notify = n;
				text = format_ok(r);
				d = reparse(text);
				assert_int_equal(d->body, b);
				assert_int_equal(d->ret, st % 3);
				assert_int_equal(d->smtputf8, st & 1);
				assert_int_equal(d->rcpts[0].state, st);
				assert_int_equal(d->rcpts[0].notify, n);
				assert_int_equal(d->rcpts[0].attempts,
				                 UINT32_MAX);
				assert_true(d->arrival == r->arrival);
				spoolrec_deinit(&d);
				sbuf_deinit(&text);
			}
		}
	}
	/* A deep copy formats the same. */
	d = spoolrec_dup(p);
	text = format_ok(p);
	t2 = format_ok(d);
	assert_string_equal(sbuf_data(t2), sbuf_data(text));
	sbuf_deinit(&t2);
	sbuf_deinit(&text);
	spoolrec_deinit(&d);
	spoolrec_deinit(&p);
	spoolrec_deinit(&r);
}

/* body + a correct end line. */
static struct sbuf *framed(const char *body)
{
	struct sbuf *s = sbuf_new(SPOOLREC_MAX_LEN);

	assert_true(sbuf_append_str(s, body));
	assert_true(
	    sbuf_printf(s, "end=%08lx\n",
	                (unsigned long)spoolrec_crc32(0, body, strlen(body))));
	return s;
}

#define HEAD1 "version=1\nid=" ID "\narrival=1700000000\n"
#define HEAD2 "client=192.0.2.7\nhelo=h\nauth=\nfrom=\nsize=10\n"
#define HEAD3 "body=7bit\nsmtputf8=0\nret=none\nenvid=\n"
#define HEAD HEAD1 HEAD2 HEAD3
#define RCPT                                                                   \
	"rcpt=b@x\nhop=local\nnotify=\norcpt=\nstate=pending\n"                \
	"attempts=0\nerror=\n"
/* version 2: the same header, and the result fields after error= */
#define HEADV2 "version=2\nid=" ID "\narrival=1700000000\n" HEAD2 HEAD3
#define RCPTV2 RCPT "code=0\nstatus=\ndiag=\nrhost=\n"
/* version 3: held and delay_notified after envid= */
#define HEADV3                                                                 \
	"version=3\nid=" ID "\narrival=1700000000\n" HEAD2 HEAD3               \
	"held=0\ndelay_notified=0\n"
/* version 4: sender after rhost */
#define HEADV4                                                                 \
	"version=4\nid=" ID "\narrival=1700000000\n" HEAD2 HEAD3               \
	"held=0\ndelay_notified=0\n"
#define RCPTV4 RCPTV2 "sender=\n"
#define RCPTV2_TO_ERROR                                                        \
	"rcpt=b@x\nhop=local\nnotify=\norcpt=\nstate=bounced\n"                \
	"attempts=1\nerror=mx:%20550%205.1.1%20no\n"

struct bad_case {
	const char *body;
	const char *error;
};

static const struct bad_case bad_cases[] = {
    {HEAD RCPT, NULL},
    {HEAD RCPT RCPT, NULL},
    {HEAD, "no recipient"},
    {"", "missing field"},
    {"version=5\n", "unsupported record version"},
    /* version 4: sender after rhost */
    {HEADV4 RCPTV4, NULL},
    {HEADV4 RCPTV4 "sender=x\n", "field out of order"},
    {HEADV4 RCPTV2, "missing field"},
    {HEADV4 RCPTV2 RCPTV4, "field out of order"},
    {HEADV3 RCPTV4, "field out of order"},
    {HEADV3 RCPTV2, NULL},
    {"version=3\nid=" ID "\narrival=1700000000\n" HEAD2 HEAD3
     "held=1\ndelay_notified=1\n" RCPTV2,
     NULL},
    {"version=3\nid=" ID "\narrival=1700000000\n" HEAD2 HEAD3 RCPTV2,
     "field out of order"},
    {"version=3\nid=" ID "\narrival=1700000000\n" HEAD2 HEAD3
     "held=2\ndelay_notified=0\n" RCPTV2,
     "bad number"},
    {"version=3\nid=" ID "\narrival=1700000000\n" HEAD2 HEAD3
     "delay_notified=0\nheld=0\n" RCPTV2,
     "field out of order"},
    {HEADV2 "held=0\ndelay_notified=0\n" RCPTV2, "field out of order"},
    {"version=0\n", "unsupported record version"},
    {HEADV2 RCPTV2, NULL},
    {HEADV2 RCPTV2 RCPTV2, NULL},
    {HEADV2 RCPTV2_TO_ERROR "code=550\nstatus=5.1.1\ndiag=smtp;%20550%205.1.1"
                            "%20no\nrhost=mx\n",
     NULL},
    /* each version has its own lines: none missing, none extra */
    {HEADV2 RCPT, "missing field"},
    {HEADV2 RCPT RCPTV2, "field out of order"},
    {HEAD RCPTV2, "field out of order"},
    {HEADV2 RCPTV2_TO_ERROR "status=5.1.1\n", "field out of order"},
    {HEADV2 RCPTV2_TO_ERROR "code=550\nstatus=5.1.1\nrhost=mx\n",
     "field out of order"},
    {HEADV2 RCPTV2_TO_ERROR "code=550\nstatus=5.1.1\ndiag=\n", "missing field"},
    {HEADV2 RCPTV2_TO_ERROR "code=199\n", "bad reply code"},
    {HEADV2 RCPTV2_TO_ERROR "code=1\n", "bad reply code"},
    {HEADV2 RCPTV2_TO_ERROR "code=600\n", "bad number"},
    {HEADV2 RCPTV2_TO_ERROR "code=0550\n", "number with a leading zero"},
    {HEADV2 RCPTV2_TO_ERROR "code=\n", "bad number"},
    {HEADV2 RCPTV2_TO_ERROR "code=550\nstatus=5.1.1\ndiag=a b\n",
     "unescaped byte in a value"},
    {"version=01\n", "number with a leading zero"},
    {"version=1\nid=0123456789ABCDEF\n", "invalid queue id"},
    {"version=1\nid=0123456789abcdeI\n", "invalid queue id"},
    {"version=1\nid=0123456789abcde\n", "invalid queue id"},
    {"version=1\nid=" ID "0\n", "invalid queue id"},
    {"version=1\nid=" ID "\nclient=x\n", "field out of order"},
    {"version=1\nid=" ID "\nbogus=x\n", "unknown field"},
    {"version=1\nid=" ID "\narrival=-1\n", "bad number"},
    {"version=1\nid=" ID "\narrival=1 \n", "bad number"},
    {"version=1\nid=" ID "\narrival=\n", "bad number"},
    {"version=1\nid=" ID "\narrival=9223372036854775808\n", "bad number"},
    {"version=1\nid=" ID "\narrival", "line without LF"},
    {"version=1\nid=" ID "\narrival\n", "line without '='"},
    {HEAD1 "client=a b\n", "unescaped byte in a value"},
    {HEAD1 "client=a=b\n", "unescaped byte in a value"},
    {HEAD1 "client=a%2\n", "bad percent escape"},
    {HEAD1 "client=a%2g\n", "bad percent escape"},
    {HEAD1 "client=a%2f\n", "bad percent escape"},
    {HEAD1 "client=%41\n", "needless percent escape"},
    {HEAD1 "client=%\n", "bad percent escape"},
    {HEAD1 "client=ab%20%2\n", "bad percent escape"},
    {HEAD1 "client=ab%20%20cd%20=\n", "unescaped byte in a value"},
    {HEAD1 "client=ab%20%20cd%7E\n", "needless percent escape"},
    {HEAD1 "client=%00\n", "%00 in a value"},
    {HEAD1 "client=\xc3\xa9\n", "unescaped byte in a value"},
    {HEAD1 HEAD2 "body=8BITMIME\n", "bad keyword"},
    {HEAD1 HEAD2 "body=7bit\nsmtputf8=3\n", "bad number"},
    {HEAD1 HEAD2 "body=7bit\nsmtputf8=0\nret=\n", "bad keyword"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=never,success\n", "bad DSN notify"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=failure,success\n", "bad DSN notify"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=success,success\n", "bad DSN notify"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=success,\n", "bad DSN notify"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=,success\n", "bad DSN notify"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=SUCCESS\n", "bad DSN notify"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=\norcpt=\nstate=done\n", "bad keyword"},
    {HEAD "rcpt=b@x\nhop=local\nnotify=\norcpt=\nstate=pending\n"
          "attempts=4294967296\n",
     "bad number"},
    {HEAD RCPT "rcpt=c@x\n", "missing field"},
    {HEAD RCPT "\n", "line without '='"},
    {HEAD RCPT "end=00000000\n", "unknown field"},
};

static void test_strict(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct sbuf *s = framed(c->body);
		struct spoolrec *r = NULL;
		const char *error = NULL;
		int ret = spoolrec_parse(sbuf_data(s), sbuf_len(s), &r, &error);

		if (c->error == NULL) {
			if (ret != 0)
				fail_msg("case %zu: %s", i, error);
			spoolrec_deinit(&r);
		} else {
			if (ret != -1 || strcmp(error, c->error) != 0)
				fail_msg("case %zu: got %d %s, want %s", i, ret,
				         ret < 0 ? error : "-", c->error);
			assert_null(r);
		}
		sbuf_deinit(&s);
	}
}

/*
 * smtputf8=: 0 none, 1 needed, 2 asked but not needed. Records from
 * before 2 existed say 1 for every SMTPUTF8 message and must keep being
 * read as needing it (what they were delivered as).
 */
static void test_smtputf8_values(void **state)
{
	static const struct {
		const char *v;
		bool smtputf8, needed;
	} cases[] = {
	    {"0", false, false}, {"1", true, true}, {"2", true, false}};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char body[512];
		struct sbuf *s, *again = sbuf_new(SPOOLREC_MAX_LEN);
		struct spoolrec *r = NULL;
		const char *error = NULL;

		snprintf(body, sizeof(body),
		         "version=4\nid=" ID "\narrival=1700000000\n" HEAD2
		         "body=7bit\nsmtputf8=%s\nret=none\nenvid=\n"
		         "held=0\ndelay_notified=0\n" RCPTV4,
		         cases[i].v);
		s = framed(body);
		assert_int_equal(
		    spoolrec_parse(sbuf_data(s), sbuf_len(s), &r, &error), 0);
		assert_int_equal(r->smtputf8, cases[i].smtputf8);
		assert_int_equal(r->smtputf8_needed, cases[i].needed);
		assert_int_equal(spoolrec_format(r, again, &error), 0);
		assert_int_equal(sbuf_len(again), sbuf_len(s));
		assert_memory_equal(sbuf_data(again), sbuf_data(s),
		                    sbuf_len(s));
		spoolrec_deinit(&r);
		sbuf_deinit(&s);
		sbuf_deinit(&again);
	}
}

/* A raw NUL byte inside a value is an unescaped byte, not a terminator. */
static void test_nul_byte(void **state)
{
	static const char body[] = HEAD1 "client=a\0b\n";
	struct sbuf *s = sbuf_new(SPOOLREC_MAX_LEN);
	struct spoolrec *r = NULL;
	const char *error = NULL;

	assert_true(sbuf_append(s, body, sizeof(body) - 1));
	assert_true(sbuf_printf(
	    s, "end=%08lx\n",
	    (unsigned long)spoolrec_crc32(0, body, sizeof(body) - 1)));
	assert_int_equal(spoolrec_parse(sbuf_data(s), sbuf_len(s), &r, &error),
	                 -1);
	assert_string_equal(error, "unescaped byte in a value");
	sbuf_deinit(&s);
}

/* Torn records: every prefix, every single-bit flip, bad end lines. */
static void test_torn(void **state)
{
	struct spoolrec *r = sample(), *p = NULL;
	struct sbuf *text = format_ok(r);
	size_t len = sbuf_len(text);
	char *copy = malloc(len + 2);
	const char *error;

	assert_non_null(copy);
	for (size_t n = 0; n < len; n++) {
		/* An exact-size copy, so ASan sees any read past the end. */
		char *cut = malloc(n + 1);

		memcpy(cut, sbuf_data(text), n);
		assert_int_equal(spoolrec_parse(cut, n, &p, &error), -1);
		assert_null(p);
		free(cut);
	}
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, sbuf_data(text), len);
			copy[i] ^= (char)(1 << bit);
			assert_int_equal(spoolrec_parse(copy, len, &p, &error),
			                 -1);
		}
	}
	memcpy(copy, sbuf_data(text), len);
	copy[len] = '\n';
	assert_int_equal(spoolrec_parse(copy, len + 1, &p, &error), -1);
	/* Uppercase CRC digits are another spelling: refused. */
	memcpy(copy, sbuf_data(text), len);
	for (size_t i = len - 9; i < len - 1; i++)
		if (copy[i] >= 'a' && copy[i] <= 'f')
			copy[i] = (char)(copy[i] - 'a' + 'A');
	if (memcmp(copy, sbuf_data(text), len) != 0)
		assert_int_equal(spoolrec_parse(copy, len, &p, &error), -1);
	free(copy);
	sbuf_deinit(&text);
	spoolrec_deinit(&r);
}

static void test_format_errors(void **state)
{
	struct spoolrec *r = sample(), *empty = spoolrec_new();
	struct sbuf *out = sbuf_new(64);
	const char *error = NULL;

	/* Does not fit: out is left unchanged. */
	assert_true(sbuf_append_str(out, "keep"));
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	assert_string_equal(error, "record too large");
	assert_string_equal(sbuf_data(out), "keep");
	sbuf_deinit(&out);
	out = sbuf_new(SPOOLREC_MAX_LEN);

	assert_int_equal(spoolrec_format(empty, out, &error), -1);
	assert_string_equal(error, "invalid queue id");
	memcpy(empty->id, ID, sizeof(empty->id));
	assert_int_equal(spoolrec_format(empty, out, &error), -1);
	assert_string_equal(error, "no recipient");

	r->rcpts[1].notify = SPOOLREC_NOTIFY_NEVER | SPOOLREC_NOTIFY_DELAY;
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	assert_string_equal(error, "invalid DSN notify");
	r->rcpts[1].notify = 0x10;
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	r->rcpts[1].notify = 0;
	r->rcpts[1].state = (enum spoolrec_state)4;
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	assert_string_equal(error, "invalid recipient state");
	r->rcpts[1].state = SPOOLREC_PENDING;
	r->rcpts[1].code = 199;
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	assert_string_equal(error, "invalid reply code");
	r->rcpts[1].code = 600;
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	r->rcpts[1].code = 0;
	r->body = (enum spoolrec_body)3;
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	r->body = SPOOLREC_BODY_7BIT;
	r->ret = (enum spoolrec_ret)3;
	assert_int_equal(spoolrec_format(r, out, &error), -1);
	r->ret = SPOOLREC_RET_NONE;
	assert_int_equal(sbuf_len(out), 0);
	assert_int_equal(spoolrec_format(r, out, &error), 0);

	sbuf_deinit(&out);
	spoolrec_deinit(&r);
	spoolrec_deinit(&empty);
}

/*
 * A record written before the result fields (version 1, only the error
 * text) still loads: no code, empty status, diagnostic and remote host,
 * the error text kept as it was (for people; nothing parses it). It is
 * written back as version 3, which then reads back to itself.
 */
static void test_version1(void **state)
{
	struct sbuf *s =
	    framed(HEAD "rcpt=b@x\nhop=local\nnotify=\norcpt=\nstate=deferred\n"
	                "attempts=2\nerror=mx:%20451%204.3.0%20later\n" RCPT);
	struct spoolrec *r = NULL, *p;
	const char *error = NULL;
	struct sbuf *v2;

	assert_int_equal(spoolrec_parse(sbuf_data(s), sbuf_len(s), &r, &error),
	                 0);
	assert_int_equal(r->rcpt_count, 2);
	assert_int_equal(r->rcpts[0].state, SPOOLREC_DEFERRED);
	assert_int_equal(r->rcpts[0].attempts, 2);
	assert_string_equal(r->rcpts[0].error, "mx: 451 4.3.0 later");
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(r->rcpts[i].code, 0);
		assert_non_null(r->rcpts[i].status);
		assert_string_equal(r->rcpts[i].status, "");
		assert_string_equal(r->rcpts[i].diag, "");
		assert_string_equal(r->rcpts[i].rhost, "");
	}
	v2 = format_ok(r);
	assert_int_equal(strncmp(sbuf_data(v2), "version=4\n", 10), 0);
	assert_non_null(strstr(sbuf_data(v2), "envid=\nheld=0\n"
	                                      "delay_notified=0\nrcpt="));
	assert_non_null(strstr(sbuf_data(v2),
	                       "error=mx:%20451%204.3.0%20later\ncode=0\n"
	                       "status=\ndiag=\nrhost=\nsender=\nrcpt=b@x\n"));
	p = reparse(v2);
	assert_string_equal(p->rcpts[0].error, "mx: 451 4.3.0 later");
	spoolrec_deinit(&p);
	spoolrec_deinit(&r);
	sbuf_deinit(&v2);
	sbuf_deinit(&s);
}

static void test_crc32(void **state)
{
	/* The standard check value of CRC-32/IEEE. */
	assert_int_equal(spoolrec_crc32(0, "123456789", 9), 0xcbf43926);
	assert_int_equal(
	    spoolrec_crc32(spoolrec_crc32(0, "1234", 4), "56789", 5),
	    0xcbf43926);
	assert_int_equal(spoolrec_crc32(0, "", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_held_and_delay_notified),
	    cmocka_unit_test(test_many_recipients),
	    cmocka_unit_test(test_hostile_values),
	    cmocka_unit_test(test_strict),
	    cmocka_unit_test(test_smtputf8_values),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_torn),
	    cmocka_unit_test(test_format_errors),
	    cmocka_unit_test(test_version1),
	    cmocka_unit_test(test_crc32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
