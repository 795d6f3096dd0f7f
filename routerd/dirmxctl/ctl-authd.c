/*
 * ctl-authd - dirmxctl's commands that ask authd: dc, lookup, auth,
 * senders, stats, flush.
 *
 * Each command connects to authd's socket ([authd] socket in the
 * configuration, or -S PATH), says HELLO, sends one request and prints
 * the answer for a person to read. A blocking client is right here: one
 * question, one answer, a timeout on both.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "authproto.h"
#include "buf.h"
#include "config.h"
#include "ctl.h"
#include "evloop.h"
#include "sbuf.h"
#include "settings.h"

#define CTL_TIMEOUT_MS 30000

struct client {
	int fd;
	struct sbuf *in;
};

static int client_send(struct client *cl, struct authproto_msg *m)
{
	struct sbuf *out = sbuf_new(AUTHPROTO_LINE_MAX);
	const char *error, *p;
	size_t left;
	int ret = -1;

	if (authproto_msg_format(m, out, &error) < 0) {
		fprintf(stderr, "dirmxctl: cannot encode the request: %s\n",
		        error);
		goto done;
	}
	p = sbuf_data(out);
	left = sbuf_len(out);
	while (left > 0) {
		ssize_t n = send(cl->fd, p, left, MSG_NOSIGNAL);

		if (n < 0) {
			fprintf(stderr, "dirmxctl: write to authd: %s\n",
			        strerror(errno));
			goto done;
		}
		p += n;
		left -= (size_t)n;
	}
	ret = 0;
done:
	explicit_bzero((char *)sbuf_data(out), sbuf_len(out));
	sbuf_deinit(&out);
	return ret;
}

/* Read the answer to request (verb, id). */
static int client_recv(struct client *cl, enum authproto_verb request,
                       struct authproto_msg **msg_r)
{
	long long deadline = (long long)evloop_now_ms() + CTL_TIMEOUT_MS;

	for (;;) {
		const char *line, *error;
		size_t len, consumed;
		char buf[65536];
		struct pollfd pfd = {.fd = cl->fd, .events = POLLIN};
		ssize_t n;
		int r = authproto_frame(cl->in, &line, &len, &consumed, &error);

		if (r < 0) {
			fprintf(stderr, "dirmxctl: bad answer: %s\n", error);
			return -1;
		}
		if (r > 0) {
			r = authproto_parse_answer(line, len, request, msg_r,
			                           &error);
			sbuf_consume(cl->in, consumed);
			if (r < 0) {
				fprintf(stderr,
				        "dirmxctl: malformed answer: %s\n",
				        error);
				return -1;
			}
			return 0;
		}
		if ((long long)evloop_now_ms() >= deadline ||
		    poll(&pfd, 1,
		         (int)(deadline - (long long)evloop_now_ms())) <= 0) {
			fprintf(stderr,
			        "dirmxctl: authd did not answer "
			        "within %d s\n",
			        CTL_TIMEOUT_MS / 1000);
			return -1;
		}
		n = recv(cl->fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			fprintf(stderr, "dirmxctl: authd closed the "
			                "connection\n");
			return -1;
		}
		if (!sbuf_append(cl->in, buf, (size_t)n)) {
			fprintf(stderr, "dirmxctl: answer too long\n");
			return -1;
		}
	}
}

static const char *socket_path(const struct ctl_context *ctx,
                               const char *opt_path,
                               struct dirmx_config **cfg_r)
{
	struct config_errors errors = {0};

	if (opt_path != NULL)
		return opt_path;
	if (settings_load(ctx->config_path, cfg_r, &errors) < 0) {
		config_errors_print(&errors, stderr);
		config_errors_clear(&errors);
		return NULL;
	}
	return (*cfg_r)->authd.socket;
}

static int client_open(struct client *cl, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct authproto_msg *m, *ans = NULL;
	int ret;

	cl->in = sbuf_new(AUTHPROTO_LINE_MAX + 65536);
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dirmxctl: socket path too long\n");
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	cl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cl->fd < 0 ||
	    connect(cl->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr,
		        "dirmxctl: cannot connect to authd at %s: %s "
		        "(is authd running?)\n",
		        path, strerror(errno));
		return -1;
	}
	m = authproto_msg_new_request(AUTHPROTO_HELLO, 0);
	authproto_msg_add_uint(m, "version", AUTHPROTO_VERSION);
	authproto_msg_add_str(m, "client", "dirmxctl");
	ret = client_send(cl, m);
	authproto_msg_deinit(&m);
	if (ret < 0 || client_recv(cl, AUTHPROTO_HELLO, &ans) < 0)
		return -1;
	if (authproto_msg_verb(ans) != AUTHPROTO_OK) {
		fprintf(stderr, "dirmxctl: authd refused HELLO: %s\n",
		        authproto_msg_get(ans, "reason"));
		ret = -1;
	}
	authproto_msg_deinit(&ans);
	return ret;
}

