/*
 * session_params - the session limits and names taken from the
 * configuration; see session.h.
 */
#include "session.h"

#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"
#include "settings.h"

void session_params_clear(struct session_params *p)
{
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
	p->max_received_headers = r->max_received_headers;
	p->max_errors = r->max_errors;
	p->max_auth_failures = r->max_auth_failures;
	p->cmd_timeout_ms = (unsigned)r->command_timeout_ms;
	p->data_timeout_ms = (unsigned)r->data_timeout_ms;
	p->min_data_rate = r->min_data_rate;
	p->tls_handshake_timeout_ms = (unsigned)r->tls_handshake_timeout_ms;
}
