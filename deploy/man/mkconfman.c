/*
 * mkconfman - writes dirmx.conf(5) from the settings table and the sample
 * configuration, so that the page, the sample and the parser cannot
 * disagree.
 *
 * mkconfman TEMPLATE SAMPLE -o OUT     write the page
 * mkconfman TEMPLATE SAMPLE --check PAGE
 *                                      exit 1 unless PAGE is what -o writes
 *
 * TEMPLATE is the hand-written part of the page (roff, man(7) macros) with
 * two marker lines: ".\" @SETTINGS@" becomes one subsection per section of
 * the table, one entry per setting, and ".\" @RELOAD@" the list of the
 * settings a SIGHUP applies. Each entry's type, unit, range, default,
 * which daemon reads it and what SIGHUP does come from the table
 * (lib/settings.c: settings_table, settings_readers(),
 * settings_reloadable()); the prose comes from the sample, where each run
 * of comment lines describes the settings lines that follow it.
 *
 * Errors (exit 1, one line on stderr each): a setting of the table that
 * the sample does not show, a "#name = value" line in the sample naming
 * no setting of its section, a template without its markers.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "settings.h"

#define MAX_LINES 4096

/* The sample, cut into lines (owned by the file's buffer). */
struct sample {
	char *text;
	char *lines[MAX_LINES];
	size_t n;
};

