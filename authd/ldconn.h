/*
 * ldconn.h - one asynchronous LDAP connection to one directory server.
 *
 * A connection is opened in two phases. Setup (TCP connect, StartTLS or
 * LDAPS with certificate verification, and the bind) runs in a short-lived
 * thread with every libldap call bounded by the connection's timeout, so a
 * server that accepts TCP and never answers cannot stall authd's event
 * loop. Once bound, the LDAP handle moves to the event loop: its socket is
 * watched by libevent and many searches run on it at once, told apart by
 * message ID, each with its own timeout.
 *
 * Ownership: the caller owns the struct ldconn and frees it with
 * ldconn_deinit(), which fails every pending search with
 * LDCONN_CANCELLED before returning. A search result passed to a callback
 * belongs to the library and is valid only during the callback.
 *
 * A GSSAPI bind is protected the way the server accepts (ldprot.h): TLS
 * without a SASL layer (Windows), or a SASL sign+seal layer (Samba), never
 * neither. What worked is remembered per server in the options' memo.
 *
 * Errors: setup failures and lost connections are reported through the
 * state callback with a human-readable reason naming the server (for
 * example the TLS verification error). A search on a connection that is
 * lost fails with LDCONN_CONN_LOST so that the caller can retry it once on
 * another server; a search that times out fails with LDCONN_TIMEOUT and is
 * abandoned on the server.
 */
#ifndef DIRMX_LDCONN_H
#define DIRMX_LDCONN_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct ldprot_memo;

enum ldconn_tls {
	LDCONN_TLS_NONE = 0,
	LDCONN_TLS_STARTTLS,
	LDCONN_TLS_LDAPS,
};

enum ldconn_bind {
	LDCONN_BIND_NONE = 0, /* anonymous: only for the LDAP ping */
	LDCONN_BIND_SIMPLE,
	LDCONN_BIND_PLAIN,
	LDCONN_BIND_GSSAPI,
	LDCONN_BIND_EXTERNAL,
};

struct ldconn_options {
	const char *uri; /* ldap://host:port or ldaps://host:port */
	enum ldconn_tls tls;
	const char *ca_file;   /* NULL: the system's trust store */
	const char *cert_file; /* client certificate, for EXTERNAL */
	const char *key_file;
	enum ldconn_bind bind;
	const char *bind_dn;    /* simple: DN; PLAIN: authentication id */
	const char *password;   /* simple and PLAIN */
	const char *sasl_authz; /* optional SASL authorization id */
	bool allow_plaintext;   /* permit a password bind without TLS */
	int timeout_ms;         /* each setup step and the default search */
	/*
	 * Where the protection that worked with each server is remembered
	 * and read (GSSAPI: TLS, TLS with a SASL layer, or a layer alone;
	 * see ldprot.h), shared by every connection of the caller's; used
	 * from the event loop only. NULL: every connection negotiates anew.
	 * The caller keeps it alive until its connections are freed.
	 */
	struct ldprot_memo *memo;
};

enum ldconn_state {
	LDCONN_STATE_CONNECTING = 0,
	LDCONN_STATE_UP,
	LDCONN_STATE_DOWN,
};

enum ldconn_status {
	LDCONN_OK = 0,
	LDCONN_NO_SUCH_OBJECT, /* the base does not exist: no entries */
	LDCONN_SIZELIMIT,      /* the answer was cut by a size limit */
	LDCONN_LDAP_ERROR,     /* the server answered with another error */
	LDCONN_TIMEOUT,
	LDCONN_CONN_LOST,
	LDCONN_CANCELLED,
};

struct ldconn_value {
	const char *data; /* NUL-terminated, but may contain NUL bytes */
	size_t len;
};

struct ldconn_attr {
	const char
	    *name; /* as the server sent it, e.g. "member;range=0-1499" */
	size_t n_values;
	struct ldconn_value *values;
};

struct ldconn_entry {
	const char *dn;
	size_t n_attrs;
	struct ldconn_attr *attrs;
};

struct ldconn_result {
	enum ldconn_status status;
	int ldap_code;     /* the LDAP result code, when there was one */
	const char *error; /* human-readable reason, or NULL */
	size_t n_entries;
	struct ldconn_entry *entries;
	/* Paged results: the cookie of the next page, empty when done. */
	struct ldconn_value page_cookie;
};

/* A request or response control (RFC 4511 4.1.11). */
struct ldconn_control {
	const char *oid;
	bool critical;
	bool has_value;
	struct ldconn_value value;
};

