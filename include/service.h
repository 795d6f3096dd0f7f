/*
 * service.h - the process shell shared by authd and routerd.
 *
 * service_main() parses the command line (-c FILE, -t, -t --bind, -f, -d,
 * -h or --help, -V or --version),
 * loads and checks the configuration (-t: report and exit 0/1; with --bind
 * the daemon's check_bind hook then tries it for real), detaches
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
	/* -t: the file is good; check what only this daemon may read (authd:
	 * the SMTP keytab) and return the exit status. NULL: nothing. */
	int (*check)(const struct dirmx_config *cfg);
	/* -t --bind: the file is good; try it against the servers it names
	 * and return the exit status. NULL: the daemon has no --bind. */
	int (*check_bind)(const struct dirmx_config *cfg);
};

/*
 * Log event=reload_needs_restart for every setting of section (listener:
 * see settings_changed()) that differs between old and cfg and that a
 * reload does not apply (settings_reloadable()). Returns how many.
 */
size_t service_log_restart(const struct dirmx_config *old,
                           const struct dirmx_config *cfg, const char *section,
                           const char *listener);

/* The same, and the report line, for a change that is not one setting of
 * the table (a listener added or removed). */
void service_needs_restart(const char *section, const char *listener,
                           const char *setting);

/*
 * Re-read the configuration now, as SIGHUP does (dirmxctl reload), and
 * append the report to out, one line each:
 *   "applied SECTION NAME" / "applied listener LNAME NAME"
 *   "restart SECTION NAME" / "restart listener LNAME NAME"  (changed,
 *                                           but applies at the next start)
 *   "error TEXT"                            (the file is bad: nothing
 *                                           changed; TEXT names file, line)
 * and last "status ok|partial|failed". Returns 0, 1 (partial) or -1.
 */
struct sbuf;
int service_reload(struct sbuf *out);

/* Returns the process exit status. */
int service_main(int argc, char **argv, const struct service_hooks *hooks);

#endif
