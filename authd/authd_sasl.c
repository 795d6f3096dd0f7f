/*
 * authd_sasl - Kerberos SMTP AUTH from the configuration: the smtpsasl
 * (smtpsasl.h) authd_start() hands to the server, and authd -t's check of
 * the keytab (a keytab authd cannot read is an error before the first
 * client meets it).
 */
#include "authd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "settings.h"
#include "smtpsasl.h"

struct smtpsasl *authd_sasl_new(const struct dirmx_config *cfg, char **error_r)
{
	const struct settings_authd *s = &cfg->authd;
	char *service = settings_smtp_service(cfg);
	struct smtpsasl_options o = {
	    .keytab = s->smtp_keytab,
	    .service = service,
	    .mechs = (const char *const *)s->smtp_auth_mechanisms.items,
	    .n_mechs = s->smtp_auth_mechanisms.count,
	};
	struct smtpsasl *sasl = smtpsasl_new(&o, error_r);

	free(service);
	return sasl;
}

int authd_check(const struct dirmx_config *cfg)
{
	const struct settings_authd *s = &cfg->authd;
	char *service, *error = NULL;
	struct smtpkeytab kt;
	int ret = 0;

	if (s->smtp_keytab == NULL)
		return 0;
	service = settings_smtp_service(cfg);
	if (smtpkeytab_read(s->smtp_keytab, service, &kt, &error) < 0) {
		fprintf(stderr, "authd: %s\n", error);
		ret = 1;
	} else {
		printf("smtp_keytab %s: %zu key(s) for %s in realm %s\n",
		       s->smtp_keytab, kt.n_keys, service, kt.realm);
		smtpkeytab_clear(&kt);
	}
	free(error);
	free(service);
	return ret;
}
