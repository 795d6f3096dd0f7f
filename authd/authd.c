/*
 * authd - the directory service: builds the resolver, the DC locator, the
 * site discovery and the connection pool from the configuration.
 *
 * Secrets: the bind password is read once from bind_password_file (which
 * should be readable by authd alone: root:dirmx-authd 0640 as the package
 * sets it up, or 0600; a mode open to others is logged as a warning),
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
#include "ametrics.h"
#include "authcheck.h"
#include "dcloc.h"
#include "dcping.h"
#include "dirmap.h"
#include "dirwatch.h"
#include "dns.h"
#include "domains.h"
#include "ldfilter.h"
#include "ldconn.h"
#include "ldpool.h"
#include "ldprot.h"
#include "log.h"
#include "pdc.h"
#include "service.h"
#include "lookup.h"
#include "server.h"
#include "sbuf.h"
#include "settings.h"
#include "smtpsasl.h"

struct authd {
	struct event_base *base;
	struct dns *dns;
	struct dcloc *loc;
	struct dcping *ping;
	struct ldpool *pool;
	struct dcloc *gc_loc;
	struct ldpool *gc_pool;
	struct domains *domains;
	struct dirmap *dirmap; /* what an entry means: lookup and auth */
	struct lookup *lookup;
	struct dirwatch *watch; /* follows changes; NULL with watch = off */
	struct authcheck *auth;
	struct smtpsasl *sasl; /* Kerberos SMTP AUTH */
	struct pdc *pdc;       /* AD with a domain: where badPwdCount is read */
	struct server *server;
	struct ametrics *metrics;
	struct ldprot_memo *memo; /* how each DC took the service bind */
	char *password;
};

