/*
 * dns_parse - DNS response and server address parsers; see dns_parse.h.
 *
 * Why by hand: c-ares 1.18's ares_parse_srv_reply() and
 * ares_parse_mx_reply() drop the TTL, which authd needs to know when to
 * look the domain controllers up again. The parser is small and reads the
 * packet only through buf.h. Compression pointers must point strictly
 * backwards from the label sequence that holds them, which both ends
 * loops and bounds the work per name.
 */
#include "dns_parse.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "alloc.h"
#include "buf.h"

#define DNS_CLASS_IN 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA 6
#define DNS_HEADER_LEN 12
#define DNS_NAME_WIRE_MAX 255

struct rr {
	char owner[DNS_NAME_TEXT_MAX];
	uint16_t type;
	uint16_t class;
	uint32_t ttl;
	size_t rdata_pos;
	uint16_t rdlength;
};

static bool name_append(char *out, size_t *len, const char *s, size_t n)
{
	if (n >= DNS_NAME_TEXT_MAX - *len)
		return false;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return true;
}

static bool label_append(char *out, size_t *len, const unsigned char *label,
                         size_t n)
{
	char esc[5];

	for (size_t i = 0; i < n; i++) {
		unsigned char c = label[i];
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '_';

		if (plain) {
			esc[0] = (char)c;
			if (!name_append(out, len, esc, 1))
				return false;
		} else if (c == '.' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			if (!name_append(out, len, esc, 2))
				return false;
		} else {
			esc[0] = '\\';
			esc[1] = (char)('0' + c / 100);
			esc[2] = (char)('0' + c / 10 % 10);
			esc[3] = (char)('0' + c % 10);
			if (!name_append(out, len, esc, 4))
				return false;
		}
	}
	return name_append(out, len, ".", 1);
}

/*
 * Read the (possibly compressed) name at b's position into out, leaving b
 * just past the name as it appears there.
 */
static bool name_read(struct buf *b, char out[static DNS_NAME_TEXT_MAX])
{
	struct buf p = *b;
	size_t seq_start = buf_pos(&p), text_len = 0, wire_len = 1;
	bool jumped = false;
	unsigned char label[63];
	uint8_t n, lo;

	out[0] = '\0';
	for (;;) {
		if (!buf_fetch_u8(&p, &n))
			return false;
		if (n == 0)
			break;
		if ((n & 0xc0) == 0xc0) {
			size_t target;

			if (!buf_fetch_u8(&p, &lo))
				return false;
			if (!jumped)
				*b = p;
			jumped = true;
			target = (size_t)(n & 0x3f) << 8 | lo;
			/* Only backwards: no loops, finite work. */
			if (target >= seq_start || !buf_seek(&p, target))
				return false;
			seq_start = target;
			continue;
		}
		if ((n & 0xc0) != 0)
			return false; /* extended label types: obsolete */
		wire_len += 1 + (size_t)n;
		if (wire_len > DNS_NAME_WIRE_MAX ||
		    !buf_fetch_bytes(&p, label, n) ||
		    !label_append(out, &text_len, label, n))
			return false;
	}
	if (!jumped)
		*b = p;
	if (text_len == 0)
		return name_append(out, &text_len, ".", 1);
	return true;
}

static bool rr_read(struct buf *b, struct rr *rr)
{
	if (!name_read(b, rr->owner) || !buf_fetch_be16(b, &rr->type) ||
	    !buf_fetch_be16(b, &rr->class) || !buf_fetch_be32(b, &rr->ttl) ||
	    !buf_fetch_be16(b, &rr->rdlength))
		return false;
	/* RFC 2181 8: a TTL with the top bit set is read as zero. */
	if (rr->ttl > 0x7fffffffU)
		rr->ttl = 0;
	rr->rdata_pos = buf_pos(b);
	return buf_skip(b, rr->rdlength);
}

/* Position b at the rdata of rr, bounded by rdlength for the checks. */
static void rdata_begin(const struct buf *msg, const struct rr *rr,
                        struct buf *b)
{
	*b = *msg;
	(void)buf_seek(b, rr->rdata_pos);
}

static bool rdata_done(const struct buf *b, const struct rr *rr)
{
	return buf_pos(b) == rr->rdata_pos + rr->rdlength;
}

static bool rdata_name(struct buf *b, const struct rr *rr,
                       char out[static DNS_NAME_TEXT_MAX])
{
	return name_read(b, out) && buf_pos(b) <= rr->rdata_pos + rr->rdlength;
}

struct answer {
	struct dns_result *res;
	size_t alloc;
	uint32_t min_ttl;
	bool dot_srv;
};

static void *answer_slot(struct answer *a, void **array, size_t size)
{
	if (a->res->count == a->alloc) {
		a->alloc = a->alloc == 0 ? 4 : a->alloc * 2;
		*array = alloc_resize(*array, a->alloc, size);
	}
	return (char *)*array + a->res->count * size;
}