static void client_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	sbuf_deinit(&cl->in);
}

/* Connect, send m (freed here), read its answer; then, while next gives
 * one, the next request on the same connection. */
static int converse(const struct ctl_context *ctx, const char *path_opt,
                    struct authproto_msg *m, ctl_authd_next_fn *next,
                    void *next_ctx, struct authproto_msg **ans_r)
{
	struct dirmx_config *cfg = NULL;
	struct client cl = {.fd = -1};
	const char *path = socket_path(ctx, path_opt, &cfg);
	int ret = -1;

	if (path != NULL && client_open(&cl, path) == 0) {
		while (m != NULL) {
			enum authproto_verb verb = authproto_msg_verb(m);

			if (client_send(&cl, m) < 0 ||
			    client_recv(&cl, verb, ans_r) < 0)
				break;
			authproto_msg_deinit(&m);
			if (next == NULL ||
			    (m = next(*ans_r, next_ctx)) == NULL) {
				ret = 0;
				break;
			}
			authproto_msg_deinit(ans_r);
		}
	}
	authproto_msg_deinit(&m);
	client_close(&cl);
	dirmx_config_deinit(&cfg);
	return ret;
}

static int ask(const struct ctl_context *ctx, const char *path_opt,
               struct authproto_msg *m, struct authproto_msg **ans_r)
{
	return converse(ctx, path_opt, m, NULL, NULL, ans_r);
}

int ctl_authd_converse(const struct ctl_context *ctx, const char *sock_opt,
                       struct authproto_msg *m, ctl_authd_next_fn *next,
                       void *next_ctx, struct authproto_msg **ans_r)
{
	return converse(ctx, sock_opt, m, next, next_ctx, ans_r);
}

/* Print an answer that is not OK; returns the exit status. */
static int print_failure(const struct authproto_msg *ans)
{
	const char *reason = authproto_msg_get(ans, "reason");

	printf("%s: %s\n", authproto_verb_name(authproto_msg_verb(ans)),
	       reason != NULL ? reason : "");
	return authproto_msg_verb(ans) == AUTHPROTO_TEMPFAIL ? 3 : 1;
}

int ctl_authd_ask(const struct ctl_context *ctx, const char *sock_opt,
                  struct authproto_msg *m, struct authproto_msg **ans_r)
{
	return ask(ctx, sock_opt, m, ans_r);
}

static const char *parse_socket_opt(int *argc, char ***argv)
{
	if (*argc >= 3 && strcmp((*argv)[1], "-S") == 0) {
		const char *p = (*argv)[2];

		(*argv)[2] = (*argv)[0];
		*argv += 2;
		*argc -= 2;
		return p;
	}
	return NULL;
}

/* How directory changes are followed (dirwatch.h), from the DC answer. */
static void print_watch(const struct authproto_msg *ans)
{
	const char *w = authproto_msg_get(ans, "watch");
	const char *last = authproto_msg_get(ans, "watch_last_change");
	const char *err = authproto_msg_get(ans, "watch_error");

	if (w == NULL) {
		printf("changes:     not followed (watch = off): answers are "
		       "cached for at most unwatched_cache_ttl\n");
		return;
	}
	printf("changes:     %s, %s", w, authproto_msg_get(ans, "watch_state"));
	if (authproto_msg_get(ans, "watch_dc") != NULL)
		printf(" on %s", authproto_msg_get(ans, "watch_dc"));
	printf("; %s seen, %s cached answers dropped, %s flushes\n",
	       authproto_msg_get(ans, "watch_changes"),
	       authproto_msg_get(ans, "watch_dropped"),
	       authproto_msg_get(ans, "watch_flushes"));
	if (last != NULL) {
		struct buf b;
		uint64_t v = 0;
		time_t t;
		struct tm tm;
		char when[32];

		buf_init(&b, last, strlen(last));
		(void)buf_fetch_uint(&b, INT64_MAX, &v);
		t = (time_t)v;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("last change: %s %s\n", when,
		       authproto_msg_get(ans, "watch_last_dn"));
	}
	if (err != NULL)
		printf("watch error: %s\n", err);
	if (authproto_msg_get(ans, "watch_deletions") != NULL &&
	    strcmp(authproto_msg_get(ans, "watch_deletions"), "unseen") == 0)
		printf(
		    "deletions:   not seen (grant the account List Contents "
		    "and Read Property on CN=Deleted Objects): found answers "
		    "are cached for at most unwatched_cache_ttl\n");
}

