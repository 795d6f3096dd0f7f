/*
 * smtpc_txn - one mail transaction on an established smtpc connection:
 * MAIL, RCPT, then DATA or BDAT.
 *
 *	smtpc_txn_start(conn)	local checks, then MAIL FROM (+ RCPTs)
 *	smtpc_txn_reply(conn)	a reply in ENVELOPE, DATA_*, BDAT states
 *	smtpc_txn_pump(conn)	more of the message after IO_LOWAT
 *
 * Local checks first: a message that needs SMTPUTF8 to a server without
 * it, or one larger than the server's SIZE, is bounced for every
 * recipient without a MAIL command. With PIPELINING, MAIL, every RCPT
 * and (without CHUNKING) DATA go out in one write, as RFC 2920 allows DATA
 * last in a group, and the replies are matched in order; without it one
 * command per reply. The message is sent only when at least one RCPT
 * got 2xx and DATA got 354; a 354 after every RCPT failed closes the
 * connection (the data cannot be refused any more). With CHUNKING the
 * message goes as BDAT chunks (no dot-stuffing), else with
 * DATA, dot-stuffed on the fly while being read with pread() in blocks
 * (flow control: the next block is queued when the io's output drained),
 * or from memory when the job holds the data there (no read at all).
 * Either way lines longer than settings.line_length_limit (998) are
 * folded with CR LF SP on the way (linefold.h), as Postfix does: routerd
 * accepts longer lines than it may send.
 * Either way the message ends with CRLF, added when the data lacks it.
 * The verdict of DATA's end (or the last BDAT) applies to every accepted
 * recipient.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "io.h"
#include "linefold.h"
#include "sbuf.h"
#include "smtpc_private.h"
#include "str.h"

#define SMTPC_BLOCK (64u * 1024)
#define SMTPC_CHUNK (256u * 1024)

static void decide_by_reply(struct smtpc_conn *conn, struct smtpc_rcpt *r)
{
	smtpc_rcpt_decide_reply(r, &conn->reply);
}

/* Every accepted recipient gets the reply's verdict; then done. */
static bool finish_by_reply(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	size_t i;

	for (i = 0; i < req->n_rcpts; i++) {
		if (req->rcpts[i].accepted && !req->rcpts[i].decided)
			decide_by_reply(conn, &req->rcpts[i]);
	}
	smtpc_conn_done(conn, conn->reply.code / 100 != 2);
	return true;
}

static bool bounce_all(struct smtpc_conn *conn, const char *status,
                       const char *why)
{
	struct smtpc_req *req = conn->req;
	size_t i;

	for (i = 0; i < req->n_rcpts; i++)
		smtpc_rcpt_decide(&req->rcpts[i], status, why);
	smtpc_conn_done(conn, false);
	return true;
}

static void put_mail(struct smtpc_conn *conn, struct sbuf *out)
{
	struct smtpc_req *req = conn->req;

	sbuf_printf(out, "MAIL FROM:<%s>", req->mail_from);
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_SIZE))
		sbuf_printf(out, " SIZE=%llu", (unsigned long long)req->size);
	if (req->eightbit && smtpc_conn_has(conn, SMTPREPLY_CAP_8BITMIME))
		sbuf_append_str(out, " BODY=8BITMIME");
	if (req->need_smtputf8)
		sbuf_append_str(out, " SMTPUTF8");
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_DSN) && req->ret != 0)
		sbuf_append_str(out, req->ret == 1 ? " RET=FULL" : " RET=HDRS");
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_DSN) && req->envid != NULL) {
		sbuf_append_str(out, " ENVID=");
		smtpc_xtext(out, req->envid, false);
	}
	sbuf_append_str(out, "\r\n");
}

static void put_notify(struct sbuf *out, unsigned notify)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{0x1u, "SUCCESS"}, {0x2u, "FAILURE"}, {0x4u, "DELAY"}};
	const char *sep = " NOTIFY=";
	size_t i;

	if (notify & 0x8u) {
		sbuf_append_str(out, " NOTIFY=NEVER");
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (notify & names[i].bit) {
			sbuf_printf(out, "%s%s", sep, names[i].name);
			sep = ",";
		}
	}
}

