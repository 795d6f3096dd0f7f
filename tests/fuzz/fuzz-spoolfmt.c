/*
 * fuzz-spoolfmt - the spool's on-disk decoders on arbitrary bytes.
 *
 * The input is read as each thing the spool reads from disk: a message
 * file header (the whole input, then its first 32 bytes), a journal
 * record header (the same), a journal segment name and a q/ entry name,
 * and an envelope behind a header that vouches for it. Whatever decodes
 * must encode back to exactly the bytes decoded; errors must be
 * printable ASCII; any difference abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spoolfmt.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const char *error)
{
	if (error == NULL || !str_is_printable_ascii(error, strlen(error)))
		abort();
}

static void msg_header(const uint8_t *data, size_t size)
{
	struct spoolfmt_msg_header h;
	unsigned char out[SPOOLFMT_MSG_HEADER_LEN];
	const char *error = NULL;

	if (spoolfmt_msg_header_decode(data, size, &h, &error) < 0) {
		check_error(error);
		return;
	}
	if (size != sizeof(out) ||
	    spoolfmt_msg_header_encode(&h, out, &error) < 0 ||
	    memcmp(out, data, size) != 0 ||
	    spoolfmt_msg_size(&h) < SPOOLFMT_MSG_HEADER_LEN)
		abort();
}

static void rec_header(const uint8_t *data, size_t size)
{
	struct spoolfmt_rec rec;
	unsigned char out[SPOOLFMT_REC_HEADER_LEN];
	const char *error = NULL;

	if (spoolfmt_rec_decode(data, size, &rec, &error) < 0) {
		check_error(error);
		return;
	}
	if (size != sizeof(out) || strlen(rec.id) != SPOOL_ID_LEN ||
	    spoolfmt_rec_encode(&rec, out, &error) < 0 ||
	    memcmp(out, data, size) != 0)
		abort();
}

static void names(const uint8_t *data, size_t size)
{
	char seg[SPOOLFMT_SEG_NAME_LEN + 1], name[SPOOLFMT_NAME_MAX];
	char id[SPOOL_ID_LEN + 1];
	uint64_t seq;

	if (spoolfmt_seg_parse((const char *)data, size, &seq)) {
		spoolfmt_seg_name(seq, seg);
		if (size != SPOOLFMT_SEG_NAME_LEN || memcmp(seg, data, size))
			abort();
	}
	switch (spoolfmt_q_parse((const char *)data, size, id)) {
	case SPOOLFMT_Q_MSG:
		if (size != SPOOL_ID_LEN || memcmp(id, data, size) != 0)
			abort();
		break;
	case SPOOLFMT_Q_STATE:
		spoolfmt_state_name(id, name);
		if (strlen(name) != size || memcmp(name, data, size) != 0)
			abort();
		break;
	case SPOOLFMT_Q_OTHER:
		break;
	}
}

/* The input as an envelope whose header's length and CRC are right. */
static void envelope(const uint8_t *data, size_t size)
{
	struct spoolfmt_msg_header h = {.env_len = (uint32_t)size,
	                                .env_crc =
	                                    spoolrec_crc32(0, data, size)};
	struct spoolrec *env = NULL;
	const char *error = NULL;
	char id[SPOOL_ID_LEN + 1] = "0000000000000000";

	if (size > SPOOLREC_MAX_LEN)
		return;
	/* The id the record names, when it has one where it would be. */
	if (size >= 3 + 11 + SPOOL_ID_LEN && memcmp(data + 10, "id=", 3) == 0)
		memcpy(id, data + 13, SPOOL_ID_LEN);
	if (spoolfmt_msg_envelope(&h, data, size, id, &env, &error) < 0) {
		if (env != NULL)
			abort();
		check_error(error);
	} else if (strcmp(env->id, id) != 0)
		abort();
	spoolrec_deinit(&env);
	if (spoolfmt_state_decode(data, size, id, &env, &error) == 0 &&
	    strcmp(env->id, id) != 0)
		abort();
	spoolrec_deinit(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msg_header(data, size);
	rec_header(data, size);
	if (size > SPOOLFMT_MSG_HEADER_LEN) {
		msg_header(data, SPOOLFMT_MSG_HEADER_LEN);
		rec_header(data, SPOOLFMT_REC_HEADER_LEN);
	}
	names(data, size);
	envelope(data, size);
	return 0;
}