/* Kerberos SMTP AUTH: the service principal and its keys' versions. */
static void print_smtp_keys(const struct authproto_msg *ans)
{
	const char *svc = authproto_msg_get(ans, "smtp_service");
	struct authproto_field f;

	if (svc == NULL) {
		printf("smtp auth:   no Kerberos (smtp_keytab not set)\n");
		return;
	}
	printf("smtp auth:   Kerberos as %s\n", svc);
	for (size_t i = 0; authproto_msg_field(ans, i, &f); i++)
		if (strcmp(f.key, "smtp_key") == 0)
			printf("  key:       %s kvno %s %s\n", f.value,
			       authproto_msg_record_get(ans, i, "kvno"),
			       authproto_msg_record_get(ans, i, "enctype"));
}

int ctl_dc(const struct ctl_context *ctx, int argc, char **argv)
{
	const char *sock = parse_socket_opt(&argc, &argv);
	struct authproto_msg *ans = NULL;
	struct authproto_field f;
	size_t n = 0;
	int ret;

	if (argc != 1) {
		fprintf(stderr, "usage: dirmxctl dc [-S SOCKET]\n");
		return 2;
	}
	if (ask(ctx, sock, authproto_msg_new_request(AUTHPROTO_DC, 1), &ans) <
	    0)
		return 3;
	if (authproto_msg_verb(ans) != AUTHPROTO_OK) {
		ret = print_failure(ans);
		authproto_msg_deinit(&ans);
		return ret;
	}
	printf("source:      %s\n", authproto_msg_get(ans, "source"));
	printf("client site: %s\n",
	       authproto_msg_get(ans, "client_site") != NULL
	           ? authproto_msg_get(ans, "client_site")
	           : "(unknown)");
	if (authproto_msg_get(ans, "last_error") != NULL)
		printf("last error:  %s\n",
		       authproto_msg_get(ans, "last_error"));
	print_watch(ans);
	print_smtp_keys(ans);
	printf("\n%-5s %-40s %-5s %-6s %-8s %-24s %-18s %s\n", "ORDER", "DC",
	       "PRIO", "WEIGHT", "STATE", "SITE", "PROTECTION", "LAST ERROR");
	for (size_t i = 0; authproto_msg_field(ans, i, &f); i++) {
		const char *site, *err, *prot;

		if (strcmp(f.key, "dc") != 0)
			continue;
		site = authproto_msg_record_get(ans, i, "site");
		err = authproto_msg_record_get(ans, i, "error");
		/* How the service bind is protected: starttls, ldaps,
		 * starttls+sasl-seal, sasl-seal, ...; "-" while not up. */
		prot = authproto_msg_record_get(ans, i, "protection");
		printf("%-5zu %-40s %-5s %-6s %-8s %-24s %-18s %s\n", n++,
		       f.value, authproto_msg_record_get(ans, i, "prio"),
		       authproto_msg_record_get(ans, i, "weight"),
		       authproto_msg_record_get(ans, i, "state"),
		       site != NULL ? site : "-", prot != NULL ? prot : "-",
		       err != NULL ? err : "");
	}
	if (n == 0)
		printf("(no domain controllers found)\n");
	authproto_msg_deinit(&ans);
	return n > 0 ? 0 : 1;
}

