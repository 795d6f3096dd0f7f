/*
 * server_info - the authd protocol answers to DC (the DC locator, the
 * protection of each DC's binds, the change follower) and STATS (the
 * lookup counters), for server.c. The message is the caller's to send.
 */
#include "server_private.h"
#include "smtpsasl.h"

#include "dcloc.h"
#include "dirwatch.h"
#include "ldprot.h"
#include "lookup.h"
#include "server.h"
#include "str.h"

static const char *dc_state_name(enum dcloc_state s)
{
	switch (s) {
	case DCLOC_DC_UP:
		return "up";
	case DCLOC_DC_DOWN:
		return "down";
	case DCLOC_DC_GONE:
		return "gone";
	case DCLOC_DC_UNKNOWN:
		break;
	}
	return "unknown";
}

/* Kerberos SMTP AUTH: the principal and the versions of its keys. */
static void add_smtp_keys(struct authproto_msg *m, const struct smtpsasl *sasl)
{
	const struct smtpkeytab *kt = smtpsasl_keytab(sasl);

	if (kt == NULL)
		return;
	authproto_msg_add_str(m, "smtp_service", smtpsasl_service(sasl));
	for (size_t i = 0; i < kt->n_keys; i++) {
		authproto_msg_add_str(m, "smtp_key", kt->keys[i].principal);
		authproto_msg_add_uint(m, "kvno", kt->keys[i].kvno);
		authproto_msg_add_str(m, "enctype", kt->keys[i].enctype);
	}
}

struct authproto_msg *
server_dc_answer(uint64_t id, const struct server_backends *b, unsigned version)
{
	struct dcloc *loc = b->loc;
	struct authproto_msg *m =
	    authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_DC, id);

	authproto_msg_add_str(m, "source", dcloc_source(loc));
	if (dcloc_client_site(loc) != NULL)
		authproto_msg_add_str(m, "client_site", dcloc_client_site(loc));
	if (dcloc_last_error(loc) != NULL)
		authproto_msg_add_str(m, "last_error", dcloc_last_error(loc));
	if (b->watch != NULL) {
		struct dirwatch_status st;

		dirwatch_get_status(b->watch, &st);
		authproto_msg_add_str(m, "watch", st.mechanism);
		authproto_msg_add_str(m, "watch_state", st.state);
		if (st.dc != NULL)
			authproto_msg_add_str(m, "watch_dc", st.dc);
		authproto_msg_add_uint(m, "watch_changes", st.changes);
		authproto_msg_add_uint(m, "watch_dropped", st.invalidated);
		authproto_msg_add_uint(m, "watch_flushes", st.flushes);
		if (st.last_change_unix != 0) {
			authproto_msg_add_uint(m, "watch_last_change",
			                       st.last_change_unix);
			authproto_msg_add_str(m, "watch_last_dn",
			                      st.last_change_dn);
		}
		if (st.last_error != NULL)
			authproto_msg_add_str(m, "watch_error", st.last_error);
		authproto_msg_add_str(m, "watch_deletions",
		                      st.deletions_seen ? "seen" : "unseen");
	}
	if (version >= 2 && b->sasl != NULL)
		add_smtp_keys(m, b->sasl);
	for (size_t i = 0; i < dcloc_count(loc); i++) {
		const struct dcloc_dc *dc = dcloc_get(loc, i);
		int prot;

		authproto_msg_add_str(m, "dc", dc->uri);
		authproto_msg_add_str(m, "state", dc_state_name(dc->state));
		if (dc->site != NULL)
			authproto_msg_add_str(m, "site", dc->site);
		authproto_msg_add_uint(m, "prio", dc->priority);
		authproto_msg_add_uint(m, "weight", dc->weight);
		prot = ldprot_memo_get(b->memo, dc->uri);
		if (prot >= 0 && dc->state == DCLOC_DC_UP)
			authproto_msg_add_str(
			    m, "protection",
			    ldprot_name((enum ldprot)prot,
			                str_has_prefix_case(dc->uri,
			                                    strlen(dc->uri),
			                                    "ldaps:")));
		if (dc->last_error != NULL)
			authproto_msg_add_str(m, "error", dc->last_error);
	}
	return m;
}

struct authproto_msg *server_stats_answer(uint64_t id,
                                          const struct server_backends *b)
{
	struct lookup_stats st;
	struct authproto_msg *m =
	    authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_STATS, id);

	lookup_get_stats(b->lookup, &st);
	const struct {
		const char *name;
		uint64_t value;
	} rows[] = {
	    {"lookups", st.lookups},
	    {"cache_hits", st.cache_hits},
	    {"searches", st.searches},
	    {"coalesced", st.coalesced},
	    {"ok", st.ok},
	    {"notfound", st.notfound},
	    {"tempfail", st.tempfail},
	    /* directory changes (dirwatch.h): answers dropped, and answers
	     * not cached because a change arrived while they were made */
	    {"invalidated", st.invalidated},
	    {"uncached_changed", st.uncached_changed},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		authproto_msg_add_str(m, "counter", rows[i].name);
		authproto_msg_add_uint(m, "value", rows[i].value);
	}
	return m;
}
