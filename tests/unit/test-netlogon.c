/*
 * test-netlogon - NETLOGON_SAM_LOGON_RESPONSE_EX decoding and the ping
 * filter.
 *
 * The responses are built by a small test-only encoder (with and without
 * RFC 1035 compression). With DIRMX_WRITE_CORPUS=DIR set, test_corpus
 * also writes the seed files of tests/fuzz/corpus/netlogon into DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netlogon.h"

/* ---- test-only encoder ---- */

struct enc {
	unsigned char b[4096];
	size_t len;
	bool compress;
	const char *sfx[128]; /* suffixes written so far, for compression */
	size_t sfx_off[128];
	size_t nsfx;
};

static void put_u8(struct enc *e, uint8_t v)
{
	assert_true(e->len < sizeof(e->b));
	e->b[e->len++] = v;
}

static void put_le16(struct enc *e, uint16_t v)
{
	put_u8(e, v & 0xff);
	put_u8(e, v >> 8);
}

static void put_le32(struct enc *e, uint32_t v)
{
	put_le16(e, v & 0xffff);
	put_le16(e, v >> 16);
}

static void put_bytes(struct enc *e, const void *p, size_t n)
{
	assert_true(e->len + n <= sizeof(e->b));
	memcpy(e->b + e->len, p, n);
	e->len += n;
}

static void put_name(struct enc *e, const char *name)
{
	const char *p = name;

	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);

		if (e->compress) {
			for (size_t i = 0; i < e->nsfx; i++) {
				if (strcmp(e->sfx[i], p) == 0) {
					put_u8(e, 0xc0 | (e->sfx_off[i] >> 8));
					put_u8(e, e->sfx_off[i] & 0xff);
					return;
				}
			}
			assert_true(e->nsfx < 128);
			e->sfx[e->nsfx] = p;
			e->sfx_off[e->nsfx++] = e->len;
		}
		put_u8(e, (uint8_t)l);
		put_bytes(e, p, l);
		p += l;
		if (*p == '.')
			p++;
	}
	put_u8(e, 0);
}

struct resp {
	uint16_t opcode;
	uint32_t flags;
	uint8_t guid[16];
	const char *names[8];
	bool with_ip;
	uint8_t ip[4];
	const char *next_closest; /* written when not NULL */
	uint32_t ntver;
};

static void build(struct enc *e, const struct resp *r, bool compress)
{
	memset(e, 0, sizeof(*e));
	e->compress = compress;
	put_le16(e, r->opcode);
	put_le16(e, 0);
	put_le32(e, r->flags);
	put_bytes(e, r->guid, 16);
	for (int i = 0; i < 8; i++)
		put_name(e, r->names[i]);
	if (r->with_ip) {
		static const uint8_t zero[8];

		put_u8(e, 16);
		put_le16(e, 2);
		put_le16(e, 0);
		put_bytes(e, r->ip, 4);
		put_bytes(e, zero, 8);
	}
	if (r->next_closest != NULL)
		put_name(e, r->next_closest);
	put_le32(e, r->ntver);
	put_le16(e, 0xffff);
	put_le16(e, 0xffff);
}

static void put_trailer(struct enc *e, uint32_t ntver)
{
	put_le32(e, ntver);
	put_le16(e, 0xffff);
	put_le16(e, 0xffff);
}

/* The header of a response, for hand-written name areas. */
static void put_header(struct enc *e)
{
	memset(e, 0, sizeof(*e));
	put_le16(e, NETLOGON_OP_SAM_LOGON_RESPONSE_EX);
	put_le16(e, 0);
	put_le32(e, 0);
	for (int i = 0; i < 16; i++)
		put_u8(e, (uint8_t)i);
}

#define SAMBA_FLAGS                                                            \
	(NETLOGON_DS_PDC | NETLOGON_DS_GC | NETLOGON_DS_LDAP |                 \
	 NETLOGON_DS_DS | NETLOGON_DS_KDC | NETLOGON_DS_TIMESERV |             \
	 NETLOGON_DS_CLOSEST | NETLOGON_DS_WRITABLE |                          \
	 NETLOGON_DS_GOOD_TIMESERV | NETLOGON_DS_DNS_CONTROLLER |              \
	 NETLOGON_DS_DNS_DOMAIN | NETLOGON_DS_DNS_FOREST)

