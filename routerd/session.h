/*
 * session.h - one SMTP session (RFC 5321 with ESMTP), from greeting to
 * QUIT.
 *
 * A session reads command lines through its io (io.c), answers each in
 * order (pipelined commands wait while one is being answered), asks authd
 * about every recipient and every login (authc.c), and writes an accepted
 * message to the spool; the 250 after DATA (or the last BDAT) is sent only
 * from the spool's commit callback, once message and envelope are on
 * stable storage.
 *
 * Commands go through a table that pairs a check (may this verb come now,
 * in this state, on this listener?) with a proceed (do it) — the checks
 * are pure and unit-tested (session_check()).
 */
#ifndef DIRMX_SESSION_H
#define DIRMX_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "milter.h"
#include "smtpcmd.h"

struct authc;
struct dirmx_config;
struct event_base;
struct policy;
struct queue;
struct session;
struct spool;
struct tlsctx;

/* A listener's mail filters, in the order they run (strings owned). */
struct session_filters {
	char *listener;
	struct milter_conf *confs;
	size_t n;
};

/* The limits and names every session needs (from the configuration). */
struct session_params {
	char *hostname;
	char *postmaster; /* [routerd] postmaster, or NULL */
	uint64_t max_message_size;
	uint64_t spool_min_free;
	size_t max_line_length; /* octets per message line */
	unsigned max_recipients;
	bool trust_envelope_sender; /* trust_envelope_sender_for_restr... */
	unsigned max_received_headers;
	unsigned max_errors;        /* per session, then 421 */
	unsigned max_auth_failures; /* per session, then 421 */
	unsigned cmd_timeout_ms;    /* RFC 5321 4.5.3.2: 5 min */
	unsigned data_timeout_ms;   /* per data block: 3 min */
	unsigned min_data_rate;     /* bytes/s that extend data_timeout */
	unsigned tls_handshake_timeout_ms; /* the whole handshake: 30 s */
	struct session_filters *filters;   /* listeners with milters */
	size_t n_filters;
};

/* Fill p from cfg (start and SIGHUP); frees what p held. */
void session_params_set(struct session_params *p,
                        const struct dirmx_config *cfg);
void session_params_clear(struct session_params *p);

/*
 * Everything a session uses, built once by its owner (routerd.c) and
 * shared by every session. The owner may change a field between events
 * (a SIGHUP brings new params, policy or tls): sessions read the fields at
 * each use and keep none of them. The session never calls back into the
 * listener except through closed.
 */
struct session_env {
	struct event_base *base;
	const struct session_params *params;
	struct authc *authc;
	struct spool *spool;
	struct policy *policy;
	struct queue *queue; /* told about every committed message; or NULL */
	struct tlsctx *tls;  /* new handshakes; NULL: no TLS offered */
	/* A session ended (freed right after): the listener's accounting. */
	void (*closed)(void *ctx, struct session *s);
	void *ctx;
};

/* The listener a session came in on. */
struct session_listener {
	const char *name;
	int role; /* enum settings_role */
	int tls;  /* enum settings_listener_tls */
};

/*
 * Start a session on fd (the session owns it from now on) from peer. NULL
 * when it could not start (logged; fd closed, closed not called).
 */
struct session *session_new(const struct session_env *env, int fd,
                            const struct sockaddr *peer,
                            const struct session_listener *l);

/* A client's address as sessions and their logs write it ("unknown" for
 * anything but IPv4 and IPv6). */
void session_peer_text(const struct sockaddr *sa, char *buf, size_t size);

/* End a session at once (shutdown): no reply, its message is dropped. */
void session_destroy(struct session *s);

/* What session_check() looks at: the state, not the I/O. */
struct session_view {
	int role;       /* enum settings_role */
	int tls_policy; /* enum settings_listener_tls */
	bool tls_active;
	bool tls_available; /* a certificate is configured */
	bool greeted;       /* HELO or EHLO seen */
	bool ehlo;
	bool authenticated;
	bool in_mail;   /* MAIL accepted */
	unsigned rcpts; /* RCPTs accepted */
	bool in_bdat;   /* a BDAT transfer without LAST is under way */
};

/*
 * May verb come now? 0: yes. Otherwise the reply (code, enhanced status,
 * text) to send instead, all static strings.
 */
int session_check(const struct session_view *v, enum smtpcmd_verb verb,
                  unsigned *code_r, const char **enhanced_r,
                  const char **text_r);

#endif
