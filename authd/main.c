/*
 * authd - the directory daemon.
 *
 * Usage: authd [-c FILE] [-t [--bind]] [-f] [-d] [-h] [-V]
 *
 * The only process that talks to the directory: it locates the domain
 * controllers and keeps bound connections to them (authd.c). -t --bind
 * tries one real bind to each of them (bindcheck.c).
 */
#include "authd.h"
#include "bindcheck.h"
#include "service.h"

int main(int argc, char **argv)
{
	static const struct service_hooks hooks = {
	    .prog = "authd",
	    .start = authd_start,
	    .reload = authd_reload,
	    .stop = authd_stop,
	    .check = authd_check,
	    .check_bind = bindcheck_run,
	};

	return service_main(argc, argv, &hooks);
}
