/*
 * authd - the directory service: builds the resolver, the DC locator, the
 * site discovery and the connection pool from the configuration.
 *
 * Secrets: the bind password is read once from bind_password_file (which
 * should be readable by authd alone: a wider mode is logged as a warning),
 * kept in memory only as long as the pool needs it, and never logged. With
 * GSSAPI the keytab is handed to the Kerberos library through
 * KRB5_CLIENT_KTNAME and tickets live in a memory cache, so no password
 * exists anywhere.
 */
#include "authd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "dcloc.h"
#include "dcping.h"
#include "dns.h"
#include "ldpool.h"
#include "log.h"
#include "settings.h"

struct authd {
	struct event_base *base;
	struct dns *dns;
	struct dcloc *loc;
	struct dcping *ping;
	struct ldpool *pool;
	char *password;
};

static char *read_secret(const char *path, const char **error_r)
{
	char buf[1024];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*error_r = strerror(errno);
		return NULL;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077) != 0)
		log_warn(NULL, "event=insecure_file path=%s mode=%04o "
			       "hint=\"chmod 600: it holds a password\"",
			 path, (unsigned)(st.st_mode & 07777));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		*error_r = strerror(errno);
		return NULL;
	}
	buf[n] = '\0';
	/* One line: the password, without its line end. */
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		*error_r = "the file is empty";
		return NULL;
	}
	return alloc_strdup(buf);
}

static enum ldconn_tls map_tls(int tls)
{
	switch (tls) {
	case SETTINGS_LDAP_TLS_LDAPS:
		return LDCONN_TLS_LDAPS;
	case SETTINGS_LDAP_TLS_NONE:
		return LDCONN_TLS_NONE;
	default:
		return LDCONN_TLS_STARTTLS;
	}
}

static enum ldconn_bind map_bind(int bind)
{
	switch (bind) {
	case SETTINGS_BIND_EXTERNAL:
		return LDCONN_BIND_EXTERNAL;
	case SETTINGS_BIND_SIMPLE:
		return LDCONN_BIND_SIMPLE;
	case SETTINGS_BIND_PLAIN:
		return LDCONN_BIND_PLAIN;
	default:
		return LDCONN_BIND_GSSAPI;
	}
}

static void on_dcs_changed(struct dcloc *loc, void *ctx)
{
	struct authd *a = ctx;

	if (a->ping != NULL)
		dcping_dcs_changed(a->ping);
	ldpool_dcs_changed(a->pool);
}

int authd_start(struct event_base *base, const struct dirmx_config *cfg,
		void **state_r)
{
	const struct settings_authd *s = &cfg->authd;
	struct authd *a = alloc_new(struct authd);
	struct dns_options dopts = {
		.servers = (const char *const *)cfg->dns.servers.items,
		.n_servers = cfg->dns.servers.count,
		.timeout_ms = (unsigned)cfg->dns.timeout_ms,
		.tries = cfg->dns.tries,
	};
	struct dcloc_options lo = {
		.domain = s->domain,
		.site = s->site,
		.forest = s->forest,
		.servers = (const char *const *)s->servers.items,
		.n_servers = s->servers.count,
		.tls = map_tls(s->tls),
	};
	struct ldpool_options po = {
		.conns_per_dc = s->pool_size,
		.idle_keepalive_ms = (unsigned)s->idle_timeout_ms,
	};
	const char *error;

	a->base = base;
	if (s->bind == SETTINGS_BIND_GSSAPI && s->keytab != NULL) {
		/* The Kerberos library gets tickets from the keytab itself. */
		setenv("KRB5_CLIENT_KTNAME", s->keytab, 1);
		setenv("KRB5CCNAME", "MEMORY:dirmx-authd", 1);
	}
	if (s->bind_password_file != NULL) {
		a->password = read_secret(s->bind_password_file, &error);
		if (a->password == NULL) {
			log_error(NULL, "event=start status=failed "
					"file=%s error=\"%s\"",
				  s->bind_password_file, error);
			goto fail;
		}
	}
	a->dns = dns_init(base, &dopts, &error);
	if (a->dns == NULL) {
		log_error(NULL, "event=start status=failed error=\"dns: %s\"",
			  error);
		goto fail;
	}
	po.conn.tls = lo.tls;
	po.conn.ca_file = s->ca_file;
	po.conn.cert_file = s->tls_cert;
	po.conn.key_file = s->tls_key;
	po.conn.bind = map_bind(s->bind);
	po.conn.bind_dn = s->bind_dn;
	po.conn.password = a->password;
	po.conn.allow_plaintext = s->allow_plaintext_bind;
	/* AD refuses SASL sign/seal inside TLS. */
	po.conn.sasl_no_secprops = true;
	po.conn.timeout_ms = (int)s->timeout_ms;
	a->loc = dcloc_new(base, a->dns, &lo, on_dcs_changed, a);
	a->pool = ldpool_new(base, a->loc, &po);
	if (s->directory == SETTINGS_DIRECTORY_AD && s->domain != NULL)
		a->ping = dcping_new(base, a->dns, a->loc, s->domain,
				     (unsigned)s->timeout_ms);
	log_info(NULL, "event=authd_start directory=%s domain=%s bind=%s "
		       "tls=%s",
		 settings_directory_name(s->directory),
		 s->domain != NULL ? s->domain : "-",
		 settings_bind_name(s->bind),
		 s->tls == SETTINGS_LDAP_TLS_LDAPS  ? "ldaps"
		 : s->tls == SETTINGS_LDAP_TLS_NONE ? "none"
						    : "starttls");
	dcloc_start(a->loc);
	*state_r = a;
	return 0;
fail:
	authd_stop(a);
	return -1;
}

void authd_reload(void *state, const struct dirmx_config *cfg)
{
	/* Connection settings apply to new connections after a restart;
	 * what can change live is logging, done by the shell. */
	(void)state;
	(void)cfg;
}

void authd_stop(void *state)
{
	struct authd *a = state;

	if (a == NULL)
		return;
	ldpool_deinit(&a->pool);
	dcping_deinit(&a->ping);
	dcloc_deinit(&a->loc);
	dns_deinit(&a->dns);
	if (a->password != NULL) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	free(a);
}
