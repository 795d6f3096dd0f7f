/*
 * authcheck_senders - the addresses an account may use as envelope sender,
 * for authcheck.c's SENDERS: what the directory says it receives (dirmap:
 * the mapped mail attributes, proxyAddresses, mailLocalAddress), then the
 * send-as grants of the configuration that name the login as given or the
 * account's name. Each address once, compared case-insensitively.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "authcheck_private.h"
#include "dirmap.h"

static void add_addr(struct authcheck_req *r, const char *a)
{
	if (a == NULL)
		return; /* not a mail address */
	for (size_t i = 0; i < r->n_addrs; i++)
		if (strcasecmp(r->addrs[i], a) == 0)
			return;
	r->addrs = alloc_resize(r->addrs, r->n_addrs + 1, sizeof(char *));
	r->addrs[r->n_addrs++] = alloc_strdup(a);
}

bool authcheck_senders_collect(struct authcheck_req *r,
                               const struct ldconn_entry *e)
{
	struct authcheck *ac = r->ac;
	struct dirmap_iter it = {0};
	const char *addr;

	while (dirmap_address_next(ac->opts.dirmap, e, &it, &addr))
		add_addr(r, addr);
	for (size_t i = 0; i < ac->opts.n_send_as; i++) {
		const char *g = ac->send_as[i];
		const char *sp = strchr(g, ' ');

		if (sp == NULL)
			continue;
		/* A grant names the login as given or the account's name. */
		if (((size_t)(sp - g) == strlen(r->user) &&
		     strncasecmp(g, r->user, (size_t)(sp - g)) == 0) ||
		    (r->account != NULL &&
		     (size_t)(sp - g) == strlen(r->account) &&
		     strncasecmp(g, r->account, (size_t)(sp - g)) == 0))
			add_addr(r, dirmap_mail_address(sp + strspn(sp, " "),
			                                false));
	}
	return r->n_addrs > 0;
}
