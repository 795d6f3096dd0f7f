/*
 * dirwatch - the connection that follows the directory's changes, its DC,
 * its state, and what a change touches; see dirwatch.h. The mechanisms
 * themselves (syncrepl, AD notification, polling) are dirwatch_follow.c.
 *
 * States: IDLE (no DC yet) -> CONNECTING -> REFRESHING (the search runs,
 * catching up) -> IN_SYNC, or POLLING (OpenLDAP without syncprov). Any
 * failure: DOWN, and a retry after a backoff (0.5 s doubling to 5 s) on the
 * first DC that is up (or the first DC, when the pool thinks none is). Leaving
 * IN_SYNC starts the grace timer: still not in sync when it fires, the cache is
 * flushed once.
 */
#include "dirwatch.h"

#include <ldap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dcloc.h"
#include "dirmap.h"
#include "dirwatch_private.h"
#include "evloop.h"
#include "log.h"
#include "lookup.h"
#include "settings.h"

/* One connection, one search: retrying often costs the DC little, and a
 * restarted DC is followed again within a second or so. */
#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 5000u
/* Tags one change may name: g:, d: and its addresses. */
#define MAX_TAGS 256

static const char *mech_name(enum dirwatch_mech m)
{
	switch (m) {
	case MECH_SYNCREPL:
		return "syncrepl";
	case MECH_NOTIFY:
		return "notify";
	case MECH_POLL:
		return "poll";
	default:
		return "none";
	}
}

static const char *state_name(enum dirwatch_state s)
{
	switch (s) {
	case WS_CONNECTING:
		return "connecting";
	case WS_REFRESHING:
		return "refreshing";
	case WS_IN_SYNC:
		return "in-sync";
	case WS_POLLING:
		return "polling";
	case WS_DOWN:
		return "down";
	default:
		return "idle";
	}
}

void dirwatch_set_error(struct dirwatch *w, const char *fmt, ...)
{
	va_list ap;

	free(w->last_error);
	va_start(ap, fmt);
	w->last_error = alloc_vprintf(fmt, ap);
	va_end(ap);
}

/* --- what a change touches ---------------------------------------------- */

static void invalidate(struct dirwatch *w, char **tags, size_t n,
                       const char *dn)
{
	size_t dropped =
	    w->h.invalidate(w->h.ctx, (const char *const *)tags, n);

	w->changes++;
	w->invalidated += dropped;
	w->last_change_unix = (uint64_t)time(NULL);
	free(w->last_dn);
	w->last_dn = alloc_strdup(dn != NULL ? dn : "");
	log_debug("dirwatch", "event=change dn=\"%s\" tags=%zu dropped=%zu",
	          dn != NULL ? dn : "-", n, dropped);
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
}

void dirwatch_changed(struct dirwatch *w, const struct ldconn_entry *e,
                      const char *id)
{
	char *tags[MAX_TAGS];
	char own[33];
	struct dirmap_iter it = {0};
	const char *addr;
	size_t n = 0;

	if (id == NULL && dirmap_object_id(w->o.dm, e, own))
		id = own;
	if (id != NULL)
		tags[n++] = lookup_tag_make('g', id);
	if (e->dn != NULL && *e->dn != '\0')
		tags[n++] = lookup_tag_make('d', e->dn);
	while (n < MAX_TAGS && dirmap_address_next(w->o.dm, e, &it, &addr))
		tags[n++] = lookup_tag_make('a', addr);
	invalidate(w, tags, n, e->dn);
}

void dirwatch_deleted_id(struct dirwatch *w, const char *id)
{
	char *tag = lookup_tag_make('g', id);

	invalidate(w, &tag, 1, NULL);
}

/* --- state -------------------------------------------------------------- */

void dirwatch_set_sync(struct dirwatch *w, bool in_sync)
{
	if (in_sync == w->in_sync)
		return;
	w->in_sync = in_sync;
	if (in_sync) {
		w->ever_synced = true;
		w->backoff_ms = 0;
		evloop_timer_stop(w->grace);
		log_info("dirwatch", "event=in_sync mechanism=%s dc=%s",
		         mech_name(w->mech),
		         w->dc_uri != NULL ? w->dc_uri : "-");
	} else {
		evloop_timer_start(w->grace, w->o.grace_ms);
	}
	w->h.sync(w->h.ctx, in_sync);
}

