/*
 * ametrics - authd's metrics families; see ametrics.h.
 *
 * Read at scrape time on the loop thread; nothing is counted here. The
 * DC label is the DC's LDAP URI, one series per DC the locator knows
 * (bounded by DNS and the configuration, not by clients); the pool label
 * tells the domain's DCs ("dc") from the Global Catalog's ("gc").
 * How directory changes are followed (dirwatch.h): one in_sync gauge
 * with the mechanism as a label (three values), and counters.
 */
#include "ametrics.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authcheck.h"
#include "cache.h"
#include "dcloc.h"
#include "dirwatch.h"
#include "evloop.h"
#include "ldpool.h"
#include "lookup.h"
#include "metrics.h"

struct ametrics {
	struct ametrics_sources src;
	struct metrics *m;
	struct metrics_http *http;
};

static const char *const l_result[] = {"result", NULL};
static const char *const l_source_outcome[] = {"source", "outcome", NULL};
static const char *const l_dc[] = {"pool", "dc", NULL};
static const char *const l_dc_state[] = {"pool", "dc", "state", NULL};

static const struct metrics_family f_auth = {"dirmx_authd_auth",
                                             "AUTH checks answered, by result.",
                                             METRICS_COUNTER, l_result};
static const struct metrics_family f_throttled = {
    "dirmx_authd_auth_throttled",
    "AUTH checks refused before the directory saw the guess (account or "
    "client over its failure budget); also counted as failed.",
    METRICS_COUNTER, NULL};
static const struct metrics_family f_lookups = {
    "dirmx_authd_lookups",
    "Recipient lookups answered, by source (cache or directory) and "
    "outcome. A directory answer shared by coalesced requests counts once.",
    METRICS_COUNTER, l_source_outcome};
static const struct metrics_family f_coalesced = {
    "dirmx_authd_lookups_coalesced",
    "Lookups that joined one already in flight for the same address.",
    METRICS_COUNTER, NULL};
static const struct metrics_family f_cache_entries = {
    "dirmx_authd_cache_entries", "Answers in the lookup cache.", METRICS_GAUGE,
    NULL};
static const struct metrics_family f_cache_bytes = {
    "dirmx_authd_cache_bytes", "Bytes the lookup cache holds.", METRICS_GAUGE,
    NULL};
static const struct metrics_family f_cache_hits = {
    "dirmx_authd_cache_hits", "Lookup cache hits.", METRICS_COUNTER, NULL};
static const struct metrics_family f_cache_misses = {
    "dirmx_authd_cache_misses", "Lookup cache misses (absent or expired).",
    METRICS_COUNTER, NULL};
static const struct metrics_family f_cache_evictions = {
    "dirmx_authd_cache_evictions",
    "Fresh cache entries dropped to respect the size limits.", METRICS_COUNTER,
    NULL};
static const struct metrics_family f_cache_ratio = {
    "dirmx_authd_cache_hit_ratio",
    "Hits over hits and misses since start (0 before any lookup).",
    METRICS_GAUGE, NULL};
static const struct metrics_family f_searches = {
    "dirmx_authd_ldap_searches", "LDAP searches answered by a DC.",
    METRICS_COUNTER, l_dc};
static const struct metrics_family f_failovers = {
    "dirmx_authd_ldap_failovers",
    "LDAP searches moved away from a DC that failed them.", METRICS_COUNTER,
    l_dc};
static const struct metrics_family f_latency = {
    "dirmx_authd_ldap_search_duration_seconds",
    "LDAP search latency per DC, sent to answered.", METRICS_HISTOGRAM, l_dc};
static const struct metrics_family f_conns = {
    "dirmx_authd_ldap_connections_up", "Bound pool connections up per DC.",
    METRICS_GAUGE, l_dc};
static const struct metrics_family f_dc_state = {
    "dirmx_authd_dc_state",
    "Health of each DC the locator knows: 1 for its current state.",
    METRICS_GAUGE, l_dc_state};
static const struct metrics_family f_dc_preferred = {
    "dirmx_authd_dc_preferred",
    "1 for the DC new searches go to first (the first in order not down).",
    METRICS_GAUGE, l_dc};

static const char *const l_mechanism[] = {"mechanism", "state", NULL};
static const struct metrics_family f_watch_sync = {
    "dirmx_authd_watch_in_sync",
    "1 while directory changes are followed (answers may be cached for "
    "cache_ttl); 0 while not (capped at unwatched_cache_ttl).",
    METRICS_GAUGE, l_mechanism};
static const struct metrics_family f_watch_changes = {
    "dirmx_authd_watch_changes", "Directory changes seen.", METRICS_COUNTER,
    NULL};
static const struct metrics_family f_watch_dropped = {
    "dirmx_authd_watch_invalidated",
    "Cached answers directory changes dropped.", METRICS_COUNTER, NULL};
static const struct metrics_family f_watch_flushes = {
    "dirmx_authd_watch_flushes",
    "Whole-cache flushes: what changed could not be known (another DC, a "
    "resume without deletions, changes not followed for too long).",
    METRICS_COUNTER, NULL};

static const char *const state_names[] = {"unknown", "up", "down"};

