/*
 * fuzz-cldap - cldap_decode_reply() on arbitrary datagrams, and the
 * Netlogon value it finds through netlogon_decode(), as authd chains them.
 *
 * The corpus replies carry messageID 7.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cldap.h"
#include "netlogon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netlogon_info *info;
	const char *error = NULL;
	void *value;
	size_t len;

	if (cldap_decode_reply(data, size, 7, &value, &len, &error) < 0) {
		if (error == NULL || value != NULL || len != 0)
			abort();
		return 0;
	}
	if (value == NULL || len == 0 || len > size)
		abort();
	if (netlogon_decode(value, len, &info, &error) == 0)
		netlogon_info_deinit(&info);
	free(value);
	return 0;
}
