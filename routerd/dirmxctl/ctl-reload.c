/*
 * ctl-reload - `dirmxctl reload [authd|routerd]`: each daemon re-reads
 * the configuration file, as SIGHUP does, through its socket (authd:
 * RELOAD in include/authproto.txt; routerd: RELOAD in routerd/ctlsrv.h),
 * and this prints what each applied and what needs a restart.
 *
 * Output, one line each, prefixed with the daemon's name:
 *   authd: applied global log_level
 *   routerd: needs a restart: routerd spool_dir
 *   routerd: error /etc/dirmx/dirmx.conf:12: ...  (nothing changed)
 *   routerd: reload ok | partial (...) | failed (...)
 * A file that does not load is reported here first (file, line, setting)
 * and no daemon is asked: each would refuse it the same way.
 * Exit status: 0 every daemon asked reloaded (some settings may wait for
 * a restart, said above), 1 the file is bad or a daemon refused it (the
 * old settings stay), 2 usage error, 3 a daemon unreachable.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "settings.h"

int ctl_print_reload(const char *daemon, const char *report)
{
	const char *p = report;
	int ret = 0;

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");

		if (strncmp(p, "applied ", 8) == 0)
			printf("%s: applied: %.*s\n", daemon, (int)len - 8,
			       p + 8);
		else if (strncmp(p, "restart ", 8) == 0)
			printf("%s: needs a restart: %.*s\n", daemon,
			       (int)len - 8, p + 8);
		else if (strncmp(p, "error ", 6) == 0)
			printf("%s: error: %.*s\n", daemon, (int)len - 6,
			       p + 6);
		else if (strncmp(p, "status ", 7) == 0) {
			const char *st = p + 7;

			if (strncmp(st, "failed", 6) == 0) {
				printf("%s: reload failed (the old settings "
				       "stay)\n",
				       daemon);
				ret = 1;
			} else if (strncmp(st, "partial", 7) == 0) {
				printf("%s: reload partial (the settings "
				       "above need a restart)\n",
				       daemon);
			} else {
				printf("%s: reload ok\n", daemon);
			}
		} else {
			printf("%s: %.*s\n", daemon, (int)len, p);
		}
		p += len + (p[len] == '\n' ? 1 : 0);
	}
	return ret;
}

int ctl_reload(const struct ctl_context *ctx, int argc, char **argv)
{
	struct dirmx_config *cfg = NULL;
	struct config_errors errors = {0};
	bool authd = true, routerd = true;
	int a = 0, r = 0;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "authd") != 0 &&
	                 strcmp(argv[1], "routerd") != 0)) {
		fprintf(stderr, "usage: dirmxctl reload [authd|routerd]\n");
		return 2;
	}
	if (argc == 2) {
		authd = strcmp(argv[1], "authd") == 0;
		routerd = !authd;
	}
	if (settings_load(ctx->config_path, &cfg, &errors) < 0) {
		config_errors_print(&errors, stdout);
		config_errors_clear(&errors);
		printf("reload refused: the daemons keep their settings\n");
		return 1;
	}
	dirmx_config_deinit(&cfg);
	if (authd)
		a = ctl_reload_authd(ctx);
	if (routerd)
		r = ctl_reload_routerd(ctx);
	return a > r ? a : r;
}
