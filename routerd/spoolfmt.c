/*
 * spoolfmt - encode and decode the spool's on-disk headers and names;
 * see spoolfmt.h.
 *
 * Every read of a header goes through struct buf, every number is written
 * by buf_store_be*: the two directions cannot disagree about byte order.
 * A decoder checks what it can in the order that gives the most useful
 * reason (length, magic, checksum, then the fields), and accepts only what
 * the encoder writes, so that the fuzz target can demand that whatever
 * decodes re-encodes to the same bytes.
 */
#include "spoolfmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

#define MSG_MAGIC "DMX1"
#define REC_MAGIC "DMXJ"

static int fail(const char **error_r, const char *why)
{
	*error_r = why;
	return -1;
}

/* ---- the message file ---- */

int spoolfmt_msg_header_encode(const struct spoolfmt_msg_header *h,
                               unsigned char out[SPOOLFMT_MSG_HEADER_LEN],
                               const char **error_r)
{
	if (h->data_len > SPOOLFMT_DATA_MAX || h->env_len > SPOOLREC_MAX_LEN)
		return fail(error_r, "message too large for the spool");
	memcpy(out, MSG_MAGIC, 4);
	buf_store_be32(out + 4, 0);
	buf_store_be64(out + 8, h->data_len);
	buf_store_be32(out + 16, h->env_len);
	buf_store_be32(out + 20, h->env_crc);
	buf_store_be32(out + 24, h->data_crc);
	buf_store_be32(out + 28, spoolrec_crc32(0, out, 28));
	return 0;
}

int spoolfmt_msg_header_decode(const void *data, size_t len,
                               struct spoolfmt_msg_header *h_r,
                               const char **error_r)
{
	unsigned char magic[4];
	uint32_t flags, crc;
	struct buf b;

	if (len < SPOOLFMT_MSG_HEADER_LEN)
		return fail(error_r, "short header");
	if (len > SPOOLFMT_MSG_HEADER_LEN)
		return fail(error_r, "header too long");
	buf_init(&b, data, len);
	if (!buf_fetch_bytes(&b, magic, 4) || memcmp(magic, MSG_MAGIC, 4) != 0)
		return fail(error_r, "bad magic");
	if (!buf_fetch_be32(&b, &flags) ||
	    !buf_fetch_be64(&b, &h_r->data_len) ||
	    !buf_fetch_be32(&b, &h_r->env_len) ||
	    !buf_fetch_be32(&b, &h_r->env_crc) ||
	    !buf_fetch_be32(&b, &h_r->data_crc) || !buf_fetch_be32(&b, &crc))
		return fail(error_r, "short header");
	if (crc != spoolrec_crc32(0, data, SPOOLFMT_MSG_HEADER_LEN - 4))
		return fail(error_r, "header checksum mismatch");
	if (flags != 0)
		return fail(error_r, "unknown header flags");
	/* No file that size can exist: it cannot match. */
	if (h_r->env_len > SPOOLREC_MAX_LEN ||
	    h_r->data_len > SPOOLFMT_DATA_MAX)
		return fail(error_r, "file size does not match header");
	return 0;
}

uint64_t spoolfmt_msg_env_offset(const struct spoolfmt_msg_header *h)
{
	return SPOOLFMT_MSG_HEADER_LEN + h->data_len;
}

uint64_t spoolfmt_msg_size(const struct spoolfmt_msg_header *h)
{
	/* Both bounded by the decoder: no overflow. */
	return spoolfmt_msg_env_offset(h) + h->env_len;
}

int spoolfmt_msg_envelope(const struct spoolfmt_msg_header *h, const void *env,
                          size_t len, const char *id, struct spoolrec **env_r,
                          const char **error_r)
{
	*env_r = NULL;
	if (len != h->env_len)
		return fail(error_r, "short envelope");
	if (spoolrec_crc32(0, env, len) != h->env_crc)
		return fail(error_r, "envelope checksum mismatch");
	if (spoolrec_parse(env, len, env_r, error_r) < 0)
		return -1;
	if (strcmp((*env_r)->id, id) != 0) {
		spoolrec_deinit(env_r);
		return fail(error_r, "envelope id is not the file name");
	}
	return 0;
}

int spoolfmt_state_decode(const void *data, size_t len, const char *id,
                          struct spoolrec **env_r, const char **error_r)
{
	*env_r = NULL;
	if (spoolrec_parse(data, len, env_r, error_r) < 0)
		return -1;
	if (strcmp((*env_r)->id, id) != 0) {
		spoolrec_deinit(env_r);
		return fail(error_r, "state file id is not its name");
	}
	return 0;
}

/* ---- the journal ---- */

/* A kind and a payload length that belong together. */
static bool rec_len_ok(uint32_t kind, uint32_t len)
{
	switch (kind) {
	case SPOOLFMT_REC_COMMIT:
		return len >= SPOOLFMT_MSG_HEADER_LEN &&
		       len <= SPOOLFMT_IMAGE_MAX;
	case SPOOLFMT_REC_REMOVE:
		return len == 0;
	default:
		return false;
	}
}