static int errors;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkconfman: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errors++;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	size_t n;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	text = alloc_zero(1024 * 1024);
	n = fread(text, 1, 1024 * 1024 - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void sample_read(struct sample *s, const char *path)
{
	char *p;

	s->text = read_file(path);
	for (p = s->text; *p != '\0' && s->n < MAX_LINES;) {
		char *nl = strchr(p, '\n');

		s->lines[s->n++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
}

/* ---- roff output ------------------------------------------------------ */

/* Text as one roff text line: backslashes escaped, no leading control
 * character, hyphens of options and values kept as minus signs. */
static void roff_text(FILE *out, const char *text)
{
	if (*text == '.' || *text == '\'')
		fputs("\\&", out);
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\e", out);
		else if (*p == '-')
			fputs("\\-", out);
		else
			fputc(*p, out);
	}
}

static void roff_line(FILE *out, const char *text)
{
	roff_text(out, text);
	fputc('\n', out);
}

/* A duration in milliseconds, in the largest unit that divides it. */
static void put_duration(FILE *out, uint64_t ms)
{
	static const struct {
		uint64_t factor;
		const char *suffix;
	} units[] = {{86400000, "d"},
	             {3600000, "h"},
	             {60000, "m"},
	             {1000, "s"},
	             {1, "ms"}};

	if (ms == 0) {
		fputs("0", out);
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms % units[i].factor == 0) {
			fprintf(out, "%llu%s",
			        (unsigned long long)(ms / units[i].factor),
			        units[i].suffix);
			return;
		}
}

static void put_size(FILE *out, uint64_t n)
{
	if (n != 0 && n % (1u << 30) == 0)
		fprintf(out, "%lluG", (unsigned long long)(n >> 30));
	else if (n != 0 && n % (1u << 20) == 0)
		fprintf(out, "%lluM", (unsigned long long)(n >> 20));
	else if (n != 0 && n % 1024 == 0)
		fprintf(out, "%lluK", (unsigned long long)(n >> 10));
	else
		fprintf(out, "%llu", (unsigned long long)n);
}

static void put_range(FILE *out, const struct config_setting *st)
{
	void (*put)(FILE *, uint64_t) = st->type == CONFIG_DURATION
	                                    ? put_duration
	                                : st->type == CONFIG_SIZE ? put_size
	                                                          : NULL;

	if (put == NULL)
		fprintf(out, "%llu", (unsigned long long)st->min);
	else
		put(out, st->min);
	if (st->max == 0) {
		fputs(" or more", out);
		return;
	}
	fputs(" to ", out);
	if (put == NULL)
		fprintf(out, "%llu", (unsigned long long)st->max);
	else
		put(out, st->max);
}

/* The type, its unit and its range: one sentence. */
static void put_type(FILE *out, const struct config_setting *st)
{
	switch (st->type) {
	case CONFIG_STRING:
		fputs("Text", out);
		break;
	case CONFIG_PATH:
		fputs("An absolute path", out);
		break;
	case CONFIG_BOOL:
		fputs("yes or no (also true/false, on/off)", out);
		break;
	case CONFIG_UINT:
		fputs("A number, ", out);
		put_range(out, st);
		break;
	case CONFIG_DURATION:
		fputs("A duration (ms, s, m, h, d; a bare number is seconds), ",
		      out);
		put_range(out, st);
		break;
	case CONFIG_SIZE:
		fputs("A size in bytes (K, M, G: 1024-based), ", out);
		put_range(out, st);
		break;
	case CONFIG_ENUM:
		fputs("One of", out);
		for (size_t i = 0; st->enum_values[i].name != NULL; i++)
			fprintf(out, "%s \\fB%s\\fR",
			        i == 0                                ? ""
			        : st->enum_values[i + 1].name == NULL ? " or"
			                                              : ",",
			        st->enum_values[i].name);
		break;
	case CONFIG_LIST:
		fputs("A list (repeat the line, or separate items with commas)",
		      out);
		break;
	case CONFIG_HOSTPORT:
		fputs("host, host:port, [host]:port or an IPv6 address "
		      "([host]: no MX lookup)",
		      out);
		break;
	}
	fputs(".\n", out);
}

static void put_setting(FILE *out, const char *section,
                        const struct config_setting *st, const char *example)
{
	unsigned int readers = settings_readers(section, st->name);

	fprintf(out, ".TP\n.B %s\n", st->name);
	put_type(out, st);
	if (st->required)
		fputs("Required.\n", out);
	else if (st->default_value != NULL) {
		fputs("Default: \\fB", out);
		roff_text(out, st->default_value);
		fputs("\\fR.\n", out);
	} else
		fputs("Default: unset.\n", out);
	if (example != NULL && (st->default_value == NULL ||
	                        strcmp(example, st->default_value) != 0)) {
		fputs("Example: \\fB", out);
		roff_text(out, example);
		fputs("\\fR.\n", out);
	}
	fprintf(out, ".br\nRead by: %s.\n",
	        readers == (SETTINGS_READER_AUTHD | SETTINGS_READER_ROUTERD)
	            ? "authd and routerd"
	        : readers == SETTINGS_READER_AUTHD   ? "authd"
	        : readers == SETTINGS_READER_ROUTERD ? "routerd"
	                                             : "neither daemon yet");
	fprintf(out, "SIGHUP: %s.\n",
	        settings_reloadable(section, st->name) ? "applied at once"
	                                               : "needs a restart");
}

/* ---- the sample, section by section ------------------------------------ */

static const struct config_section *find_section(const char *name)
{
	for (const struct config_section *sec = settings_table.sections;
	     sec->name != NULL; sec++)
		if (strcmp(sec->name, name) == 0)
			return sec;
	return NULL;
}

static const struct config_setting *
find_setting(const struct config_section *sec, const char *name, size_t len)
{
	for (const struct config_setting *st = sec->settings; st->name != NULL;
	     st++)
		if (strlen(st->name) == len &&
		    strncmp(st->name, name, len) == 0)
			return st;
	return NULL;
}

/* A "[name]" or "[type NAME]" header, commented out or not: the section's
 * name into name (size 64); false for any other line. */
static bool header(const char *line, char *name)
{
	size_t len;

	if (*line == '#')
		line++;
	if (*line != '[' || line[strlen(line) - 1] != ']')
		return false;
	len = strcspn(line + 1, " ]");
	if (len == 0 || len >= 64)
		return false;
	memcpy(name, line + 1, len);
	name[len] = '\0';
	return true;
}

/* "name = value" or "#name = value": the name's length and the value. */
static size_t assignment(const char *line, const char **value_r)
{
	size_t len;

	if (*line == '#')
		line++;
	len = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_");
	if (len == 0 || strncmp(line + len, " = ", 3) != 0)
		return 0;
	*value_r = line + len + 3;
	return len;
}

/* The prose of a comment line: "# text" -> "text", "#" -> "". */
static const char *prose(const char *line)
{
	if (line[0] != '#')
		return NULL;
	return line[1] == ' ' ? line + 2 : line + 1;
}

struct section_out {
	const struct config_section *sec;
	bool *shown; /* per setting: an entry was written */
};

/* Lines [from, to) of the sample: one section's documentation. */
static void put_section(FILE *out, const struct sample *s, size_t from,
                        size_t to, struct section_out *so)
{
	const struct config_section *sec = so->sec;
	bool paragraph = false, first = true; /* .SS opens a paragraph */
	char name[64];

	for (size_t i = from; i < to; i++) {
		const char *line = s->lines[i], *value, *text;
		size_t len = assignment(line, &value);

		if (len > 0) {
			const struct config_setting *st =
			    find_setting(sec, line + (*line == '#'), len);

			if (st == NULL) {
				char *n =
				    alloc_strndup(line + (*line == '#'), len);

				fail("sample: [%s] %s is no setting of the "
				     "table",
				     sec->name, n);
				free(n);
				continue;
			}
			if (so->shown[st - sec->settings])
				continue; /* another example of it */
			so->shown[st - sec->settings] = true;
			put_setting(out, sec->name, st, value);
			paragraph = first = false;
			continue;
		}
		if (header(line, name) || (text = prose(line)) == NULL)
			continue;
		if (*text == '\0') {
			paragraph = false;
			continue;
		}
		if (!paragraph && !first) {
			/* A run of comment lines describes the settings
			 * after it. */
			fputs(".PP\n", out);
		}
		paragraph = true;
		first = false;
		roff_line(out, text);
	}
}

/* Another instance of a repeated section in the sample: shown as it is. */
static void put_example(FILE *out, const struct sample *s, size_t from,
                        size_t to)
{
	fputs(".PP\nAnother, as the sample shows it (commented out):\n"
	      ".PP\n.RS 4\n.nf\n",
	      out);
	for (size_t i = from; i < to; i++)
		if (*s->lines[i] != '\0')
			roff_line(out, s->lines[i]);
	fputs(".fi\n.RE\n", out);
}

static void put_settings(FILE *out, const struct sample *s)
{
	const struct config_section *seen[16];
	size_t n_seen = 0, i = 0;
	char name[64];

	while (i < s->n && !header(s->lines[i], name))
		i++; /* the file's own preamble: the template says it */
	while (i < s->n) {
		const struct config_section *sec;
		size_t end = i + 1;
		bool again = false;

		header(s->lines[i], name);
		while (end < s->n && !header(s->lines[end], name))
			end++;
		header(s->lines[i], name);
		sec = find_section(name);
		if (sec == NULL) {
			fail("sample: [%s] is no section of the table", name);
			i = end;
			continue;
		}
		for (size_t k = 0; k < n_seen; k++)
			again = again || seen[k] == sec;
		if (again) {
			put_example(out, s, i, end);
			i = end;
			continue;
		}
		if (n_seen < 16)
			seen[n_seen++] = sec;
		{
			size_t count = 0;
			struct section_out so = {.sec = sec};

			while (sec->settings[count].name != NULL)
				count++;
			so.shown = alloc_array(count + 1, sizeof(bool));
			fprintf(out, ".SS \"[%s%s]\"\n", sec->name,
			        sec->named ? " NAME" : "");
			put_section(out, s, i + 1, end, &so);
			for (size_t k = 0; k < count; k++)
				if (!so.shown[k])
					fail("sample: [%s] %s is not "
					     "documented",
					     sec->name, sec->settings[k].name);
			free(so.shown);
		}
		i = end;
	}
	for (const struct config_section *sec = settings_table.sections;
	     sec->name != NULL; sec++) {
		bool found = false;

		for (size_t k = 0; k < n_seen; k++)
			found = found || seen[k] == sec;
		if (!found)
			fail("sample: no [%s] section", sec->name);
	}
}

/* The settings a SIGHUP applies, section by section. */
static void put_reload(FILE *out)
{
	for (const struct config_section *sec = settings_table.sections;
	     sec->name != NULL; sec++) {
		bool any = false;

		for (const struct config_setting *st = sec->settings;
		     st->name != NULL; st++) {
			if (!settings_reloadable(sec->name, st->name))
				continue;
			if (!any)
				fprintf(out, ".TP\n.B [%s%s]\n", sec->name,
				        sec->named ? " NAME" : "");
			fprintf(out, "%s%s", any ? ",\n" : "", st->name);
			any = true;
		}
		if (any)
			fputs("\n", out);
	}
}

static bool is_marker(const char *line, size_t len, const char *marker)
{
	return len == strlen(marker) && strncmp(line, marker, len) == 0;
}

static void generate(FILE *out, const char *template_path,
                     const char *sample_path)
{
	char *tmpl = read_file(template_path), *p = tmpl;
	bool settings = false, reload = false;
	struct sample s = {0};

	sample_read(&s, sample_path);
	while (*p != '\0') {
		char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (is_marker(p, len, ".\\\" @SETTINGS@")) {
			put_settings(out, &s);
			settings = true;
		} else if (is_marker(p, len, ".\\\" @RELOAD@")) {
			put_reload(out);
			reload = true;
		} else
			fprintf(out, "%.*s\n", (int)len, p);
		p += len + (nl != NULL ? 1 : 0);
	}
	if (!settings || !reload)
		fail("%s: needs the lines .\\\" @SETTINGS@ and .\\\" @RELOAD@",
		     template_path);
	free(s.text);
	free(tmpl);
}

/* 0 when page holds exactly text; otherwise say where they part. */
static int compare(const char *page_path, const char *text)
{
	char *page = read_file(page_path);
	size_t line = 1, i = 0;

	while (page[i] != '\0' && page[i] == text[i]) {
		if (text[i] == '\n')
			line++;
		i++;
	}
	if (page[i] == text[i]) {
		free(page);
		return 0;
	}
	fprintf(stderr,
	        "mkconfman: %s is out of date from line %zu on: it must be "
	        "regenerated from lib/settings.c and "
	        "deploy/dirmx.conf.sample\n(cmake --build BUILD --target "
	        "man-update), and the result committed\n",
	        page_path, line);
	free(page);
	return 1;
}

int main(int argc, char **argv)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int ret;

	if (argc != 5 ||
	    (strcmp(argv[3], "-o") != 0 && strcmp(argv[3], "--check") != 0)) {
		fprintf(stderr, "usage: mkconfman TEMPLATE SAMPLE "
		                "-o OUT | --check PAGE\n");
		return 2;
	}
	out = open_memstream(&text, &len);
	if (out == NULL)
		return 1;
	generate(out, argv[1], argv[2]);
	fclose(out);
	if (errors > 0) {
		free(text);
		return 1;
	}
	if (strcmp(argv[3], "--check") == 0) {
		ret = compare(argv[4], text);
	} else {
		out = fopen(argv[4], "w");
		ret = out == NULL || fwrite(text, 1, len, out) != len;
		if (out == NULL || fclose(out) != 0)
			ret = 1;
		if (ret != 0)
			perror(argv[4]);
	}
	free(text);
	return ret;
}
