/*
 * dirwatch_follow - the three ways dirwatch.c follows changes: syncrepl
 * (RFC 4533, OpenLDAP), the AD change notification control with a
 * uSNChanged catch-up, and polling. Each reads the entries a change
 * brings and hands them to dirwatch_changed(); see dirwatch.h for what
 * each guarantees.
 */
#include <inttypes.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "buf.h"
#include "dirmap.h"
#include "dirwatch_private.h"
#include "evloop.h"
#include "log.h"
#include "sbuf.h"
#include "syncrepl.h"

#define NOTIFY_OID "1.2.840.113556.1.4.528"
#define SHOW_DELETED_OID "1.2.840.113556.1.4.417"
/* MS-ADTS 6.1.1.4: GUID_DELETED_OBJECTS_CONTAINER_W */
#define DELETED_OBJECTS_WKGUID "18e2ea80684f11d2b9aa00c04f79f805"
#define PAGE_SIZE 500
#define MAX_ATTRS 48

bool dirwatch_code_refuses(int code)
{
	return code == LDAP_UNAVAILABLE_CRITICAL_EXTENSION ||
	       code == LDAP_UNWILLING_TO_PERFORM ||
	       code == LDAP_INSUFFICIENT_ACCESS ||
	       code == LDAP_PROTOCOL_ERROR || code == LDAP_ADMINLIMIT_EXCEEDED;
}

/* The address attributes, then the extra ones, NULL-terminated. */
static void watch_attrs(const struct dirwatch *w, const char **out,
                        const char *const *extra)
{
	const char *const *a = dirmap_address_attrs(w->o.dm);
	size_t n = 0;

	for (; *a != NULL && n < MAX_ATTRS - 8; a++)
		out[n++] = *a;
	for (; extra != NULL && *extra != NULL && n < MAX_ATTRS - 1; extra++)
		out[n++] = *extra;
	out[n] = NULL;
}

/* The search ended (a persistent one only ends on failure). */
static void search_failed(struct dirwatch *w, const struct ldconn_result *res,
                          const char *what)
{
	char *reason = alloc_printf(
	    "%s search ended: %s", what,
	    res->error != NULL ? res->error : ldconn_status_str(res->status));

	/* A size limit cuts a search that lists the whole directory: the
	 * service account cannot follow this way. */
	if ((res->status == LDCONN_LDAP_ERROR &&
	     dirwatch_code_refuses(res->ldap_code)) ||
	    res->status == LDCONN_SIZELIMIT)
		dirwatch_refused(w, reason);
	else
		dirwatch_lost(w, reason);
	free(reason);
}

static void now_in_sync(struct dirwatch *w)
{
	w->state = WS_IN_SYNC;
	dirwatch_set_sync(w, true);
}

/* --- syncrepl ------------------------------------------------------------ */

static void sync_search(struct dirwatch *w);

static void save_cookie(struct dirwatch *w, const struct ldconn_value *c)
{
	free((char *)w->cookie.data);
	w->cookie.data = alloc_strndup(c->data, c->len);
	w->cookie.len = c->len;
	w->have_cookie = true;
}

static void refresh_done(struct dirwatch *w)
{
	if (w->state != WS_REFRESHING)
		return;
	if (w->resumed && w->present_phase)
		dirwatch_flush(w, "syncrepl resumed by listing the entries "
		                  "present: deletions meanwhile are unknown");
	w->present_phase = false;
	now_in_sync(w);
}

static void sync_info(struct dirwatch *w, const struct ldconn_value *v)
{
	struct syncrepl_info info;
	char id[33];

	if (syncrepl_parse_info(v, &info) < 0) {
		log_warn("dirwatch", "event=bad_sync_info dc=%s", w->dc_uri);
		return;
	}
	if (info.has_cookie)
		save_cookie(w, &info.cookie);
	switch (info.kind) {
	case SYNCREPL_NEW_COOKIE:
		break;
	case SYNCREPL_REFRESH_DELETE:
	case SYNCREPL_REFRESH_PRESENT:
		if (info.kind == SYNCREPL_REFRESH_PRESENT && w->resumed)
			w->present_phase = true;
		if (info.refresh_done)
			refresh_done(w);
		break;
	case SYNCREPL_ID_SET:
		if (info.refresh_deletes) {
			for (size_t i = 0; i < info.n_uuids; i++) {
				dirmap_object_id_hex(info.uuids[i], id);
				dirwatch_deleted_id(w, id);
			}
		} else if (w->resumed) {
			w->present_phase = true;
		}
		break;
	}
	syncrepl_info_clear(&info);
}

