/*
 * srvorder.h - the order in which to try the targets of an SRV answer.
 *
 * Contract:
 * - srvorder_sort() implements RFC 2782: lowest priority first; within one
 *   priority, repeated weighted random selection (weight-0 targets are
 *   placed before the running sum, so they have a small but non-zero
 *   chance of going first; when every remaining weight is 0 the pick is
 *   uniform). Identical target+port pairs (names compared without regard to
 *   case or one trailing dot) are tried once, at the best priority they
 *   were listed with.
 * - A set whose every record has the target "." means "the service is
 *   decidedly not available" (RFC 2782): SRVORDER_UNAVAILABLE, distinct
 *   from an empty input, which is 0 with no targets. A "." record among
 *   real targets is dropped.
 * - Pure: randomness comes from the caller's rand_fn, which returns
 *   uniformly distributed 32-bit values; the module reduces them to the
 *   needed range without modulo bias.
 * - Ownership: the targets and their names stay the caller's; *order_r is
 *   an array of indexes into targets, allocated here, freed by the caller
 *   with free() (NULL when there is nothing to try).
 */
#ifndef DIRMX_SRVORDER_H
#define DIRMX_SRVORDER_H

#include <stddef.h>
#include <stdint.h>

struct srvorder_target {
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	/* Host name, without or with one trailing dot; "." means none. */
	const char *target;
};

/* Uniform 32-bit random value. */
typedef uint32_t srvorder_rand_fn(void *ctx);

/* Return values of srvorder_sort() besides -1. */
#define SRVORDER_OK 0
#define SRVORDER_UNAVAILABLE 1

/*
 * Order count targets. Returns SRVORDER_OK with *order_r / *order_count_r
 * set, SRVORDER_UNAVAILABLE (nothing allocated, *order_count_r = 0) for the
 * "." answer, or -1 with *error_r for a caller error (NULL target name,
 * no rand_fn).
 */
int srvorder_sort(const struct srvorder_target *targets, size_t count,
                  srvorder_rand_fn *rand_fn, void *rand_ctx, size_t **order_r,
                  size_t *order_count_r, const char **error_r);

/*
 * Site preference: move the entries of order (indexes as returned by
 * srvorder_sort) whose DC site equals client_site (ASCII case-insensitive)
 * to the front, keeping the relative order of both parts. dc_sites is
 * indexed like targets; an entry may be NULL (site unknown: never
 * preferred). A NULL or empty client_site changes nothing. Returns how
 * many entries are in the preferred part.
 */
size_t srvorder_prefer_site(size_t *order, size_t count,
                            const char *const *dc_sites,
                            const char *client_site);

#endif
