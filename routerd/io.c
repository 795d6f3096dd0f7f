/*
 * io - buffered, TLS-capable socket I/O for routerd's sessions; see io.h.
 *
 * One read event and one write event per socket, and one timer. Every
 * change of an event's registration costs an epoll_ctl(2), so the io
 * tracks what is registered and changes it only when needed:
 *
 *   - Output is flushed once per loop round: queuing output makes the
 *     write event active (event_active, no system call), and its callback
 *     sends everything queued in that round at once. The write event is
 *     registered with the loop only after a send would block, until the
 *     output drained.
 *   - Pausing reading leaves the read event registered: most pauses end
 *     before the peer sends anything. Only when it fires while reading is
 *     unwanted (paused, or the input buffer full) is it unregistered; it
 *     is registered again when reading is wanted again.
 *
 * With TLS, reads also drain what GnuTLS holds decrypted
 * (gnutls_record_check_pending), and a send that returns GNUTLS_E_AGAIN is
 * repeated with the same data, as GnuTLS requires. Callbacks are raised
 * from the events, so an owner never sees one inside its own io_* call.
 */
#include "io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "evloop.h"
#include "sbuf.h"
#include "tlsctx.h"

#define IO_OUT_LIMIT (4u * 1024 * 1024)

struct io {
	struct event_base *base;
	int fd;
	io_cb *cb;
	void *ctx;
	struct sbuf *in, *out;
	struct event *ev_read, *ev_write;
	struct evloop_timer *timer, *defer;
	unsigned timeout_ms;
	/* io_set_deadline(): */
	bool deadline_mode;
	unsigned min_rate;
	uint64_t deadline_at, deadline_start, deadline_bytes;
	bool paused;
	bool out_held;                /* io_hold_output() */
	bool read_armed, write_armed; /* registered with the loop */
	bool write_blocked;           /* the last send would have blocked */
	bool handshaking;
	gnutls_session_t tls;
	struct tlsctx *tlsctx; /* server side: a reference, see tlsctx.h */
	struct evloop_timer *hs_timer; /* the handshake's own deadline */
	unsigned handshake_ms;
	char *tls_info;
	struct io_tls_params tls_params;
	char error[256];
	bool lowat_pending, datain_pending, tlsready_pending;
	enum io_event fatal;
	bool fatal_pending;
};

static void io_update_events(struct io *io);

static bool io_want_read(const struct io *io)
{
	return !io->paused && sbuf_len(io->in) < sbuf_limit(io->in);
}

/* Register or unregister ev with the loop, only if that changes. */
static void io_arm(struct event *ev, bool *armed, bool on)
{
	if (*armed == on)
		return;
	if (on)
		event_add(ev, NULL);
	else
		event_del(ev);
	*armed = on;
}

static void io_touch(struct io *io)
{
	if (io->timeout_ms > 0 && !io->deadline_mode)
		evloop_timer_start(io->timer, io->timeout_ms);
}

uint64_t io_rate_deadline(uint64_t now, uint64_t deadline, uint64_t n,
                          unsigned min_rate, unsigned max_ms)
{
	uint64_t left = deadline > now ? deadline - now : 0;
	uint64_t credit;

	if (min_rate == 0)
		return deadline;
	/* n * 1000 / min_rate, without overflow for any n */
	credit = n / min_rate * 1000 + n % min_rate * 1000 / min_rate;
	left = credit >= (uint64_t)max_ms || left + credit >= max_ms
	           ? max_ms
	           : left + credit;
	return now + left;
}

/* Reading n bytes in deadline mode: a fast peer earns time. */
static void io_deadline_read(struct io *io, size_t n)
{
	uint64_t now;

	io->deadline_bytes += n;
	if (!io->deadline_mode || io->min_rate == 0)
		return;
	now = evloop_now_ms();
	io->deadline_at = io_rate_deadline(now, io->deadline_at, n,
	                                   io->min_rate, io->timeout_ms);
	evloop_timer_start(io->timer, (unsigned)(io->deadline_at - now));
}

