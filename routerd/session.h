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
#include <sys/socket.h>

#include "smtpcmd.h"

struct smtpd;
struct event_base;

void session_new(struct smtpd *srv, struct event_base *base, int fd,
		 const struct sockaddr *peer, socklen_t peer_len, int role,
		 int tls, const char *listener, unsigned *listener_sessions);

/* End a session at once (shutdown): no reply, its message is dropped. */
struct session;
void session_destroy(struct session *s);

/* What session_check() looks at: the state, not the I/O. */
struct session_view {
	int role;           /* enum settings_role */
	int tls_policy;     /* enum settings_listener_tls */
	bool tls_active;
	bool tls_available; /* a certificate is configured */
	bool greeted;       /* HELO or EHLO seen */
	bool ehlo;
	bool authenticated;
	bool in_mail;       /* MAIL accepted */
	unsigned rcpts;     /* RCPTs accepted */
	bool in_bdat;       /* a BDAT transfer without LAST is under way */
};

/*
 * May verb come now? 0: yes. Otherwise the reply (code, enhanced status,
 * text) to send instead, all static strings.
 */
int session_check(const struct session_view *v, enum smtpcmd_verb verb,
		  unsigned *code_r, const char **enhanced_r,
		  const char **text_r);

#endif
