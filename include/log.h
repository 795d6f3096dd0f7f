/*
 * log.h - one line per event, to syslog or stderr.
 *
 * Every line is "<id> key=value key=value ...": the queue ID, session ID or
 * request ID first (or "-" when there is none), then key=value pairs. The
 * format is printf-checked. Strings that come from the network or the
 * directory must go through log_quote() so they can neither break the line
 * nor forge a key; passwords, tickets and AUTH lines are never logged.
 *
 * log_init() may be called again (after parsing the configuration) to
 * change destination or level. Logging never fails visibly.
 *
 * Batching (stderr only): after log_batch_start(), the calling thread's
 * info and debug lines are kept in a block of up to PIPE_BUF octets of
 * whole lines and written with one write(2) when it is full, at
 * log_flush(), at log_batch_stop() and at exit(); an error or warning
 * line writes the block and itself at once. The event loop flushes after
 * every round of callbacks, so a line waits at most until the loop next
 * waits. Lines of other threads are written at once, as without a batch.
 */
#ifndef DIRMX_LOG_H
#define DIRMX_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_dest {
	LOG_DEST_STDERR = 0,
	LOG_DEST_SYSLOG,
};

void log_init(const char *ident, enum log_dest dest, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* Parse "error", "warn", "info", "debug"; false when unknown. */
bool log_level_parse(const char *s, enum log_level *level_r);
const char *log_level_name(enum log_level level);

void log_batch_start(void);
void log_batch_stop(void);
/* Write the batched lines now (no-op without a batch of this thread). */
void log_flush(void);

void log_msg(enum log_level level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *id, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_error(id, ...) log_msg(LOG_LEVEL_ERROR, (id), __VA_ARGS__)
#define log_warn(id, ...) log_msg(LOG_LEVEL_WARN, (id), __VA_ARGS__)
#define log_info(id, ...) log_msg(LOG_LEVEL_INFO, (id), __VA_ARGS__)
#define log_debug(id, ...)                                                     \
	do {                                                                   \
		if (log_enabled(LOG_LEVEL_DEBUG))                              \
			log_msg(LOG_LEVEL_DEBUG, (id), __VA_ARGS__);           \
	} while (0)

#define LOG_QUOTE_MAX 256

/*
 * Quote an untrusted string for use as a value: the result is always in
 * double quotes, with '"' and '\\' escaped, control and non-ASCII bytes as
 * \xNN, and cut at LOG_QUOTE_MAX - 1 bytes with "..." marking the cut.
 * Returns buf.
 */
const char *log_quote(char buf[static LOG_QUOTE_MAX], const char *s,
                      size_t len);
#define log_quote_str(buf, s) log_quote((buf), (s), strlen(s))

#endif
