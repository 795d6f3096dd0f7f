/*
 * dsn - delivery status notifications; see dsn.h.
 *
 * SYNOPSIS
 *	struct dsn_input in = { .reporting_mta = host, .env = rec, ... };
 *	switch (dsn_build(&in, out, &error)) {
 *	case 1: dsn_envelope(&in, new_id, data, len, &env, &error);
 *		... spool env + data ...
 *	case 0: nothing to send (NOTIFY said so)
 *	case -1: log error
 *	}
 *
 * DESCRIPTION
 *	The three body parts are written into buffers of their own first;
 *	only then is the boundary chosen (seeded, re-drawn until it occurs
 *	in none of them), and the message is put together and appended to
 *	the caller's buffer in one go, so a failure leaves it unchanged.
 *	Every string that reaches a header or a report field goes through
 *	dsn_text_put_clean() or dsn_text_fold() (dsn_text.c): nothing from
 *	the envelope or from a remote server can add a line, and no line
 *	passes 998 octets.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "dsn_private.h"
#include "intl.h"
#include "sbuf.h"
#include "str.h"

#define NAME_MAX_OCTETS 512 /* addresses, host names, ENVID */

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: spreads a small seed over all bits. */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Host names and the postmaster address: one printable token. */
static bool token_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= NAME_MAX_OCTETS && str_is_printable_ascii(s, n) &&
	       strpbrk(s, " <>()\"") == NULL;
}

static const char *field_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

void dsn_rcpt_from_result(struct dsn_rcpt *dr_r, const struct spoolrec *env,
                          size_t index, enum dsn_action action,
                          time_t last_attempt)
{
	const struct spoolrec_rcpt *r = &env->rcpts[index];

	memset(dr_r, 0, sizeof(*dr_r));
	dr_r->index = index;
	dr_r->action = action;
	dr_r->status = field_or_null(r->status);
	dr_r->diag = field_or_null(r->diag);
	dr_r->remote_mta = field_or_null(r->rhost);
	dr_r->last_attempt = last_attempt;
}

bool dsn_should_report(const struct spoolrec_rcpt *r, enum dsn_action action)
{
	if ((r->notify & SPOOLREC_NOTIFY_NEVER) != 0)
		return false;
	switch (action) {
	case DSN_ACTION_FAILED:
		return r->notify == 0 ||
		       (r->notify & SPOOLREC_NOTIFY_FAILURE) != 0;
	case DSN_ACTION_DELAYED:
		return (r->notify & SPOOLREC_NOTIFY_DELAY) != 0;
	case DSN_ACTION_DELIVERED:
	case DSN_ACTION_RELAYED:
	case DSN_ACTION_EXPANDED:
		return (r->notify & SPOOLREC_NOTIFY_SUCCESS) != 0;
	}
	return false;
}

static const char *const action_names[] = {
    "failed", "delayed", "delivered", "relayed", "expanded",
};

static unsigned action_class(enum dsn_action a)
{
	return a == DSN_ACTION_FAILED ? 5 : a == DSN_ACTION_DELAYED ? 4 : 2;
}

/*
 * An RFC 3463 status ("5.1.1", each part 1-3 digits) whose class fits
 * the action: 2 for successes, 4 for a delay, 5 or 4 for a failure (a
 * message that expired after temporary errors fails with its last 4.x.y,
 * as Postfix reports it).
 */
static bool status_ok(const char *s, enum dsn_action a)
{
	unsigned cls = action_class(a);

	struct buf b;
	uint64_t v;
	size_t i, start;

	buf_init(&b, s, strlen(s));
	if (!buf_fetch_uint(&b, 9, &v) || buf_pos(&b) != 1 ||
	    (v != cls && !(a == DSN_ACTION_FAILED && v == 4)))
		return false;
	for (i = 0; i < 2; i++) {
		if (!buf_consume_char(&b, '.'))
			return false;
		start = buf_pos(&b);
		if (!buf_fetch_uint(&b, 999, &v) || buf_pos(&b) - start > 3)
			return false;
	}
	return buf_remaining(&b) == 0;
}

