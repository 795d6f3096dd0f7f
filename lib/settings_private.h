/*
 * settings_private.h - what lib/settings*.c share; not for other modules.
 *
 * The validators of single setting values (settings_valid.c), used by the
 * tables in settings.c: true, or false with *error_r a static reason.
 */
#ifndef DIRMX_SETTINGS_PRIVATE_H
#define DIRMX_SETTINGS_PRIVATE_H

#include <stdbool.h>

bool settings_valid_domain(const char *value, const char **error_r);
bool settings_valid_hostport(const char *value, const char **error_r);
bool settings_valid_cidr(const char *value, const char **error_r);
bool settings_valid_ldap_uri(const char *value, const char **error_r);
bool settings_valid_route(const char *value, const char **error_r);
bool settings_valid_internal_relay(const char *value, const char **error_r);
bool settings_valid_external_relay(const char *value, const char **error_r);
bool settings_valid_filter_template(const char *value, const char **error_r);
bool settings_valid_attr_name(const char *value, const char **error_r);
bool settings_valid_send_as(const char *value, const char **error_r);
bool settings_valid_socket_path(const char *value, const char **error_r);
bool settings_valid_user(const char *value, const char **error_r);
bool settings_valid_dn(const char *value, const char **error_r);
bool settings_valid_tls_priority(const char *value, const char **error_r);
bool settings_valid_metrics_listen(const char *value, const char **error_r);
bool settings_valid_milter_socket(const char *value, const char **error_r);
/* A Kerberos service principal "service/host" or "service/host@REALM". */
bool settings_valid_service(const char *value, const char **error_r);
/* An SMTP AUTH mechanism dirmx offers: PLAIN, LOGIN, GSSAPI, GSS-SPNEGO. */
bool settings_valid_mech(const char *value, const char **error_r);
struct settings_routerd;
struct config_errors;
/* A domain in two of local_domains, internal_relay_domains and
 * external_relay_domains is an error. */
void settings_check_domain_kinds(const struct settings_routerd *r,
                                 const char *file,
                                 struct config_errors *errors);
struct dirmx_config;
/* Every milter a listener names exists. */
void settings_check_milters(const struct dirmx_config *cfg, const char *file,
                            struct config_errors *errors);
/* host (an IP literal) is in 127.0.0.0/8 or is ::1. */
bool settings_is_loopback(const char *host);

#endif