static void sync_stream(const struct ldconn_message *m, void *ctx)
{
	struct dirwatch *w = ctx;
	const struct ldconn_control *c;
	struct syncrepl_state st;
	char id[33];

	if (m->intermediate) {
		if (m->oid != NULL && strcmp(m->oid, SYNCREPL_INFO_OID) == 0 &&
		    m->has_value)
			sync_info(w, &m->value);
		return;
	}
	c = ldconn_control_find(m->controls, m->n_controls, SYNCREPL_STATE_OID);
	if (c == NULL || !c->has_value ||
	    syncrepl_parse_state(&c->value, &st) < 0) {
		/* Unreadable: what the entry itself names still goes. */
		log_warn("dirwatch", "event=bad_sync_state dc=%s dn=\"%s\"",
		         w->dc_uri, m->entry->dn);
		dirwatch_changed(w, m->entry, NULL);
		return;
	}
	if (st.has_cookie)
		save_cookie(w, &st.cookie);
	dirmap_object_id_hex(st.uuid, id);
	if (st.state == SYNCREPL_PRESENT) {
		if (w->resumed)
			w->present_phase = true;
	} else {
		dirwatch_changed(w, m->entry, id);
	}
	syncrepl_state_clear(&st);
}

static void sync_done(const struct ldconn_result *res, void *ctx)
{
	struct dirwatch *w = ctx;

	w->search = NULL;
	if (res->status == LDCONN_LDAP_ERROR &&
	    res->ldap_code == SYNCREPL_REFRESH_REQUIRED && w->have_cookie) {
		/* The server cannot resume from our cookie. */
		free((char *)w->cookie.data);
		memset(&w->cookie, 0, sizeof(w->cookie));
		w->have_cookie = false;
		dirwatch_flush(w, "syncrepl: the server asked for a full "
		                  "refresh");
		sync_search(w);
		return;
	}
	search_failed(w, res, "syncrepl");
}

/*
 * No cookie yet: start from the database's contextCSN as if it were one
 * ("rid=000,csn=A;B"), so that syncprov sends what changes from now on
 * instead of listing every entry (which a size limit would cut, and which
 * says nothing about changes). A server that cannot resume from it lists
 * the entries present, and refresh_done() flushes the cache once.
 */
static void context_csn_read(const struct ldconn_result *res, void *ctx)
{
	struct dirwatch *w = ctx;
	const struct ldconn_attr *a = NULL;
	struct sbuf *c;

	w->aux = NULL;
	if (res->status == LDCONN_OK && res->n_entries == 1)
		a = ldconn_entry_attr(&res->entries[0], "contextCSN");
	if (a != NULL && a->n_values > 0) {
		c = sbuf_new(64 * 1024);
		sbuf_append_str(c, "rid=000,csn=");
		for (size_t i = 0; i < a->n_values; i++)
			sbuf_printf(c, "%s%s", i > 0 ? ";" : "",
			            a->values[i].data);
		free((char *)w->cookie.data);
		w->cookie.len = sbuf_len(c);
		w->cookie.data = sbuf_steal(c, NULL);
		w->have_cookie = true;
		sbuf_deinit(&c);
	}
	sync_search(w);
}

void dirwatch_start_syncrepl(struct dirwatch *w)
{
	static const char *const attrs[] = {"contextCSN", NULL};
	struct ldconn_search s = {.base = w->base_dn,
	                          .scope = LDAP_SCOPE_BASE,
	                          .filter = "(objectClass=*)",
	                          .attrs = attrs};
	const char *error;

	w->state = WS_REFRESHING;
	if (w->have_cookie) {
		sync_search(w);
		return;
	}
	w->aux = ldconn_search_start(w->conn, &s, context_csn_read, w, &error);
	if (w->aux == NULL)
		dirwatch_lost(w, error);
}

