/*
 * milter_proto - encode the MTA's milter packets and check the filter's;
 * see milter_proto.h. Every octet from the filter is read through buf.h.
 */
#include "milter_proto.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "sbuf.h"

/* Write the 5-octet packet head for a payload of len octets. */
static bool put_head(struct sbuf *out, char cmd, size_t len)
{
	unsigned char head[5];

	if (len >= MILTER_MAX_PACKET)
		return false;
	buf_store_be32(head, (uint32_t)len + 1);
	head[4] = (unsigned char)cmd;
	return sbuf_append(out, head, sizeof(head));
}

bool milter_proto_packet(struct sbuf *out, char cmd, const void *data,
                         size_t len)
{
	return put_head(out, cmd, len) &&
	       (len == 0 || sbuf_append(out, data, len));
}

bool milter_proto_optneg(struct sbuf *out, uint32_t version, uint32_t actions,
                         uint32_t protocol)
{
	unsigned char p[12];

	buf_store_be32(p, version);
	buf_store_be32(p + 4, actions);
	buf_store_be32(p + 8, protocol);
	return milter_proto_packet(out, MILTER_CMD_OPTNEG, p, sizeof(p));
}

/* Append the strings with their NULs (a NULL string counts as ""). */
static bool put_strings(struct sbuf *out, const char *const *strs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = strs[i] != NULL ? strs[i] : "";

		if (!sbuf_append(out, s, strlen(s) + 1))
			return false;
	}
	return true;
}

static size_t strings_len(const char *const *strs, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += (strs[i] != NULL ? strlen(strs[i]) : 0) + 1;
	return len;
}

bool milter_proto_strings(struct sbuf *out, char cmd, const char *const *strs,
                          size_t n)
{
	return put_head(out, cmd, strings_len(strs, n)) &&
	       put_strings(out, strs, n);
}

bool milter_proto_macros(struct sbuf *out, char cmd, const char *const *names,
                         const char *const *values, size_t n)
{
	size_t len = 1 + strings_len(names, n) + strings_len(values, n);
	unsigned char c = (unsigned char)cmd;

	if (!put_head(out, MILTER_CMD_MACRO, len) || !sbuf_append(out, &c, 1))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!put_strings(out, &names[i], 1) ||
		    !put_strings(out, &values[i], 1))
			return false;
	return true;
}

bool milter_proto_connect(struct sbuf *out, const char *hostname, char family,
                          uint16_t port, const char *addr)
{
	size_t len = strlen(hostname) + 1 + 1;
	unsigned char f = (unsigned char)family, pb[2];

	if (family != 'U')
		len += 2 + strlen(addr) + 1;
	if (!put_head(out, MILTER_CMD_CONNECT, len) ||
	    !put_strings(out, &hostname, 1) || !sbuf_append(out, &f, 1))
		return false;
	if (family == 'U')
		return true;
	pb[0] = (unsigned char)(port >> 8);
	pb[1] = (unsigned char)port;
	return sbuf_append(out, pb, 2) && put_strings(out, &addr, 1);
}

int milter_proto_frame(const void *data, size_t len, size_t max, char *cmd_r,
                       const unsigned char **payload_r, size_t *plen_r,
                       size_t *consumed_r)
{
	struct buf b;
	uint32_t n;
	uint8_t cmd;

	buf_init(&b, data, len);
	if (!buf_fetch_be32(&b, &n))
		return 0;
	if (n == 0 || n > max)
		return -1;
	if (buf_remaining(&b) < n)
		return 0;
	(void)buf_fetch_u8(&b, &cmd);
	*cmd_r = (char)cmd;
	*payload_r = buf_peek(&b);
	*plen_r = n - 1;
	*consumed_r = 4 + (size_t)n;
	return 1;
}

