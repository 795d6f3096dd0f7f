/*
 * config-value - converts one configuration value by its setting's type
 * and stores it; part of the config module (see config.h).
 *
 * The line parser (config.c) hands over the unquoted value; this file
 * checks it against the type, the range and the setting's validator, and
 * writes it at the setting's offset. Errors come back as an allocated
 * message without file and line, which the caller adds.
 */
#include "config_private.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"

static bool is_host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static size_t fetch_host(struct buf *b, const unsigned char **p_r)
{
	uint8_t c;

	buf_tag(b);
	while (buf_peek_u8(b, &c) && is_host_char(c))
		buf_skip(b, 1);
	*p_r = buf_tag_data(b);
	return buf_tag_len(b);
}

static bool name_valid(const unsigned char *p, size_t n)
{
	struct buf b;
	const unsigned char *q;

	buf_init(&b, p, n);
	return n > 0 && n <= 253 && fetch_host(&b, &q) == n;
}

static void skip_ws(struct buf *b)
{
	uint8_t c;

	while (buf_peek_u8(b, &c) && (c == ' ' || c == '\t'))
		buf_skip(b, 1);
}

static bool ipv6_valid(const unsigned char *p, size_t n)
{
	char tmp[64];
	struct in6_addr a;

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

bool config_parse_hostport(const char *value, struct config_hostport *hp_r,
                           const char **error_r)
{
	struct buf b;
	const unsigned char *host;
	size_t hlen, colons = 0;
	uint64_t port = 0;
	bool literal = false;

	for (const char *s = value; *s != '\0'; s++)
		colons += *s == ':';
	buf_init(&b, value, strlen(value));
	if (buf_consume_char(&b, '[')) {
		hlen = buf_fetch_until(&b, "]", &host);
		if (!buf_consume_char(&b, ']') ||
		    (!ipv6_valid(host, hlen) && !name_valid(host, hlen))) {
			*error_r = "expected an address or host name in "
			           "[brackets]";
			return false;
		}
		literal = true;
	} else if (colons > 1) {
		host = buf_peek(&b);
		hlen = buf_remaining(&b);
		if (!ipv6_valid(host, hlen)) {
			*error_r = "not a host, host:port or [IPv6]:port";
			return false;
		}
		buf_skip(&b, hlen);
	} else {
		hlen = fetch_host(&b, &host);
		if (hlen == 0 || hlen > 253) {
			*error_r = "expected a host name or address";
			return false;
		}
	}
	if (buf_consume_char(&b, ':')) {
		if (!buf_fetch_uint(&b, 65535, &port) || port == 0) {
			*error_r = "port must be a number from 1 to 65535";
			return false;
		}
	}
	if (buf_remaining(&b) > 0) {
		*error_r = "unexpected characters (expected host, host:port "
		           "or [IPv6]:port)";
		return false;
	}
	hp_r->host = alloc_strndup((const char *)host, hlen);
	hp_r->port = (unsigned int)port;
	hp_r->literal = literal;
	return true;
}

const char *config_enum_name(const struct config_enum_value *values, int value)
{
	for (size_t i = 0; values != NULL && values[i].name != NULL; i++) {
		if (values[i].value == value)
			return values[i].name;
	}
	return "?";
}

void config_free(const struct config_table *table, void *dest)
{
	for (const struct config_section *sec = table->sections;
	     sec->name != NULL; sec++) {
		char **arr = (char **)((char *)dest + sec->offset);
		size_t *count = (size_t *)((char *)dest + sec->count_offset);

		if (!sec->named) {
			config_value_free(sec->settings,
			                  (char *)dest + sec->offset);
			continue;
		}
		for (size_t i = 0; i < *count; i++) {
			char *inst = *arr + i * sec->instance_size;

			config_value_free(sec->settings, inst);
			free(*(char **)(inst + sec->name_offset));
		}
		free(*arr);
		*arr = NULL;
		*count = 0;
	}
}

/* A whole-string unsigned number followed by a unit from units. */
struct unit {
	const char *suffix;
	uint64_t factor;
};

static const struct unit duration_units[] = {
    {"", 1000},     {"ms", 1},       {"s", 1000}, {"m", 60000},
    {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};

static const struct unit plain_units[] = {{"", 1}, {NULL, 0}};

static const struct unit size_units[] = {
    {"", 1},
    {"k", 1024},
    {"K", 1024},
    {"m", 1024 * 1024},
    {"M", 1024 * 1024},
    {"g", 1024 * 1024 * 1024},
    {"G", 1024 * 1024 * 1024},
    {NULL, 0},
};

static bool parse_number(const char *value, const struct unit *units,
                         uint64_t *v_r)
{
	struct buf b;
	uint64_t n;

	buf_init(&b, value, strlen(value));
	if (!buf_fetch_uint(&b, UINT64_MAX, &n))
		return false;
	for (size_t i = 0; units[i].suffix != NULL; i++) {
		const char *rest = (const char *)buf_peek(&b);

		if (strlen(units[i].suffix) == buf_remaining(&b) &&
		    memcmp(rest, units[i].suffix, buf_remaining(&b)) == 0)
			return alloc_mul_ok(n, units[i].factor, v_r);
	}
	return false;
}

static char *enum_allowed(const struct config_enum_value *values)
{
	char *s = alloc_strdup(""), *next;

	for (size_t i = 0; values[i].name != NULL; i++) {
		next = alloc_printf("%s%s%s", s, i > 0 ? ", " : "",
		                    values[i].name);
		free(s);
		s = next;
	}
	return s;
}

static char *range_error(const struct config_setting *s, uint64_t v,
                         const char *what)
{
	if (s->max != 0)
		return alloc_printf("%s %llu out of range %llu..%llu", what,
		                    (unsigned long long)v,
		                    (unsigned long long)s->min,
		                    (unsigned long long)s->max);
	return alloc_printf("%s %llu below the minimum %llu", what,
	                    (unsigned long long)v, (unsigned long long)s->min);
}

static bool in_range(const struct config_setting *s, uint64_t v)
{
	return v >= s->min && (s->max == 0 || v <= s->max);
}

static char *validate(const struct config_setting *s, const char *value)
{
	const char *error = NULL;

	if (s->validate == NULL || s->validate(value, &error))
		return NULL;
	return alloc_printf("invalid value '%s': %s", value,
	                    error != NULL ? error : "rejected");
}

void config_value_list_clear(struct config_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* Append value as one item (quoted) or as comma-separated items. */
static char *list_set(const struct config_setting *s, struct config_list *l,
                      const char *value, bool quoted)
{
	struct buf b;

	buf_init(&b, value, strlen(value));
	do {
		const unsigned char *p;
		size_t n;
		char *item, *error;

		skip_ws(&b);
		if (quoted) {
			p = buf_peek(&b);
			n = buf_remaining(&b);
			buf_skip(&b, n);
		} else {
			n = buf_fetch_until(&b, ",", &p);
		}
		item = alloc_strndup((const char *)p, n);
		for (; n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t');
		     n--)
			item[n - 1] = '\0';
		error = item[0] == '\0' ? alloc_strdup("empty item in list")
		                        : validate(s, item);
		if (error != NULL) {
			free(item);
			return error;
		}
		l->items =
		    alloc_resize(l->items, l->count + 1, sizeof(*l->items));
		l->items[l->count++] = item;
	} while (buf_consume_char(&b, ','));
	return NULL;
}

/* Convert value by the setting's type and store it at base + offset. */
char *config_value_set(const struct config_setting *s, void *base,
                       const char *value, bool quoted)
{
	void *field = (char *)base + s->offset;
	const char *error = NULL;
	struct config_hostport hp;
	uint64_t v;
	char *msg;

	if (s->type == CONFIG_LIST)
		return list_set(s, field, value, quoted);
	if (value[0] == '\0' && s->type != CONFIG_STRING)
		return alloc_strdup("empty value");
	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
		if (s->type == CONFIG_PATH && value[0] != '/')
			return alloc_printf("'%s' is not an absolute path",
			                    value);
		if ((msg = validate(s, value)) != NULL)
			return msg;
		free(*(char **)field);
		*(char **)field = alloc_strdup(value);
		return NULL;
	case CONFIG_BOOL:
		if (strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "true") == 0 ||
		    strcasecmp(value, "on") == 0)
			*(bool *)field = true;
		else if (strcasecmp(value, "no") == 0 ||
		         strcasecmp(value, "false") == 0 ||
		         strcasecmp(value, "off") == 0)
			*(bool *)field = false;
		else
			return alloc_printf("invalid boolean '%s' (use yes or "
			                    "no)",
			                    value);
		return NULL;
	case CONFIG_UINT:
		if (!parse_number(value, plain_units, &v) || v > UINT32_MAX)
			return alloc_printf("invalid number '%s'", value);
		if (!in_range(s, v))
			return range_error(s, v, "number");
		if ((msg = validate(s, value)) != NULL)
			return msg;
		*(unsigned int *)field = (unsigned int)v;
		return NULL;
	case CONFIG_DURATION:
	case CONFIG_SIZE:
		if (!parse_number(value,
		                  s->type == CONFIG_SIZE ? size_units
		                                         : duration_units,
		                  &v))
			return alloc_printf(
			    s->type == CONFIG_SIZE
			        ? "invalid size '%s' (e.g. 512k, 10M, "
			          "1G or a number of bytes)"
			        : "invalid duration '%s' (e.g. 500ms, "
			          "30s, 5m, 1h, 2d; a bare number is "
			          "seconds)",
			    value);
		if (!in_range(s, v))
			return range_error(s, v,
			                   s->type == CONFIG_SIZE
			                       ? "size (bytes)"
			                       : "duration (ms)");
		if ((msg = validate(s, value)) != NULL)
			return msg;
		*(uint64_t *)field = v;
		return NULL;
	case CONFIG_ENUM:
		for (size_t i = 0; s->enum_values[i].name != NULL; i++) {
			if (strcasecmp(value, s->enum_values[i].name) == 0) {
				*(int *)field = s->enum_values[i].value;
				return NULL;
			}
		}
		msg = enum_allowed(s->enum_values);
		value = alloc_printf("invalid value '%s' (expected one of: %s)",
		                     value, msg);
		free(msg);
		return (char *)value;
	case CONFIG_HOSTPORT:
		if (!config_parse_hostport(value, &hp, &error))
			return alloc_printf("invalid address '%s': %s", value,
			                    error);
		if ((msg = validate(s, value)) != NULL) {
			free(hp.host);
			return msg;
		}
		free(((struct config_hostport *)field)->host);
		*(struct config_hostport *)field = hp;
		return NULL;
	case CONFIG_LIST:
		break;
	}
	return alloc_strdup("internal error: unknown setting type");
}

void config_value_free(const struct config_setting *settings, void *base)
{
	for (const struct config_setting *s = settings; s->name != NULL; s++) {
		void *field = (char *)base + s->offset;

		switch (s->type) {
		case CONFIG_STRING:
		case CONFIG_PATH:
			free(*(char **)field);
			*(char **)field = NULL;
			break;
		case CONFIG_LIST:
			config_value_list_clear(field);
			break;
		case CONFIG_HOSTPORT:
			free(((struct config_hostport *)field)->host);
			((struct config_hostport *)field)->host = NULL;
			break;
		default:
			break;
		}
	}
}

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool value_same(const struct config_setting *s, const void *a,
                       const void *b)
{
	const void *fa = (const char *)a + s->offset;
	const void *fb = (const char *)b + s->offset;

	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
		return str_same(*(char *const *)fa, *(char *const *)fb);
	case CONFIG_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CONFIG_UINT:
		return *(const unsigned int *)fa == *(const unsigned int *)fb;
	case CONFIG_DURATION:
	case CONFIG_SIZE:
		return *(const uint64_t *)fa == *(const uint64_t *)fb;
	case CONFIG_ENUM:
		return *(const int *)fa == *(const int *)fb;
	case CONFIG_LIST: {
		const struct config_list *la = fa, *lb = fb;

		if (la->count != lb->count)
			return false;
		for (size_t i = 0; i < la->count; i++)
			if (!str_same(la->items[i], lb->items[i]))
				return false;
		return true;
	}
	case CONFIG_HOSTPORT: {
		const struct config_hostport *ha = fa, *hb = fb;

		return str_same(ha->host, hb->host) && ha->port == hb->port &&
		       ha->literal == hb->literal;
	}
	}
	return false;
}

size_t config_changed(const struct config_setting *settings, const void *a,
                      const void *b, const char **names_r, size_t max)
{
	size_t n = 0;

	for (const struct config_setting *s = settings; s->name != NULL; s++)
		if (!value_same(s, a, b) && n < max)
			names_r[n++] = s->name;
	return n;
}
