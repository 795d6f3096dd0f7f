/*
 * config - table-driven parser for dirmx's INI-like configuration files.
 *
 * config_parse_buffer() walks the text line by line through the bounded
 * buf cursor, looks every section and setting up in the caller's table,
 * hands the value to config-value.c, which converts it by its type and
 * stores it at the setting's offset. It reports every error it finds with
 * file and line, then runs the table's cross-checks when there were none.
 * config_load_file() only reads the file into memory.
 */
#include "config_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"

/* ---- errors ------------------------------------------------------------ */

void config_errors_add(struct config_errors *errors, const char *fmt, ...)
{
	va_list ap;

	if (errors->count >= CONFIG_ERRORS_MAX) {
		errors->truncated = true;
		return;
	}
	errors->msgs = alloc_resize(errors->msgs, errors->count + 1,
	                            sizeof(*errors->msgs));
	va_start(ap, fmt);
	errors->msgs[errors->count++] = alloc_vprintf(fmt, ap);
	va_end(ap);
}

void config_errors_print(const struct config_errors *errors, FILE *out)
{
	for (size_t i = 0; i < errors->count; i++)
		fprintf(out, "%s\n", errors->msgs[i]);
	if (errors->truncated)
		fprintf(out, "(more than %d errors; the rest are not shown)\n",
		        CONFIG_ERRORS_MAX);
}

void config_errors_clear(struct config_errors *errors)
{
	for (size_t i = 0; i < errors->count; i++)
		free(errors->msgs[i]);
	free(errors->msgs);
	errors->msgs = NULL;
	errors->count = 0;
	errors->truncated = false;
}

/* ---- values ------------------------------------------------------------ */

static bool is_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static bool is_host_char(uint8_t c)
{
	return is_name_char(c) || c == '-' || c == '.';
}

/* Consume bytes while pred holds; returns how many, *p_r points at them. */
static size_t fetch_while(struct buf *b, bool (*pred)(uint8_t),
                          const unsigned char **p_r)
{
	uint8_t c;

	buf_tag(b);
	while (buf_peek_u8(b, &c) && pred(c))
		buf_skip(b, 1);
	*p_r = buf_tag_data(b);
	return buf_tag_len(b);
}

static void skip_ws(struct buf *b)
{
	uint8_t c;

	while (buf_peek_u8(b, &c) && (c == ' ' || c == '\t'))
		buf_skip(b, 1);
}

/* ---- parse state ------------------------------------------------------- */

struct parse_state {
	const struct config_table *table;
	const char *file;
	void *dest;
	struct config_errors *errors;
	unsigned int line;
	bool seen_section;
	const struct config_section *sec;    /* NULL: none or an unknown one */
	size_t inst;                         /* named: index of the instance */
	unsigned int *lines;                 /* where each setting was set */
	unsigned int **unnamed_lines;        /* per section of the table */
	unsigned int *inst_lines;            /* the open named instance's */
	char label[2 * CONFIG_LINE_MAX + 8]; /* "[section]" or "[type name]" */
};

static size_t count_settings(const struct config_section *sec)
{
	size_t n = 0;

	while (sec->settings[n].name != NULL)
		n++;
	return n;
}

static void *section_base(struct parse_state *st)
{
	const struct config_section *sec = st->sec;

	if (!sec->named)
		return (char *)st->dest + sec->offset;
	return *(char **)((char *)st->dest + sec->offset) +
	       st->inst * sec->instance_size;
}

static void apply_defaults(struct parse_state *st,
                           const struct config_section *sec, void *base)
{
	for (const struct config_setting *s = sec->settings; s->name != NULL;
	     s++) {
		char *error;

		if (s->default_value == NULL)
			continue;
		error = config_value_set(s, base, s->default_value, false);
		if (error != NULL) {
			config_errors_add(st->errors,
			                  "%s: internal error: default of "
			                  "[%s] %s: %s",
			                  st->file, sec->name, s->name, error);
			free(error);
		}
	}
}

static void check_required(struct parse_state *st, unsigned int line)
{
	const struct config_setting *settings = st->sec->settings;

	for (size_t i = 0; settings[i].name != NULL; i++) {
		if (settings[i].required && st->lines[i] == 0)
			config_errors_add(st->errors,
			                  "%s:%u: %s missing required setting "
			                  "'%s'",
			                  st->file, line, st->label,
			                  settings[i].name);
	}
}