static void io_raise(struct io *io);

/* Raise events from a zero timer: never inside an io_* call. One event
 * per run; the timer is re-armed first when more are waiting, since the
 * owner may free the io inside its callback. */
static void io_deferred(void *arg)
{
	struct io *io = arg;
	enum io_event ev;

	if (io->fatal_pending) {
		io->fatal_pending = false;
		io->cb(io, io->fatal, io->ctx);
		return;
	}
	if (io->tlsready_pending) {
		io->tlsready_pending = false;
		ev = IO_TLSREADY;
	} else if (io->datain_pending) {
		io->datain_pending = false;
		ev = IO_DATAIN;
	} else if (io->lowat_pending) {
		io->lowat_pending = false;
		ev = IO_LOWAT;
	} else {
		return;
	}
	if (io->datain_pending || io->lowat_pending)
		io_raise(io);
	io->cb(io, ev, io->ctx);
}

static void io_raise(struct io *io)
{
	evloop_timer_start(io->defer, 0);
}

static void io_fail(struct io *io, enum io_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void io_fail(struct io *io, enum io_event ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(io->error, sizeof(io->error), fmt, ap);
	va_end(ap);
	event_del(io->ev_read);
	event_del(io->ev_write);
	io->read_armed = io->write_armed = false;
	io->fatal = ev;
	io->fatal_pending = true;
	io_raise(io);
}

static void io_timeout(void *arg)
{
	struct io *io = arg;

	io_fail(io, IO_TIMEOUT, "timeout");
}

/* A handshake gets handshake_ms in all, however the peer trickles its
 * bytes: unlike the idle timeout, no read or write restarts it. It is a
 * TLS failure (IO_ERROR): there is no session to say goodbye in. */
static void io_handshake_timeout(void *arg)
{
	struct io *io = arg;

	io_fail(io, IO_ERROR, "TLS handshake timeout");
}

static void io_handshake_begin(struct io *io)
{
	if (io->handshake_ms == 0)
		return;
	if (io->hs_timer == NULL)
		io->hs_timer =
		    evloop_timer_new(io->base, io_handshake_timeout, io);
	evloop_timer_start(io->hs_timer, io->handshake_ms);
}

/* The names a Received: field shows (session.c), kept from the end of
 * the handshake. */
static void io_keep_tls_params(struct io *io)
{
	const char *suite = gnutls_ciphersuite_get(io->tls);
	gnutls_cipher_algorithm_t cipher = gnutls_cipher_get(io->tls);

	io->tls_params.version =
	    gnutls_protocol_get_name(gnutls_protocol_get_version(io->tls));
	io->tls_params.cipher =
	    suite != NULL ? suite : gnutls_cipher_get_name(cipher);
	io->tls_params.bits = (unsigned)gnutls_cipher_get_key_size(cipher) * 8;
}

static void io_handshake(struct io *io)
{
	int rc = gnutls_handshake(io->tls);
	char *desc;

	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		io_update_events(io);
		return;
	}
	io->handshaking = false;
	if (io->hs_timer != NULL)
		evloop_timer_stop(io->hs_timer);
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		/* Only client sessions verify (io_start_tls_client). */
		gnutls_datum_t why = {NULL, 0};
		unsigned st = gnutls_session_get_verify_cert_status(io->tls);

		gnutls_certificate_verification_status_print(
		    st, GNUTLS_CRT_X509, &why, 0);
		io_fail(io, IO_ERROR, "TLS handshake: %s",
		        why.data != NULL ? (const char *)why.data
		                         : gnutls_strerror(rc));
		gnutls_free(why.data);
		return;
	}
	if (rc < 0) {
		/* Tell the peer why (protocol_version to a TLS 1.0 client),
		 * best effort: the socket is non-blocking. */
		(void)gnutls_alert_send_appropriate(io->tls, rc);
		io_fail(io, IO_ERROR, "TLS handshake: %s", gnutls_strerror(rc));
		return;
	}
	desc = gnutls_session_get_desc(io->tls);
	free(io->tls_info);
	io->tls_info = alloc_strdup(desc != NULL ? desc : "TLS");
	gnutls_free(desc);
	io_keep_tls_params(io);
	io_touch(io);
	io->tlsready_pending = true;
	io_update_events(io);
	io_raise(io);
}

