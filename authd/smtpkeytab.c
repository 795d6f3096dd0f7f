/*
 * smtpkeytab - read the SMTP service's keytab with libkrb5; see
 * smtpkeytab.h. The file is opened with open(2) first so that a missing
 * or unreadable file is reported with its errno text, which is clearer
 * than libkrb5's messages for the same thing.
 */
#include "smtpkeytab.h"

#include <errno.h>
#include <fcntl.h>
#include <krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"

/* Does the entry's principal name service/host[@realm]? */
static bool entry_matches(krb5_context ctx, krb5_const_principal p,
                          const char *service)
{
	const char *slash = strchr(service, '/');
	const char *at = strchr(service, '@');
	size_t host_len =
	    at != NULL ? (size_t)(at - slash - 1) : strlen(slash + 1);
	const krb5_data *c0, *c1;

	if (krb5_princ_size(ctx, p) != 2)
		return false;
	c0 = krb5_princ_component(ctx, p, 0);
	c1 = krb5_princ_component(ctx, p, 1);
	if (c0->length != (unsigned)(slash - service) ||
	    strncasecmp(c0->data, service, c0->length) != 0 ||
	    c1->length != host_len ||
	    strncasecmp(c1->data, slash + 1, host_len) != 0)
		return false;
	if (at != NULL && (p->realm.length != strlen(at + 1) ||
	                   memcmp(p->realm.data, at + 1, p->realm.length) != 0))
		return false;
	return true;
}

static void add_key(krb5_context ctx, struct smtpkeytab *kt,
                    const krb5_keytab_entry *e)
{
	struct smtpkeytab_key *k;
	char *name = NULL;
	char etype[64];

	kt->keys = alloc_resize(kt->keys, kt->n_keys + 1, sizeof(*kt->keys));
	k = &kt->keys[kt->n_keys++];
	if (krb5_unparse_name(ctx, e->principal, &name) == 0) {
		k->principal = alloc_strdup(name);
		krb5_free_unparsed_name(ctx, name);
	} else {
		k->principal = alloc_strdup("?");
	}
	k->kvno = e->vno;
	if (krb5_enctype_to_name(e->key.enctype, false, etype, sizeof(etype)) !=
	    0)
		snprintf(etype, sizeof(etype), "enctype-%d",
		         (int)e->key.enctype);
	k->enctype = alloc_strdup(etype);
	if (kt->realm == NULL)
		kt->realm = alloc_strndup(e->principal->realm.data,
		                          e->principal->realm.length);
}

int smtpkeytab_read(const char *keytab, const char *service,
                    struct smtpkeytab *kt_r, char **error_r)
{
	krb5_context ctx = NULL;
	krb5_keytab k = NULL;
	krb5_kt_cursor cur;
	krb5_keytab_entry e;
	krb5_error_code rc;
	char *name;
	int fd, ret = -1;

	memset(kt_r, 0, sizeof(*kt_r));
	*error_r = NULL;
	fd = open(keytab, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r =
		    alloc_printf("smtp_keytab %s: %s", keytab, strerror(errno));
		return -1;
	}
	close(fd);
	if (krb5_init_context(&ctx) != 0) {
		*error_r = alloc_printf("smtp_keytab %s: the Kerberos library "
		                        "cannot start (krb5.conf?)",
		                        keytab);
		return -1;
	}
	name = alloc_printf("FILE:%s", keytab);
	rc = krb5_kt_resolve(ctx, name, &k);
	free(name);
	if (rc == 0)
		rc = krb5_kt_start_seq_get(ctx, k, &cur);
	if (rc != 0) {
		const char *m = krb5_get_error_message(ctx, rc);

		*error_r = alloc_printf("smtp_keytab %s: %s", keytab, m);
		krb5_free_error_message(ctx, m);
		goto done;
	}
	while (krb5_kt_next_entry(ctx, k, &e, &cur) == 0) {
		if (entry_matches(ctx, e.principal, service))
			add_key(ctx, kt_r, &e);
		krb5_free_keytab_entry_contents(ctx, &e);
	}
	krb5_kt_end_seq_get(ctx, k, &cur);
	if (kt_r->n_keys == 0) {
		*error_r = alloc_printf("smtp_keytab %s holds no key for %s",
		                        keytab, service);
		goto done;
	}
	ret = 0;
done:
	if (k != NULL)
		krb5_kt_close(ctx, k);
	krb5_free_context(ctx);
	if (ret < 0)
		smtpkeytab_clear(kt_r);
	return ret;
}

void smtpkeytab_clear(struct smtpkeytab *kt)
{
	for (size_t i = 0; i < kt->n_keys; i++) {
		free(kt->keys[i].principal);
		free(kt->keys[i].enctype);
	}
	free(kt->keys);
	free(kt->realm);
	memset(kt, 0, sizeof(*kt));
}