void dirwatch_set_deletions_seen(struct dirwatch *w, bool seen)
{
	if (w->deletions_known && seen == w->deletions_seen)
		return;
	w->deletions_known = true;
	w->deletions_seen = seen;
	if (seen)
		log_info("dirwatch", "event=deletions_seen dc=%s", w->dc_uri);
	else
		log_warn("dirwatch",
		         "event=deletions_unseen dc=%s hint=\"the bind account "
		         "cannot list CN=Deleted Objects: deleted objects stay "
		         "cached up to unwatched_cache_ttl; grant it List "
		         "Contents and Read Property there\"",
		         w->dc_uri);
	if (w->h.deletions != NULL)
		w->h.deletions(w->h.ctx, seen);
}

void dirwatch_flush(struct dirwatch *w, const char *reason)
{
	w->flushes++;
	log_warn("dirwatch", "event=cache_flush reason=\"%s\"", reason);
	w->h.flush(w->h.ctx, reason);
}

static void grace_expired(void *ctx)
{
	struct dirwatch *w = ctx;

	if (w->in_sync)
		return;
	/* Answers cached before may hide what was missed: at most grace_ms
	 * old from here on, as with plain TTLs. */
	dirwatch_flush(w, "directory changes not followed for the grace "
	                  "period");
}

static void conn_state(struct ldconn *c, enum ldconn_state state,
                       const char *reason, void *ctx);

static void start_mechanism(struct dirwatch *w)
{
	w->state = WS_REFRESHING;
	switch (w->mech) {
	case MECH_SYNCREPL:
		dirwatch_start_syncrepl(w);
		break;
	case MECH_NOTIFY:
		dirwatch_start_notify(w);
		break;
	default:
		dirwatch_poll_now(w);
		break;
	}
}

static void try_connect(struct dirwatch *w)
{
	struct ldconn_options co = w->o.conn;
	struct dcloc_dc *dc = dcloc_next_up(w->loc, NULL, evloop_now_ms());

	/* The pool's view of "down" is a backoff of its own: with none up,
	 * try the first DC anyway. */
	if (dc == NULL && dcloc_count(w->loc) > 0)
		dc = dcloc_get(w->loc, 0);
	if (dc == NULL) {
		w->state = WS_IDLE; /* dirwatch_dcs_changed() starts us */
		return;
	}
	w->dc = dc;
	free(w->dc_uri);
	w->dc_uri = alloc_strdup(dc->uri);
	co.uri = dc->uri;
	w->conn = ldconn_new(w->base, &co, conn_state, w);
	w->state = WS_CONNECTING;
	log_info("dirwatch", "event=connecting dc=%s mechanism=%s", dc->uri,
	         mech_name(w->mech));
	ldconn_connect(w->conn);
}

static void retry_now(void *ctx)
{
	struct dirwatch *w = ctx;

	if (w->conn == NULL)
		try_connect(w);
}

static void reap(void *ctx)
{
	struct dirwatch *w = ctx;

	ldconn_deinit(&w->dead);
}

/* Close the connection; it may be the one calling us: free it later. */
static void drop_conn(struct dirwatch *w, const char *reason)
{
	ldconn_req_cancel(&w->search);
	ldconn_req_cancel(&w->aux);
	evloop_timer_stop(w->poll);
	if (w->conn == NULL)
		return;
	/* Ours no longer before closing: the close reports DOWN to
	 * conn_state(), which must see a connection it has let go. */
	ldconn_deinit(&w->dead);
	w->dead = w->conn;
	w->conn = NULL;
	ldconn_close(w->dead, reason);
	evloop_timer_start(w->reap, 0);
}

void dirwatch_lost(struct dirwatch *w, const char *reason)
{
	dirwatch_set_error(w, "%s", reason);
	log_warn("dirwatch", "event=lost mechanism=%s dc=%s error=\"%s\"",
	         mech_name(w->mech), w->dc_uri != NULL ? w->dc_uri : "-",
	         reason);
	drop_conn(w, reason);
	dirwatch_set_sync(w, false);
	w->state = WS_DOWN;
	w->backoff_ms = w->backoff_ms == 0 ? BACKOFF_MIN_MS
	                : w->backoff_ms >= BACKOFF_MAX_MS / 2
	                    ? BACKOFF_MAX_MS
	                    : w->backoff_ms * 2;
	evloop_timer_start(w->retry, w->backoff_ms);
}

void dirwatch_refused(struct dirwatch *w, const char *reason)
{
	if (w->o.mode == SETTINGS_WATCH_AUTO && w->mech != MECH_POLL) {
		log_warn("dirwatch",
		         "event=fallback from=%s to=poll dc=%s reason=\"%s\"",
		         mech_name(w->mech), w->dc_uri, reason);
		dirwatch_set_error(w, "%s refused (%s): polling",
		                   mech_name(w->mech), reason);
		w->mech = MECH_POLL;
		ldconn_req_cancel(&w->search);
		ldconn_req_cancel(&w->aux);
		start_mechanism(w);
		return;
	}
	dirwatch_lost(w, reason);
}

