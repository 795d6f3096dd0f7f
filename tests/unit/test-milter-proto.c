/*
 * test-milter-proto - the milter codec (milter_proto.h): packets the MTA
 * sends, byte for byte; the filter's replies, good and malformed; framing
 * split anywhere. And the header and body edits (milter_msg.h): fields
 * split and formatted back unchanged, add / insert / change / delete,
 * folded values from a filter that cannot start a field of their own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "milter_msg.h"
#include "milter_proto.h"
#include "sbuf.h"

static void test_encode(void **state)
{
	struct sbuf *b = sbuf_new(4096);
	const char *names[] = {"i", "{auth_authen}"};
	const char *values[] = {"Q1", "alice"};
	const char *helo[] = {"client.example"};

	(void)state;
	assert_true(milter_proto_optneg(b, 6, 0x1ff, 0x1fffff));
	assert_int_equal(sbuf_len(b), 17);
	assert_memory_equal(sbuf_data(b),
	                    "\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff",
	                    17);
	sbuf_reset(b);
	assert_true(milter_proto_macros(b, 'M', names, values, 2));
	assert_memory_equal(sbuf_data(b),
	                    "\0\0\0\x1b"
	                    "DMi\0Q1\0{auth_authen}\0alice\0",
	                    31);
	sbuf_reset(b);
	assert_true(milter_proto_connect(b, "unknown", '4', 2525, "10.0.0.1"));
	assert_memory_equal(sbuf_data(b),
	                    "\0\0\0\x15"
	                    "Cunknown\0"
	                    "4\x09\xdd"
	                    "10.0.0.1\0",
	                    25);
	sbuf_reset(b);
	assert_true(milter_proto_connect(b, "unknown", 'U', 0, NULL));
	assert_memory_equal(sbuf_data(b),
	                    "\0\0\0\x0a"
	                    "Cunknown\0U",
	                    14);
	sbuf_reset(b);
	assert_true(milter_proto_strings(b, 'H', helo, 1));
	assert_memory_equal(sbuf_data(b), "\0\0\0\x10Hclient.example\0", 20);
	sbuf_reset(b);
	assert_true(milter_proto_packet(b, 'E', NULL, 0));
	assert_memory_equal(sbuf_data(b),
	                    "\0\0\0\x01"
	                    "E",
	                    5);
	sbuf_deinit(&b);
	/* A full buffer says so. */
	b = sbuf_new(8);
	assert_false(milter_proto_strings(b, 'H', helo, 1));
	sbuf_deinit(&b);
}

static void test_frame(void **state)
{
	static const unsigned char pkt[] = "\0\0\0\x02"
	                                   "cX"
	                                   "\0\0\0\x01"
	                                   "a";
	const unsigned char *p;
	size_t plen, used;
	char cmd;

	(void)state;
	for (size_t n = 0; n < 6; n++)
		assert_int_equal(
		    milter_proto_frame(pkt, n, 100, &cmd, &p, &plen, &used), 0);
	assert_int_equal(milter_proto_frame(pkt, sizeof(pkt) - 1, 100, &cmd, &p,
	                                    &plen, &used),
	                 1);
	assert_int_equal(cmd, 'c');
	assert_int_equal(plen, 1);
	assert_int_equal(p[0], 'X');
	assert_int_equal(used, 6);
	assert_int_equal(
	    milter_proto_frame(pkt + 6, 5, 100, &cmd, &p, &plen, &used), 1);
	assert_int_equal(cmd, 'a');
	assert_int_equal(plen, 0);
	/* zero and oversized lengths: not milter */
	assert_int_equal(
	    milter_proto_frame("\0\0\0\0", 4, 100, &cmd, &p, &plen, &used), -1);
	assert_int_equal(
	    milter_proto_frame("HTTP/1.1 400", 12, 100, &cmd, &p, &plen, &used),
	    -1);
}

static int reply(const char *cmdp, const char *payload, size_t len,
                 struct milter_reply *r)
{
	const char *error;

	return milter_proto_reply(cmdp[0], (const unsigned char *)payload, len,
	                          r, &error);
}

