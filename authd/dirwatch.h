/*
 * dirwatch.h - follow the directory's changes, so that cached answers
 * that a change makes stale are dropped within a second or two.
 *
 * One dedicated, bound connection to the first DC of the locator's order
 * that is up, carrying one persistent search:
 *   - OpenLDAP (mode syncrepl): RFC 4533 refreshAndPersist against the
 *     syncprov overlay, resumed with the last cookie after a reconnect
 *     (the server then sends only what changed, or every entry present
 *     when it cannot: deletions are then unknown, and the cache is
 *     flushed once);
 *   - Active Directory (mode notify): the LDAP change notification
 *     control (1.2.840.113556.1.4.528) on a subtree search of the
 *     naming context with filter (objectClass=*) (MS-ADTS 3.1.1.3.4.1.9:
 *     no other filter, subtree only at an NC head), with the Show Deleted
 *     control so that deletions arrive too, plus a sweep
 *     (uSNChanged>=high-water mark + 1, Show Deleted, paged) every poll
 *     interval. The sweep is needed: Samba (4.17) answers a notification
 *     search by re-running it as (uSNChanged>N) every 5 s, or at once only
 *     after a write made through the same LDAP server process - changes
 *     from samba-tool, from replication or from another LDAP worker wait
 *     up to 5 s. Only the sweep advances the high-water mark, so after a
 *     reconnect to the same DC the catch-up starts before anything a
 *     notification may have skipped; on another DC, whose USNs are its
 *     own, the cache is flushed once;
 *   - deletions (AD): a tombstone is visible only to an account that may
 *     list CN=Deleted Objects (administrators by default, on Windows as
 *     on Samba); for anyone else Show Deleted shows nothing. The watcher
 *     checks that right on each DC it starts following and, lacking it,
 *     logs the remedy and says so (hooks.deletions): OK answers are then
 *     capped at the unwatched TTL, since a deletion would go unseen;
 *   - mode poll (both): every poll interval, AD (uSNChanged>=N+1),
 *     OpenLDAP (modifyTimestamp>=T) - OpenLDAP deletions cannot be seen
 *     this way, so answers stay capped at the unwatched TTL.
 * mode auto picks syncrepl or notify and falls back to poll when the
 * server refuses it (no syncprov, no right to the control).
 *
 * For each change the watcher names what the change may touch, as the
 * lookup cache's tags (lookup.h): "g:<object id>" (objectGUID or
 * entryUUID, which survive renames and moves), "d:<dn>", and "a:<address>"
 * for every address the entry now has (so a new alias drops that
 * address's NOTFOUND; the answers of its old addresses carry its g: tag).
 *
 * Sync state: the watcher says when changes are followed (in sync) and
 * when not (connecting, refreshing, down). While not in sync for longer
 * than grace_ms, it asks for one cache flush, so nothing older than that
 * outlives a change it could not see.
 *
 * Changes made on another DC reach the watched one by replication: they
 * are seen only when they arrive there (AD intra-site replication: about
 * 15 s by default; two Samba DCs in the lab: 0.7-4.9 s).
 */
#ifndef DIRMX_DIRWATCH_H
#define DIRMX_DIRWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ldconn.h"

struct event_base;
struct dcloc;
struct dirmap;

struct dirwatch_hooks {
	/* Drop the cached answers that depend on any of tags; how many. */
	size_t (*invalidate)(void *ctx, const char *const *tags, size_t n);
	/* Drop every cached answer (reason for the log). */
	void (*flush)(void *ctx, const char *reason);
	/* Whether changes are followed now. */
	void (*sync)(void *ctx, bool in_sync);
	/* AD: whether deletions are seen (the bind account may list the
	 * tombstones); when not, answers must not outlive a deletion for
	 * long. May be NULL. */
	void (*deletions)(void *ctx, bool seen);
	void *ctx;
};

struct dirwatch_options {
	int mode; /* enum settings_watch; SETTINGS_WATCH_OFF: never made */
	bool ad;
	const char *base_dn;
	struct ldconn_options conn; /* uri: each DC's */
	const struct dirmap *dm;    /* the addresses an entry has */
	unsigned poll_interval_ms;
	unsigned grace_ms; /* not in sync this long: one flush */
};

struct dirwatch;

/* Copies what it needs. Starts when the locator has DCs
 * (dirwatch_dcs_changed). */
struct dirwatch *dirwatch_new(struct event_base *base, struct dcloc *loc,
                              const struct dirwatch_options *opts,
                              const struct dirwatch_hooks *hooks);
void dirwatch_deinit(struct dirwatch **w);
void dirwatch_dcs_changed(struct dirwatch *w);

struct dirwatch_status {
	const char *mechanism; /* "syncrepl", "notify", "poll", "none" */
	const char *state;     /* "connecting", "refreshing", "in-sync", ... */
	const char *dc;        /* the DC watched, or NULL */
	const char *last_error;
	uint64_t changes;     /* changes seen */
	uint64_t invalidated; /* cached answers they dropped */
	uint64_t flushes;     /* whole-cache flushes (resync impossible) */
	uint64_t last_change_unix;
	const char *last_change_dn;
	bool in_sync;
	bool deletions_seen;
};
/* Strings point into w: valid until its next event. */
void dirwatch_get_status(const struct dirwatch *w, struct dirwatch_status *st);

#endif
