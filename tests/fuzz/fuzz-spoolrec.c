/*
 * fuzz-spoolrec - spoolrec_parse() on arbitrary bytes.
 *
 * Most mutations break the end line's CRC and stop at the frame check;
 * so each input is also parsed a second time with its last line replaced
 * by a correct end line, which sends the mutated fields through the
 * field parser. Whatever parses must format back to exactly the bytes
 * parsed (one spelling per record) - except a version 1 to 3 record,
 * which formats as version 4: that must parse, and format back to itself;
 * errors must be printable ASCII; any difference abort()s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "spoolrec.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_one(const uint8_t *data, size_t size)
{
	struct spoolrec *r = NULL;
	const char *error = NULL;
	struct sbuf *out;

	if (spoolrec_parse(data, size, &r, &error) < 0) {
		if (r != NULL || error == NULL ||
		    !str_is_printable_ascii(error, strlen(error)))
			abort();
		return;
	}
	out = sbuf_new(SPOOLREC_MAX_LEN);
	if (spoolrec_format(r, out, &error) < 0)
		abort();
	if (size >= 10 && (memcmp(data, "version=1\n", 10) == 0 ||
	                   memcmp(data, "version=2\n", 10) == 0 ||
	                   memcmp(data, "version=3\n", 10) == 0)) {
		spoolrec_deinit(&r);
		if (memcmp(sbuf_data(out), "version=4\n", 10) != 0)
			abort();
		parse_one((const uint8_t *)sbuf_data(out), sbuf_len(out));
	} else if (sbuf_len(out) != size ||
	           memcmp(sbuf_data(out), data, size) != 0) {
		abort();
	}
	sbuf_deinit(&out);
	spoolrec_deinit(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t body = size;
	uint8_t *fixed;
	char end[16];

	parse_one(data, size);
	/* Re-frame: drop a trailing "end=..." line if any, add a good one. */
	if (size >= 13 && memcmp(data + size - 13, "end=", 4) == 0)
		body = size - 13;
	fixed = malloc(body + 13);
	if (fixed == NULL)
		abort();
	memcpy(fixed, data, body);
	snprintf(end, sizeof(end), "end=%08lx\n",
	         (unsigned long)spoolrec_crc32(0, data, body));
	memcpy(fixed + body, end, 13);
	parse_one(fixed, body + 13);
	free(fixed);
	return 0;
}
