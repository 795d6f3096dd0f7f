/*
 * ametrics.h - authd's /metrics: collectors over the numbers the modules
 * already keep (authcheck, lookup and its cache, the LDAP pools, the DC
 * locators), and the endpoint ([authd] metrics_listen). The series are
 * listed in README.md.
 */
#ifndef DIRMX_AMETRICS_H
#define DIRMX_AMETRICS_H

struct event_base;
struct config_hostport;
struct authcheck;
struct dcloc;
struct ldpool;
struct lookup;
struct dirwatch;
struct ametrics;

/* What the collectors read; any may be NULL (gc_*: no Global Catalog). */
struct ametrics_sources {
	struct authcheck *auth;
	struct lookup *lookup;
	struct dcloc *loc;
	struct ldpool *pool;
	struct dcloc *gc_loc;
	struct ldpool *gc_pool;
	struct dirwatch *watch;
};

/* Serve at addr; NULL and *error_r when it cannot bind. The sources must
 * outlive it. */
struct ametrics *ametrics_new(struct event_base *base,
                              const struct config_hostport *addr,
                              const struct ametrics_sources *src,
                              const char **error_r);
void ametrics_deinit(struct ametrics **am);

#endif
