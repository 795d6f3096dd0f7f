/*
 * config.h - table-driven parser for INI-like configuration files.
 *
 * A program describes its configuration as a table (struct config_table):
 * sections, and in each section settings with a name, a type, a textual
 * default, where the value goes (offsetof into a struct) and an optional
 * validator. config_parse_buffer() is a pure function over a memory buffer
 * (no files, no logging); config_load_file() is the thin shell that reads
 * a file and calls it.
 *
 * Format:
 *   # comment            whole-line comments only
 *   [section]            an unnamed section (may appear more than once)
 *   [type NAME]          an instance of a repeated section type
 *   key = value          value is the rest of the line, trimmed
 *   key = "va\"lue"      quoted: \" and \\ escapes, nothing after the quote
 * A list setting appends on every occurrence; an unquoted list value is
 * also split on commas. Any other setting given twice is an error.
 *
 * Errors: every problem found is appended to a struct config_errors as
 * "FILE:LINE: message" (at most CONFIG_ERRORS_MAX of them); parsing goes
 * on after an error so that one run reports them all. The config_errors
 * owns its strings; free them with config_errors_clear().
 *
 * Ownership: the destination struct is owned by the caller; the parser
 * fills it with allocated strings, lists and instance arrays which
 * config_free() releases. The destination is always left freeable, also
 * when parsing fails.
 */
#ifndef DIRMX_CONFIG_H
#define DIRMX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_LINE_MAX 4096
#define CONFIG_ERRORS_MAX 100
#define CONFIG_FILE_MAX (1024 * 1024)

enum config_type {
	CONFIG_STRING,   /* char *, any text */
	CONFIG_PATH,     /* char *, an absolute path */
	CONFIG_BOOL,     /* bool: yes/no, true/false, on/off */
	CONFIG_UINT,     /* unsigned int within min..max */
	CONFIG_DURATION, /* uint64_t milliseconds: 500ms, 30s, 5m, 1h, 2d */
	CONFIG_SIZE,     /* uint64_t bytes: 512, 512k, 10M, 1G (1024-based) */
	CONFIG_ENUM,     /* int, from a table of names */
	CONFIG_LIST,     /* struct config_list of strings */
	CONFIG_HOSTPORT, /* struct config_hostport: host[:port], [v6]:port */
};

struct config_list {
	char **items;
	size_t count;
};

struct config_hostport {
	char *host;        /* without brackets; NULL when not set */
	unsigned int port; /* 0 when the value named no port */
	bool literal;      /* written in [brackets]: no MX lookup */
};

/* Several names may map to the same value (aliases); ends with name NULL. */
struct config_enum_value {
	const char *name;
	int value;
};

/*
 * A validator sees the unquoted value (for a list: each item) after the
 * type's own parsing accepted it. On rejection it sets *error_r to a
 * static message that is added to the error line.
 */
typedef bool config_validator_fn(const char *value, const char **error_r);

struct config_setting {
	const char *name;
	enum config_type type;
	size_t offset;
	const char *default_value; /* parsed like a value; NULL: none */
	uint64_t min, max; /* UINT, DURATION (ms), SIZE; max 0: no limit */
	const struct config_enum_value *enum_values;
	config_validator_fn *validate;
	bool required;
};

struct config_section {
	const char *name;
	const struct config_setting *settings; /* ends with name NULL */
	/* Unnamed: the settings' offsets are relative to dest + offset. */
	size_t offset;
	/*
	 * Named (repeated) sections: dest + offset holds a pointer to an
	 * array of count_offset instances of instance_size bytes each; the
	 * instance's name (char *) and its header's line (unsigned int) go
	 * at name_offset and line_offset inside each instance.
	 */
	bool named;
	size_t count_offset;
	size_t instance_size;
	size_t name_offset;
	size_t line_offset;
};

struct config_errors {
	char **msgs;
	size_t count;
	bool truncated; /* more errors than CONFIG_ERRORS_MAX were found */
};

struct config_table {
	const struct config_section *sections; /* ends with name NULL */
	/*
	 * Cross-checks, run once the whole file parsed without error; they
	 * add their own errors (config_errors_add()) and may fill derived
	 * values. Returns false when the configuration is not usable.
	 */
	bool (*check)(void *dest, const char *filename,
	              struct config_errors *errors);
};

/*
 * Parse len bytes of text (need not be NUL-terminated) into dest, which
 * must be zeroed. Defaults are applied first. Returns 0 when the text is a
 * valid configuration, -1 when errors were added.
 */
int config_parse_buffer(const struct config_table *table, const void *text,
                        size_t len, const char *filename, void *dest,
                        struct config_errors *errors);

/* Read path (at most CONFIG_FILE_MAX bytes) and parse it as above. */
int config_load_file(const struct config_table *table, const char *path,
                     void *dest, struct config_errors *errors);

/* Free everything the parser allocated in dest and zero those fields. */
void config_free(const struct config_table *table, void *dest);
/* The names (static) of the settings whose values differ between two
 * loaded instances a and b of settings; at most max. */
size_t config_changed(const struct config_setting *settings, const void *a,
                      const void *b, const char **names_r, size_t max);

/*
 * Parse "host", "host:port", "[host]", "[host]:port" or a bare IPv6
 * address; host may be a name, IPv4 or IPv6 (IPv6 with a port needs the
 * brackets). hp_r->host is allocated; *error_r is static.
 */
bool config_parse_hostport(const char *value, struct config_hostport *hp_r,
                           const char **error_r);

/* The first name of value in an enum table, or "?" */
const char *config_enum_name(const struct config_enum_value *values, int value);

void config_errors_add(struct config_errors *errors, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* One error per line, as added. */
void config_errors_print(const struct config_errors *errors, FILE *out);
void config_errors_clear(struct config_errors *errors);

#endif