/* A NUL-terminated string at the cursor; false without its NUL. */
static bool fetch_string(struct buf *b, const char **s_r)
{
	const unsigned char *p = buf_peek(b);
	const unsigned char *nul = memchr(p, '\0', buf_remaining(b));

	if (nul == NULL)
		return false;
	*s_r = (const char *)p;
	return buf_skip(b, (size_t)(nul - p) + 1);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "5xx x.y.z text" (RFC 3463 enhanced status optional), or several
 * lines of it joined by CRLF as smfi_setmlreply() sends them. */
static int parse_replycode(struct milter_reply *r, const char **error_r)
{
	const char *t = r->name;
	size_t i = 0, dots = 0;

	if (strlen(t) < 3 || !is_digit(t[0]) || !is_digit(t[1]) ||
	    !is_digit(t[2]) || (t[0] != '4' && t[0] != '5') ||
	    (t[3] != '\0' && t[3] != ' ' && t[3] != '-')) {
		*error_r = "REPLYCODE without a 4xx or 5xx code";
		return -1;
	}
	r->code =
	    (unsigned)((t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0'));
	t += t[3] == '\0' ? 3 : 4;
	/* An enhanced status of the same class, then a space or the end. */
	if (t[0] == r->name[0] && t[1] == '.' && is_digit(t[2])) {
		for (i = 2; i < 12 && (is_digit(t[i]) || t[i] == '.'); i++)
			if (t[i] == '.')
				dots++;
		if (dots == 1 && (t[i] == ' ' || t[i] == '\0') &&
		    t[i - 1] != '.') {
			memcpy(r->enhanced, t, i);
			r->enhanced[i] = '\0';
			t += t[i] == ' ' ? i + 1 : i;
		}
	}
	r->text = t;
	/* Only the first line: a multi-line reply (smfi_setmlreply) is
	 * cut there, and no CR or LF ever reaches the SMTP client. */
	r->text_len = strcspn(t, "\r\n");
	return 0;
}

static int bad(const char **error_r, const char *why)
{
	*error_r = why;
	return -1;
}

int milter_proto_reply(char cmd, const unsigned char *payload, size_t len,
                       struct milter_reply *r, const char **error_r)
{
	struct buf b;

	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	buf_init(&b, payload, len);
	switch (cmd) {
	case MILTER_R_OPTNEG:
		if (!buf_fetch_be32(&b, &r->version) ||
		    !buf_fetch_be32(&b, &r->actions) ||
		    !buf_fetch_be32(&b, &r->protocol))
			return bad(error_r, "OPTNEG too short");
		/* Then (version 6) the macro lists a filter set with
		 * smfi_setsymlist(): stage, names. */
		while (buf_remaining(&b) > 0) {
			uint32_t stage;
			const char *list;

			if (!buf_fetch_be32(&b, &stage) ||
			    stage >= MILTER_STAGE_COUNT ||
			    !fetch_string(&b, &list))
				return bad(error_r, "bad macro list in OPTNEG");
			r->symlists[stage] = list;
		}
		return 0;
	case MILTER_R_ACCEPT:
	case MILTER_R_CONTINUE:
	case MILTER_R_DISCARD:
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_SKIP:
	case MILTER_R_PROGRESS:
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
		break;
	case MILTER_R_REPLYCODE:
		if (!fetch_string(&b, &r->name))
			return bad(error_r, "REPLYCODE not terminated");
		if (parse_replycode(r, error_r) < 0)
			return -1;
		break;
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		if (!buf_fetch_be32(&b, &r->index))
			return bad(error_r, "header index missing");
		/* fall through */
	case MILTER_R_ADDHEADER:
		if (!fetch_string(&b, &r->name) || !fetch_string(&b, &r->value))
			return bad(error_r, "header not terminated");
		if (r->name[0] == '\0' || strpbrk(r->name, ": \t\r\n") != NULL)
			return bad(error_r, "bad header name");
		break;
	case MILTER_R_ADDRCPT:
	case MILTER_R_DELRCPT:
		if (!fetch_string(&b, &r->name))
			return bad(error_r, "address not terminated");
		break;
	case MILTER_R_ADDRCPT_PAR:
	case MILTER_R_CHGFROM:
		if (!fetch_string(&b, &r->name))
			return bad(error_r, "address not terminated");
		if (buf_remaining(&b) > 0 && !fetch_string(&b, &r->value))
			return bad(error_r, "arguments not terminated");
		break;
	case MILTER_R_QUARANTINE:
		if (!fetch_string(&b, &r->name))
			return bad(error_r, "reason not terminated");
		break;
	case MILTER_R_REPLBODY:
		r->body = buf_peek(&b);
		r->body_len = buf_remaining(&b);
		return 0;
	default:
		return bad(error_r, "unknown reply");
	}
	if (buf_remaining(&b) != 0)
		return bad(error_r, "octets after the reply");
	return 0;
}
