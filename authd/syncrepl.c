/*
 * syncrepl - RFC 4533 control and message values; see syncrepl.h.
 *
 *	syncRequestValue ::= SEQUENCE { mode ENUMERATED {refreshOnly (1),
 *	    refreshAndPersist (3)}, cookie OCTET STRING OPTIONAL,
 *	    reloadHint BOOLEAN DEFAULT FALSE }
 *	syncStateValue ::= SEQUENCE { state ENUMERATED {present (0), add (1),
 *	    modify (2), delete (3)}, entryUUID OCTET STRING (SIZE(16)),
 *	    cookie OCTET STRING OPTIONAL }
 *	syncInfoValue ::= CHOICE { newcookie [0] OCTET STRING,
 *	    refreshDelete [1] SEQUENCE { cookie OPTIONAL,
 *	        refreshDone BOOLEAN DEFAULT TRUE },
 *	    refreshPresent [2] SEQUENCE { cookie OPTIONAL,
 *	        refreshDone BOOLEAN DEFAULT TRUE },
 *	    syncIdSet [3] SEQUENCE { cookie OPTIONAL,
 *	        refreshDeletes BOOLEAN DEFAULT FALSE,
 *	        syncUUIDs SET OF OCTET STRING (SIZE(16)) } }
 */
#include "syncrepl.h"

#include <lber.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define TAG_NEWCOOKIE ((ber_tag_t)0x80U)
#define TAG_REFRESH_DELETE ((ber_tag_t)0xa1U)
#define TAG_REFRESH_PRESENT ((ber_tag_t)0xa2U)
#define TAG_ID_SET ((ber_tag_t)0xa3U)

void syncrepl_request_value(bool persist, const struct ldconn_value *cookie,
                            struct ldconn_value *out_r)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval *bv = NULL;
	int rc;

	/* liblber fails only when out of memory: as alloc.h, abort. */
	if (ber == NULL)
		abort();
	rc = ber_printf(ber, "{e", (ber_int_t)(persist ? 3 : 1));
	if (rc >= 0 && cookie != NULL) {
		struct berval c = {.bv_len = cookie->len,
		                   .bv_val = (char *)cookie->data};

		rc = ber_printf(ber, "O", &c);
	}
	if (rc < 0 || ber_printf(ber, "N}") < 0 || ber_flatten(ber, &bv) < 0)
		abort();
	out_r->data = alloc_strndup(bv->bv_val, bv->bv_len);
	out_r->len = bv->bv_len;
	ber_bvfree(bv);
	ber_free(ber, 1);
}

static void value_copy(struct ldconn_value *dst, const struct berval *src)
{
	dst->data =
	    alloc_strndup(src->bv_val != NULL ? src->bv_val : "", src->bv_len);
	dst->len = src->bv_len;
}

int syncrepl_parse_state(const struct ldconn_value *v,
                         struct syncrepl_state *st_r)
{
	struct berval in = {.bv_len = v->len, .bv_val = (char *)v->data};
	struct berval uuid = {0}, cookie = {0};
	BerElement *ber;
	ber_int_t state;
	ber_len_t len;
	int ret = -1;

	memset(st_r, 0, sizeof(*st_r));
	/* liblber reads through a NULL buffer when the value is empty */
	if (v->len == 0 || (ber = ber_init(&in)) == NULL)
		return -1; /* ber_init makes a copy: 'm' values point in it */
	if (ber_scanf(ber, "{em", &state, &uuid) == LBER_ERROR ||
	    state < SYNCREPL_PRESENT || state > SYNCREPL_DELETE ||
	    uuid.bv_len != SYNCREPL_UUID_LEN)
		goto done;
	st_r->state = (enum syncrepl_state_kind)state;
	memcpy(st_r->uuid, uuid.bv_val, SYNCREPL_UUID_LEN);
	if (ber_peek_tag(ber, &len) == LBER_OCTETSTRING) {
		if (ber_scanf(ber, "m", &cookie) == LBER_ERROR)
			goto done;
		st_r->has_cookie = true;
		value_copy(&st_r->cookie, &cookie);
	}
	ret = 0;
done:
	ber_free(ber, 1);
	if (ret < 0)
		syncrepl_state_clear(st_r);
	return ret;
}

