/*
 * lockpolicy.h - a lockout policy, read from AD and kept fresh.
 *
 * The domain's: lockoutThreshold and lockOutObservationWindow on the
 * domain object. A fine-grained password policy's (pso): its
 * msDS-LockoutThreshold and msDS-LockoutObservationWindow. Read through
 * the lookup pool: when started, every refresh_ms after a
 * successful read (LOCKPOLICY_RETRY_MS after a failed one), and whenever
 * lockpolicy_read() asks. One read is in flight at a time: asking while
 * one is in flight joins it.
 *
 * The callback is called at the end of every read, successful or not,
 * never from inside a lockpolicy call. An entry without lockoutThreshold
 * is a failed read (every AD domain object has one; "0" would be a guess).
 * For LOCKPOLICY_RETRY_MS after a failed read, lockpolicy_fill() says that
 * a read cannot help, so that checks do not wait for one read after
 * another.
 *
 * Logs the policy when it is first read and when it changes, and a failed
 * read once per streak of failures.
 */
#ifndef DIRMX_LOCKPOLICY_H
#define DIRMX_LOCKPOLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "lockguard.h"

#define LOCKPOLICY_RETRY_MS 5000

struct event_base;
struct ldpool;
struct lockpolicy;

/* ok: the read of lp succeeded (the policy is now known and fresh). */
typedef void lockpolicy_cb(struct lockpolicy *lp, bool ok, void *ctx);

/* dn: the domain object's, or (pso) the PSO's; copied. */
struct lockpolicy *lockpolicy_new(struct event_base *base, struct ldpool *pool,
                                  const char *dn, bool pso, uint64_t refresh_ms,
                                  lockpolicy_cb *cb, void *ctx);
void lockpolicy_deinit(struct lockpolicy **lp);

/* Start a read now, unless one is in flight. */
void lockpolicy_read(struct lockpolicy *lp);

/* The domain's part of a lockguard policy: known, threshold, read_ms and
 * can_read (the rest is left as it is). */
void lockpolicy_fill(const struct lockpolicy *lp, uint64_t now_ms,
                     struct lockguard_policy *p);

/* lockOutObservationWindow in ms; 0 while not known. */
uint64_t lockpolicy_window_ms(const struct lockpolicy *lp);
/* The DN it reads. */
const char *lockpolicy_dn(const struct lockpolicy *lp);

#endif
