/*
 * log - event logging to syslog or stderr.
 *
 * Each line goes out whole in a single write(2), so that lines from
 * concurrent processes sharing stderr do not interleave. The pid in each
 * stderr line is read once in log_init(), not per line (getpid(2) is a
 * real system call); a forked child reads it again for every line until
 * it calls log_init() itself.
 *
 * A daemon's event loop may batch its lines (log_batch_start): the thread
 * that started the batch then appends whole lines to one PIPE_BUF-sized
 * block, written with one write(2) when the next line would not fit and
 * at log_flush(), which the loop calls after every round of callbacks,
 * before it waits again (service.c). A write of at most PIPE_BUF octets
 * to a pipe is atomic, so batched lines still never interleave with
 * another writer's. Error and warning lines flush the block at once, and
 * other threads (the spool's worker) write their lines directly. What a
 * crash can lose is the lines of the round it crashes in.
 */
#include "log.h"
#include "str.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "dirmx";
static enum log_dest log_destination = LOG_DEST_STDERR;
static enum log_level log_threshold = LOG_LEVEL_INFO;
static pid_t log_pid; /* 0: unknown (before log_init, or after a fork) */

static const char *const level_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

/* The last second's "YYYY-MM-DDTHH:MM:SS", per thread. */
static _Thread_local time_t stamp_sec;
static _Thread_local size_t stamp_len;
static _Thread_local char stamp[32];

/* The batch (log_batch_start): only the thread that started it sees
 * batching set, so only that thread ever touches the block. */
static _Thread_local bool batching;
static struct {
	size_t len;
	char data[PIPE_BUF];
} batch;

static void log_forget_pid(void)
{
	log_pid = 0;
	/* The parent writes what it batched: a child must not again. */
	batching = false;
	batch.len = 0;
}

static void write_out(const char *p, size_t n)
{
	/* Nothing useful can be done when stderr is gone. */
	if (n > 0 && write(STDERR_FILENO, p, n) < 0)
		return;
}

void log_flush(void)
{
	if (!batching)
		return;
	write_out(batch.data, batch.len);
	batch.len = 0;
}

static void log_flush_at_exit(void)
{
	log_flush();
}

void log_batch_start(void)
{
	static bool atexit_set;

	if (!atexit_set && atexit(log_flush_at_exit) == 0)
		atexit_set = true;
	log_flush();
	batch.len = 0;
	batching = true;
}

void log_batch_stop(void)
{
	log_flush();
	batching = false;
}

/* One whole line (n <= sizeof(batch.data)), batched or written now. */
static void emit(enum log_level level, const char *line, size_t n)
{
	if (!batching) {
		write_out(line, n);
		return;
	}
	if (batch.len + n > sizeof(batch.data))
		log_flush();
	memcpy(batch.data + batch.len, line, n);
	batch.len += n;
	if (level <= LOG_LEVEL_WARN)
		log_flush();
}

void log_init(const char *ident, enum log_dest dest, enum log_level level)
{
	static bool atfork_set;

	if (!atfork_set && pthread_atfork(NULL, NULL, log_forget_pid) == 0)
		atfork_set = true;
	log_pid = atfork_set ? getpid() : 0;
	if (log_destination == LOG_DEST_SYSLOG)
		closelog();
	log_ident = ident;
	log_destination = dest;
	log_threshold = level;
	if (dest == LOG_DEST_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level log_get_level(void)
{
	return log_threshold;
}

bool log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

bool log_level_parse(const char *s, enum log_level *level_r)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return true;
		}
	}
	return false;
}

const char *log_level_name(enum log_level level)
{
	if ((size_t)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "unknown";
}

static int syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return LOG_ERR;
	case LOG_LEVEL_WARN:
		return LOG_WARNING;
	case LOG_LEVEL_INFO:
		return LOG_INFO;
	case LOG_LEVEL_DEBUG:
		break;
	}
	return LOG_DEBUG;
}

void log_vmsg(enum log_level level, const char *id, const char *fmt, va_list ap)
{
	char line[PIPE_BUF];
	size_t n = 0, cap = sizeof(line) - 1;
	int r;

	if (!log_enabled(level))
		return;
	if (log_destination == LOG_DEST_STDERR) {
		struct timespec ts;
		struct tm tm;
		pid_t pid = log_pid != 0 ? log_pid : getpid();

		clock_gettime(CLOCK_REALTIME, &ts);
		/* The date and time change once a second, not per line. */
		if (ts.tv_sec != stamp_sec || stamp_len == 0) {
			gmtime_r(&ts.tv_sec, &tm);
			stamp_len = strftime(stamp, sizeof(stamp),
			                     "%Y-%m-%dT%H:%M:%S", &tm);
			stamp_sec = ts.tv_sec;
		}
		memcpy(line, stamp, stamp_len);
		n = stamp_len;
		r = snprintf(line + n, cap - n,
		             ".%03ldZ %s[%ld]: %s: ", ts.tv_nsec / 1000000,
		             log_ident, (long)pid, level_names[level]);
		if (r > 0)
			n += (size_t)r < cap - n ? (size_t)r : cap - n;
	}
	r = snprintf(line + n, cap - n, "%s ",
	             id != NULL && *id != '\0' ? id : "-");
	if (r > 0)
		n += (size_t)r < cap - n ? (size_t)r : cap - n;
	r = vsnprintf(line + n, cap - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < cap - n ? (size_t)r : cap - n;
	/* A message must never contain its own line break. */
	for (size_t i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	if (log_destination == LOG_DEST_SYSLOG) {
		line[n] = '\0';
		syslog(syslog_priority(level), "%s", line);
		return;
	}
	line[n++] = '\n';
	emit(level, line, n);
}

void log_msg(enum log_level level, const char *id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, id, fmt, ap);
	va_end(ap);
}

const char *log_quote(char buf[static LOG_QUOTE_MAX], const char *s, size_t len)
{
	/* Room kept for a 4-byte escape, "...", the closing quote and NUL. */
	const size_t limit = LOG_QUOTE_MAX - 9;
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= limit) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = str_hex_digit(c >> 4, STR_HEX_LOWER);
			buf[o++] = str_hex_digit(c, STR_HEX_LOWER);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
