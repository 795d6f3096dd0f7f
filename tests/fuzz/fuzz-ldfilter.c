/*
 * fuzz-ldfilter - invariant 6 under arbitrary bytes: user input never
 * changes an LDAP filter's structure.
 *
 * Input: "template NUL address" (the address may hold more NULs); without a
 * NUL, the first byte picks one of the usual templates and the rest is the
 * address. For every input:
 *   - ldfilter_validate() on the raw bytes must not crash; a valid filter's
 *     shape is itself a valid filter with the same shape;
 *   - an escaped address is one assertion value: "(a=<escaped>)";
 *   - for a template that passes ldfilter_template_check(), the expansion
 *     either fails for one of the documented reasons (empty value, no '@',
 *     too long) or equals an independent reference expansion, validates,
 *     and has the shape of the template.
 * Any difference abort()s.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldfilter.h"
#include "sbuf.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const templates[] = {
    "(mail=%s)",
    "(|(mail=%s)(proxyAddresses=smtp:%s)(mailLocalAddress=%s))",
    "(&(objectClass=user)(sAMAccountName=%u))",
    "(&(uid=%u)(|(dc=%d)(associatedDomain=%d)))",
    "(mail=*%s*)",
    "(cn:dn:1.2.3.4:=%u%%%d)",
    "(!(mail=%u@%d))",
};

static void check_error(const char *error)
{
	if (error == NULL || !str_is_printable_ascii(error, strlen(error)))
		abort();
}

static void check_filter(const uint8_t *data, size_t size)
{
	const char *error = NULL;
	char *shape = NULL, *shape2 = NULL;

	if (ldfilter_shape((const char *)data, size, &shape, &error) < 0) {
		check_error(error);
		if (shape != NULL ||
		    ldfilter_validate((const char *)data, size, &error) == 0)
			abort();
		return;
	}
	if (ldfilter_validate((const char *)data, size, &error) < 0 ||
	    strlen(shape) > size ||
	    ldfilter_shape(shape, strlen(shape), &shape2, &error) < 0 ||
	    strcmp(shape, shape2) != 0)
		abort();
	free(shape);
	free(shape2);
}

static void check_escape(const uint8_t *addr, size_t len)
{
	struct sbuf *f = sbuf_new(SIZE_MAX);
	const char *error;
	char *shape;

	if (!sbuf_append_str(f, "(a=") || ldfilter_escape(addr, len, f) < 0 ||
	    !sbuf_append_str(f, ")"))
		abort();
	if (ldfilter_shape(sbuf_data(f), sbuf_len(f), &shape, &error) < 0 ||
	    strcmp(shape, len == 0 ? "(a=)" : "(a=?)") != 0)
		abort();
	free(shape);
	sbuf_deinit(&f);
}

/*
 * The expansion, written again the simple way. Returns NULL when the
 * template needs a value the address does not have.
 */
static char *reference_expand(const char *tmpl, const uint8_t *addr, size_t len)
{
	struct sbuf *out = sbuf_new(SIZE_MAX);
	size_t at = len, vlen;
	const uint8_t *v;
	char *ret;

	for (size_t i = 0; i < len; i++) {
		if (addr[i] == '@')
			at = i;
	}
	for (const char *t = tmpl; *t != '\0'; t++) {
		if (*t != '%') {
			sbuf_append(out, t, 1);
			continue;
		}
		t++;
		if (*t == '%') {
			sbuf_append(out, "%", 1);
			continue;
		}
		if (*t == 's') {
			v = addr;
			vlen = len;
		} else if (at == len) {
			v = NULL; /* %u or %d without '@' */
			vlen = 0;
		} else if (*t == 'u') {
			v = addr;
			vlen = at;
		} else {
			v = addr + at + 1;
			vlen = len - at - 1;
		}
		if (v == NULL || vlen == 0) {
			sbuf_deinit(&out);
			return NULL;
		}
		ldfilter_escape(v, vlen, out);
	}
	ret = sbuf_steal(out, NULL);
	sbuf_deinit(&out);
	return ret;
}

static void check_expand(const char *tmpl, const uint8_t *addr, size_t len)
{
	char *filter = NULL, *ref, *shape, *sample, *tshape;
	const char *error = NULL;

	if (ldfilter_template_check(tmpl, &error) < 0) {
		check_error(error);
		if (ldfilter_expand(tmpl, (const char *)addr, len, &filter,
		                    &error) == 0 ||
		    filter != NULL)
			abort();
		return;
	}
	ref = reference_expand(tmpl, addr, len);
	if (ldfilter_expand(tmpl, (const char *)addr, len, &filter, &error) <
	    0) {
		check_error(error);
		if (filter != NULL ||
		    (ref != NULL && strlen(ref) <= LDFILTER_MAX_LEN))
			abort();
		free(ref);
		return;
	}
	if (ref == NULL || strcmp(filter, ref) != 0 ||
	    ldfilter_validate(filter, strlen(filter), &error) < 0)
		abort();
	/* The structure equals the template's. */
	if (ldfilter_shape(filter, strlen(filter), &shape, &error) < 0 ||
	    ldfilter_expand(tmpl, "u@d", 3, &sample, &error) < 0 ||
	    ldfilter_shape(sample, strlen(sample), &tshape, &error) < 0 ||
	    strcmp(shape, tshape) != 0)
		abort();
	free(filter);
	free(ref);
	free(shape);
	free(sample);
	free(tshape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	const uint8_t *addr;
	size_t len;
	char *tmpl;

	check_filter(data, size);
	if (nul != NULL) {
		size_t tlen = (size_t)(nul - data);

		tmpl = malloc(tlen + 1);
		if (tmpl == NULL)
			abort();
		memcpy(tmpl, data, tlen);
		tmpl[tlen] = '\0';
		addr = nul + 1;
		len = size - tlen - 1;
	} else {
		const char *t =
		    templates[size > 0 ? data[0] % (sizeof(templates) /
		                                    sizeof(templates[0]))
		                       : 0];

		tmpl = malloc(strlen(t) + 1);
		if (tmpl == NULL)
			abort();
		strcpy(tmpl, t);
		addr = size > 0 ? data + 1 : data;
		len = size > 0 ? size - 1 : 0;
	}
	check_escape(addr, len);
	check_expand(tmpl, addr, len);
	free(tmpl);
	return 0;
}
