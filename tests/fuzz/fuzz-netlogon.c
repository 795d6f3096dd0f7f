/*
 * fuzz-netlogon - netlogon_decode() on arbitrary bytes.
 *
 * Any input must give 0 with a complete info (every name a string) or -1
 * with an error, and never touch memory outside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netlogon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netlogon_info *info;
	const char *error = NULL;
	size_t total = 0;

	if (netlogon_decode(data, size, &info, &error) < 0) {
		if (error == NULL || info != NULL)
			abort();
		return 0;
	}
	/* Touch every string so ASan checks them. */
	total += strlen(info->dns_forest) + strlen(info->dns_domain) +
	         strlen(info->dns_host) + strlen(info->netbios_domain) +
	         strlen(info->netbios_computer) + strlen(info->user_name) +
	         strlen(info->dc_site) + strlen(info->client_site);
	if (info->next_closest_site != NULL)
		total += strlen(info->next_closest_site);
	if (total > 9 * 254)
		abort();
	netlogon_info_deinit(&info);
	if (info != NULL)
		abort();
	return 0;
}
