/*
 * rstats - routerd's process-wide counters; see rstats.h.
 */
#include "rstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "metrics_topn.h"

struct rstats rstats;

/* Sessions of a listener nobody registered (unit tests, a race with a
 * reload) still count somewhere. */
static struct rstats_listener spare = {.name = "unknown"};

void rstats_init(const char *const *listeners, size_t n)
{
	if (rstats.deliveries == NULL) {
		rstats.deliveries =
		    metrics_topn_new(RSTATS_NEXTHOPS, RSTATS_DELIVERY_N);
		metrics_hist_init(&rstats.spool_commit,
		                  metrics_latency_bounds_us,
		                  metrics_latency_n_bounds);
	}
	for (size_t i = 0; i < n; i++) {
		struct rstats_listener *l;

		if (rstats_listener(listeners[i]) != &spare)
			continue;
		rstats.listeners = alloc_resize(
		    rstats.listeners, rstats.n_listeners + 1, sizeof(*l));
		l = &rstats.listeners[rstats.n_listeners++];
		memset(l, 0, sizeof(*l));
		snprintf(l->name, sizeof(l->name), "%s", listeners[i]);
	}
}

void rstats_deinit(void)
{
	free(rstats.listeners);
	metrics_topn_deinit(&rstats.deliveries);
	memset(&rstats, 0, sizeof(rstats));
}

struct rstats_listener *rstats_listener(const char *name)
{
	for (size_t i = 0; i < rstats.n_listeners; i++)
		if (strcmp(rstats.listeners[i].name, name) == 0)
			return &rstats.listeners[i];
	return &spare;
}

void rstats_tls_done(const char *version)
{
	if (version != NULL && strcmp(version, "TLS1.3") == 0)
		rstats.tls[RSTATS_TLS_13]++;
	else if (version != NULL && strcmp(version, "TLS1.2") == 0)
		rstats.tls[RSTATS_TLS_12]++;
	else
		rstats.tls[RSTATS_TLS_OTHER]++;
}

void rstats_delivery(const char *hop, enum rstats_delivery result, size_t n)
{
	if (n > 0 && rstats.deliveries != NULL)
		metrics_topn_count(rstats.deliveries, hop, (size_t)result, n);
}
