/*
 * service.h - the process shell shared by authd and routerd.
 *
 * service_main() parses the command line (-c FILE, -t, -f, -d, -h, -V),
 * loads and checks the configuration (-t: report and exit 0/1), detaches
 * unless -f, sets up logging, the libevent loop and the signals (TERM and
 * INT stop, HUP re-reads the configuration and keeps the old one when the
 * new one is bad), then hands the loop to the daemon's hooks. It tells
 * systemd (sdnotify.h) READY=1 once start() succeeded, RELOADING=1 then
 * READY=1 around a SIGHUP, STOPPING=1 on TERM/INT.
 *
 * The configuration passed to start() and reload() is freed after a later
 * reload: a hook copies what it keeps.
 */
#ifndef DIRMX_SERVICE_H
#define DIRMX_SERVICE_H

#include <stddef.h>

struct event_base;
struct dirmx_config;

struct service_hooks {
	const char *prog;
	/* Add the daemon's events to base; -1 (after logging why) stops. */
	int (*start)(struct event_base *base, const struct dirmx_config *cfg,
	             void **state_r);
	/* The file was re-read and is good: apply what can change, log
	 * each changed setting that needs a restart (service_log_restart)
	 * and return how many did. old: the configuration until now. */
	size_t (*reload)(void *state, const struct dirmx_config *old,
	                 const struct dirmx_config *cfg);
	/* Leaving the loop: free everything start() made. */
	void (*stop)(void *state);
};

/*
 * Log event=reload_needs_restart for every setting of section (listener:
 * see settings_changed()) that differs between old and cfg and is not
 * named in applied (a NULL-terminated list, or NULL). Returns how many.
 */
size_t service_log_restart(const struct dirmx_config *old,
                           const struct dirmx_config *cfg, const char *section,
                           const char *listener, const char *const *applied);

/* Returns the process exit status. */
int service_main(int argc, char **argv, const struct service_hooks *hooks);

#endif
