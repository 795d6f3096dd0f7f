/*
 * routerd - the SMTP service: listeners, privileges, spool, authd client;
 * see routerd.h.
 */
#include "routerd.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "authc.h"
#include "ctlsrv.h"
#include "listener.h"
#include "dns.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "service.h"
#include "session.h"
#include "resolve.h"
#include "rmetrics.h"
#include "settings.h"
#include "smtpc.h"
#include "spool.h"

struct routerd {
	struct listener *listener;
	/* What every session uses (session.h); its params and policy change
	 * with SIGHUP, its tls is kept by the listener. */
	struct session_env env;
	struct session_params params;
	struct spool *spool;
	struct policy *policy;
	char *alerts_dir;
	struct authc *authc;
	struct ctlsrv *ctl;
	struct dns *dns;
	struct resolve *resolve;
	struct smtpc *smtpc;
	struct queue *queue;
	struct rmetrics *metrics;
	char *hostname;
	size_t recovered;
};

/* Every session is a socket (two with delivery): raise the soft limit
 * on descriptors to the hard one while still root, and say when the
 * configured sessions may not fit. */
static void raise_fd_limit(const struct dirmx_config *cfg)
{
	struct rlimit rl;
	uint64_t want = 64;

	for (size_t i = 0; i < cfg->listener_count; i++)
		want += cfg->listeners[i].max_sessions != 0
		            ? cfg->listeners[i].max_sessions
		            : 100000;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warn(NULL,
		         "event=fd_limit limit=%llu wanted=%llu "
		         "hint=\"raise LimitNOFILE or lower max_sessions\"",
		         (unsigned long long)rl.rlim_cur,
		         (unsigned long long)want);
}

/* Started as root: bind, then become user. Started as user already (the
 * systemd unit: User=, with CAP_NET_BIND_SERVICE for ports < 1024): there
 * is nothing to drop; say so, and warn when it is not the configured
 * user (the spool and the control socket then belong to someone else). */
static int drop_privileges(const char *user, const char *spool_dir)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		uid_t uid = geteuid();

		pw = getpwnam(user);
		if (pw == NULL || pw->pw_uid != uid)
			log_warn(NULL,
			         "event=privileges uid=%ld user=%s "
			         "hint=\"not started as root or as [routerd] "
			         "user: running as uid %ld\"",
			         (long)uid, user, (long)uid);
		else
			log_info(NULL,
			         "event=privileges user=%s uid=%ld "
			         "started_as=user",
			         user, (long)uid);
		return 0;
	}
	if (strcmp(user, "root") == 0) {
		log_warn(NULL, "event=privileges user=root "
		               "hint=\"set [routerd] user to an unprivileged "
		               "account\"");
		return 0;
	}
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error(NULL,
		          "event=start status=failed error=\"user %s "
		          "does not exist: create it or set [routerd] "
		          "user\"",
		          user);
		return -1;
	}
	if (mkdir(spool_dir, 0700) < 0 && errno != EEXIST) {
		log_error(NULL,
		          "event=start status=failed spool=%s "
		          "error=\"%s\"",
		          spool_dir, strerror(errno));
		return -1;
	}
	if (chown(spool_dir, pw->pw_uid, pw->pw_gid) < 0 ||
	    setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error(NULL,
		          "event=start status=failed error=\"cannot "
		          "drop privileges to %s: %s\"",
		          user, strerror(errno));
		return -1;
	}
	log_info(NULL, "event=privileges user=%s uid=%ld", user,
	         (long)pw->pw_uid);
	return 0;
}

static void count_one(void *ctx, const char *id)
{
	size_t *n = ctx;

	(*n)++;
	log_info(id, "event=recovered");
}

