/*
 * bindcheck - authd -t --bind: try the configuration against the directory.
 *
 * After the file checked good, find the domain controllers as the daemon
 * does (DNS SRV or servers =), then bind to each of them in order (at most
 * BINDCHECK_MAX_DCS) with the daemon's own connection code and settings:
 * the keytab, the password file, TLS and its CA, and the same negotiation
 * of the bind's protection, started afresh for each DC. Each bound DC
 * reads the root DSE once, so that a SASL layer is proven on a real
 * answer. One line per DC on stdout:
 *
 *   ldap://dc1.example.com:389: bind OK (gssapi, protection sasl-seal)
 *     refused: starttls: Strong(er) authentication required (...)
 *   ldap://dc2.example.com:389: bind FAILED: ... bind failed: ...
 *     fix: keytab/ccache missing: ...
 *
 * Exit status 0 when every DC tried took the bind, 1 otherwise (no DC
 * found, or one failed). It runs as whoever starts it: run it as authd's
 * user to test what authd can read.
 */
#include "bindcheck.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "bindfix.h"
#include "evloop.h"
#include "ldconn.h"
#include "settings.h"

#define BINDCHECK_MAX_DCS 8

struct bindcheck {
	struct event_base *base;
	const struct settings_authd *s;
	struct ldconn_options conn;
	struct dcloc *loc;
	struct evloop_timer *deadline;
	struct ldconn *c;
	size_t next; /* the next DC of the locator's list to try */
	size_t tried, ok;
	bool started;
};

static void check_next(struct bindcheck *b);

static void check_next_cb(evutil_socket_t fd, short what, void *ctx)
{
	check_next(ctx);
}

static void print_fix(const char *reason)
{
	const char *fix = bindfix_advice(reason);

	if (fix != NULL)
		printf("  fix: %s\n", fix);
}

static void on_root_dse(const struct ldconn_result *res, void *ctx)
{
	struct bindcheck *b = ctx;
	const char *prot = ldconn_protection(b->c);
	const char *notes = ldconn_protection_notes(b->c);

	if (res->status == LDCONN_OK) {
		b->ok++;
		printf("%s: bind OK (%s, protection %s)\n", ldconn_uri(b->c),
		       settings_bind_name(b->s->bind), prot);
		if (notes != NULL)
			printf("  refused: %s\n", notes);
	} else {
		printf("%s: bind OK (protection %s), but reading the root DSE "
		       "failed: %s\n",
		       ldconn_uri(b->c), prot,
		       res->error != NULL ? res->error
		                          : ldconn_status_str(res->status));
	}
	ldconn_close(b->c, "checked");
}

static void on_state(struct ldconn *c, enum ldconn_state state,
                     const char *reason, void *ctx)
{
	struct bindcheck *b = ctx;
	static const char *const no_attrs[] = {"1.1", NULL};
	struct ldconn_search s = {.base = "",
	                          .scope = 0, /* LDAP_SCOPE_BASE */
	                          .filter = "(objectClass=*)",
	                          .attrs = no_attrs};
	const char *error;

	if (state == LDCONN_STATE_CONNECTING)
		return;
	if (state == LDCONN_STATE_UP) {
		if (ldconn_search_start(c, &s, on_root_dse, b, &error) ==
		    NULL) {
			printf("%s: bind OK, but no search could be sent: %s\n",
			       ldconn_uri(c), error);
			ldconn_close(c, "checked");
		}
		return;
	}
	/* DOWN: a failed setup, or the close after the check. */
	if (reason != NULL && strcmp(reason, "checked") != 0) {
		printf("%s: bind FAILED: %s\n", ldconn_uri(c), reason);
		print_fix(reason);
	}
	event_base_once(b->base, -1, EV_TIMEOUT, check_next_cb, b, NULL);
}

/* Free the last DC's connection (not from its own callback) and go on. */
static void check_next(struct bindcheck *b)
{
	const struct dcloc_dc *dc;

	ldconn_deinit(&b->c);
	if (b->next >= dcloc_count(b->loc) || b->tried >= BINDCHECK_MAX_DCS) {
		event_base_loopexit(b->base, NULL);
		return;
	}
	dc = dcloc_get(b->loc, b->next++);
	b->tried++;
	b->conn.uri = dc->uri;
	b->c = ldconn_new(b->base, &b->conn, on_state, b);
	ldconn_connect(b->c);
}

static void on_dcs(struct dcloc *loc, void *ctx)
{
	struct bindcheck *b = ctx;

	if (b->started)
		return;
	if (dcloc_count(loc) == 0) {
		/* Discovery failed (every SRV name): nothing to try. */
		if (dcloc_ready(loc))
			event_base_loopexit(b->base, NULL);
		return;
	}
	b->started = true;
	evloop_timer_free(&b->deadline);
	check_next(b);
}

static void on_deadline(void *ctx)
{
	struct bindcheck *b = ctx;

	event_base_loopexit(b->base, NULL);
}

int bindcheck_run(const struct dirmx_config *cfg)
{
	struct bindcheck b = {.s = &cfg->authd};
	struct authd_options o;
	struct dns *dns = NULL;
	char *password = NULL;
	const char *error;
	int ret = 1;

	authd_setup_options(cfg, &o);
	b.conn = o.conn;
	if (b.s->bind_password_file != NULL) {
		password = authd_read_secret(b.s->bind_password_file, &error);
		if (password == NULL) {
			printf("%s: %s\n  fix: bind_password_file must be "
			       "readable by authd's user and hold the "
			       "password on its first line\n",
			       b.s->bind_password_file, error);
			return 1;
		}
		b.conn.password = password;
	}
	b.base = event_base_new();
	dns = dns_init(b.base, &o.dns, &error);
	if (dns == NULL) {
		printf("dns: %s\n", error);
		goto done;
	}
	b.loc = dcloc_new(b.base, dns, &o.loc, on_dcs, &b);
	/* Discovery: the resolver's own timeouts, with room for the
	 * fallback names (site, domain-wide, plain _ldap._tcp). */
	b.deadline = evloop_timer_new(b.base, on_deadline, &b);
	evloop_timer_start(
	    b.deadline,
	    (unsigned)(o.dns.timeout_ms * (unsigned)o.dns.tries * 4) + 1000);
	dcloc_start(b.loc);
	event_base_dispatch(b.base);
	if (!b.started) {
		printf("no directory server found: %s\n  fix: check [authd] "
		       "domain (its DNS SRV records _ldap._tcp.dc._msdcs."
		       "DOMAIN) or list the servers with servers =\n",
		       dcloc_last_error(b.loc) != NULL ? dcloc_last_error(b.loc)
		                                       : "no answer in time");
		goto done;
	}
	printf("%zu of %zu directory server%s took the bind\n", b.ok, b.tried,
	       b.tried == 1 ? "" : "s");
	ret = b.ok == b.tried ? 0 : 1;
done:
	ldconn_deinit(&b.c);
	evloop_timer_free(&b.deadline);
	dcloc_deinit(&b.loc);
	dns_deinit(&dns);
	if (b.base != NULL)
		event_base_free(b.base);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	if (ldconn_setups_wait() > 0) {
		fflush(NULL);
		_exit(ret);
	}
	return ret;
}
