/*
 * settings - the settings of dirmx.conf, as tables for the config parser,
 * their validators and the cross-checks run once a file has parsed.
 *
 * Every setting both daemons know is declared here, also those a later
 * part of the service will read: both daemons parse the whole file, so a
 * typo anywhere is caught by either one's -t.
 */
#include "settings.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "settings_private.h"

#define SEC 1000ULL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* ---- tables ------------------------------------------------------------ */

static const struct config_enum_value log_levels[] = {
    {"error", LOG_LEVEL_ERROR},
    {"warn", LOG_LEVEL_WARN},
    {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
    {NULL, 0},
};
static const struct config_enum_value log_dests[] = {
    {"syslog", LOG_DEST_SYSLOG}, {"stderr", LOG_DEST_STDERR}, {NULL, 0}};
static const struct config_enum_value directories[] = {
    {"ad", SETTINGS_DIRECTORY_AD},
    {"ldap", SETTINGS_DIRECTORY_LDAP},
    {NULL, 0}};
static const struct config_enum_value watch_modes[] = {
    {"auto", SETTINGS_WATCH_AUTO},     {"syncrepl", SETTINGS_WATCH_SYNCREPL},
    {"notify", SETTINGS_WATCH_NOTIFY}, {"poll", SETTINGS_WATCH_POLL},
    {"off", SETTINGS_WATCH_OFF},       {NULL, 0}};
static const struct config_enum_value ldap_tls[] = {
    {"starttls", SETTINGS_LDAP_TLS_STARTTLS},
    {"ldaps", SETTINGS_LDAP_TLS_LDAPS},
    {"none", SETTINGS_LDAP_TLS_NONE},
    {NULL, 0}};
static const struct config_enum_value binds[] = {
    {"gssapi", SETTINGS_BIND_GSSAPI},
    {"external", SETTINGS_BIND_EXTERNAL},
    {"simple", SETTINGS_BIND_SIMPLE},
    {"plain", SETTINGS_BIND_PLAIN},
    {NULL, 0}};
static const struct config_enum_value roles[] = {
    {"mx", SETTINGS_ROLE_MX},
    {"submission", SETTINGS_ROLE_SUBMISSION},
    {"submissions", SETTINGS_ROLE_SUBMISSIONS},
    {NULL, 0}};
static const struct config_enum_value listener_tls[] = {
    {"none", SETTINGS_TLS_NONE},         {"may", SETTINGS_TLS_MAY},
    {"required", SETTINGS_TLS_REQUIRED}, {"no", SETTINGS_TLS_NONE},
    {"false", SETTINGS_TLS_NONE},        {"off", SETTINGS_TLS_NONE},
    {"yes", SETTINGS_TLS_REQUIRED},      {"true", SETTINGS_TLS_REQUIRED},
    {"on", SETTINGS_TLS_REQUIRED},       {NULL, 0}};

static const struct config_enum_value milter_defaults[] = {
    {"tempfail", SETTINGS_MILTER_TEMPFAIL},
    {"accept", SETTINGS_MILTER_ACCEPT},
    {"reject", SETTINGS_MILTER_REJECT},
    {NULL, 0}};

/* Outbound TLS: the values are enum smtpc_tls's (0 none .. 3 verify). */
static const struct config_enum_value out_tls[] = {
    {"none", 0}, {"may", 1}, {"encrypt", 2}, {"verify", 3}, {NULL, 0}};

/* "destination policy": a domain or host, then none|may|encrypt|verify. */
static bool valid_tls_map(const char *value, const char **error_r)
{
	const char *space = strpbrk(value, " \t");
	const char *policy;

	if (space == NULL || space == value) {
		*error_r = "expected 'destination none|may|encrypt|verify'";
		return false;
	}
	policy = space + strspn(space, " \t");
	for (size_t i = 0; out_tls[i].name != NULL; i++)
		if (strcmp(policy, out_tls[i].name) == 0)
			return true;
	*error_r = "the policy must be none, may, encrypt or verify";
	return false;
}

/* One line per setting; the type names the storage (see config.h). */
#define STRING(n, off, def, check)                                             \
	{                                                                      \
		.name = n, .type = CONFIG_STRING, .offset = off,               \
		.default_value = def, .validate = check                        \
	}
#define PATH(n, off, def, check)                                               \
	{                                                                      \
		.name = n, .type = CONFIG_PATH, .offset = off,                 \
		.default_value = def, .validate = check                        \
	}
#define BOOL(n, off, def)                                                      \
	{                                                                      \
		.name = n, .type = CONFIG_BOOL, .offset = off,                 \
		.default_value = def                                           \
	}
#define UINT(n, off, def, lo, hi)                                              \
	{                                                                      \
		.name = n, .type = CONFIG_UINT, .offset = off,                 \
		.default_value = def, .min = lo, .max = hi                     \
	}
#define DURATION(n, off, def, lo, hi)                                          \
	{                                                                      \
		.name = n, .type = CONFIG_DURATION, .offset = off,             \
		.default_value = def, .min = lo, .max = hi                     \
	}
#define SIZE(n, off, def, lo, hi)                                              \
	{                                                                      \
		.name = n, .type = CONFIG_SIZE, .offset = off,                 \
		.default_value = def, .min = lo, .max = hi                     \
	}
#define ENUM(n, off, def, values)                                              \
	{                                                                      \
		.name = n, .type = CONFIG_ENUM, .offset = off,                 \
		.default_value = def, .enum_values = values                    \
	}
#define LIST(n, off, check)                                                    \
	{                                                                      \
		.name = n, .type = CONFIG_LIST, .offset = off,                 \
		.validate = check                                              \
	}
#define HOSTPORT(n, off)                                                       \
	{                                                                      \
		.name = n, .type = CONFIG_HOSTPORT, .offset = off              \
	}
#define METRICS_LISTEN(off)                                                    \
	{                                                                      \
		.name = "metrics_listen", .type = CONFIG_HOSTPORT,             \
		.offset = off, .validate = settings_valid_metrics_listen       \
	}
#define END                                                                    \
	{                                                                      \
		.name = NULL                                                   \
	}

#define G(f) offsetof(struct settings_global, f)
#define D(f) offsetof(struct settings_dns, f)
#define A(f) offsetof(struct settings_authd, f)
#define R(f) offsetof(struct settings_routerd, f)
#define L(f) offsetof(struct settings_listener, f)
#define M(f) offsetof(struct settings_milter, f)

static const struct config_setting global_settings[] = {
    ENUM("log_level", G(log_level), "info", log_levels),
    ENUM("log_to", G(log_to), "syslog", log_dests),
    PATH("state_dir", G(state_dir), "/var/lib/dirmx", NULL),
    PATH("run_dir", G(run_dir), "/run/dirmx", NULL),
    END,
};

static const struct config_setting dns_settings[] = {
    LIST("servers", D(servers), settings_valid_hostport),
    DURATION("timeout", D(timeout_ms), "3s", 100, 60 * SEC),
    UINT("tries", D(tries), "2", 1, 10),
    END,
};

static const struct config_setting authd_settings[] = {
    PATH("socket", A(socket), "/run/dirmx/authd.sock",
         settings_valid_socket_path),
    STRING("client_user", A(client_user), "dirmx", settings_valid_user),
    ENUM("directory", A(directory), "ad", directories),
    STRING("domain", A(domain), NULL, settings_valid_domain),
    STRING("site", A(site), NULL, settings_valid_domain),
    STRING("forest", A(forest), NULL, settings_valid_domain),
    LIST("servers", A(servers), settings_valid_ldap_uri),
    STRING("base_dn", A(base_dn), NULL, settings_valid_dn),
    ENUM("tls", A(tls), "starttls", ldap_tls),
    PATH("ca_file", A(ca_file), NULL, NULL),
    PATH("tls_cert", A(tls_cert), NULL, NULL),
    PATH("tls_key", A(tls_key), NULL, NULL),
    ENUM("bind", A(bind), "gssapi", binds),
    STRING("bind_dn", A(bind_dn), NULL, settings_valid_dn),
    PATH("bind_password_file", A(bind_password_file), NULL, NULL),
    PATH("keytab", A(keytab), NULL, NULL),
    BOOL("allow_plaintext_bind", A(allow_plaintext_bind), "no"),
    DURATION("timeout", A(timeout_ms), "5s", 100, 5 * MIN),
    /* AD drops idle LDAP connections after 900 s: stay below. */
    DURATION("idle_timeout", A(idle_timeout_ms), "600s", SEC, 890 * SEC),
    UINT("pool_size", A(pool_size), "2", 1, 16),
    DURATION("cache_ttl", A(cache_ttl_ms), "1h", 0, DAY),
    DURATION("negative_cache_ttl", A(negative_cache_ttl_ms), "10m", 0, DAY),
    DURATION("unwatched_cache_ttl", A(unwatched_cache_ttl_ms), "5m", 0, DAY),
    ENUM("watch", A(watch), "auto", watch_modes),
    DURATION("watch_poll_interval", A(watch_poll_interval_ms), "1s", 100, HOUR),
    UINT("cache_size", A(cache_size), "100000", 0, 10000000),
    /* The attribute mapping; unset means the preset's (directory=). */
    STRING("recipient_filter", A(recipient_filter), NULL,
           settings_valid_filter_template),
    STRING("account_filter", A(account_filter), NULL,
           settings_valid_filter_template),
    LIST("mail_attributes", A(mail_attributes), settings_valid_attr_name),
    LIST("member_attributes", A(member_attributes), settings_valid_attr_name),
    LIST("nexthop_attributes", A(nexthop_attributes), settings_valid_attr_name),
    LIST("forward_attributes", A(forward_attributes), settings_valid_attr_name),
    STRING("disabled_attribute", A(disabled_attribute), "dirmxAccountDisabled",
           settings_valid_attr_name),
    UINT("max_expansion", A(max_expansion), "10000", 1, 1000000),
    UINT("max_forward_hops", A(max_forward_hops), "10", 1, 100),
    STRING("subaddress_delimiter", A(subaddress_delimiter), "+", NULL),
    UINT("lockout_threshold", A(lockout_threshold), "0", 0, 1000),
    DURATION("lockout_window", A(lockout_window_ms), "0", 0, DAY),
    UINT("client_max_failures", A(client_max_failures), "20", 1, 100000),
    UINT("max_concurrent_binds", A(max_concurrent_binds), "16", 1, 10000),
    /* Never lock an account when the policy is unknown or changes: see
     * authd/lockguard.h. 2 is safe down to lockoutThreshold 3. */
    UINT("unknown_policy_max_failures", A(unknown_policy_max_failures), "2", 1,
         1000),
    UINT("no_lockout_max_failures", A(no_lockout_max_failures), "10", 1,
         100000),
    DURATION("lockout_policy_refresh", A(lockout_policy_refresh_ms), "30s", SEC,
             30 * MIN),
    /* Strangers never lock a user out: the password that last worked
     * still passes a capped account (authd/goodpw.h). 0: off. */
    DURATION("known_password_ttl", A(known_password_ttl_ms), "24h", 0,
             30 * DAY),
    UINT("known_password_max", A(known_password_max), "10000", 0, 1000000),
    /* Strangers spend only their part of an account's budget: a client
     * from which the account logged in lately keeps the rest
     * (authd/famclient.h), remembered in state_dir. 0: off. */
    UINT("familiar_client_days", A(familiar_client_days), "14", 0, 365),
    UINT("familiar_clients_max", A(familiar_clients_max), "50000", 0, 10000000),
    LIST("send_as", A(send_as), settings_valid_send_as),
    PATH("smtp_keytab", A(smtp_keytab), NULL, NULL),
    STRING("smtp_service", A(smtp_service), NULL, settings_valid_service),
    LIST("smtp_auth_mechanisms", A(smtp_auth_mechanisms), settings_valid_mech),
    BOOL("global_catalog", A(global_catalog), "no"),
    METRICS_LISTEN(A(metrics_listen)),
    BOOL("metrics_allow_remote", A(metrics_allow_remote), "no"),
    END,
};

static const struct config_setting routerd_settings[] = {
    STRING("hostname", R(hostname), NULL, settings_valid_domain),
    STRING("user", R(user), "dirmx", settings_valid_user),
    PATH("spool_dir", R(spool_dir), "/var/spool/dirmx", NULL),
    PATH("authd_socket", R(authd_socket), "/run/dirmx/authd.sock",
         settings_valid_socket_path),
    LIST("local_domains", R(local_domains), settings_valid_domain),
    LIST("internal_relay_domains", R(internal_relay_domains),
         settings_valid_internal_relay),
    LIST("external_relay_domains", R(external_relay_domains),
         settings_valid_external_relay),
    LIST("relay_networks", R(relay_networks), settings_valid_cidr),
    SIZE("max_message_size", R(max_message_size), "50M", 1024, 0),
    SIZE("spool_min_free", R(spool_min_free), "200M", 0, 0),
    /* Longest accepted line of a message: RFC 5321's 998 is what we
     * send (longer lines are folded), not what real mail holds. */
    SIZE("max_line_length", R(max_line_length), "64K", 998, 1 << 30),
    UINT("max_recipients", R(max_recipients), "1000", 1, 100000),
    /* Off: an unauthenticated sender is nobody for the directory's
     * sender restrictions (anyone can forge MAIL FROM). */
    BOOL("trust_envelope_sender_for_restrictions",
         R(trust_envelope_sender_for_restrictions), "no"),
    UINT("max_received_headers", R(max_received_headers), "30", 1, 1000),
    PATH("tls_cert", R(tls_cert), NULL, NULL),
    PATH("tls_key", R(tls_key), NULL, NULL),
    PATH("tls_ca_file", R(tls_ca_file), NULL, NULL),
    /* TLS 1.2 and 1.3 only, in and out (issue 11). */
    STRING("tls_priority", R(tls_priority), SETTINGS_TLS_PRIORITY,
           settings_valid_tls_priority),
    STRING("smtp_tls_priority", R(smtp_tls_priority), SETTINGS_TLS_PRIORITY,
           settings_valid_tls_priority),
    DURATION("tls_handshake_timeout", R(tls_handshake_timeout_ms), "30s", SEC,
             10 * MIN),
    /* The outbound client's limits and timeouts (Postfix's names). */
    UINT("smtp_connection_limit", R(smtp_connection_limit), "100", 1, 100000),
    UINT("smtp_destination_concurrency_limit",
         R(smtp_destination_concurrency_limit), "20", 1, 100000),
    DURATION("smtp_connect_timeout", R(smtp_connect_timeout_ms), "30s", SEC,
             HOUR),
    DURATION("smtp_helo_timeout", R(smtp_helo_timeout_ms), "5m", SEC, HOUR),
    DURATION("smtp_mail_timeout", R(smtp_mail_timeout_ms), "5m", SEC, HOUR),
    DURATION("smtp_rcpt_timeout", R(smtp_rcpt_timeout_ms), "5m", SEC, HOUR),
    DURATION("smtp_data_init_timeout", R(smtp_data_init_timeout_ms), "2m", SEC,
             HOUR),
    DURATION("smtp_data_xfer_timeout", R(smtp_data_xfer_timeout_ms), "3m", SEC,
             HOUR),
    DURATION("smtp_data_done_timeout", R(smtp_data_done_timeout_ms), "10m", SEC,
             HOUR),
    DURATION("smtp_connection_idle_time", R(smtp_connection_idle_ms), "5s", 0,
             HOUR),
    UINT("smtp_connection_reuse_count_limit",
         R(smtp_connection_reuse_count_limit), "100", 1, 1000000),
    UINT("smtp_line_length_limit", R(smtp_line_length_limit), "998", 0, 998),
    HOSTPORT("smarthost", R(smarthost)),
    STRING("smarthost_user", R(smarthost_user), NULL, NULL),
    PATH("smarthost_password_file", R(smarthost_password_file), NULL, NULL),
    ENUM("tls_policy", R(tls_policy), "may", out_tls),
    LIST("tls_policy_map", R(tls_policy_map), valid_tls_map),
    LIST("routes", R(routes), settings_valid_route),
    DURATION("retry_min", R(retry_min_ms), "5m", SEC, DAY),
    DURATION("retry_max", R(retry_max_ms), "1h", SEC, 7 * DAY),
    DURATION("max_queue_lifetime", R(max_queue_lifetime_ms), "5d", MIN,
             30 * DAY),
    DURATION("delay_warning_time", R(delay_warning_ms), "4h", 0, 30 * DAY),
    DURATION("command_timeout", R(command_timeout_ms), "5m", SEC, DAY),
    DURATION("data_timeout", R(data_timeout_ms), "3m", SEC, DAY),
    UINT("min_data_rate", R(min_data_rate), "500", 0, 1000000000),
    UINT("listen_backlog", R(listen_backlog), "1024", 16, 65535),
    UINT("client_connection_limit", R(client_connection_limit), "50", 0,
         1000000),
    UINT("client_connection_rate_limit", R(client_connection_rate_limit), "0",
         0, 1000000),
    UINT("client_ipv6_prefix", R(client_ipv6_prefix), "64", 16, 128),
    UINT("max_errors", R(max_errors), "10", 1, 1000),
    UINT("max_auth_failures", R(max_auth_failures), "3", 1, 100),
    PATH("control_socket", R(control_socket), "/run/dirmx/routerd.sock",
         settings_valid_socket_path),
    STRING("postmaster", R(postmaster), NULL, NULL),
    METRICS_LISTEN(R(metrics_listen)),
    BOOL("metrics_allow_remote", R(metrics_allow_remote), "no"),
    END,
};

static const struct config_setting listener_settings[] = {
    {.name = "address",
     .type = CONFIG_HOSTPORT,
     .offset = L(address),
     .required = true},
    {.name = "role",
     .type = CONFIG_ENUM,
     .offset = L(role),
     .enum_values = roles,
     .required = true},
    ENUM("tls", L(tls), NULL, listener_tls),
    UINT("max_sessions", L(max_sessions), "1000", 0, 100000),
    LIST("milters", L(milters), NULL),
    END,
};

/* Postfix's milter_*_timeout defaults. */
static const struct config_setting milter_settings[] = {
    {.name = "socket",
     .type = CONFIG_STRING,
     .offset = M(socket),
     .validate = settings_valid_milter_socket,
     .required = true},
    DURATION("connect_timeout", M(connect_timeout_ms), "30s", 100, HOUR),
    DURATION("command_timeout", M(command_timeout_ms), "30s", 100, HOUR),
    DURATION("content_timeout", M(content_timeout_ms), "300s", 100, HOUR),
    ENUM("default_action", M(default_action), "tempfail", milter_defaults),
    END,
};

#define CFG(f) offsetof(struct dirmx_config, f)

static const struct config_section sections[] = {
    {.name = "global", .settings = global_settings, .offset = CFG(global)},
    {.name = "dns", .settings = dns_settings, .offset = CFG(dns)},
    {.name = "authd", .settings = authd_settings, .offset = CFG(authd)},
    {.name = "routerd", .settings = routerd_settings, .offset = CFG(routerd)},
    {.name = "listener",
     .settings = listener_settings,
     .offset = CFG(listeners),
     .named = true,
     .count_offset = CFG(listener_count),
     .instance_size = sizeof(struct settings_listener),
     .name_offset = L(name),
     .line_offset = L(line)},
    {.name = "milter",
     .settings = milter_settings,
     .offset = CFG(milters),
     .named = true,
     .count_offset = CFG(milter_count),
     .instance_size = sizeof(struct settings_milter),
     .name_offset = M(name),
     .line_offset = M(line)},
    {.name = NULL},
};

/* ---- cross-checks ------------------------------------------------------ */

static bool pair_ok(const char *cert, const char *key)
{
	return (cert == NULL) == (key == NULL);
}

static void check_authd(const struct settings_authd *a, const char *file,
                        struct config_errors *errors)
{
	const char *bind = settings_bind_name(a->bind);
	bool password =
	    a->bind == SETTINGS_BIND_SIMPLE || a->bind == SETTINGS_BIND_PLAIN;

	if (a->domain == NULL && a->servers.count == 0)
		config_errors_add(errors,
		                  "%s: [authd] needs domain (to find the "
		                  "directory servers in DNS) or servers",
		                  file);
	if (a->directory == SETTINGS_DIRECTORY_LDAP && a->base_dn == NULL)
		config_errors_add(
		    errors, "%s: [authd] directory ldap needs base_dn", file);
	if (!pair_ok(a->tls_cert, a->tls_key))
		config_errors_add(errors,
		                  "%s: [authd] tls_cert and tls_key go "
		                  "together",
		                  file);
	if (password && (a->bind_dn == NULL || a->bind_password_file == NULL))
		config_errors_add(errors,
		                  "%s: [authd] bind %s needs bind_dn and "
		                  "bind_password_file",
		                  file, bind);
	if (password && a->tls == SETTINGS_LDAP_TLS_NONE &&
	    !a->allow_plaintext_bind)
		config_errors_add(errors,
		                  "%s: [authd] bind %s with tls none would "
		                  "send the password in clear; use tls "
		                  "starttls or ldaps (allow_plaintext_bind = "
		                  "yes is for tests only)",
		                  file, bind);
	if (a->bind == SETTINGS_BIND_EXTERNAL &&
	    (a->tls_cert == NULL || a->tls == SETTINGS_LDAP_TLS_NONE))
		config_errors_add(errors,
		                  "%s: [authd] bind external needs tls_cert, "
		                  "tls_key and tls starttls or ldaps",
		                  file);
}

static void check_listeners(struct dirmx_config *cfg, const char *file,
                            struct config_errors *errors)
{
	const struct settings_routerd *r = &cfg->routerd;

	for (size_t i = 0; i < cfg->listener_count; i++) {
		struct settings_listener *l = &cfg->listeners[i];

		if (l->tls == SETTINGS_TLS_DEFAULT)
			l->tls = l->role == SETTINGS_ROLE_MX
			             ? (r->tls_cert != NULL ? SETTINGS_TLS_MAY
			                                    : SETTINGS_TLS_NONE)
			             : SETTINGS_TLS_REQUIRED;
		if (l->role != SETTINGS_ROLE_MX && l->tls == SETTINGS_TLS_NONE)
			config_errors_add(errors,
			                  "%s:%u: [listener %s] role %s needs "
			                  "tls (AUTH is never offered in "
			                  "clear)",
			                  file, l->line, l->name,
			                  settings_role_name(l->role));
		else if (l->role == SETTINGS_ROLE_SUBMISSIONS &&
		         l->tls == SETTINGS_TLS_MAY)
			config_errors_add(errors,
			                  "%s:%u: [listener %s] role "
			                  "submissions is TLS from the first "
			                  "byte: tls may makes no sense",
			                  file, l->line, l->name);
		if (l->tls != SETTINGS_TLS_NONE &&
		    (r->tls_cert == NULL || r->tls_key == NULL))
			config_errors_add(errors,
			                  "%s:%u: [listener %s] tls %s needs "
			                  "tls_cert and tls_key in [routerd]",
			                  file, l->line, l->name,
			                  settings_tls_name(l->tls));
		for (size_t j = 0; j < i; j++) {
			const struct settings_listener *o = &cfg->listeners[j];

			if (strcmp(o->address.host, l->address.host) == 0 &&
			    o->address.port == l->address.port)
				config_errors_add(errors,
				                  "%s:%u: [listener %s] same "
				                  "address as [listener %s]",
				                  file, l->line, l->name,
				                  o->name);
		}
	}
}

/* The metrics say how much mail goes where: loopback only, unless the
 * admin says otherwise (a scraper on another host, behind a firewall). */
static void check_metrics(const struct config_hostport *hp, bool allow,
                          const char *section, const char *file,
                          struct config_errors *errors)
{
	if (hp->host == NULL || allow || settings_is_loopback(hp->host))
		return;
	config_errors_add(errors,
	                  "%s: [%s] metrics_listen %s is not a loopback "
	                  "address: anyone who reaches it reads the "
	                  "metrics; set metrics_allow_remote = yes to "
	                  "allow it",
	                  file, section, hp->host);
}

static bool settings_check(void *dest, const char *file,
                           struct config_errors *errors)
{
	struct dirmx_config *cfg = dest;
	const struct settings_routerd *r = &cfg->routerd;
	size_t before = errors->count;

	check_authd(&cfg->authd, file, errors);
	check_listeners(cfg, file, errors);
	check_metrics(&cfg->authd.metrics_listen,
	              cfg->authd.metrics_allow_remote, "authd", file, errors);
	check_metrics(&r->metrics_listen, r->metrics_allow_remote, "routerd",
	              file, errors);
	settings_check_domain_kinds(r, file, errors);
	settings_check_milters(cfg, file, errors);
	if (!pair_ok(r->tls_cert, r->tls_key))
		config_errors_add(errors,
		                  "%s: [routerd] tls_cert and tls_key go "
		                  "together",
		                  file);
	if (r->retry_min_ms > r->retry_max_ms ||
	    r->retry_max_ms > r->max_queue_lifetime_ms)
		config_errors_add(errors,
		                  "%s: [routerd] needs retry_min <= retry_max "
		                  "<= max_queue_lifetime",
		                  file);
	return errors->count == before;
}

const struct config_table settings_table = {.sections = sections,
                                            .check = settings_check};

/* ---- API --------------------------------------------------------------- */

const char *settings_role_name(int role)
{
	return config_enum_name(roles, role);
}

const char *settings_tls_name(int tls)
{
	if (tls == SETTINGS_TLS_DEFAULT)
		return "default";
	return config_enum_name(listener_tls, tls);
}

const char *settings_bind_name(int bind)
{
	return config_enum_name(binds, bind);
}

const char *settings_directory_name(int directory)
{
	return config_enum_name(directories, directory);
}

static int finish(int ret, struct dirmx_config *cfg, const char *path,
                  struct dirmx_config **cfg_r)
{
	if (ret < 0) {
		dirmx_config_deinit(&cfg);
		*cfg_r = NULL;
		return -1;
	}
	cfg->path = alloc_strdup(path);
	*cfg_r = cfg;
	return 0;
}

int settings_parse_buffer(const void *text, size_t len, const char *filename,
                          struct dirmx_config **cfg_r,
                          struct config_errors *errors)
{
	struct dirmx_config *cfg = alloc_new(struct dirmx_config);

	return finish(config_parse_buffer(&settings_table, text, len, filename,
	                                  cfg, errors),
	              cfg, filename, cfg_r);
}

int settings_load(const char *path, struct dirmx_config **cfg_r,
                  struct config_errors *errors)
{
	struct dirmx_config *cfg = alloc_new(struct dirmx_config);

	return finish(config_load_file(&settings_table, path, cfg, errors), cfg,
	              path, cfg_r);
}

void dirmx_config_deinit(struct dirmx_config **cfg)
{
	if (*cfg == NULL)
		return;
	config_free(&settings_table, *cfg);
	free((*cfg)->path);
	free(*cfg);
	*cfg = NULL;
}

const struct settings_listener *
settings_find_listener(const struct dirmx_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->listener_count; i++)
		if (strcmp(cfg->listeners[i].name, name) == 0)
			return &cfg->listeners[i];
	return NULL;
}

size_t settings_changed(const struct dirmx_config *old,
                        const struct dirmx_config *cfg, const char *section,
                        const char *listener, const char **names_r, size_t max)
{
	for (const struct config_section *sec = sections; sec->name != NULL;
	     sec++) {
		if (strcmp(sec->name, section) != 0)
			continue;
		if (sec->named && strcmp(section, "milter") == 0) {
			const struct settings_milter *a = NULL, *b = NULL;

			if (listener != NULL) {
				a = settings_find_milter(old, listener);
				b = settings_find_milter(cfg, listener);
			}
			if (a == NULL || b == NULL)
				return 0;
			return config_changed(sec->settings, a, b, names_r,
			                      max);
		}
		if (sec->named) {
			const struct settings_listener *a, *b;

			a = listener != NULL
			        ? settings_find_listener(old, listener)
			        : NULL;
			b = listener != NULL
			        ? settings_find_listener(cfg, listener)
			        : NULL;
			if (a == NULL || b == NULL)
				return 0;
			return config_changed(sec->settings, a, b, names_r,
			                      max);
		}
		return config_changed(
		    sec->settings, (const char *)old + sec->offset,
		    (const char *)cfg + sec->offset, names_r, max);
	}
	return 0;
}