static void sync_search(struct dirwatch *w)
{
	const char *attrs[MAX_ATTRS];
	struct ldconn_control ctl = {
	    .oid = SYNCREPL_REQUEST_OID, .critical = true, .has_value = true};
	struct ldconn_search s = {.base = w->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .filter = "(objectClass=*)",
	                          .attrs = attrs,
	                          .timeout_ms = -1,
	                          .controls = &ctl,
	                          .n_controls = 1,
	                          .stream_cb = sync_stream,
	                          .stream_ctx = w};
	const char *error;

	watch_attrs(w, attrs, NULL);
	syncrepl_request_value(true, w->have_cookie ? &w->cookie : NULL,
	                       &ctl.value);
	w->resumed = w->have_cookie;
	w->present_phase = false;
	w->state = WS_REFRESHING;
	w->search = ldconn_search_start(w->conn, &s, sync_done, w, &error);
	free((char *)ctl.value.data);
	if (w->search == NULL)
		dirwatch_lost(w, error);
}

/* --- AD: change notification, uSNChanged -----------------------------------
 */

static bool read_u64(const struct ldconn_entry *e, const char *name,
                     uint64_t *v_r)
{
	const struct ldconn_attr *a = ldconn_entry_attr(e, name);
	struct buf b;

	if (a == NULL || a->n_values != 1)
		return false;
	buf_init(&b, a->values[0].data, a->values[0].len);
	return buf_fetch_uint(&b, UINT64_MAX, v_r) && buf_remaining(&b) == 0;
}

static void usn_seen(struct dirwatch *w, const struct ldconn_entry *e)
{
	uint64_t usn;

	if (read_u64(e, "uSNChanged", &usn) && usn > w->usn_hw)
		w->usn_hw = usn;
}

static void notify_stream(const struct ldconn_message *m, void *ctx)
{
	struct dirwatch *w = ctx;

	if (m->intermediate)
		return;
	/* Not usn_seen(): only the sweep advances the high-water mark, so
	 * that a catch-up after a reconnect starts before any change a
	 * notification may have skipped. */
	dirwatch_changed(w, m->entry, NULL);
}

static void notify_done(const struct ldconn_result *res, void *ctx)
{
	struct dirwatch *w = ctx;

	w->search = NULL;
	search_failed(w, res, "change notification");
}

static void usn_search(struct dirwatch *w);

/* The sweep (uSNChanged) runs in both AD modes: notifications are not
 * enough on Samba (see dirwatch.h). */
static void sweep_later(struct dirwatch *w)
{
	evloop_timer_start(w->poll, w->o.poll_interval_ms);
}

static void deleted_read(const struct ldconn_result *res, void *ctx)
{
	struct dirwatch *w = ctx;
	const struct ldconn_attr *a = NULL;
	bool seen;

	w->aux = NULL;
	/* The container itself comes back to anyone, without its
	 * attributes: isDeleted shows the right to read it, given with the
	 * right to list it (Windows' and Samba's defaults, and the grant
	 * the hint names). */
	if (res->status == LDCONN_OK && res->n_entries == 1)
		a = ldconn_entry_attr(&res->entries[0], "isDeleted");
	seen = a != NULL && a->n_values == 1 &&
	       strcasecmp(a->values[0].data, "TRUE") == 0;
	if (res->status == LDCONN_CONN_LOST || res->status == LDCONN_TIMEOUT) {
		dirwatch_lost(w, "cannot read the Deleted Objects container");
		return;
	}
	dirwatch_set_deletions_seen(w, seen);
	/* Nothing says what changed before this point on this DC: answers
	 * cached until now may be stale. */
	dirwatch_flush(w, "following the changes of a DC from now on: "
	                  "what changed before is unknown");
	sweep_later(w);
	now_in_sync(w);
}