/* The Diagnostic-Code value: "type; text", adding a type if missing. */
static char *diag_value(const char *d)
{
	struct buf b;
	const unsigned char *t;
	size_t n;

	buf_init(&b, d, strlen(d));
	n = buf_fetch_until(&b, ";", &t);
	if (n > 0 && n <= 32 && buf_remaining(&b) > 0) {
		size_t i;

		for (i = 0; i < n; i++) {
			if (!str_is_alpha_ascii(t[i]) &&
			    !str_is_digit_ascii(t[i]) && t[i] != '-')
				break;
		}
		if (i == n)
			return alloc_strdup(d);
	}
	/* a bare reply: "550 5.1.1 ..." ("127.0.0.1: 550" is not one) */
	if (str_is_digit_ascii(d[0]) && str_is_digit_ascii(d[1]) &&
	    str_is_digit_ascii(d[2]) && (d[3] == ' ' || d[3] == '\0'))
		return alloc_printf("smtp; %s", d);
	return alloc_printf("x-dirmx; %s", d);
}

/* The next line of b without its end (CR LF, bare CR or bare LF). */
static bool next_line(struct buf *b, const unsigned char **line_r, size_t *n_r)
{
	if (buf_remaining(b) == 0)
		return false;
	*n_r = buf_fetch_until(b, "\r\n", line_r);
	(void)buf_consume_char(b, '\r');
	(void)buf_consume_char(b, '\n');
	return true;
}

/* Fit to pass on unchanged: short, no NUL, 8-bit only when allowed. */
static bool line_clean(const unsigned char *line, size_t n, bool eight)
{
	return n <= DSN_LINE_MAX_OCTETS && memchr(line, '\0', n) == NULL &&
	       (eight || !dsn_text_has_8bit(line, n));
}

/*
 * RET=FULL is honoured only for a whole, line-based original that fits
 * its declared body type: see dsn.h.
 */
static bool full_ok(const struct dsn_input *in)
{
	const struct spoolrec *env = in->env;
	bool eight = env->body == SPOOLREC_BODY_8BITMIME || env->smtputf8;
	const unsigned char *line;
	struct buf b;
	size_t n;

	if (env->ret != SPOOLREC_RET_FULL || !in->orig_complete ||
	    in->orig_len > in->full_max ||
	    env->body == SPOOLREC_BODY_BINARYMIME)
		return false;
	buf_init(&b, in->orig, in->orig_len);
	while (next_line(&b, &line, &n)) {
		if (!line_clean(line, n, eight))
			return false;
	}
	return true;
}

/*
 * Copy the original (headers only: up to its first empty line), line ends
 * made CR LF. A line over DSN_LINE_MAX_OCTETS is broken with CR LF TAB, NUL
 * becomes "?", and so does an 8-bit octet unless eight.
 */
static void put_orig(struct dsn_writer *w, const struct dsn_input *in,
                     bool headers, bool eight)
{
	const unsigned char *line;
	struct buf b;
	size_t n, i, col;
	char c;

	buf_init(&b, in->orig, in->orig_len);
	while (next_line(&b, &line, &n) && !(headers && n == 0)) {
		if (line_clean(line, n, eight)) {
			dsn_text_put_bytes(w, line, n);
		} else {
			for (i = 0, col = 0; i < n; i++, col++) {
				if (col == DSN_LINE_MAX_OCTETS) {
					dsn_text_put_bytes(w, "\r\n\t", 3);
					col = 1;
				}
				c = (char)line[i];
				if (c == '\0' || (line[i] >= 0x80 && !eight))
					c = '?';
				dsn_text_put_bytes(w, &c, 1);
			}
		}
		dsn_text_put_bytes(w, "\r\n", 2);
	}
}

static const char *const explain[] = {
    "delivery failed permanently",
    "not delivered yet; the mail system is still trying",
    "delivered",
    "relayed to a system that sends no delivery notifications",
    "delivered to a list or alias, which passes it on",
};

