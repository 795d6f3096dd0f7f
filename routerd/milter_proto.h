/*
 * milter_proto.h - the milter protocol (version 6, as Sendmail's libmilter
 * and Postfix's smtpd_milters speak it): encoding of the MTA's packets and
 * decoding of the filter's, with no I/O.
 *
 * Every packet on the wire is a 32-bit big-endian length, then one command
 * octet, then length - 1 octets of payload. Strings inside payloads are
 * NUL-terminated.
 *
 * Contract:
 *   - Pure: no sockets, no clock, no logging.
 *   - The encoders append one whole packet to out (an sbuf that the caller
 *     sized); false when out's limit would be passed (nothing useful was
 *     written then: the caller drops the conversation).
 *   - milter_proto_frame() is incremental: 1 a packet is complete (its
 *     payload points into data), 0 more octets are needed, -1 the length
 *     is zero or above max (the peer is not speaking milter).
 *   - milter_proto_reply() checks one reply packet strictly against its
 *     command's layout: every string NUL-terminated inside the payload, no
 *     octet left over, a REPLYCODE with a 4xx/5xx code. The strings in
 *     the result point into the payload (valid while it is).
 */
#ifndef DIRMX_MILTER_PROTO_H
#define DIRMX_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf;

#define MILTER_VERSION 6
/* The most any packet may carry, as libmilter allows it. */
#define MILTER_MAX_PACKET (1024u * 1024)
/* SMFIC_BODY chunks: libmilter's MILTER_CHUNK_SIZE. */
#define MILTER_CHUNK 65535u

/* The MTA's commands (SMFIC_*). */
enum milter_cmd {
	MILTER_CMD_ABORT = 'A',
	MILTER_CMD_BODY = 'B',
	MILTER_CMD_CONNECT = 'C',
	MILTER_CMD_MACRO = 'D',
	MILTER_CMD_EOB = 'E',
	MILTER_CMD_HELO = 'H',
	MILTER_CMD_HEADER = 'L',
	MILTER_CMD_MAIL = 'M',
	MILTER_CMD_EOH = 'N',
	MILTER_CMD_OPTNEG = 'O',
	MILTER_CMD_QUIT = 'Q',
	MILTER_CMD_RCPT = 'R',
	MILTER_CMD_DATA = 'T',
	MILTER_CMD_UNKNOWN = 'U',
};

/* The filter's replies (SMFIR_*). */
enum milter_reply_cmd {
	MILTER_R_ADDRCPT = '+',
	MILTER_R_DELRCPT = '-',
	MILTER_R_ADDRCPT_PAR = '2',
	MILTER_R_SHUTDOWN = '4',
	MILTER_R_ACCEPT = 'a',
	MILTER_R_REPLBODY = 'b',
	MILTER_R_CONTINUE = 'c',
	MILTER_R_DISCARD = 'd',
	MILTER_R_CHGFROM = 'e',
	MILTER_R_CONN_FAIL = 'f',
	MILTER_R_ADDHEADER = 'h',
	MILTER_R_INSHEADER = 'i',
	MILTER_R_CHGHEADER = 'm',
	MILTER_R_PROGRESS = 'p',
	MILTER_R_QUARANTINE = 'q',
	MILTER_R_REJECT = 'r',
	MILTER_R_SKIP = 's',
	MILTER_R_TEMPFAIL = 't',
	MILTER_R_REPLYCODE = 'y',
	MILTER_R_OPTNEG = 'O',
};

/* Actions a filter may take (SMFIF_*). */
#define MILTER_ACT_ADDHDRS 0x001u
#define MILTER_ACT_CHGBODY 0x002u
#define MILTER_ACT_ADDRCPT 0x004u
#define MILTER_ACT_DELRCPT 0x008u
#define MILTER_ACT_CHGHDRS 0x010u
#define MILTER_ACT_QUARANTINE 0x020u
#define MILTER_ACT_CHGFROM 0x040u
#define MILTER_ACT_ADDRCPT_PAR 0x080u
#define MILTER_ACT_SETSYMLIST 0x100u
/* What dirmx carries out. */
#define MILTER_ACT_ALL 0x1ffu