static void io_do_read(struct io *io)
{
	char buf[16384];
	bool got = false;
	size_t got_bytes = 0;

	for (;;) {
		size_t room = sbuf_limit(io->in) - sbuf_len(io->in);
		size_t want = room < sizeof(buf) ? room : sizeof(buf);
		ssize_t n;

		/* Input buffer full: leave the rest in the socket (TCP flow
		 * control) until the owner consumed some; see
		 * io_input_consumed(). */
		if (want == 0)
			break;
		if (io->tls != NULL) {
			n = gnutls_record_recv(io->tls, buf, want);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				break;
			if (n < 0) {
				io_fail(io, IO_ERROR, "TLS read: %s",
				        gnutls_strerror((int)n));
				return;
			}
		} else {
			n = recv(io->fd, buf, want, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n < 0) {
				io_fail(io, IO_ERROR, "read: %s",
				        strerror(errno));
				return;
			}
		}
		if (n == 0) {
			io_fail(io, IO_DISCONNECTED, "peer closed");
			return;
		}
		if (!sbuf_append(io->in, buf, (size_t)n)) {
			io_fail(io, IO_ERROR, "input buffer limit exceeded");
			return;
		}
		got = true;
		got_bytes += (size_t)n;
		if ((size_t)n < want &&
		    (io->tls == NULL ||
		     gnutls_record_check_pending(io->tls) == 0))
			break;
	}
	if (got) {
		io_touch(io);
		io_deadline_read(io, got_bytes);
		io->datain_pending = true;
		io_raise(io);
	}
}

static void io_do_write(struct io *io)
{
	while (sbuf_len(io->out) > 0) {
		ssize_t n;

		if (io->tls != NULL) {
			n = gnutls_record_send(io->tls, sbuf_data(io->out),
			                       sbuf_len(io->out));
			if (n == GNUTLS_E_AGAIN) {
				io->write_blocked = true;
				break;
			}
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n < 0) {
				io_fail(io, IO_ERROR, "TLS write: %s",
				        gnutls_strerror((int)n));
				return;
			}
		} else {
			n = send(io->fd, sbuf_data(io->out), sbuf_len(io->out),
			         MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				io->write_blocked = true;
				break;
			}
			if (n < 0) {
				io_fail(io, IO_ERROR, "write: %s",
				        strerror(errno));
				return;
			}
		}
		sbuf_consume(io->out, (size_t)n);
		io_touch(io);
	}
	if (sbuf_len(io->out) == 0) {
		io->write_blocked = false;
		io->lowat_pending = true;
		io_raise(io);
	}
}

static void io_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io *io = arg;

	if (io->fatal_pending)
		return;
	if (io->handshaking) {
		io_handshake(io);
		return;
	}
	/* Held output waits, unless the socket was full: then the loop
	 * said it drains, and it must (it would fire every round). */
	if ((what & EV_WRITE) && (!io->out_held || io->write_blocked))
		io_do_write(io);
	if ((what & EV_READ) && !io->fatal_pending && io_want_read(io))
		io_do_read(io);
	if (io->fatal_pending)
		return;
	/* Fired while reading is unwanted: now it is worth unregistering,
	 * or a level-triggered loop would wake for it every round. */
	if ((what & EV_READ) && !io_want_read(io))
		io_arm(io->ev_read, &io->read_armed, false);
	io_update_events(io);
}

