/*
 * dirmxctl - shows and explains what dirmx does.
 *
 * Usage: dirmxctl [-c FILE] COMMAND [ARGS...]; see usage() for the list.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

struct ctl_command {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(const struct ctl_context *ctx, int argc, char **argv);
};

static const struct ctl_command commands[] = {
    {"check", "", "check the configuration file for both daemons", ctl_check},
    {"dns", "[-s ADDR[:PORT]] TYPE NAME",
     "resolve SRV, MX, A or AAAA records the way dirmx does", ctl_dns},
    {"dc", "[-S SOCKET]",
     "the domain controllers authd found, in order, with their state", ctl_dc},
    {"lookup", "[-S SOCKET] [--no-cache] ADDR",
     "where mail for ADDR goes, and why", ctl_lookup},
    {"auth", "[-S SOCKET] USER",
     "check USER's password (read from the terminal)", ctl_auth},
    {"senders", "[-S SOCKET] USER", "the addresses USER may send as",
     ctl_senders},
    {"stats", "[-S SOCKET]", "authd's counters", ctl_stats},
    {"flush", "[-S SOCKET]", "empty authd's lookup cache", ctl_flush},
    {"queue", "[-S SOCKET] [list|show|flush|hold|release|delete] [ID]",
     "routerd's queue: what waits, where, and why", ctl_queue},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: dirmxctl [-c FILE] COMMAND [ARGS...]\n\n"
	             "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n  %-8s   %s\n", commands[i].name,
		        commands[i].args, "", commands[i].help);
	fprintf(out, "\n  -c FILE   configuration file (default %s)\n",
	        DIRMX_SYSCONFDIR "/dirmx.conf");
}

int main(int argc, char **argv)
{
	struct ctl_context ctx = {.config_path =
	                              DIRMX_SYSCONFDIR "/dirmx.conf"};
	int opt;

	while ((opt = getopt(argc, argv, "+c:hV")) != -1) {
		switch (opt) {
		case 'c':
			ctx.config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("dirmxctl %s\n", DIRMX_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			/* Commands parse their own options from a fresh start.
			 */
			char **cargv = argv + optind;
			int cargc = argc - optind;

			optind = 1;
			return commands[i].run(&ctx, cargc, cargv);
		}
	}
	fprintf(stderr, "dirmxctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
