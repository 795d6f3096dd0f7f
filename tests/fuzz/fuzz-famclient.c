/*
 * fuzz-famclient - famclient_parse() on arbitrary bytes (authd's
 * familiar-clients file).
 *
 * Any input must give -1 with an error and an empty store, or a count of
 * lines and a store that formats back into a file that parses again to
 * the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "famclient.h"
#include "sbuf.h"

#define NOW 1800000000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct famclient *fc = famclient_new(14 * 86400ULL, 1000), *again;
	struct sbuf *a = sbuf_new(16u << 20), *b = sbuf_new(16u << 20);
	const char *error = NULL;
	long n = famclient_parse(fc, data, size, NOW, &error);

	if (n < 0) {
		if (error == NULL || famclient_accounts(fc) != 0)
			abort();
		goto done;
	}
	if (!famclient_format(fc, NOW, a))
		abort();
	again = famclient_new(14 * 86400ULL, 1000);
	if (famclient_parse(again, sbuf_data(a), sbuf_len(a), NOW, &error) <
	        0 ||
	    !famclient_format(again, NOW, b) || sbuf_len(a) != sbuf_len(b) ||
	    memcmp(sbuf_data(a), sbuf_data(b), sbuf_len(a)) != 0)
		abort();
	famclient_deinit(&again);
done:
	sbuf_deinit(&a);
	sbuf_deinit(&b);
	famclient_deinit(&fc);
	return 0;
}
