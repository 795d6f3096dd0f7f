/*
 * sdnotify - READY/RELOADING/STOPPING for systemd; see sdnotify.h.
 *
 * libsystemd's sd_notify() does the protocol (the abstract-namespace
 * socket names, the credentials, the no-op without NOTIFY_SOCKET): it is
 * the one maintained implementation, so none is written here.
 */
#include "sdnotify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

static const char *state_line(enum sdnotify_state state)
{
	switch (state) {
	case SDNOTIFY_READY:
		return "READY=1";
	case SDNOTIFY_RELOADING:
		return "RELOADING=1";
	case SDNOTIFY_STOPPING:
		return "STOPPING=1";
	}
	return "";
}

void sdnotify_state(enum sdnotify_state state, const char *status_fmt, ...)
{
	char status[256] = "";
	char msg[512];
	struct timespec ts;
	uint64_t usec;
	va_list ap;
	int r;

	if (status_fmt != NULL) {
		va_start(ap, status_fmt);
		vsnprintf(status, sizeof(status), status_fmt, ap);
		va_end(ap);
		status[strcspn(status, "\n")] = '\0';
	}
	/* systemd (Type=notify-reload, v253) wants the reload's start time
	 * on the monotonic clock; older versions ignore the field. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (state == SDNOTIFY_RELOADING)
		snprintf(msg, sizeof(msg), "%s\nMONOTONIC_USEC=%" PRIu64 "%s%s",
		         state_line(state), usec, status[0] ? "\nSTATUS=" : "",
		         status);
	else
		snprintf(msg, sizeof(msg), "%s%s%s", state_line(state),
		         status[0] ? "\nSTATUS=" : "", status);
	r = sd_notify(0, msg);
	if (r < 0)
		log_debug(NULL, "event=sd_notify status=failed error=\"%s\"",
		          strerror(-r));
}
