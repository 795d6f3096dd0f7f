/*
 * authc.h - asynchronous authd client for a libevent loop (routerd's).
 *
 * routerd asks authd three questions (include/authproto.txt): LOOKUP
 * (where does mail for this address go), AUTH (are these credentials
 * good), SENDERS (which envelope senders may this user use). One struct
 * authc keeps ONE connection to authd's UNIX socket and carries every
 * request on it at once: IDs come from a counter, answers are matched by
 * ID in whatever order authd sends them.
 *
 * Connection: opened lazily by the first request, then HELLO; requests
 * made before HELLO is answered wait for it. When the connection breaks
 * (authd exits, closes, or sends one malformed line), every request on
 * it fails with TEMPFAIL and the next request reconnects at once. When
 * connecting fails (authd not running: ENOENT, ECONNREFUSED) the request
 * fails with TEMPFAIL "authd unavailable: <errno text>" without waiting,
 * and for a short backoff after that (50 ms, doubling to 1 s, reset by a
 * successful HELLO) new requests fail the same way without trying.
 *
 * Identical lookups: a LOOKUP that asks what a LOOKUP in flight asks
 * (the same address, context and user, byte for byte) sends nothing and
 * gets that one's answer; to its caller it is a request like any other
 * (its own callback, timeout and cancel). Cancelling the first one does
 * not stop the answer for the others, and a failure reaches them all.
 *
 * Outcomes: only AUTHC_OK, AUTHC_NOTFOUND (permanent: no such address,
 * bad credentials, no such user) and AUTHC_TEMPFAIL. Everything that is
 * not a clean OK or NOTFOUND from authd is a TEMPFAIL: no connection, a
 * timeout (default 10 s per request, authc_set_timeout()), a broken or
 * malformed answer, an ERROR answer from authd (our request was refused:
 * logged as a warning), and a request the codec cannot encode (a user
 * name with control characters, an empty password: callers should refuse
 * those at the SMTP layer first). A TEMPFAIL is never turned into a
 * NOTFOUND.
 *
 * Callbacks: every request's callback runs exactly once, from the event
 * loop, never inside the call that started the request, unless the
 * request is cancelled first (authc_cancel(): the callback never runs).
 * The result and every string in it are valid only during the callback.
 * The request handle is freed when its callback returns: the callback is
 * the place to forget it. A callback may start new requests and cancel
 * other ones.
 *
 * Secrets: authc_auth() copies the password only into buffers it wipes
 * (explicit_bzero) once the bytes are written to the socket or the
 * request is dropped; no copy is kept for a resend (a request that fails
 * is not retried). The password is never logged.
 *
 * authc_deinit(): every request still pending is answered TEMPFAIL
 * "shutting down" from inside authc_deinit() (the one exception to the
 * rule above); those callbacks must not use the client. Do not call
 * authc_deinit() from inside an authc callback.
 *
 * Nothing here returns NULL: out of memory aborts (alloc.h).
 */
#ifndef DIRMX_AUTHC_H
#define DIRMX_AUTHC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct authc;
struct authc_req;

#define AUTHC_TIMEOUT_MS_DEFAULT 10000

enum authc_status {
	AUTHC_OK,
	AUTHC_NOTFOUND,
	AUTHC_TEMPFAIL,
};

/* One final recipient and its next hop ("local", "external", or a host
   the directory names: see authproto.txt, LOOKUP OK). */
struct authc_dest {
	const char *rcpt;
	const char *hop;
	uint64_t max_kb; /* the recipient's size limit in KB; 0: none */
	/* The envelope sender of its copy (where its groups' reports go):
	 * an address, "<>" for none, NULL for the message's own. */
	const char *sender;
};

struct authc_lookup_result {
	enum authc_status status;
	const char *reason; /* "" for OK; for logs, never parsed */
	size_t n_dests;     /* >= 1 for OK, 0 otherwise */
	const struct authc_dest *dests;
	const char *dc; /* the DC that answered, or NULL */
	bool cached;
	/* The address's domain: "local", "internalrelay", "relay" or
	 * "external" (also when authd did not say): the relay decision for
	 * the MX listener. */
	const char *domain;
	/* NOTFOUND because the sender may not send to this recipient: the
	 * rule's attribute ("msExchRequireAuthToSendTo", "authOrig/..."),
	 * else NULL. */
	const char *restricted;
};