/* Delivery: DNS, next-hop resolution, the SMTP client, the queue. */
static int start_delivery(struct routerd *rd, struct event_base *base,
                          const struct dirmx_config *cfg)
{
	const struct settings_routerd *r = &cfg->routerd;
	struct dns_options dopts = {
	    .servers = (const char *const *)cfg->dns.servers.items,
	    .n_servers = cfg->dns.servers.count,
	    .timeout_ms = (unsigned)cfg->dns.timeout_ms,
	    .tries = cfg->dns.tries,
	};
	struct smtpc_settings sset;
	struct queue_options qo = {0};
	const char *names[1];
	const char *error;
	char host[256];
	char *password = NULL;

	memset(host, 0, sizeof(host));
	if (r->hostname != NULL)
		rd->hostname = alloc_strdup(r->hostname);
	else if (gethostname(host, sizeof(host) - 1) == 0)
		rd->hostname = alloc_strdup(host);
	else
		rd->hostname = alloc_strdup("localhost");
	rd->dns = dns_init(base, &dopts, &error);
	if (rd->dns == NULL) {
		log_error(NULL, "event=start status=failed error=\"dns: %s\"",
		          error);
		return -1;
	}
	names[0] = rd->hostname;
	rd->resolve = resolve_new(base, rd->dns, names, 1);
	smtpc_settings_default(&sset);
	sset.tls_priority = r->smtp_tls_priority;
	sset.handshake_ms = (unsigned)r->tls_handshake_timeout_ms;
	sset.max_conns_total = r->smtp_connection_limit;
	sset.max_conns_per_dest = r->smtp_destination_concurrency_limit;
	sset.connect_ms = (unsigned)r->smtp_connect_timeout_ms;
	sset.greeting_ms = (unsigned)r->smtp_helo_timeout_ms;
	sset.helo_ms = (unsigned)r->smtp_helo_timeout_ms;
	sset.mail_ms = (unsigned)r->smtp_mail_timeout_ms;
	sset.rcpt_ms = (unsigned)r->smtp_rcpt_timeout_ms;
	sset.data_init_ms = (unsigned)r->smtp_data_init_timeout_ms;
	sset.data_block_ms = (unsigned)r->smtp_data_xfer_timeout_ms;
	sset.data_done_ms = (unsigned)r->smtp_data_done_timeout_ms;
	sset.idle_ms = (unsigned)r->smtp_connection_idle_ms;
	sset.max_reuse = r->smtp_connection_reuse_count_limit;
	sset.line_length_limit = r->smtp_line_length_limit;
	rd->smtpc = smtpc_new(base, &sset);
	if (rd->smtpc == NULL)
		return -1;
	qo.hostname = rd->hostname;
	qo.postmaster = r->postmaster;
	qo.alerts_dir = rd->alerts_dir;
	qo.settings = r;
	qo.tls_ca_file = r->tls_ca_file;
	qo.tls_policy = r->tls_policy;
	qo.tls_map = (const char *const *)r->tls_policy_map.items;
	qo.n_tls_map = r->tls_policy_map.count;
	if (r->smarthost_user != NULL) {
		if (r->smarthost_password_file == NULL ||
		    smtpc_password_read(r->smarthost_password_file, &password,
		                        &error) < 0) {
			log_error(NULL,
			          "event=start status=failed "
			          "smarthost_password_file=%s error=\"%s\"",
			          r->smarthost_password_file != NULL
			              ? r->smarthost_password_file
			              : "(not set)",
			          r->smarthost_password_file != NULL
			              ? error
			              : "smarthost_user needs it");
			return -1;
		}
		qo.smarthost_user = r->smarthost_user;
		qo.smarthost_password = password;
	}
	qo.retry_min_ms = r->retry_min_ms;
	qo.retry_max_ms = r->retry_max_ms;
	qo.max_lifetime_ms = r->max_queue_lifetime_ms;
	qo.delay_warning_ms = r->delay_warning_ms;
	rd->queue =
	    queue_new(base, rd->spool, rd->resolve, rd->smtpc, rd->authc, &qo);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	rd->env.queue = rd->queue;
	rmetrics_set_queue(rd->metrics, rd->queue);
	ctlsrv_start(rd->ctl, rd->queue);
	queue_recover(rd->queue);
	return 0;
}