static void test_replies(void **state)
{
	struct milter_reply r;

	(void)state;
	assert_int_equal(reply("O", "\0\0\0\x06\0\0\0\x01\0\0\0\x10", 12, &r),
	                 0);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions, 1);
	assert_int_equal(r.protocol, 0x10);
	assert_null(r.symlists[MILTER_STAGE_MAIL]);
	/* with a macro list for the MAIL stage */
	assert_int_equal(reply("O",
	                       "\0\0\0\x06\0\0\0\x01\0\0\0\x10"
	                       "\0\0\0\x02{auth_authen} i\0",
	                       32, &r),
	                 0);
	assert_string_equal(r.symlists[MILTER_STAGE_MAIL], "{auth_authen} i");
	assert_int_equal(reply("O", "\0\0\0\x06\0\0\0\x01", 8, &r), -1);
	assert_int_equal(reply("O",
	                       "\0\0\0\x06\0\0\0\x01\0\0\0\x10"
	                       "\0\0\0\x09x\0",
	                       18, &r),
	                 -1);
	assert_int_equal(reply("c", "", 0, &r), 0);
	assert_int_equal(reply("c", "x", 1, &r), -1);
	assert_int_equal(reply("y", "554 5.7.1 Gtube pattern\0", 24, &r), 0);
	assert_int_equal(r.code, 554);
	assert_string_equal(r.enhanced, "5.7.1");
	assert_int_equal(r.text_len, strlen("Gtube pattern"));
	assert_int_equal(reply("y", "451 later\0", 10, &r), 0);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enhanced, "");
	assert_string_equal(r.text, "later");
	/* a multi-line reply keeps its first line only */
	assert_int_equal(reply("y", "550-5.7.1 one\r\n550 5.7.1 two\0", 29, &r),
	                 0);
	assert_int_equal(r.text_len, 3);
	assert_int_equal(reply("y", "250 ok\0", 7, &r), -1);
	assert_int_equal(reply("y", "55\0", 3, &r), -1);
	assert_int_equal(reply("y", "550 no nul", 10, &r), -1);
	assert_int_equal(reply("h", "X-Spam\0yes\0", 11, &r), 0);
	assert_string_equal(r.name, "X-Spam");
	assert_string_equal(r.value, "yes");
	assert_int_equal(reply("h", "X Spam\0yes\0", 11, &r), -1);
	assert_int_equal(reply("h", "X-Spam\0yes", 10, &r), -1);
	assert_int_equal(reply("i",
	                       "\0\0\0\x01"
	                       "DKIM-Signature\0v=1\0",
	                       23, &r),
	                 0);
	assert_int_equal(r.index, 1);
	assert_int_equal(reply("m",
	                       "\0\0\0\x02"
	                       "Subject\0\0",
	                       13, &r),
	                 0);
	assert_string_equal(r.value, "");
	assert_int_equal(reply("e", "<a@b>\0", 6, &r), 0);
	assert_null(r.value);
	assert_int_equal(reply("e", "<a@b>\0SIZE=10\0", 14, &r), 0);
	assert_string_equal(r.value, "SIZE=10");
	assert_int_equal(reply("q", "virus\0", 6, &r), 0);
	assert_int_equal(reply("b", "new body\r\n", 10, &r), 0);
	assert_int_equal(r.body_len, 10);
	assert_int_equal(reply("Z", "", 0, &r), -1);
}

static char *format(struct milter_msg *mm)
{
	struct sbuf *b = sbuf_new(65536);
	char *s;

	assert_true(milter_msg_format_header(mm, b));
	s = sbuf_steal(b, NULL);
	sbuf_deinit(&b);
	return s;
}

static void test_msg(void **state)
{
	static const char hdr[] = "Received: from x\r\n\tby y\r\n"
	                          "Subject : hello\r\n"
	                          "To: a@b\r\n";
	struct milter_msg *mm = milter_msg_new(hdr, strlen(hdr), 1000);
	struct milter_field *f;
	size_t n;
	char *s;

	(void)state;
	f = milter_msg_fields(mm, &n);
	assert_int_equal(n, 3);
	assert_string_equal(f[0].name, "Received");
	assert_string_equal(f[0].value, " from x\n\tby y");
	assert_string_equal(f[1].name, "Subject");
	assert_string_equal(f[1].value, " hello");
	free(f);
	assert_false(milter_msg_changed(mm));
	s = format(mm);
	assert_string_equal(s, "Received: from x\r\n\tby y\r\n"
	                       "Subject : hello\r\nTo: a@b\r\n\r\n");
	free(s);
	milter_msg_header_edit(mm, MILTER_R_INSHEADER, 0, "DKIM-Signature",
	                       "v=1;\n\tb=xyz", false);
	milter_msg_header_edit(mm, MILTER_R_ADDHEADER, 0, "X-Spam",
	                       "yes\nBcc: evil@example", false);
	milter_msg_header_edit(mm, MILTER_R_CHGHEADER, 1, "subject", "", false);
	milter_msg_header_edit(mm, MILTER_R_CHGHEADER, 1, "X-New", " v", true);
	milter_msg_header_edit(mm, MILTER_R_CHGHEADER, 2, "To", "", false);
	assert_true(milter_msg_changed(mm));
	s = format(mm);
	assert_string_equal(s, "DKIM-Signature: v=1;\r\n\tb=xyz\r\n"
	                       "Received: from x\r\n\tby y\r\n"
	                       "To: a@b\r\n"
	                       "X-Spam: yes\r\n\tBcc: evil@example\r\n"
	                       "X-New: v\r\n\r\n");
	free(s);
	milter_msg_deinit(&mm);
	assert_null(mm);
}

static void test_body(void **state)
{
	struct milter_msg *mm = milter_msg_new("", 0, 10);
	char buf[16];
	size_t n;

	(void)state;
	assert_false(milter_msg_body_replaced(mm));
	assert_true(milter_msg_body_replace(mm, 0, "abc", 3));
	assert_true(milter_msg_body_replace(mm, 0, "def", 3));
	assert_int_equal(milter_msg_body_len(mm), 6);
	assert_int_equal(milter_msg_body_read(mm, 2, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "cdef", 4);
	/* another filter starts over */
	assert_true(milter_msg_body_replace(mm, 1, "xy", 2));
	assert_int_equal(milter_msg_body_len(mm), 2);
	/* the limit holds */
	assert_false(milter_msg_body_replace(mm, 1, "0123456789", 10));
	milter_msg_deinit(&mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),  cmocka_unit_test(test_frame),
	    cmocka_unit_test(test_replies), cmocka_unit_test(test_msg),
	    cmocka_unit_test(test_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
