/*
 * test-cldap - the LDAP ping datagram and the reply decoder.
 *
 * Replies are built with liblber by a test helper. With
 * DIRMX_WRITE_CORPUS=DIR set, test_corpus writes the seed files of
 * tests/fuzz/corpus/cldap into DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lber.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldap.h"
#include "netlogon.h"

/* A Samba-like NETLOGON_SAM_LOGON_RESPONSE_EX (from test-netlogon). */
static const unsigned char nl_value[] = {
    0x17, 0x00, 0x00, 0x00, 0xfd, 0x03, 0x00, 0xe0, 0x10, 0x32, 0x54, 0x76,
    0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0x06, 0x73, 0x61, 0x6d, 0x64, 0x6f, 0x6d, 0x07, 0x65, 0x78, 0x61, 0x6d,
    0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0xc0, 0x18, 0x03, 0x64,
    0x63, 0x31, 0xc0, 0x18, 0x06, 0x53, 0x41, 0x4d, 0x44, 0x4f, 0x4d, 0x00,
    0x03, 0x44, 0x43, 0x31, 0x00, 0x00, 0x17, 0x44, 0x65, 0x66, 0x61, 0x75,
    0x6c, 0x74, 0x2d, 0x46, 0x69, 0x72, 0x73, 0x74, 0x2d, 0x53, 0x69, 0x74,
    0x65, 0x2d, 0x4e, 0x61, 0x6d, 0x65, 0x00, 0xc0, 0x42, 0x05, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0xff,
};

/* ---- test-only reply builder ---- */

struct spec {
	bool entry;
	int entry_id;
	const char *attr; /* NULL: no Netlogon attribute */
	int nvals;
	const void *val;
	size_t val_len;
	bool other_attrs; /* extra attributes around ours */
	bool entry_controls;
	int nentries; /* 0 means 1 when entry is set */
	bool done;
	int done_id;
	int code;
	bool referral;
	bool after_done; /* one more message after the Done */
	ber_tag_t op;    /* 0: entry; else replaces the entry's tag */
};

static const struct spec good = {
    true,  7,     "Netlogon", 1,    nl_value, sizeof(nl_value),
    false, false, 0,          true, 7,        0,
    false, false, 0,
};

/* Returns the bytes (free()), their length, and where the entry ends. */
static unsigned char *build_reply(const struct spec *s, size_t *len_r,
                                  size_t *entry_end_r)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval bv;
	unsigned char *out;
	int n = s->nentries > 0 ? s->nentries : 1;

	assert_non_null(ber);
	for (int k = 0; s->entry && k < n; k++) {
		assert_true(ber_printf(ber, "{it{s{", (ber_int_t)s->entry_id,
		                       s->op != 0 ? s->op : (ber_tag_t)0x64,
		                       "") >= 0);
		if (s->other_attrs)
			assert_true(ber_printf(ber, "{s[ss]}", "objectClass",
			                       "top", "x") >= 0);
		if (s->attr != NULL) {
			assert_true(ber_printf(ber, "{s[", s->attr) >= 0);
			for (int i = 0; i < s->nvals; i++)
				assert_true(ber_printf(ber, "o", s->val,
				                       (ber_len_t)s->val_len) >=
				            0);
			assert_true(ber_printf(ber, "]}") >= 0);
		}
		if (s->other_attrs)
			assert_true(ber_printf(ber, "{s[]}", "empty") >= 0);
		assert_true(ber_printf(ber, "}}") >= 0);
		if (s->entry_controls)
			assert_true(ber_printf(ber, "t{{s}}", (ber_tag_t)0xa0,
			                       "1.2.3") >= 0);
		assert_true(ber_printf(ber, "}") >= 0);
	}
	assert_int_equal(ber_flatten2(ber, &bv, 0), 0);
	*entry_end_r = bv.bv_len;
	if (s->done) {
		if (s->referral)
			assert_true(
			    ber_printf(ber, "{it{esst{s}}}",
			               (ber_int_t)s->done_id, (ber_tag_t)0x65,
			               (ber_int_t)s->code, "", "",
			               (ber_tag_t)0xa3, "ldap://x/") >= 0);
		else
			assert_true(
			    ber_printf(ber, "{it{ess}}", (ber_int_t)s->done_id,
			               (ber_tag_t)0x65, (ber_int_t)s->code, "",
			               "") >= 0);
	}
	if (s->after_done)
		assert_true(ber_printf(ber, "{it{ess}}", (ber_int_t)s->done_id,
		                       (ber_tag_t)0x65, (ber_int_t)0, "",
		                       "") >= 0);
	assert_int_equal(ber_flatten2(ber, &bv, 0), 0);
	out = malloc(bv.bv_len > 0 ? bv.bv_len : 1);
	assert_non_null(out);
	if (bv.bv_len > 0)
		memcpy(out, bv.bv_val, bv.bv_len);
	*len_r = bv.bv_len;
	ber_free(ber, 1);
	return out;
}