/*
 * Can the bind account see tombstones? AD and Samba let only
 * administrators list the Deleted Objects container (found by its
 * well-known GUID, its name is localized): for anyone else, Show Deleted
 * shows nothing and a deletion is never seen, by notification or sweep.
 */
static void probe_deleted(struct dirwatch *w)
{
	static const char *const attrs[] = {"isDeleted", NULL};
	struct ldconn_control show = {.oid = SHOW_DELETED_OID};
	char *base =
	    alloc_printf("<WKGUID=%s,%s>", DELETED_OBJECTS_WKGUID, w->base_dn);
	struct ldconn_search s = {.base = base,
	                          .scope = LDAP_SCOPE_BASE,
	                          .filter = "(objectClass=*)",
	                          .attrs = attrs,
	                          .controls = &show,
	                          .n_controls = 1};
	const char *error;

	w->aux = ldconn_search_start(w->conn, &s, deleted_read, w, &error);
	free(base);
	if (w->aux == NULL)
		dirwatch_lost(w, error);
}

static void root_dse_read(const struct ldconn_result *res, void *ctx)
{
	struct dirwatch *w = ctx;
	uint64_t usn;

	w->aux = NULL;
	if (res->status != LDCONN_OK || res->n_entries != 1 ||
	    !read_u64(&res->entries[0], "highestCommittedUSN", &usn)) {
		dirwatch_lost(w, "cannot read the DC's highestCommittedUSN");
		return;
	}
	w->usn_hw = usn;
	free(w->usn_dc);
	w->usn_dc = alloc_strdup(w->dc_uri);
	probe_deleted(w);
}

static void read_root_dse(struct dirwatch *w)
{
	static const char *const attrs[] = {"highestCommittedUSN", NULL};
	struct ldconn_search s = {.base = "",
	                          .scope = LDAP_SCOPE_BASE,
	                          .filter = "(objectClass=*)",
	                          .attrs = attrs};
	const char *error;

	w->aux = ldconn_search_start(w->conn, &s, root_dse_read, w, &error);
	if (w->aux == NULL)
		dirwatch_lost(w, error);
}

/* Start from the high-water mark when it is this DC's; else read it. */
static void catch_up(struct dirwatch *w)
{
	if (w->usn_dc != NULL && w->dc_uri != NULL &&
	    strcmp(w->usn_dc, w->dc_uri) == 0) {
		free((char *)w->page.data);
		memset(&w->page, 0, sizeof(w->page));
		usn_search(w);
	} else {
		read_root_dse(w);
	}
}

static void usn_result(const struct ldconn_result *res, void *ctx)
{
	struct dirwatch *w = ctx;

	w->aux = NULL;
	if (res->status != LDCONN_OK) {
		search_failed(w, res, "uSNChanged");
		return;
	}
	for (size_t i = 0; i < res->n_entries; i++) {
		usn_seen(w, &res->entries[i]);
		dirwatch_changed(w, &res->entries[i], NULL);
	}
	free((char *)w->page.data);
	w->page.data = alloc_strndup(
	    res->page_cookie.data != NULL ? res->page_cookie.data : "",
	    res->page_cookie.len);
	w->page.len = res->page_cookie.len;
	if (w->page.len > 0) {
		usn_search(w); /* the next page */
		return;
	}
	sweep_later(w);
	now_in_sync(w);
}

static void usn_search(struct dirwatch *w)
{
	static const char *const extra[] = {"objectGUID", "uSNChanged",
	                                    "isDeleted", NULL};
	const char *attrs[MAX_ATTRS];
	struct ldconn_control show = {.oid = SHOW_DELETED_OID};
	char filter[64];
	struct ldconn_search s = {.base = w->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .filter = filter,
	                          .attrs = attrs,
	                          .page_size = PAGE_SIZE,
	                          .page_cookie =
	                              w->page.len > 0 ? &w->page : NULL,
	                          .controls = &show,
	                          .n_controls = 1};
	const char *error;

	watch_attrs(w, attrs, extra);
	snprintf(filter, sizeof(filter), "(uSNChanged>=%" PRIu64 ")",
	         w->usn_hw + 1);
	w->aux = ldconn_search_start(w->conn, &s, usn_result, w, &error);
	if (w->aux == NULL)
		dirwatch_lost(w, error);
}

