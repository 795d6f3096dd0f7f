/*
 * spool_id - queue IDs that sort by time; see spool_id.h.
 *
 * The 80-bit value (us << 16 | seq) is cut into sixteen 5-bit groups, most
 * significant first, each written as one character of the alphabet below.
 * The bit-by-bit loop is slow in theory and irrelevant in practice (one ID
 * per message), and it needs no 128-bit arithmetic.
 */
#include "spool_id.h"

#include <string.h>

static const char spool_id_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

#define SPOOL_ID_BITS (SPOOL_ID_LEN * 5)

struct spool_id spool_id_new(uint64_t now_us, struct spool_id last)
{
	struct spool_id id;

	if (now_us > last.us) {
		id.us = now_us;
		id.seq = 0;
	} else if (last.seq < UINT16_MAX) {
		id.us = last.us;
		id.seq = (uint16_t)(last.seq + 1);
	} else {
		/* 65,536 IDs in one microsecond: borrow the next one. The
		   clock catches up, and until then IDs stay ordered. */
		id.us = last.us + 1;
		id.seq = 0;
	}
	return id;
}

int spool_id_cmp(struct spool_id a, struct spool_id b)
{
	if (a.us != b.us)
		return a.us < b.us ? -1 : 1;
	if (a.seq != b.seq)
		return a.seq < b.seq ? -1 : 1;
	return 0;
}

/* Bit k of the 80-bit value, counting from the least significant. */
static unsigned spool_id_bit(struct spool_id id, unsigned k)
{
	if (k < 16)
		return (id.seq >> k) & 1u;
	return (unsigned)(id.us >> (k - 16)) & 1u;
}

void spool_id_format(struct spool_id id, char out[static SPOOL_ID_LEN + 1])
{
	for (unsigned i = 0; i < SPOOL_ID_LEN; i++) {
		unsigned v = 0;

		for (unsigned j = 0; j < 5; j++)
			v = v << 1 |
			    spool_id_bit(id, SPOOL_ID_BITS - 1 - i * 5 - j);
		out[i] = spool_id_alphabet[v];
	}
	out[SPOOL_ID_LEN] = '\0';
}

bool spool_id_parse(const char *s, size_t len, struct spool_id *id_r)
{
	struct spool_id id = {0, 0};

	if (len != SPOOL_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		const char *p;

		if (s[i] == '\0' ||
		    (p = strchr(spool_id_alphabet, s[i])) == NULL)
			return false;
		for (unsigned j = 0; j < 5; j++) {
			unsigned bit =
			    (unsigned)(p - spool_id_alphabet) >> (4 - j) & 1u;

			/* Shift the 80-bit value left by one, bit in. */
			id.us = id.us << 1 | (uint64_t)(id.seq >> 15);
			id.seq = (uint16_t)(id.seq << 1 | bit);
		}
	}
	*id_r = id;
	return true;
}
