/*
 * authcheck_familiar - authcheck's familiar clients (famclient.h): asked
 * before every bind, told of every success, kept in
 * <state_dir>/authd/familiar-clients.
 *
 * A success that changes the table schedules a save FAMILIAR_SAVE_MS
 * later (one write for a burst of logins); authcheck_deinit saves what is
 * still unsaved. A failed save is logged and retried at the next change:
 * the table in memory stays right, and a lost file only makes users
 * strangers until their next login (never a lockout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "evloop.h"
#include "famclient.h"
#include "famclient_file.h"
#include "log.h"

#define FAMILIAR_SAVE_MS 5000
#define DAY_S 86400ULL

static uint64_t now_s(void)
{
	time_t t = time(NULL);

	return t > 0 ? (uint64_t)t : 0;
}

static void save(struct authcheck *ac)
{
	const char *error;

	if (ac->familiar_path == NULL || !ac->familiar_dirty)
		return;
	if (famclient_file_save(ac->familiar, ac->familiar_path, now_s(),
	                        &error) < 0) {
		log_warn("authcheck",
		         "event=familiar_save_failed file=%s error=\"%s\"",
		         ac->familiar_path, error);
		return;
	}
	ac->familiar_dirty = false;
}

static void on_save_timer(void *ctx)
{
	save(ctx);
}

void authcheck_familiar_init(struct authcheck *ac, const char *state_dir)
{
	const char *error;
	long n;
	size_t len;

	ac->familiar = famclient_new(ac->opts.familiar_client_days * DAY_S,
	                             ac->opts.familiar_clients_max);
	if (state_dir == NULL || ac->opts.familiar_clients_max == 0 ||
	    ac->opts.familiar_client_days == 0)
		return;
	len = strlen(state_dir) + sizeof("/authd/familiar-clients");
	ac->familiar_path = alloc_array(len, 1);
	/* authd's own directory: routerd's user owns state_dir itself. */
	snprintf(ac->familiar_path, len, "%s/authd", state_dir);
	if (mkdir(ac->familiar_path, 0700) < 0 && errno != EEXIST)
		log_warn("authcheck", "event=familiar_dir error=\"%s: %s\"",
		         ac->familiar_path, strerror(errno));
	snprintf(ac->familiar_path, len, "%s/authd/familiar-clients",
	         state_dir);
	ac->familiar_timer = evloop_timer_new(ac->base, on_save_timer, ac);
	if (famclient_file_load(ac->familiar, ac->familiar_path, now_s(), &n,
	                        &error) < 0)
		log_warn("authcheck",
		         "event=familiar_load_failed file=%s error=\"%s\" "
		         "hint=\"every client is a stranger until its next "
		         "login\"",
		         ac->familiar_path, error);
	else
		log_info(
		    "authcheck",
		    "event=familiar_loaded file=%s entries=%ld accounts=%zu",
		    ac->familiar_path, n, famclient_accounts(ac->familiar));
}

void authcheck_familiar_deinit(struct authcheck *ac)
{
	if (ac->familiar != NULL)
		save(ac);
	evloop_timer_free(&ac->familiar_timer);
	famclient_deinit(&ac->familiar);
	free(ac->familiar_path);
	ac->familiar_path = NULL;
}

bool authcheck_familiar_is(const struct authcheck_req *r)
{
	return famclient_is_familiar(r->ac->familiar, r->dn, r->client,
	                             now_s());
}

void authcheck_familiar_seen(struct authcheck_req *r)
{
	struct authcheck *ac = r->ac;

	if (!famclient_seen(ac->familiar, r->dn, r->client, now_s()))
		return;
	if (ac->familiar_path != NULL && !ac->familiar_dirty) {
		ac->familiar_dirty = true;
		evloop_timer_start(ac->familiar_timer, FAMILIAR_SAVE_MS);
	}
}

size_t authcheck_familiar_list(const struct authcheck_req *r,
                               struct famclient_entry *out, size_t max)
{
	return famclient_list(r->ac->familiar, r->dn, now_s(), out, max);
}
