/*
 * test-spoolfmt - the spool's on-disk formats: the message file header
 * and the journal record header against bytes written out by hand (the
 * format is frozen: old spools must open), round trips, every rejection
 * of the strict decoders, the envelope and state checks, and the names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sbuf.h"
#include "spoolfmt.h"

#define ID "0123456789abcdef"

/* data_len 0x0102030405060708, env_len 0x1234, env_crc 0xdeadbeef,
 * data_crc 0xcafebabe; the CRC computed by Python's zlib.crc32. */
static const unsigned char golden_msg[SPOOLFMT_MSG_HEADER_LEN] = {
    0x44, 0x4d, 0x58, 0x31, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x12, 0x34, 0xde, 0xad,
    0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe, 0x66, 0x67, 0x2a, 0xcf};
/* commit, len 4096, id ID. */
static const unsigned char golden_rec[SPOOLFMT_REC_HEADER_LEN] = {
    0x44, 0x4d, 0x58, 0x4a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x10,
    0x00, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x8d, 0xd3, 0x92, 0x52};

/* Fix the CRC of a header after a test changed a field. */
static void recrc(unsigned char *p)
{
	buf_store_be32(p + 28, spoolrec_crc32(0, p, 28));
}

static void assert_header_equal(const struct spoolfmt_msg_header *a,
                                const struct spoolfmt_msg_header *b)
{
	assert_true(a->data_len == b->data_len);
	assert_int_equal(a->env_len, b->env_len);
	assert_int_equal(a->env_crc, b->env_crc);
	assert_int_equal(a->data_crc, b->data_crc);
}

static void assert_rec_equal(const struct spoolfmt_rec *a,
                             const struct spoolfmt_rec *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->len, b->len);
	assert_string_equal(a->id, b->id);
}

static void test_msg_header_golden(void **state)
{
	struct spoolfmt_msg_header h = {.data_len = 0x0102030405060708,
	                                .env_len = 0x1234,
	                                .env_crc = 0xdeadbeef,
	                                .data_crc = 0xcafebabe};
	struct spoolfmt_msg_header back;
	unsigned char out[SPOOLFMT_MSG_HEADER_LEN];
	const char *error = NULL;

	assert_int_equal(spoolfmt_msg_header_encode(&h, out, &error), 0);
	assert_memory_equal(out, golden_msg, sizeof(out));
	assert_int_equal(spoolfmt_msg_header_decode(
	                     golden_msg, sizeof(golden_msg), &back, &error),
	                 0);
	assert_header_equal(&back, &h);
	assert_true(spoolfmt_msg_env_offset(&h) == 32 + 0x0102030405060708);
	assert_true(spoolfmt_msg_size(&h) == 32 + 0x0102030405060708 + 0x1234);
}

static void test_msg_header_round_trip(void **state)
{
	static const struct spoolfmt_msg_header cases[] = {
	    {0, 0, 0, 0},
	    {1, 200, 0xffffffff, 1},
	    {SPOOLFMT_DATA_MAX, SPOOLREC_MAX_LEN, 7, 8},
	};
	unsigned char out[SPOOLFMT_MSG_HEADER_LEN];
	struct spoolfmt_msg_header back;
	const char *error = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    spoolfmt_msg_header_encode(&cases[i], out, &error), 0);
		assert_int_equal(
		    spoolfmt_msg_header_decode(out, sizeof(out), &back, &error),
		    0);
		assert_header_equal(&back, &cases[i]);
	}
}