static const struct resp samba = {
    NETLOGON_OP_SAM_LOGON_RESPONSE_EX,
    SAMBA_FLAGS,
    {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67,
     0x89, 0xab, 0xcd, 0xef},
    {"samdom.example.com", "samdom.example.com", "dc1.samdom.example.com",
     "SAMDOM", "DC1", "", "Default-First-Site-Name", "Default-First-Site-Name"},
    false,
    {0},
    NULL,
    NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5EX,
};

static const struct resp full = {
    NETLOGON_OP_SAM_USER_UNKNOWN_EX,
    NETLOGON_DS_GC | NETLOGON_DS_LDAP | NETLOGON_DS_WRITABLE,
    {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
    {"corp.example", "emea.corp.example", "dc7.emea.corp.example", "EMEA",
     "DC7", "alice", "Paris", "Lyon"},
    true,
    {192, 0, 2, 7},
    "Paris",
    NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5EX |
        NETLOGON_NT_VERSION_5EX_WITH_IP | NETLOGON_NT_VERSION_WITH_CLOSEST_SITE,
};

static void check_info(const struct netlogon_info *info, const struct resp *r)
{
	const char *got[8] = {info->dns_forest,       info->dns_domain,
	                      info->dns_host,         info->netbios_domain,
	                      info->netbios_computer, info->user_name,
	                      info->dc_site,          info->client_site};

	assert_int_equal(info->opcode, r->opcode);
	assert_int_equal(info->flags, r->flags);
	assert_memory_equal(info->domain_guid, r->guid, 16);
	for (int i = 0; i < 8; i++)
		assert_string_equal(got[i], r->names[i]);
	assert_int_equal(info->dc_ipv4_present, r->with_ip);
	if (r->with_ip)
		assert_memory_equal(info->dc_ipv4, r->ip, 4);
	if (r->next_closest == NULL)
		assert_null(info->next_closest_site);
	else
		assert_string_equal(info->next_closest_site, r->next_closest);
	assert_int_equal(info->nt_version, r->ntver);
}

static int decode(const struct enc *e, struct netlogon_info **info,
                  const char **error)
{
	*error = NULL;
	return netlogon_decode(e->b, e->len, info, error);
}

static void expect_fail(const struct enc *e, const char *why)
{
	struct netlogon_info *info = (struct netlogon_info *)1;
	const char *error;

	if (decode(e, &info, &error) != -1)
		fail_msg("%s: accepted", why);
	assert_null(info);
	assert_non_null(error);
}

static void test_decode_valid(void **state)
{
	const struct resp *cases[] = {&samba, &full};

	for (size_t c = 0; c < 2; c++) {
		for (int compress = 0; compress <= 1; compress++) {
			struct enc e;
			struct netlogon_info *info;
			const char *error;

			build(&e, cases[c], compress);
			if (decode(&e, &info, &error) != 0)
				fail_msg("case %zu compress %d: %s", c,
				         compress, error);
			check_info(info, cases[c]);
			assert_true((info->flags & NETLOGON_DS_CLOSEST) ==
			            (c == 0 ? NETLOGON_DS_CLOSEST : 0));
			netlogon_info_deinit(&info);
			assert_null(info);
			netlogon_info_deinit(&info);
		}
	}
}

static void test_compression_used(void **state)
{
	struct enc plain, comp;

	build(&plain, &samba, false);
	build(&comp, &samba, true);
	/* dns_domain and the client site become 2-byte pointers. */
	assert_true(comp.len + 30 < plain.len);
}

static void test_opcodes(void **state)
{
	const uint16_t ok[] = {23, 24, 25};
	const uint16_t bad[] = {0, 19, 21, 22, 26, 0x1700, 0xffff};

	for (size_t i = 0; i < 3; i++) {
		struct resp r = samba;
		struct enc e;
		struct netlogon_info *info;
		const char *error;

		r.opcode = ok[i];
		build(&e, &r, true);
		assert_int_equal(decode(&e, &info, &error), 0);
		assert_int_equal(info->opcode, ok[i]);
		netlogon_info_deinit(&info);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct resp r = samba;
		struct enc e;

		r.opcode = bad[i];
		build(&e, &r, true);
		expect_fail(&e, "bad opcode");
	}
}

static void test_truncated_everywhere(void **state)
{
	const struct resp *cases[] = {&samba, &full};

	for (size_t c = 0; c < 2; c++) {
		for (int compress = 0; compress <= 1; compress++) {
			struct enc e;

			build(&e, cases[c], compress);
			for (size_t n = 0; n < e.len; n++) {
				struct netlogon_info *info;
				const char *error;
				/* Exact-size copy, so ASan sees overreads. */
				unsigned char *copy = malloc(n ? n : 1);

				memcpy(copy, e.b, n);
				if (netlogon_decode(copy, n, &info, &error) !=
				    -1)
					fail_msg("prefix %zu accepted", n);
				assert_null(info);
				free(copy);
			}
		}
	}
}

static void test_cut_before_trailer(void **state)
{
	/* Remove k bytes just before the trailer: never a valid parse. */
	struct enc e, cut;

	build(&e, &samba, true);
	for (size_t k = 1; k + 8 + 24 <= e.len; k++) {
		cut = e;
		cut.len = e.len - 8 - k;
		put_trailer(&cut, samba.ntver);
		expect_fail(&cut, "cut");
	}
}

static void test_trailer(void **state)
{
	struct enc e;
	struct resp r = samba;

	build(&e, &samba, true);
	e.b[e.len - 1] = 0xfe;
	expect_fail(&e, "bad Lm20Token");
	build(&e, &samba, true);
	e.b[e.len - 3] = 0x00;
	expect_fail(&e, "bad LmNtToken");
	r.ntver = NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5;
	build(&e, &r, true);
	expect_fail(&e, "not 5EX");
	/* Garbage after the trailer moves the trailer. */
	build(&e, &samba, true);
	put_u8(&e, 0);
	expect_fail(&e, "byte after trailer");
	/* An IP flag without the field: the names run into the end. */
	r = samba;
	r.ntver |= NETLOGON_NT_VERSION_5EX_WITH_IP;
	build(&e, &r, true);
	expect_fail(&e, "WITH_IP without DcSockAddr");
	r = samba;
	r.ntver |= NETLOGON_NT_VERSION_WITH_CLOSEST_SITE;
	build(&e, &r, true);
	expect_fail(&e, "WITH_CLOSEST_SITE without the name");
}

static void test_between_names_and_trailer(void **state)
{
	struct enc e;
	struct resp r = samba;
	struct netlogon_info *info;
	const char *error;

	/* A well-formed name without the flag: taken as NextClosestSite. */
	r.next_closest = "Lyon";
	build(&e, &r, true);
	assert_int_equal(decode(&e, &info, &error), 0);
	assert_string_equal(info->next_closest_site, "Lyon");
	netlogon_info_deinit(&info);
	/* Anything else there is an error. */
	build(&e, &samba, true);
	e.len -= 8;
	put_bytes(&e,
	          "\x05"
	          "ab",
	          3);
	put_trailer(&e, samba.ntver);
	expect_fail(&e, "garbage before trailer");
	build(&e, &samba, true);
	e.len -= 8;
	put_bytes(&e, "\x00\x00", 2);
	put_trailer(&e, samba.ntver);
	expect_fail(&e, "two empty names before trailer");
	/* A short or foreign DcSockAddr is skipped, not an error. */
	r = samba;
	r.ntver |= NETLOGON_NT_VERSION_5EX_WITH_IP;
	build(&e, &r, true);
	e.len -= 8;
	put_bytes(&e, "\x04\x17\x00\x00\x00", 5);
	put_trailer(&e, r.ntver);
	assert_int_equal(decode(&e, &info, &error), 0);
	assert_false(info->dc_ipv4_present);
	netlogon_info_deinit(&info);
	build(&e, &r, true);
	e.len -= 8;
	put_bytes(&e, "\x10\x02\x00", 3);
	put_trailer(&e, r.ntver);
	expect_fail(&e, "truncated DcSockAddr");
}

/* Header, then raw name bytes for all eight names, then the trailer. */
static void raw_names(struct enc *e, const void *names, size_t n)
{
	put_header(e);
	put_bytes(e, names, n);
	put_trailer(e, NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5EX);
}

static void test_hostile_names(void **state)
{
	struct enc e;
	struct netlogon_info *info;
	const char *error;
	unsigned char n[600];
	size_t len;

	/* Pointer to itself: offset 24 is the first name. */
	raw_names(&e, "\xc0\x18\0\0\0\0\0\0\0", 9);
	expect_fail(&e, "self pointer");
	/* Forward pointer, to the second name at 26. */
	raw_names(&e, "\xc0\x1a\0\0\0\0\0\0\0", 9);
	expect_fail(&e, "forward pointer");
	/* Loop: name 2 at 26 points back to 24 which points to 26. */
	raw_names(&e, "\xc0\x1a\xc0\x18\0\0\0\0\0\0", 10);
	expect_fail(&e, "pointer loop");
	/* A pointer past the end. */
	raw_names(&e, "\0\xff\xff\0\0\0\0\0\0", 9);
	expect_fail(&e, "wild pointer");
	/* Truncated pointer as the last byte before the trailer. */
	raw_names(&e, "\0\0\0\0\0\0\0\xc0", 8);
	expect_fail(&e, "half pointer");
	/* Label types 01 and 10 (64..191) are not labels. */
	raw_names(&e, "\x40\0\0\0\0\0\0\0", 8);
	expect_fail(&e, "label 64");
	raw_names(&e, "\x80\0\0\0\0\0\0\0", 8);
	expect_fail(&e, "label 128");
	/* Bytes that would corrupt a C string or a dotted name. */
	raw_names(&e,
	          "\x03"
	          "a\0b"
	          "\0\0\0\0\0\0\0\0",
	          13);
	expect_fail(&e, "NUL in label");
	raw_names(&e,
	          "\x03"
	          "a.b"
	          "\0\0\0\0\0\0\0\0",
	          13);
	expect_fail(&e, "dot in label");
	raw_names(&e,
	          "\x03"
	          "a\nb"
	          "\0\0\0\0\0\0\0\0",
	          13);
	expect_fail(&e, "newline in label");
	/* Backward pointer into an earlier name: fine. */
	raw_names(&e,
	          "\x01"
	          "a\x01"
	          "b\0\xc0\x1a\0\0\0\0\0\0",
	          13);
	assert_int_equal(decode(&e, &info, &error), 0);
	assert_string_equal(info->dns_forest, "a.b");
	assert_string_equal(info->dns_domain, "b");
	netlogon_info_deinit(&info);

	/* 255 bytes in wire form is the most a name may have. */
	len = 0;
	for (int l = 0; l < 4; l++) {
		size_t ll = l < 3 ? 63 : 61;

		n[len++] = (unsigned char)ll;
		memset(n + len, 'x', ll);
		len += ll;
	}
	n[len++] = 0;
	assert_int_equal(len, 255);
	memset(n + len, 0, 7);
	raw_names(&e, n, len + 7);
	assert_int_equal(decode(&e, &info, &error), 0);
	assert_int_equal(strlen(info->dns_forest), 253);
	netlogon_info_deinit(&info);
	n[3 * 64] = 62;
	memmove(n + 3 * 64 + 1 + 62, n + 3 * 64 + 1 + 61, 8);
	n[3 * 64 + 1 + 61] = 'x';
	raw_names(&e, n, 256 + 7);
	expect_fail(&e, "256-byte name");
	/* Too long through compression: 200 bytes + pointer to 200 more. */
	len = 0;
	for (int l = 0; l < 4; l++) {
		n[len++] = 49;
		memset(n + len, 'y', 49);
		len += 49;
	}
	n[len++] = 0; /* name 1: 201 bytes */
	n[len++] = 49;
	memset(n + len, 'z', 49);
	len += 49;
	n[len++] = 0xc0;
	n[len++] = 24; /* name 2: 50 bytes + name 1 = 251: fine */
	n[len++] = 10;
	memset(n + len, 'w', 10);
	len += 10;
	n[len++] = 0xc0;
	n[len++] = 24 + 201; /* name 3: 11 + 251 > 255 */
	memset(n + len, 0, 5);
	raw_names(&e, n, len + 5);
	expect_fail(&e, "long through pointers");
}

static void test_jump_limit(void **state)
{
	/*
	 * DcSockAddr content is not parsed as a name, so it can hold a
	 * chain of 100 backward pointers; NextClosestSiteName enters it at
	 * the top.
	 */
	struct enc e;
	size_t base;
	uint32_t ntver = NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5EX |
	                 NETLOGON_NT_VERSION_5EX_WITH_IP |
	                 NETLOGON_NT_VERSION_WITH_CLOSEST_SITE;

	put_header(&e);
	put_bytes(&e, "\0\0\0\0\0\0\0\0", 8);
	put_u8(&e, 201);
	base = e.len;
	put_u8(&e, 0); /* the empty name at the bottom */
	for (size_t i = 0; i < 100; i++) {
		size_t to = i == 0 ? base : base + 1 + 2 * (i - 1);

		put_u8(&e, 0xc0 | (uint8_t)(to >> 8));
		put_u8(&e, to & 0xff);
	}
	put_u8(&e, 0xc0 | (uint8_t)((base + 1 + 2 * 99) >> 8));
	put_u8(&e, (base + 1 + 2 * 99) & 0xff);
	put_trailer(&e, ntver);
	expect_fail(&e, "pointer chain");
}

static void test_filter(void **state)
{
	static const struct {
		const char *domain;
		uint32_t ntver;
		const char *want;
	} cases[] = {
	    {"samdom.example.com", NETLOGON_NT_VERSION_PING,
	     "(&(DnsDomain=samdom.example.com)(NtVer=\\16\\00\\00\\00))"},
	    {"a*b(c)d\\e", 0x01020304,
	     "(&(DnsDomain=a\\2ab\\28c\\29d\\5ce)(NtVer=\\04\\03\\02\\01))"},
	    {"x)(objectClass=*", 0x16,
	     "(&(DnsDomain=x\\29\\28objectClass=\\2a)"
	     "(NtVer=\\16\\00\\00\\00))"},
	    {"\xc3\xa9t\x01", 0xffffffff,
	     "(&(DnsDomain=\\c3\\a9t\\01)(NtVer=\\ff\\ff\\ff\\ff))"},
	};
	char *filter, longname[300];
	const char *error;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(netlogon_build_filter(cases[i].domain,
		                                       cases[i].ntver, &filter,
		                                       &error),
		                 0);
		assert_string_equal(filter, cases[i].want);
		free(filter);
	}
	assert_int_equal(netlogon_build_filter(NULL, 0x16, &filter, &error),
	                 -1);
	assert_null(filter);
	assert_int_equal(netlogon_build_filter("", 0x16, &filter, &error), -1);
	memset(longname, '*', 255);
	longname[255] = '\0';
	assert_int_equal(netlogon_build_filter(longname, 0x16, &filter, &error),
	                 0);
	assert_int_equal(strlen(filter), 255 * 3 + 35);
	free(filter);
	longname[255] = 'a';
	longname[256] = '\0';
	assert_int_equal(netlogon_build_filter(longname, 0x16, &filter, &error),
	                 -1);
}