/* Leave the current section; a named instance is complete now. */
static void section_close(struct parse_state *st)
{
	if (st->sec != NULL && st->sec->named) {
		void *inst = section_base(st);

		check_required(
		    st, *(unsigned int *)((char *)inst + st->sec->line_offset));
	}
	free(st->inst_lines);
	st->inst_lines = NULL;
	st->sec = NULL;
}

/* Levenshtein distance, for "did you mean"; names are short. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static bool close_enough(const char *typo, const char *name)
{
	size_t d = distance(typo, name);

	return d <= 2 && d < strlen(name);
}

/* ---- lines ------------------------------------------------------------- */

static const struct config_section *find_section(struct parse_state *st,
                                                 const char *name)
{
	for (const struct config_section *sec = st->table->sections;
	     sec->name != NULL; sec++) {
		if (strcmp(sec->name, name) == 0)
			return sec;
	}
	return NULL;
}

static void unknown_section(struct parse_state *st, const char *name)
{
	const char *hint = NULL;

	for (const struct config_section *sec = st->table->sections;
	     sec->name != NULL && hint == NULL; sec++) {
		if (close_enough(name, sec->name))
			hint = sec->name;
	}
	if (hint != NULL)
		config_errors_add(st->errors,
		                  "%s:%u: unknown section [%s] (did you mean "
		                  "[%s]?)",
		                  st->file, st->line, name, hint);
	else
		config_errors_add(st->errors, "%s:%u: unknown section [%s]",
		                  st->file, st->line, name);
}

static void open_instance(struct parse_state *st,
                          const struct config_section *sec, const char *name)
{
	char **arr = (char **)((char *)st->dest + sec->offset);
	size_t *count = (size_t *)((char *)st->dest + sec->count_offset);
	char *inst;

	for (size_t i = 0; i < *count; i++) {
		inst = *arr + i * sec->instance_size;
		if (strcmp(*(char **)(inst + sec->name_offset), name) == 0) {
			config_errors_add(
			    st->errors,
			    "%s:%u: duplicate section [%s %s], first at "
			    "line %u",
			    st->file, st->line, sec->name, name,
			    *(unsigned int *)(inst + sec->line_offset));
			return;
		}
	}
	*arr = alloc_resize(*arr, *count + 1, sec->instance_size);
	inst = *arr + *count * sec->instance_size;
	memset(inst, 0, sec->instance_size);
	*(char **)(inst + sec->name_offset) = alloc_strdup(name);
	*(unsigned int *)(inst + sec->line_offset) = st->line;
	st->sec = sec;
	st->inst = (*count)++;
	st->inst_lines =
	    alloc_array(count_settings(sec) + 1, sizeof(*st->inst_lines));
	memset(st->inst_lines, 0,
	       (count_settings(sec) + 1) * sizeof(*st->inst_lines));
	st->lines = st->inst_lines;
	apply_defaults(st, sec, inst);
}

static void parse_section(struct parse_state *st, struct buf *b)
{
	const unsigned char *p;
	char type[CONFIG_LINE_MAX + 1], name[CONFIG_LINE_MAX + 1];
	const struct config_section *sec;
	size_t n;

	section_close(st);
	st->seen_section = true;
	skip_ws(b);
	n = fetch_while(b, is_name_char, &p);
	memcpy(type, p, n);
	type[n] = '\0';
	skip_ws(b);
	n = fetch_while(b, is_host_char, &p);
	memcpy(name, p, n);
	name[n] = '\0';
	skip_ws(b);
	if (type[0] == '\0' || !buf_consume_char(b, ']') ||
	    (skip_ws(b), buf_remaining(b) > 0)) {
		config_errors_add(st->errors,
		                  "%s:%u: malformed section header (expected "
		                  "[section] or [section name])",
		                  st->file, st->line);
		return;
	}
	sec = find_section(st, type);
	if (sec == NULL) {
		unknown_section(st, type);
		return;
	}
	if (sec->named && name[0] == '\0') {
		config_errors_add(st->errors,
		                  "%s:%u: section [%s] needs a name, e.g. "
		                  "[%s main]",
		                  st->file, st->line, type, type);
		return;
	}
	if (!sec->named && name[0] != '\0') {
		config_errors_add(st->errors,
		                  "%s:%u: section [%s] takes no name", st->file,
		                  st->line, type);
		return;
	}
	if (sec->named) {
		snprintf(st->label, sizeof(st->label), "[%s %s]", type, name);
		open_instance(st, sec, name);
		return;
	}
	snprintf(st->label, sizeof(st->label), "[%s]", type);
	st->sec = sec;
	st->lines = st->unnamed_lines[sec - st->table->sections];
}