static void test_msg_header_rejects(void **state)
{
	struct spoolfmt_msg_header h = {0}, back;
	unsigned char raw[SPOOLFMT_MSG_HEADER_LEN + 1];
	const char *error = NULL;

	/* The encoder refuses what the decoder would. */
	h.data_len = SPOOLFMT_DATA_MAX + 1;
	assert_int_equal(spoolfmt_msg_header_encode(&h, raw, &error), -1);
	assert_string_equal(error, "message too large for the spool");
	h.data_len = 0;
	h.env_len = (uint32_t)SPOOLREC_MAX_LEN + 1;
	assert_int_equal(spoolfmt_msg_header_encode(&h, raw, &error), -1);

	/* Short, at every length, and long. */
	memcpy(raw, golden_msg, sizeof(golden_msg));
	for (size_t n = 0; n < SPOOLFMT_MSG_HEADER_LEN; n++) {
		assert_int_equal(
		    spoolfmt_msg_header_decode(raw, n, &back, &error), -1);
		assert_string_equal(error, "short header");
	}
	assert_int_equal(
	    spoolfmt_msg_header_decode(raw, sizeof(raw), &back, &error), -1);
	assert_string_equal(error, "header too long");
	assert_int_equal(spoolfmt_msg_header_decode(NULL, 0, &back, &error),
	                 -1);

	/* Magic, then checksum, then the fields. */
	raw[3] = '2';
	assert_int_equal(spoolfmt_msg_header_decode(raw, 32, &back, &error),
	                 -1);
	assert_string_equal(error, "bad magic");
	memcpy(raw, golden_msg, sizeof(golden_msg));
	for (size_t i = 4; i < 32; i++) {
		raw[i] ^= 0x10;
		assert_int_equal(
		    spoolfmt_msg_header_decode(raw, 32, &back, &error), -1);
		assert_string_equal(error, "header checksum mismatch");
		raw[i] ^= 0x10;
	}
	raw[7] = 1;
	recrc(raw);
	assert_int_equal(spoolfmt_msg_header_decode(raw, 32, &back, &error),
	                 -1);
	assert_string_equal(error, "unknown header flags");
	memcpy(raw, golden_msg, sizeof(golden_msg));
	buf_store_be64(raw + 8, SPOOLFMT_DATA_MAX + 1);
	recrc(raw);
	assert_int_equal(spoolfmt_msg_header_decode(raw, 32, &back, &error),
	                 -1);
	assert_string_equal(error, "file size does not match header");
	memcpy(raw, golden_msg, sizeof(golden_msg));
	buf_store_be32(raw + 16, (uint32_t)SPOOLREC_MAX_LEN + 1);
	recrc(raw);
	assert_int_equal(spoolfmt_msg_header_decode(raw, 32, &back, &error),
	                 -1);
	assert_string_equal(error, "file size does not match header");
}

static struct sbuf *make_record(const char *id)
{
	struct spoolrec *r = spoolrec_new();
	struct sbuf *out = sbuf_new(SPOOLREC_MAX_LEN);
	const char *error = NULL;

	memcpy(r->id, id, SPOOL_ID_LEN);
	spoolrec_set(&r->client, "192.0.2.1");
	spoolrec_add_rcpt(r, "a@example.com", "external");
	assert_int_equal(spoolrec_format(r, out, &error), 0);
	spoolrec_deinit(&r);
	return out;
}

static void test_envelope_and_state(void **state)
{
	struct sbuf *rec = make_record(ID);
	struct spoolfmt_msg_header h = {
	    .env_len = (uint32_t)sbuf_len(rec),
	    .env_crc = spoolrec_crc32(0, sbuf_data(rec), sbuf_len(rec))};
	struct spoolrec *env = (struct spoolrec *)1;
	const char *error = NULL;
	char *copy = malloc(sbuf_len(rec));

	assert_int_equal(spoolfmt_msg_envelope(&h, sbuf_data(rec),
	                                       sbuf_len(rec), ID, &env, &error),
	                 0);
	assert_string_equal(env->id, ID);
	spoolrec_deinit(&env);
	assert_int_equal(spoolfmt_state_decode(sbuf_data(rec), sbuf_len(rec),
	                                       ID, &env, &error),
	                 0);
	spoolrec_deinit(&env);

	/* Every way each can fail; *env_r is NULL after it. */
	assert_int_equal(spoolfmt_msg_envelope(&h, sbuf_data(rec),
	                                       sbuf_len(rec) - 1, ID, &env,
	                                       &error),
	                 -1);
	assert_string_equal(error, "short envelope");
	memcpy(copy, sbuf_data(rec), sbuf_len(rec));
	copy[0] ^= 1;
	assert_int_equal(
	    spoolfmt_msg_envelope(&h, copy, sbuf_len(rec), ID, &env, &error),
	    -1);
	assert_string_equal(error, "envelope checksum mismatch");
	h.env_crc = spoolrec_crc32(0, copy, sbuf_len(rec));
	assert_int_equal(
	    spoolfmt_msg_envelope(&h, copy, sbuf_len(rec), ID, &env, &error),
	    -1);
	assert_null(env);
	h.env_crc = spoolrec_crc32(0, sbuf_data(rec), sbuf_len(rec));
	assert_int_equal(
	    spoolfmt_msg_envelope(&h, sbuf_data(rec), sbuf_len(rec),
	                          "0123456789abcdeg", &env, &error),
	    -1);
	assert_string_equal(error, "envelope id is not the file name");
	assert_null(env);
	assert_int_equal(
	    spoolfmt_state_decode(copy, sbuf_len(rec), ID, &env, &error), -1);
	assert_null(env);
	assert_int_equal(spoolfmt_state_decode(sbuf_data(rec), sbuf_len(rec),
	                                       "0123456789abcdeg", &env,
	                                       &error),
	                 -1);
	assert_string_equal(error, "state file id is not its name");
	assert_null(env);
	free(copy);
	sbuf_deinit(&rec);
}

