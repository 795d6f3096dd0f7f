/*
 * smtpd.h - routerd's listeners: sockets, TLS credentials, sessions.
 *
 * Every [listener NAME] of the configuration becomes a listening socket
 * with a role: mx (mail for local domains from anyone), submission (AUTH
 * after STARTTLS, relays anywhere) or submissions (TLS from the first
 * byte). The sockets are bound before routerd drops its privileges
 * (smtpd_bind), and served after (smtpd_start). The TLS certificate and
 * key, with the priorities of tls_priority, are loaded at start and again
 * on SIGHUP (smtpd_reload): a bad new pair is logged and the old one
 * kept; the old one is freed when the last session using it ends.
 */
#ifndef DIRMX_SMTPD_H
#define DIRMX_SMTPD_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

struct event_base;
struct dirmx_config;
struct authc;
struct spool;
struct policy;

struct smtpd;

/* The limits and names every session needs (copied from the config). */
struct smtpd_params {
	char *hostname;
	char *postmaster; /* [routerd] postmaster, or NULL */
	uint64_t max_message_size;
	uint64_t spool_min_free;
	size_t max_line_length; /* octets per message line */
	unsigned max_recipients;
	unsigned max_received_headers;
	unsigned max_errors;        /* per session, then 421 */
	unsigned max_auth_failures; /* per session, then 421 */
	unsigned cmd_timeout_ms;    /* RFC 5321 4.5.3.2: 5 min */
	unsigned data_timeout_ms;   /* per data block: 3 min */
	unsigned min_data_rate;     /* bytes/s that extend data_timeout */
	unsigned tls_handshake_timeout_ms; /* the whole handshake: 30 s */
};

/* Bind every listener; -1 (logged) when one cannot be bound. */
struct smtpd *smtpd_bind(struct event_base *base,
			 const struct dirmx_config *cfg,
			 const char **error_r);
/* Start accepting, with the services sessions use. */
int smtpd_start(struct smtpd *s, const struct dirmx_config *cfg,
		struct authc *authc, struct spool *spool,
		struct policy *policy);
void smtpd_reload(struct smtpd *s, const struct dirmx_config *cfg);
/* A new policy (SIGHUP: local_domains, relay_networks); the caller frees
 * the old one (sessions ask for it at each use, never keep it). */
void smtpd_set_policy(struct smtpd *s, struct policy *policy);
void smtpd_deinit(struct smtpd **s);

/* For sessions. */
/* The TLS context new handshakes use (NULL without a certificate); a
 * session's io takes its own reference (io_start_tls). */
struct tlsctx;
struct tlsctx *smtpd_tls(const struct smtpd *s);
const struct smtpd_params *smtpd_params(const struct smtpd *s);
struct authc *smtpd_authc(const struct smtpd *s);
struct spool *smtpd_spool(const struct smtpd *s);
struct policy *smtpd_policy(const struct smtpd *s);
/* The queue manager, told about every message a session commits. */
struct queue;
void smtpd_set_queue(struct smtpd *s, struct queue *q);
struct queue *smtpd_queue(const struct smtpd *s);
struct session;
void smtpd_session_opened(struct smtpd *s, struct session *sess);
void smtpd_session_closed(struct smtpd *s, struct session *sess);

#endif
