/*
 * sdnotify.h - tell the service manager (systemd, Type=notify) where a
 * daemon stands.
 *
 * sdnotify_state() sends READY=1, RELOADING=1 or STOPPING=1 with a STATUS=
 * line to $NOTIFY_SOCKET through libsystemd's sd_notify(). Without
 * NOTIFY_SOCKET (started by hand, by the tests, by another init) it does
 * nothing. A message that cannot be sent is logged at debug level and
 * otherwise ignored: the service manager's view is never a reason to stop
 * serving mail.
 */
#ifndef DIRMX_SDNOTIFY_H
#define DIRMX_SDNOTIFY_H

enum sdnotify_state {
	SDNOTIFY_READY,     /* started, or a reload is over */
	SDNOTIFY_RELOADING, /* SIGHUP: re-reading the configuration */
	SDNOTIFY_STOPPING,  /* leaving the event loop */
};

/* status_fmt: the STATUS= text (printf format; one line, NULL: none). */
void sdnotify_state(enum sdnotify_state state, const char *status_fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
