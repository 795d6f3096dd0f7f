/*
 * spool_id.h - queue IDs: unique, and sortable by time as plain strings.
 *
 * A queue ID is 80 bits: the arrival time in microseconds since the epoch
 * (64 bits) followed by a 16-bit sequence number, written as 16 characters
 * of lowercase Crockford base32 ("0123456789abcdefghjkmnpqrstvwxyz", whose
 * characters are in ASCII order). Fixed width plus an ordered alphabet
 * means that strcmp() order is time order, so `ls q/` lists the queue
 * oldest first.
 *
 * spool_id_new() is pure: given the clock and the last ID handed out it
 * returns the next one, which is always greater than the last. When the
 * clock has not moved, or has stepped back, the new ID keeps the last
 * time and increases the sequence (carrying into the time when the
 * sequence overflows); IDs therefore never repeat while the caller keeps
 * feeding back the last one, whatever the clock does. The spool seeds
 * "last" with the greatest ID found on disk, so a restart behind a clock
 * that stepped back cannot reuse an ID either.
 *
 * Nothing here allocates, logs or reads the clock.
 */
#ifndef DIRMX_SPOOL_ID_H
#define DIRMX_SPOOL_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_ID_LEN 16

struct spool_id {
	uint64_t us;  /* microseconds since the epoch (or later, see above) */
	uint16_t seq; /* distinguishes IDs of the same microsecond */
};

/* The next ID after last, at time now_us. */
struct spool_id spool_id_new(uint64_t now_us, struct spool_id last);
/* <0, 0, >0 as a is before, equal to, after b. */
int spool_id_cmp(struct spool_id a, struct spool_id b);
/* The 16-character form, NUL-terminated. */
void spool_id_format(struct spool_id id, char out[static SPOOL_ID_LEN + 1]);
/* Exactly SPOOL_ID_LEN characters of the alphabet; false otherwise. */
bool spool_id_parse(const char *s, size_t len, struct spool_id *id_r);

#endif
