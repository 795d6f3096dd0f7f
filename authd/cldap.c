/*
 * cldap - encode the LDAP ping datagram and decode the DC's reply.
 *
 * SYNOPSIS
 *	cldap_encode_ping(msgid, dns_domain, ntver, &data, &len, &error)
 *	cldap_decode_reply(data, len, msgid, &netlogon, &netlogon_len, &error)
 *
 * DESCRIPTION
 *	Debian's libldap has no cldap:// transport, so the ping is built and
 *	read here with liblber and sent by the caller as one UDP datagram to
 *	port 389 (MS-ADTS 6.3.3). The request is an ordinary LDAPv3
 *	LDAPMessage, which is what Windows and Samba send and accept over
 *	UDP. The reply datagram holds a SearchResultEntry message and,
 *	usually in the same datagram, a SearchResultDone.
 *
 *	Decoding walks the BER with explicit scopes: every constructed
 *	element's contents get a BerElement of their own (ber_init2 over the
 *	contents), so an inner element can never run past its parent, and
 *	every scope must be consumed exactly. liblber's in-place readers look
 *	at the byte after each element, so the datagram is first copied into
 *	a buffer one byte longer than the input; the caller's bytes are only
 *	read, and only within len.
 */
#include "cldap.h"

#include <lber.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

/* RFC 4511 application tags, with the constructed bit. */
#define TAG_SEARCH_REQUEST ((ber_tag_t)0x63)
#define TAG_SEARCH_RES_ENTRY ((ber_tag_t)0x64)
#define TAG_SEARCH_RES_DONE ((ber_tag_t)0x65)
#define TAG_FILTER_AND ((ber_tag_t)0xa0)
#define TAG_FILTER_EQUALITY ((ber_tag_t)0xa3)
#define TAG_CONTROLS ((ber_tag_t)0xa0)
#define TAG_REFERRAL ((ber_tag_t)0xa3)

#define SCOPE_BASE 0
#define DEREF_NEVER 0
#define DNS_NAME_MAX 255
/* A UDP payload cannot be larger. */
#define CLDAP_REPLY_MAX 65535

#define NETLOGON_ATTR "Netlogon"

struct reply {
	bool entry;
	bool done;
	void *value;
	size_t value_len;
};

