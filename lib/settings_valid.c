/*
 * settings_valid - the validators of single setting values: domains,
 * host:port, CIDRs, LDAP URIs, routes, filter templates, attribute names,
 * send-as items, socket paths, users, DNs and GnuTLS priority strings;
 * and the one cross-check of the accepted domains' kinds.
 * Pure but for the user lookup (getpwnam) and GnuTLS's own parser.
 */
#include "settings_private.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "settings.h"

bool settings_valid_domain(const char *value, const char **error_r)
{
	size_t label = 0, len = strlen(value);

	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				break;
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') ||
		           (*p >= 'A' && *p <= 'Z') ||
		           (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
			if (++label > 63)
				break;
		} else {
			label = 0;
			break;
		}
	}
	if (label == 0 || len > 253) {
		*error_r = "not a domain name";
		return false;
	}
	return true;
}

bool settings_valid_hostport(const char *value, const char **error_r)
{
	struct config_hostport hp;

	if (!config_parse_hostport(value, &hp, error_r))
		return false;
	free(hp.host);
	return true;
}

/* address[/prefix]; the bits after the prefix must be zero. */
bool settings_valid_cidr(const char *value, const char **error_r)
{
	unsigned char addr[16];
	char tmp[64];
	const unsigned char *p;
	struct buf b;
	uint64_t prefix;
	size_t n, bits;
	int family;

	buf_init(&b, value, strlen(value));
	n = buf_fetch_until(&b, "/", &p);
	if (n == 0 || n >= sizeof(tmp))
		goto bad;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	family = strchr(tmp, ':') != NULL ? AF_INET6 : AF_INET;
	bits = family == AF_INET6 ? 128 : 32;
	if (inet_pton(family, tmp, addr) != 1)
		goto bad;
	prefix = bits;
	if (buf_consume_char(&b, '/') &&
	    (!buf_fetch_uint(&b, bits, &prefix) || buf_remaining(&b) > 0)) {
		*error_r = family == AF_INET6 ? "prefix length must be 0-128"
		                              : "prefix length must be 0-32";
		return false;
	}
	if (buf_remaining(&b) > 0)
		goto bad;
	for (size_t i = prefix; i < bits; i++) {
		if (addr[i / 8] & (0x80 >> (i % 8))) {
			*error_r = "address has bits set after the prefix "
			           "length";
			return false;
		}
	}
	return true;
bad:
	*error_r = "expected an IPv4 or IPv6 network, e.g. 192.0.2.0/24 or "
	           "2001:db8::/32";
	return false;
}

bool settings_valid_ldap_uri(const char *value, const char **error_r)
{
	char *hp;
	size_t n;
	bool ok;

	if (strncmp(value, "ldap://", 7) == 0)
		value += 7;
	else if (strncmp(value, "ldaps://", 8) == 0)
		value += 8;
	else {
		*error_r = "expected ldap://host[:port] or ldaps://host[:port]";
		return false;
	}
	n = strlen(value);
	if (n > 0 && value[n - 1] == '/')
		n--;
	hp = alloc_strndup(value, n);
	ok = settings_valid_hostport(hp, error_r);
	free(hp);
	return ok;
}

/* "domain nexthop", e.g. "example.org [192.0.2.1]:25". */
bool settings_valid_route(const char *value, const char **error_r)
{
	const char *space = strpbrk(value, " \t");
	char *domain;
	bool ok;

	if (space == NULL) {
		*error_r = "expected 'domain nexthop'";
		return false;
	}
	domain = alloc_strndup(value, (size_t)(space - value));
	ok = settings_valid_domain(domain, error_r);
	free(domain);
	space += strspn(space, " \t");
	return ok && settings_valid_hostport(space, error_r);
}

/* "domain nexthop": the other mail system of a shared domain. */
bool settings_valid_internal_relay(const char *value, const char **error_r)
{
	if (strpbrk(value, " \t") == NULL) {
		*error_r = "an internal relay domain needs the host of the "
		           "other mail system: 'domain nexthop', e.g. "
		           "'example.com [old-mail.example.com]:25'";
		return false;
	}
	return settings_valid_route(value, error_r);
}

/* "domain [nexthop]": without one, routerd's route, smarthost or MX. */
bool settings_valid_external_relay(const char *value, const char **error_r)
{
	if (strpbrk(value, " \t") == NULL)
		return settings_valid_domain(value, error_r);
	return settings_valid_route(value, error_r);
}

/* An LDAP filter template: "(...)" with balanced parentheses, and only
 * %s, %u, %d and %% directives. authd checks the full RFC 4515 syntax. */