static void write_seed(const char *dir, const char *name, const struct enc *e)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(e->b, 1, e->len, f), e->len);
	fclose(f);
}

static void test_corpus(void **state)
{
	const char *dir = getenv("DIRMX_WRITE_CORPUS");
	struct resp r = full;
	struct enc e;

	if (dir == NULL)
		return;
	build(&e, &samba, true);
	write_seed(dir, "samba-compressed", &e);
	build(&e, &samba, false);
	write_seed(dir, "samba-plain", &e);
	build(&e, &full, true);
	write_seed(dir, "ip-closest-compressed", &e);
	build(&e, &full, false);
	write_seed(dir, "ip-closest-plain", &e);
	r.next_closest = NULL;
	r.ntver &= ~NETLOGON_NT_VERSION_WITH_CLOSEST_SITE;
	r.opcode = NETLOGON_OP_SAM_PAUSE_RESPONSE_EX;
	build(&e, &r, true);
	write_seed(dir, "ip-only", &e);
	raw_names(&e,
	          "\x01"
	          "a\x01"
	          "b\0\xc0\x1a\0\0\0\0\0\0",
	          13);
	write_seed(dir, "pointer-back", &e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_valid),
	    cmocka_unit_test(test_compression_used),
	    cmocka_unit_test(test_opcodes),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_cut_before_trailer),
	    cmocka_unit_test(test_trailer),
	    cmocka_unit_test(test_between_names_and_trailer),
	    cmocka_unit_test(test_hostile_names),
	    cmocka_unit_test(test_jump_limit),
	    cmocka_unit_test(test_filter),
	    cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
