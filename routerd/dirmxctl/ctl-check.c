/*
 * ctl-check - dirmxctl check: load the configuration file as both daemons
 * do, print every error, or OK and a short summary of what it sets up.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "settings.h"

static const char *or_none(const char *s)
{
	return s != NULL ? s : "(none)";
}

static void format_hostport(char *out, size_t size,
                            const struct config_hostport *hp)
{
	bool v6 = strchr(hp->host, ':') != NULL;

	if (hp->port != 0)
		snprintf(out, size, "%s%s%s:%u", v6 ? "[" : "", hp->host,
		         v6 ? "]" : "", hp->port);
	else
		snprintf(out, size, "%s", hp->host);
}

static void summary(const struct dirmx_config *cfg)
{
	const struct settings_authd *a = &cfg->authd;
	const struct settings_routerd *r = &cfg->routerd;

	printf("sections: global dns authd routerd, %zu listener%s\n",
	       cfg->listener_count, cfg->listener_count == 1 ? "" : "s");
	printf("authd: directory=%s domain=%s servers=%zu bind=%s\n",
	       settings_directory_name(a->directory), or_none(a->domain),
	       a->servers.count, settings_bind_name(a->bind));
	printf("routerd: local_domains=%zu relay_networks=%zu routes=%zu "
	       "smarthost=%s\n",
	       r->local_domains.count, r->relay_networks.count, r->routes.count,
	       or_none(r->smarthost.host));
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct settings_listener *l = &cfg->listeners[i];
		char addr[300];

		format_hostport(addr, sizeof(addr), &l->address);
		printf("listener %s: address=%s role=%s tls=%s\n", l->name,
		       addr, settings_role_name(l->role),
		       settings_tls_name(l->tls));
	}
}

int ctl_check(const struct ctl_context *ctx, int argc, char **argv)
{
	struct config_errors errors = {0};
	struct dirmx_config *cfg;

	if (argc != 1) {
		fprintf(stderr, "usage: dirmxctl [-c FILE] check\n");
		return 2;
	}
	if (settings_load(ctx->config_path, &cfg, &errors) < 0) {
		config_errors_print(&errors, stderr);
		config_errors_clear(&errors);
		return 1;
	}
	printf("%s: configuration OK\n", ctx->config_path);
	summary(cfg);
	dirmx_config_deinit(&cfg);
	return 0;
}