static void test_rec_golden_and_round_trip(void **state)
{
	struct spoolfmt_rec rec = {.kind = SPOOLFMT_REC_COMMIT, .len = 4096};
	struct spoolfmt_rec back;
	unsigned char out[SPOOLFMT_REC_HEADER_LEN];
	const char *error = NULL;

	memcpy(rec.id, ID, sizeof(rec.id));
	assert_int_equal(spoolfmt_rec_encode(&rec, out, &error), 0);
	assert_memory_equal(out, golden_rec, sizeof(out));
	assert_int_equal(spoolfmt_rec_decode(out, sizeof(out), &back, &error),
	                 0);
	assert_rec_equal(&back, &rec);

	rec.kind = SPOOLFMT_REC_REMOVE;
	rec.len = 0;
	assert_int_equal(spoolfmt_rec_encode(&rec, out, &error), 0);
	assert_int_equal(spoolfmt_rec_decode(out, sizeof(out), &back, &error),
	                 0);
	assert_rec_equal(&back, &rec);
	rec.kind = SPOOLFMT_REC_COMMIT;
	for (uint32_t len = 32; len <= SPOOLFMT_IMAGE_MAX; len *= 2) {
		rec.len = len;
		assert_int_equal(spoolfmt_rec_encode(&rec, out, &error), 0);
		assert_int_equal(
		    spoolfmt_rec_decode(out, sizeof(out), &back, &error), 0);
		assert_int_equal(back.len, len);
	}
}

static void expect_rec_reject(const unsigned char *raw, size_t len,
                              const char *why)
{
	struct spoolfmt_rec back;
	const char *error = NULL;

	assert_int_equal(spoolfmt_rec_decode(raw, len, &back, &error), -1);
	assert_string_equal(error, why);
}

static void test_rec_rejects(void **state)
{
	static const struct {
		uint32_t kind, len;
	} bad[] = {
	    {0, 0},
	    {3, 0},
	    {1, 0},
	    {1, 31},
	    {1, SPOOLFMT_IMAGE_MAX + 1},
	    {2, 1},
	    {0xffffffff, 32},
	};
	unsigned char raw[SPOOLFMT_REC_HEADER_LEN + 1];
	struct spoolfmt_rec rec;
	const char *error = NULL;

	memcpy(raw, golden_rec, sizeof(golden_rec));
	for (size_t n = 0; n < SPOOLFMT_REC_HEADER_LEN; n++)
		expect_rec_reject(raw, n, "short journal record");
	expect_rec_reject(raw, sizeof(raw), "journal record header too long");
	raw[0] = 'd';
	expect_rec_reject(raw, 32, "bad journal record magic");
	memcpy(raw, golden_rec, sizeof(golden_rec));
	for (size_t i = 4; i < 32; i++) {
		raw[i] ^= 0x01;
		expect_rec_reject(raw, 32, "journal record checksum mismatch");
		raw[i] ^= 0x01;
	}
	/* An id out of the alphabet, one with a NUL. */
	raw[12] = 'Z';
	recrc(raw);
	expect_rec_reject(raw, 32, "bad journal record id");
	raw[12] = '\0';
	recrc(raw);
	expect_rec_reject(raw, 32, "bad journal record id");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(raw, golden_rec, sizeof(golden_rec));
		buf_store_be32(raw + 4, bad[i].kind);
		buf_store_be32(raw + 8, bad[i].len);
		recrc(raw);
		expect_rec_reject(raw, 32, "bad journal record kind or length");
		/* ... and the encoder will not write them. */
		rec.kind = (enum spoolfmt_rec_kind)bad[i].kind;
		rec.len = bad[i].len;
		memcpy(rec.id, ID, sizeof(rec.id));
		assert_int_equal(spoolfmt_rec_encode(&rec, raw, &error), -1);
	}
	rec.kind = SPOOLFMT_REC_REMOVE;
	rec.len = 0;
	memcpy(rec.id, "0123456789abcdeI", sizeof(rec.id));
	assert_int_equal(spoolfmt_rec_encode(&rec, raw, &error), -1);
	assert_string_equal(error, "bad journal record id");
}