static void put_rcpt(struct smtpc_conn *conn, struct sbuf *out, size_t i)
{
	const struct smtpc_rcpt *r = &conn->req->rcpts[i];

	sbuf_printf(out, "RCPT TO:<%s>", r->addr);
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_DSN) && r->notify != 0)
		put_notify(out, r->notify);
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_DSN) && r->orcpt != NULL) {
		const char *semi = strchr(r->orcpt, ';');

		if (semi != NULL) {
			size_t tl = (size_t)(semi - r->orcpt);
			bool utf8 = str_eq_case(r->orcpt, tl, "utf-8", 5);

			/* utf-8 ORCPT only where SMTPUTF8 is used. */
			if (!utf8 || conn->req->need_smtputf8) {
				sbuf_printf(out, " ORCPT=%.*s;", (int)tl,
				            r->orcpt);
				smtpc_xtext(out, semi + 1, utf8);
			}
		}
	}
	sbuf_append_str(out, "\r\n");
}

static void send_buf(struct smtpc_conn *conn, struct sbuf *out)
{
	io_write(conn->io, sbuf_data(out), sbuf_len(out));
	sbuf_reset(out);
}

static bool set_trailer(struct smtpc_conn *conn);
static bool read_fail(struct smtpc_conn *conn, int err);

bool smtpc_txn_start(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	const struct smtpc_settings *set = smtpc_settings(conn->c);
	struct sbuf *out;
	char why[512];
	size_t i;

	if (req->need_smtputf8 &&
	    !smtpc_conn_has(conn, SMTPREPLY_CAP_SMTPUTF8)) {
		snprintf(why, sizeof(why), "SMTPUTF8 not supported by %s",
		         conn->host);
		return bounce_all(conn, "5.6.7", why);
	}
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_SIZE) && conn->caps.size > 0 &&
	    req->size > conn->caps.size) {
		snprintf(why, sizeof(why),
		         "message size %llu exceeds the limit %llu of %s",
		         (unsigned long long)req->size,
		         (unsigned long long)conn->caps.size, conn->host);
		return bounce_all(conn, "5.3.4", why);
	}
	out = sbuf_new(SIZE_MAX);
	conn->state = SMTPC_S_ENVELOPE;
	conn->sent = conn->answered = conn->accepted = 0;
	conn->mail_ok = false;
	conn->data_pipelined = smtpc_conn_has(conn, SMTPREPLY_CAP_PIPELINING) &&
	                       !smtpc_conn_has(conn, SMTPREPLY_CAP_CHUNKING);
	for (i = 0; i < req->n_rcpts; i++) {
		req->rcpts[i].decided = req->rcpts[i].accepted = false;
	}
	if (conn->data_pipelined && !set_trailer(conn)) {
		sbuf_deinit(&out);
		return read_fail(conn, errno);
	}
	put_mail(conn, out);
	conn->sent = 1;
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_PIPELINING)) {
		for (i = 0; i < req->n_rcpts; i++)
			put_rcpt(conn, out, i);
		conn->sent += req->n_rcpts;
	}
	if (conn->data_pipelined) {
		sbuf_append_str(out, "DATA\r\n");
		conn->sent++;
	}
	send_buf(conn, out);
	sbuf_deinit(&out);
	io_set_timeout(conn->io, set->mail_ms);
	return true;
}

/* Lines longer than RFC 5321 allows are folded (linefold.h) unless the
 * settings say otherwise (0: never fold). */
static size_t set_line_max(const struct smtpc_conn *conn)
{
	return smtpc_settings(conn->c)->line_length_limit;
}

/*
 * n octets of the data from pos (pos + n <= data_len): in place when the
 * job gave them in memory, else read into block. NULL when the read
 * fails, with errno (0: the file is too short).
 */
