/*
 * routerd - the SMTP daemon.
 *
 * Usage: routerd [-c FILE] [-t] [-f] [-d] [-h] [-V]
 *
 * The process shell (lib/service.c) loads and checks the configuration and
 * runs the event loop. The SMTP listeners, the spool and delivery join the
 * loop through these hooks as they are built (issues 5 and 6); until then
 * routerd checks its configuration (-t) and runs an empty loop.
 */
#include <stddef.h>

#include "service.h"

static int routerd_start(struct event_base *base,
			 const struct dirmx_config *cfg, void **state_r)
{
	*state_r = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct service_hooks hooks = {
		.prog = "routerd",
		.start = routerd_start,
	};

	return service_main(argc, argv, &hooks);
}
