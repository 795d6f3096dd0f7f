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

/*
 * Send request; the answer's first line without "+OK" / "-ERR " into
 * *status_r (a pointer into in), its body (un-stuffed, up to the "."
 * line) appended to body. Returns 0 (+OK), 1 (-ERR or malformed, said on
 * stderr) or 3 (routerd unreachable, said on stderr).
 */
static int fetch(const char *path, const char *request, struct sbuf *in,
                 struct sbuf *body, const char **status_r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct pollfd pfd;
	const char *p;
	int fd;

	*status_r = "";
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dirmxctl: socket path too long\n");
		return 3;
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
		return 3;
	}
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "dirmxctl: write to routerd: %s\n",
		        strerror(errno));
		close(fd);
		return 3;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		char buf[65536];
		ssize_t n;

		if (poll(&pfd, 1, QUEUE_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "dirmxctl: routerd did not answer\n");
			close(fd);
			return 3;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		if (!sbuf_append(in, buf, (size_t)n)) {
			fprintf(stderr, "dirmxctl: answer too long\n");
			close(fd);
			return 3;
		}
	}
	close(fd);
	p = sbuf_data(in);
	if (strncmp(p, "+OK", 3) != 0) {
		fprintf(stderr, "dirmxctl: %s",
		        strncmp(p, "-ERR ", 5) == 0 ? p + 5
		                                    : "malformed answer\n");
		return 1;
	}
	*status_r = p[3] == ' ' ? p + 4 : "";
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
		sbuf_append(body, p, len);
		sbuf_append_str(body, "\n");
		p += len + (nl != NULL ? 1 : 0);
	}
	return 0;
}

/* Send request, print the answer; the exit status. */
static int ask(const char *path, const char *request)
{
	struct sbuf *in = sbuf_new(256u * 1024 * 1024);
	struct sbuf *body = sbuf_new(256u * 1024 * 1024);
	const char *status;
	int ret = fetch(path, request, in, body, &status);

	if (ret == 0) {
		fwrite(sbuf_data(body), 1, sbuf_len(body), stdout);
		if (*status != '\0')
			printf("%.*s", (int)strcspn(status, "\n") + 1, status);
	}
	sbuf_deinit(&body);
	sbuf_deinit(&in);
	return ret;
}

int ctl_reload_routerd(const struct ctl_context *ctx)
{
	struct dirmx_config *cfg = NULL;
	struct config_errors errors = {0};
	struct sbuf *in, *body;
	const char *status;
	int ret;

	if (settings_load(ctx->config_path, &cfg, &errors) < 0) {
		/* routerd keeps its settings: it would refuse this file too */
		config_errors_print(&errors, stderr);
		config_errors_clear(&errors);
		return 1;
	}
	in = sbuf_new(16u * 1024 * 1024);
	body = sbuf_new(16u * 1024 * 1024);
	ret = fetch(cfg->routerd.control_socket, "RELOAD\n", in, body, &status);
	if (ret == 0)
		ret = ctl_print_reload("routerd", sbuf_data(body));
	sbuf_deinit(&body);
	sbuf_deinit(&in);
	dirmx_config_deinit(&cfg);
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