int cldap_encode_ping(int msgid, const char *dns_domain, uint32_t ntver,
                      void **data_r, size_t *len_r, const char **error_r)
{
	unsigned char nt[4] = {ntver & 0xff, (ntver >> 8) & 0xff,
	                       (ntver >> 16) & 0xff, (ntver >> 24) & 0xff};
	struct berval bv;
	BerElement *ber;
	size_t dlen;
	int rc;

	*data_r = NULL;
	*len_r = 0;
	if (msgid <= 0) {
		*error_r = "CLDAP messageID must be positive";
		return -1;
	}
	if (dns_domain == NULL || dns_domain[0] == '\0' ||
	    (dlen = strlen(dns_domain)) > DNS_NAME_MAX) {
		*error_r = "LDAP ping needs a DNS domain of 1 to 255 bytes";
		return -1;
	}
	ber = ber_alloc_t(LBER_USE_DER);
	if (ber == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	rc = ber_printf(
	    ber,
	    "{it{seeiib"    /* message, search request */
	    "t{t{oo}t{oo}}" /* the AND filter */
	    "{s}}}",        /* attributes */
	    (ber_int_t)msgid, TAG_SEARCH_REQUEST, "", (ber_int_t)SCOPE_BASE,
	    (ber_int_t)DEREF_NEVER, (ber_int_t)0, (ber_int_t)0, (ber_int_t)0,
	    TAG_FILTER_AND, TAG_FILTER_EQUALITY, "DnsDomain", (ber_len_t)9,
	    dns_domain, (ber_len_t)dlen, TAG_FILTER_EQUALITY, "NtVer",
	    (ber_len_t)5, (char *)nt, (ber_len_t)sizeof(nt), NETLOGON_ATTR);
	if (rc < 0 || ber_flatten2(ber, &bv, 0) < 0) {
		ber_free(ber, 1);
		*error_r = "BER encoding of the LDAP ping failed";
		return -1;
	}
	*data_r = alloc_memdup(bv.bv_val, bv.bv_len);
	*len_r = bv.bv_len;
	ber_free(ber, 1);
	return 0;
}

/* A reader over the contents bv of one element (bv must stay valid). */
static BerElement *scope_new(struct berval *bv)
{
	BerElement *ber = ber_alloc_t(0);

	if (ber == NULL)
		return NULL;
	ber_init2(ber, bv, 0);
	return ber;
}

static ber_len_t scope_left(BerElement *ber)
{
	ber_len_t n = 0;

	if (ber_get_option(ber, LBER_OPT_BER_REMAINING_BYTES, &n) != 0)
		return 0;
	return n;
}

/* Take the next element, which must carry the tag want. */
static bool take(BerElement *ber, ber_tag_t want, struct berval *bv)
{
	return scope_left(ber) > 0 && ber_skip_element(ber, bv) == want;
}

static bool is_netlogon(const struct berval *type)
{
	return type->bv_len == strlen(NETLOGON_ATTR) &&
	       strncasecmp(type->bv_val, NETLOGON_ATTR, type->bv_len) == 0;
}

static int decode_values(struct berval *vals, struct reply *st,
                         const char **error_r)
{
	BerElement *v = scope_new(vals);
	struct berval val;
	int ret = -1;

	if (v == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (!take(v, LBER_OCTETSTRING, &val)) {
		*error_r = "Netlogon attribute without a valid value";
	} else if (scope_left(v) > 0) {
		*error_r = "Netlogon attribute with more than one value";
	} else if (val.bv_len == 0) {
		*error_r = "empty Netlogon value";
	} else {
		st->value = alloc_memdup(val.bv_val, val.bv_len);
		st->value_len = val.bv_len;
		ret = 0;
	}
	ber_free(v, 0);
	return ret;
}

static int decode_attribute(struct berval *attr, struct reply *st,
                            const char **error_r)
{
	BerElement *a = scope_new(attr);
	struct berval type, vals;
	int ret = -1;

	if (a == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (!take(a, LBER_OCTETSTRING, &type) || !take(a, LBER_SET, &vals) ||
	    scope_left(a) > 0) {
		*error_r = "malformed attribute in SearchResultEntry";
	} else if (!is_netlogon(&type)) {
		ret = 0; /* not ours: ignored */
	} else if (st->value != NULL) {
		*error_r = "Netlogon attribute appears twice";
	} else {
		ret = decode_values(&vals, st, error_r);
	}
	ber_free(a, 0);
	return ret;
}

static int decode_entry(struct berval *op, struct reply *st,
                        const char **error_r)
{
	BerElement *e = NULL, *list = NULL;
	struct berval dn, attrs, attr;
	int ret = -1;

	if (st->entry) {
		*error_r = "more than one SearchResultEntry";
		return -1;
	}
	st->entry = true;
	e = scope_new(op);
	if (e == NULL) {
		*error_r = "out of memory";
		goto done;
	}
	if (!take(e, LBER_OCTETSTRING, &dn) ||
	    !take(e, LBER_SEQUENCE, &attrs) || scope_left(e) > 0) {
		*error_r = "malformed SearchResultEntry";
		goto done;
	}
	list = scope_new(&attrs);
	if (list == NULL) {
		*error_r = "out of memory";
		goto done;
	}
	while (scope_left(list) > 0) {
		if (!take(list, LBER_SEQUENCE, &attr)) {
			*error_r = "malformed attribute list";
			goto done;
		}
		if (decode_attribute(&attr, st, error_r) < 0)
			goto done;
	}
	if (st->value == NULL) {
		*error_r = "SearchResultEntry without a Netlogon attribute";
		goto done;
	}
	ret = 0;
done:
	if (list != NULL)
		ber_free(list, 0);
	if (e != NULL)
		ber_free(e, 0);
	return ret;
}

static int decode_done(struct berval *op, struct reply *st,
                       const char **error_r)
{
	BerElement *d = scope_new(op);
	struct berval dn, diag, ref;
	ber_int_t code;
	int ret = -1;

	if (d == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	st->done = true;
	if (scope_left(d) == 0 || ber_get_enum(d, &code) != LBER_ENUMERATED ||
	    !take(d, LBER_OCTETSTRING, &dn) ||
	    !take(d, LBER_OCTETSTRING, &diag) ||
	    (scope_left(d) > 0 && !take(d, TAG_REFERRAL, &ref)) ||
	    scope_left(d) > 0) {
		*error_r = "malformed SearchResultDone";
	} else if (code != 0) {
		*error_r = "the DC answered the LDAP ping with an error";
	} else {
		ret = 0;
	}
	ber_free(d, 0);
	return ret;
}

static int decode_message(struct berval *msg, int expect_msgid,
                          struct reply *st, const char **error_r)
{
	BerElement *m = scope_new(msg);
	struct berval op, ctl;
	ber_int_t id;
	ber_tag_t tag;
	int ret = -1;

	if (m == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (scope_left(m) == 0 || ber_get_int(m, &id) != LBER_INTEGER) {
		*error_r = "malformed messageID";
		goto done;
	}
	if (id != expect_msgid) {
		*error_r = "reply to another messageID";
		goto done;
	}
	tag = scope_left(m) > 0 ? ber_skip_element(m, &op) : LBER_DEFAULT;
	if (tag == TAG_SEARCH_RES_ENTRY) {
		if (decode_entry(&op, st, error_r) < 0)
			goto done;
	} else if (tag == TAG_SEARCH_RES_DONE) {
		if (decode_done(&op, st, error_r) < 0)
			goto done;
	} else if (tag == LBER_DEFAULT) {
		*error_r = "LDAPMessage without a valid operation";
		goto done;
	} else {
		*error_r = "unexpected LDAP operation in the reply";
		goto done;
	}
	/* Controls are allowed and ignored. */
	if (scope_left(m) > 0 && !take(m, TAG_CONTROLS, &ctl)) {
		*error_r = "malformed controls in LDAPMessage";
		goto done;
	}
	if (scope_left(m) > 0) {
		*error_r = "trailing data in LDAPMessage";
		goto done;
	}
	ret = 0;
done:
	ber_free(m, 0);
	return ret;
}

int cldap_decode_reply(const void *data, size_t len, int expect_msgid,
                       void **netlogon_r, size_t *len_r, const char **error_r)
{
	struct reply st = {false, false, NULL, 0};
	unsigned char *copy = NULL;
	BerElement *all = NULL;
	struct berval bv, msg;
	int ret = -1;

	*netlogon_r = NULL;
	*len_r = 0;
	if (data == NULL || len == 0) {
		*error_r = "empty CLDAP reply";
		return -1;
	}
	if (len > CLDAP_REPLY_MAX) {
		*error_r = "CLDAP reply larger than a datagram";
		return -1;
	}
	/* One spare byte: see the DESCRIPTION above. */
	copy = alloc_zero(len + 1);
	memcpy(copy, data, len);
	bv.bv_val = (char *)copy;
	bv.bv_len = len;
	all = scope_new(&bv);
	if (all == NULL) {
		*error_r = "out of memory";
		goto done;
	}
	while (scope_left(all) > 0) {
		if (st.done) {
			*error_r = "data after SearchResultDone";
			goto done;
		}
		if (!take(all, LBER_SEQUENCE, &msg)) {
			*error_r = "malformed LDAPMessage";
			goto done;
		}
		if (decode_message(&msg, expect_msgid, &st, error_r) < 0)
			goto done;
	}
	if (!st.entry) {
		*error_r = "no SearchResultEntry: the server does not serve "
		           "this domain";
		goto done;
	}
	*netlogon_r = st.value;
	*len_r = st.value_len;
	st.value = NULL;
	ret = 0;
done:
	free(st.value);
	if (all != NULL)
		ber_free(all, 0);
	free(copy);
	return ret;
}
