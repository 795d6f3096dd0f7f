/*
 * famclient.h - the clients from which each account logged in lately.
 *
 * DESIGN.md invariant 9, second half: guesses from strangers never lock a
 * user out of their own submission. As AD FS's extranet smart lockout
 * does, authd tells a familiar client (one from which the account's
 * password check succeeded within max_age_s) from an unfamiliar one;
 * lockguard gives failures from unfamiliar clients only part of the
 * account's budget (lockguard.h). This module is the memory of those
 * successes; famclient_file.c keeps it on disk across restarts.
 *
 * Contract:
 * - A client counts by its prefix (famclient_prefix()): an IPv4 address
 *   as it is, an IPv6 address by its /64 (one site, whatever address it
 *   rotates to), anything else as given.
 * - Accounts are keyed by DN, compared without ASCII case (as authcheck
 *   does). An account keeps at most FAMCLIENT_PER_ACCOUNT prefixes (a new
 *   one replaces its oldest); at most max_accounts accounts are held (a
 *   new one drops the account whose last success is the oldest). 0: none
 *   is kept (the feature is off: every client is unfamiliar).
 * - A prefix seen at t is familiar while t <= now < t + max_age_s; times
 *   are wall-clock seconds (they outlive the process), passed in. A time
 *   in the future (a clock set back) is familiar no longer than max_age_s
 *   from now.
 * - The text form (famclient_format / famclient_parse) is one line per
 *   (account, prefix): "<unix seconds> <prefix> <DN>", the DN
 *   percent-encoded (every byte outside 0x21-0x7E, and '%'), after a
 *   first line "dirmx-familiar-clients 1". The parser is strict (a
 *   malformed line fails the whole file: the caller starts empty and
 *   says so) and skips entries that are no longer familiar.
 * - Pure: no I/O, no clock, no logging; single-threaded.
 */
#ifndef DIRMX_FAMCLIENT_H
#define DIRMX_FAMCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAMCLIENT_PER_ACCOUNT 8
#define FAMCLIENT_PREFIX_MAX 64 /* "ffff:...:ffff/64" fits, with its NUL */

struct famclient;
struct sbuf;

struct famclient_entry {
	char prefix[FAMCLIENT_PREFIX_MAX];
	uint64_t last_ok_s; /* unix seconds of the last success from it */
};

struct famclient *famclient_new(uint64_t max_age_s, size_t max_accounts);
/* Frees everything (NULL allowed); sets *fc to NULL. */
void famclient_deinit(struct famclient **fc);

/* The prefix client counts under, into out (truncated to fit). */
void famclient_prefix(const char *client, char out[FAMCLIENT_PREFIX_MAX]);

/* A password check of account succeeded from client at now_s. true when
 * the store changed enough to be worth saving: a new prefix, or one whose
 * last success was more than an hour before. */
bool famclient_seen(struct famclient *fc, const char *account,
                    const char *client, uint64_t now_s);
/* Is client familiar to account at now_s? NULL client: no. */
bool famclient_is_familiar(const struct famclient *fc, const char *account,
                           const char *client, uint64_t now_s);
/* The familiar prefixes of account, most recent first, into out[0..max);
 * returns how many there are (which may be more than max). */
size_t famclient_list(const struct famclient *fc, const char *account,
                      uint64_t now_s, struct famclient_entry *out, size_t max);
/* Accounts held (familiar or not yet swept). */
size_t famclient_accounts(const struct famclient *fc);

/* Append the text form of every familiar entry to out; false when out's
 * limit was hit (out is then incomplete: do not save it). */
bool famclient_format(const struct famclient *fc, uint64_t now_s,
                      struct sbuf *out);
/* Add the entries of a text form (what famclient_format wrote); the number
 * of entries read (familiar or not), or -1 with *error_r set (static) and
 * nothing added. */
long famclient_parse(struct famclient *fc, const void *data, size_t len,
                     uint64_t now_s, const char **error_r);

#endif
