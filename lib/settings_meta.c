/*
 * settings_meta - which daemon reads each setting and which a SIGHUP
 * applies at once; see settings.h (settings_readers(),
 * settings_reloadable()). Kept beside the tables of settings.c, which
 * dirmx.conf(5) is generated from together with these lists.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "settings.h"

/* ---- who reads what, and what SIGHUP applies ---------------------------- */

/*
 * Which daemon reads each section, and which settings a SIGHUP applies at
 * once; any other changed setting is logged as event=reload_needs_restart
 * (service_log_restart()). dirmx.conf(5) is generated from these and the
 * tables above (deploy/man/mkconfman.c), so a setting added here is
 * documented with what it really does on reload.
 */
static const char *const reload_global[] = {"log_level", "log_to", NULL};
/* routerd: the limits, timeouts, policy and TLS files; the spool, the
 * queue and delivery are built once. */
static const char *const reload_routerd[] = {
    "max_message_size",
    "spool_min_free",
    "max_line_length",
    "max_recipients",
    "trust_envelope_sender_for_restrictions",
    "max_received_headers",
    "command_timeout",
    "data_timeout",
    "min_data_rate",
    "max_errors",
    "max_auth_failures",
    "tls_cert",
    "tls_key",
    "tls_priority",
    "smtp_tls_priority",
    "tls_handshake_timeout",
    "listen_backlog",
    "client_connection_limit",
    "client_connection_rate_limit",
    "local_domains",
    "relay_networks",
    NULL,
};
static const char *const reload_listener[] = {"max_sessions", "milters", NULL};
/* Each message reads its filters' settings when it reaches them. */
static const char *const reload_milter[] = {
    "socket",          "connect_timeout", "command_timeout",
    "content_timeout", "default_action",  NULL};
/* [routerd] settings authd reads too: the accepted domains' kinds. */
static const char *const authd_reads_routerd[] = {
    "local_domains", "internal_relay_domains", "external_relay_domains",
    "routes", NULL};
/* Declared for a later part of the service; no daemon reads them yet. */
static const char *const unread_global[] = {"run_dir", NULL};

static const struct {
	const char *section;
	unsigned int readers; /* SETTINGS_READER_* bits */
	const char *const *reload, *const *unread;
} section_meta[] = {
    {"global", SETTINGS_READER_AUTHD | SETTINGS_READER_ROUTERD, reload_global,
     unread_global},
    {"dns", SETTINGS_READER_AUTHD | SETTINGS_READER_ROUTERD, NULL, NULL},
    {"authd", SETTINGS_READER_AUTHD, NULL, NULL},
    {"routerd", SETTINGS_READER_ROUTERD, reload_routerd, NULL},
    {"listener", SETTINGS_READER_ROUTERD, reload_listener, NULL},
    {"milter", SETTINGS_READER_ROUTERD, reload_milter, NULL},
};

static bool name_in(const char *const *list, const char *name)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

unsigned int settings_readers(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(section_meta) / sizeof(section_meta[0]);
	     i++)
		if (strcmp(section_meta[i].section, section) == 0)
			return name_in(section_meta[i].unread, name) ? 0
			       : strcmp(section, "routerd") == 0 &&
			               name_in(authd_reads_routerd, name)
			           ? SETTINGS_READER_AUTHD |
			                 SETTINGS_READER_ROUTERD
			           : section_meta[i].readers;
	return 0;
}

bool settings_reloadable(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(section_meta) / sizeof(section_meta[0]);
	     i++)
		if (strcmp(section_meta[i].section, section) == 0)
			return name_in(section_meta[i].reload, name);
	return false;
}
