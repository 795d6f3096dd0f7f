/*
 * server.h - authd's UNIX socket: the authd protocol (authproto.txt).
 *
 * The socket is created with mode 0660 (group: the client user's primary
 * group when that user exists), and every connection's peer is checked
 * with SO_PEERCRED: only root, authd's own user and the configured client
 * user (routerd's) are served; anyone else is refused and logged. Each
 * connection starts with HELLO; requests are then answered as they
 * complete, in any order, by ID.
 */
#ifndef DIRMX_SERVER_H
#define DIRMX_SERVER_H

struct event_base;
struct lookup;
struct authcheck;
struct dcloc;
struct smtpsasl;

struct server;

struct server_backends {
	struct lookup *lookup;
	struct authcheck *auth;
	struct dcloc *loc;
	struct dirwatch *watch; /* NULL with watch = off */
	/* How the service binds to each DC are protected (ldprot.h). */
	const struct ldprot_memo *memo;
	/* Kerberos SMTP AUTH (smtpsasl.h); NULL: PLAIN and LOGIN only. */
	struct smtpsasl *sasl;
};

/* NULL with *error_r (static or strerror text) when the socket fails. */
struct server *server_new(struct event_base *base, const char *path,
                          const char *client_user,
                          const struct server_backends *b,
                          const char **error_r);
void server_deinit(struct server **srv);

#endif