static void conn_state(struct ldconn *c, enum ldconn_state state,
                       const char *reason, void *ctx)
{
	struct dirwatch *w = ctx;

	if (c != w->conn)
		return;
	if (state == LDCONN_STATE_UP) {
		log_info("dirwatch", "event=connected dc=%s", w->dc_uri);
		start_mechanism(w);
	} else if (state == LDCONN_STATE_DOWN) {
		if (w->dc != NULL && w->state == WS_CONNECTING)
			dcloc_mark_down(w->loc, w->dc, reason, evloop_now_ms());
		dirwatch_lost(w, reason != NULL ? reason : "connection lost");
	}
}

/* --- life --------------------------------------------------------------- */

static void poll_timer(void *ctx)
{
	dirwatch_poll_now(ctx);
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? alloc_strdup(s) : NULL;
}

struct dirwatch *dirwatch_new(struct event_base *base, struct dcloc *loc,
                              const struct dirwatch_options *opts,
                              const struct dirwatch_hooks *hooks)
{
	struct dirwatch *w = alloc_new(struct dirwatch);

	w->base = base;
	w->loc = loc;
	w->o = *opts;
	w->h = *hooks;
	w->base_dn = alloc_strdup(opts->base_dn != NULL ? opts->base_dn : "");
	w->o.base_dn = w->base_dn;
	w->o.conn.ca_file = dup_or_null(opts->conn.ca_file);
	w->o.conn.cert_file = dup_or_null(opts->conn.cert_file);
	w->o.conn.key_file = dup_or_null(opts->conn.key_file);
	w->o.conn.bind_dn = dup_or_null(opts->conn.bind_dn);
	w->o.conn.password = dup_or_null(opts->conn.password);
	w->o.conn.sasl_authz = dup_or_null(opts->conn.sasl_authz);
	w->o.conn.uri = NULL;
	if (w->o.poll_interval_ms == 0)
		w->o.poll_interval_ms = 2000;
	switch (opts->mode) {
	case SETTINGS_WATCH_SYNCREPL:
		w->mech = MECH_SYNCREPL;
		break;
	case SETTINGS_WATCH_NOTIFY:
		w->mech = MECH_NOTIFY;
		break;
	case SETTINGS_WATCH_POLL:
		w->mech = MECH_POLL;
		break;
	default:
		w->mech = opts->ad ? MECH_NOTIFY : MECH_SYNCREPL;
		break;
	}
	w->retry = evloop_timer_new(base, retry_now, w);
	w->grace = evloop_timer_new(base, grace_expired, w);
	w->reap = evloop_timer_new(base, reap, w);
	w->poll = evloop_timer_new(base, poll_timer, w);
	return w;
}

void dirwatch_dcs_changed(struct dirwatch *w)
{
	if (w->conn == NULL && (w->state == WS_IDLE || w->state == WS_DOWN) &&
	    !evloop_timer_pending(w->retry))
		try_connect(w);
}

void dirwatch_get_status(const struct dirwatch *w, struct dirwatch_status *st)
{
	memset(st, 0, sizeof(*st));
	st->mechanism = mech_name(w->mech);
	st->state = state_name(w->state);
	st->dc = w->dc_uri;
	st->last_error = w->last_error;
	st->changes = w->changes;
	st->invalidated = w->invalidated;
	st->flushes = w->flushes;
	st->last_change_unix = w->last_change_unix;
	st->last_change_dn = w->last_dn;
	st->in_sync = w->in_sync;
	st->deletions_seen = w->deletions_seen || !w->deletions_known;
}

void dirwatch_deinit(struct dirwatch **wp)
{
	struct dirwatch *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	ldconn_req_cancel(&w->search);
	ldconn_req_cancel(&w->aux);
	ldconn_deinit(&w->conn);
	ldconn_deinit(&w->dead);
	evloop_timer_free(&w->retry);
	evloop_timer_free(&w->grace);
	evloop_timer_free(&w->poll);
	evloop_timer_free(&w->reap);
	free((char *)w->o.conn.ca_file);
	free((char *)w->o.conn.cert_file);
	free((char *)w->o.conn.key_file);
	free((char *)w->o.conn.bind_dn);
	if (w->o.conn.password != NULL) {
		explicit_bzero((char *)w->o.conn.password,
		               strlen(w->o.conn.password));
		free((char *)w->o.conn.password);
	}
	free((char *)w->o.conn.sasl_authz);
	free(w->base_dn);
	free(w->dc_uri);
	free(w->usn_dc);
	free((char *)w->cookie.data);
	free((char *)w->page.data);
	free(w->last_error);
	free(w->last_dn);
	free(w);
}
