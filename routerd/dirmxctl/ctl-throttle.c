/*
 * ctl-throttle - dirmxctl auth --status USER and --reset USER: an
 * account's lockout budgets as authd sees them (authd's THROTTLE request,
 * include/authproto.txt), and forgetting authd's own count of its
 * failures. Reached through ctl_auth (ctl-authd.c), whose socket option
 * and connection it shares.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "authproto.h"
#include "ctl.h"

static const char *get(const struct authproto_msg *m, const char *key)
{
	const char *v = authproto_msg_get(m, key);

	return v != NULL ? v : "-";
}

static void print_status(const struct authproto_msg *ans)
{
	struct authproto_field f;
	uint64_t ends = 0;
	size_t n = 0;

	printf("account:           %s\n", get(ans, "dn"));
	if (authproto_msg_get(ans, "blocked") != NULL)
		printf("directory:         %s\n", get(ans, "blocked"));
	printf("policy:            %s, threshold %s\n", get(ans, "policy"),
	       get(ans, "threshold"));
	printf("budget:            %s failures per window reach the "
	       "directory, %s of them from unfamiliar clients\n",
	       get(ans, "cap"), get(ans, "unfamiliar_cap"));
	printf(
	    "failures:          %s (authd's own %s, the directory's %s%s%s)\n",
	    get(ans, "failures"), get(ans, "own_failures"),
	    get(ans, "directory_failures"),
	    authproto_msg_get(ans, "counted_at") != NULL ? " at " : "",
	    authproto_msg_get(ans, "counted_at") != NULL
	        ? get(ans, "counted_at")
	        : "");
	printf("unfamiliar clients: %s\n", get(ans, "strangers"));
	printf("familiar clients:  %s\n", get(ans, "familiar_clients"));
	if (authproto_msg_get_uint(ans, "ends_in_ms", &ends))
		printf("throttle ends in:  %llu s (authd's own count; the "
		       "directory resets badPwdCount on its own)\n",
		       (unsigned long long)((ends + 999) / 1000));
	for (size_t i = 0; authproto_msg_field(ans, i, &f); i++) {
		const char *last;
		uint64_t t = 0;
		time_t tt;
		struct tm tm;
		char when[32] = "?";

		if (strcmp(f.key, "familiar") != 0)
			continue;
		last = authproto_msg_record_get(ans, i, "last_ok");
		if (last != NULL &&
		    sscanf(last, "%llu", (unsigned long long *)&t) == 1) {
			tt = (time_t)t;
			if (gmtime_r(&tt, &tm) != NULL)
				strftime(when, sizeof(when),
				         "%Y-%m-%d %H:%M:%S UTC", &tm);
		}
		if (n++ == 0)
			printf("familiar:\n");
		printf("  %-40s last login %s\n", f.value, when);
	}
	if (n == 0)
		printf("familiar:          none\n");
}

int ctl_throttle(const struct ctl_context *ctx, const char *sock,
                 const char *op, const char *user)
{
	struct authproto_msg *m =
	    authproto_msg_new_request(AUTHPROTO_THROTTLE, 1);
	struct authproto_msg *ans = NULL;
	int ret = 0;

	authproto_msg_add_str(m, "user", user);
	authproto_msg_add_str(m, "op", op);
	if (ctl_authd_ask(ctx, sock, m, &ans) < 0)
		return 3;
	if (authproto_msg_verb(ans) != AUTHPROTO_OK) {
		printf("%s: %s\n", authproto_verb_name(authproto_msg_verb(ans)),
		       get(ans, "reason"));
		ret = authproto_msg_verb(ans) == AUTHPROTO_TEMPFAIL ? 3 : 1;
	} else if (strcmp(op, "reset") == 0) {
		printf("%s: %s (the directory's badPwdCount is unchanged)\n",
		       get(ans, "dn"),
		       strcmp(get(ans, "cleared"), "1") == 0
		           ? "authd's own count of failures cleared"
		           : "authd had no count of failures to clear");
	} else {
		print_status(ans);
	}
	authproto_msg_deinit(&ans);
	return ret;
}
