/*
 * rmetrics.h - routerd's /metrics: the collectors that turn rstats.h's
 * counters and the live queue into Prometheus families, and the endpoint
 * ([routerd] metrics_listen). The series are listed in README.md.
 */
#ifndef DIRMX_RMETRICS_H
#define DIRMX_RMETRICS_H

struct event_base;
struct dirmx_config;
struct queue;
struct rmetrics;

/*
 * Set up the counters for cfg's listeners and, when metrics_listen is
 * set, bind the endpoint (call as root: any port). *rm_r is NULL when the
 * endpoint is off. -1 and *error_r when it cannot bind.
 */
int rmetrics_new(struct event_base *base, const struct dirmx_config *cfg,
                 struct rmetrics **rm_r, const char **error_r);
/* The queue to report on, once it exists (rm may be NULL). */
void rmetrics_set_queue(struct rmetrics *rm, struct queue *q);
void rmetrics_deinit(struct rmetrics **rm);

#endif
