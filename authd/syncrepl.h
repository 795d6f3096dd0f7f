/*
 * syncrepl.h - the messages of LDAP Content Synchronization (RFC 4533,
 * OpenLDAP's syncprov), as authd's change follower (dirwatch.h) needs
 * them: the Sync Request control it sends, the Sync State control on each
 * entry and the Sync Info intermediate message it reads.
 *
 * Encoding and decoding only (BER through liblber): no sockets, no event
 * loop, no logging. Input comes from the directory server and is checked:
 * a value that does not decode is an error (-1), never a guess.
 *
 * Ownership: decoded structures point into nothing of the input; free
 * them with the matching _clear() function.
 */
#ifndef DIRMX_SYNCREPL_H
#define DIRMX_SYNCREPL_H

#include <stdbool.h>
#include <stddef.h>

#include "ldconn.h"

#define SYNCREPL_REQUEST_OID "1.3.6.1.4.1.4203.1.9.1.1"
#define SYNCREPL_STATE_OID "1.3.6.1.4.1.4203.1.9.1.2"
#define SYNCREPL_DONE_OID "1.3.6.1.4.1.4203.1.9.1.3"
#define SYNCREPL_INFO_OID "1.3.6.1.4.1.4203.1.9.1.4"
/* The result code of a search whose cookie is too old (RFC 4533 3.1). */
#define SYNCREPL_REFRESH_REQUIRED 4096

#define SYNCREPL_UUID_LEN 16

/* The Sync Request control's value: mode refreshAndPersist (persist) or
 * refreshOnly, with the cookie when it is not NULL. The caller frees
 * out_r->data. */
void syncrepl_request_value(bool persist, const struct ldconn_value *cookie,
                            struct ldconn_value *out_r);

enum syncrepl_state_kind {
	SYNCREPL_PRESENT = 0,
	SYNCREPL_ADD = 1,
	SYNCREPL_MODIFY = 2,
	SYNCREPL_DELETE = 3,
};

struct syncrepl_state {
	enum syncrepl_state_kind state;
	unsigned char uuid[SYNCREPL_UUID_LEN];
	bool has_cookie;
	struct ldconn_value cookie; /* owned */
};

int syncrepl_parse_state(const struct ldconn_value *v,
                         struct syncrepl_state *st_r);
void syncrepl_state_clear(struct syncrepl_state *st);

enum syncrepl_info_kind {
	SYNCREPL_NEW_COOKIE = 0,
	SYNCREPL_REFRESH_DELETE = 1,
	SYNCREPL_REFRESH_PRESENT = 2,
	SYNCREPL_ID_SET = 3,
};

struct syncrepl_info {
	enum syncrepl_info_kind kind;
	bool has_cookie;
	struct ldconn_value cookie; /* owned */
	bool refresh_done;          /* REFRESH_DELETE / REFRESH_PRESENT */
	bool refresh_deletes;       /* ID_SET: the UUIDs are deletions */
	unsigned char (*uuids)[SYNCREPL_UUID_LEN]; /* ID_SET; owned */
	size_t n_uuids;
};

int syncrepl_parse_info(const struct ldconn_value *v,
                        struct syncrepl_info *info_r);
void syncrepl_info_clear(struct syncrepl_info *info);

#endif
