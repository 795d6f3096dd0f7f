/*
 * session_params - the session limits and names taken from the
 * configuration; see session.h.
 */
#include "session.h"

#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"
#include "settings.h"

static void filters_clear(struct session_params *p)
{
	for (size_t i = 0; i < p->n_filters; i++) {
		struct session_filters *f = &p->filters[i];

		for (size_t k = 0; k < f->n; k++) {
			free((char *)f->confs[k].name);
			free((char *)f->confs[k].socket);
		}
		free(f->confs);
		free(f->listener);
	}
	free(p->filters);
	p->filters = NULL;
	p->n_filters = 0;
}

/* Each listener's [milter] sections, copied: a message in flight reads
 * them as it reaches each filter, across a SIGHUP. */
static void filters_set(struct session_params *p,
                        const struct dirmx_config *cfg)
{
	p->filters = alloc_array(cfg->listener_count + 1, sizeof(*p->filters));
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct settings_listener *l = &cfg->listeners[i];
		struct session_filters *f;

		if (l->milters.count == 0)
			continue;
		f = &p->filters[p->n_filters++];
		f->listener = alloc_strdup(l->name);
		f->confs = alloc_array(l->milters.count, sizeof(*f->confs));
		for (size_t k = 0; k < l->milters.count; k++) {
			const struct settings_milter *m =
			    settings_find_milter(cfg, l->milters.items[k]);
			struct milter_conf *c = &f->confs[f->n];

			if (m == NULL)
				continue; /* settings_load() refuses this */
			c->name = alloc_strdup(m->name);
			c->socket = alloc_strdup(m->socket);
			c->connect_ms = (unsigned)m->connect_timeout_ms;
			c->command_ms = (unsigned)m->command_timeout_ms;
			c->content_ms = (unsigned)m->content_timeout_ms;
			c->default_action = m->default_action;
			f->n++;
		}
	}
}

void session_params_clear(struct session_params *p)
{
	filters_clear(p);
	free(p->hostname);
	free(p->postmaster);
	p->hostname = p->postmaster = NULL;
}

void session_params_set(struct session_params *p,
                        const struct dirmx_config *cfg)
{
	const struct settings_routerd *r = &cfg->routerd;
	char host[256];

	session_params_clear(p);
	if (r->hostname != NULL) {
		p->hostname = alloc_strdup(r->hostname);
	} else if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		p->hostname = alloc_strdup(host);
	} else {
		p->hostname = alloc_strdup("localhost");
	}
	p->postmaster =
	    r->postmaster != NULL ? alloc_strdup(r->postmaster) : NULL;
	p->max_message_size = r->max_message_size;
	p->spool_min_free = r->spool_min_free;
	p->max_line_length = (size_t)r->max_line_length;
	p->max_recipients = r->max_recipients;
	p->trust_envelope_sender = r->trust_envelope_sender_for_restrictions;
	p->max_received_headers = r->max_received_headers;
	p->max_errors = r->max_errors;
	p->max_auth_failures = r->max_auth_failures;
	p->cmd_timeout_ms = (unsigned)r->command_timeout_ms;
	p->data_timeout_ms = (unsigned)r->data_timeout_ms;
	p->min_data_rate = r->min_data_rate;
	p->tls_handshake_timeout_ms = (unsigned)r->tls_handshake_timeout_ms;
	filters_set(p, cfg);
}
