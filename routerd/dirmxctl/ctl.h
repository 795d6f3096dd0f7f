/*
 * ctl.h - the commands of dirmxctl.
 *
 * Each command is one function in its own file ctl-NAME.c, registered in
 * the table in dirmxctl.c. A command gets the arguments after its name
 * (argv[0] is the command name) and the configuration file path chosen
 * with -c; it prints its result on stdout, errors on stderr, and returns
 * the process exit status: 0 success, 1 a negative answer or a failure
 * the command reports, 2 a usage error, 3 a temporary failure (authd not
 * reachable, or it answered TEMPFAIL).
 */
#ifndef DIRMX_CTL_H
#define DIRMX_CTL_H

struct ctl_context {
	const char *config_path;
};

int ctl_check(const struct ctl_context *ctx, int argc, char **argv);
int ctl_dns(const struct ctl_context *ctx, int argc, char **argv);
/* ctl-authd.c: questions to authd (exit 3: authd unreachable or TEMPFAIL) */
int ctl_dc(const struct ctl_context *ctx, int argc, char **argv);
int ctl_lookup(const struct ctl_context *ctx, int argc, char **argv);
int ctl_auth(const struct ctl_context *ctx, int argc, char **argv);
int ctl_senders(const struct ctl_context *ctx, int argc, char **argv);
int ctl_stats(const struct ctl_context *ctx, int argc, char **argv);
int ctl_flush(const struct ctl_context *ctx, int argc, char **argv);
struct authproto_msg;
/* Send m (taken) to authd's socket (sock_opt, or the configuration's)
 * and read its answer into *ans_r; -1 (reported) when unreachable. */
int ctl_authd_ask(const struct ctl_context *ctx, const char *sock_opt,
                  struct authproto_msg *m, struct authproto_msg **ans_r);
/* A conversation with authd on one connection (SASL's steps): send m
 * (taken), read its answer; next(answer, next_ctx) returns the next
 * request, or NULL when *ans_r is the last answer. -1 (reported) when
 * authd is unreachable or the connection breaks. */
typedef struct authproto_msg *ctl_authd_next_fn(const struct authproto_msg *ans,
                                                void *next_ctx);
int ctl_authd_converse(const struct ctl_context *ctx, const char *sock_opt,
                       struct authproto_msg *m, ctl_authd_next_fn *next,
                       void *next_ctx, struct authproto_msg **ans_r);
/* ctl-gssapi.c: auth --gssapi: a Kerberos login with the caller's
 * tickets, through authd, as SMTP AUTH mech (GSSAPI or GSS-SPNEGO) would
 * (service: "smtp/host", NULL: the configuration's smtp_service). */
int ctl_auth_gssapi(const struct ctl_context *ctx, const char *sock,
                    const char *service, const char *mech);
/* ctl-throttle.c: auth --status / --reset (op "status" or "reset") */
int ctl_throttle(const struct ctl_context *ctx, const char *sock,
                 const char *op, const char *user);
/* ctl-queue.c: routerd's queue */
int ctl_queue(const struct ctl_context *ctx, int argc, char **argv);
/* ctl-reload.c: both daemons re-read the configuration file */
int ctl_reload(const struct ctl_context *ctx, int argc, char **argv);
/* Print one daemon's reload report (service.h: "applied ...", "restart
 * ...", "error ...", then "status ok|partial|failed"); 0 unless the
 * status is failed (1). */
int ctl_print_reload(const char *daemon, const char *report);
/* One daemon's reload through its socket (ctl-authd.c, ctl-queue.c). */
int ctl_reload_authd(const struct ctl_context *ctx);
int ctl_reload_routerd(const struct ctl_context *ctx);

#endif