int routerd_start(struct event_base *base, const struct dirmx_config *cfg,
                  void **state_r)
{
	const struct settings_routerd *r = &cfg->routerd;
	struct routerd *rd = alloc_new(struct routerd);
	const char *error;

	rd->policy = policy_new((const char *const *)r->local_domains.items,
	                        r->local_domains.count,
	                        (const char *const *)r->relay_networks.items,
	                        r->relay_networks.count, &error);
	if (rd->policy == NULL) {
		log_error(NULL, "event=start status=failed error=\"%s\"",
		          error);
		goto fail;
	}
	if (cfg->listener_count == 0)
		log_warn(NULL, "event=no_listeners hint=\"add a [listener "
		               "NAME] section\"");
	raise_fd_limit(cfg);
	rd->alerts_dir = alloc_printf("%s/alerts", r->spool_dir);
	rd->listener = listener_bind(base, cfg, &error);
	if (rd->listener == NULL)
		goto fail;
	rd->ctl = ctlsrv_new(base, r->control_socket, r->user, &error);
	if (rd->ctl == NULL) {
		log_error(NULL,
		          "event=start status=failed control_socket=%s "
		          "error=\"%s\"",
		          r->control_socket, error);
		goto fail;
	}
	if (rmetrics_new(base, cfg, &rd->metrics, &error) < 0) {
		log_error(NULL,
		          "event=start status=failed metrics_listen=%s:%u "
		          "error=\"%s\"",
		          r->metrics_listen.host, r->metrics_listen.port,
		          error);
		goto fail;
	}
	if (drop_privileges(r->user, r->spool_dir) < 0)
		goto fail;
	if (spool_open(base, r->spool_dir, &rd->spool, &error) < 0) {
		log_error(NULL,
		          "event=start status=failed spool=%s "
		          "error=\"%s\"",
		          r->spool_dir, error);
		goto fail;
	}
	spool_foreach(rd->spool, count_one, &rd->recovered);
	rd->authc = authc_new(base, r->authd_socket, "routerd");
	/* Know authd's SMTP AUTH mechanisms before the first EHLO. */
	authc_connect(rd->authc);
	if (start_delivery(rd, base, cfg) < 0)
		goto fail;
	session_params_set(&rd->params, cfg);
	rd->env.base = base;
	rd->env.params = &rd->params;
	rd->env.authc = rd->authc;
	rd->env.spool = rd->spool;
	rd->env.policy = rd->policy;
	if (listener_start(rd->listener, cfg, &rd->env) < 0) {
		log_error(NULL, "event=start status=failed error=\"cannot "
		                "start the listeners (TLS certificate?)\"");
		goto fail;
	}
	log_info(NULL,
	         "event=routerd_start listeners=%zu spool=%s "
	         "queued=%zu",
	         cfg->listener_count, r->spool_dir, rd->recovered);
	*state_r = rd;
	return 0;
fail:
	routerd_stop(rd);
	return -1;
}

/* New local_domains / relay_networks: a new policy, or keep the old. */
static void reload_policy(struct routerd *rd, const struct dirmx_config *cfg)
{
	const struct settings_routerd *r = &cfg->routerd;
	const char *error;
	struct policy *p = policy_new(
	    (const char *const *)r->local_domains.items, r->local_domains.count,
	    (const char *const *)r->relay_networks.items,
	    r->relay_networks.count, &error);

	if (p == NULL) {
		log_error(NULL,
		          "event=reload_failed setting=relay_networks "
		          "error=\"%s\" keep=old",
		          error);
		return;
	}
	rd->env.policy = p;
	policy_deinit(&rd->policy);
	rd->policy = p;
}

size_t routerd_reload(void *state, const struct dirmx_config *old,
                      const struct dirmx_config *cfg)
{
	struct routerd *rd = state;
	size_t restart = service_log_restart(old, cfg, "routerd", NULL);

	for (size_t i = 0; i < cfg->listener_count; i++) {
		const char *name = cfg->listeners[i].name;

		if (settings_find_listener(old, name) == NULL) {
			service_needs_restart("listener", name,
			                      "(new listener)");
			restart++;
			continue;
		}
		restart += service_log_restart(old, cfg, "listener", name);
	}
	for (size_t i = 0; i < old->listener_count; i++) {
		if (settings_find_listener(cfg, old->listeners[i].name) ==
		    NULL) {
			service_needs_restart("listener",
			                      old->listeners[i].name,
			                      "(removed listener)");
			restart++;
		}
	}
	if (rd != NULL && rd->listener != NULL) {
		reload_policy(rd, cfg);
		session_params_set(&rd->params, cfg);
		listener_reload(rd->listener, cfg);
	}
	if (rd != NULL && rd->smtpc != NULL)
		(void)smtpc_set_tls_priority(rd->smtpc,
		                             cfg->routerd.smtp_tls_priority);
	return restart;
}

void routerd_stop(void *state)
{
	struct routerd *rd = state;

	if (rd == NULL)
		return;
	listener_deinit(&rd->listener);
	rmetrics_deinit(&rd->metrics);
	queue_deinit(&rd->queue);
	ctlsrv_deinit(&rd->ctl);
	smtpc_deinit(&rd->smtpc);
	resolve_deinit(&rd->resolve);
	dns_deinit(&rd->dns);
	authc_deinit(&rd->authc);
	spool_deinit(&rd->spool);
	policy_deinit(&rd->policy);
	session_params_clear(&rd->params);
	free(rd->hostname);
	free(rd->alerts_dir);
	free(rd);
}
