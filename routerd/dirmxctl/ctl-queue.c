/*
 * ctl-queue - `dirmxctl queue`: list, show, flush, hold, release and
 * delete messages in routerd's queue, through routerd's control socket
 * ([routerd] control_socket; the protocol is in routerd/ctlsrv.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "sbuf.h"
#include "settings.h"

#define QUEUE_TIMEOUT_MS 30000

static void usage(void)
{
	fprintf(stderr,
	        "usage: dirmxctl queue [-S SOCKET] [list]\n"
	        "       dirmxctl queue [-S SOCKET] show ID\n"
	        "       dirmxctl queue [-S SOCKET] flush [ID]\n"
	        "       dirmxctl queue [-S SOCKET] hold|release|delete ID\n"
	        "       dirmxctl queue [-S SOCKET] summary "
	        "[incoming|active|deferred|held]\n");
}

/* Send request, print the answer; the exit status. */
static int ask(const char *path, const char *request)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sbuf *in = sbuf_new(256u * 1024 * 1024);
	struct pollfd pfd;
	const char *p;
	int fd, ret = 3;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dirmxctl: socket path too long\n");
		goto done;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr,
		        "dirmxctl: cannot connect to routerd at %s: %s "
		        "(is routerd running?)\n",
		        path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto done;
	}
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "dirmxctl: write to routerd: %s\n",
		        strerror(errno));
		close(fd);
		goto done;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		char buf[65536];
		ssize_t n;

		if (poll(&pfd, 1, QUEUE_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "dirmxctl: routerd did not answer\n");
			close(fd);
			goto done;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		if (!sbuf_append(in, buf, (size_t)n)) {
			fprintf(stderr, "dirmxctl: answer too long\n");
			close(fd);
			goto done;
		}
	}
	close(fd);
	p = sbuf_data(in);
	if (strncmp(p, "+OK", 3) != 0) {
		fprintf(stderr, "dirmxctl: %s",
		        strncmp(p, "-ERR ", 5) == 0 ? p + 5
		                                    : "malformed answer\n");
		ret = 1;
		goto done;
	}
	/* Status line, then the body up to the "." line, un-stuffed. */
	p = strchr(p, '\n');
	p = p != NULL ? p + 1 : "";
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len == 1 && *p == '.')
			break;
		if (*p == '.') {
			p++;
			len--;
		}
		printf("%.*s\n", (int)len, p);
		p += len + (nl != NULL ? 1 : 0);
	}
	if (strncmp(sbuf_data(in), "+OK ", 4) == 0)
		printf("%.*s", (int)strcspn(sbuf_data(in) + 4, "\n") + 1,
		       sbuf_data(in) + 4);
	ret = 0;
done:
	sbuf_deinit(&in);
	return ret;
}

int ctl_queue(const struct ctl_context *ctx, int argc, char **argv)
{
	struct dirmx_config *cfg = NULL;
	struct config_errors errors = {0};
	const char *path = NULL, *verb = "LIST", *id = NULL;
	char request[256];
	int i = 1, ret;

	if (argc >= 3 && strcmp(argv[1], "-S") == 0) {
		path = argv[2];
		i = 3;
	}
	if (i < argc) {
		const char *a = argv[i++];

		if (strcmp(a, "list") == 0)
			verb = "LIST";
		else if (strcmp(a, "show") == 0)
			verb = "SHOW";
		else if (strcmp(a, "flush") == 0)
			verb = "FLUSH";
		else if (strcmp(a, "hold") == 0)
			verb = "HOLD";
		else if (strcmp(a, "release") == 0)
			verb = "RELEASE";
		else if (strcmp(a, "delete") == 0)
			verb = "DELETE";
		else if (strcmp(a, "summary") == 0)
			verb = "SUMMARY";
		else {
			usage();
			return 2;
		}
	}
	if (i < argc)
		id = argv[i++];
	if (i != argc ||
	    (id == NULL && strcmp(verb, "LIST") != 0 &&
	     strcmp(verb, "FLUSH") != 0 && strcmp(verb, "SUMMARY") != 0) ||
	    (id != NULL && strcmp(verb, "LIST") == 0) ||
	    (id != NULL && (strlen(id) > 64 || strpbrk(id, " \r\n") != NULL))) {
		usage();
		return 2;
	}
	if (path == NULL) {
		if (settings_load(ctx->config_path, &cfg, &errors) < 0) {
			config_errors_print(&errors, stderr);
			config_errors_clear(&errors);
			return 3;
		}
		path = cfg->routerd.control_socket;
	}
	snprintf(request, sizeof(request), "%s%s%s\n", verb,
	         id != NULL ? " " : "", id != NULL ? id : "");
	ret = ask(path, request);
	dirmx_config_deinit(&cfg);
	return ret;
}