int ctl_lookup(const struct ctl_context *ctx, int argc, char **argv)
{
	const char *sock = parse_socket_opt(&argc, &argv);
	struct authproto_msg *m, *ans = NULL;
	struct authproto_field f;
	const char *from = NULL, *env_from = NULL, *restricted;
	bool nocache = false;
	int ret = 0, i = 1;

	for (; i < argc - 1; i++)
		if (strcmp(argv[i], "--no-cache") == 0)
			nocache = true;
		else if (strcmp(argv[i], "--from") == 0 && i + 2 < argc)
			from = argv[++i];
		else if (strcmp(argv[i], "--envelope-from") == 0 &&
		         i + 2 < argc)
			env_from = argv[++i];
		else
			break;
	if (argc != i + 1 || (from != NULL && env_from != NULL)) {
		fprintf(stderr, "usage: dirmxctl lookup [-S SOCKET] "
		                "[--no-cache] [--from SENDER | "
		                "--envelope-from SENDER] ADDRESS\n");
		return 2;
	}
	m = authproto_msg_new_request(AUTHPROTO_LOOKUP, 1);
	authproto_msg_add_str(m, "addr", argv[i]);
	/* Without --from: an unauthenticated sender on the MX listener (as
	 * routerd asks with trust_envelope_sender_for_restrictions when
	 * --envelope-from names MAIL FROM); with it: SENDER authenticated on
	 * submission. */
	authproto_msg_add_str(m, "context", from != NULL ? "submission" : "mx");
	if (from != NULL)
		authproto_msg_add_str(m, "user", from);
	if (env_from != NULL)
		authproto_msg_add_str(m, "from", env_from);
	authproto_msg_add_str(m, "trace", "1");
	if (nocache)
		authproto_msg_add_str(m, "nocache", "1");
	if (ask(ctx, sock, m, &ans) < 0)
		return 3;
	printf("%s\n", argv[i]);
	for (size_t k = 0; authproto_msg_field(ans, k, &f); k++)
		if (strcmp(f.key, "trace") == 0)
			printf("  | %s\n", f.value);
	if (authproto_msg_get(ans, "dc") != NULL)
		printf("  answered by %s\n", authproto_msg_get(ans, "dc"));
	if (authproto_msg_get(ans, "rule") != NULL)
		printf("  rule: %s\n", authproto_msg_get(ans, "rule"));
	restricted = authproto_msg_get(ans, "restricted");
	if (env_from != NULL)
		printf("  sender: %s, unauthenticated (MX listener): the entry "
		       "that owns it, with\n          "
		       "trust_envelope_sender_for_restrictions\n",
		       env_from);
	else
		printf("  sender: %s\n", from != NULL
		                             ? from
		                             : "unauthenticated (MX listener): "
		                               "nobody");
	if (restricted != NULL)
		printf("  restriction: %s refuses this sender (550 5.7.1)\n",
		       restricted);
	if (authproto_msg_verb(ans) != AUTHPROTO_OK) {
		ret = print_failure(ans);
		authproto_msg_deinit(&ans);
		return ret;
	}
	if (strcmp(authproto_msg_get(ans, "cached"), "1") == 0)
		printf("  (from the cache)\n");
	printf("  => deliver to:\n");
	for (size_t k = 0; authproto_msg_field(ans, k, &f); k++) {
		const char *sender;

		if (strcmp(f.key, "rcpt") != 0)
			continue;
		printf("     %-40s via %s\n", f.value,
		       authproto_msg_record_get(ans, k, "hop"));
		/* where its groups' delivery reports go */
		sender = authproto_msg_record_get(ans, k, "sender");
		if (sender != NULL)
			printf("       reports to %s\n", sender);
	}
	authproto_msg_deinit(&ans);
	return ret;
}

static char *read_password(void)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) != 0;
	char buf[4096];
	size_t n;

	if (tty) {
		fprintf(stderr, "Password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return strdup(buf);
}

int ctl_auth(const struct ctl_context *ctx, int argc, char **argv)
{
	const char *sock = parse_socket_opt(&argc, &argv);
	struct authproto_msg *m, *ans = NULL;
	char *password;
	int ret;

	if (argc == 3 && (strcmp(argv[1], "--status") == 0 ||
	                  strcmp(argv[1], "--reset") == 0))
		return ctl_throttle(ctx, sock, argv[1] + 2, argv[2]);
	if (argc >= 2 && argc <= 3 &&
	    (strcmp(argv[1], "--gssapi") == 0 ||
	     strcmp(argv[1], "--gss-spnego") == 0))
		return ctl_auth_gssapi(ctx, sock, argc == 3 ? argv[2] : NULL,
		                       argv[1][6] == 's' ? "GSS-SPNEGO"
		                                         : "GSSAPI");
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: dirmxctl auth [-S SOCKET] "
		                "[--status|--reset] USER (the password is read "
		                "from the terminal or standard input)\n"
		                "       dirmxctl auth [-S SOCKET] "
		                "--gssapi|--gss-spnego [SERVICE/HOST]\n");
		return 2;
	}
	password = read_password();
	m = authproto_msg_new_request(AUTHPROTO_AUTH, 1);
	authproto_msg_add_str(m, "mech", "PLAIN");
	authproto_msg_add_str(m, "user", argv[1]);
	if (*password != '\0')
		authproto_msg_add_str(m, "pass", password);
	explicit_bzero(password, strlen(password));
	free(password);
	if (authproto_msg_get(m, "pass") == NULL) {
		/* Refused before anything is sent: an empty password is an
		 * anonymous bind, which proves nothing. */
		authproto_msg_deinit(&m);
		printf("no: empty password\n");
		return 1;
	}
	if (ask(ctx, sock, m, &ans) < 0)
		return 3;
	if (authproto_msg_verb(ans) == AUTHPROTO_OK) {
		printf("yes: authenticated as %s\n",
		       authproto_msg_get(ans, "user"));
		ret = 0;
	} else {
		const char *delay = authproto_msg_get(ans, "delay_ms");

		printf("no: %s%s%s%s\n", authproto_msg_get(ans, "reason"),
		       delay != NULL ? " (client slowed down by " : "",
		       delay != NULL ? delay : "", delay != NULL ? " ms)" : "");
		ret = authproto_msg_verb(ans) == AUTHPROTO_TEMPFAIL ? 3 : 1;
	}
	authproto_msg_deinit(&ans);
	return ret;
}