static void test_names(void **state)
{
	char name[SPOOLFMT_NAME_MAX], seg[SPOOLFMT_SEG_NAME_LEN + 1];
	char id[SPOOL_ID_LEN + 1], corrupt[SPOOLFMT_NAME_MAX + 16];
	char longname[200];
	uint64_t seq;

	spoolfmt_seg_name(1, seg);
	assert_string_equal(seg, "j0000000000000001");
	spoolfmt_seg_name(UINT64_C(0xfedcba9876543210), seg);
	assert_string_equal(seg, "jfedcba9876543210");
	assert_true(spoolfmt_seg_parse(seg, strlen(seg), &seq));
	assert_true(seq == UINT64_C(0xfedcba9876543210));
	assert_false(spoolfmt_seg_parse("jFEDCBA9876543210", 17, &seq));
	assert_false(spoolfmt_seg_parse("k0000000000000001", 17, &seq));
	assert_false(spoolfmt_seg_parse("j000000000000001", 16, &seq));
	assert_false(spoolfmt_seg_parse("j00000000000000012", 18, &seq));
	assert_false(spoolfmt_seg_parse("j00000000000000g1", 17, &seq));
	assert_false(spoolfmt_seg_parse("j0000000\00000000001", 17, &seq));
	assert_false(spoolfmt_seg_parse("", 0, &seq));

	spoolfmt_state_name(ID, name);
	assert_string_equal(name, ID ".state");
	spoolfmt_state_tmp_name(ID, UINT64_MAX, name);
	assert_string_equal(name, ID ".state.18446744073709551615");

	assert_int_equal(spoolfmt_q_parse(ID, 16, id), SPOOLFMT_Q_MSG);
	assert_string_equal(id, ID);
	assert_int_equal(spoolfmt_q_parse(ID ".state", 22, id),
	                 SPOOLFMT_Q_STATE);
	assert_string_equal(id, ID);
	assert_int_equal(spoolfmt_q_parse(ID ".stat", 21, id),
	                 SPOOLFMT_Q_OTHER);
	assert_int_equal(spoolfmt_q_parse(ID ".statf", 22, id),
	                 SPOOLFMT_Q_OTHER);
	assert_int_equal(spoolfmt_q_parse(ID ".state.1", 24, id),
	                 SPOOLFMT_Q_OTHER);
	assert_int_equal(spoolfmt_q_parse("0123456789abcdeI.state", 22, id),
	                 SPOOLFMT_Q_OTHER);
	assert_int_equal(spoolfmt_q_parse("0123456789abcde", 15, id),
	                 SPOOLFMT_Q_OTHER);
	assert_int_equal(spoolfmt_q_parse("lock", 4, id), SPOOLFMT_Q_OTHER);

	spoolfmt_corrupt_name(ID, 0, corrupt, sizeof(corrupt));
	assert_string_equal(corrupt, ID);
	spoolfmt_corrupt_name(ID, 12, corrupt, sizeof(corrupt));
	assert_string_equal(corrupt, ID ".12");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	spoolfmt_corrupt_name(longname, 3, corrupt, sizeof(corrupt));
	assert_int_equal(strlen(corrupt), SPOOLFMT_NAME_MAX + 2);
	assert_string_equal(corrupt + SPOOLFMT_NAME_MAX, ".3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_msg_header_golden),
	    cmocka_unit_test(test_msg_header_round_trip),
	    cmocka_unit_test(test_msg_header_rejects),
	    cmocka_unit_test(test_envelope_and_state),
	    cmocka_unit_test(test_rec_golden_and_round_trip),
	    cmocka_unit_test(test_rec_rejects),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
