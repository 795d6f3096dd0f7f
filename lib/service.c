/*
 * service - the process shell shared by authd and routerd; see service.h.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "sdnotify.h"
#include "service.h"
#include "settings.h"

struct daemon_state {
	const struct service_hooks *hooks;
	void *service;
	struct event_base *base;
	struct dirmx_config *cfg;
	const char *config_path;
	bool debug;
	bool foreground;
};

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
	        "usage: %s [-c FILE] [-t] [-f] [-d] [-h] [-V]\n"
	        "  -c FILE  configuration file (default %s)\n"
	        "  -t       check the configuration and exit\n"
	        "  -f       stay in the foreground and log to stderr\n"
	        "  -d       log at debug level\n"
	        "  -h       show this help\n"
	        "  -V       show the version\n",
	        prog, SETTINGS_DEFAULT_PATH);
}

static void apply_logging(const struct daemon_state *ds)
{
	const struct settings_global *g = &ds->cfg->global;

	log_init(ds->hooks->prog,
	         ds->foreground ? LOG_DEST_STDERR : (enum log_dest)g->log_to,
	         ds->debug ? LOG_LEVEL_DEBUG : (enum log_level)g->log_level);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *ds = arg;

	log_info(NULL, "event=stop signal=%d", (int)sig);
	sdnotify_state(SDNOTIFY_STOPPING, "stopping (signal %d)", (int)sig);
	event_base_loopexit(ds->base, NULL);
}

size_t service_log_restart(const struct dirmx_config *old,
                           const struct dirmx_config *cfg, const char *section,
                           const char *listener, const char *const *applied)
{
	const char *names[128];
	size_t n = settings_changed(old, cfg, section, listener, names, 128);
	size_t restart = 0;

	for (size_t i = 0; i < n; i++) {
		bool done = false;

		for (size_t k = 0; applied != NULL && applied[k] != NULL; k++)
			if (strcmp(applied[k], names[i]) == 0)
				done = true;
		if (done)
			continue;
		restart++;
		if (listener != NULL)
			log_warn(NULL,
			         "event=reload_needs_restart "
			         "listener=%s setting=%s",
			         listener, names[i]);
		else
			log_warn(NULL,
			         "event=reload_needs_restart "
			         "section=%s setting=%s",
			         section, names[i]);
	}
	return restart;
}

/* SIGHUP: re-read the file; keep running with the old one on error. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	static const char *const logging[] = {"log_level", "log_to", NULL};
	struct daemon_state *ds = arg;
	struct config_errors errors = {0};
	struct dirmx_config *cfg;
	char q[LOG_QUOTE_MAX];
	size_t restart;

	(void)sig;
	(void)what;
	sdnotify_state(SDNOTIFY_RELOADING, "reloading %s", ds->config_path);
	if (settings_load(ds->config_path, &cfg, &errors) < 0) {
		for (size_t i = 0; i < errors.count; i++)
			log_error(NULL, "event=reload status=failed error=%s",
			          log_quote_str(q, errors.msgs[i]));
		log_error(NULL, "event=reload status=failed keep=old");
		config_errors_clear(&errors);
		sdnotify_state(SDNOTIFY_READY,
		               "running; the last reload failed (see the "
		               "log), the old configuration is kept");
		return;
	}
	restart = service_log_restart(ds->cfg, cfg, "global", NULL, logging);

	if (ds->hooks->reload != NULL)
		restart += ds->hooks->reload(ds->service, ds->cfg, cfg);
	dirmx_config_deinit(&ds->cfg);
	ds->cfg = cfg;
	apply_logging(ds);
	if (restart > 0) {
		log_warn(NULL,
		         "event=reload status=partial config=%s "
		         "needs_restart=%zu",
		         log_quote_str(q, ds->config_path), restart);
		sdnotify_state(SDNOTIFY_READY,
		               "running; reloaded, %zu changed setting(s) "
		               "need a restart",
		               restart);
	} else {
		log_info(NULL, "event=reload status=ok config=%s",
		         log_quote_str(q, ds->config_path));
		sdnotify_state(SDNOTIFY_READY, "running; reloaded");
	}
}

static int run(struct daemon_state *ds)
{
	static const int stop_signals[] = {SIGTERM, SIGINT};
	struct event *events[3] = {NULL, NULL, NULL};
	char q[LOG_QUOTE_MAX];
	int ret = 1;

	signal(SIGPIPE, SIG_IGN);
	ds->base = event_base_new();
	if (ds->base == NULL) {
		log_error(NULL, "event=start status=failed error=event_base");
		goto done;
	}
	for (size_t i = 0; i < 2; i++)
		events[i] =
		    evsignal_new(ds->base, stop_signals[i], on_stop, ds);
	events[2] = evsignal_new(ds->base, SIGHUP, on_reload, ds);
	for (size_t i = 0; i < 3; i++) {
		if (events[i] == NULL || evsignal_add(events[i], NULL) < 0) {
			log_error(NULL, "event=start status=failed "
			                "error=signal_handler");
			goto done;
		}
	}
	log_info(NULL, "event=start version=%s config=%s", DIRMX_VERSION,
	         log_quote_str(q, ds->config_path));
	if (ds->hooks->start(ds->base, ds->cfg, &ds->service) < 0)
		goto done;
	/* start() returns once the listeners are bound (routerd) or the
	 * socket serves (authd): what Type=notify waits for. */
	sdnotify_state(SDNOTIFY_READY, "running");
	if (event_base_dispatch(ds->base) >= 0)
		ret = 0;
	if (ds->hooks->stop != NULL)
		ds->hooks->stop(ds->service);
done:
	for (size_t i = 0; i < 3; i++) {
		if (events[i] != NULL)
			event_free(events[i]);
	}
	if (ds->base != NULL)
		event_base_free(ds->base);
	return ret;
}

int service_main(int argc, char **argv, const struct service_hooks *hooks)
{
	struct daemon_state ds = {.hooks = hooks,
	                          .config_path = SETTINGS_DEFAULT_PATH};
	struct config_errors errors = {0};
	bool check_only = false;
	char *abs_path = NULL;
	int opt, ret;

	while ((opt = getopt(argc, argv, "c:tfdhV")) != -1) {
		switch (opt) {
		case 'c':
			ds.config_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'f':
			ds.foreground = true;
			break;
		case 'd':
			ds.debug = true;
			break;
		case 'h':
			usage(stdout, hooks->prog);
			return 0;
		case 'V':
			printf("%s %s\n", hooks->prog, DIRMX_VERSION);
			return 0;
		default:
			usage(stderr, hooks->prog);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, hooks->prog);
		return 2;
	}
	if (settings_load(ds.config_path, &ds.cfg, &errors) < 0) {
		config_errors_print(&errors, stderr);
		config_errors_clear(&errors);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration OK\n", ds.config_path);
		dirmx_config_deinit(&ds.cfg);
		return 0;
	}
	/* SIGHUP re-reads the file after daemon() moved to "/". */
	abs_path = realpath(ds.config_path, NULL);
	if (abs_path != NULL)
		ds.config_path = abs_path;
	if (!ds.foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "%s: daemon: %m\n", hooks->prog);
		ret = 1;
		goto done;
	}
	apply_logging(&ds);
	ret = run(&ds);
done:
	dirmx_config_deinit(&ds.cfg);
	free(abs_path);
	return ret;
}
