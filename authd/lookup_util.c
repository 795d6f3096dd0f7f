/*
 * lookup_util - small helpers of the lookup modules: a set of strings
 * (the DNs and addresses a job has seen) and forwarding chains.
 */
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "lookup_private.h"
#include "str.h"

/* --- string set ---------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

bool lookup_set_add(struct strset *s, const char *key)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct strset bigger = {.cap = s->cap == 0 ? 16 : s->cap * 2};

		bigger.slots = alloc_array(bigger.cap, sizeof(char *));
		for (size_t k = 0; k < s->cap; k++) {
			if (s->slots[k] == NULL)
				continue;
			i = hash_str(s->slots[k]) & (bigger.cap - 1);
			while (bigger.slots[i] != NULL)
				i = (i + 1) & (bigger.cap - 1);
			bigger.slots[i] = s->slots[k];
			bigger.n++;
		}
		free(s->slots);
		*s = bigger;
	}
	i = hash_str(key) & (s->cap - 1);
	while (s->slots[i] != NULL) {
		if (strcmp(s->slots[i], key) == 0)
			return false;
		i = (i + 1) & (s->cap - 1);
	}
	s->slots[i] = alloc_strdup(key);
	s->n++;
	return true;
}

void lookup_set_free(struct strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

/* --- forwarding chains ------------------------------------------------ */

bool lookup_chain_has(const char *chain, const char *addr_lower)
{
	size_t n = strlen(addr_lower);

	for (const char *p = chain; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, addr_lower, n) == 0)
			return true;
		p = nl != NULL ? nl + 1 : p + len;
	}
	return false;
}

char *lookup_chain_add(const char *chain, const char *addr_lower)
{
	if (chain == NULL || *chain == '\0')
		return alloc_strdup(addr_lower);
	return alloc_printf("%s\n%s", chain, addr_lower);
}

char *lookup_lower_dup(const char *s)
{
	char *l = alloc_strdup(s);

	str_lower_ascii(l, strlen(l));
	return l;
}

void lookup_trace(struct job *j, const char *fmt, ...)
{
	va_list ap;

	if ((j->flags & LOOKUP_F_TRACE) == 0)
		return;
	va_start(ap, fmt);
	j->trace = alloc_resize(j->trace, j->n_trace + 1, sizeof(char *));
	j->trace[j->n_trace++] = alloc_vprintf(fmt, ap);
	va_end(ap);
}

char *lookup_tag_make(char kind, const char *value)
{
	char *tag = alloc_printf("%c:%s", kind, value);

	str_lower_ascii(tag, strlen(tag));
	return tag;
}

void lookup_tag(struct job *j, char kind, const char *value)
{
	char *tag = lookup_tag_make(kind, value);

	(void)lookup_set_add(&j->tags, tag);
	free(tag);
}
