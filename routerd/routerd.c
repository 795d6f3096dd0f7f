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
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "authc.h"
#include "log.h"
#include "policy.h"
#include "settings.h"
#include "smtpd.h"
#include "spool.h"

struct routerd {
	struct smtpd *smtpd;
	struct spool *spool;
	struct policy *policy;
	struct authc *authc;
	size_t recovered;
};

static int drop_privileges(const char *user, const char *spool_dir)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0; /* not root: nothing to drop */
	if (strcmp(user, "root") == 0) {
		log_warn(NULL, "event=privileges user=root "
			       "hint=\"set [routerd] user to an unprivileged "
			       "account\"");
		return 0;
	}
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error(NULL, "event=start status=failed error=\"user %s "
				"does not exist: create it or set [routerd] "
				"user\"",
			  user);
		return -1;
	}
	if (mkdir(spool_dir, 0700) < 0 && errno != EEXIST) {
		log_error(NULL, "event=start status=failed spool=%s "
				"error=\"%s\"",
			  spool_dir, strerror(errno));
		return -1;
	}
	if (chown(spool_dir, pw->pw_uid, pw->pw_gid) < 0 ||
	    setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error(NULL, "event=start status=failed error=\"cannot "
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
		log_error(NULL, "event=start status=failed error=\"%s\"", error);
		goto fail;
	}
	if (cfg->listener_count == 0)
		log_warn(NULL, "event=no_listeners hint=\"add a [listener "
			       "NAME] section\"");
	rd->smtpd = smtpd_bind(base, cfg, &error);
	if (rd->smtpd == NULL)
		goto fail;
	if (drop_privileges(r->user, r->spool_dir) < 0)
		goto fail;
	if (spool_open(base, r->spool_dir, &rd->spool, &error) < 0) {
		log_error(NULL, "event=start status=failed spool=%s "
				"error=\"%s\"",
			  r->spool_dir, error);
		goto fail;
	}
	spool_foreach(rd->spool, count_one, &rd->recovered);
	rd->authc = authc_new(base, r->authd_socket, "routerd");
	if (smtpd_start(rd->smtpd, cfg, rd->authc, rd->spool, rd->policy) <
	    0) {
		log_error(NULL, "event=start status=failed error=\"cannot "
				"start the listeners (TLS certificate?)\"");
		goto fail;
	}
	log_info(NULL, "event=routerd_start listeners=%zu spool=%s "
		       "queued=%zu",
		 cfg->listener_count, r->spool_dir, rd->recovered);
	*state_r = rd;
	return 0;
fail:
	routerd_stop(rd);
	return -1;
}

void routerd_reload(void *state, const struct dirmx_config *cfg)
{
	struct routerd *rd = state;

	if (rd != NULL && rd->smtpd != NULL)
		smtpd_reload(rd->smtpd, cfg);
}

void routerd_stop(void *state)
{
	struct routerd *rd = state;

	if (rd == NULL)
		return;
	smtpd_deinit(&rd->smtpd);
	authc_deinit(&rd->authc);
	spool_deinit(&rd->spool);
	policy_deinit(&rd->policy);
	free(rd);
}