/* Protocol steps (SMFIP_*): NO* skip a step, NR* need no reply to it. */
#define MILTER_P_NOCONNECT 0x000001u
#define MILTER_P_NOHELO 0x000002u
#define MILTER_P_NOMAIL 0x000004u
#define MILTER_P_NORCPT 0x000008u
#define MILTER_P_NOBODY 0x000010u
#define MILTER_P_NOHDRS 0x000020u
#define MILTER_P_NOEOH 0x000040u
#define MILTER_P_NR_HDR 0x000080u
#define MILTER_P_NOUNKNOWN 0x000100u
#define MILTER_P_NODATA 0x000200u
#define MILTER_P_SKIP 0x000400u
#define MILTER_P_RCPT_REJ 0x000800u
#define MILTER_P_NR_CONN 0x001000u
#define MILTER_P_NR_HELO 0x002000u
#define MILTER_P_NR_MAIL 0x004000u
#define MILTER_P_NR_RCPT 0x008000u
#define MILTER_P_NR_DATA 0x010000u
#define MILTER_P_NR_UNKN 0x020000u
#define MILTER_P_NR_EOH 0x040000u
#define MILTER_P_NR_BODY 0x080000u
#define MILTER_P_HDR_LEADSPC 0x100000u
/* What dirmx offers: every step may be left out or left unanswered, and
 * header values may keep their leading space. RCPT_REJ is offered and
 * costs nothing: only accepted recipients ever reach a filter. */
#define MILTER_P_OFFER 0x1fffffu

/* Macro stages of SETSYMLIST (SMFIM_*). */
enum milter_stage {
	MILTER_STAGE_CONNECT = 0,
	MILTER_STAGE_HELO,
	MILTER_STAGE_MAIL,
	MILTER_STAGE_RCPT,
	MILTER_STAGE_DATA,
	MILTER_STAGE_EOM,
	MILTER_STAGE_EOH,
	MILTER_STAGE_COUNT,
};

/* --- encoding (MTA to filter) ------------------------------------------ */

/* A packet of cmd with len octets of payload. */
bool milter_proto_packet(struct sbuf *out, char cmd, const void *data,
                         size_t len);
bool milter_proto_optneg(struct sbuf *out, uint32_t version, uint32_t actions,
                         uint32_t protocol);
/* SMFIC_MACRO for the command cmd: n name/value pairs. */
bool milter_proto_macros(struct sbuf *out, char cmd, const char *const *names,
                         const char *const *values, size_t n);
/* SMFIC_CONNECT: family 'U' (unknown: no port, no address), '4', '6' or
 * 'L' (a UNIX socket, address is its path). */
bool milter_proto_connect(struct sbuf *out, const char *hostname, char family,
                          uint16_t port, const char *addr);
/* A packet whose payload is n NUL-terminated strings (HELO, MAIL, RCPT,
 * UNKNOWN, HEADER). */
bool milter_proto_strings(struct sbuf *out, char cmd, const char *const *strs,
                          size_t n);

/* --- decoding (filter to MTA) ------------------------------------------ */

int milter_proto_frame(const void *data, size_t len, size_t max, char *cmd_r,
                       const unsigned char **payload_r, size_t *plen_r,
                       size_t *consumed_r);

struct milter_reply {
	char cmd; /* enum milter_reply_cmd */
	/* OPTNEG, and the macros the filter wants at each stage (NULL:
	 * the MTA's choice), space-separated names */
	uint32_t version, actions, protocol;
	const char *symlists[MILTER_STAGE_COUNT];
	/* REPLYCODE: code, enhanced status ("" when none) and text */
	unsigned code;
	char enhanced[16];
	const char *text;
	size_t text_len; /* up to the first CR or LF */
	/* INSHEADER, CHGHEADER: index */
	uint32_t index;
	/* ADDHEADER, INSHEADER, CHGHEADER: name, value. ADDRCPT, DELRCPT,
	 * ADDRCPT_PAR, CHGFROM: name is the address, value its ESMTP
	 * arguments (NULL: none). QUARANTINE: name is the reason. */
	const char *name;
	const char *value;
	/* REPLBODY */
	const unsigned char *body;
	size_t body_len;
};

int milter_proto_reply(char cmd, const unsigned char *payload, size_t len,
                       struct milter_reply *r, const char **error_r);

#endif