static void put_human(struct dsn_writer *w, const struct dsn_input *in,
                      bool any_failed, bool any_delayed, bool full, bool global)
{
	const struct spoolrec *env = in->env;
	size_t i;
	char d[64], *v;

	dsn_text_put(w, "This is the mail system at host %s.\r\n\r\n",
	             in->reporting_mta);
	if (any_failed)
		dsn_text_put(
		    w,
		    "Your message could not be delivered to one or more\r\n"
		    "recipients, listed below with the reason. It will not\r\n"
		    "be retried for them.%s\r\n\r\n",
		    any_delayed ? " Others are still being tried, as\r\nlisted."
		                : "");
	else if (any_delayed)
		dsn_text_put(
		    w,
		    "Your message has not been delivered yet to one or more\r\n"
		    "recipients, listed below. The mail system keeps "
		    "trying;\r\n"
		    "you do not need to send it again.\r\n\r\n");
	else
		dsn_text_put(
		    w, "Your message was delivered as listed below, as you\r\n"
		       "asked.\r\n\r\n");
	if (env->ret == SPOOLREC_RET_FULL && !full)
		dsn_text_put(
		    w,
		    "The message could not be returned whole (too large, or\r\n"
		    "not plain text); only its headers are attached.\r\n\r\n");
	dsn_text_put(w,
	             "For help, write to the postmaster of %s and include\r\n"
	             "this report.\r\n",
	             in->reporting_mta);
	for (i = 0; i < in->rcpt_count; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];

		if (!dsn_should_report(&env->rcpts[r->index], r->action))
			continue;
		dsn_text_put(w, "\r\n<");
		dsn_text_put_clean(w, env->rcpts[r->index].addr, global);
		dsn_text_put(w, ">: %s\r\n", explain[r->action]);
		if (token_ok(r->remote_mta))
			dsn_text_fold(w, "    Remote server: ", r->remote_mta,
			              "    ", false);
		if (r->diag != NULL && r->diag[0] != '\0') {
			v = diag_value(r->diag);
			dsn_text_fold(w, "    Reason: ", v, "    ", false);
			free(v);
		}
		if (r->action == DSN_ACTION_DELAYED &&
		    r->will_retry_until != 0 &&
		    dsn_text_fmt_date(r->will_retry_until, d, sizeof(d)))
			dsn_text_put(w, "    Retrying until %s.\r\n", d);
	}
}

static void put_status(struct dsn_writer *w, const struct dsn_input *in,
                       bool global)
{
	const struct spoolrec *env = in->env;
	size_t i;
	char *v;

	dsn_text_put(w, "Reporting-MTA: dns; %s\r\n", in->reporting_mta);
	dsn_text_put(w, "X-Dirmx-Queue-ID: ");
	dsn_text_put_clean(w, env->id, false);
	dsn_text_put(w, "\r\n");
	if (env->envid != NULL && env->envid[0] != '\0') {
		dsn_text_put(w, "Original-Envelope-Id: ");
		dsn_text_put_clean(w, env->envid, false);
		dsn_text_put(w, "\r\n");
	}
	if (env->arrival <= (uint64_t)INT64_MAX)
		dsn_text_put_date(w, "Arrival-Date", (time_t)env->arrival);
	for (i = 0; i < in->rcpt_count; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];
		const struct spoolrec_rcpt *sr = &env->rcpts[r->index];
		unsigned cls = action_class(r->action);

		if (!dsn_should_report(sr, r->action))
			continue;
		dsn_text_put(w, "\r\n");
		if (sr->orcpt != NULL && sr->orcpt[0] != '\0')
			dsn_text_put_orcpt(w, sr->orcpt, global);
		dsn_text_put_addr_field(w, "Final-Recipient", sr->addr, global);
		dsn_text_put(w, "Action: %s\r\n", action_names[r->action]);
		if (r->status != NULL && status_ok(r->status, r->action))
			dsn_text_put(w, "Status: %s\r\n", r->status);
		else
			dsn_text_put(w, "Status: %u.0.0\r\n", cls);
		if (token_ok(r->remote_mta))
			dsn_text_put(w, "Remote-MTA: dns; %s\r\n",
			             r->remote_mta);
		if (r->diag != NULL && r->diag[0] != '\0') {
			v = diag_value(r->diag);
			dsn_text_fold(w, "Diagnostic-Code: ", v, " ", false);
			free(v);
		}
		if (r->last_attempt != 0)
			dsn_text_put_date(w, "Last-Attempt-Date",
			                  r->last_attempt);
		if (r->action == DSN_ACTION_DELAYED && r->will_retry_until != 0)
			dsn_text_put_date(w, "Will-Retry-Until",
			                  r->will_retry_until);
	}
}