static const unsigned char *data_at(const struct smtpc_req *req,
                                    unsigned char *block, size_t n,
                                    uint64_t pos)
{
	if (req->data_mem != NULL)
		return req->data_mem + pos;
	errno = 0;
	for (size_t done = 0; done < n;) {
		ssize_t got = pread(req->data_fd, block + done, n - done,
		                    (off_t)(req->data_offset + pos + done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return NULL;
		done += (size_t)got;
	}
	return block;
}

/* The last byte of the data decides the CRLF that may have to follow. */
static bool set_trailer(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	unsigned char one;
	const unsigned char *p;
	char last = '\n';

	if (req->data_len > 0) {
		p = data_at(req, &one, 1, req->data_len - 1);
		if (p == NULL)
			return false;
		last = (char)*p;
	}
	snprintf(conn->trailer, sizeof(conn->trailer), "%s",
	         last == '\n'   ? ""
	         : last == '\r' ? "\n"
	                        : "\r\n");
	conn->pos = 0;
	conn->total = req->data_len + strlen(conn->trailer);
	linefold_init(&conn->fold, set_line_max(conn),
	              !smtpc_conn_has(conn, SMTPREPLY_CAP_CHUNKING));
	return true;
}

static bool read_fail(struct smtpc_conn *conn, int err)
{
	char why[256];

	snprintf(why, sizeof(why), "cannot read the message: %s",
	         err != 0 ? strerror(err) : "file too short");
	smtpc_conn_fail(conn, "4.3.0", why);
	return false;
}

/* One BDAT chunk (folded, not stuffed): the command and its bytes in
 * one write. */
static bool send_chunk(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	const struct smtpc_settings *set = smtpc_settings(conn->c);
	uint64_t left = req->data_len - conn->pos;
	size_t n = left < SMTPC_CHUNK ? (size_t)left : SMTPC_CHUNK;
	unsigned char *block =
	    req->data_mem != NULL ? NULL : alloc_resize(NULL, n + 1, 1);
	struct sbuf *out = sbuf_new(SIZE_MAX);
	const unsigned char *p = data_at(req, block, n, conn->pos);

	if (p == NULL) {
		free(block);
		sbuf_deinit(&out);
		return read_fail(conn, errno);
	}
	linefold_feed(&conn->fold, p, n, out);
	free(block);
	conn->pos += n;
	conn->last_chunk = conn->pos == req->data_len;
	if (conn->last_chunk)
		sbuf_append_str(out, conn->trailer);
	io_printf(conn->io, "BDAT %zu%s\r\n", sbuf_len(out),
	          conn->last_chunk ? " LAST" : "");
	io_write(conn->io, sbuf_data(out), sbuf_len(out));
	sbuf_deinit(&out);
	conn->state = SMTPC_S_BDAT;
	io_set_timeout(conn->io, conn->last_chunk ? set->data_done_ms
	                                          : set->data_block_ms);
	return true;
}

/* Queue dot-stuffed, folded blocks until about SMTPC_CHUNK bytes wait. */
bool smtpc_txn_pump(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	const struct smtpc_settings *set = smtpc_settings(conn->c);
	unsigned char block[SMTPC_BLOCK];
	struct sbuf *out = sbuf_new(SIZE_MAX);

	while (io_queued(conn->io) < SMTPC_CHUNK && conn->pos < req->data_len) {
		uint64_t left = req->data_len - conn->pos;
		size_t n = left < sizeof(block) ? (size_t)left : sizeof(block);
		const unsigned char *p = data_at(req, block, n, conn->pos);

		if (p == NULL) {
			sbuf_deinit(&out);
			return read_fail(conn, errno);
		}
		linefold_feed(&conn->fold, p, n, out);
		io_write(conn->io, sbuf_data(out), sbuf_len(out));
		sbuf_reset(out);
		conn->pos += n;
	}
	sbuf_deinit(&out);
	if (conn->pos < req->data_len)
		return true;
	io_printf(conn->io, "%s.\r\n", conn->trailer);
	conn->state = SMTPC_S_DATA_DONE;
	io_set_timeout(conn->io, set->data_done_ms);
	return true;
}

static bool start_data(struct smtpc_conn *conn)
{
	const struct smtpc_settings *set = smtpc_settings(conn->c);

	if (!set_trailer(conn))
		return read_fail(conn, errno);
	if (smtpc_conn_has(conn, SMTPREPLY_CAP_CHUNKING))
		return send_chunk(conn);
	io_write(conn->io, "DATA\r\n", 6);
	conn->state = SMTPC_S_DATA_INIT;
	io_set_timeout(conn->io, set->data_init_ms);
	return true;
}

/* The reply to DATA: 354 sends the message, anything else is the verdict
 * for every accepted recipient. */
static bool data_init_reply(struct smtpc_conn *conn)
{
	if (conn->reply.code != 354)
		return finish_by_reply(conn);
	conn->state = SMTPC_S_DATA_SEND;
	io_set_timeout(conn->io, smtpc_settings(conn->c)->data_block_ms);
	return smtpc_txn_pump(conn);
}

/* The reply to a pipelined DATA, every RCPT answered. */
static bool pipelined_data_reply(struct smtpc_conn *conn)
{
	if (conn->accepted > 0)
		return data_init_reply(conn);
	if (conn->reply.code == 354) {
		/* Every recipient has its verdict; the server waits for data
		 * nobody may send: only closing ends that. */
		smtpc_conn_fail(conn, "4.5.0",
		                "354 to DATA with no recipient accepted");
		return false;
	}
	smtpc_conn_done(conn, true);
	return true;
}

static bool envelope_reply(struct smtpc_conn *conn)
{
	struct smtpc_req *req = conn->req;
	size_t idx = conn->answered++, expect, i;
	bool ok = conn->reply.code / 100 == 2;

	if (conn->data_pipelined && idx == 1 + req->n_rcpts)
		return pipelined_data_reply(conn);
	if (idx == 0) {
		conn->mail_ok = ok;
		if (!ok) {
			for (i = 0; i < req->n_rcpts; i++)
				decide_by_reply(conn, &req->rcpts[i]);
		}
		io_set_timeout(conn->io, smtpc_settings(conn->c)->rcpt_ms);
	} else if (conn->mail_ok) {
		struct smtpc_rcpt *r = &req->rcpts[idx - 1];

		if (ok) {
			r->accepted = true;
			conn->accepted++;
		} else {
			decide_by_reply(conn, r);
		}
	}
	/* With PIPELINING everything was sent; else the next RCPT. */
	expect = conn->mail_ok || smtpc_conn_has(conn, SMTPREPLY_CAP_PIPELINING)
	             ? 1 + req->n_rcpts
	             : 1;
	if (conn->answered == conn->sent && conn->sent < expect) {
		struct sbuf *out = sbuf_new(SIZE_MAX);

		put_rcpt(conn, out, conn->sent - 1);
		conn->sent++;
		send_buf(conn, out);
		sbuf_deinit(&out);
		return true;
	}
	if (conn->answered < expect)
		return true;
	if (conn->data_pipelined) {
		/* DATA's reply is next. */
		io_set_timeout(conn->io, smtpc_settings(conn->c)->data_init_ms);
		return true;
	}
	if (conn->accepted == 0) {
		smtpc_conn_done(conn, true);
		return true;
	}
	return start_data(conn);
}

bool smtpc_txn_reply(struct smtpc_conn *conn)
{
	unsigned cls = smtpreply_status_class(conn->reply.code);

	switch (conn->state) {
	case SMTPC_S_ENVELOPE:
		return envelope_reply(conn);
	case SMTPC_S_DATA_INIT:
		return data_init_reply(conn);
	case SMTPC_S_BDAT:
		if (cls != 2 || conn->last_chunk)
			return finish_by_reply(conn);
		return send_chunk(conn);
	case SMTPC_S_DATA_DONE:
		return finish_by_reply(conn);
	default: {
		/* A reply nobody asked for (while sending the data, say). */
		char *text = smtpc_conn_reply_text(conn);
		char why[512];

		snprintf(why, sizeof(why), "unexpected reply from %s: %.200s",
		         conn->host, text);
		free(text);
		smtpc_conn_fail(conn, "4.5.0", why);
		return false;
	}
	}
}
