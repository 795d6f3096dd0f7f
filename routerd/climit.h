/*
 * climit.h - per-client connection limits: how many sessions one client
 * address may hold at once, and how many it may open per minute.
 *
 * A client is its IPv4 address, or its IPv6 address masked to a prefix
 * (/64 by default: one site, however many addresses it rotates through).
 * Pure: no sockets, no clock (the time is passed in), no logging; the
 * listener (smtpd.c) asks before it creates a session and tells when a
 * session ends.
 *
 * Memory: one entry per client with sessions open or with connections in
 * the current one-minute rate window; idle entries go when met again.
 */
#ifndef DIRMX_CLIMIT_H
#define DIRMX_CLIMIT_H

#include <stdint.h>
#include <sys/socket.h>

enum climit_verdict {
	CLIMIT_OK,       /* counted: call climit_close() when it ends */
	CLIMIT_TOO_MANY, /* already conn_limit sessions open */
	CLIMIT_TOO_FAST, /* rate_limit connections in this minute */
};

struct climit;

/* 0 for either limit: none. v6_prefix: 1..128. */
struct climit *climit_new(unsigned conn_limit, unsigned rate_limit,
                          unsigned v6_prefix);
/* New limits (SIGHUP); counts are kept, the v6_prefix of climit_new()
 * too (it shapes the keys of sessions open now). */
void climit_set(struct climit *c, unsigned conn_limit, unsigned rate_limit,
                unsigned v6_prefix);
void climit_deinit(struct climit **c);

/* A client connects at now_ms. *open_r: its sessions open (before this
 * one) for the log. */
enum climit_verdict climit_open(struct climit *c, const struct sockaddr *sa,
                                uint64_t now_ms, unsigned *open_r);
/* A session that climit_open() counted ended. */
void climit_close(struct climit *c, const struct sockaddr *sa, uint64_t now_ms);
/* Entries held (for tests). */
size_t climit_entries(const struct climit *c);

#endif
