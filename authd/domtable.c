/*
 * domtable - accepted domains, their kinds and next hops; see domtable.h.
 *
 * The table is small (tens of domains), so it is a flat array searched
 * linearly; the directory's part is replaced whole on every refresh.
 */
#include "domtable.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "str.h"

struct domtable {
	struct domtable_entry *e;
	size_t n;
};

struct domtable *domtable_new(void)
{
	return alloc_new(struct domtable);
}

static void entry_free(struct domtable_entry *e)
{
	free(e->name);
	free(e->hop);
	free(e->source);
}

void domtable_deinit(struct domtable **tp)
{
	struct domtable *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	for (size_t i = 0; i < t->n; i++)
		entry_free(&t->e[i]);
	free(t->e);
	free(t);
}

static char *hop_dup(const char *hop)
{
	if (hop != NULL && strncasecmp(hop, "smtp:", 5) == 0)
		hop += 5;
	return hop != NULL && *hop != '\0' ? alloc_strdup(hop) : NULL;
}

void domtable_add(struct domtable *t, const char *name, size_t len,
                  enum domains_kind kind, const char *hop, const char *source,
                  bool from_config)
{
	struct domtable_entry *e;

	while (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0)
		return;
	for (size_t i = 0; i < t->n; i++) {
		e = &t->e[i];
		if (!str_eq_case(e->name, strlen(e->name), name, len))
			continue;
		if (kind > e->kind) {
			/* The higher kind's declaration is the one that
			 * counts; an internal relay brings its own hop. */
			e->kind = kind;
			free(e->source);
			e->source = alloc_strdup(source);
			e->from_config = from_config;
			if (kind == DOMAINS_INTERNAL_RELAY) {
				free(e->hop);
				e->hop = hop_dup(hop);
				return;
			}
		}
		/* A hop fills a gap (the first one wins), but never that of
		 * an internal relay: see domtable.h. */
		if (e->hop == NULL && e->kind != DOMAINS_INTERNAL_RELAY)
			e->hop = hop_dup(hop);
		return;
	}
	t->e = alloc_resize(t->e, t->n + 1, sizeof(*t->e));
	e = &t->e[t->n++];
	e->name = alloc_strndup(name, len);
	str_lower_ascii(e->name, len);
	e->kind = kind;
	e->hop = hop_dup(hop);
	e->source = alloc_strdup(source);
	e->from_config = from_config;
}

void domtable_drop_directory(struct domtable *t)
{
	size_t j = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->e[i].from_config)
			t->e[j++] = t->e[i];
		else
			entry_free(&t->e[i]);
	}
	t->n = j;
}

const struct domtable_entry *domtable_find(const struct domtable *t,
                                           const char *domain)
{
	size_t len = strlen(domain);

	if (len > 1 && domain[len - 1] == '.')
		len--;
	for (size_t i = 0; i < t->n; i++)
		if (str_eq_case(t->e[i].name, strlen(t->e[i].name), domain,
		                len))
			return &t->e[i];
	return NULL;
}

size_t domtable_count(const struct domtable *t)
{
	return t->n;
}

int domtable_parse_type(const char *value, enum domains_kind *kind_r)
{
	static const struct {
		const char *word;
		enum domains_kind kind;
	} words[] = {
	    {"authoritative", DOMAINS_LOCAL},
	    {"local", DOMAINS_LOCAL},
	    {"internalrelay", DOMAINS_INTERNAL_RELAY},
	    {"externalrelay", DOMAINS_EXTERNAL_RELAY},
	    {"relay", DOMAINS_EXTERNAL_RELAY},
	    {"route", DOMAINS_EXTERNAL},
	};
	char word[32];
	size_t n = 0;

	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '-' || *p == '_' || *p == ' ')
			continue;
		if (n + 1 >= sizeof(word))
			return -1;
		word[n++] = *p;
	}
	word[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(word, words[i].word) == 0) {
			*kind_r = words[i].kind;
			return 0;
		}
	}
	return -1;
}

void domtable_split_item(const char *item, const char **name_r, size_t *len_r,
                         const char **hop_r)
{
	size_t n = strcspn(item, " \t");
	const char *hop = item + n + strspn(item + n, " \t");

	*name_r = item;
	*len_r = n;
	*hop_r = *hop != '\0' ? hop : NULL;
}

const char *domtable_kind_name(enum domains_kind kind)
{
	switch (kind) {
	case DOMAINS_LOCAL:
		return "authoritative";
	case DOMAINS_INTERNAL_RELAY:
		return "internal relay";
	case DOMAINS_EXTERNAL_RELAY:
		return "external relay";
	case DOMAINS_EXTERNAL:
		return "external";
	case DOMAINS_UNKNOWN:
		break;
	}
	return "unknown";
}

/* What happened to the recipient, in the words of its domain's kind. */
static const char *what(const struct domtable_entry *e, enum domains_outcome o)
{
	bool hop = e != NULL && e->hop != NULL;

	switch (o) {
	case DOMAINS_FOUND:
		return "in the directory, routed by its entry";
	case DOMAINS_RELAYED_UNKNOWN:
		return "not in the directory, relayed to ";
	case DOMAINS_NOT_LOOKED_UP:
		if (e != NULL && e->kind == DOMAINS_EXTERNAL_RELAY)
			return hop ? "not looked up, relayed to "
			           : "not looked up, relayed by routerd's "
			             "route, smarthost or MX";
		return hop ? "not ours, relayed to "
		           : "not ours, delivered by MX (the relay policy "
		             "applies)";
	case DOMAINS_REFUSED:
		if (e != NULL && e->kind == DOMAINS_INTERNAL_RELAY)
			return "in the directory but not deliverable, "
			       "refused";
		return "not deliverable here, refused (550 5.1.1)";
	case DOMAINS_DEFERRED:
		if (e != NULL && e->kind == DOMAINS_INTERNAL_RELAY && !hop)
			return "no next hop for the other mail system "
			       "(dirmxNextHop), unknown recipients deferred "
			       "(451)";
		return "deferred (451)";
	}
	return "?";
}

char *domtable_rule(const struct domtable_entry *e, bool loaded,
                    enum domains_outcome outcome)
{
	const char *w = what(e, outcome);
	size_t wl = strlen(w);
	/* The texts that end in "to " name the hop. */
	const char *hop =
	    wl > 3 && strcmp(w + wl - 3, "to ") == 0 && e != NULL ? e->hop : "";

	if (!loaded && e == NULL)
		return alloc_strdup("accepted domains not loaded from the "
		                    "directory yet: deferred (451)");
	if (e == NULL)
		return alloc_strdup("not an accepted domain: delivered by "
		                    "routerd's route, smarthost or MX (the "
		                    "relay policy applies)");
	return alloc_printf("%s domain (%s): %s%s", domtable_kind_name(e->kind),
	                    e->source, w, hop != NULL ? hop : "");
}
