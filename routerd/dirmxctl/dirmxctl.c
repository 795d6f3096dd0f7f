/*
 * dirmxctl - shows and explains what dirmx does.
 *
 * Usage: dirmxctl [-c FILE] COMMAND [ARGS...]; dirmxctl --help lists the
 * commands, dirmxctl COMMAND --help explains one. Help and --version go
 * to stdout and exit 0; a usage error prints the usage on stderr and exits
 * 2. Each command is one entry of the table below (name, synopsis, one
 * line for the list, the text of its --help, the function that runs it):
 * adding a command is adding an entry. deploy/man/dirmxctl.8 has a section
 * per command, and tests/integration/test_man.py checks that it does.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

struct ctl_command {
	const char *name;
	const char *args;    /* the synopsis after the name */
	const char *summary; /* one line for dirmxctl --help */
	const char *help;    /* dirmxctl NAME --help, after the synopsis */
	int (*run)(const struct ctl_context *ctx, int argc, char **argv);
};

#define SOCKET_AUTHD                                                           \
	"  -S SOCKET     authd's socket (default: [authd] socket in the\n"     \
	"                configuration file)\n"
#define EXIT_AUTHD                                                             \
	"exit status: 0 OK, 1 a negative answer (NOTFOUND, ERROR), 2 usage "   \
	"error,\n3 temporary failure (authd unreachable, or it answered "      \
	"TEMPFAIL)\n"

