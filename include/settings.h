/*
 * settings.h - dirmx's configuration: the settings tables and the struct
 * both daemons read.
 *
 * One file (DIRMX_SYSCONFDIR "/dirmx.conf" by default) holds the
 * sections [global], [dns], [authd], [routerd] and any number of
 * [listener NAME]; both daemons parse all of it with the same table, so
 * either one checks the whole file. See deploy/dirmx.conf.sample for every
 * setting, its default and its meaning.
 *
 * struct dirmx_config is plain data, filled by settings_load() and owned
 * by the caller, who frees it with dirmx_config_deinit(). Durations are in
 * milliseconds, sizes in bytes. Unset optional strings are NULL; an unset
 * hostport has host NULL, and port 0 when the value named no port.
 *
 * Errors go to a struct config_errors (see config.h), one
 * "FILE:LINE: message" each; the caller clears it.
 */
#ifndef DIRMX_SETTINGS_H
#define DIRMX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define SETTINGS_DEFAULT_PATH DIRMX_SYSCONFDIR "/dirmx.conf"
/* The default of tls_priority and smtp_tls_priority: GnuTLS's NORMAL
 * without SSL 3.0, TLS 1.0 and TLS 1.1. */
#define SETTINGS_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

enum settings_directory { SETTINGS_DIRECTORY_AD, SETTINGS_DIRECTORY_LDAP };
/* How authd follows directory changes (authd/dirwatch.h). */
enum settings_watch {
	SETTINGS_WATCH_AUTO,
	SETTINGS_WATCH_SYNCREPL,
	SETTINGS_WATCH_NOTIFY,
	SETTINGS_WATCH_POLL,
	SETTINGS_WATCH_OFF,
};
enum settings_ldap_tls {
	SETTINGS_LDAP_TLS_STARTTLS,
	SETTINGS_LDAP_TLS_LDAPS,
	SETTINGS_LDAP_TLS_NONE,
};
enum settings_bind {
	SETTINGS_BIND_GSSAPI,
	SETTINGS_BIND_EXTERNAL,
	SETTINGS_BIND_SIMPLE,
	SETTINGS_BIND_PLAIN,
};
enum settings_role {
	SETTINGS_ROLE_MX,
	SETTINGS_ROLE_SUBMISSION,  /* 587, STARTTLS then AUTH */
	SETTINGS_ROLE_SUBMISSIONS, /* 465, TLS from the first byte */
};
enum settings_listener_tls {
	SETTINGS_TLS_DEFAULT = 0, /* unset; resolved by role after parsing */
	SETTINGS_TLS_NONE,
	SETTINGS_TLS_MAY,
	SETTINGS_TLS_REQUIRED,
};

struct settings_global {
	int log_level; /* enum log_level */
	int log_to;    /* enum log_dest */
	char *state_dir;
	char *run_dir;
};

struct settings_dns {
	struct config_list servers; /* host[:port] items; empty: resolv.conf */
	uint64_t timeout_ms;
	unsigned int tries;
};

