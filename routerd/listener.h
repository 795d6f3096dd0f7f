/*
 * listener.h - routerd's listening sockets: accept, limit, hand over to a
 * session (session.h), count what is open.
 *
 * Every [listener NAME] of the configuration becomes a listening socket
 * with a role: mx (mail for local domains from anyone), submission (AUTH
 * after STARTTLS, relays anywhere) or submissions (TLS from the first
 * byte). The sockets are bound before routerd drops its privileges
 * (listener_bind), and served after (listener_start). Before a session
 * starts, the limits apply: max_sessions per socket, and per client
 * address (climit.h; relay_networks exempt); over one, a 421 and a log
 * line. The TLS certificate and key, with the priorities of tls_priority,
 * are loaded at start and again on SIGHUP (listener_reload): a bad new
 * pair is logged and the old one kept; the old one is freed when the
 * last session using it ends.
 */
#ifndef DIRMX_LISTENER_H
#define DIRMX_LISTENER_H

struct event_base;
struct dirmx_config;

struct listener;

/* Bind every listener; -1 (logged) when one cannot be bound. */
struct listener *listener_bind(struct event_base *base,
                               const struct dirmx_config *cfg,
                               const char **error_r);
/* Start accepting; sessions get env (routerd's, alive until
 * listener_deinit). The listener keeps env->tls current and sets
 * env->closed and env->ctx: it counts sessions per socket and client. */
struct session_env;
int listener_start(struct listener *s, const struct dirmx_config *cfg,
                   struct session_env *env);
/* SIGHUP: max_sessions, the backlog, the client limits and the TLS
 * context (a bad new certificate is logged and the old one kept). */
void listener_reload(struct listener *s, const struct dirmx_config *cfg);
/* Ends every session (their unfinished messages leave the spool). */
void listener_deinit(struct listener **s);

#endif
