/*
 * metrics_topn.h - a bounded label: the N keys seen most often get a
 * series of their own, everything else is counted under "other".
 *
 * For labels whose values come from outside (next hops of deliveries):
 * a Prometheus series per value would grow without bound. The set keeps
 * up to 4N candidates with their counts (the Space-Saving method: a new
 * key replaces the least counted candidate and inherits its count, so a
 * key seen often always gets in) and gives the N best of them a series.
 *
 * Each key with a series has one counter per result (0..n_results-1);
 * so has "other". Counters never decrease while their series exists: a
 * key counts under "other" until it is given a series (which then starts
 * at 0), and a key that loses its series (outranked at a re-rank, or
 * replaced as a candidate) takes its series away with it; its later
 * counts go to "other". The first N keys get a series at once; after
 * that, metrics_topn_rank() (at each scrape) hands the series to the
 * best N, with hysteresis: a holder is displaced only by a candidate
 * counted at least twice as often.
 *
 * Pure, no allocation after metrics_topn_new(): keys are copied into
 * fixed buffers (at most METRICS_TOPN_KEY - 1 bytes kept).
 */
#ifndef DIRMX_METRICS_TOPN_H
#define DIRMX_METRICS_TOPN_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_TOPN_KEY 256
#define METRICS_TOPN_OTHER "other"

struct metrics_topn;

struct metrics_topn *metrics_topn_new(size_t slots, size_t n_results);
void metrics_topn_deinit(struct metrics_topn **t);

/* n events for key with result (< n_results). */
void metrics_topn_count(struct metrics_topn *t, const char *key, size_t result,
                        uint64_t n);
/* Give the series to the best keys (see above). */
void metrics_topn_rank(struct metrics_topn *t);

/*
 * The series: i < metrics_topn_n(t); the last one is always "other".
 * Returns the key and sets *counts_r to its n_results counters; both
 * valid until the next count or rank.
 */
size_t metrics_topn_n(const struct metrics_topn *t);
const char *metrics_topn_get(const struct metrics_topn *t, size_t i,
                             const uint64_t **counts_r);

#endif
