/*
 * test-dsn - delivery status notifications: every notice built here is
 * read back with a small MIME walk (CR LF only, no line over 998 octets,
 * the boundary, three parts with the right types, every required field),
 * then checked for content: null sender refused, the NOTIFY matrix,
 * RET=HDRS / FULL and the fallbacks, ORCPT and ENVID, several recipients
 * with different fates, 8-bit and UTF-8 originals, hostile diagnostic
 * texts, boundary collisions, the notice's own envelope.
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
#include "dsn.h"
#include "sbuf.h"
#include "spoolrec.h"

#define NOW ((time_t)1700000000)
#define HDRS                                                                   \
	"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"           \
	"Subject: hello\r\nMessage-ID: <1@example.org>\r\n"
#define BODY "Hi Bob,\r\nthe body line.\r\n"

static struct spoolrec *envelope(void)
{
	struct spoolrec *r = spoolrec_new();

	memcpy(r->id, "0123456789abcdef", SPOOL_ID_LEN + 1);
	r->arrival = 1699990000;
	spoolrec_set(&r->mail_from, "alice@example.org");
	spoolrec_add_rcpt(r, "bob@example.com", "mx.example.com");
	spoolrec_add_rcpt(r, "carol@example.net", "mx.example.net");
	spoolrec_add_rcpt(r, "dave@example.com", "mx.example.com");
	return r;
}

static void input(struct dsn_input *in, const struct spoolrec *env,
                  const struct dsn_rcpt *rcpts, size_t n, const char *orig)
{
	memset(in, 0, sizeof(*in));
	in->reporting_mta = "relay.example.net";
	in->postmaster = "MAILER-DAEMON@relay.example.net";
	in->env = env;
	in->rcpts = rcpts;
	in->rcpt_count = n;
	in->orig = orig;
	in->orig_len = strlen(orig);
	in->orig_complete = true;
	in->full_max = 1024 * 1024;
	in->now = NOW;
	in->boundary_seed = 42;
}

/* --- a small MIME reader for the tests --- */

struct part {
	char *headers; /* with CR LF line ends, unfolded lookups below */
	char *body;
};

struct notice {
	char *headers;
	char *boundary;
	struct part parts[3];
	size_t nparts;
};