static const struct ctl_command commands[] = {
    {"check", "", "check the configuration file for both daemons",
     "Load the configuration file as authd and routerd do (each reads all "
     "of it)\nand print every error with its file and line, or "
     "\"configuration OK\" and\na summary of what it sets up. It does not "
     "contact the directory: authd -t --bind\ntries a real bind to each DC "
     "and names the fix when one fails.\n"
     "exit status: 0 the file is good, 1 it is not, 2 usage error\n",
     ctl_check},
    {"dns", "[-s ADDR[:PORT]]... [-t TIMEOUT_MS] [-n TRIES] TYPE NAME",
     "resolve SRV, MX, A or AAAA records the way dirmx does",
     "Resolve NAME (TYPE srv, mx, a or aaaa) through dirmx's own resolver "
     "(c-ares)\nand print one line per record with its TTL, or the status "
     "word (NXDOMAIN,\nNODATA, SERVFAIL, REFUSED, TIMEOUT, BADRESP, ERROR).\n"
     "  -s ADDR[:PORT]  ask this server (repeatable, at most 16; default:\n"
     "                  /etc/resolv.conf)\n"
     "  -t TIMEOUT_MS   per try (default 5000)\n"
     "  -n TRIES        tries per server (default 2)\n"
     "exit status: 0 records found, 1 no records (the status word says "
     "why),\n2 usage error\n",
     ctl_dns},
    {"dc", "[-S SOCKET]",
     "the domain controllers authd found, in order, with their state",
     "Ask authd which directory servers it found (DNS SRV or the static "
     "list),\nin the order it tries them, with priority, weight, state, "
     "site, how the bind is\nprotected (starttls, ldaps, starttls+sasl-seal, "
     "sasl-seal, ...) and last error.\n" SOCKET_AUTHD
     "exit status: 0 at least one server listed, 1 none found or a "
     "negative\nanswer, 2 usage error, 3 authd unreachable or TEMPFAIL\n",
     ctl_dc},
    {"lookup",
     "[-S SOCKET] [--no-cache] [--from SENDER | --envelope-from SENDER] "
     "ADDRESS",
     "where mail for ADDRESS goes, and why",
     "Ask authd where mail for ADDRESS goes (as for the MX listener), with "
     "its trace:\nthe objects found, forwards followed, groups expanded, "
     "the sender restrictions\nmet, and the final list of recipients and "
     "next hops.\n" SOCKET_AUTHD
     "  --no-cache    ask the directory even if the answer is "
     "cached\n"
     "  --from SENDER as for SENDER authenticated on submission (without "
     "it: an\n                unauthenticated sender, who is nobody to "
     "the sender restrictions)\n"
     "  --envelope-from SENDER\n"
     "                as for an unauthenticated MAIL FROM:<SENDER> on the "
     "MX listener\n                with "
     "trust_envelope_sender_for_restrictions = yes: the entry\n"
     "                that owns SENDER (nobody when none does)\n" EXIT_AUTHD,
     ctl_lookup},
    {"auth", "[-S SOCKET] [--status|--reset] USER | --gssapi [SERVICE/HOST]",
     "check USER's password or your Kerberos ticket, or show or reset a "
     "lockout throttle",
     "Check USER's password as SMTP AUTH would, through authd (its "
     "lockout\nprotection applies). The password is read from the terminal "
     "without echo,\nor as one line from standard input.\n"
     "  --status      show the account's lockout budgets instead: the "
     "policy, the\n                failures counted (authd's and the "
     "directory's), whether\n                unfamiliar and familiar "
     "clients are throttled, when authd's\n                count ends, "
     "and the familiar clients\n"
     "  --reset       forget authd's own count of the account's failures "
     "(never\n                the directory's badPwdCount)\n"
     "--status and --reset need root or authd's user.\n"
     "  --gssapi      log in with your Kerberos ticket instead (kinit "
     "first;\n                KRB5CCNAME), as SMTP AUTH GSSAPI does: a "
     "ticket for\n                SERVICE/HOST (default: the "
     "configuration's smtp_service),\n                accepted by authd "
     "with its keytab, mapped to an account\n"
     "  --gss-spnego  the same with GSS-SPNEGO\n" SOCKET_AUTHD
     "exit status: 0 the password is right, 1 it is not (or it is empty), "
     "2 usage\nerror, 3 authd unreachable or TEMPFAIL\n",
     ctl_auth},
    {"senders", "[-S SOCKET] USER", "the addresses USER may send as",
     "List the envelope sender addresses USER may use after AUTH on the\n"
     "submission listeners: the directory's addresses of the account and "
     "its\nsend_as entries.\n" SOCKET_AUTHD EXIT_AUTHD,
     ctl_senders},
    {"stats", "[-S SOCKET]", "authd's counters",
     "Print authd's counters, one per line: name and value.\n" SOCKET_AUTHD
         EXIT_AUTHD,
     ctl_stats},
    {"flush", "[-S SOCKET]", "empty authd's lookup cache",
     "Empty authd's cache of LOOKUP answers, positive and "
     "negative.\n" SOCKET_AUTHD EXIT_AUTHD,
     ctl_flush},
    {"queue",
     "[-S SOCKET] [list|show|flush|hold|release|delete|summary] [ID|STATE]",
     "routerd's queue: what waits, where, and why",
     "Ask routerd about its queue:\n"
     "  list          every queued message (the default)\n"
     "  show ID       one message: envelope, recipients, next hops, last "
     "error\n"
     "  flush [ID]    retry one message, or all, now\n"
     "  hold ID       keep a message from being delivered\n"
     "  release ID    deliver a held message again\n"
     "  delete ID     remove a message without a bounce\n"
     "  summary [STATE]  messages per recipient domain by age (as qshape);\n"
     "                STATE: incoming, active, deferred or held\n"
     "  -S SOCKET     routerd's control socket (default: [routerd] "
     "control_socket)\n"
     "exit status: 0 done, 1 routerd refused (no such message, ...), 2 "
     "usage error,\n3 routerd unreachable or the configuration "
     "unreadable\n",
     ctl_queue},
    {"reload", "[authd|routerd]",
     "re-read the configuration file, and say what applies now",
     "Ask both daemons (or the one named) to re-read the configuration "
     "file, as\nSIGHUP does, and print what each applied, what needs a "
     "restart. A file\nthat does not load is reported with its errors "
     "(file, line) and no daemon is\nasked: both keep their settings.\n"
     "exit status: 0 reloaded (some settings may need a restart, as "
     "printed),\n1 the file is bad or a daemon refused it, 2 usage error, 3 "
     "a daemon\nunreachable\n",
     ctl_reload},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: dirmxctl [-c FILE] COMMAND [ARGS...]\n"
	             "       dirmxctl COMMAND --help\n"
	             "       dirmxctl --help | --version\n\n"
	             "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %s%*s%s\n  %-8s   %s\n", commands[i].name,
		        *commands[i].args != '\0'
		            ? 9 - (int)strlen(commands[i].name)
		            : 0,
		        "", commands[i].args, "", commands[i].summary);
	fprintf(out,
	        "\noptions:\n"
	        "  -c FILE        configuration file (default %s)\n"
	        "  -h, --help     show this help\n"
	        "  -V, --version  show the version\n\n"
	        "exit status: 0 success, 1 a negative answer or a failure the "
	        "command\nreports, 2 usage error, 3 temporary failure (a "
	        "daemon unreachable,\nor authd answered TEMPFAIL)\n"
	        "see dirmxctl(8)\n",
	        DIRMX_SYSCONFDIR "/dirmx.conf");
}

static int command_help(const struct ctl_command *c)
{
	printf("usage: dirmxctl [-c FILE] %s%s%s\n\n%s", c->name,
	       *c->args != '\0' ? " " : "", c->args, c->help);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl_context ctx = {.config_path =
	                              DIRMX_SYSCONFDIR "/dirmx.conf"};
	int opt;

	while ((opt = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
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
		/* Commands parse their own options from a fresh start. */
		char **cargv = argv + optind;
		int cargc = argc - optind;

		if (strcmp(cargv[0], commands[i].name) != 0)
			continue;
		if (cargc >= 2 && (strcmp(cargv[1], "--help") == 0 ||
		                   strcmp(cargv[1], "-h") == 0))
			return command_help(&commands[i]);
		optind = 1;
		return commands[i].run(&ctx, cargc, cargv);
	}
	fprintf(stderr, "dirmxctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