static int decode(const unsigned char *p, size_t len, int id, void **v,
                  size_t *vlen, const char **error)
{
	/* Exact-size copy, so ASan sees any overread. */
	unsigned char *copy = malloc(len ? len : 1);
	int ret;

	memcpy(copy, p, len);
	*error = NULL;
	ret = cldap_decode_reply(copy, len, id, v, vlen, error);
	free(copy);
	return ret;
}

static void expect_spec(const struct spec *s, int id, int want, const char *why)
{
	size_t len, entry_end, vlen;
	unsigned char *p = build_reply(s, &len, &entry_end);
	const char *error;
	void *v;
	int ret = decode(p, len, id, &v, &vlen, &error);

	if (ret != want)
		fail_msg("%s: got %d (%s)", why, ret, error ? error : "-");
	if (ret == 0) {
		assert_int_equal(vlen, s->val_len);
		assert_memory_equal(v, s->val, vlen);
		free(v);
	} else {
		assert_null(v);
		assert_int_equal(vlen, 0);
		assert_non_null(error);
	}
	free(p);
}

/* ---- encoder ---- */

/*
 * LDAPMessage, derived by hand from RFC 4511's ASN.1 (DER lengths):
 * 30 4c  02 01 01  63 47
 *   04 00  0a 01 00  0a 01 00  02 01 00  02 01 00  01 01 00
 *   a0 28  a3 17 04 09 "DnsDomain" 04 0a "ad.example"
 *          a3 0d 04 05 "NtVer" 04 04 16 00 00 00
 *   30 0a  04 08 "Netlogon"
 */
static const unsigned char ping_ad_example[] = {
    0x30, 0x4c, 0x02, 0x01, 0x01, 0x63, 0x47, 0x04, 0x00, 0x0a, 0x01, 0x00,
    0x0a, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00,
    0xa0, 0x28, 0xa3, 0x17, 0x04, 0x09, 'D',  'n',  's',  'D',  'o',  'm',
    'a',  'i',  'n',  0x04, 0x0a, 'a',  'd',  '.',  'e',  'x',  'a',  'm',
    'p',  'l',  'e',  0xa3, 0x0d, 0x04, 0x05, 'N',  't',  'V',  'e',  'r',
    0x04, 0x04, 0x16, 0x00, 0x00, 0x00, 0x30, 0x0a, 0x04, 0x08, 'N',  'e',
    't',  'l',  'o',  'g',  'o',  'n',
};

static void test_encode_known_bytes(void **state)
{
	void *data;
	size_t len;
	const char *error;

	assert_int_equal(cldap_encode_ping(1, "ad.example",
	                                   NETLOGON_NT_VERSION_PING, &data,
	                                   &len, &error),
	                 0);
	assert_int_equal(len, sizeof(ping_ad_example));
	assert_memory_equal(data, ping_ad_example, len);
	free(data);
}