/* CR LF only, every line at most 998 octets, ends with CR LF. */
static void check_lines(const char *m, size_t len)
{
	size_t i, col = 0;

	assert_true(len >= 2 && m[len - 2] == '\r' && m[len - 1] == '\n');
	for (i = 0; i < len; i++) {
		if (m[i] == '\r') {
			assert_true(i + 1 < len && m[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(m[i] != '\n');
		assert_true(m[i] != '\0');
		col++;
		assert_true(col <= 998);
	}
}

/* The unfolded value of field name in a header block; NULL if absent. */
static char *field(const char *h, const char *name)
{
	size_t nl = strlen(name);
	const char *p = h;
	struct sbuf *s;
	char *v;

	while (*p != '\0') {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			s = sbuf_new(65536);
			for (;;) {
				size_t l = strcspn(p, "\r");

				assert_true(sbuf_append(s, p, l));
				p += l + 2;
				if (*p != ' ' && *p != '\t')
					break;
				assert_true(sbuf_append(s, " ", 1));
				while (*p == ' ' || *p == '\t')
					p++;
			}
			v = sbuf_steal(s, NULL);
			sbuf_deinit(&s);
			return v;
		}
		p = strstr(p, "\r\n");
		if (p == NULL)
			break;
		p += 2;
	}
	return NULL;
}

static void split_part(const char *s, size_t len, struct part *p)
{
	const char *e = memmem(s, len, "\r\n\r\n", 4);

	if (len >= 2 && s[0] == '\r' && s[1] == '\n') {
		p->headers = alloc_strdup("");
		p->body = alloc_strndup(s + 2, len - 2);
		return;
	}
	assert_non_null(e);
	p->headers = alloc_strndup(s, (size_t)(e - s) + 2);
	p->body = alloc_strndup(e + 4, len - (size_t)(e - s) - 4);
}

static void parse_notice(const struct sbuf *out, struct notice *n)
{
	const char *m = sbuf_data(out), *b, *e, *end;
	char *ct, *delim;
	size_t len = sbuf_len(out), dl;

	memset(n, 0, sizeof(*n));
	check_lines(m, len);
	e = strstr(m, "\r\n\r\n");
	assert_non_null(e);
	n->headers = alloc_strndup(m, (size_t)(e - m) + 2);
	ct = field(n->headers, "Content-Type");
	assert_non_null(ct);
	assert_true(strncmp(ct,
	                    "multipart/report; report-type=delivery-status;",
	                    46) == 0);
	b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	n->boundary = alloc_strndup(b + 10, strcspn(b + 10, "\""));
	assert_true(strlen(n->boundary) > 0 && strlen(n->boundary) <= 70);
	free(ct);
	delim = alloc_printf("\r\n--%s", n->boundary);
	dl = strlen(delim);
	end = m + len;
	b = memmem(e, (size_t)(end - e), delim, dl);
	assert_non_null(b);
	for (;;) {
		b += dl;
		if (b[0] == '-' && b[1] == '-') {
			assert_string_equal(b, "--\r\n");
			break;
		}
		assert_true(b[0] == '\r' && b[1] == '\n');
		b += 2;
		e = memmem(b, (size_t)(end - b), delim, dl);
		assert_non_null(e);
		assert_true(n->nparts < 3);
		split_part(b, (size_t)(e - b), &n->parts[n->nparts++]);
		b = e;
	}
	assert_int_equal(n->nparts, 3);
	free(delim);
}

static void notice_free(struct notice *n)
{
	size_t i;

	free(n->headers);
	free(n->boundary);
	for (i = 0; i < n->nparts; i++) {
		free(n->parts[i].headers);
		free(n->parts[i].body);
	}
}

static void assert_field(const char *h, const char *name, const char *want)
{
	char *v = field(h, name);

	if (v == NULL)
		fail_msg("field %s missing", name);
	assert_string_equal(v, want);
	free(v);
}

static void assert_no_field(const char *h, const char *name)
{
	char *v = field(h, name);

	assert_null(v);
}

/* Build, parse back, check what every notice must have. */
static void build_ok(const struct dsn_input *in, struct sbuf *out,
                     struct notice *n)
{
	const char *error = NULL;

	assert_int_equal(dsn_build(in, out, &error), 1);
	parse_notice(out, n);
	assert_field(n->headers, "From",
	             "Mail Delivery System <MAILER-DAEMON@relay.example.net>");
	assert_field(n->headers, "Date", "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_field(n->headers, "Auto-Submitted", "auto-replied");
	assert_field(n->headers, "MIME-Version", "1.0");
	assert_non_null(strstr(n->headers, "\r\nMessage-ID: <"));
	assert_non_null(strstr(n->headers, "\r\nSubject: "));
	assert_non_null(strstr(n->parts[1].body, "Reporting-MTA: dns; "
	                                         "relay.example.net\r\n"));
	assert_non_null(strstr(n->parts[1].body, "Arrival-Date: "));
}

/* The per-recipient groups of part 2 (after the per-message one). */
static size_t groups(const char *status, char **g, size_t max)
{
	const char *p = strstr(status, "\r\n\r\n"), *e;
	size_t k = 0;

	while (p != NULL && k < max) {
		p += 4;
		e = strstr(p, "\r\n\r\n");
		g[k++] = e != NULL ? alloc_strndup(p, (size_t)(e - p) + 2)
		                   : alloc_strdup(p);
		p = e;
	}
	return k;
}

static void test_failure_hdrs(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r[] = {
	    {0, DSN_ACTION_FAILED, "5.1.1",
	     "smtp; 550 5.1.1 <bob@example.com>: user unknown",
	     "mx.example.com", NOW - 60, 0},
	    /* NOTIFY not given: a delay is not reported */
	    {1, DSN_ACTION_DELAYED, "4.4.1", "connection timed out",
	     "mx.example.net", NOW - 30, NOW + 3600},
	};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	char *g[4];

	input(&in, env, r, 2, HDRS "\r\n" BODY);
	build_ok(&in, out, &n);
	assert_field(n.headers, "To", "<alice@example.org>");
	assert_field(n.headers, "Subject",
	             "Undelivered Mail Returned to Sender");
	assert_field(n.parts[0].headers, "Content-Type",
	             "text/plain; charset=us-ascii");
	assert_non_null(strstr(n.parts[0].body, "<bob@example.com>"));
	assert_null(strstr(n.parts[0].body, "carol"));
	assert_field(n.parts[1].headers, "Content-Type",
	             "message/delivery-status");
	assert_field(n.parts[2].headers, "Content-Type", "text/rfc822-headers");
	assert_string_equal(n.parts[2].body, HDRS);
	assert_no_field(n.parts[1].body, "Original-Envelope-Id");
	assert_int_equal(groups(n.parts[1].body, g, 4), 1);
	assert_field(g[0], "Final-Recipient", "rfc822;bob@example.com");
	assert_field(g[0], "Action", "failed");
	assert_field(g[0], "Status", "5.1.1");
	assert_field(g[0], "Remote-MTA", "dns; mx.example.com");
	assert_field(g[0], "Diagnostic-Code",
	             "smtp; 550 5.1.1 <bob@example.com>: user unknown");
	assert_field(g[0], "Last-Attempt-Date",
	             "Tue, 14 Nov 2023 22:12:20 +0000");
	assert_no_field(g[0], "Original-Recipient");
	free(g[0]);
	notice_free(&n);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

/*
 * The report comes from the spool record's result fields (spoolrec.h),
 * the same notice as from the values themselves: Status, Remote-MTA and
 * Diagnostic-Code from status, rhost and diag. A record from before the
 * fields (version 1) still gets its notice, without what it never kept;
 * the error summary is never read.
 */
static void test_from_result(void **state)
{
	struct spoolrec *env = envelope();
	struct spoolrec_rcpt *bob = &env->rcpts[0], *carol = &env->rcpts[1];
	struct dsn_rcpt r[2];
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20), *direct = sbuf_new(1 << 20);
	const struct dsn_rcpt same = {
	    0,
	    DSN_ACTION_FAILED,
	    "5.1.1",
	    "smtp; 550 5.1.1 <bob@example.com>: user unknown",
	    "mx.example.com",
	    NOW - 60,
	    0};
	struct notice n;
	const char *error;
	char *g[4];

	(void)state;
	bob->state = SPOOLREC_BOUNCED;
	spoolrec_set(&bob->error, "summary: 999 9.9.9 not read");
	bob->code = 550;
	spoolrec_set(&bob->status, "5.1.1");
	spoolrec_set(&bob->diag,
	             "smtp; 550 5.1.1 <bob@example.com>: user unknown");
	spoolrec_set(&bob->rhost, "mx.example.com");
	/* as a version 1 record loads: the summary only */
	carol->state = SPOOLREC_BOUNCED;
	spoolrec_set(&carol->error, "mx.example.net: 550 5.7.1 not read");
	spoolrec_set(&carol->status, "");
	spoolrec_set(&carol->diag, "");
	spoolrec_set(&carol->rhost, "");

	dsn_rcpt_from_result(&r[0], env, 0, DSN_ACTION_FAILED, NOW - 60);
	assert_int_equal(r[0].index, 0);
	assert_string_equal(r[0].status, "5.1.1");
	assert_string_equal(r[0].remote_mta, "mx.example.com");
	assert_int_equal(r[0].last_attempt, NOW - 60);
	dsn_rcpt_from_result(&r[1], env, 1, DSN_ACTION_FAILED, NOW - 60);
	assert_null(r[1].status);
	assert_null(r[1].diag);
	assert_null(r[1].remote_mta);

	/* byte for byte the notice of the values themselves */
	input(&in, env, r, 1, HDRS "\r\n" BODY);
	assert_int_equal(dsn_build(&in, out, &error), 1);
	input(&in, env, &same, 1, HDRS "\r\n" BODY);
	assert_int_equal(dsn_build(&in, direct, &error), 1);
	assert_int_equal(sbuf_len(out), sbuf_len(direct));
	assert_memory_equal(sbuf_data(out), sbuf_data(direct), sbuf_len(out));
	sbuf_deinit(&out);
	out = sbuf_new(1 << 20);

	input(&in, env, r, 2, HDRS "\r\n" BODY);
	build_ok(&in, out, &n);
	assert_int_equal(groups(n.parts[1].body, g, 4), 2);
	assert_field(g[0], "Status", "5.1.1");
	assert_field(g[0], "Remote-MTA", "dns; mx.example.com");
	assert_field(g[0], "Diagnostic-Code",
	             "smtp; 550 5.1.1 <bob@example.com>: user unknown");
	assert_field(g[1], "Final-Recipient", "rfc822;carol@example.net");
	assert_field(g[1], "Status", "5.0.0");
	assert_no_field(g[1], "Remote-MTA");
	assert_no_field(g[1], "Diagnostic-Code");
	assert_null(strstr(sbuf_data(out), "not read"));
	free(g[0]);
	free(g[1]);
	notice_free(&n);
	sbuf_deinit(&out);
	sbuf_deinit(&direct);
	spoolrec_deinit(&env);
}

static void test_null_sender(void **state)
{
	struct spoolrec *env = envelope(), *e = NULL;
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	const char *error = NULL;

	spoolrec_set(&env->mail_from, "");
	input(&in, env, &r, 1, HDRS);
	assert_true(sbuf_append_str(out, "keep"));
	assert_int_equal(dsn_build(&in, out, &error), -1);
	assert_string_equal(error, "null sender: no bounce");
	assert_string_equal(sbuf_data(out), "keep");
	assert_int_equal(
	    dsn_envelope(&in, "0123456789abcdef", "x", 1, &e, &error), -1);
	assert_null(e);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

static void test_notify_matrix(void **state)
{
	static const struct {
		unsigned notify;
		bool want[5]; /* failed delayed delivered relayed expanded */
	} m[] = {
	    {0, {true, false, false, false, false}},
	    {SPOOLREC_NOTIFY_NEVER, {false, false, false, false, false}},
	    {SPOOLREC_NOTIFY_FAILURE, {true, false, false, false, false}},
	    {SPOOLREC_NOTIFY_DELAY, {false, true, false, false, false}},
	    {SPOOLREC_NOTIFY_SUCCESS, {false, false, true, true, true}},
	    {SPOOLREC_NOTIFY_SUCCESS | SPOOLREC_NOTIFY_FAILURE |
	         SPOOLREC_NOTIFY_DELAY,
	     {true, true, true, true, true}},
	    {SPOOLREC_NOTIFY_FAILURE | SPOOLREC_NOTIFY_DELAY,
	     {true, true, false, false, false}},
	};
	struct spoolrec_rcpt rc;
	size_t i, a;

	memset(&rc, 0, sizeof(rc));
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		rc.notify = m[i].notify;
		for (a = 0; a < 5; a++)
			assert_int_equal(
			    dsn_should_report(&rc, (enum dsn_action)a),
			    m[i].want[a]);
	}
}

/* Nothing to report: 0, out unchanged. */
static void test_nothing_to_report(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r[] = {
	    {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0},
	    {1, DSN_ACTION_DELAYED, NULL, NULL, NULL, 0, 0},
	    {2, DSN_ACTION_DELIVERED, NULL, NULL, NULL, 0, 0},
	};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	const char *error;

	env->rcpts[0].notify = SPOOLREC_NOTIFY_NEVER;
	env->rcpts[1].notify = SPOOLREC_NOTIFY_FAILURE;
	input(&in, env, r, 3, HDRS);
	assert_int_equal(dsn_build(&in, out, &error), 0);
	assert_int_equal(sbuf_len(out), 0);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

/* Failed + delayed (asked for) + delivered (asked for), ORCPT, ENVID. */
static void test_several(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r[] = {
	    {0, DSN_ACTION_FAILED, "5.2.2", "552 5.2.2 mailbox full", NULL, 0,
	     0},
	    {1, DSN_ACTION_DELAYED, NULL, "x-unix; timeout", NULL, NOW,
	     NOW + 86400},
	    {2, DSN_ACTION_DELIVERED, NULL, "127.0.0.1: 550 not a bare reply",
	     "mbx.example.com", 0, 0},
	};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	char *g[4];
	size_t i;

	env->rcpts[1].notify = SPOOLREC_NOTIFY_DELAY;
	env->rcpts[2].notify = SPOOLREC_NOTIFY_SUCCESS;
	spoolrec_set(&env->rcpts[0].orcpt, "rfc822;Bob@Example.COM");
	spoolrec_set(&env->envid, "QQ314159");
	input(&in, env, r, 3, HDRS "\r\n" BODY);
	build_ok(&in, out, &n);
	assert_field(n.headers, "Subject",
	             "Undelivered Mail Returned to Sender");
	assert_field(n.parts[1].body, "Original-Envelope-Id", "QQ314159");
	assert_field(n.parts[1].body, "X-Dirmx-Queue-ID", "0123456789abcdef");
	assert_int_equal(groups(n.parts[1].body, g, 4), 3);
	assert_field(g[0], "Original-Recipient", "rfc822;Bob@Example.COM");
	assert_field(g[0], "Diagnostic-Code", "smtp; 552 5.2.2 mailbox full");
	assert_field(g[1], "Final-Recipient", "rfc822;carol@example.net");
	assert_field(g[1], "Action", "delayed");
	assert_field(g[1], "Status", "4.0.0");
	assert_field(g[1], "Diagnostic-Code", "x-unix; timeout");
	assert_field(g[1], "Will-Retry-Until",
	             "Wed, 15 Nov 2023 22:13:20 +0000");
	assert_field(g[2], "Action", "delivered");
	assert_field(g[2], "Status", "2.0.0");
	assert_field(g[2], "Diagnostic-Code",
	             "x-dirmx; 127.0.0.1: 550 not a bare reply");
	for (i = 0; i < 3; i++)
		free(g[i]);
	assert_non_null(strstr(n.parts[0].body, "<carol@example.net>: not "
	                                        "delivered yet"));
	notice_free(&n);

	/* only the delay: the delay subject */
	sbuf_reset(out);
	in.rcpts = &r[1];
	in.rcpt_count = 1;
	build_ok(&in, out, &n);
	assert_field(n.headers, "Subject",
	             "Delayed Mail (still being retried)");
	notice_free(&n);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

static void test_ret_full(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	char *big;

	env->ret = SPOOLREC_RET_FULL;
	input(&in, env, &r, 1, HDRS "\r\n" BODY);
	build_ok(&in, out, &n);
	assert_field(n.parts[2].headers, "Content-Type", "message/rfc822");
	assert_string_equal(n.parts[2].body, HDRS "\r\n" BODY);
	assert_null(strstr(n.parts[0].body, "only its headers"));
	notice_free(&n);

	/* not the whole message, too large, binary: headers and a note */
	for (int k = 0; k < 3; k++) {
		input(&in, env, &r, 1, HDRS "\r\n" BODY);
		if (k == 0)
			in.orig_complete = false;
		else if (k == 1)
			in.full_max = 10;
		else
			env->body = SPOOLREC_BODY_BINARYMIME;
		sbuf_reset(out);
		build_ok(&in, out, &n);
		assert_field(n.parts[2].headers, "Content-Type",
		             "text/rfc822-headers");
		assert_string_equal(n.parts[2].body, HDRS);
		assert_non_null(strstr(n.parts[0].body, "only its headers"));
		notice_free(&n);
	}

	/* a body line over 998 octets: headers only */
	env->body = SPOOLREC_BODY_7BIT;
	big = alloc_zero(3000);
	strcpy(big, HDRS "\r\n");
	memset(big + strlen(big), 'x', 1500);
	strcat(big, "\r\n");
	input(&in, env, &r, 1, big);
	sbuf_reset(out);
	build_ok(&in, out, &n);
	assert_field(n.parts[2].headers, "Content-Type", "text/rfc822-headers");
	notice_free(&n);
	free(big);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

static void test_8bit(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	const char *orig = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n";

	/* 8BITMIME + FULL: message/rfc822, 8bit */
	env->ret = SPOOLREC_RET_FULL;
	env->body = SPOOLREC_BODY_8BITMIME;
	input(&in, env, &r, 1, orig);
	build_ok(&in, out, &n);
	assert_field(n.parts[2].headers, "Content-Type", "message/rfc822");
	assert_field(n.parts[2].headers, "Content-Transfer-Encoding", "8bit");
	assert_string_equal(n.parts[2].body, orig);
	notice_free(&n);

	/* declared 7BIT but 8-bit: headers only, 8-bit made "?" */
	env->body = SPOOLREC_BODY_7BIT;
	sbuf_reset(out);
	build_ok(&in, out, &n);
	assert_field(n.parts[2].headers, "Content-Type", "text/rfc822-headers");
	assert_no_field(n.parts[2].headers, "Content-Transfer-Encoding");
	assert_string_equal(n.parts[2].body, "Subject: caf??\r\n");
	notice_free(&n);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

static void test_utf8(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, "5.1.1", NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	const char *orig = "Subject: \xc3\xa9t\xc3\xa9\r\n\r\nbody\r\n";
	char *g[2];

	env->smtputf8 = true;
	env->body = SPOOLREC_BODY_8BITMIME;
	spoolrec_set(&env->mail_from, "j\xc3\xb6rg@example.org");
	spoolrec_set(&env->rcpts[0].addr, "b+\xc3\xb8=b@example.com");
	spoolrec_set(&env->rcpts[0].orcpt, "utf-8;b+\xc3\xb8=b@example.com");
	input(&in, env, &r, 1, orig);
	build_ok(&in, out, &n);
	assert_field(n.headers, "To", "<j\xc3\xb6rg@example.org>");
	assert_field(n.parts[0].headers, "Content-Type",
	             "text/plain; charset=utf-8");
	assert_field(n.parts[1].headers, "Content-Type",
	             "message/global-delivery-status");
	assert_field(n.parts[2].headers, "Content-Type",
	             "message/global-headers");
	assert_int_equal(groups(n.parts[1].body, g, 2), 1);
	assert_field(g[0], "Final-Recipient",
	             "utf-8;b\\x{2B}\xc3\xb8\\x{3D}b@example.com");
	assert_field(g[0], "Original-Recipient",
	             "utf-8;b\\x{2B}\xc3\xb8\\x{3D}b@example.com");
	free(g[0]);
	assert_string_equal(n.parts[2].body, "Subject: \xc3\xa9t\xc3\xa9\r\n");
	notice_free(&n);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

/*
 * A notice about a message that needed SMTPUTF8 must be deliverable
 * where the original was not: its own header is ASCII (the sender's
 * U-label domain as A-labels, the UTF-8 form as an RFC 2047 display
 * name), UTF-8 addresses stay inside message/global-delivery-status, and
 * its envelope does not ask for SMTPUTF8. Only a sender whose local part
 * is non-ASCII (no ASCII form exists) makes the notice need it.
 */
static void test_utf8_downgrade(void **state)
{
	struct spoolrec *env = envelope(), *e = NULL;
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, "5.6.7", NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	const char *error;
	char *g[2];

	(void)state;
	env->smtputf8 = true;
	env->smtputf8_needed = true;
	env->body = SPOOLREC_BODY_8BITMIME;
	spoolrec_set(&env->mail_from, "anna@b\303\274cher.example");
	spoolrec_set(&env->rcpts[0].addr, "j\xc3\xb6rg@example.com");
	input(&in, env, &r, 1, "Subject: x\r\n\r\nbody\r\n");
	build_ok(&in, out, &n);
	assert_field(n.headers, "To",
	             "=?utf-8?B?YW5uYUBiw7xjaGVyLmV4YW1wbGU=?= "
	             "<anna@xn--bcher-kva.example>");
	for (const char *p = n.headers; *p != '\0'; p++)
		assert_true((unsigned char)*p < 0x80);
	assert_field(n.parts[1].headers, "Content-Type",
	             "message/global-delivery-status");
	assert_int_equal(groups(n.parts[1].body, g, 2), 1);
	assert_field(g[0], "Final-Recipient", "utf-8;j\xc3\xb6rg@example.com");
	free(g[0]);
	notice_free(&n);
	assert_int_equal(dsn_envelope(&in, "0123456789abcdeg", sbuf_data(out),
	                              sbuf_len(out), &e, &error),
	                 0);
	assert_true(e->smtputf8);
	assert_false(e->smtputf8_needed);
	assert_string_equal(e->rcpts[0].addr, "anna@b\303\274cher.example");
	spoolrec_deinit(&e);

	/* A long UTF-8 sender: several encoded-words, none over 75. */
	sbuf_reset(out);
	spoolrec_set(
	    &env->mail_from,
	    "a@\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    ".example");
	build_ok(&in, out, &n);
	{
		char *to = field(n.headers, "To"), *w = to, *q;
		int words = 0;

		assert_non_null(to);
		while ((q = strstr(w, "=?utf-8?B?")) != NULL) {
			char *end = strstr(q + 10, "?=");

			assert_non_null(end);
			assert_true(end + 2 - q <= 75);
			words++;
			w = end + 2;
		}
		assert_true(words >= 2);
		assert_non_null(strstr(to, "<a@xn--"));
		free(to);
	}
	notice_free(&n);

	/* No ASCII form: the notice needs SMTPUTF8, as the sender's own. */
	sbuf_reset(out);
	spoolrec_set(&env->mail_from, "j\xc3\xb6rg@example.org");
	build_ok(&in, out, &n);
	assert_field(n.headers, "To", "<j\xc3\xb6rg@example.org>");
	notice_free(&n);
	assert_int_equal(dsn_envelope(&in, "0123456789abcdeg", sbuf_data(out),
	                              sbuf_len(out), &e, &error),
	                 0);
	assert_true(e->smtputf8_needed);
	spoolrec_deinit(&e);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

/* Remote texts cannot add lines or pass 998 octets. */
static void test_hostile_diag(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	char *diag = alloc_zero(8000), *g[2], *v;
	size_t i;

	strcpy(diag, "smtp; 550 x\r\nInjected: yes\n\r\n--=_dirmx ");
	for (i = strlen(diag); i < 4000; i++)
		diag[i] = 'a';
	for (; i < 7000; i++)
		diag[i] = i % 7 == 0 ? ' ' : '\xff';
	r.diag = diag;
	input(&in, env, &r, 1, HDRS);
	build_ok(&in, out, &n); /* checks CR LF and 998 */
	assert_null(strstr(sbuf_data(out), "\nInjected"));
	assert_int_equal(groups(n.parts[1].body, g, 2), 1);
	v = field(g[0], "Diagnostic-Code");
	assert_non_null(v);
	assert_true(strncmp(v, "smtp; 550 x Injected: yes --=_dirmx aaa", 39) ==
	            0);
	assert_null(strchr(v, '\xff'));
	free(v);
	free(g[0]);
	notice_free(&n);
	free(diag);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

/* The same input gives the same bytes; a colliding boundary is redrawn. */
static void test_boundary(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *a = sbuf_new(1 << 20), *b = sbuf_new(1 << 20);
	struct notice n, m;
	char *orig;

	input(&in, env, &r, 1, HDRS);
	build_ok(&in, a, &n);
	build_ok(&in, b, &m);
	assert_string_equal(sbuf_data(a), sbuf_data(b));
	notice_free(&m);
	orig = alloc_printf("X-Evil: --%s\r\n%s", n.boundary, HDRS);
	input(&in, env, &r, 1, orig);
	sbuf_reset(b);
	build_ok(&in, b, &m);
	assert_string_not_equal(n.boundary, m.boundary);
	assert_non_null(strstr(m.parts[2].body, n.boundary));
	notice_free(&m);
	notice_free(&n);
	free(orig);
	sbuf_deinit(&a);
	sbuf_deinit(&b);
	spoolrec_deinit(&env);
}

/* A header line over 998 octets is broken, never passed on. */
static void test_long_header(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	char *orig = alloc_zero(5000);

	strcpy(orig, "X-Long: ");
	memset(orig + 8, 'z', 3000);
	strcat(orig, "\nSubject: bare\rTo: x\r\n\r\nbody\r\n");
	input(&in, env, &r, 1, orig);
	build_ok(&in, out, &n);
	assert_non_null(
	    strstr(n.parts[2].body, "\r\nSubject: bare\r\nTo: x\r\n"));
	notice_free(&n);
	free(orig);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

/* A status that is malformed or does not fit falls back; 4.x.y may fail. */
static void test_status(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20);
	struct notice n;
	char *g[2];
	static const struct {
		enum dsn_action action;
		const char *status, *want;
	} t[] = {
	    {DSN_ACTION_FAILED, "4.4.7", "4.4.7"},
	    {DSN_ACTION_FAILED, "5.999.999", "5.999.999"},
	    {DSN_ACTION_FAILED, "2.1.1", "5.0.0"},
	    {DSN_ACTION_FAILED, "5.1", "5.0.0"},
	    {DSN_ACTION_FAILED, "5.-1.1", "5.0.0"},
	    {DSN_ACTION_FAILED, "5.1.1.1", "5.0.0"},
	    {DSN_ACTION_FAILED, "5.1000.1", "5.0.0"},
	    {DSN_ACTION_FAILED, "55.1.1", "5.0.0"},
	    {DSN_ACTION_FAILED, "", "5.0.0"},
	    {DSN_ACTION_DELAYED, "5.1.1", "4.0.0"},
	    {DSN_ACTION_RELAYED, "4.1.1", "2.0.0"},
	};
	size_t i;

	env->rcpts[0].notify = SPOOLREC_NOTIFY_FAILURE | SPOOLREC_NOTIFY_DELAY |
	                       SPOOLREC_NOTIFY_SUCCESS;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		r.action = t[i].action;
		r.status = t[i].status;
		input(&in, env, &r, 1, HDRS);
		sbuf_reset(out);
		build_ok(&in, out, &n);
		assert_int_equal(groups(n.parts[1].body, g, 2), 1);
		assert_field(g[0], "Status", t[i].want);
		free(g[0]);
		notice_free(&n);
	}
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

static void test_bad_input(void **state)
{
	struct spoolrec *env = envelope();
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *out = sbuf_new(1 << 20), *small = sbuf_new(500);
	struct notice n;
	const char *error;

	input(&in, env, &r, 1, HDRS);
	r.index = 3;
	assert_int_equal(dsn_build(&in, out, &error), -1);
	r.index = 0;
	r.action = (enum dsn_action)7;
	assert_int_equal(dsn_build(&in, out, &error), -1);
	r.action = DSN_ACTION_FAILED;
	in.reporting_mta = "bad host";
	assert_int_equal(dsn_build(&in, out, &error), -1);
	in.reporting_mta = "relay.example.net";
	in.postmaster = "a\r\nb@x";
	assert_int_equal(dsn_build(&in, out, &error), -1);
	in.postmaster = "MAILER-DAEMON@relay.example.net";
	assert_int_equal(sbuf_len(out), 0);
	/* a remote MTA name that is not a token is left out, not injected */
	r.remote_mta = "mx\r\nInjected: 1";
	build_ok(&in, out, &n);
	assert_null(strstr(sbuf_data(out), "Injected"));
	assert_null(strstr(sbuf_data(out), "Remote-MTA"));
	notice_free(&n);
	/* the caller's limit */
	assert_int_equal(dsn_build(&in, small, &error), -1);
	assert_string_equal(error, "notice too large");
	assert_int_equal(sbuf_len(small), 0);
	sbuf_deinit(&small);
	sbuf_deinit(&out);
	spoolrec_deinit(&env);
}

static void test_envelope(void **state)
{
	struct spoolrec *env = envelope(), *e = NULL, *back = NULL;
	struct dsn_rcpt r = {0, DSN_ACTION_FAILED, NULL, NULL, NULL, 0, 0};
	struct dsn_input in;
	struct sbuf *rec = sbuf_new(SPOOLREC_MAX_LEN);
	const char *error;

	input(&in, env, &r, 1, HDRS);
	assert_int_equal(
	    dsn_envelope(&in, "0123456789abcdeg", "plain", 5, &e, &error), 0);
	assert_string_equal(e->mail_from, "");
	assert_int_equal(e->rcpt_count, 1);
	assert_string_equal(e->rcpts[0].addr, "alice@example.org");
	assert_int_equal(e->rcpts[0].notify, SPOOLREC_NOTIFY_NEVER);
	assert_int_equal(e->body, SPOOLREC_BODY_7BIT);
	assert_int_equal(e->size, 5);
	assert_int_equal(e->arrival, (uint64_t)NOW);
	/* it is a valid spool record */
	assert_int_equal(spoolrec_format(e, rec, &error), 0);
	assert_int_equal(
	    spoolrec_parse(sbuf_data(rec), sbuf_len(rec), &back, &error), 0);
	spoolrec_deinit(&back);
	spoolrec_deinit(&e);
	assert_int_equal(
	    dsn_envelope(&in, "0123456789abcdeg", "\xc3\xa9", 2, &e, &error),
	    0);
	assert_int_equal(e->body, SPOOLREC_BODY_8BITMIME);
	spoolrec_deinit(&e);
	assert_int_equal(dsn_envelope(&in, "short", "x", 1, &e, &error), -1);
	sbuf_deinit(&rec);
	spoolrec_deinit(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failure_hdrs),
	    cmocka_unit_test(test_from_result),
	    cmocka_unit_test(test_null_sender),
	    cmocka_unit_test(test_notify_matrix),
	    cmocka_unit_test(test_nothing_to_report),
	    cmocka_unit_test(test_several),
	    cmocka_unit_test(test_ret_full),
	    cmocka_unit_test(test_8bit),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_utf8_downgrade),
	    cmocka_unit_test(test_hostile_diag),
	    cmocka_unit_test(test_boundary),
	    cmocka_unit_test(test_long_header),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_envelope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