static void io_update_events(struct io *io)
{
	bool queued = sbuf_len(io->out) > 0;

	if (io->handshaking) {
		int dir = gnutls_record_get_direction(io->tls);

		io_arm(io->ev_read, &io->read_armed, dir == 0);
		io_arm(io->ev_write, &io->write_armed, dir == 1);
		return;
	}
	/* Not wanting to read leaves the event registered; io_event_cb
	 * unregisters it if it fires. */
	if (io_want_read(io))
		io_arm(io->ev_read, &io->read_armed, true);
	io_arm(io->ev_write, &io->write_armed, queued && io->write_blocked);
	/* Output queued this round goes out at the end of the round, in
	 * one send, unless the socket is full (then the loop says when). */
	if (queued && !io->write_blocked && !io->out_held)
		event_active(io->ev_write, EV_WRITE, 0);
	/* Decrypted bytes GnuTLS holds will not wake the socket. */
	if (io_want_read(io) && io->tls != NULL &&
	    gnutls_record_check_pending(io->tls) > 0)
		event_active(io->ev_read, EV_READ, 0);
}

struct io *io_new(struct event_base *base, int fd, size_t in_limit, io_cb *cb,
                  void *ctx)
{
	struct io *io = alloc_new(struct io);

	io->base = base;
	io->fd = fd;
	io->cb = cb;
	io->ctx = ctx;
	io->in = sbuf_new(in_limit);
	io->out = sbuf_new(IO_OUT_LIMIT);
	io->ev_read =
	    event_new(base, fd, EV_READ | EV_PERSIST, io_event_cb, io);
	io->ev_write =
	    event_new(base, fd, EV_WRITE | EV_PERSIST, io_event_cb, io);
	io->timer = evloop_timer_new(base, io_timeout, io);
	io->defer = evloop_timer_new(base, io_deferred, io);
	io_update_events(io);
	return io;
}

void io_free(struct io **iop)
{
	struct io *io = *iop;

	if (io == NULL)
		return;
	*iop = NULL;
	event_free(io->ev_read);
	event_free(io->ev_write);
	evloop_timer_free(&io->timer);
	evloop_timer_free(&io->defer);
	evloop_timer_free(&io->hs_timer);
	if (io->tls != NULL)
		gnutls_deinit(io->tls);
	/* After gnutls_deinit: the session used the credentials. */
	tlsctx_unref(&io->tlsctx);
	close(io->fd);
	sbuf_deinit(&io->in);
	sbuf_deinit(&io->out);
	free(io->tls_info);
	free(io);
}

struct sbuf *io_input(struct io *io)
{
	return io->in;
}

bool io_write(struct io *io, const void *data, size_t len)
{
	/* Nothing to write and nothing queued: say so (IO_LOWAT) anyway,
	 * so "flush, then close" works when everything is out already. */
	if (len == 0 && sbuf_len(io->out) == 0) {
		io->lowat_pending = true;
		io_raise(io);
		return true;
	}
	if (!sbuf_append(io->out, data, len))
		return false;
	if (!io->handshaking && !io->fatal_pending)
		io_update_events(io);
	return true;
}

bool io_printf(struct io *io, const char *fmt, ...)
{
	va_list ap;
	bool ok;

	va_start(ap, fmt);
	ok = sbuf_vprintf(io->out, fmt, ap);
	va_end(ap);
	if (ok && !io->handshaking && !io->fatal_pending)
		io_update_events(io);
	return ok;
}

size_t io_queued(const struct io *io)
{
	return sbuf_len(io->out);
}

void io_set_deadline(struct io *io, unsigned ms, unsigned min_rate)
{
	io->deadline_mode = true;
	io->timeout_ms = ms;
	io->min_rate = min_rate;
	io->deadline_start = evloop_now_ms();
	io->deadline_at = io->deadline_start + ms;
	io->deadline_bytes = 0;
	evloop_timer_start(io->timer, ms);
}

void io_deadline_stats(const struct io *io, uint64_t *bytes_r,
                       uint64_t *elapsed_ms_r)
{
	*bytes_r = io->deadline_bytes;
	*elapsed_ms_r = evloop_now_ms() - io->deadline_start;
}

void io_set_timeout(struct io *io, unsigned ms)
{
	io->deadline_mode = false;
	io->timeout_ms = ms;
	if (ms == 0)
		evloop_timer_stop(io->timer);
	else
		evloop_timer_start(io->timer, ms);
}