static void test_encode_liblber_roundtrip(void **state)
{
	char domain[256];
	void *data;
	size_t len;
	const char *error;
	BerElement *ber;
	struct berval bv, base, a1, v1, a2, v2, attr;
	ber_int_t id, scope, deref, sl, tl, to;
	ber_tag_t tag;
	ber_len_t blen;

	memset(domain, 'd', 255);
	domain[255] = '\0';
	domain[3] = '*'; /* BER needs no escaping */
	assert_int_equal(cldap_encode_ping(0x7fffffff, domain, 0x01020304,
	                                   &data, &len, &error),
	                 0);
	bv.bv_val = data;
	bv.bv_len = len;
	ber = ber_init(&bv);
	assert_non_null(ber);
	assert_int_not_equal(ber_scanf(ber, "{i", &id), LBER_ERROR);
	assert_int_equal(id, 0x7fffffff);
	assert_int_equal(ber_peek_tag(ber, &blen), 0x63);
	assert_int_not_equal(
	    ber_scanf(ber, "{meeiib", &base, &scope, &deref, &sl, &tl, &to),
	    LBER_ERROR);
	assert_int_equal(base.bv_len, 0);
	assert_int_equal(scope, 0);
	assert_int_equal(deref, 0);
	assert_int_equal(sl, 0);
	assert_int_equal(tl, 0);
	assert_int_equal(to, 0);
	assert_int_equal(ber_peek_tag(ber, &blen), 0xa0);
	assert_int_not_equal(ber_scanf(ber, "{"), LBER_ERROR);
	assert_int_equal(ber_peek_tag(ber, &blen), 0xa3);
	assert_int_not_equal(ber_scanf(ber, "{mm}", &a1, &v1), LBER_ERROR);
	assert_int_equal(ber_peek_tag(ber, &blen), 0xa3);
	assert_int_not_equal(ber_scanf(ber, "{mm}", &a2, &v2), LBER_ERROR);
	assert_int_not_equal(ber_scanf(ber, "}{m}}}", &attr), LBER_ERROR);
	assert_string_equal(a1.bv_val, "DnsDomain");
	assert_int_equal(v1.bv_len, 255);
	assert_memory_equal(v1.bv_val, domain, 255);
	assert_string_equal(a2.bv_val, "NtVer");
	assert_int_equal(v2.bv_len, 4);
	assert_memory_equal(v2.bv_val, "\x04\x03\x02\x01", 4);
	assert_string_equal(attr.bv_val, "Netlogon");
	tag = ber_peek_tag(ber, &blen);
	assert_int_equal(tag, LBER_DEFAULT); /* nothing left */
	ber_free(ber, 1);
	free(data);
}

static void test_encode_errors(void **state)
{
	void *data = (void *)1;
	size_t len = 1;
	const char *error;
	char longname[257];

	assert_int_equal(cldap_encode_ping(0, "a", 0x16, &data, &len, &error),
	                 -1);
	assert_null(data);
	assert_int_equal(len, 0);
	assert_int_equal(cldap_encode_ping(-5, "a", 0x16, &data, &len, &error),
	                 -1);
	assert_int_equal(cldap_encode_ping(1, NULL, 0x16, &data, &len, &error),
	                 -1);
	assert_int_equal(cldap_encode_ping(1, "", 0x16, &data, &len, &error),
	                 -1);
	memset(longname, 'a', 256);
	longname[256] = '\0';
	assert_int_equal(
	    cldap_encode_ping(1, longname, 0x16, &data, &len, &error), -1);
}

/* ---- decoder ---- */

