/*
 * ldmatch - a filter decided against an entry on this side; see ldmatch.h.
 *
 * A recursive-descent walk over the filter text that evaluates as it
 * parses, in three-valued logic: '|' is YES when one part is YES, else
 * UNSURE when one part is; '&' is NO when one part is NO, else UNSURE when
 * one part is; '!' swaps YES and NO. Anything it does not understand, or
 * would understand differently from a server, makes the item UNSURE, and
 * a malformed filter is UNSURE as a whole.
 */
#include "ldmatch.h"

#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "ldfilter.h" /* LDFILTER_MAX_DEPTH, LDFILTER_MAX_LEN */
#include "str.h"

struct walk {
	const char *p;
	const struct ldconn_entry *e; /* NULL: check only (decidable) */
	const char *const *attrs;     /* check only */
	char ***names;                /* check only: collect the names */
	unsigned depth;
	bool malformed;
	bool unsure; /* some item was UNSURE */
};

static bool is_attr_char(char c)
{
	return str_is_alpha_ascii(c) || str_is_digit_ascii(c) || c == '-' ||
	       c == '.';
}

static bool requested(const struct walk *w, const char *name, size_t len)
{
	if (w->attrs == NULL)
		return true; /* every attribute was asked for */
	for (size_t i = 0; w->attrs[i] != NULL; i++)
		if (strlen(w->attrs[i]) == len &&
		    strncasecmp(w->attrs[i], name, len) == 0)
			return true;
	return false;
}

/* Append name[0..len) to *w->names and make w->attrs see it. */
static void name_add(struct walk *w, const char *name, size_t len)
{
	size_t n = 0;

	while ((*w->names)[n] != NULL)
		n++;
	*w->names = alloc_resize(*w->names, n + 2, sizeof(char *));
	(*w->names)[n] = alloc_strndup(name, len);
	(*w->names)[n + 1] = NULL;
	w->attrs = (const char *const *)*w->names;
}

static bool ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80 || s[i] == '\0')
			return false;
	return true;
}

/* Equality (or presence: value NULL) of one attribute of w->e. */
static enum ldmatch compare(const struct walk *w, const char *name, size_t nlen,
                            const char *value, size_t vlen)
{
	const struct ldconn_entry *e = w->e;
	enum ldmatch r = LDMATCH_NO;

	for (size_t i = 0; i < e->n_attrs; i++) {
		const struct ldconn_attr *a = &e->attrs[i];
		size_t alen = strlen(a->name);

		if (alen > nlen && a->name[nlen] == ';' &&
		    strncasecmp(a->name, name, nlen) == 0)
			return LDMATCH_UNSURE; /* e.g. a ranged read */
		if (alen != nlen || strncasecmp(a->name, name, nlen) != 0)
			continue;
		if (value == NULL)
			return a->n_values > 0 ? LDMATCH_YES : LDMATCH_NO;
		for (size_t k = 0; k < a->n_values; k++) {
			const struct ldconn_value *v = &a->values[k];

			if (!ascii(v->data, v->len))
				r = LDMATCH_UNSURE;
			else if (v->len == vlen &&
			         strncasecmp(v->data, value, vlen) == 0)
				return LDMATCH_YES;
		}
	}
	return r;
}

static enum ldmatch item_eval(struct walk *w);

/* attr=value, attr=*: the part inside the parentheses. */
static enum ldmatch item(struct walk *w)
{
	enum ldmatch r = item_eval(w);

	if (r == LDMATCH_UNSURE)
		w->unsure = true;
	return r;
}

static enum ldmatch item_eval(struct walk *w)
{
	const char *name = w->p;
	char value[LDFILTER_MAX_LEN / 3 + 1];
	size_t nlen, vlen = 0;
	bool any_star = false, unsure = false;