static void collect_auth(struct metrics_writer *w, void *ctx)
{
	struct ametrics *am = ctx;
	struct authcheck_stats as = {{0}, 0};
	struct lookup_stats ls = {0};
	struct cache_stats cs = {0};
	static const char *const results[] = {"ok", "failed", "tempfail"};

	if (am->src.auth != NULL)
		authcheck_get_stats(am->src.auth, &as);
	metrics_family(w, &f_auth);
	for (size_t i = 0; i < 3; i++) {
		const char *v[] = {results[i]};

		metrics_counter(w, v, as.answers[i]);
	}
	metrics_one_counter(w, &f_throttled, as.throttled);
	if (am->src.lookup != NULL) {
		lookup_get_stats(am->src.lookup, &ls);
		(void)lookup_get_cache_stats(am->src.lookup, &cs);
	}
	metrics_family(w, &f_lookups);
	metrics_counter(w, (const char *[]){"cache", "ok"}, ls.cache_ok);
	metrics_counter(w, (const char *[]){"cache", "notfound"},
	                ls.cache_notfound);
	metrics_counter(w, (const char *[]){"directory", "ok"}, ls.ok);
	metrics_counter(w, (const char *[]){"directory", "notfound"},
	                ls.notfound);
	metrics_counter(w, (const char *[]){"directory", "tempfail"},
	                ls.tempfail);
	metrics_one_counter(w, &f_coalesced, ls.coalesced);
	metrics_one_gauge(w, &f_cache_entries, (double)cs.entries);
	metrics_one_gauge(w, &f_cache_bytes, (double)cs.bytes);
	metrics_one_counter(w, &f_cache_hits, cs.hits);
	metrics_one_counter(w, &f_cache_misses, cs.misses);
	metrics_one_counter(w, &f_cache_evictions, cs.evictions);
	metrics_one_gauge(w, &f_cache_ratio,
	                  cs.hits + cs.misses > 0
	                      ? (double)cs.hits / (double)(cs.hits + cs.misses)
	                      : 0);
}

/* One family over the DCs of both locators. */
enum dc_what { DC_SEARCHES, DC_FAILOVERS, DC_LATENCY, DC_CONNS, DC_STATE };

static void dc_samples(struct metrics_writer *w, const char *pool_name,
                       struct dcloc *loc, struct ldpool *pool,
                       enum dc_what what)
{
	if (loc == NULL)
		return;
	for (size_t i = 0; i < dcloc_count(loc); i++) {
		const struct dcloc_dc *dc = dcloc_get(loc, i);
		const char *v[] = {pool_name, dc->uri, NULL};
		struct ldpool_dc_stats st;

		if (pool != NULL)
			ldpool_dc_stats(pool, dc, &st);
		else
			memset(&st, 0, sizeof(st));
		if (st.latency.n_bounds == 0)
			metrics_hist_init(&st.latency,
			                  metrics_latency_bounds_us,
			                  metrics_latency_n_bounds);
		switch (what) {
		case DC_SEARCHES:
			metrics_counter(w, v, st.searches);
			break;
		case DC_FAILOVERS:
			metrics_counter(w, v, st.failovers);
			break;
		case DC_LATENCY:
			metrics_histogram(w, v, &st.latency);
			break;
		case DC_CONNS:
			metrics_gauge(w, v, st.conns_up);
			break;
		case DC_STATE:
			for (size_t s = 0; s < 3; s++) {
				v[2] = state_names[s];
				metrics_gauge(w, v, (size_t)dc->state == s);
			}
			break;
		}
	}
}

static void collect_dcs(struct metrics_writer *w, void *ctx)
{
	struct ametrics *am = ctx;
	static const struct {
		const struct metrics_family *f;
		enum dc_what what;
	} fams[] = {
	    {&f_searches, DC_SEARCHES}, {&f_failovers, DC_FAILOVERS},
	    {&f_latency, DC_LATENCY},   {&f_conns, DC_CONNS},
	    {&f_dc_state, DC_STATE},
	};
	uint64_t now = evloop_now_ms();

	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		metrics_family(w, fams[i].f);
		dc_samples(w, "dc", am->src.loc, am->src.pool, fams[i].what);
		dc_samples(w, "gc", am->src.gc_loc, am->src.gc_pool,
		           fams[i].what);
	}
	if (am->src.watch != NULL) {
		struct dirwatch_status st;

		dirwatch_get_status(am->src.watch, &st);
		metrics_family(w, &f_watch_sync);
		metrics_gauge(w, (const char *[]){st.mechanism, st.state},
		              st.in_sync ? 1 : 0);
		metrics_family(w, &f_watch_changes);
		metrics_counter(w, NULL, st.changes);
		metrics_family(w, &f_watch_dropped);
		metrics_counter(w, NULL, st.invalidated);
		metrics_family(w, &f_watch_flushes);
		metrics_counter(w, NULL, st.flushes);
	}
	metrics_family(w, &f_dc_preferred);
	for (size_t p = 0; p < 2; p++) {
		struct dcloc *loc = p == 0 ? am->src.loc : am->src.gc_loc;
		const struct dcloc_dc *dc =
		    loc != NULL ? dcloc_next_up(loc, NULL, now) : NULL;

		if (dc != NULL)
			metrics_gauge(
			    w, (const char *[]){p == 0 ? "dc" : "gc", dc->uri},
			    1);
	}
}

struct ametrics *ametrics_new(struct event_base *base,
                              const struct config_hostport *addr,
                              const struct ametrics_sources *src,
                              const char **error_r)
{
	struct ametrics *am = alloc_new(struct ametrics);

	am->src = *src;
	am->m = metrics_new();
	metrics_add(am->m, collect_auth, am);
	metrics_add(am->m, collect_dcs, am);
	am->http = metrics_http_new(base, addr, am->m, error_r);
	if (am->http == NULL)
		ametrics_deinit(&am);
	return am;
}

void ametrics_deinit(struct ametrics **am)
{
	if (*am == NULL)
		return;
	metrics_http_deinit(&(*am)->http);
	metrics_deinit(&(*am)->m);
	free(*am);
	*am = NULL;
}
