/*
 * goodpw.h - the password that last worked for an account, as a verifier.
 *
 * When strangers have used up an account's lockout budget (lockguard.h),
 * the real user must still get in (DESIGN.md invariant 9: guesses from
 * strangers never lock a user out of their own submission). authcheck
 * remembers here, for every account whose bind succeeded, a verifier of
 * that password; a password that matches it may reach the directory even
 * while the account is capped (LOCKGUARD_FORWARD_KNOWN).
 *
 * Contract:
 * - Never the password: a verifier is PBKDF2-HMAC-SHA256 (iterations as
 *   given: a few ms a check) over HMAC-SHA256(key, password), with a
 *   random salt per entry. The key is random per process (the caller's,
 *   copied), so a verifier is useless outside this process and slow to
 *   guess at inside a memory dump. Every temporary buffer, every entry and
 *   the key are wiped (explicit_bzero) before they are freed.
 * - Accounts are keyed by DN, compared without case (as authcheck does).
 * - An entry put at t is fresh while t <= now < t + ttl_ms; an expired
 *   entry is a miss and is dropped. At most max_entries are held: a put
 *   past that drops the oldest first. ttl_ms 0 or max_entries 0: nothing
 *   is ever stored (the feature is off).
 * - Time and randomness are passed in (now_ms: a monotonic clock; salt:
 *   GOODPW_SALT_LEN random bytes per put). The only call out is the hash
 *   (GnuTLS); no I/O, no logging, single-threaded.
 * - Cost: lookups are O(1) on average; goodpw_put(), and goodpw_match()
 *   where the account has a fresh verifier, run the slow hash once.
 */
#ifndef DIRMX_GOODPW_H
#define DIRMX_GOODPW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOODPW_SALT_LEN 16
#define GOODPW_KEY_LEN 32
/* ~2.5 ms per check on a 2026 x86 core: cheap for one login, slow for a
 * guesser who holds a copy of the table and the key. */
#define GOODPW_ITERATIONS 4096

struct goodpw;

/* key: GOODPW_KEY_LEN random bytes, copied (wipe yours). */
struct goodpw *goodpw_new(const unsigned char *key, unsigned iterations,
                          size_t max_entries, uint64_t ttl_ms);
/* Wipes and frees everything (NULL allowed); sets *g to NULL. */
void goodpw_deinit(struct goodpw **g);

/* Remember password as the one that worked for account now, replacing
 * the account's verifier. false: not stored (off, or the hash failed). */
bool goodpw_put(struct goodpw *g, const char *account, const char *password,
                const unsigned char salt[GOODPW_SALT_LEN], uint64_t now_ms);
/* Is password the one that last worked for account? false when there is
 * no fresh verifier (found without hashing), or the hash failed. */
bool goodpw_match(struct goodpw *g, const char *account, const char *password,
                  uint64_t now_ms);
/* Forget account's verifier; true when there was one (expired or not). */
bool goodpw_drop(struct goodpw *g, const char *account);
/* Entries held, fresh or not yet swept. */
size_t goodpw_count(const struct goodpw *g);

#endif
