/*
 * settings_smtp - the Kerberos service principal of SMTP AUTH, as authd
 * (which holds its keytab) and dirmxctl auth --gssapi (which asks a
 * ticket for it) both name it.
 */
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "settings.h"

char *settings_smtp_service(const struct dirmx_config *cfg)
{
	char host[256] = "localhost";

	if (cfg->authd.smtp_service != NULL)
		return alloc_strdup(cfg->authd.smtp_service);
	if (cfg->routerd.hostname != NULL)
		return alloc_printf("smtp/%s", cfg->routerd.hostname);
	if (gethostname(host, sizeof(host) - 1) < 0)
		strcpy(host, "localhost");
	return alloc_printf("smtp/%s", host);
}