/* One record of the asked type; false when its rdata is malformed. */
static bool answer_add(struct answer *a, const struct buf *msg,
                       const struct rr *rr)
{
	struct dns_result *res = a->res;
	char name[DNS_NAME_TEXT_MAX];
	struct buf b;
	void *array;

	rdata_begin(msg, rr, &b);
	if (res->type == DNS_TYPE_A || res->type == DNS_TYPE_AAAA) {
		struct dns_addr *ad;
		bool v4 = res->type == DNS_TYPE_A;

		if (rr->rdlength != (v4 ? 4 : 16))
			return false;
		array = (void *)res->addrs;
		ad = answer_slot(a, &array, sizeof(*ad));
		res->addrs = array;
		memset(ad, 0, sizeof(*ad));
		ad->family = v4 ? AF_INET : AF_INET6;
		if (!buf_fetch_bytes(&b, v4 ? (void *)&ad->u.v4 : &ad->u.v6,
		                     rr->rdlength))
			return false;
		ad->ttl = rr->ttl;
	} else if (res->type == DNS_TYPE_MX) {
		struct dns_mx *mx;
		uint16_t pref;

		if (!buf_fetch_be16(&b, &pref) || !rdata_name(&b, rr, name) ||
		    !rdata_done(&b, rr))
			return false;
		array = (void *)res->mx;
		mx = answer_slot(a, &array, sizeof(*mx));
		res->mx = array;
		mx->preference = pref;
		mx->ttl = rr->ttl;
		mx->exchange = alloc_strdup(name);
	} else {
		struct dns_srv *srv;
		uint16_t prio, weight, port;

		if (!buf_fetch_be16(&b, &prio) ||
		    !buf_fetch_be16(&b, &weight) ||
		    !buf_fetch_be16(&b, &port) || !rdata_name(&b, rr, name) ||
		    !rdata_done(&b, rr))
			return false;
		if (strcmp(name, ".") == 0) {
			/* RFC 2782: "decidedly not available"; see dns.h. */
			a->dot_srv = true;
			if (rr->ttl < a->min_ttl)
				a->min_ttl = rr->ttl;
			return true;
		}
		array = (void *)res->srv;
		srv = answer_slot(a, &array, sizeof(*srv));
		res->srv = array;
		srv->priority = prio;
		srv->weight = weight;
		srv->port = port;
		srv->ttl = rr->ttl;
		srv->target = alloc_strdup(name);
	}
	res->count++;
	if (rr->ttl < a->min_ttl)
		a->min_ttl = rr->ttl;
	return true;
}

/* RFC 2308 5: the negative TTL is min(SOA TTL, SOA MINIMUM). */
static uint32_t negative_ttl(const struct buf *msg, struct buf *b,
                             uint16_t nscount)
{
	char name[DNS_NAME_TEXT_MAX];
	struct rr rr;
	struct buf r;
	uint32_t serial_etc[5];

	for (uint16_t i = 0; i < nscount; i++) {
		if (!rr_read(b, &rr))
			return 0;
		if (rr.type != DNS_TYPE_SOA || rr.class != DNS_CLASS_IN)
			continue;
		rdata_begin(msg, &rr, &r);
		if (!rdata_name(&r, &rr, name) || !rdata_name(&r, &rr, name))
			return 0;
		for (size_t k = 0; k < 5; k++) {
			if (!buf_fetch_be32(&r, &serial_etc[k]))
				return 0;
		}
		if (!rdata_done(&r, &rr))
			return 0;
		return serial_etc[4] < rr.ttl ? serial_etc[4] : rr.ttl;
	}
	return 0;
}

static enum dns_status fail(struct dns_result *res, enum dns_status status,
                            const char *reason)
{
	dns_result_clear(res);
	res->status = status;
	res->reason = reason;
	return status;
}

static enum dns_status rcode_status(uint8_t rcode, const char **reason_r)
{
	switch (rcode) {
	case 0:
		return DNS_OK;
	case 2:
		*reason_r = "server failure (SERVFAIL)";
		return DNS_SERVFAIL;
	case 3:
		*reason_r = "the name does not exist (NXDOMAIN)";
		return DNS_NXDOMAIN;
	case 5:
		*reason_r = "the server refused the query (REFUSED)";
		return DNS_REFUSED;
	case 1:
		*reason_r = "the server could not read the query (FORMERR)";
		return DNS_ERROR;
	case 4:
		*reason_r = "the server does not implement the query (NOTIMP)";
		return DNS_ERROR;
	default:
		*reason_r = "unknown response code";
		return DNS_ERROR;
	}
}

enum dns_status dns_parse_response(const void *data, size_t len,
                                   enum dns_type qtype,
                                   struct dns_result *result_r)
{
	struct answer a = {.res = result_r, .min_ttl = UINT32_MAX};
	char qname[DNS_NAME_TEXT_MAX], cur[DNS_NAME_TEXT_MAX];
	char target[DNS_NAME_TEXT_MAX];
	const char *reason = NULL;
	uint16_t id, flags, qdcount, ancount, nscount, arcount, t, c;
	enum dns_status status;
	struct buf msg, b, r;
	struct rr rr;