	while (is_attr_char(*w->p))
		w->p++;
	nlen = (size_t)(w->p - name);
	if (nlen == 0) {
		w->malformed = true;
		return LDMATCH_UNSURE;
	}
	if (*w->p == '=')
		w->p++;
	else /* ";option", "~=", ">=", "<=", ":=" */
		unsure = true;
	while (*w->p != ')' && *w->p != '\0') {
		char c = *w->p++;

		if (c == '(') {
			w->malformed = true;
			return LDMATCH_UNSURE;
		}
		if (c == '*') {
			any_star = true;
			continue;
		}
		if (c == '\\') {
			int hi = str_hex_value(w->p[0], STR_HEX_ANY);
			int lo =
			    hi < 0 ? -1 : str_hex_value(w->p[1], STR_HEX_ANY);

			if (lo < 0) {
				w->malformed = true;
				return LDMATCH_UNSURE;
			}
			c = (char)(hi * 16 + lo);
			w->p += 2;
		}
		if (vlen + 1 >= sizeof(value))
			unsure = true;
		else
			value[vlen++] = c;
	}
	if (unsure || (any_star && vlen > 0) || !ascii(value, vlen))
		return LDMATCH_UNSURE; /* substrings among them */
	if (w->e == NULL && w->names != NULL && !requested(w, name, nlen))
		name_add(w, name, nlen);
	if (w->e == NULL)
		return requested(w, name, nlen) ? LDMATCH_NO : LDMATCH_UNSURE;
	if (!any_star && vlen == 0)
		return LDMATCH_UNSURE; /* "(a=)": servers differ */
	return compare(w, name, nlen, any_star ? NULL : value, vlen);
}

static enum ldmatch filter(struct walk *w);

/* '&' or '|' over the filters up to the closing parenthesis. */
static enum ldmatch list(struct walk *w, bool is_and)
{
	enum ldmatch r = is_and ? LDMATCH_YES : LDMATCH_NO;
	unsigned n = 0;

	while (*w->p == '(') {
		enum ldmatch f = filter(w);

		n++;
		if (f == LDMATCH_UNSURE &&
		    r != (is_and ? LDMATCH_NO : LDMATCH_YES))
			r = LDMATCH_UNSURE;
		else if (f == (is_and ? LDMATCH_NO : LDMATCH_YES))
			r = f;
	}
	if (n == 0)
		w->malformed = true;
	return r;
}

static enum ldmatch filter(struct walk *w)
{
	enum ldmatch r;

	if (*w->p != '(' || ++w->depth > LDFILTER_MAX_DEPTH) {
		w->malformed = true;
		return LDMATCH_UNSURE;
	}
	w->p++;
	switch (*w->p) {
	case '&':
	case '|':
		r = list(w, *w->p++ == '&');
		break;
	case '!':
		w->p++;
		r = filter(w);
		if (r != LDMATCH_UNSURE)
			r = r == LDMATCH_YES ? LDMATCH_NO : LDMATCH_YES;
		break;
	default:
		r = item(w);
		break;
	}
	if (*w->p != ')') {
		w->malformed = true;
		return LDMATCH_UNSURE;
	}
	w->p++;
	w->depth--;
	return r;
}

enum ldmatch ldmatch_entry(const char *filter_text,
                           const struct ldconn_entry *e)
{
	struct walk w = {.p = filter_text, .e = e};
	enum ldmatch r;

	if (e == NULL)
		return LDMATCH_UNSURE;
	r = filter(&w);
	return w.malformed || *w.p != '\0' ? LDMATCH_UNSURE : r;
}

bool ldmatch_decidable(const char *filter_text, const char *const *attrs)
{
	struct walk w = {.p = filter_text, .attrs = attrs};

	(void)filter(&w);
	/* An '&' with a NO part hides an UNSURE one: ask the items. */
	return !w.malformed && !w.unsure && *w.p == '\0';
}

char **ldmatch_names_add(const char *const *attrs, const char *filter_text)
{
	char **names;
	size_t n = 0;
	struct walk w = {.p = filter_text};

	while (attrs != NULL && attrs[n] != NULL)
		n++;
	names = alloc_array(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		names[i] = alloc_strdup(attrs[i]);
	w.attrs = (const char *const *)names;
	w.names = &names;
	(void)filter(&w);
	return names;
}

void ldmatch_names_free(char **names)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
}
