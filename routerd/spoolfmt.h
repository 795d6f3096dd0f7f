/*
 * spoolfmt.h - every on-disk format of the spool, as one pure codec.
 *
 * No files, no clock, no logging: spool.c, spool_commit.c and
 * spool_journal.c read and write bytes and names, this module alone says
 * what they are. The envelope record inside is spoolrec.h's. spool.h has
 * the layout and the promise. These formats are frozen: a spool written
 * by an earlier routerd opens with this one, and this one writes the
 * same bytes (tests/integration/smtptest.py reads q/ files too).
 *
 * MESSAGE FILE q/<id>: a 32-byte header, the message data, the envelope.
 *     0  "DMX1"                magic
 *     4  u32 0                 flags, reserved
 *     8  u64 data_len          bytes of message data
 *     16 u32 env_len           bytes of envelope record
 *     20 u32 env_crc           CRC-32 of the envelope record
 *     24 u32 data_crc          CRC-32 of the message data
 *     28 u32 hdr_crc           CRC-32 of bytes 0..27
 *     32 data[data_len]        the message as received (after dot-unstuffing)
 *     32+data_len env[env_len] the envelope, a spoolrec record (spoolrec.h)
 * The file is exactly spoolfmt_msg_size() bytes long.
 *
 * STATE FILE q/<id>.state: a whole envelope record for the same id.
 * While written, it is tmp/<id>.state.<n>.
 *
 * JOURNAL SEGMENT journal/j<16 lowercase hex digits>: records, each a
 * 32-byte header and len bytes of payload.
 *     0  "DMXJ"
 *     4  u32 kind         1 commit (payload: the whole message file as in
 *                         q/, header first), 2 removal (no payload)
 *     8  u32 len          commit: 32..SPOOLFMT_IMAGE_MAX; removal: 0
 *     12 id[16]           the queue id
 *     28 u32 crc          CRC-32 of bytes 0..27
 * journal/x<the same digits> is a retired segment whose blocks are being
 * freed: no longer part of the log; an open removes it.
 *
 * CORRUPT FILE corrupt/<name>, or <name>.<n> (n from 1) when taken.
 *
 * All integers big-endian (buf.h), CRC-32 is spoolrec_crc32().
 *
 * Decoders take an explicit length, never read past it, and return -1
 * for every input an encoder would not have produced: a short or long
 * input, a wrong magic, checksum, flag, kind or id, a length out of
 * bounds. So whatever decodes encodes back to the same bytes. Encoders
 * refuse (-1) what a decoder would reject. Errors: *error_r is a static,
 * printable reason that never quotes the input.
 */
#ifndef DIRMX_SPOOLFMT_H
#define DIRMX_SPOOLFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool_id.h"
#include "spoolrec.h"

#define SPOOLFMT_MSG_HEADER_LEN 32
#define SPOOLFMT_REC_HEADER_LEN 32
/* Largest message data a header may announce (file offsets stay off_t). */
#define SPOOLFMT_DATA_MAX ((uint64_t)INT64_MAX / 2)
/* Largest message file a journal commit record carries. */
#define SPOOLFMT_IMAGE_MAX (1024 * 1024)
/* "<id>.state.<20 digits>" fits, with room. */
#define SPOOLFMT_NAME_MAX 64
#define SPOOLFMT_SEG_NAME_LEN 17 /* "j" + 16 hex digits */
#define SPOOLFMT_STATE_SUFFIX ".state"

/* ---- the message file ---- */

struct spoolfmt_msg_header {
	uint64_t data_len; /* at most SPOOLFMT_DATA_MAX */
	uint32_t env_len;  /* at most SPOOLREC_MAX_LEN */
	uint32_t env_crc;
	uint32_t data_crc;
};

int spoolfmt_msg_header_encode(const struct spoolfmt_msg_header *h,
                               unsigned char out[SPOOLFMT_MSG_HEADER_LEN],
                               const char **error_r);
/* Exactly SPOOLFMT_MSG_HEADER_LEN bytes. */
int spoolfmt_msg_header_decode(const void *data, size_t len,
                               struct spoolfmt_msg_header *h_r,
                               const char **error_r);
/* The size of the file h heads: header, data, envelope. */
uint64_t spoolfmt_msg_size(const struct spoolfmt_msg_header *h);
/* Where the envelope starts in the file. */
uint64_t spoolfmt_msg_env_offset(const struct spoolfmt_msg_header *h);
/*
 * The envelope of the file q/<id> headed by h: env_len bytes, their CRC,
 * a record that parses and names id. 0 and *env_r (the caller's), or -1.
 */
int spoolfmt_msg_envelope(const struct spoolfmt_msg_header *h, const void *env,
                          size_t len, const char *id, struct spoolrec **env_r,
                          const char **error_r);
/* The state file q/<id>.state: a record that parses and names id. */
int spoolfmt_state_decode(const void *data, size_t len, const char *id,
                          struct spoolrec **env_r, const char **error_r);

/* ---- the journal ---- */

enum spoolfmt_rec_kind {
	SPOOLFMT_REC_COMMIT = 1,
	SPOOLFMT_REC_REMOVE = 2,
};

struct spoolfmt_rec {
	enum spoolfmt_rec_kind kind;
	uint32_t len; /* payload bytes after the header */
	char id[SPOOL_ID_LEN + 1];
};

int spoolfmt_rec_encode(const struct spoolfmt_rec *rec,
                        unsigned char out[SPOOLFMT_REC_HEADER_LEN],
                        const char **error_r);
/* Exactly SPOOLFMT_REC_HEADER_LEN bytes; the payload is the caller's. */
int spoolfmt_rec_decode(const void *data, size_t len,
                        struct spoolfmt_rec *rec_r, const char **error_r);

/* ---- names ---- */

void spoolfmt_seg_name(uint64_t seq, char name_r[SPOOLFMT_SEG_NAME_LEN + 1]);
/* True for exactly the names spoolfmt_seg_name() makes. */
bool spoolfmt_seg_parse(const char *name, size_t len, uint64_t *seq_r);

enum spoolfmt_q_kind {
	SPOOLFMT_Q_OTHER = 0, /* no name the spool writes */
	SPOOLFMT_Q_MSG,       /* <id> */
	SPOOLFMT_Q_STATE,     /* <id>.state */
};
/* What the q/ entry name is; for MSG and STATE, id_r is its id. */
enum spoolfmt_q_kind spoolfmt_q_parse(const char *name, size_t len,
                                      char id_r[SPOOL_ID_LEN + 1]);
void spoolfmt_state_name(const char *id, char name_r[SPOOLFMT_NAME_MAX]);
void spoolfmt_state_tmp_name(const char *id, uint64_t seq,
                             char name_r[SPOOLFMT_NAME_MAX]);
/* n == 0: name itself; else "<name, cut at SPOOLFMT_NAME_MAX>.<n>".
 * Cut to fit size. */
void spoolfmt_corrupt_name(const char *name, unsigned n, char *name_r,
                           size_t size);

#endif