static void unknown_setting(struct parse_state *st, const char *key)
{
	const struct config_setting *s = st->sec->settings;
	const char *elsewhere = NULL;

	for (; s->name != NULL; s++) {
		if (close_enough(key, s->name)) {
			config_errors_add(st->errors,
			                  "%s:%u: %s unknown setting '%s' "
			                  "(did you mean '%s'?)",
			                  st->file, st->line, st->label, key,
			                  s->name);
			return;
		}
	}
	for (const struct config_section *sec = st->table->sections;
	     sec->name != NULL && elsewhere == NULL; sec++) {
		for (s = sec->settings; s->name != NULL; s++) {
			if (strcmp(s->name, key) == 0)
				elsewhere = sec->name;
		}
	}
	if (elsewhere != NULL)
		config_errors_add(st->errors,
		                  "%s:%u: %s unknown setting '%s' (it belongs "
		                  "in [%s])",
		                  st->file, st->line, st->label, key,
		                  elsewhere);
	else
		config_errors_add(st->errors, "%s:%u: %s unknown setting '%s'",
		                  st->file, st->line, st->label, key);
}

/* The value after '=': quoted with escapes, or the trimmed rest. */
static bool parse_value(struct parse_state *st, struct buf *b, const char *key,
                        char *out, bool *quoted_r)
{
	size_t n = 0;
	bool closed = false;
	uint8_t c;

	skip_ws(b);
	*quoted_r = buf_consume_char(b, '"');
	while (buf_fetch_u8(b, &c)) {
		if (*quoted_r && c == '"') {
			closed = true;
			break;
		}
		if (*quoted_r && c == '\\') {
			if (!buf_fetch_u8(b, &c) || (c != '"' && c != '\\')) {
				config_errors_add(st->errors,
				                  "%s:%u: %s: invalid escape "
				                  "in quoted value (only \\\" "
				                  "and \\\\)",
				                  st->file, st->line, key);
				return false;
			}
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			config_errors_add(st->errors,
			                  "%s:%u: %s: control character in "
			                  "value",
			                  st->file, st->line, key);
			return false;
		}
		out[n++] = (char)c;
	}
	if (*quoted_r && !closed) {
		config_errors_add(st->errors,
		                  "%s:%u: %s: unterminated quoted value",
		                  st->file, st->line, key);
		return false;
	}
	if (*quoted_r) {
		skip_ws(b);
		if (buf_remaining(b) > 0) {
			config_errors_add(st->errors,
			                  "%s:%u: %s: unexpected text after "
			                  "the closing quote",
			                  st->file, st->line, key);
			return false;
		}
	}
	while (!*quoted_r && n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	out[n] = '\0';
	return true;
}

static void parse_setting(struct parse_state *st, struct buf *b)
{
	const unsigned char *p;
	char key[CONFIG_LINE_MAX + 1], value[CONFIG_LINE_MAX + 1], *error;
	const struct config_setting *s;
	bool quoted;
	size_t n = fetch_while(b, is_name_char, &p), i;

	memcpy(key, p, n);
	key[n] = '\0';
	skip_ws(b);
	if (n == 0) {
		config_errors_add(st->errors,
		                  "%s:%u: expected a setting name (letters, "
		                  "digits and '_') or a [section]",
		                  st->file, st->line);
		return;
	}
	if (!buf_consume_char(b, '=')) {
		config_errors_add(st->errors,
		                  buf_remaining(b) == 0
		                      ? "%s:%u: missing '=' after '%s'"
		                      : "%s:%u: expected '=' after '%s' "
		                        "(setting names are letters, "
		                        "digits and '_')",
		                  st->file, st->line, key);
		return;
	}
	if (!parse_value(st, b, key, value, &quoted))
		return;
	if (st->sec == NULL) {
		if (!st->seen_section)
			config_errors_add(st->errors,
			                  "%s:%u: setting '%s' before any "
			                  "[section]",
			                  st->file, st->line, key);
		return; /* else in a bad section, already reported */
	}
	for (i = 0, s = st->sec->settings; s->name != NULL; s++, i++) {
		if (strcmp(s->name, key) == 0)
			break;
	}
	if (s->name == NULL) {
		unknown_setting(st, key);
		return;
	}
	if (st->lines[i] != 0 && s->type != CONFIG_LIST) {
		config_errors_add(
		    st->errors, "%s:%u: %s '%s' already set at line %u",
		    st->file, st->line, st->label, key, st->lines[i]);
		return;
	}
	/* The file's first occurrence replaces a list's default. */
	if (st->lines[i] == 0 && s->type == CONFIG_LIST)
		config_value_list_clear(
		    (struct config_list *)((char *)section_base(st) +
		                           s->offset));
	st->lines[i] = st->line;
	error = config_value_set(s, section_base(st), value, quoted);
	if (error != NULL) {
		config_errors_add(st->errors, "%s:%u: %s %s: %s", st->file,
		                  st->line, st->label, key, error);
		free(error);
	}
}

static void parse_line(struct parse_state *st, const unsigned char *p, size_t n)
{
	struct buf b;
	uint8_t c;

	buf_init(&b, p, n);
	skip_ws(&b);
	if (!buf_peek_u8(&b, &c) || c == '#')
		return;
	if (buf_consume_char(&b, '['))
		parse_section(st, &b);
	else
		parse_setting(st, &b);
}

int config_parse_buffer(const struct config_table *table, const void *text,
                        size_t len, const char *filename, void *dest,
                        struct config_errors *errors)
{
	struct parse_state *st = alloc_new(struct parse_state);
	size_t nsec = 0, errors_before = errors->count;
	struct buf b;
	int ret;

	st->table = table;
	st->file = filename;
	st->dest = dest;
	st->errors = errors;
	while (table->sections[nsec].name != NULL)
		nsec++;
	st->unnamed_lines = alloc_array(nsec + 1, sizeof(*st->unnamed_lines));
	for (size_t i = 0; i < nsec; i++) {
		size_t n = count_settings(&table->sections[i]) + 1;

		st->unnamed_lines[i] = alloc_array(n, sizeof(unsigned int));
		memset(st->unnamed_lines[i], 0, n * sizeof(unsigned int));
		if (!table->sections[i].named)
			apply_defaults(st, &table->sections[i],
			               (char *)dest +
			                   table->sections[i].offset);
	}

	buf_init(&b, text, len);
	while (buf_remaining(&b) > 0) {
		const unsigned char *p;
		size_t n = buf_fetch_until(&b, "\n", &p);

		buf_consume_char(&b, '\n');
		st->line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX)
			config_errors_add(errors,
			                  "%s:%u: line longer than %d bytes",
			                  filename, st->line, CONFIG_LINE_MAX);
		else if (memchr(p, '\0', n) != NULL)
			config_errors_add(errors, "%s:%u: NUL byte in line",
			                  filename, st->line);
		else
			parse_line(st, p, n);
	}
	section_close(st);
	for (size_t i = 0; i < nsec; i++) {
		st->sec = &table->sections[i];
		st->lines = st->unnamed_lines[i];
		snprintf(st->label, sizeof(st->label), "[%s]", st->sec->name);
		if (!st->sec->named)
			check_required(st, 0);
		free(st->unnamed_lines[i]);
	}
	free(st->unnamed_lines);
	free(st);

	if (errors->count == errors_before && !errors->truncated &&
	    table->check != NULL)
		table->check(dest, filename, errors);
	ret = errors->count == errors_before && !errors->truncated ? 0 : -1;
	return ret;
}

int config_load_file(const struct config_table *table, const char *path,
                     void *dest, struct config_errors *errors)
{
	char *text = NULL;
	size_t len = 0;
	struct stat sb;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		config_errors_add(errors, "%s: cannot open: %s", path,
		                  strerror(errno));
		goto done;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > CONFIG_FILE_MAX) {
		config_errors_add(errors,
		                  "%s: not a regular file of at most %d bytes",
		                  path, CONFIG_FILE_MAX);
		goto done;
	}
	text = alloc_zero((size_t)sb.st_size + 1);
	while (len < (size_t)sb.st_size) {
		ssize_t r = read(fd, text + len, (size_t)sb.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			config_errors_add(errors, "%s: read failed: %s", path,
			                  strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	ret = config_parse_buffer(table, text, len, path, dest, errors);
done:
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}