static void test_decode_valid(void **state)
{
	struct spec s = good;
	void *v;
	size_t vlen, len, entry_end;
	const char *error;
	unsigned char *p;
	struct netlogon_info *info;

	expect_spec(&good, 7, 0, "entry + done");
	/* The value is a NETLOGON_SAM_LOGON_RESPONSE_EX. */
	p = build_reply(&good, &len, &entry_end);
	assert_int_equal(decode(p, len, 7, &v, &vlen, &error), 0);
	assert_int_equal(netlogon_decode(v, vlen, &info, &error), 0);
	assert_string_equal(info->dns_host, "dc1.samdom.example.com");
	assert_string_equal(info->client_site, "Default-First-Site-Name");
	netlogon_info_deinit(&info);
	free(v);
	free(p);

	s.done = false;
	expect_spec(&s, 7, 0, "entry alone");
	s = good;
	s.attr = "netlogon";
	expect_spec(&s, 7, 0, "lower-case attribute name");
	s.attr = "NETLOGON";
	expect_spec(&s, 7, 0, "upper-case attribute name");
	s = good;
	s.other_attrs = true;
	expect_spec(&s, 7, 0, "other attributes around");
	s = good;
	s.entry_controls = true;
	expect_spec(&s, 7, 0, "controls on the entry");
	s = good;
	s.referral = true;
	expect_spec(&s, 7, 0, "referral in a successful done");
	s = good;
	s.entry_id = s.done_id = 0x12345678;
	expect_spec(&s, 0x12345678, 0, "big messageID");
}

static void test_decode_rejects(void **state)
{
	struct spec s;

	expect_spec(&good, 8, -1, "wrong messageID");
	s = good;
	s.done_id = 8;
	expect_spec(&s, 7, -1, "wrong messageID on done");
	s = good;
	s.attr = NULL;
	expect_spec(&s, 7, -1, "no Netlogon attribute");
	s.other_attrs = true;
	expect_spec(&s, 7, -1, "only other attributes");
	s = good;
	s.attr = "Netlogon2";
	expect_spec(&s, 7, -1, "longer attribute name");
	s.attr = "Netlogo";
	expect_spec(&s, 7, -1, "shorter attribute name");
	s = good;
	s.nvals = 0;
	expect_spec(&s, 7, -1, "no value");
	s.nvals = 2;
	expect_spec(&s, 7, -1, "two values");
	s = good;
	s.val_len = 0;
	expect_spec(&s, 7, -1, "empty value");
	s = good;
	s.entry = false;
	expect_spec(&s, 7, -1, "done alone");
	s.done = false;
	expect_spec(&s, 7, -1, "nothing at all");
	s = good;
	s.code = 32;
	expect_spec(&s, 7, -1, "done with an error");
	s = good;
	s.after_done = true;
	expect_spec(&s, 7, -1, "message after done");
	s = good;
	s.nentries = 2;
	expect_spec(&s, 7, -1, "two entries");
	s = good;
	s.op = 0x73; /* SearchResultReference */
	expect_spec(&s, 7, -1, "search reference");
	s.op = 0x63; /* a request */
	expect_spec(&s, 7, -1, "search request");
}

static void test_decode_ping_is_not_reply(void **state)
{
	void *v;
	size_t vlen;
	const char *error;

	assert_int_equal(decode(ping_ad_example, sizeof(ping_ad_example), 1, &v,
	                        &vlen, &error),
	                 -1);
	assert_null(v);
}

static void test_truncated_everywhere(void **state)
{
	struct spec s = good;

	for (int variant = 0; variant < 3; variant++) {
		size_t len, entry_end;
		unsigned char *p;

		s = good;
		s.other_attrs = variant >= 1;
		s.referral = variant == 2;
		s.entry_controls = variant == 2;
		p = build_reply(&s, &len, &entry_end);
		for (size_t n = 0; n < len; n++) {
			void *v;
			size_t vlen;
			const char *error;
			int ret = decode(p, n, 7, &v, &vlen, &error);

			/* Cut right after the entry: a valid entry-only reply.
			 */
			if (n == entry_end) {
				assert_int_equal(ret, 0);
				free(v);
				continue;
			}
			if (ret != -1)
				fail_msg("variant %d prefix %zu accepted",
				         variant, n);
			assert_null(v);
		}
		free(p);
	}
}