static int bad(const char **error_r, const char *why)
{
	*error_r = why;
	return -1;
}

/* Check the input; the number of recipients to report, or -1. */
static int check_input(const struct dsn_input *in, bool *any_failed_r,
                       bool *any_delayed_r, const char **error_r)
{
	const struct spoolrec *env = in->env;
	size_t i, j;
	int n = 0;

	if (env == NULL || env->mail_from == NULL || env->mail_from[0] == '\0')
		return bad(error_r, "null sender: no bounce");
	if (!token_ok(in->reporting_mta) || !token_ok(in->postmaster))
		return bad(error_r, "bad reporting MTA or postmaster name");
	if (strlen(env->mail_from) > NAME_MAX_OCTETS ||
	    (env->envid != NULL && strlen(env->envid) > NAME_MAX_OCTETS) ||
	    in->rcpt_count > (size_t)INT32_MAX)
		return bad(error_r, "envelope field too long");
	for (i = 0; i < in->rcpt_count; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];
		const struct spoolrec_rcpt *sr;

		if (r->index >= env->rcpt_count ||
		    (unsigned)r->action > DSN_ACTION_EXPANDED)
			return bad(error_r, "bad recipient index or action");
		sr = &env->rcpts[r->index];
		for (j = 0; j < 2; j++) {
			const char *s = j == 0 ? sr->addr : sr->orcpt;

			if ((j == 0 && (s == NULL || s[0] == '\0')) ||
			    (s != NULL && strlen(s) > NAME_MAX_OCTETS))
				return bad(error_r, "bad recipient address");
		}
		if (!dsn_should_report(sr, r->action))
			continue;
		n++;
		if (r->action == DSN_ACTION_FAILED)
			*any_failed_r = true;
		if (r->action == DSN_ACTION_DELAYED)
			*any_delayed_r = true;
	}
	return n;
}

static bool contains(const struct sbuf *s, const char *needle)
{
	return memmem(sbuf_data(s), sbuf_len(s), needle, strlen(needle)) !=
	       NULL;
}

static void put_part(struct dsn_writer *w, const char *boundary,
                     const char *type, const char *desc,
                     const struct sbuf *body)
{
	bool eight = dsn_text_has_8bit(sbuf_data(body), sbuf_len(body));

	dsn_text_put(w,
	             "--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n",
	             boundary, desc, type);
	if (eight)
		dsn_text_put(w, "Content-Transfer-Encoding: 8bit\r\n");
	dsn_text_put(w, "\r\n");
	dsn_text_put_bytes(w, sbuf_data(body), sbuf_len(body));
	dsn_text_put(w, "\r\n");
}

