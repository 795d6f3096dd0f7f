/*
 * routerd - the SMTP daemon.
 *
 * Usage: routerd [-c FILE] [-t] [-f] [-d] [-h] [-V]
 *
 * Faces the network: accepts mail on its listeners, checks every
 * recipient and login with authd, and keeps every accepted message safe
 * in its spool (routerd.c).
 */
#include "routerd.h"
#include "service.h"

int main(int argc, char **argv)
{
	static const struct service_hooks hooks = {
	    .prog = "routerd",
	    .start = routerd_start,
	    .reload = routerd_reload,
	    .stop = routerd_stop,
	};

	return service_main(argc, argv, &hooks);
}
