/*
 * ldprot - bind protections and the order to try them; see ldprot.h.
 *
 * The result codes that mean "not with this protection", as servers send
 * them (measured, see tests/integration/test_gssbind.py):
 *   Samba, no layer:            8  strongAuthRequired "Sign or Seal are
 *                                  required"
 *   Samba, a layer inside TLS: 53  unwillingToPerform "Sign or Seal are not
 *                                  allowed if TLS is used"
 *   slapd, sasl-secprops:      48  inappropriateAuthentication "mech GSSAPI
 *                                  is too weak" (the server side), or the
 *                                  client's Cyrus SASL giving up because
 *                                  the layers offered are too weak
 *                                  (SASL(-15), LDAP_AUTH_UNKNOWN)
 *   any server, after a bind:  13  confidentialityRequired
 * Everything else (49 invalidCredentials, a Kerberos error reported as a
 * local error, a network error) is about the credentials or the path and
 * is the same whatever the protection.
 */
#include "ldprot.h"

#include <ldap.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "str.h"

size_t ldprot_plan(bool tls, bool layered, int remembered,
                   enum ldprot out[LDPROT_PLAN_MAX])
{
	static const enum ldprot order[] = {LDPROT_TLS, LDPROT_TLS_SEAL,
	                                    LDPROT_SEAL};
	size_t n = 0;

	if (!layered) {
		out[0] = tls ? LDPROT_TLS : LDPROT_CLEAR;
		return 1;
	}
	if (!tls) {
		/* Never GSSAPI without either: the layer is required. */
		out[0] = LDPROT_SEAL;
		return 1;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((int)order[i] == remembered)
			out[n++] = order[i];
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((int)order[i] != remembered)
			out[n++] = order[i];
	return n;
}

bool ldprot_refused(int ldap_code, const char *diag)
{
	switch (ldap_code) {
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_UNWILLING_TO_PERFORM:
		return true;
	case LDAP_AUTH_UNKNOWN:
		/* SASL_TOOWEAK from the client library: the layers the server
		 * offered are not the ones asked for. Any other "unknown
		 * authentication method" (no GSSAPI plugin) is not. */
		return diag != NULL && (strstr(diag, "SASL(-15)") != NULL ||
		                        strstr(diag, "too weak") != NULL);
	default:
		return false;
	}
}

const char *ldprot_name(enum ldprot p, bool ldaps)
{
	switch (p) {
	case LDPROT_TLS:
		return ldaps ? "ldaps" : "starttls";
	case LDPROT_TLS_SEAL:
		return ldaps ? "ldaps+sasl-seal" : "starttls+sasl-seal";
	case LDPROT_SEAL:
		return "sasl-seal";
	case LDPROT_CLEAR:
		break;
	}
	return "none";
}

char *ldprot_plain_uri(const char *uri)
{
	static const char scheme[] = "ldaps://";
	size_t len = strlen(uri), host_len;
	const char *host, *end, *colon = NULL;
	uint64_t port = 636;

	if (!str_has_prefix_case(uri, len, scheme))
		return NULL;
	host = uri + strlen(scheme);
	end = host + strcspn(host, "/?");
	if (*end != '\0' && strcmp(end, "/") != 0)
		return NULL; /* a DN or options: not a server URI of ours */
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (close == NULL)
			return NULL;
		if (close + 1 < end && close[1] == ':')
			colon = close + 1;
		else if (close + 1 != end)
			return NULL;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
	}
	host_len = (size_t)((colon != NULL ? colon : end) - host);
	if (host_len == 0)
		return NULL;
	if (colon != NULL) {
		struct buf b;

		buf_init(&b, colon + 1, (size_t)(end - colon - 1));
		if (!buf_fetch_uint(&b, 65535, &port) || buf_remaining(&b) != 0)
			return NULL;
	}
	if (port == 636)
		port = 389;
	else if (port == 3269)
		port = 3268;
	else
		return NULL;
	return alloc_printf("ldap://%.*s:%u", (int)host_len, host,
	                    (unsigned)port);
}

struct memo_entry {
	char *uri;
	enum ldprot p;
};

struct ldprot_memo {
	struct memo_entry entries[LDPROT_MEMO_MAX];
	size_t n;
	size_t next_evict; /* full: replace the oldest, round robin */
};

struct ldprot_memo *ldprot_memo_new(void)
{
	return alloc_new(struct ldprot_memo);
}

void ldprot_memo_deinit(struct ldprot_memo **mp)
{
	struct ldprot_memo *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	for (size_t i = 0; i < m->n; i++)
		free(m->entries[i].uri);
	free(m);
}

/* The index of uri's entry, or m->n when there is none. */
static size_t memo_find(const struct ldprot_memo *m, const char *uri)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->entries[i].uri, uri) == 0)
			break;
	return i;
}

int ldprot_memo_get(const struct ldprot_memo *m, const char *uri)
{
	size_t i;

	if (m == NULL)
		return -1;
	i = memo_find(m, uri);
	return i < m->n ? (int)m->entries[i].p : -1;
}

void ldprot_memo_set(struct ldprot_memo *m, const char *uri, enum ldprot p)
{
	size_t i = memo_find(m, uri);
	struct memo_entry *e = i < m->n ? &m->entries[i] : NULL;

	if (e == NULL) {
		if (m->n < LDPROT_MEMO_MAX) {
			e = &m->entries[m->n++];
		} else {
			e = &m->entries[m->next_evict];
			m->next_evict = (m->next_evict + 1) % LDPROT_MEMO_MAX;
			free(e->uri);
		}
		e->uri = alloc_strdup(uri);
	}
	e->p = p;
}