bool settings_valid_filter_template(const char *value, const char **error_r)
{
	int depth = 0;

	if (value[0] != '(') {
		*error_r = "an LDAP filter starts with '('";
		return false;
	}
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '%') {
			p++;
			if (*p != 's' && *p != 'u' && *p != 'd' && *p != '%') {
				*error_r =
				    "only %s, %u, %d and %% may follow '%'";
				return false;
			}
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth < 0) {
			break;
		}
	}
	if (depth != 0) {
		*error_r = "unbalanced parentheses";
		return false;
	}
	return true;
}

bool settings_valid_attr_name(const char *value, const char **error_r)
{
	size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-;.");

	if (n == 0 || value[n] != '\0') {
		*error_r = "not an LDAP attribute name";
		return false;
	}
	return true;
}

bool settings_valid_send_as(const char *value, const char **error_r)
{
	const char *space = strpbrk(value, " \t");

	if (space == NULL || space == value ||
	    strchr(space + strspn(space, " \t"), '@') == NULL) {
		*error_r = "expected 'user address'";
		return false;
	}
	return true;
}

bool settings_valid_socket_path(const char *value, const char **error_r)
{
	struct sockaddr_un sun;

	if (strlen(value) >= sizeof(sun.sun_path)) {
		*error_r = "too long for a unix socket path";
		return false;
	}
	return true;
}

bool settings_valid_user(const char *value, const char **error_r)
{
	size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.");

	if (value[n] != '\0' || n > 32 || value[0] == '-') {
		*error_r = "not a user or group name";
		return false;
	}
	return true;
}

bool settings_valid_dn(const char *value, const char **error_r)
{
	if (strchr(value, '=') == NULL) {
		*error_r = "not a DN (e.g. dc=example,dc=com)";
		return false;
	}
	return true;
}

/* A GnuTLS priority string: GnuTLS itself parses it, so that -t rejects
 * exactly what routerd would fail on. The message is copied by the
 * caller at once (config-value.c), so a static buffer is enough. */
bool settings_valid_tls_priority(const char *value, const char **error_r)
{
	static char why[160];
	gnutls_priority_t prio;
	const char *pos = NULL;
	int rc = gnutls_priority_init(&prio, value, &pos);

	if (rc == 0) {
		gnutls_priority_deinit(prio);
		return true;
	}
	if (rc == GNUTLS_E_INVALID_REQUEST && pos != NULL)
		snprintf(why, sizeof(why),
		         "not a GnuTLS priority string: error at '%.40s'", pos);
	else
		snprintf(why, sizeof(why), "not a GnuTLS priority string: %s",
		         gnutls_strerror(rc));
	*error_r = why;
	return false;
}

/* metrics_listen: an IP literal and a port, nothing to resolve (the
 * endpoint binds exactly where the admin said). */
bool settings_valid_metrics_listen(const char *value, const char **error_r)
{
	struct config_hostport hp;
	unsigned char a[16];
	bool ok;

	if (!config_parse_hostport(value, &hp, error_r))
		return false;
	ok = hp.port != 0 && (inet_pton(AF_INET, hp.host, a) == 1 ||
	                      inet_pton(AF_INET6, hp.host, a) == 1);
	free(hp.host);
	if (!ok)
		*error_r = "expected an IP address and a port, as "
		           "127.0.0.1:9101 or [::1]:9101";
	return ok;
}

bool settings_is_loopback(const char *host)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
	return false;
}

