/*
 * ldconn_msg - search entries, controls and intermediate responses, from
 * libldap's form (LDAPMessage, LDAPControl) to ldconn's (ldconn.h), for
 * ldconn.c. Values are copied: what ldconn hands to callbacks never points
 * into libldap's memory. Also the small public helpers on those forms
 * (ldconn_entry_attr(), ldconn_control_find(), ldconn_status_str()).
 */
#include <ldap.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "ldconn_private.h"

void ldconn_entry_fill(struct ldconn_entry *e, LDAP *ld, LDAPMessage *msg)
{
	BerElement *ber = NULL;
	char *dn, *name;

	dn = ldap_get_dn(ld, msg);
	e->dn = alloc_strdup(dn != NULL ? dn : "");
	ldap_memfree(dn);
	for (name = ldap_first_attribute(ld, msg, &ber); name != NULL;
	     name = ldap_next_attribute(ld, msg, ber)) {
		struct berval **vals = ldap_get_values_len(ld, msg, name);
		struct ldconn_attr *a;
		size_t n =
		    vals != NULL ? (size_t)ldap_count_values_len(vals) : 0;

		e->attrs =
		    alloc_resize(e->attrs, e->n_attrs + 1, sizeof(*e->attrs));
		a = &e->attrs[e->n_attrs++];
		a->name = alloc_strdup(name);
		a->n_values = n;
		a->values = alloc_array(n, sizeof(*a->values));
		for (size_t i = 0; i < n; i++) {
			a->values[i].data =
			    alloc_strndup(vals[i]->bv_val, vals[i]->bv_len);
			a->values[i].len = vals[i]->bv_len;
		}
		ldap_value_free_len(vals);
		ldap_memfree(name);
	}
	if (ber != NULL)
		ber_free(ber, 0);
}

void ldconn_entry_clear(struct ldconn_entry *e)
{
	for (size_t j = 0; j < e->n_attrs; j++) {
		for (size_t k = 0; k < e->attrs[j].n_values; k++)
			free((char *)e->attrs[j].values[k].data);
		free(e->attrs[j].values);
		free((char *)e->attrs[j].name);
	}
	free(e->attrs);
	free((char *)e->dn);
	memset(e, 0, sizeof(*e));
}

size_t ldconn_controls_copy(LDAPControl **in, struct ldconn_control **out_r)
{
	size_t n = 0;
	struct ldconn_control *out;

	while (in != NULL && in[n] != NULL)
		n++;
	out = alloc_array(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i].oid = alloc_strdup(
		    in[i]->ldctl_oid != NULL ? in[i]->ldctl_oid : "");
		out[i].critical = in[i]->ldctl_iscritical != 0;
		out[i].has_value = in[i]->ldctl_value.bv_val != NULL;
		out[i].value.data = alloc_strndup(
		    out[i].has_value ? in[i]->ldctl_value.bv_val : "",
		    in[i]->ldctl_value.bv_len);
		out[i].value.len = in[i]->ldctl_value.bv_len;
	}
	*out_r = out;
	return n;
}

void ldconn_controls_free(struct ldconn_control *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)c[i].oid);
		free((char *)c[i].value.data);
	}
	free(c);
}

LDAPControl **ldconn_controls_make(const struct ldconn_control *c, size_t n)
{
	LDAPControl **out;

	if (n == 0)
		return NULL;
	/* n + 2: room for a paged results control after them (ldconn.c) */
	out = alloc_array(n + 2, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		struct berval bv = {.bv_len = c[i].value.len,
		                    .bv_val = (char *)c[i].value.data};

		out[i] = NULL;
		out[i + 1] = NULL;
		if (ldap_control_create(c[i].oid, c[i].critical ? 1 : 0,
		                        c[i].has_value ? &bv : NULL, 1,
		                        &out[i]) != LDAP_SUCCESS) {
			ldconn_controls_release(out);
			return NULL;
		}
	}
	return out;
}

void ldconn_controls_release(LDAPControl **list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		ldap_control_free(list[i]);
	free(list);
}

void ldconn_stream_message(LDAP *ld, LDAPMessage *msg, int type,
                           ldconn_stream_cb *cb, void *ctx)
{
	struct ldconn_message m = {0};
	struct ldconn_entry e = {0};
	struct ldconn_control *ctrls = NULL;
	LDAPControl **lc = NULL;
	char *oid = NULL;
	struct berval *data = NULL;

	if (type == LDAP_RES_SEARCH_ENTRY) {
		ldconn_entry_fill(&e, ld, msg);
		(void)ldap_get_entry_controls(ld, msg, &lc);
		m.entry = &e;
	} else {
		if (ldap_parse_intermediate(ld, msg, &oid, &data, &lc, 0) !=
		    LDAP_SUCCESS)
			return;
		m.intermediate = true;
		m.oid = oid;
		if (data != NULL) {
			m.has_value = true;
			m.value.data = data->bv_val;
			m.value.len = data->bv_len;
		}
	}
	m.n_controls = ldconn_controls_copy(lc, &ctrls);
	m.controls = ctrls;
	cb(&m, ctx);
	ldconn_controls_free(ctrls, m.n_controls);
	ldap_controls_free(lc);
	ldap_memfree(oid);
	ber_bvfree(data);
	ldconn_entry_clear(&e);
}

const char *ldconn_status_str(enum ldconn_status status)
{
	switch (status) {
	case LDCONN_OK:
		return "ok";
	case LDCONN_NO_SUCH_OBJECT:
		return "no such object";
	case LDCONN_SIZELIMIT:
		return "size limit exceeded";
	case LDCONN_LDAP_ERROR:
		return "LDAP error";
	case LDCONN_TIMEOUT:
		return "timeout";
	case LDCONN_CONN_LOST:
		return "connection lost";
	case LDCONN_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

const struct ldconn_control *ldconn_control_find(const struct ldconn_control *c,
                                                 size_t n, const char *oid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].oid, oid) == 0)
			return &c[i];
	return NULL;
}

const struct ldconn_attr *ldconn_entry_attr(const struct ldconn_entry *e,
                                            const char *name)
{
	for (size_t i = 0; i < e->n_attrs; i++) {
		if (strcasecmp(e->attrs[i].name, name) == 0)
			return &e->attrs[i];
	}
	return NULL;
}
