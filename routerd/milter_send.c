/*
 * milter_send - the packets of each step of a filter's conversation: the
 * step's macros (Postfix's default lists, or the filter's own from its
 * negotiation), then the step itself; see milter_private.h.
 */
#include "milter_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "alloc.h"
#include "sbuf.h"

#define MAX_MACROS 32

const char *const milter_step_names[] = {
    "connect", "helo",   "mail", "rcpt", "unknown",
    "data",    "header", "eoh",  "body", "eom",
};

static const char *const default_macros[MILTER_STAGE_COUNT] = {
    [MILTER_STAGE_CONNECT] = "j {daemon_name} {daemon_addr} v _ "
                             "{client_addr} {client_name} {client_port}",
    [MILTER_STAGE_HELO] = "{tls_version} {cipher} {cipher_bits} "
                          "{cert_subject} {cert_issuer}",
    [MILTER_STAGE_MAIL] = "i {auth_type} {auth_authen} {auth_author} "
                          "{mail_addr} {mail_host} {mail_mailer}",
    [MILTER_STAGE_RCPT] = "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
    [MILTER_STAGE_DATA] = "i",
    [MILTER_STAGE_EOM] = "i",
    [MILTER_STAGE_EOH] = "i",
};

void milter_send_flush(struct milter_conv *c)
{
	bufferevent_write(c->bev, sbuf_data(c->out), sbuf_len(c->out));
	sbuf_reset(c->out);
}

static const char *macro_value(struct milter_conv *c, const char *name)
{
	if (strcmp(name, "{rcpt_addr}") == 0)
		return c->step == S_RCPT ? c->arg : NULL;
	if (strcmp(name, "{mail_addr}") == 0)
		return c->mail_addr;
	return c->cb.macro(c->cb.ctx, name);
}

/* The macros of stage, before the packet cmd. */
static void send_macros(struct milter_conv *c, char cmd, enum milter_stage st)
{
	const char *list =
	    c->symlists[st] != NULL ? c->symlists[st] : default_macros[st];
	const char *names[MAX_MACROS], *values[MAX_MACROS];
	char name[MAX_MACROS][64];
	size_t n = 0;

	/* The list may be the filter's (smfi_setsymlist): bounded, and
	 * names too long for any macro are left out. */
	for (const char *p = list; *p != '\0' && n < MAX_MACROS;) {
		size_t len;
		const char *v;

		p += strspn(p, " ,");
		len = strcspn(p, " ,");
		if (len == 0)
			break;
		if (len < sizeof(name[0])) {
			memcpy(name[n], p, len);
			name[n][len] = '\0';
			v = macro_value(c, name[n]);
			if (v != NULL) {
				names[n] = name[n];
				values[n++] = v;
			}
		}
		p += len;
	}
	if (n > 0)
		(void)milter_proto_macros(c->out, cmd, names, values, n);
}

/* The field's value as this filter wants it. */
static const char *field_value(const struct milter_conv *c, const char *v)
{
	if (c->protocol & MILTER_P_HDR_LEADSPC)
		return v;
	while (*v == ' ' || *v == '\t')
		v++;
	return v;
}

/* An envelope address between angle brackets. */
static void send_addr(struct milter_conv *c, char cmd, const char *a)
{
	char *s = alloc_printf("<%s>", a);
	const char *strs[1] = {s};

	(void)milter_proto_strings(c->out, cmd, strs, 1);
	free(s);
}

bool milter_send_envelope(struct milter_conv *c, uint32_t *nr_r)
{
	uint32_t p = c->protocol;
	const char *strs[1] = {c->arg};

	switch (c->step) {
	case S_CONNECT:
		if (p & MILTER_P_NOCONNECT)
			return false;
		send_macros(c, MILTER_CMD_CONNECT, MILTER_STAGE_CONNECT);
		(void)milter_proto_connect(c->out, c->arg,
		                           c->client_addr == NULL ? 'U'
		                           : strchr(c->client_addr, ':') != NULL
		                               ? '6'
		                               : '4',
		                           c->client_port, c->client_addr);
		*nr_r = MILTER_P_NR_CONN;
		return true;
	case S_HELO:
		if (p & MILTER_P_NOHELO)
			return false;
		send_macros(c, MILTER_CMD_HELO, MILTER_STAGE_HELO);
		(void)milter_proto_strings(c->out, MILTER_CMD_HELO, strs, 1);
		*nr_r = MILTER_P_NR_HELO;
		return true;
	case S_MAIL:
		if (p & MILTER_P_NOMAIL)
			return false;
		send_macros(c, MILTER_CMD_MAIL, MILTER_STAGE_MAIL);
		send_addr(c, MILTER_CMD_MAIL, c->mail_addr);
		*nr_r = MILTER_P_NR_MAIL;
		return true;
	case S_RCPT:
		if (p & MILTER_P_NORCPT)
			return false;
		send_macros(c, MILTER_CMD_RCPT, MILTER_STAGE_RCPT);
		send_addr(c, MILTER_CMD_RCPT, c->arg);
		*nr_r = MILTER_P_NR_RCPT;
		return true;
	case S_UNKNOWN:
		if (p & MILTER_P_NOUNKNOWN)
			return false;
		(void)milter_proto_strings(c->out, MILTER_CMD_UNKNOWN, strs, 1);
		*nr_r = MILTER_P_NR_UNKN;
		return true;
	default:
		break;
	}
	return false;
}

bool milter_send_content(struct milter_conv *c, uint32_t *nr_r,
                         const char **error_r)
{
	const struct milter_content *m = &c->content;
	uint32_t p = c->protocol;
	const char *strs[2];
	size_t n;

	switch (c->step) {
	case S_DATA:
		if (p & MILTER_P_NODATA)
			return false;
		send_macros(c, MILTER_CMD_DATA, MILTER_STAGE_DATA);
		(void)milter_proto_packet(c->out, MILTER_CMD_DATA, NULL, 0);
		*nr_r = MILTER_P_NR_DATA;
		return true;
	case S_HEADER:
		if ((p & MILTER_P_NOHDRS) || c->idx >= m->n_fields)
			return false;
		strs[0] = m->fields[c->idx].name;
		strs[1] = field_value(c, m->fields[c->idx].value);
		(void)milter_proto_strings(c->out, MILTER_CMD_HEADER, strs, 2);
		*nr_r = MILTER_P_NR_HDR;
		return true;
	case S_EOH:
		if (p & MILTER_P_NOEOH)
			return false;
		send_macros(c, MILTER_CMD_EOH, MILTER_STAGE_EOH);
		(void)milter_proto_packet(c->out, MILTER_CMD_EOH, NULL, 0);
		*nr_r = MILTER_P_NR_EOH;
		return true;
	case S_BODY:
		if ((p & MILTER_P_NOBODY) || c->body_off >= m->body_len)
			return false;
		n = m->body_len - c->body_off < MILTER_CHUNK
		        ? (size_t)(m->body_len - c->body_off)
		        : MILTER_CHUNK;
		if (m->read_body(m->ctx, c->body_off, c->chunk, n, &n) < 0 ||
		    n == 0) {
			*error_r = "cannot read the message body";
			return false;
		}
		c->body_off += n;
		(void)milter_proto_packet(c->out, MILTER_CMD_BODY, c->chunk, n);
		*nr_r = MILTER_P_NR_BODY;
		return true;
	default:
		send_macros(c, MILTER_CMD_EOB, MILTER_STAGE_EOM);
		(void)milter_proto_packet(c->out, MILTER_CMD_EOB, NULL, 0);
		*nr_r = 0;
		return true;
	}
}