int ctl_senders(const struct ctl_context *ctx, int argc, char **argv)
{
	const char *sock = parse_socket_opt(&argc, &argv);
	struct authproto_msg *m, *ans = NULL;
	struct authproto_field f;
	int ret = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: dirmxctl senders [-S SOCKET] USER\n");
		return 2;
	}
	m = authproto_msg_new_request(AUTHPROTO_SENDERS, 1);
	authproto_msg_add_str(m, "user", argv[1]);
	if (ask(ctx, sock, m, &ans) < 0)
		return 3;
	if (authproto_msg_verb(ans) != AUTHPROTO_OK) {
		ret = print_failure(ans);
	} else {
		for (size_t k = 0; authproto_msg_field(ans, k, &f); k++)
			if (strcmp(f.key, "addr") == 0)
				printf("%s\n", f.value);
	}
	authproto_msg_deinit(&ans);
	return ret;
}

int ctl_stats(const struct ctl_context *ctx, int argc, char **argv)
{
	const char *sock = parse_socket_opt(&argc, &argv);
	struct authproto_msg *ans = NULL;
	struct authproto_field f;
	int ret = 0;

	if (argc != 1) {
		fprintf(stderr, "usage: dirmxctl stats [-S SOCKET]\n");
		return 2;
	}
	if (ask(ctx, sock, authproto_msg_new_request(AUTHPROTO_STATS, 1),
	        &ans) < 0)
		return 3;
	if (authproto_msg_verb(ans) != AUTHPROTO_OK) {
		ret = print_failure(ans);
	} else {
		for (size_t k = 0; authproto_msg_field(ans, k, &f); k++)
			if (strcmp(f.key, "counter") == 0)
				printf(
				    "%-12s %s\n", f.value,
				    authproto_msg_record_get(ans, k, "value"));
	}
	authproto_msg_deinit(&ans);
	return ret;
}

int ctl_flush(const struct ctl_context *ctx, int argc, char **argv)
{
	const char *sock = parse_socket_opt(&argc, &argv);
	struct authproto_msg *m, *ans = NULL;
	int ret = 0;

	if (argc != 1) {
		fprintf(stderr, "usage: dirmxctl flush [-S SOCKET]\n");
		return 2;
	}
	m = authproto_msg_new_request(AUTHPROTO_CACHE, 1);
	authproto_msg_add_str(m, "op", "flush");
	if (ask(ctx, sock, m, &ans) < 0)
		return 3;
	if (authproto_msg_verb(ans) != AUTHPROTO_OK)
		ret = print_failure(ans);
	else
		printf("cache flushed\n");
	authproto_msg_deinit(&ans);
	return ret;
}

int ctl_reload_authd(const struct ctl_context *ctx)
{
	struct authproto_msg *ans = NULL;
	struct authproto_field f;
	struct sbuf *report;
	int ret;

	if (ask(ctx, NULL, authproto_msg_new_request(AUTHPROTO_RELOAD, 1),
	        &ans) < 0)
		return 3;
	if (authproto_msg_verb(ans) != AUTHPROTO_OK) {
		printf("authd: ");
		ret = print_failure(ans);
		authproto_msg_deinit(&ans);
		return ret;
	}
	report = sbuf_new(16u * 1024 * 1024);
	for (size_t k = 0; authproto_msg_field(ans, k, &f); k++)
		if (strcmp(f.key, "line") == 0)
			sbuf_printf(report, "%s\n", f.value);
	sbuf_printf(report, "status %s\n", authproto_msg_get(ans, "status"));
	ret = ctl_print_reload("authd", sbuf_data(report));
	sbuf_deinit(&report);
	authproto_msg_deinit(&ans);
	return ret;
}