struct authc_auth_result {
	enum authc_status status;
	/* SASL only: authd's next challenge (base64, may be ""): the exchange
	 * goes on (status is AUTHC_OK, user NULL). NULL: it ended. */
	const char *challenge;
	const char *user; /* OK: the canonical account; NULL otherwise */
	const char *reason;
	unsigned int delay_ms; /* wait this long before answering the
	                          SMTP client (0 when authd said nothing) */
};

struct authc_senders_result {
	enum authc_status status;
	const char *reason;
	size_t n_addrs; /* may be 0 for OK: the user may use no address */
	const char *const *addrs;
	unsigned recip_limit; /* recipients per message; 0: no own limit */
	uint64_t send_max_kb; /* submissionContLength in KB; 0: none */
};

typedef void authc_lookup_cb(const struct authc_lookup_result *result,
                             void *context);
typedef void authc_auth_cb(const struct authc_auth_result *result,
                           void *context);
typedef void authc_senders_cb(const struct authc_senders_result *result,
                              void *context);

/* client_name goes into HELLO (a token of at most 64 bytes: "routerd"). */
struct authc *authc_new(struct event_base *base, const char *socket_path,
                        const char *client_name);
void authc_deinit(struct authc **c);
/* Per-request timeout, for requests started from now on; also bounds
   HELLO. 0 is taken as 1. */
void authc_set_timeout(struct authc *c, unsigned int ms);
/* Requests whose callback has not run yet (for tests and stats). */
size_t authc_pending(const struct authc *c);

/* context: "mx" or "submission"; user: the authenticated user or NULL. */
struct authc_req *authc_lookup(struct authc *c, const char *addr,
                               const char *context, const char *user,
                               authc_lookup_cb *cb, void *cb_context);
/* The same, for an unauthenticated sender known by its envelope sender
 * from (trust_envelope_sender_for_restrictions; NULL: nobody). */
struct authc_req *authc_lookup_from(struct authc *c, const char *addr,
                                    const char *context, const char *user,
                                    const char *from, authc_lookup_cb *cb,
                                    void *cb_context);
/* mech: "PLAIN" or "LOGIN"; client_ip as inet_ntop() writes it, or NULL. */
struct authc_req *authc_auth(struct authc *c, const char *mech,
                             const char *user, const char *password,
                             const char *client_ip, authc_auth_cb *cb,
                             void *cb_context);
struct authc_req *authc_senders(struct authc *c, const char *user,
                                authc_senders_cb *cb, void *cb_context);
/* Who owns the envelope sender from: OK with its send_max_kb, NOTFOUND
 * when no entry does (nobody: no limit). */
struct authc_req *authc_senders_from(struct authc *c, const char *from,
                                     authc_senders_cb *cb, void *cb_context);

/*
 * Multi-step SMTP AUTH (GSSAPI, GSS-SPNEGO) relayed to authd (protocol
 * version 2, SASL): authc_sasl_start() begins an exchange (*exch_r names
 * it for the next calls) with the client's initial response, base64 as
 * the client sent it (NULL: none; "": an empty one); each answer is a
 * challenge to relay (result->challenge) or the end, as authc_auth's. Then
 * authc_sasl_step() for each of the client's answers; authc_sasl_abort()
 * when the client cancels or goes away (no callback). The base64 is
 * checked by the caller (strictly, smtpcmd_decode_base64) and is at most
 * AUTHC_SASL_B64_MAX bytes.
 */
#define AUTHC_SASL_B64_MAX 16384
struct authc_req *authc_sasl_start(struct authc *c, const char *mech,
                                   const char *resp, const char *client_ip,
                                   authc_auth_cb *cb, void *cb_context,
                                   uint64_t *exch_r);
struct authc_req *authc_sasl_step(struct authc *c, uint64_t exch,
                                  const char *resp, authc_auth_cb *cb,
                                  void *cb_context);
void authc_sasl_abort(struct authc *c, uint64_t exch);
/* authd offers mech (PLAIN, LOGIN, GSSAPI, GSS-SPNEGO): its last HELLO
 * listed it; before any HELLO listed mechanisms, PLAIN and LOGIN only
 * (authc_connect() connects early). */
bool authc_offers(const struct authc *c, const char *mech);
/* Connect now (and say HELLO) if not connected: at start, so that the
 * mechanisms are known before the first EHLO. */
void authc_connect(struct authc *c);

/* Forget a request whose callback has not run: it never will. Sets *req
   to NULL; NULL is fine. */
void authc_cancel(struct authc_req **req);

#endif