/*
 * One message of a streaming search (below), as it arrives: an entry with
 * the controls sent with it (a syncrepl Sync State control, RFC 4533), or
 * an intermediate response (a syncrepl Sync Info message).
 */
struct ldconn_message {
	bool intermediate;
	const struct ldconn_entry *entry; /* entry: the entry */
	const char *oid;                  /* intermediate: its name, or NULL */
	bool has_value;
	struct ldconn_value value; /* intermediate: its value */
	size_t n_controls;
	const struct ldconn_control *controls;
};
typedef void ldconn_stream_cb(const struct ldconn_message *m, void *ctx);

struct ldconn_search {
	const char *base;
	int scope;                /* LDAP_SCOPE_BASE / ONELEVEL / SUBTREE */
	const char *filter;       /* already escaped (RFC 4515) */
	const char *const *attrs; /* NULL-terminated; NULL = all */
	int size_limit;           /* 0: none */
	int timeout_ms;           /* 0: the connection's timeout */
	int page_size;            /* > 0: ask for paged results (RFC 2696) */
	const struct ldconn_value *page_cookie; /* the previous page's */
	/* Server controls sent with the search (copied). */
	const struct ldconn_control *controls;
	size_t n_controls;
	/*
	 * Streaming (a persistent search: syncrepl, AD change notification):
	 * each entry and intermediate response goes to stream_cb as it
	 * arrives and is not collected in the result; the result callback
	 * still comes once, when the search ends. timeout_ms < 0: no
	 * timeout. The stream callback may cancel the request.
	 */
	ldconn_stream_cb *stream_cb;
	void *stream_ctx;
};

struct ldconn;
struct ldconn_req;

/*
 * Callbacks may start searches and may close the connection, but must not
 * free it (ldconn_deinit) from inside a callback of its own.
 */
typedef void ldconn_state_cb(struct ldconn *c, enum ldconn_state state,
                             const char *reason, void *ctx);
typedef void ldconn_result_cb(const struct ldconn_result *res, void *ctx);

/* Copies what it needs from opts. The connection starts DOWN. */
struct ldconn *ldconn_new(struct event_base *base,
                          const struct ldconn_options *opts,
                          ldconn_state_cb *state_cb, void *ctx);
void ldconn_deinit(struct ldconn **c);

/* Start setup; the state callback reports UP or DOWN later, never now. */
void ldconn_connect(struct ldconn *c);
/* Close the connection; pending searches fail with LDCONN_CONN_LOST. */
void ldconn_close(struct ldconn *c, const char *reason);

/*
 * Wait for the setup threads still running (the loop side may have let go
 * of them) to end, at most until the bound of the last one started;
 * returns how many still run. A program calls it before it exits: one of
 * them inside libldap while the library's destructors run crashes the
 * process. If some still run, leave with _exit().
 */
unsigned ldconn_setups_wait(void);

enum ldconn_state ldconn_get_state(const struct ldconn *c);
const char *ldconn_uri(const struct ldconn *c);
const char *ldconn_last_error(const struct ldconn *c);
/* The LDAP result code of the last failed setup step (e.g.
 * LDAP_INVALID_CREDENTIALS from the bind), 0 when setup succeeded. */
int ldconn_last_code(const struct ldconn *c);
/* How the connection is protected ("starttls", "sasl-seal", ...: see
 * ldprot_name()), or NULL when it is not up. */
const char *ldconn_protection(const struct ldconn *c);
/* The protections the server refused before that one ("starttls: Strong(er)
 * authentication required (...); ..."), or NULL. */
const char *ldconn_protection_notes(const struct ldconn *c);
size_t ldconn_pending(const struct ldconn *c);

/*
 * Send a search. Returns NULL, and calls nothing, when the connection is
 * not up or the request could not be sent (then *error_r says why).
 * Otherwise cb is called exactly once, unless the request is cancelled.
 */
struct ldconn_req *ldconn_search_start(struct ldconn *c,
                                       const struct ldconn_search *s,
                                       ldconn_result_cb *cb, void *ctx,
                                       const char **error_r);
/* Cancel a pending search: its callback is not called. */
void ldconn_req_cancel(struct ldconn_req **req);

const char *ldconn_status_str(enum ldconn_status status);

/* A control of a list by OID, or NULL. */
const struct ldconn_control *ldconn_control_find(const struct ldconn_control *c,
                                                 size_t n, const char *oid);

/* Find an attribute of an entry by name, ASCII case-insensitively. */
const struct ldconn_attr *ldconn_entry_attr(const struct ldconn_entry *e,
                                            const char *name);

#endif
