/*
 * service - the process shell shared by authd and routerd; see service.h.
 */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "log.h"
#include "sbuf.h"
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

static void usage(FILE *out, const struct service_hooks *hooks)
{
	const char *prog = hooks->prog;

	fprintf(out,
	        "usage: %s [-c FILE] [-t%s] [-f] [-d] [-h] [-V]\n"
	        "  -c FILE        configuration file (default %s)\n"
	        "  -t             check the configuration and exit\n"
	        "%s"
	        "  -f             stay in the foreground and log to stderr\n"
	        "  -d             log at debug level\n"
	        "  -h, --help     show this help\n"
	        "  -V, --version  show the version\n"
	        "exit status: 0 stopped by SIGTERM or SIGINT (or -t: the "
	        "file is good),\n"
	        "1 bad configuration or failed start, 2 usage error\n"
	        "see %s(8) and dirmx.conf(5)\n",
	        prog, hooks->check_bind != NULL ? " [--bind]" : "",
	        SETTINGS_DEFAULT_PATH,
	        hooks->check_bind != NULL
	            ? "  -t --bind      and bind to each directory server with "
	              "it, naming the\n                 fix when a bind "
	              "fails\n"
	            : "",
	        prog);
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

/* The daemon running in this process (run()), for service_reload(). */
static struct daemon_state *running;
/* Where the reload in progress writes its report; NULL: log only. */
static struct sbuf *report;

static void report_line(const char *kind, const char *section,
                        const char *listener, const char *setting)
{
	if (report == NULL)
		return;
	if (listener != NULL)
		sbuf_printf(report, "%s listener %s %s\n", kind, listener,
		            setting);
	else
		sbuf_printf(report, "%s %s %s\n", kind, section, setting);
}

void service_needs_restart(const char *section, const char *listener,
                           const char *setting)
{
	if (listener != NULL)
		log_warn(NULL,
		         "event=reload_needs_restart "
		         "listener=%s setting=%s",
		         listener, setting);
	else
		log_warn(NULL,
		         "event=reload_needs_restart "
		         "section=%s setting=%s",
		         section, setting);
	report_line("restart", section, listener, setting);
}

size_t service_log_restart(const struct dirmx_config *old,
                           const struct dirmx_config *cfg, const char *section,
                           const char *listener)
{
	const char *names[128];
	size_t n = settings_changed(old, cfg, section, listener, names, 128);
	size_t restart = 0;

	for (size_t i = 0; i < n; i++) {
		if (settings_reloadable(section, names[i])) {
			report_line("applied", section, listener, names[i]);
			continue;
		}
		restart++;
		service_needs_restart(section, listener, names[i]);
	}
	return restart;
}

/* Re-read the file; keep running with the old one on error. */
static int reload(struct daemon_state *ds)
{
	struct config_errors errors = {0};
	struct dirmx_config *cfg;
	char q[LOG_QUOTE_MAX];
	size_t restart;

	sdnotify_state(SDNOTIFY_RELOADING, "reloading %s", ds->config_path);
	if (settings_load(ds->config_path, &cfg, &errors) < 0) {
		for (size_t i = 0; i < errors.count; i++) {
			log_error(NULL, "event=reload status=failed error=%s",
			          log_quote_str(q, errors.msgs[i]));
			if (report != NULL)
				sbuf_printf(report, "error %s\n",
				            errors.msgs[i]);
		}
		log_error(NULL, "event=reload status=failed keep=old");
		config_errors_clear(&errors);
		sdnotify_state(SDNOTIFY_READY,
		               "running; the last reload failed (see the "
		               "log), the old configuration is kept");
		return -1;
	}
	restart = service_log_restart(ds->cfg, cfg, "global", NULL);

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
	return restart > 0 ? 1 : 0;
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)reload(arg);
}

int service_reload(struct sbuf *out)
{
	int r;

	if (running == NULL) {
		sbuf_append_str(out, "error the daemon is not running\n");
		return -1;
	}
	report = out;
	r = reload(running);
	report = NULL;
	sbuf_printf(out, "status %s\n",
	            r < 0   ? "failed"
	            : r > 0 ? "partial"
	                    : "ok");
	return r;
}

/*
 * event_base_dispatch(), one round of callbacks at a time: the log lines
 * of a round go out in one write when it ends, before the loop waits
 * again (log.h), rather than one write(2) per line.
 */
static int loop(struct event_base *base)
{
	int r;

	log_batch_start();
	do {
		r = event_base_loop(base, EVLOOP_ONCE);
		log_flush();
	} while (r == 0 && !event_base_got_exit(base) &&
	         !event_base_got_break(base));
	log_batch_stop();
	return r;
}

static int run(struct daemon_state *ds)
{
	static const int stop_signals[] = {SIGTERM, SIGINT};
	struct event *events[3] = {NULL, NULL, NULL};
	char q[LOG_QUOTE_MAX];
	int ret = 1;

	signal(SIGPIPE, SIG_IGN);
	ds->base = evloop_new(); /* aborts rather than return NULL */
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
	running = ds;
	if (loop(ds->base) >= 0)
		ret = 0;
	running = NULL;
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
	bool check_only = false, check_bind = false;
	char *abs_path = NULL;
	int opt, ret;

	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"bind", no_argument, NULL, 'B'},
	    {NULL, 0, NULL, 0},
	};

	while ((opt = getopt_long(argc, argv, "c:tfdhV", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			ds.config_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'B':
			check_bind = true;
			break;
		case 'f':
			ds.foreground = true;
			break;
		case 'd':
			ds.debug = true;
			break;
		case 'h':
			usage(stdout, hooks);
			return 0;
		case 'V':
			printf("%s %s\n", hooks->prog, DIRMX_VERSION);
			return 0;
		default:
			usage(stderr, hooks);
			return 2;
		}
	}
	if (optind != argc ||
	    (check_bind && (!check_only || hooks->check_bind == NULL))) {
		usage(stderr, hooks);
		return 2;
	}
	if (settings_load(ds.config_path, &ds.cfg, &errors) < 0) {
		config_errors_print(&errors, stderr);
		config_errors_clear(&errors);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration OK\n", ds.config_path);
		ret = hooks->check != NULL ? hooks->check(ds.cfg) : 0;
		if (check_bind && ret == 0) {
			fflush(stdout);
			ret = hooks->check_bind(ds.cfg);
		}
		dirmx_config_deinit(&ds.cfg);
		return ret;
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
