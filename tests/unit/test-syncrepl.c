/*
 * test-syncrepl - RFC 4533 values: the Sync Request control authd sends,
 * and the Sync State controls and Sync Info messages it reads, built here
 * with liblber as a server would send them, plus what must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lber.h>
#include <stdlib.h>
#include <string.h>

#include "dirmap.h"
#include "syncrepl.h"

static const unsigned char UUID1[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                                        0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                        0xcc, 0xdd, 0xee, 0xff};
static const unsigned char UUID2[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                        9, 10, 11, 12, 13, 14, 15, 16};

/* What ber_printf() wrote into ber, flattened into *v (freed by the
 * caller); ber is freed. */
static void flat(BerElement *ber, int rc, struct ldconn_value *v)
{
	struct berval *bv = NULL;

	assert_true(rc >= 0);
	assert_int_equal(ber_flatten(ber, &bv), 0);
	v->data = malloc(bv->bv_len);
	memcpy((char *)v->data, bv->bv_val, bv->bv_len);
	v->len = bv->bv_len;
	ber_bvfree(bv);
	ber_free(ber, 1);
}

static void test_request(void **state)
{
	struct ldconn_value v, cookie = {.data = "rid=000,csn=1", .len = 13};
	struct berval in, c = {0};
	BerElement *ber;
	ber_int_t mode;

	(void)state;
	syncrepl_request_value(true, &cookie, &v);
	in.bv_val = (char *)v.data;
	in.bv_len = v.len;
	ber = ber_init(&in);
	assert_int_not_equal(ber_scanf(ber, "{eo}", &mode, &c), LBER_ERROR);
	assert_int_equal(mode, 3);
	assert_int_equal(c.bv_len, 13);
	assert_memory_equal(c.bv_val, "rid=000,csn=1", 13);
	ber_memfree(c.bv_val);
	ber_free(ber, 1);
	free((char *)v.data);
	/* refreshOnly, no cookie: just the mode */
	syncrepl_request_value(false, NULL, &v);
	assert_int_equal(v.len, 5);
	assert_memory_equal(v.data, "\x30\x03\x0a\x01\x01", 5);
	free((char *)v.data);
}

static void test_state(void **state)
{
	struct berval uuid = {.bv_len = 16, .bv_val = (char *)UUID1};
	struct berval cookie = {.bv_len = 3, .bv_val = "abc"};
	struct syncrepl_state st;
	struct ldconn_value v;
	BerElement *ber;
	char hex[33];

	(void)state;
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber,
	     ber_printf(ber, "{eOO}", (ber_int_t)SYNCREPL_MODIFY, &uuid,
	                &cookie),
	     &v);
	assert_int_equal(syncrepl_parse_state(&v, &st), 0);
	assert_int_equal(st.state, SYNCREPL_MODIFY);
	assert_memory_equal(st.uuid, UUID1, 16);
	assert_true(st.has_cookie);
	assert_int_equal(st.cookie.len, 3);
	dirmap_object_id_hex(st.uuid, hex);
	assert_string_equal(hex, "00112233445566778899aabbccddeeff");
	syncrepl_state_clear(&st);
	free((char *)v.data);

	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber, ber_printf(ber, "{eO}", (ber_int_t)SYNCREPL_DELETE, &uuid),
	     &v);
	assert_int_equal(syncrepl_parse_state(&v, &st), 0);
	assert_int_equal(st.state, SYNCREPL_DELETE);
	assert_false(st.has_cookie);
	syncrepl_state_clear(&st);
	free((char *)v.data);
}