struct settings_authd {
	char *socket;
	char *client_user;
	int directory; /* enum settings_directory */
	char *domain;
	char *site;
	char *forest;
	struct config_list servers; /* ldap:// or ldaps:// URIs */
	char *base_dn;
	int tls; /* enum settings_ldap_tls */
	char *ca_file;
	char *tls_cert;
	char *tls_key;
	int bind; /* enum settings_bind */
	char *bind_dn;
	char *bind_password_file;
	char *keytab;
	bool allow_plaintext_bind;
	uint64_t timeout_ms;
	uint64_t idle_timeout_ms;
	unsigned int pool_size;
	uint64_t cache_ttl_ms;
	uint64_t negative_cache_ttl_ms;
	uint64_t unwatched_cache_ttl_ms; /* caps both while not following */
	int watch;                       /* enum settings_watch */
	uint64_t watch_poll_interval_ms;
	unsigned int cache_size;
	char *recipient_filter; /* NULL: the preset's */
	char *account_filter;
	struct config_list mail_attributes;
	struct config_list member_attributes;
	struct config_list nexthop_attributes;
	struct config_list forward_attributes;
	char *disabled_attribute;
	unsigned int max_expansion;
	unsigned int max_forward_hops;
	char *subaddress_delimiter;     /* "" for none */
	unsigned int lockout_threshold; /* 0: the domain's (AD) */
	uint64_t lockout_window_ms;     /* 0: the domain's, or 30 min */
	unsigned int client_max_failures;
	unsigned int max_concurrent_binds;        /* user binds in flight */
	unsigned int unknown_policy_max_failures; /* policy unknown or stale */
	unsigned int no_lockout_max_failures;     /* lockoutThreshold 0 */
	uint64_t lockout_policy_refresh_ms;       /* AD: re-read period */
	uint64_t known_password_ttl_ms;           /* 0: no verifiers kept */
	unsigned int known_password_max;
	unsigned int familiar_client_days; /* 0: every client a stranger */
	unsigned int familiar_clients_max; /* accounts remembered */
	struct config_list send_as;        /* "user address" items */
	/* Kerberos SMTP AUTH (authd/smtpsasl.h): the service's keytab (NULL:
	 * no GSSAPI), its principal ("smtp/host[@REALM]"; NULL: smtp/ and
	 * routerd's hostname) and the mechanisms offered (empty: PLAIN LOGIN,
	 * plus GSSAPI with a keytab). */
	char *smtp_keytab;
	char *smtp_service;
	struct config_list smtp_auth_mechanisms;
	bool global_catalog; /* AD: find owners forest-wide in the GC */
	struct config_hostport metrics_listen; /* host NULL: no endpoint */
	bool metrics_allow_remote;             /* else loopback only */
};

struct settings_routerd {
	char *hostname; /* NULL: the system's host name */
	char *user;
	char *spool_dir;
	char *authd_socket;
	struct config_list local_domains;
	/* "domain nexthop": shared with another mail system, whose host
	 * gets the recipients the directory does not hold (domtable.h) */
	struct config_list internal_relay_domains;
	/* "domain [nexthop]": accepted, relayed unchecked */
	struct config_list external_relay_domains;
	struct config_list relay_networks; /* CIDRs, host bits zero */
	uint64_t max_message_size;
	uint64_t spool_min_free;  /* MAIL gets 452 4.3.1 below it */
	uint64_t max_line_length; /* per message line; longer: 500 5.5.2 */
	unsigned int max_recipients;
	/* MX: the envelope sender's entry is the sender for the directory's
	 * restrictions (forgeable: off by default) */
	bool trust_envelope_sender_for_restrictions;
	unsigned int max_received_headers;
	char *tls_cert;
	char *tls_key;
	char *tls_ca_file;
	char *tls_priority;      /* GnuTLS priorities, inbound */
	char *smtp_tls_priority; /* and outbound */
	uint64_t tls_handshake_timeout_ms;
	/* the outbound client (smtpc.h) */
	unsigned int smtp_connection_limit;
	unsigned int smtp_destination_concurrency_limit;
	uint64_t smtp_connect_timeout_ms;
	uint64_t smtp_helo_timeout_ms; /* greeting, EHLO, STARTTLS, AUTH */
	uint64_t smtp_mail_timeout_ms;
	uint64_t smtp_rcpt_timeout_ms;
	uint64_t smtp_data_init_timeout_ms;
	uint64_t smtp_data_xfer_timeout_ms;
	uint64_t smtp_data_done_timeout_ms;
	uint64_t smtp_connection_idle_ms;
	unsigned int smtp_connection_reuse_count_limit;
	unsigned int smtp_line_length_limit; /* 0: never fold */
	struct config_hostport smarthost;
	char *smarthost_user;              /* AUTH to the smarthost, over TLS */
	char *smarthost_password_file;     /* readable by routerd alone */
	int tls_policy;                    /* outbound: 0 none .. 3 verify */
	struct config_list tls_policy_map; /* "destination policy" items */
	struct config_list routes;         /* "domain nexthop" items */
	uint64_t retry_min_ms;
	uint64_t retry_max_ms;
	uint64_t max_queue_lifetime_ms;
	uint64_t delay_warning_ms;   /* 0: no delay notices */
	uint64_t command_timeout_ms; /* RFC 5321 4.5.3.2: 5 min */
	uint64_t data_timeout_ms;    /* per data block: 3 min */
	unsigned int min_data_rate;  /* bytes/s in DATA/BDAT; 0: none */
	unsigned int listen_backlog;
	unsigned int client_connection_limit;      /* per client; 0: none */
	unsigned int client_connection_rate_limit; /* per minute; 0: none */
	unsigned int client_ipv6_prefix;           /* IPv6 client = /64 */
	unsigned int max_errors;                   /* per session, then 421 */
	unsigned int max_auth_failures;
	char *control_socket;                  /* for dirmxctl queue */
	char *postmaster;                      /* where failed bounces go */
	struct config_hostport metrics_listen; /* host NULL: no endpoint */
	bool metrics_allow_remote;             /* else loopback only */
};