/* The domain of a "domain [nexthop]" item, case-folded, no trailing dot. */
static char *item_domain(const char *item)
{
	size_t n = strcspn(item, " \t");
	char *d;

	if (n > 1 && item[n - 1] == '.')
		n--;
	d = alloc_strndup(item, n);
	for (char *p = d; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

void settings_check_domain_kinds(const struct settings_routerd *r,
                                 const char *file, struct config_errors *errors)
{
	const struct {
		const char *name;
		const struct config_list *l;
	} kinds[] = {
	    {"local_domains", &r->local_domains},
	    {"internal_relay_domains", &r->internal_relay_domains},
	    {"external_relay_domains", &r->external_relay_domains},
	};
	size_t nk = sizeof(kinds) / sizeof(kinds[0]);

	/* One kind per domain: naming it twice is a mistake to fix, not a
	 * precedence rule to learn (the directory's objects have one). */
	for (size_t a = 0; a < nk; a++)
		for (size_t i = 0; i < kinds[a].l->count; i++) {
			char *d = item_domain(kinds[a].l->items[i]);

			for (size_t b = a + 1; b < nk; b++)
				for (size_t j = 0; j < kinds[b].l->count; j++) {
					char *e =
					    item_domain(kinds[b].l->items[j]);

					if (strcmp(d, e) == 0)
						config_errors_add(
						    errors,
						    "%s: [routerd] %s is in "
						    "both %s and %s: a domain "
						    "has one kind",
						    file, d, kinds[a].name,
						    kinds[b].name);
					free(e);
				}
			free(d);
		}
}

bool settings_valid_service(const char *value, const char **error_r)
{
	const char *slash = strchr(value, '/');
	const char *at = strchr(value, '@');
	char host[256];
	size_t n;

	if (slash == NULL || slash == value || strchr(slash + 1, '/') != NULL ||
	    (at != NULL &&
	     (at < slash || at[1] == '\0' || strchr(at + 1, '@') != NULL))) {
		*error_r = "a service principal is service/host or "
		           "service/host@REALM";
		return false;
	}
	for (const char *p = value; p < slash; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
			*error_r = "the service name is letters only (smtp)";
			return false;
		}
	}
	n = at != NULL ? (size_t)(at - slash - 1) : strlen(slash + 1);
	if (n == 0 || n >= sizeof(host)) {
		*error_r = "the service principal names no host";
		return false;
	}
	memcpy(host, slash + 1, n);
	host[n] = '\0';
	if (!settings_valid_domain(host, error_r))
		return false;
	if (at != NULL && !settings_valid_domain(at + 1, error_r)) {
		*error_r = "the realm is not a domain-like name";
		return false;
	}
	return true;
}

bool settings_valid_mech(const char *value, const char **error_r)
{
	static const char *const mechs[] = {"PLAIN", "LOGIN", "GSSAPI",
	                                    "GSS-SPNEGO", NULL};

	for (size_t i = 0; mechs[i] != NULL; i++)
		if (strcmp(value, mechs[i]) == 0)
			return true;
	*error_r = "the mechanisms are PLAIN, LOGIN, GSSAPI and GSS-SPNEGO";
	return false;
}

/* ---- milters ----------------------------------------------------------- */

/* inet:IP:PORT (IPv6 in brackets), inet:localhost:PORT, unix:/PATH. */
bool settings_milter_sockaddr(const char *spec, struct sockaddr_storage *ss_r,
                              unsigned int *len_r)
{
	memset(ss_r, 0, sizeof(*ss_r));
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss_r;
		const char *path = strchr(spec, ':') + 1;

		if (path[0] != '/' || strlen(path) >= sizeof(sun->sun_path))
			return false;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, strlen(path) + 1);
		*len_r = (unsigned int)sizeof(*sun);
		return true;
	}
	if (strncmp(spec, "inet:", 5) == 0) {
		const char *hp = spec + 5, *colon = strrchr(hp, ':');
		char host[64];
		size_t hlen;
		uint64_t port;
		struct buf b;
		struct sockaddr_in *sin = (struct sockaddr_in *)ss_r;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss_r;

		if (colon == NULL)
			return false;
		hlen = (size_t)(colon - hp);
		buf_init(&b, colon + 1, strlen(colon + 1));
		if (!buf_fetch_uint(&b, 65535, &port) || port == 0 ||
		    buf_remaining(&b) != 0 || hlen == 0 || hlen >= sizeof(host))
			return false;
		memcpy(host, hp, hlen);
		host[hlen] = '\0';
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		if (host[0] == '[' && host[hlen - 1] == ']') {
			host[hlen - 1] = '\0';
			if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) !=
			    1)
				return false;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			*len_r = (unsigned int)sizeof(*sin6);
			return true;
		}
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return false;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len_r = (unsigned int)sizeof(*sin);
		return true;
	}
	return false;
}

bool settings_valid_milter_socket(const char *value, const char **error_r)
{
	struct sockaddr_storage ss;
	unsigned int len;

	if (!settings_milter_sockaddr(value, &ss, &len)) {
		*error_r = "expected inet:IP:PORT, inet:localhost:PORT, "
		           "inet:[IPv6]:PORT or unix:/PATH";
		return false;
	}
	return true;
}

void settings_check_milters(const struct dirmx_config *cfg, const char *file,
                            struct config_errors *errors)
{
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct settings_listener *l = &cfg->listeners[i];

		for (size_t k = 0; k < l->milters.count; k++)
			if (settings_find_milter(cfg, l->milters.items[k]) ==
			    NULL)
				config_errors_add(
				    errors,
				    "%s:%u: [listener %s] milter "
				    "%s has no [milter %s] section",
				    file, l->line, l->name, l->milters.items[k],
				    l->milters.items[k]);
	}
}

const struct settings_milter *
settings_find_milter(const struct dirmx_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->milter_count; i++)
		if (strcmp(cfg->milters[i].name, name) == 0)
			return &cfg->milters[i];
	return NULL;
}
