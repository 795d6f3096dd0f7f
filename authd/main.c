/*
 * authd - the directory daemon.
 *
 * Usage: authd [-c FILE] [-t] [-f] [-d] [-h] [-V]
 *
 * The only process that talks to the directory: it locates the domain
 * controllers and keeps bound connections to them (authd.c).
 */
#include "authd.h"
#include "service.h"

int main(int argc, char **argv)
{
	static const struct service_hooks hooks = {
	    .prog = "authd",
	    .start = authd_start,
	    .reload = authd_reload,
	    .stop = authd_stop,
	};

	return service_main(argc, argv, &hooks);
}
