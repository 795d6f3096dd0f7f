/*
 * io.h - the buffered, TLS-capable I/O layer under every SMTP session.
 *
 * One struct io wraps one non-blocking socket in routerd's event loop. It
 * reads whatever arrives into a bounded input buffer and tells its owner
 * (IO_DATAIN); it writes what the owner queues and says when the output
 * has drained (IO_LOWAT). TLS (GnuTLS) can be switched on at any time for
 * STARTTLS, or from the first byte for implicit TLS; the handshake is
 * asynchronous and bounded by the io's timeout like everything else,
 * and by a deadline of its own (io_set_handshake_timeout).
 *
 * The owner consumes input from io_input() itself (an SMTP session reads
 * line by line, a DATA body in chunks). Reading can be paused while the
 * owner waits for something (authd, the spool), so a pipelining client
 * cannot make routerd buffer without bound: the input buffer has a hard
 * limit; when it is full, reading stops (the rest waits in the socket, TCP
 * flow control slows the peer) until the owner consumed input and called
 * io_input_consumed().
 *
 * Ownership: the io owns the socket and the TLS session and closes both
 * in io_free(). Events are delivered from the loop, never from inside an
 * io_* call. The owner may free the io from inside its callback.
 */
#ifndef DIRMX_IO_H
#define DIRMX_IO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

struct event_base;
struct sbuf;
struct tlsctx;

enum io_event {
	IO_DATAIN,       /* new input in io_input() */
	IO_LOWAT,        /* everything queued was written */
	IO_TLSREADY,     /* the TLS handshake finished */
	IO_TIMEOUT,      /* nothing happened within the timeout */
	IO_DISCONNECTED, /* the peer closed */
	IO_ERROR,        /* read/write/TLS error; io_error() says which */
};

struct io;
typedef void io_cb(struct io *io, enum io_event ev, void *ctx);

struct io *io_new(struct event_base *base, int fd, size_t in_limit, io_cb *cb,
                  void *ctx);
void io_free(struct io **io);

struct sbuf *io_input(struct io *io);
/* Queue output; false when the output limit would be passed. What is
 * queued during one round of the event loop is sent together at the end
 * of that round (pipelined replies leave in one segment). Writing
 * nothing when nothing is queued raises IO_LOWAT. */
bool io_write(struct io *io, const void *data, size_t len);
bool io_printf(struct io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t io_queued(const struct io *io);

/* 0: no timeout. Restarted by every successful read or write (an idle
 * timeout: what the outbound client wants of a server). */
void io_set_timeout(struct io *io, unsigned ms);
/*
 * A deadline instead of an idle timeout, for a peer that must not hold the
 * io by trickling bytes: IO_TIMEOUT ms from now, not restarted by reads or
 * writes. With min_rate > 0 (bytes per second), every n bytes read move
 * the deadline later by n / min_rate seconds, never beyond ms from the
 * time of the read (Postfix's smtpd_min_data_rate): a peer that sends at
 * least min_rate bytes/s on average never meets it, a slower one does,
 * however it spreads its bytes. Lasts until the next io_set_deadline() or
 * io_set_timeout().
 */
void io_set_deadline(struct io *io, unsigned ms, unsigned min_rate);
/* Bytes read since the last io_set_deadline(), and ms elapsed: for logs. */
void io_deadline_stats(const struct io *io, uint64_t *bytes_r,
                       uint64_t *elapsed_ms_r);
/* The pure rule behind io_set_deadline(): the new deadline after n bytes
 * arrived at now (all in ms on one clock). */
uint64_t io_rate_deadline(uint64_t now, uint64_t deadline, uint64_t n,
                          unsigned min_rate, unsigned max_ms);
void io_pause_read(struct io *io);
/* The owner consumed from io_input(): read again if the buffer was full. */
void io_input_consumed(struct io *io);
void io_resume_read(struct io *io);
/*
 * Hold what is queued instead of sending it at the end of the round,
 * until released (then it goes out at the end of that round). For
 * replies to pipelined commands that are still being worked on (RFC 2920
 * allows a server to buffer them): one send instead of one per reply.
 * Never for a reply the peer needs before it can go on.
 */
void io_hold_output(struct io *io, bool hold);

/* The TLS handshakes of this io, server or client, end with IO_ERROR
 * ("TLS handshake timeout") unless done within ms (0, the default: only the
 * idle timeout). No read or write restarts this deadline. */
void io_set_handshake_timeout(struct io *io, unsigned ms);
/* Start a server-side TLS handshake with ctx's credentials and
 * priorities; the io holds a reference to ctx until io_free (tlsctx.h).
 * IO_TLSREADY or IO_ERROR follows. */
int io_start_tls(struct io *io, struct tlsctx *ctx);
/* Start a client-side TLS handshake (STARTTLS in smtpc) with creds and
 * prio (NULL: GnuTLS's defaults; GnuTLS keeps its own reference),
 * sending server_name as SNI unless it is an IP literal. With verify,
 * the handshake fails (IO_ERROR) unless the server's chain verifies
 * against the trust anchors in creds and its certificate matches
 * server_name. Input buffered before the call is discarded.
 * IO_TLSREADY or IO_ERROR follows. */
int io_start_tls_client(struct io *io, gnutls_certificate_credentials_t creds,
                        gnutls_priority_t prio, const char *server_name,
                        bool verify);
bool io_is_tls(const struct io *io);
/* "TLS1.3 ECDHE-..."-style description, or NULL without TLS. */
const char *io_tls_info(const struct io *io);
/* What was negotiated, in GnuTLS's names: version "TLS1.3", cipher the
 * IANA suite "TLS_AES_256_GCM_SHA384", bits the cipher's key size. The
 * strings are static. false without TLS. */
struct io_tls_params {
	const char *version;
	const char *cipher;
	unsigned bits;
};
bool io_tls_params(const struct io *io, struct io_tls_params *params_r);
const char *io_error(const struct io *io);

#endif
