/*
 * test-session-check - the pure half of routerd's command table
 * (routerd/session_check.c): may this verb come now, in this state, on
 * this listener? Table-driven: every verb in the states that matter, on
 * mx, submission and submissions listeners, with the exact reply (code,
 * enhanced status, text) of every refusal. Plus a sweep: every verb in
 * every combination of the state bits gets either 0 or a reply whose
 * class (4/5) matches its enhanced code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "session.h"
#include "settings.h"
#include "smtpcmd.h"

/* State presets (struct session_view fields, in order after role/tls). */
enum preset {
	P_NEW,      /* connected, nothing said */
	P_HELO,     /* HELO seen */
	P_EHLO,     /* EHLO seen, no TLS */
	P_EHLO_TLS, /* EHLO again after STARTTLS */
	P_AUTHED,   /* EHLO + TLS + AUTH */
	P_MAIL,     /* MAIL accepted, no RCPT */
	P_RCPT,     /* MAIL + one RCPT */
	P_BDAT,     /* a BDAT transfer without LAST under way */
	P_NEW_TLS,  /* submissions: TLS, nothing said */
};

struct check_case {
	const char *name;
	int role;
	int tls_policy;
	bool tls_available;
	enum preset st;
	enum smtpcmd_verb verb;
	unsigned code; /* 0: allowed */
	const char *enhanced;
	const char *text;
};

#define MX SETTINGS_ROLE_MX
#define SUB SETTINGS_ROLE_SUBMISSION
#define SUBS SETTINGS_ROLE_SUBMISSIONS
#define T_NONE SETTINGS_TLS_NONE
#define T_MAY SETTINGS_TLS_MAY
#define T_REQ SETTINGS_TLS_REQUIRED

#define OK 0, NULL, NULL
#define NEED_HELO 503, "5.5.1", "Send HELO or EHLO first"
#define NEED_EHLO 503, "5.5.1", "Send EHLO first"
#define NEED_MAIL 503, "5.5.1", "Send MAIL first"
#define NEED_RCPT 554, "5.5.1", "No valid recipients"
#define NESTED 503, "5.5.1", "Nested MAIL command"
#define NEED_TLS 530, "5.7.0", "Must issue a STARTTLS command first"
#define NEED_AUTH 530, "5.7.0", "Authentication required"
#define AUTH_TLS                                                               \
	538, "5.7.11",                                                         \
	    "Encryption required for requested authentication mechanism"
#define ALREADY 503, "5.5.1", "Already authenticated"
#define NO_AUTH 502, "5.5.1", "AUTH is not offered here"
#define TLS_ON 503, "5.5.1", "TLS already active"
#define NO_TLS 454, "4.7.0", "TLS not available at the moment"
#define IN_TX 503, "5.5.1", "Not allowed during a mail transaction"
#define BDAT_BUSY 503, "5.5.1", "BDAT transfer in progress"
#define NOT_IMPL 502, "5.5.1", "Command not implemented"
#define UNKNOWN 500, "5.5.2", "Command unrecognized"

