/*
 * krbmap - a Kerberos principal's account search; see krbmap.h.
 */
#include "krbmap.h"

#include <string.h>
#include <strings.h>

#include "ldfilter.h"
#include "sbuf.h"

int krbmap_filter(const char *principal, const char *realm, bool ad,
                  const char *account_filter, char **filter_r,
                  const char **why_r)
{
	const char *at = strrchr(principal, '@');
	size_t name_len =
	    at != NULL ? (size_t)(at - principal) : strlen(principal);
	const char *p_realm = at != NULL ? at + 1 : realm;
	bool own =
	    at == NULL || (realm != NULL && strcasecmp(at + 1, realm) == 0);
	struct sbuf *f;

	*filter_r = NULL;
	if (name_len == 0 || memchr(principal, '/', name_len) != NULL ||
	    p_realm == NULL || *p_realm == '\0') {
		*why_r = "a principal with an instance, or without a name";
		return -1;
	}
	if (!ad) {
		if (!own) {
			*why_r = "a principal of another realm";
			return -1;
		}
		return ldfilter_expand(account_filter, principal, name_len,
		                       filter_r, why_r);
	}
	f = sbuf_new(4096);
	sbuf_append_str(f, "(&(objectClass=user)(|(userPrincipalName=");
	ldfilter_escape(principal, name_len, f);
	sbuf_append_str(f, "@");
	ldfilter_escape(p_realm, strlen(p_realm), f);
	sbuf_append_str(f, ")");
	if (own) {
		sbuf_append_str(f, "(sAMAccountName=");
		ldfilter_escape(principal, name_len, f);
		sbuf_append_str(f, ")");
	}
	sbuf_append_str(f, "))");
	*filter_r = sbuf_steal(f, NULL);
	sbuf_deinit(&f);
	return 0;
}
