/*
 * session_check - may this SMTP command come now? The pure half of the
 * command table (session.c holds the proceed half). Each rule says which
 * state a verb needs and which reply refuses it, in RFC 5321, 3207, 4954
 * and 3030 terms.
 */
#include "session.h"

#include "settings.h"

struct rule {
	unsigned code;
	const char *enhanced;
	const char *text;
};

static const struct rule need_helo = {503, "5.5.1", "Send HELO or EHLO first"};
static const struct rule need_ehlo = {503, "5.5.1", "Send EHLO first"};
static const struct rule need_mail = {503, "5.5.1", "Send MAIL first"};
static const struct rule need_rcpt = {554, "5.5.1", "No valid recipients"};
static const struct rule nested_mail = {503, "5.5.1", "Nested MAIL command"};
static const struct rule need_tls = {530, "5.7.0",
                                     "Must issue a STARTTLS command first"};
static const struct rule need_auth = {530, "5.7.0", "Authentication required"};
static const struct rule auth_needs_tls = {
    538, "5.7.11",
    "Encryption required for "
    "requested authentication mechanism"};
static const struct rule already_auth = {503, "5.5.1", "Already authenticated"};
static const struct rule no_auth_here = {502, "5.5.1",
                                         "AUTH is not offered here"};
static const struct rule tls_active = {503, "5.5.1", "TLS already active"};
static const struct rule no_tls = {454, "4.7.0",
                                   "TLS not available at the moment"};
static const struct rule in_tx = {503, "5.5.1",
                                  "Not allowed during a mail transaction"};
static const struct rule bdat_pending = {503, "5.5.1",
                                         "BDAT transfer in progress"};
static const struct rule not_impl = {502, "5.5.1", "Command not implemented"};
static const struct rule unknown = {500, "5.5.2", "Command unrecognized"};

static int refuse(const struct rule *r, unsigned *code_r,
                  const char **enhanced_r, const char **text_r)
{
	*code_r = r->code;
	*enhanced_r = r->enhanced;
	*text_r = r->text;
	return -1;
}

/* Must the client be on TLS before this transaction or login? */
static bool tls_missing(const struct session_view *v)
{
	return !v->tls_active && v->tls_policy == SETTINGS_TLS_REQUIRED;
}

int session_check(const struct session_view *v, enum smtpcmd_verb verb,
                  unsigned *code_r, const char **enhanced_r,
                  const char **text_r)
{
#define REFUSE(r) return refuse(&(r), code_r, enhanced_r, text_r)
	/* During a BDAT transfer only more BDAT, RSET, QUIT or NOOP. */
	if (v->in_bdat && verb != SMTPCMD_BDAT && verb != SMTPCMD_RSET &&
	    verb != SMTPCMD_QUIT && verb != SMTPCMD_NOOP)
		REFUSE(bdat_pending);
	switch (verb) {
	case SMTPCMD_HELO:
	case SMTPCMD_EHLO:
	case SMTPCMD_RSET:
	case SMTPCMD_NOOP:
	case SMTPCMD_QUIT:
	case SMTPCMD_HELP:
	case SMTPCMD_VRFY:
		return 0;
	case SMTPCMD_EXPN:
		REFUSE(not_impl);
	case SMTPCMD_STARTTLS:
		if (!v->ehlo)
			REFUSE(need_ehlo);
		if (v->tls_active)
			REFUSE(tls_active);
		if (v->in_mail)
			REFUSE(in_tx);
		if (!v->tls_available || v->tls_policy == SETTINGS_TLS_NONE)
			REFUSE(no_tls);
		return 0;
	case SMTPCMD_AUTH:
		if (!v->ehlo)
			REFUSE(need_ehlo);
		if (v->role == SETTINGS_ROLE_MX)
			REFUSE(no_auth_here);
		if (v->authenticated)
			REFUSE(already_auth);
		if (v->in_mail)
			REFUSE(in_tx);
		if (!v->tls_active)
			REFUSE(auth_needs_tls);
		return 0;
	case SMTPCMD_MAIL:
		if (!v->greeted)
			REFUSE(need_helo);
		if (v->in_mail)
			REFUSE(nested_mail);
		if (tls_missing(v))
			REFUSE(need_tls);
		if (v->role != SETTINGS_ROLE_MX && !v->authenticated)
			REFUSE(need_auth);
		return 0;
	case SMTPCMD_RCPT:
		if (!v->in_mail)
			REFUSE(need_mail);
		return 0;
	case SMTPCMD_DATA:
	case SMTPCMD_BDAT:
		if (!v->in_mail)
			REFUSE(need_mail);
		if (v->rcpts == 0)
			REFUSE(need_rcpt);
		return 0;
	case SMTPCMD_UNKNOWN:
		break;
	}
	REFUSE(unknown);
#undef REFUSE
}