static const struct check_case cases[] = {
    /* Always allowed, in any state but a BDAT transfer. */
    {"helo new mx", MX, T_MAY, true, P_NEW, SMTPCMD_HELO, OK},
    {"ehlo new mx", MX, T_MAY, true, P_NEW, SMTPCMD_EHLO, OK},
    {"ehlo in mail", MX, T_MAY, true, P_MAIL, SMTPCMD_EHLO, OK},
    {"rset new", MX, T_MAY, true, P_NEW, SMTPCMD_RSET, OK},
    {"rset rcpt", SUB, T_REQ, true, P_RCPT, SMTPCMD_RSET, OK},
    {"noop new", MX, T_MAY, true, P_NEW, SMTPCMD_NOOP, OK},
    {"quit new", SUBS, T_REQ, true, P_NEW_TLS, SMTPCMD_QUIT, OK},
    {"help new", MX, T_NONE, false, P_NEW, SMTPCMD_HELP, OK},
    {"vrfy new", MX, T_MAY, true, P_NEW, SMTPCMD_VRFY, OK},
    {"vrfy mail", MX, T_MAY, true, P_MAIL, SMTPCMD_VRFY, OK},
    {"expn mx", MX, T_MAY, true, P_EHLO, SMTPCMD_EXPN, NOT_IMPL},
    {"expn sub", SUB, T_REQ, true, P_AUTHED, SMTPCMD_EXPN, NOT_IMPL},
    {"unknown new", MX, T_MAY, true, P_NEW, SMTPCMD_UNKNOWN, UNKNOWN},
    {"unknown authed", SUB, T_REQ, true, P_AUTHED, SMTPCMD_UNKNOWN, UNKNOWN},

    /* STARTTLS (RFC 3207). */
    {"starttls new", MX, T_MAY, true, P_NEW, SMTPCMD_STARTTLS, NEED_EHLO},
    {"starttls helo", MX, T_MAY, true, P_HELO, SMTPCMD_STARTTLS, NEED_EHLO},
    {"starttls ehlo mx", MX, T_MAY, true, P_EHLO, SMTPCMD_STARTTLS, OK},
    {"starttls ehlo sub", SUB, T_REQ, true, P_EHLO, SMTPCMD_STARTTLS, OK},
    {"starttls twice", MX, T_MAY, true, P_EHLO_TLS, SMTPCMD_STARTTLS, TLS_ON},
    {"starttls submissions", SUBS, T_REQ, true, P_EHLO_TLS, SMTPCMD_STARTTLS,
     TLS_ON},
    {"starttls in mail", MX, T_MAY, true, P_MAIL, SMTPCMD_STARTTLS, IN_TX},
    {"starttls no cert", MX, T_MAY, false, P_EHLO, SMTPCMD_STARTTLS, NO_TLS},
    {"starttls tls=none", MX, T_NONE, true, P_EHLO, SMTPCMD_STARTTLS, NO_TLS},

    /* AUTH (RFC 4954). */
    {"auth new", SUB, T_REQ, true, P_NEW, SMTPCMD_AUTH, NEED_EHLO},
    {"auth helo", SUB, T_REQ, true, P_HELO, SMTPCMD_AUTH, NEED_EHLO},
    {"auth mx", MX, T_MAY, true, P_EHLO_TLS, SMTPCMD_AUTH, NO_AUTH},
    {"auth mx plain", MX, T_MAY, true, P_EHLO, SMTPCMD_AUTH, NO_AUTH},
    {"auth sub no tls", SUB, T_REQ, true, P_EHLO, SMTPCMD_AUTH, AUTH_TLS},
    {"auth sub tls", SUB, T_REQ, true, P_EHLO_TLS, SMTPCMD_AUTH, OK},
    {"auth submissions", SUBS, T_REQ, true, P_EHLO_TLS, SMTPCMD_AUTH, OK},
    {"auth twice", SUB, T_REQ, true, P_AUTHED, SMTPCMD_AUTH, ALREADY},
    {"auth in mail", SUB, T_REQ, true, P_MAIL, SMTPCMD_AUTH, ALREADY},

    /* MAIL. */
    {"mail new mx", MX, T_MAY, true, P_NEW, SMTPCMD_MAIL, NEED_HELO},
    {"mail helo mx", MX, T_MAY, true, P_HELO, SMTPCMD_MAIL, OK},
    {"mail ehlo mx", MX, T_MAY, true, P_EHLO, SMTPCMD_MAIL, OK},
    {"mail mx tls required", MX, T_REQ, true, P_EHLO, SMTPCMD_MAIL, NEED_TLS},
    {"mail mx tls required ok", MX, T_REQ, true, P_EHLO_TLS, SMTPCMD_MAIL, OK},
    {"mail nested", MX, T_MAY, true, P_MAIL, SMTPCMD_MAIL, NESTED},
    {"mail nested rcpt", MX, T_MAY, true, P_RCPT, SMTPCMD_MAIL, NESTED},
    {"mail sub no tls", SUB, T_REQ, true, P_EHLO, SMTPCMD_MAIL, NEED_TLS},
    {"mail sub tls no auth", SUB, T_REQ, true, P_EHLO_TLS, SMTPCMD_MAIL,
     NEED_AUTH},
    {"mail sub authed", SUB, T_REQ, true, P_AUTHED, SMTPCMD_MAIL, OK},
    {"mail submissions no auth", SUBS, T_REQ, true, P_EHLO_TLS, SMTPCMD_MAIL,
     NEED_AUTH},
    {"mail submissions new", SUBS, T_REQ, true, P_NEW_TLS, SMTPCMD_MAIL,
     NEED_HELO},
    {"mail submissions authed", SUBS, T_REQ, true, P_AUTHED, SMTPCMD_MAIL, OK},
    {"mail sub tls=may no auth", SUB, T_MAY, true, P_EHLO, SMTPCMD_MAIL,
     NEED_AUTH},

    /* RCPT. */
    {"rcpt new", MX, T_MAY, true, P_NEW, SMTPCMD_RCPT, NEED_MAIL},
    {"rcpt ehlo", MX, T_MAY, true, P_EHLO, SMTPCMD_RCPT, NEED_MAIL},
    {"rcpt sub authed", SUB, T_REQ, true, P_AUTHED, SMTPCMD_RCPT, NEED_MAIL},
    {"rcpt mail", MX, T_MAY, true, P_MAIL, SMTPCMD_RCPT, OK},
    {"rcpt rcpt", SUB, T_REQ, true, P_RCPT, SMTPCMD_RCPT, OK},

    /* DATA and BDAT. */
    {"data new", MX, T_MAY, true, P_NEW, SMTPCMD_DATA, NEED_MAIL},
    {"data ehlo", MX, T_MAY, true, P_EHLO, SMTPCMD_DATA, NEED_MAIL},
    {"data no rcpt", MX, T_MAY, true, P_MAIL, SMTPCMD_DATA, NEED_RCPT},
    {"data rcpt", MX, T_MAY, true, P_RCPT, SMTPCMD_DATA, OK},
    {"data rcpt sub", SUB, T_REQ, true, P_RCPT, SMTPCMD_DATA, OK},
    {"bdat ehlo", MX, T_MAY, true, P_EHLO, SMTPCMD_BDAT, NEED_MAIL},
    {"bdat no rcpt", MX, T_MAY, true, P_MAIL, SMTPCMD_BDAT, NEED_RCPT},
    {"bdat rcpt", MX, T_MAY, true, P_RCPT, SMTPCMD_BDAT, OK},

    /* During a BDAT transfer only BDAT, RSET, QUIT, NOOP. */
    {"bdat in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_BDAT, OK},
    {"rset in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_RSET, OK},
    {"quit in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_QUIT, OK},
    {"noop in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_NOOP, OK},
    {"data in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_DATA, BDAT_BUSY},
    {"mail in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_MAIL, BDAT_BUSY},
    {"rcpt in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_RCPT, BDAT_BUSY},
    {"ehlo in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_EHLO, BDAT_BUSY},
    {"helo in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_HELO, BDAT_BUSY},
    {"vrfy in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_VRFY, BDAT_BUSY},
    {"help in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_HELP, BDAT_BUSY},
    {"starttls in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_STARTTLS, BDAT_BUSY},
    {"auth in bdat", SUB, T_REQ, true, P_BDAT, SMTPCMD_AUTH, BDAT_BUSY},
    {"unknown in bdat", MX, T_MAY, true, P_BDAT, SMTPCMD_UNKNOWN, BDAT_BUSY},
};

static void make_view(const struct check_case *c, struct session_view *v)
{
	memset(v, 0, sizeof(*v));
	v->role = c->role;
	v->tls_policy = c->tls_policy;
	v->tls_available = c->tls_available;
	switch (c->st) {
	case P_NEW:
		break;
	case P_NEW_TLS:
		v->tls_active = true;
		break;
	case P_HELO:
		v->greeted = true;
		break;
	case P_EHLO:
		v->greeted = v->ehlo = true;
		break;
	case P_EHLO_TLS:
		v->greeted = v->ehlo = v->tls_active = true;
		break;
	case P_AUTHED:
		v->greeted = v->ehlo = v->tls_active = v->authenticated = true;
		break;
	case P_MAIL:
	case P_RCPT:
	case P_BDAT:
		v->greeted = v->ehlo = true;
		/* submission transactions are authenticated, over TLS */
		v->tls_active = c->role != MX || c->tls_policy == T_REQ;
		v->authenticated = c->role != MX;
		v->in_mail = true;
		v->rcpts = c->st == P_MAIL ? 0 : 1;
		v->in_bdat = c->st == P_BDAT;
		break;
	}
}

static void test_table(void **state)
{
	char msg[256];

	(void)state;
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 40);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct check_case *c = &cases[i];
		struct session_view v;
		unsigned code = 12345;
		const char *enh = "unset", *text = "unset";
		int r;

		make_view(c, &v);
		r = session_check(&v, c->verb, &code, &enh, &text);
		snprintf(msg, sizeof(msg),
		         "case \"%s\": r=%d code=%u enh=%s "
		         "text=%s",
		         c->name, r, code, r < 0 ? enh : "-",
		         r < 0 ? text : "-");
		if (c->code == 0) {
			if (r != 0)
				fail_msg("%s (want allowed)", msg);
			/* Allowed: the out parameters are not touched. */
			assert_int_equal(code, 12345);
			continue;
		}
		if (r != -1 || code != c->code ||
		    strcmp(enh, c->enhanced) != 0 || strcmp(text, c->text) != 0)
			fail_msg("%s (want %u %s %s)", msg, c->code,
			         c->enhanced, c->text);
	}
}

/* Every verb, every role, every combination of the state bits: either
 * allowed, or a 4xx/5xx whose enhanced code has the same class; a
 * non-greeted session never gets a transaction started, an unauthenticated
 * submission session never gets MAIL, MX never offers AUTH. */
static void test_sweep(void **state)
{
	static const int roles[] = {MX, SUB, SUBS};
	static const int tlsp[] = {T_NONE, T_MAY, T_REQ};
	unsigned n = 0;

	(void)state;
	for (size_t ri = 0; ri < 3; ri++)
		for (size_t ti = 0; ti < 3; ti++)
			for (unsigned bits = 0; bits < 256; bits++)
				for (int verb = SMTPCMD_HELO;
				     verb <= SMTPCMD_UNKNOWN; verb++) {
					struct session_view v = {
					    .role = roles[ri],
					    .tls_policy = tlsp[ti],
					    .tls_active = bits & 1,
					    .tls_available = bits & 2,
					    .greeted = bits & 4,
					    .ehlo = (bits & 4) && (bits & 8),
					    .authenticated = bits & 16,
					    .in_mail = bits & 32,
					    .rcpts = (bits & 32) && (bits & 64)
					                 ? 3
					                 : 0,
					    .in_bdat = (bits & 32) &&
					               (bits & 64) &&
					               (bits & 128),
					};
					unsigned code = 0;
					const char *enh = NULL, *text = NULL;
					int r = session_check(
					    &v, (enum smtpcmd_verb)verb, &code,
					    &enh, &text);

					n++;
					if (r == 0) {
						if (verb == SMTPCMD_MAIL) {
							assert_true(v.greeted);
							assert_false(v.in_mail);
							if (v.role != MX)
								assert_true(
								    v.authenticated);
							if (v.tls_policy ==
							    T_REQ)
								assert_true(
								    v.tls_active);
						}
						if (verb == SMTPCMD_AUTH) {
							assert_int_not_equal(
							    v.role, MX);
							assert_true(
							    v.tls_active);
							assert_false(
							    v.authenticated);
						}
						if (verb == SMTPCMD_DATA ||
						    verb == SMTPCMD_BDAT)
							assert_true(v.in_mail &&
							            v.rcpts >
							                0);
						if (verb == SMTPCMD_RCPT)
							assert_true(v.in_mail);
						if (v.in_bdat)
							assert_true(
							    verb ==
							        SMTPCMD_BDAT ||
							    verb ==
							        SMTPCMD_RSET ||
							    verb ==
							        SMTPCMD_QUIT ||
							    verb ==
							        SMTPCMD_NOOP);
						assert_true(
						    verb != SMTPCMD_EXPN &&
						    verb != SMTPCMD_UNKNOWN);
						continue;
					}
					assert_int_equal(r, -1);
					assert_true(code >= 400 && code < 600);
					assert_non_null(enh);
					assert_non_null(text);
					assert_int_equal(
					    enh[0], '0' + (int)(code / 100));
					assert_int_equal(enh[1], '.');
				}
	assert_true(n > 30000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