void syncrepl_state_clear(struct syncrepl_state *st)
{
	free((char *)st->cookie.data);
	memset(st, 0, sizeof(*st));
}

/* The optional cookie and boolean that open each SEQUENCE choice. */
static int parse_cookie_bool(BerElement *ber, struct syncrepl_info *info,
                             bool *flag)
{
	struct berval cookie = {0};
	ber_len_t len;
	ber_int_t b;

	if (ber_peek_tag(ber, &len) == LBER_OCTETSTRING) {
		if (ber_scanf(ber, "m", &cookie) == LBER_ERROR)
			return -1;
		info->has_cookie = true;
		value_copy(&info->cookie, &cookie);
	}
	if (ber_peek_tag(ber, &len) == LBER_BOOLEAN) {
		if (ber_scanf(ber, "b", &b) == LBER_ERROR)
			return -1;
		*flag = b != 0;
	}
	return 0;
}

int syncrepl_parse_info(const struct ldconn_value *v,
                        struct syncrepl_info *info_r)
{
	struct berval in = {.bv_len = v->len, .bv_val = (char *)v->data};
	struct berval cookie = {0};
	BerElement *ber;
	BerVarray uuids = NULL;
	ber_len_t len;
	ber_tag_t tag;
	int ret = -1;

	memset(info_r, 0, sizeof(*info_r));
	/* liblber reads through a NULL buffer when the value is empty */
	if (v->len == 0 || (ber = ber_init(&in)) == NULL)
		return -1; /* ber_init makes a copy: 'm' values point in it */
	tag = ber_peek_tag(ber, &len);
	switch (tag) {
	case TAG_NEWCOOKIE:
		if (ber_scanf(ber, "m", &cookie) == LBER_ERROR)
			goto fail;
		info_r->kind = SYNCREPL_NEW_COOKIE;
		info_r->has_cookie = true;
		value_copy(&info_r->cookie, &cookie);
		ret = 0;
		break;
	case TAG_REFRESH_DELETE:
	case TAG_REFRESH_PRESENT:
		info_r->kind = tag == TAG_REFRESH_DELETE
		                   ? SYNCREPL_REFRESH_DELETE
		                   : SYNCREPL_REFRESH_PRESENT;
		info_r->refresh_done = true;
		if (ber_scanf(ber, "{") == LBER_ERROR ||
		    parse_cookie_bool(ber, info_r, &info_r->refresh_done) < 0)
			goto fail;
		ret = 0;
		break;
	case TAG_ID_SET:
		info_r->kind = SYNCREPL_ID_SET;
		if (ber_scanf(ber, "{") == LBER_ERROR ||
		    parse_cookie_bool(ber, info_r, &info_r->refresh_deletes) <
		        0 ||
		    ber_scanf(ber, "[W]", &uuids) == LBER_ERROR)
			goto fail;
		for (size_t i = 0; uuids != NULL && uuids[i].bv_val != NULL;
		     i++) {
			if (uuids[i].bv_len != SYNCREPL_UUID_LEN)
				goto fail;
			info_r->uuids =
			    alloc_resize(info_r->uuids, info_r->n_uuids + 1,
			                 sizeof(*info_r->uuids));
			memcpy(info_r->uuids[info_r->n_uuids++],
			       uuids[i].bv_val, SYNCREPL_UUID_LEN);
		}
		ret = 0;
		break;
	default:
		break;
	}
fail:
	ber_bvarray_free(uuids);
	ber_free(ber, 1);
	if (ret < 0)
		syncrepl_info_clear(info_r);
	return ret;
}

void syncrepl_info_clear(struct syncrepl_info *info)
{
	free((char *)info->cookie.data);
	free(info->uuids);
	memset(info, 0, sizeof(*info));
}