void dirwatch_start_notify(struct dirwatch *w)
{
	static const char *const extra[] = {"objectGUID", "uSNChanged",
	                                    "isDeleted", NULL};
	const char *attrs[MAX_ATTRS];
	struct ldconn_control ctls[2] = {{.oid = NOTIFY_OID, .critical = true},
	                                 {.oid = SHOW_DELETED_OID}};
	struct ldconn_search s = {.base = w->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .filter = "(objectClass=*)",
	                          .attrs = attrs,
	                          .timeout_ms = -1,
	                          .controls = ctls,
	                          .n_controls = 2,
	                          .stream_cb = notify_stream,
	                          .stream_ctx = w};
	const char *error;

	watch_attrs(w, attrs, extra);
	w->state = WS_REFRESHING;
	/* Notifications first, then the catch-up: a change in between is
	 * seen twice, never not at all. */
	w->search = ldconn_search_start(w->conn, &s, notify_done, w, &error);
	if (w->search == NULL) {
		dirwatch_lost(w, error);
		return;
	}
	catch_up(w);
}

/* --- polling ---------------------------------------------------------------
 */

static void ts_result(const struct ldconn_result *res, void *ctx)
{
	struct dirwatch *w = ctx;
	char newest[32];

	w->aux = NULL;
	if (res->status != LDCONN_OK) {
		search_failed(w, res, "modifyTimestamp");
		return;
	}
	snprintf(newest, sizeof(newest), "%s", w->poll_since);
	for (size_t i = 0; i < res->n_entries; i++) {
		const struct ldconn_attr *a =
		    ldconn_entry_attr(&res->entries[i], "modifyTimestamp");

		/* Seen at the last poll already: changed in the second
		 * the last poll ran, and not since. */
		if (a != NULL && a->n_values == 1 &&
		    strcmp(a->values[0].data, w->poll_since) == 0 &&
		    w->changes > 0)
			continue;
		dirwatch_changed(w, &res->entries[i], NULL);
		if (a != NULL && a->n_values == 1 &&
		    a->values[0].len < sizeof(newest) &&
		    strcmp(a->values[0].data, newest) > 0)
			snprintf(newest, sizeof(newest), "%s",
			         a->values[0].data);
	}
	snprintf(w->poll_since, sizeof(w->poll_since), "%s", newest);
	/* Deletions are not seen this way: answers stay capped. */
	w->state = WS_POLLING;
	evloop_timer_start(w->poll, w->o.poll_interval_ms);
}

static void ts_search(struct dirwatch *w)
{
	const char *extra[] = {dirmap_object_id_attr(w->o.dm),
	                       "modifyTimestamp", NULL};
	const char *attrs[MAX_ATTRS];
	char filter[64];
	struct ldconn_search s = {.base = w->base_dn,
	                          .scope = LDAP_SCOPE_SUBTREE,
	                          .filter = filter,
	                          .attrs = attrs};
	const char *error;

	if (w->poll_since[0] == '\0') {
		/* From a minute ago by our clock (servers in one network
		 * agree to seconds); what changed before is unknown. */
		time_t t = time(NULL) - 60;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(w->poll_since, sizeof(w->poll_since), "%Y%m%d%H%M%SZ",
		         &tm);
		dirwatch_flush(w, "polling modifyTimestamp from now on: what "
		                  "changed before is unknown");
	}
	watch_attrs(w, attrs, extra);
	snprintf(filter, sizeof(filter), "(modifyTimestamp>=%s)",
	         w->poll_since);
	w->aux = ldconn_search_start(w->conn, &s, ts_result, w, &error);
	if (w->aux == NULL)
		dirwatch_lost(w, error);
}

void dirwatch_poll_now(struct dirwatch *w)
{
	if (w->conn == NULL || w->aux != NULL)
		return;
	if (w->o.ad)
		catch_up(w);
	else
		ts_search(w);
}