static void test_state_refused(void **state)
{
	struct berval short_uuid = {.bv_len = 15, .bv_val = (char *)UUID1};
	struct berval uuid = {.bv_len = 16, .bv_val = (char *)UUID1};
	struct ldconn_value v, junk = {.data = "\x30\x80garbage", .len = 9};
	struct ldconn_value empty = {.data = "", .len = 0};
	struct syncrepl_state st;
	BerElement *ber;

	(void)state;
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber, ber_printf(ber, "{eO}", (ber_int_t)SYNCREPL_ADD, &short_uuid),
	     &v);
	assert_int_equal(syncrepl_parse_state(&v, &st), -1);
	free((char *)v.data);
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber, ber_printf(ber, "{eO}", (ber_int_t)7, &uuid), &v);
	assert_int_equal(syncrepl_parse_state(&v, &st), -1);
	free((char *)v.data);
	assert_int_equal(syncrepl_parse_state(&junk, &st), -1);
	assert_int_equal(syncrepl_parse_state(&empty, &st), -1);
}

static void test_info(void **state)
{
	struct berval cookie = {.bv_len = 5, .bv_val = "csn=9"};
	struct berval set[3] = {{.bv_len = 16, .bv_val = (char *)UUID1},
	                        {.bv_len = 16, .bv_val = (char *)UUID2},
	                        {0, NULL}};
	struct syncrepl_info info;
	struct ldconn_value v;
	BerElement *ber;

	(void)state;
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber, ber_printf(ber, "tO", (ber_tag_t)0x80, &cookie), &v);
	assert_int_equal(syncrepl_parse_info(&v, &info), 0);
	assert_int_equal(info.kind, SYNCREPL_NEW_COOKIE);
	assert_true(info.has_cookie);
	assert_memory_equal(info.cookie.data, "csn=9", 5);
	syncrepl_info_clear(&info);
	free((char *)v.data);

	/* refreshPresent with cookie, refreshDone absent = TRUE */
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber, ber_printf(ber, "t{O}", (ber_tag_t)0xa2, &cookie), &v);
	assert_int_equal(syncrepl_parse_info(&v, &info), 0);
	assert_int_equal(info.kind, SYNCREPL_REFRESH_PRESENT);
	assert_true(info.refresh_done);
	assert_true(info.has_cookie);
	syncrepl_info_clear(&info);
	free((char *)v.data);

	/* refreshDelete, no cookie, refreshDone FALSE */
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber, ber_printf(ber, "t{b}", (ber_tag_t)0xa1, (ber_int_t)0), &v);
	assert_int_equal(syncrepl_parse_info(&v, &info), 0);
	assert_int_equal(info.kind, SYNCREPL_REFRESH_DELETE);
	assert_false(info.refresh_done);
	assert_false(info.has_cookie);
	syncrepl_info_clear(&info);
	free((char *)v.data);

	/* syncIdSet: deletions */
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber,
	     ber_printf(ber, "t{b[W]}", (ber_tag_t)0xa3, (ber_int_t)1, set),
	     &v);
	assert_int_equal(syncrepl_parse_info(&v, &info), 0);
	assert_int_equal(info.kind, SYNCREPL_ID_SET);
	assert_true(info.refresh_deletes);
	assert_int_equal(info.n_uuids, 2);
	assert_memory_equal(info.uuids[0], UUID1, 16);
	assert_memory_equal(info.uuids[1], UUID2, 16);
	syncrepl_info_clear(&info);
	free((char *)v.data);
}

static void test_info_refused(void **state)
{
	struct berval bad[2] = {{.bv_len = 4, .bv_val = "uuid"}, {0, NULL}};
	struct ldconn_value v, other = {.data = "\x84\x01x", .len = 3};
	struct syncrepl_info info;
	BerElement *ber;

	(void)state;
	ber = ber_alloc_t(LBER_USE_DER);
	flat(ber, ber_printf(ber, "t{[W]}", (ber_tag_t)0xa3, bad), &v);
	assert_int_equal(syncrepl_parse_info(&v, &info), -1);
	assert_null(info.uuids);
	free((char *)v.data);
	assert_int_equal(syncrepl_parse_info(&other, &info), -1);
	other.len = 0; /* liblber would read a NULL buffer */
	assert_int_equal(syncrepl_parse_info(&other, &info), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request),       cmocka_unit_test(test_state),
	    cmocka_unit_test(test_state_refused), cmocka_unit_test(test_info),
	    cmocka_unit_test(test_info_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