void io_pause_read(struct io *io)
{
	io->paused = true;
	if (!io->handshaking && !io->fatal_pending)
		io_update_events(io);
}

void io_input_consumed(struct io *io)
{
	if (!io->handshaking && !io->fatal_pending)
		io_update_events(io);
}

void io_hold_output(struct io *io, bool hold)
{
	if (io->out_held == hold)
		return;
	io->out_held = hold;
	if (!hold && !io->handshaking && !io->fatal_pending)
		io_update_events(io);
}

void io_resume_read(struct io *io)
{
	io->paused = false;
	if (!io->handshaking && !io->fatal_pending)
		io_update_events(io);
}

void io_set_handshake_timeout(struct io *io, unsigned ms)
{
	io->handshake_ms = ms;
}

/* The configured priorities; GnuTLS's defaults without any. */
static int io_set_priority(struct io *io, gnutls_priority_t prio)
{
	if (prio != NULL)
		return gnutls_priority_set(io->tls, prio);
	return gnutls_set_default_priority(io->tls);
}

int io_start_tls(struct io *io, struct tlsctx *ctx)
{
	int rc = gnutls_init(&io->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK);

	if (rc < 0) {
		io->tls = NULL;
		return -1;
	}
	if (io_set_priority(io, tlsctx_priority(ctx)) < 0) {
		gnutls_deinit(io->tls);
		io->tls = NULL;
		return -1;
	}
	io->tlsctx = tlsctx_ref(ctx);
	gnutls_credentials_set(io->tls, GNUTLS_CRD_CERTIFICATE,
	                       tlsctx_creds(ctx));
	gnutls_certificate_server_set_request(io->tls, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(io->tls, io->fd);
	/* Anything the client sent before the handshake is discarded:
	 * commands pipelined after STARTTLS must not survive (RFC 3207). */
	sbuf_reset(io->in);
	io->handshaking = true;
	io_handshake_begin(io);
	io_handshake(io);
	return 0;
}

/* True when s is an IPv4 or IPv6 literal: SNI carries host names only
 * (RFC 6066 3). */
static bool io_is_ip_literal(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 ||
	       inet_pton(AF_INET6, s, tmp) == 1;
}

int io_start_tls_client(struct io *io, gnutls_certificate_credentials_t creds,
                        gnutls_priority_t prio, const char *server_name,
                        bool verify)
{
	int rc = gnutls_init(&io->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);

	if (rc < 0) {
		io->tls = NULL;
		return -1;
	}
	if (io_set_priority(io, prio) < 0) {
		gnutls_deinit(io->tls);
		io->tls = NULL;
		return -1;
	}
	gnutls_credentials_set(io->tls, GNUTLS_CRD_CERTIFICATE, creds);
	if (server_name != NULL && server_name[0] != '\0' &&
	    !io_is_ip_literal(server_name))
		gnutls_server_name_set(io->tls, GNUTLS_NAME_DNS, server_name,
		                       strlen(server_name));
	/* The handshake itself fails when the chain or the name does not
	 * verify: nothing is ever sent over an unverified session. */
	if (verify)
		gnutls_session_set_verify_cert(io->tls, server_name, 0);
	gnutls_transport_set_int(io->tls, io->fd);
	/* Whatever the server sent after its 220 to STARTTLS is discarded:
	 * it must not be read as if it came over TLS (RFC 3207 6). */
	sbuf_reset(io->in);
	io->handshaking = true;
	io_handshake_begin(io);
	io_handshake(io);
	return 0;
}

bool io_is_tls(const struct io *io)
{
	return io->tls != NULL && !io->handshaking;
}

const char *io_tls_info(const struct io *io)
{
	return io_is_tls(io) ? io->tls_info : NULL;
}

bool io_tls_params(const struct io *io, struct io_tls_params *params_r)
{
	if (!io_is_tls(io))
		return false;
	*params_r = io->tls_params;
	return true;
}

const char *io_error(const struct io *io)
{
	return io->error;
}