char *authd_read_secret(const char *path, const char **error_r)
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
	/* Group read is how the package shares it (root:dirmx-authd 0640);
	 * anything for others, or a group that may write, is too much. */
	if (fstat(fd, &st) == 0 && (st.st_mode & 0027) != 0)
		log_warn(NULL,
		         "event=insecure_file path=%s mode=%04o "
		         "hint=\"chmod 640 (group dirmx-authd) or 600: it "
		         "holds a password\"",
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

void authd_setup_options(const struct dirmx_config *cfg,
                         struct authd_options *o)
{
	const struct settings_authd *s = &cfg->authd;

	memset(o, 0, sizeof(*o));
	o->dns.servers = (const char *const *)cfg->dns.servers.items;
	o->dns.n_servers = cfg->dns.servers.count;
	o->dns.timeout_ms = (unsigned)cfg->dns.timeout_ms;
	o->dns.tries = cfg->dns.tries;
	o->loc.domain = s->domain;
	o->loc.site = s->site;
	o->loc.forest = s->forest;
	o->loc.servers = (const char *const *)s->servers.items;
	o->loc.n_servers = s->servers.count;
	o->loc.tls = map_tls(s->tls);
	o->conn.tls = o->loc.tls;
	o->conn.ca_file = s->ca_file;
	o->conn.cert_file = s->tls_cert;
	o->conn.key_file = s->tls_key;
	o->conn.bind = map_bind(s->bind);
	o->conn.bind_dn = s->bind_dn;
	o->conn.allow_plaintext = s->allow_plaintext_bind;
	o->conn.timeout_ms = (int)s->timeout_ms;
	if (s->bind == SETTINGS_BIND_GSSAPI && s->keytab != NULL) {
		/* The Kerberos library gets tickets from the keytab itself. */
		setenv("KRB5_CLIENT_KTNAME", s->keytab, 1);
		setenv("KRB5CCNAME", "MEMORY:dirmx-authd", 1);
	}
}

static const char *const *list_or(const struct config_list *l,
                                  const char *const *preset)
{
	return l->count > 0 ? (const char *const *)l->items : preset;
}

/* The attribute mapping: the preset, then what the file overrides. */
static struct dirmap *build_dirmap(const struct settings_authd *s)
{
	struct dirmap_settings d;

	dirmap_preset(&d, s->directory == SETTINGS_DIRECTORY_AD);
	d.mail_attrs = list_or(&s->mail_attributes, d.mail_attrs);
	d.member_attrs = list_or(&s->member_attributes, d.member_attrs);
	d.nexthop_attrs = list_or(&s->nexthop_attributes, d.nexthop_attrs);
	d.forward_attrs = list_or(&s->forward_attributes, d.forward_attrs);
	d.disabled_attr = s->disabled_attribute;
	return dirmap_new(&d);
}

/* What a lookup needs beside the mapping: the preset, then the file. */
static int build_map(const struct settings_authd *s, struct lookup_map *m,
                     const char **error_r)
{
	lookup_map_preset(m, s->directory == SETTINGS_DIRECTORY_AD);
	m->base_dn = s->base_dn;
	if (s->recipient_filter != NULL)
		m->recipient_filter = s->recipient_filter;
	if (ldfilter_template_check(m->recipient_filter, error_r) < 0)
		return -1;
	if (s->account_filter != NULL &&
	    ldfilter_template_check(s->account_filter, error_r) < 0)
		return -1;
	m->max_expansion = s->max_expansion;
	m->max_hops = s->max_forward_hops;
	m->subaddress_delim =
	    s->subaddress_delimiter != NULL ? s->subaddress_delimiter[0] : '\0';
	m->cache_ttl_ms = s->cache_ttl_ms;
	m->negative_ttl_ms = s->negative_cache_ttl_ms;
	m->unwatched_ttl_ms = s->unwatched_cache_ttl_ms;
	m->cache_size = s->cache_size;
	return 0;
}

/* The DN of the domain object: its DNS name as dc= components; with no
 * domain configured, the base DN (or ""). */
static struct domains *build_domains(struct event_base *base,
                                     struct ldpool *pool, const char *base_dn,
                                     const struct settings_routerd *r,
                                     uint64_t refresh_ms)
{
	struct domains_config dc = {0};

	dc.local = (const char *const *)r->local_domains.items;
	dc.n_local = r->local_domains.count;
	dc.internal_relay =
	    (const char *const *)r->internal_relay_domains.items;
	dc.n_internal_relay = r->internal_relay_domains.count;
	dc.external_relay =
	    (const char *const *)r->external_relay_domains.items;
	dc.n_external_relay = r->external_relay_domains.count;
	dc.routes = (const char *const *)r->routes.items;
	dc.n_routes = r->routes.count;
	return domains_new(base, pool, base_dn, &dc, refresh_ms);
}

static char *domain_dn(const struct settings_authd *s)
{
	struct sbuf *b;
	char *dn;
	const char *p;

	if (s->domain == NULL)
		return alloc_strdup(s->base_dn != NULL ? s->base_dn : "");
	b = sbuf_new(1024);
	for (p = s->domain; *p != '\0';) {
		size_t n = strcspn(p, ".");

		sbuf_printf(b, "%sdc=%.*s", p == s->domain ? "" : ",", (int)n,
		            p);
		p += n;
		if (*p == '.')
			p++;
	}
	dn = sbuf_steal(b, NULL);
	sbuf_deinit(&b);
	return dn;
}

/* AD: the base is the domain's DN when none is configured. */
static char *default_base(const struct settings_authd *s)
{
	if (s->base_dn != NULL)
		return alloc_strdup(s->base_dn);
	return domain_dn(s);
}

static void on_gcs_changed(struct dcloc *loc, void *ctx)
{
	struct authd *a = ctx;

	ldpool_dcs_changed(a->gc_pool);
}

static void on_dcs_changed(struct dcloc *loc, void *ctx)
{
	struct authd *a = ctx;

	if (a->ping != NULL)
		dcping_dcs_changed(a->ping);
	ldpool_dcs_changed(a->pool);
	if (a->watch != NULL)
		dirwatch_dcs_changed(a->watch);
}

static size_t watch_invalidate(void *ctx, const char *const *tags, size_t n)
{
	struct authd *a = ctx;

	return lookup_invalidate(a->lookup, tags, n);
}

static void watch_flush(void *ctx, const char *reason)
{
	struct authd *a = ctx;

	(void)reason; /* dirwatch logs it */
	(void)lookup_cache_flush(a->lookup, NULL);
}

static void watch_sync(void *ctx, bool in_sync)
{
	struct authd *a = ctx;

	lookup_set_watched(a->lookup, in_sync);
}

static void watch_deletions(void *ctx, bool seen)
{
	struct authd *a = ctx;

	lookup_set_deletions_seen(a->lookup, seen);
}

static void start_watch(struct authd *a, const struct settings_authd *s,
                        const struct ldpool_options *po, const char *base_dn)
{
	struct dirwatch_options wo = {
	    .mode = s->watch,
	    .ad = s->directory == SETTINGS_DIRECTORY_AD,
	    .base_dn = base_dn,
	    .conn = po->conn,
	    .dm = a->dirmap,
	    .poll_interval_ms = (unsigned)s->watch_poll_interval_ms,
	    .grace_ms = (unsigned)s->unwatched_cache_ttl_ms,
	};
	struct dirwatch_hooks h = {.invalidate = watch_invalidate,
	                           .flush = watch_flush,
	                           .sync = watch_sync,
	                           .deletions = watch_deletions,
	                           .ctx = a};

	if (s->watch == SETTINGS_WATCH_OFF) {
		log_info(NULL, "event=watch mechanism=off hint=\"answers are "
		               "cached for at most unwatched_cache_ttl\"");
		return;
	}
	a->watch = dirwatch_new(a->base, a->loc, &wo, &h);
}

int authd_start(struct event_base *base, const struct dirmx_config *cfg,
                void **state_r)
{
	const struct settings_authd *s = &cfg->authd;
	struct authd *a = alloc_new(struct authd);
	struct authd_options opts;
	struct dcloc_options lo;
	struct ldpool_options po = {
	    .conns_per_dc = s->pool_size,
	    .idle_keepalive_ms = (unsigned)s->idle_timeout_ms,
	};
	struct lookup_map map;
	struct authcheck_options ao = {0};
	struct server_backends sb;
	char *base_dn = default_base(s);
	char *policy_dn = domain_dn(s);
	char *sasl_error = NULL;
	const char *error;

	a->base = base;
	authd_setup_options(cfg, &opts);
	lo = opts.loc;
	po.conn = opts.conn;
	if (s->bind_password_file != NULL) {
		a->password = authd_read_secret(s->bind_password_file, &error);
		if (a->password == NULL) {
			log_error(NULL,
			          "event=start status=failed "
			          "file=%s error=\"%s\"",
			          s->bind_password_file, error);
			goto fail;
		}
	}
	a->dns = dns_init(base, &opts.dns, &error);
	if (a->dns == NULL) {
		log_error(NULL, "event=start status=failed error=\"dns: %s\"",
		          error);
		goto fail;
	}
	po.conn.password = a->password;
	a->memo = ldprot_memo_new();
	po.conn.memo = a->memo;
	a->loc = dcloc_new(base, a->dns, &lo, on_dcs_changed, a);
	a->pool = ldpool_new(base, a->loc, &po);
	if (build_map(s, &map, &error) < 0) {
		log_error(NULL,
		          "event=start status=failed "
		          "error=\"recipient/account filter: %s\"",
		          error);
		goto fail;
	}
	map.base_dn = base_dn;
	a->domains = build_domains(base, a->pool, base_dn, &cfg->routerd,
	                           s->cache_ttl_ms);
	if (s->global_catalog && s->directory == SETTINGS_DIRECTORY_AD &&
	    s->servers.count == 0) {
		struct dcloc_options glo = lo;

		/* _gc._tcp.<forest>; ports 3268, or 3269 with LDAPS. */
		glo.gc = true;
		a->gc_loc = dcloc_new(base, a->dns, &glo, on_gcs_changed, a);
		a->gc_pool = ldpool_new(base, a->gc_loc, &po);
	}
	a->dirmap = build_dirmap(s);
	a->lookup =
	    lookup_new(base, a->pool, a->gc_pool, a->domains, a->dirmap, &map);
	start_watch(a, s, &po, base_dn);
	ao.conn = po.conn;
	ao.conn.password = NULL;
	/* User binds are simple binds: not the service's protection. */
	ao.conn.memo = NULL;
	/* A user's password is proven with a simple bind, which needs TLS
	 * even when the service binds with GSSAPI on plain LDAP (AD: GSSAPI
	 * brings its own sign/seal and is refused inside TLS). */
	if (ao.conn.tls == LDCONN_TLS_NONE && !s->allow_plaintext_bind)
		ao.conn.tls = LDCONN_TLS_STARTTLS;
	ao.base_dn = base_dn;
	/* The lockout policy is on the domain object, even when the accounts
	 * are searched under an OU (base_dn). */
	ao.policy_dn = policy_dn;
	ao.account_filter = s->account_filter;
	ao.ad = s->directory == SETTINGS_DIRECTORY_AD;
	ao.dirmap = a->dirmap;
	ao.lockout_threshold = s->lockout_threshold;
	ao.lockout_window_ms = s->lockout_window_ms;
	ao.client_max_failures = s->client_max_failures;
	ao.max_binds = s->max_concurrent_binds;
	ao.unknown_policy_max_failures = s->unknown_policy_max_failures;
	ao.no_lockout_max_failures = s->no_lockout_max_failures;
	ao.policy_refresh_ms = s->lockout_policy_refresh_ms;
	ao.known_password_ttl_ms = s->known_password_ttl_ms;
	ao.known_password_max = s->known_password_max;
	ao.familiar_client_days = s->familiar_client_days;
	ao.familiar_clients_max = s->familiar_clients_max;
	ao.state_dir = cfg->global.state_dir;
	/* AD counts bad passwords at the PDC emulator (pdc.h). */
	if (ao.ad && s->domain != NULL)
		a->pdc = pdc_new(base, a->dns, &po, lo.tls, s->domain);
	ao.pdc = a->pdc;
	ao.send_as = (const char *const *)s->send_as.items;
	ao.n_send_as = s->send_as.count;
	ao.address_filter = map.recipient_filter;
	a->auth = authcheck_new(base, a->pool, a->loc, &ao);
	sb.lookup = a->lookup;
	sb.auth = a->auth;
	sb.loc = a->loc;
	sb.watch = a->watch;
	sb.memo = a->memo;
	a->sasl = authd_sasl_new(cfg, &sasl_error);
	if (a->sasl == NULL) {
		log_error(NULL, "event=start status=failed error=\"%s\"",
		          sasl_error);
		free(sasl_error);
		goto fail;
	}
	sb.sasl = a->sasl;
	a->server = server_new(base, s->socket, s->client_user, &sb, &error);
	if (a->server == NULL) {
		log_error(NULL,
		          "event=start status=failed socket=%s "
		          "error=\"%s\"",
		          s->socket, error);
		goto fail;
	}
	if (s->metrics_listen.host != NULL) {
		struct ametrics_sources ms = {
		    .auth = a->auth,
		    .lookup = a->lookup,
		    .loc = a->loc,
		    .pool = a->pool,
		    .gc_loc = a->gc_loc,
		    .gc_pool = a->gc_pool,
		    .watch = a->watch,
		};

		a->metrics =
		    ametrics_new(base, &s->metrics_listen, &ms, &error);
		if (a->metrics == NULL) {
			log_error(NULL,
			          "event=start status=failed "
			          "metrics_listen=%s:%u error=\"%s\"",
			          s->metrics_listen.host,
			          s->metrics_listen.port, error);
			goto fail;
		}
	}
	if (s->directory == SETTINGS_DIRECTORY_AD && s->domain != NULL)
		a->ping = dcping_new(base, a->dns, a->loc, s->domain,
		                     (unsigned)s->timeout_ms);
	log_info(NULL,
	         "event=authd_start directory=%s domain=%s bind=%s "
	         "tls=%s",
	         settings_directory_name(s->directory),
	         s->domain != NULL ? s->domain : "-",
	         settings_bind_name(s->bind),
	         s->tls == SETTINGS_LDAP_TLS_LDAPS  ? "ldaps"
	         : s->tls == SETTINGS_LDAP_TLS_NONE ? "none"
	                                            : "starttls");
	dcloc_start(a->loc);
	if (a->gc_loc != NULL)
		dcloc_start(a->gc_loc);
	domains_start(a->domains);
	authcheck_start(a->auth);
	if (a->pdc != NULL)
		pdc_start(a->pdc);
	free(base_dn);
	free(policy_dn);
	*state_r = a;
	return 0;
fail:
	free(base_dn);
	free(policy_dn);
	authd_stop(a);
	return -1;
}

size_t authd_reload(void *state, const struct dirmx_config *old,
                    const struct dirmx_config *cfg)
{
	/* Connection settings apply to new connections after a restart;
	 * what can change live is logging, done by the shell. Say so for
	 * every changed setting rather than claim a reload. */
	const char *names[128];
	size_t n = settings_changed(old, cfg, "routerd", NULL, names, 128);
	size_t restart = service_log_restart(old, cfg, "dns", NULL) +
	                 service_log_restart(old, cfg, "authd", NULL);

	(void)state;
	/* [routerd] settings authd reads too (the domains' kinds): its
	 * domain table is built once, whatever routerd applies. */
	for (size_t i = 0; i < n; i++) {
		if ((settings_readers("routerd", names[i]) &
		     SETTINGS_READER_AUTHD) == 0)
			continue;
		service_needs_restart("routerd", NULL, names[i]);
		restart++;
	}
	return restart;
}

void authd_stop(void *state)
{
	struct authd *a = state;

	if (a == NULL)
		return;
	ametrics_deinit(&a->metrics);
	server_deinit(&a->server);
	smtpsasl_deinit(&a->sasl);
	dirwatch_deinit(&a->watch);
	authcheck_deinit(&a->auth);
	pdc_deinit(&a->pdc);
	lookup_deinit(&a->lookup);
	dirmap_deinit(&a->dirmap);
	domains_deinit(&a->domains);
	ldpool_deinit(&a->gc_pool);
	dcloc_deinit(&a->gc_loc);
	ldpool_deinit(&a->pool);
	dcping_deinit(&a->ping);
	dcloc_deinit(&a->loc);
	dns_deinit(&a->dns);
	ldprot_memo_deinit(&a->memo);
	if (a->password != NULL) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	free(a);
	/* A bind still running in a setup thread must not meet libldap's
	 * destructors on the way out. */
	if (ldconn_setups_wait() > 0) {
		log_warn("authd", "event=exit_now reason=\"directory setup "
		                  "still running past its bound\"");
		log_flush();
		_exit(0);
	}
}
