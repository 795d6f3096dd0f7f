/*
 * session_milter_private.h - shared by session_milter.c (the filters'
 * conversations, asked at each step of the SMTP dialogue) and
 * session_milter_eom.c (the message at its end: the filters' verdicts and
 * changes, then the commit). Not for other modules.
 */
#ifndef DIRMX_SESSION_MILTER_PRIVATE_H
#define DIRMX_SESSION_MILTER_PRIVATE_H

#include "milter.h"
#include "session_private.h"

struct sm_message;

enum sm_ask {
	SM_ASK_NONE,
	SM_ASK_CONNECT,
	SM_ASK_HELO,
	SM_ASK_MAIL,
	SM_ASK_RCPT,
	SM_ASK_UNKNOWN,
	SM_ASK_DATA,
	SM_ASK_MESSAGE,
};

/* One filter of the session. */
struct sm_filter {
	struct session_milter *m;
	struct milter_conv *conv;
	char *name; /* a copy: a SIGHUP may replace the params */
	int def;    /* its default_action */
	bool off;   /* failed, default_action accept: asked no more */
};

struct session_milter {
	struct session *s;
	struct sm_filter *f;
	size_t n;
	/* The step being asked, of filter cur, and what follows it. */
	enum sm_ask ask;
	size_t cur;
	char *arg;
	session_milter_after *after;
	bool waited; /* the session waits for the answer */
	/* An unknown command's reply, when no filter has its own. */
	struct smtpcmd_error unknown_reply;
	/* A filter refused the session (connect, HELO): every command but
	 * QUIT, NOOP and RSET gets this reply. */
	bool refused;
	unsigned refused_code;
	char refused_enh[16];
	char refused_text[256];
	bool discard; /* a filter discarded the message before its end */
	struct sm_message *msg; /* the message at its end */
	char tls_bits[16];
	char underscore[128];
};

/* session_milter.c: what a filter's answer means, logged
 * (event=milter_failed, milter_refused, milter_discard): go on (a failed
 * filter whose default_action is accept is asked no more), refuse with
 * *code_r, *enh_r, *text_r (its own reply, the usual one, or its
 * default_action's), or discard the message. */
enum sm_outcome { SM_GO_ON, SM_REFUSE, SM_DISCARD };
enum sm_outcome session_milter_outcome(struct sm_filter *f,
                                       const struct milter_result *r,
                                       unsigned *code_r, const char **enh_r,
                                       const char **text_r);

/* session_milter_eom.c */
void session_milter_eom_edit(void *ctx, const struct milter_reply *r,
                             bool lead_space);
void session_milter_eom_done(struct sm_filter *f,
                             const struct milter_result *r);
/* The message is over (committed, refused or dropped). */
void session_milter_eom_free(struct session_milter *m);

#endif