int dsn_build(const struct dsn_input *in, struct sbuf *out,
              const char **error_r)
{
	const struct spoolrec *env = in->env;
	bool any_failed = false, any_delayed = false, full, global;
	size_t room = sbuf_limit(out) - sbuf_len(out);
	struct dsn_writer p1 = {sbuf_new(room), true},
	                  p2 = {sbuf_new(room), true};
	struct dsn_writer p3 = {sbuf_new(room), true},
	                  m = {sbuf_new(room), true};
	char boundary[80], date[64];
	const char *subject, *t1;
	unsigned k;
	int n, ret = -1;

	n = check_input(in, &any_failed, &any_delayed, error_r);
	if (n <= 0) {
		ret = n;
		goto done;
	}
	if (!dsn_text_fmt_date(in->now, date, sizeof(date))) {
		*error_r = "date out of range";
		goto done;
	}
	full = full_ok(in);
	global = env->smtputf8;
	put_human(&p1, in, any_failed, any_delayed, full, global);
	put_status(&p2, in, global);
	put_orig(&p3, in, !full,
	         env->body != SPOOLREC_BODY_7BIT || env->smtputf8);
	if (!p1.ok || !p2.ok || !p3.ok) {
		*error_r = "notice too large";
		goto done;
	}
	for (k = 0;; k++) {
		if (k == 100) {
			*error_r = "no usable MIME boundary";
			goto done;
		}
		snprintf(boundary, sizeof(boundary),
		         "=_dirmx_%016" PRIx64 "_%s",
		         mix64(in->boundary_seed + k), env->id);
		if (!contains(p1.s, boundary) && !contains(p2.s, boundary) &&
		    !contains(p3.s, boundary))
			break;
	}
	subject = any_failed    ? "Undelivered Mail Returned to Sender"
	          : any_delayed ? "Delayed Mail (still being retried)"
	                        : "Successful Mail Delivery Report";
	dsn_text_put(&m, "From: Mail Delivery System <%s>\r\n", in->postmaster);
	dsn_text_put_to(&m, env->mail_from, global);
	dsn_text_put(&m, "Subject: %s\r\nDate: %s\r\n", subject, date);
	dsn_text_put(&m, "Message-ID: <%s.%016" PRIx64 "@%s>\r\n", env->id,
	             mix64(~in->boundary_seed), in->reporting_mta);
	dsn_text_put(
	    &m,
	    "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;"
	    "\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n",
	    boundary);
	t1 = dsn_text_has_8bit(sbuf_data(p1.s), sbuf_len(p1.s))
	         ? "text/plain; charset=utf-8"
	         : "text/plain; charset=us-ascii";
	put_part(&m, boundary, t1, "Notification", p1.s);
	put_part(&m, boundary,
	         global ? "message/global-delivery-status"
	                : "message/delivery-status",
	         "Delivery report", p2.s);
	put_part(
	    &m, boundary,
	    full ? (global ? "message/global" : "message/rfc822")
	         : (global ? "message/global-headers" : "text/rfc822-headers"),
	    full ? "Undelivered Message" : "Undelivered Message Headers", p3.s);
	dsn_text_put(&m, "--%s--\r\n", boundary);
	if (!m.ok || !sbuf_append(out, sbuf_data(m.s), sbuf_len(m.s))) {
		*error_r = "notice too large";
		goto done;
	}
	ret = 1;
done:
	sbuf_deinit(&p1.s);
	sbuf_deinit(&p2.s);
	sbuf_deinit(&p3.s);
	sbuf_deinit(&m.s);
	return ret;
}

int dsn_envelope(const struct dsn_input *in, const char *id, const void *msg,
                 size_t msg_len, struct spoolrec **env_r, const char **error_r)
{
	const struct spoolrec *orig = in->env;
	struct spoolrec *e;
	struct spoolrec_rcpt *r;

	*env_r = NULL;
	if (orig == NULL || orig->mail_from == NULL ||
	    orig->mail_from[0] == '\0')
		return bad(error_r, "null sender: no bounce");
	if (id == NULL || strlen(id) != SPOOL_ID_LEN)
		return bad(error_r, "bad queue id");
	e = spoolrec_new();
	memcpy(e->id, id, SPOOL_ID_LEN + 1);
	e->arrival = in->now > 0 ? (uint64_t)in->now : 0;
	spoolrec_set(&e->client, "");
	spoolrec_set(&e->helo, in->reporting_mta);
	spoolrec_set(&e->auth_user, "");
	spoolrec_set(&e->mail_from, "");
	e->size = msg_len;
	e->body = dsn_text_has_8bit(msg, msg_len) ? SPOOLREC_BODY_8BITMIME
	                                          : SPOOLREC_BODY_7BIT;
	e->smtputf8 = orig->smtputf8;
	/* The notice's own header is ASCII (dsn_text_put_to) unless the
	 * sender's mailbox has no ASCII form, which only SMTPUTF8 reaches:
	 * a notice about a message that needed SMTPUTF8 must not need it
	 * itself, or it bounces at the very hop that bounced the original. */
	e->smtputf8_needed =
	    orig->smtputf8 && intl_addr_needs_utf8(orig->mail_from);
	e->ret = SPOOLREC_RET_NONE;
	spoolrec_set(&e->envid, "");
	r = spoolrec_add_rcpt(e, orig->mail_from, "");
	r->notify = SPOOLREC_NOTIFY_NEVER;
	spoolrec_set(&r->orcpt, "");
	spoolrec_set(&r->error, "");
	*env_r = e;
	return 0;
}
