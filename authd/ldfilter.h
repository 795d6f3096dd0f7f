/*
 * ldfilter.h - RFC 4515 LDAP search filters: escaping, a strict syntax
 * checker, and the configured filter templates authd fills with addresses.
 *
 * Contract (DESIGN.md invariant 6: user input never changes an LDAP
 * filter's structure):
 * - ldfilter_escape() writes a value in which every byte that could mean
 *   something in a filter is a "\XX" escape (lowercase hex): '*', '(',
 *   ')', '\', NUL, every control byte (< 0x20, 0x7f) and every byte
 *   >= 0x80. The output is printable ASCII and never holds a filter
 *   metacharacter, so it is only ever an assertion value (OpenLDAP and AD
 *   both accept escaped UTF-8).
 * - Templates come from the configuration: "%s" is the whole address, "%u"
 *   the local part, "%d" the domain (split at the LAST '@'), "%%" a literal
 *   '%'. ldfilter_template_check() is for configuration time: a template
 *   passes only when it is a valid filter whose every placeholder sits
 *   inside an assertion value.
 * - ldfilter_expand() substitutes escaped values. It refuses, rather than
 *   build a filter of another shape: an empty substituted value ("(a=*%s)"
 *   would turn into the presence filter "(a=*)"), an address without '@'
 *   when the template uses %u or %d, a result over LDFILTER_MAX_LEN, and a
 *   template that would not pass ldfilter_template_check(). Its result
 *   always passes ldfilter_validate() and always has the template's shape.
 * - The shape of a filter (ldfilter_shape()) is the filter with every
 *   non-empty assertion value replaced by '?': "(|(mail=?)(cn=*?*))". Two
 *   filters with the same shape have the same operators, attributes,
 *   matching rules and item kinds, in the same order.
 * - Errors: -1 with *error_r set to a static, printable-ASCII reason that
 *   never echoes the input. Strings returned through *_r are allocated
 *   here and freed by the caller with free(); they are NUL-terminated.
 *   Pure functions: no I/O, no logging, no global state.
 */
#ifndef DIRMX_LDFILTER_H
#define DIRMX_LDFILTER_H

#include <stddef.h>

struct sbuf;

/* Longest filter ldfilter_expand() builds, in bytes (without the NUL). */
#define LDFILTER_MAX_LEN 65536
/* Deepest nesting of '(' the validator accepts. */
#define LDFILTER_MAX_DEPTH 32

/*
 * Append the escaped form of s[0..len) (any bytes, NULs included) to out.
 * Returns 0, or -1 when out's limit would be exceeded; out is then
 * unchanged.
 */
int ldfilter_escape(const void *s, size_t len, struct sbuf *out);
/* The same, as a new NUL-terminated string. */
char *ldfilter_escape_str(const void *s, size_t len);

/*
 * Strict RFC 4515 syntax check of filter[0..len): one complete filter and
 * nothing else (no surrounding space), attribute descriptions per RFC 4512,
 * escapes of two hex digits, well-formed UTF-8 in values, extensible
 * matches "attr[:dn][:rule]:=value" and "[:dn]:rule:=value".
 */
int ldfilter_validate(const char *filter, size_t len, const char **error_r);

/* Validate filter[0..len) and return its shape (see above) in *shape_r. */
int ldfilter_shape(const char *filter, size_t len, char **shape_r,
                   const char **error_r);

/* Check a configured template; see the contract above. */
int ldfilter_template_check(const char *tmpl, const char **error_r);

/*
 * Fill tmpl with address[0..len) (raw bytes; the caller normalises it).
 * On success *filter_r is the new filter.
 */
int ldfilter_expand(const char *tmpl, const char *address, size_t len,
                    char **filter_r, const char **error_r);

#endif
