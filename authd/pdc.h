/*
 * pdc.h - the domain's PDC emulator, where AD counts bad passwords.
 *
 * AD does not replicate badPwdCount: each DC keeps its own, and a DC
 * forwards a wrong password to the PDC emulator, whose count is the one
 * that locks the account (lockoutTime is set there and replicates). So
 * authcheck reads an account's badPwdCount and lockoutTime at the PDC
 * before each password check, and binds there: several dirmx hosts (and
 * every other client) then meet in one count, and the count it reads is
 * the one its bind raises (Samba's DCs keep their own counts and forward
 * nothing).
 *
 * The PDC is found by the SRV record _ldap._tcp.pdc._msdcs.<domain>,
 * re-resolved when its TTL runs out (at least every PDC_MIN_REFRESH_S, at
 * most every PDC_MAX_REFRESH_S; a failed lookup keeps the last answer and
 * retries), and reached through an ldpool of its own (one bound service
 * connection, the same credentials and TLS as the lookup pool).
 *
 * When there is no PDC to ask (no record, or the PDC is down: refused,
 * timed out), pdc_read() says so at once or after the pool's
 * timeout, with a reason: the caller falls back to the counts of the DC
 * it searched, and logs it. pdc_bind_uri() is NULL then too.
 *
 * Callbacks are called exactly once, never from inside the call that
 * started them, unless cancelled.
 */
#ifndef DIRMX_PDC_H
#define DIRMX_PDC_H

#include <stdbool.h>
#include <stdint.h>

#include "ldpool.h"

#define PDC_MIN_REFRESH_S 60
#define PDC_MAX_REFRESH_S 3600
#define PDC_RETRY_S 30

struct dns;
struct event_base;
struct pdc;
struct pdc_req;

/* e: the entry as the PDC holds it (valid during the call), or NULL with
 * error saying why there is none; uri: the PDC's, when known. */
typedef void pdc_entry_cb(const struct ldconn_entry *e, const char *uri,
                          const char *error, void *ctx);

/* po: the lookup pool's options (copied); domain: the DNS domain. */
struct pdc *pdc_new(struct event_base *base, struct dns *dns,
                    const struct ldpool_options *po, enum ldconn_tls tls,
                    const char *domain);
void pdc_deinit(struct pdc **pdc);
void pdc_start(struct pdc *pdc);

/* Read attrs (NULL-terminated; copied) of the entry dn at the PDC. */
struct pdc_req *pdc_read(struct pdc *pdc, const char *dn,
                         const char *const *attrs, pdc_entry_cb *cb, void *ctx);
void pdc_req_cancel(struct pdc_req **req);

/* The PDC's URI for a user bind when it is known and not down at now_ms;
 * NULL otherwise. */
const char *pdc_bind_uri(const struct pdc *pdc, uint64_t now_ms);
/* The PDC's URI when known (for status), or NULL. */
const char *pdc_uri(const struct pdc *pdc);

#endif
