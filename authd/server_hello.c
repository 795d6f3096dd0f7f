/*
 * server_hello - the answer to HELLO (authproto.txt, section 4): the
 * version the connection speaks from now on, and for version 2 the SMTP
 * AUTH mechanisms authd offers (mech=), so that routerd advertises only
 * those; and whether an AUTH request's mechanism is one of them. Pure:
 * the message is the caller's to send.
 */
#include "server_private.h"

#include <string.h>

#include "authproto.h"
#include "server.h"
#include "smtpsasl.h"

bool server_mech_offered(const struct server_backends *b, const char *mech)
{
	const char *const *mechs;
	size_t n;

	if (b->sasl == NULL)
		return strcmp(mech, "PLAIN") == 0 || strcmp(mech, "LOGIN") == 0;
	n = smtpsasl_mechs(b->sasl, &mechs);
	for (size_t i = 0; i < n; i++)
		if (strcmp(mechs[i], mech) == 0)
			return true;
	return false;
}

struct authproto_msg *server_hello_answer(const struct authproto_msg *req,
                                          const struct server_backends *b,
                                          unsigned *version_r)
{
	uint64_t version = 0;
	struct authproto_msg *m;

	*version_r = 0;
	if (!authproto_msg_get_uint(req, "version", &version) ||
	    version < AUTHPROTO_VERSION_MIN || version > AUTHPROTO_VERSION) {
		m = authproto_msg_new_answer(AUTHPROTO_ERROR, AUTHPROTO_HELLO,
		                             0);
		authproto_msg_add_str(m, "reason", "unsupported version");
		for (unsigned v = AUTHPROTO_VERSION_MIN; v <= AUTHPROTO_VERSION;
		     v++)
			authproto_msg_add_uint(m, "supported", v);
		return m;
	}
	*version_r = (unsigned)version;
	m = authproto_msg_new_answer(AUTHPROTO_OK, AUTHPROTO_HELLO, 0);
	authproto_msg_add_uint(m, "version", version);
	authproto_msg_add_str(m, "server", "authd");
	if (version >= 2 && b->sasl != NULL) {
		const char *const *mechs;
		size_t n = smtpsasl_mechs(b->sasl, &mechs);

		for (size_t i = 0; i < n; i++)
			authproto_msg_add_str(m, "mech", mechs[i]);
	}
	return m;
}
