/*
 * fuzz-config - config_parse_buffer() with dirmx's settings table over
 * arbitrary bytes: it must not crash, read out of bounds or leak, and a
 * failed parse must leave no configuration behind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errors = {0};
	struct dirmx_config *cfg = NULL;

	if (settings_parse_buffer(data, size, "fuzz.conf", &cfg, &errors) < 0) {
		if (cfg != NULL || errors.count == 0)
			abort();
	} else if (cfg == NULL || errors.count != 0) {
		abort();
	}
	config_errors_clear(&errors);
	dirmx_config_deinit(&cfg);
	return 0;
}