	memset(result_r, 0, sizeof(*result_r));
	result_r->type = qtype;
	buf_init(&msg, data, len);
	b = msg;
	if (!buf_fetch_be16(&b, &id) || !buf_fetch_be16(&b, &flags) ||
	    !buf_fetch_be16(&b, &qdcount) || !buf_fetch_be16(&b, &ancount) ||
	    !buf_fetch_be16(&b, &nscount) || !buf_fetch_be16(&b, &arcount))
		return fail(result_r, DNS_BADRESP,
		            "response shorter than a header");
	if ((flags & 0x8000) == 0)
		return fail(result_r, DNS_BADRESP, "not a response");
	status = rcode_status(flags & 0x0f, &reason);
	if (status != DNS_OK && status != DNS_NXDOMAIN)
		return fail(result_r, status, reason);
	if (qdcount != 1)
		return fail(result_r, DNS_BADRESP, "not one question");
	if (!name_read(&b, qname) || !buf_fetch_be16(&b, &t) ||
	    !buf_fetch_be16(&b, &c))
		return fail(result_r, DNS_BADRESP, "truncated question");
	if (t != qtype || c != DNS_CLASS_IN)
		return fail(result_r, DNS_BADRESP,
		            "answer to another question");

	memcpy(cur, qname, sizeof(cur));
	for (uint16_t i = 0; i < ancount; i++) {
		if (!rr_read(&b, &rr))
			return fail(result_r, DNS_BADRESP, "truncated answer");
		if (rr.class != DNS_CLASS_IN || strcasecmp(rr.owner, cur) != 0)
			continue;
		if (rr.type == DNS_TYPE_CNAME && rr.type != qtype) {
			rdata_begin(&msg, &rr, &r);
			if (!rdata_name(&r, &rr, target) ||
			    !rdata_done(&r, &rr))
				return fail(result_r, DNS_BADRESP, "bad CNAME");
			memcpy(cur, target, sizeof(cur));
		} else if (rr.type == qtype && status == DNS_OK) {
			if (!answer_add(&a, &msg, &rr))
				return fail(result_r, DNS_BADRESP,
				            "malformed record data");
		}
	}

	if (status == DNS_OK && result_r->count > 0) {
		result_r->status = DNS_OK;
		result_r->ttl = a.min_ttl;
		return DNS_OK;
	}
	if (status == DNS_OK && a.dot_srv) {
		result_r->status = DNS_NODATA;
		result_r->srv_unavailable = true;
		result_r->reason = "service not available (SRV target \".\")";
		result_r->ttl = a.min_ttl;
		return DNS_NODATA;
	}
	if (status == DNS_OK) {
		status = DNS_NODATA;
		reason = "no record of that type";
	}
	result_r->status = status;
	result_r->reason = reason;
	result_r->ttl = negative_ttl(&msg, &b, nscount);
	return status;
}

void dns_result_clear(struct dns_result *result)
{
	for (size_t i = 0; i < result->count; i++) {
		if (result->type == DNS_TYPE_SRV && result->srv != NULL)
			free((char *)result->srv[i].target);
		if (result->type == DNS_TYPE_MX && result->mx != NULL)
			free((char *)result->mx[i].exchange);
	}
	free((void *)result->srv);
	free((void *)result->mx);
	free((void *)result->addrs);
	result->srv = NULL;
	result->mx = NULL;
	result->addrs = NULL;
	result->count = 0;
	result->ttl = 0;
	result->srv_unavailable = false;
	result->reason = NULL;
}

int dns_server_parse(const char *s, struct dns_server *server_r,
                     const char **error_r)
{
	char addr[INET6_ADDRSTRLEN];
	const unsigned char *p;
	uint64_t port = 53;
	size_t n, colons = 0;
	bool bracket, v6;
	struct buf b;

	memset(server_r, 0, sizeof(*server_r));
	buf_init(&b, s, strlen(s));
	for (size_t i = 0; s[i] != '\0'; i++)
		colons += s[i] == ':';
	bracket = buf_consume_char(&b, '[');
	if (bracket) {
		n = buf_fetch_until(&b, "]", &p);
		if (!buf_consume_char(&b, ']')) {
			*error_r = "missing ']' after an IPv6 address";
			return -1;
		}
	} else {
		n = buf_fetch_until(&b, colons >= 2 ? "" : ":", &p);
	}
	v6 = bracket || colons >= 2;
	if (buf_consume_char(&b, ':')) {
		if (!buf_fetch_uint(&b, 65535, &port) || port == 0) {
			*error_r = "bad port (1-65535)";
			return -1;
		}
	}
	if (buf_remaining(&b) != 0) {
		*error_r = "trailing characters after the server address";
		return -1;
	}
	if (n == 0 || n >= sizeof(addr)) {
		*error_r = "missing or too long server address";
		return -1;
	}
	memcpy(addr, p, n);
	addr[n] = '\0';
	server_r->family = v6 ? AF_INET6 : AF_INET;
	if (inet_pton(server_r->family, addr,
	              v6 ? (void *)&server_r->u.v6 : &server_r->u.v4) != 1) {
		*error_r = v6 ? "not an IPv6 address" : "not an IPv4 address";
		return -1;
	}
	server_r->port = (uint16_t)port;
	return 0;
}