struct settings_listener {
	char *name;
	unsigned int line; /* of its [listener NAME] header */
	struct config_hostport address;
	int role; /* enum settings_role */
	int tls;  /* enum settings_listener_tls, never DEFAULT once loaded */
	unsigned int max_sessions;  /* 0: no limit (default 1000) */
	struct config_list milters; /* names of [milter NAME], in order */
};

/* What a filter's failure (down, timeout, garbage) does to the message
 * (Postfix's milter_default_action). */
enum settings_milter_default {
	SETTINGS_MILTER_TEMPFAIL, /* 451 4.7.1: the client tries again */
	SETTINGS_MILTER_ACCEPT,   /* the message goes on unfiltered */
	SETTINGS_MILTER_REJECT,   /* 550 5.7.1 */
};

/* A mail filter (milter) some listeners use. */
struct settings_milter {
	char *name;
	unsigned int line;
	char *socket; /* inet:IP:PORT, inet:localhost:PORT or unix:/PATH */
	uint64_t connect_timeout_ms;
	uint64_t command_timeout_ms;
	uint64_t content_timeout_ms;
	int default_action; /* enum settings_milter_default */
};

struct dirmx_config {
	char *path; /* the file it was read from */
	struct settings_global global;
	struct settings_dns dns;
	struct settings_authd authd;
	struct settings_routerd routerd;
	struct settings_listener *listeners;
	size_t listener_count;
	struct settings_milter *milters;
	size_t milter_count;
};

/*
 * Read and check path. On success returns 0 and *cfg_r; otherwise -1,
 * *cfg_r NULL and at least one error added to errors.
 */
int settings_load(const char *path, struct dirmx_config **cfg_r,
                  struct config_errors *errors);
/* The same over a buffer; filename is used in the error messages. */
int settings_parse_buffer(const void *text, size_t len, const char *filename,
                          struct dirmx_config **cfg_r,
                          struct config_errors *errors);
void dirmx_config_deinit(struct dirmx_config **cfg);

/* Names for the enum values, e.g. for logs and dirmxctl. */
/*
 * What SIGHUP changed: the names of the settings of section ("global",
 * "dns", "authd", "routerd"; "listener" compares the listeners called
 * listener in both, NULL when either lacks it) whose values differ
 * between old and cfg, at most max, names static.
 */
size_t settings_changed(const struct dirmx_config *old,
                        const struct dirmx_config *cfg, const char *section,
                        const char *listener, const char **names_r, size_t max);
const struct settings_listener *
settings_find_listener(const struct dirmx_config *cfg, const char *name);
const struct settings_milter *
settings_find_milter(const struct dirmx_config *cfg, const char *name);
/* The address of a milter socket setting; false when it is none. */
struct sockaddr_storage;
bool settings_milter_sockaddr(const char *spec, struct sockaddr_storage *ss_r,
                              unsigned int *len_r);
const char *settings_role_name(int role);
const char *settings_tls_name(int tls);
const char *settings_bind_name(int bind);
const char *settings_directory_name(int directory);

/*
 * Which daemons read setting name of section (SETTINGS_READER_* bits; 0:
 * none yet), and whether a SIGHUP applies it at once (otherwise a change
 * needs a restart and is logged so). For the reload and dirmx.conf(5).
 */
#define SETTINGS_READER_AUTHD 1u
#define SETTINGS_READER_ROUTERD 2u
unsigned int settings_readers(const char *section, const char *name);
bool settings_reloadable(const char *section, const char *name);

/* The table itself, for tests. */
extern const struct config_table settings_table;

/* Kerberos SMTP AUTH's service principal (malloc'ed): smtp_service, else
 * smtp/ and routerd's hostname, else smtp/ and the system's host name. */
char *settings_smtp_service(const struct dirmx_config *cfg);

#endif