int spoolfmt_rec_encode(const struct spoolfmt_rec *rec,
                        unsigned char out[SPOOLFMT_REC_HEADER_LEN],
                        const char **error_r)
{
	struct spool_id sid;

	if (!rec_len_ok(rec->kind, rec->len))
		return fail(error_r, "bad journal record kind or length");
	if (!spool_id_parse(rec->id, strnlen(rec->id, sizeof(rec->id)), &sid))
		return fail(error_r, "bad journal record id");
	memcpy(out, REC_MAGIC, 4);
	buf_store_be32(out + 4, (uint32_t)rec->kind);
	buf_store_be32(out + 8, rec->len);
	memcpy(out + 12, rec->id, SPOOL_ID_LEN);
	buf_store_be32(out + 28, spoolrec_crc32(0, out, 28));
	return 0;
}

int spoolfmt_rec_decode(const void *data, size_t len,
                        struct spoolfmt_rec *rec_r, const char **error_r)
{
	unsigned char magic[4];
	uint32_t kind, crc;
	struct buf b;
	struct spool_id sid;

	if (len < SPOOLFMT_REC_HEADER_LEN)
		return fail(error_r, "short journal record");
	if (len > SPOOLFMT_REC_HEADER_LEN)
		return fail(error_r, "journal record header too long");
	buf_init(&b, data, len);
	if (!buf_fetch_bytes(&b, magic, 4) || memcmp(magic, REC_MAGIC, 4) != 0)
		return fail(error_r, "bad journal record magic");
	if (!buf_fetch_be32(&b, &kind) || !buf_fetch_be32(&b, &rec_r->len) ||
	    !buf_fetch_bytes(&b, rec_r->id, SPOOL_ID_LEN) ||
	    !buf_fetch_be32(&b, &crc))
		return fail(error_r, "short journal record");
	rec_r->id[SPOOL_ID_LEN] = '\0';
	if (crc != spoolrec_crc32(0, data, SPOOLFMT_REC_HEADER_LEN - 4))
		return fail(error_r, "journal record checksum mismatch");
	if (!spool_id_parse(rec_r->id, SPOOL_ID_LEN, &sid))
		return fail(error_r, "bad journal record id");
	if (!rec_len_ok(kind, rec_r->len))
		return fail(error_r, "bad journal record kind or length");
	rec_r->kind = (enum spoolfmt_rec_kind)kind;
	return 0;
}

/* ---- names ---- */

void spoolfmt_seg_name(uint64_t seq, char name_r[SPOOLFMT_SEG_NAME_LEN + 1])
{
	snprintf(name_r, SPOOLFMT_SEG_NAME_LEN + 1, "j%016" PRIx64, seq);
}

bool spoolfmt_seg_parse(const char *name, size_t len, uint64_t *seq_r)
{
	uint64_t v = 0;

	if (len != SPOOLFMT_SEG_NAME_LEN || name[0] != 'j')
		return false;
	for (size_t i = 1; i < SPOOLFMT_SEG_NAME_LEN; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*seq_r = v;
	return true;
}

enum spoolfmt_q_kind spoolfmt_q_parse(const char *name, size_t len,
                                      char id_r[SPOOL_ID_LEN + 1])
{
	const size_t suffix = sizeof(SPOOLFMT_STATE_SUFFIX) - 1;
	enum spoolfmt_q_kind kind;
	struct spool_id sid;

	if (len == SPOOL_ID_LEN)
		kind = SPOOLFMT_Q_MSG;
	else if (len == SPOOL_ID_LEN + suffix &&
	         memcmp(name + SPOOL_ID_LEN, SPOOLFMT_STATE_SUFFIX, suffix) ==
	             0)
		kind = SPOOLFMT_Q_STATE;
	else
		return SPOOLFMT_Q_OTHER;
	if (!spool_id_parse(name, SPOOL_ID_LEN, &sid))
		return SPOOLFMT_Q_OTHER;
	memcpy(id_r, name, SPOOL_ID_LEN);
	id_r[SPOOL_ID_LEN] = '\0';
	return kind;
}

void spoolfmt_state_name(const char *id, char name_r[SPOOLFMT_NAME_MAX])
{
	snprintf(name_r, SPOOLFMT_NAME_MAX, "%.*s" SPOOLFMT_STATE_SUFFIX,
	         SPOOL_ID_LEN, id);
}

void spoolfmt_state_tmp_name(const char *id, uint64_t seq,
                             char name_r[SPOOLFMT_NAME_MAX])
{
	snprintf(name_r, SPOOLFMT_NAME_MAX,
	         "%.*s" SPOOLFMT_STATE_SUFFIX ".%" PRIu64, SPOOL_ID_LEN, id,
	         seq);
}

void spoolfmt_corrupt_name(const char *name, unsigned n, char *name_r,
                           size_t size)
{
	if (n == 0)
		snprintf(name_r, size, "%s", name);
	else
		snprintf(name_r, size, "%.*s.%u", SPOOLFMT_NAME_MAX, name, n);
}