static void test_garbage(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} cases[] = {
	    {"\x30", 1},
	    {"\x30\x80\x02\x01\x07\x00\x00", 7},         /* indefinite */
	    {"\x30\x84\xff\xff\xff\xff\x02\x01\x07", 9}, /* huge */
	    {"\x30\x89\x01\x01\x01\x01\x01\x01\x01\x01\x01", 11},
	    {"\x30\x03\x02\x01\x07", 5},         /* no operation */
	    {"\x30\x04\x02\x02\x00\x07", 6},     /* short */
	    {"\x30\x05\x02\x01\x07\x64\x00", 7}, /* empty entry */
	    {"\x30\x05\x04\x01\x07\x64\x00", 7}, /* id not integer */
	    {"\x30\x0a\x02\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01", 12},
	    {"\x30\x05\x02\x01\x07\x65\x00", 7}, /* empty done */
	    {"\x00\x00", 2},
	};
	unsigned char rnd[512], *p;
	uint64_t st = 0x9e3779b97f4a7c15ULL;
	size_t len, entry_end;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *v;
		size_t vlen;
		const char *error;

		if (decode((const unsigned char *)cases[i].bytes, cases[i].len,
		           7, &v, &vlen, &error) != -1)
			fail_msg("garbage case %zu accepted", i);
	}
	/* Random bytes and random corruptions of a valid reply. */
	p = build_reply(&good, &len, &entry_end);
	for (int round = 0; round < 20000; round++) {
		void *v;
		size_t vlen, n;
		const char *error;

		st ^= st << 13;
		st ^= st >> 7;
		st ^= st << 17;
		if (round % 2 == 0) {
			n = st % sizeof(rnd);
			for (size_t i = 0; i < n; i++)
				rnd[i] = (unsigned char)(st >> (i % 56));
		} else {
			n = len;
			memcpy(rnd, p, n);
			rnd[st % n] ^= (unsigned char)(1u << (st >> 60 & 7));
		}
		if (decode(rnd, n, 7, &v, &vlen, &error) == 0)
			free(v);
	}
	free(p);
	{
		void *v;
		size_t vlen;
		const char *error;
		unsigned char *big = calloc(70000, 1);

		assert_int_equal(
		    cldap_decode_reply(NULL, 5, 7, &v, &vlen, &error), -1);
		assert_int_equal(
		    cldap_decode_reply(big, 0, 7, &v, &vlen, &error), -1);
		assert_int_equal(
		    cldap_decode_reply(big, 70000, 7, &v, &vlen, &error), -1);
		free(big);
	}
}

static void write_seed(const char *dir, const char *name,
                       const unsigned char *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
}

static void seed(const char *dir, const char *name, const struct spec *s)
{
	size_t len, entry_end;
	unsigned char *p = build_reply(s, &len, &entry_end);

	write_seed(dir, name, p, len);
	free(p);
}

static void test_corpus(void **state)
{
	const char *dir = getenv("DIRMX_WRITE_CORPUS");
	struct spec s;

	if (dir == NULL)
		return;
	/* The fuzz target expects messageID 7. */
	seed(dir, "entry-done", &good);
	s = good;
	s.done = false;
	seed(dir, "entry-only", &s);
	s = good;
	s.other_attrs = true;
	s.entry_controls = true;
	s.referral = true;
	seed(dir, "entry-extras-done", &s);
	s = good;
	s.entry = false;
	seed(dir, "done-only", &s);
	s = good;
	s.code = 1;
	seed(dir, "done-error", &s);
	write_seed(dir, "ping-request", ping_ad_example,
	           sizeof(ping_ad_example));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_known_bytes),
	    cmocka_unit_test(test_encode_liblber_roundtrip),
	    cmocka_unit_test(test_encode_errors),
	    cmocka_unit_test(test_decode_valid),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_decode_ping_is_not_reply),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
