/*
 * test-bindfix - the fix named for each failed bind, from the reasons
 * authd really reports (collected against MIT krb5kdc + slapd and a Samba
 * AD DC: tests/integration/test_gssbind.py, test_samba_gssbind.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "bindfix.h"

static void advice_starts(const char *reason, const char *want)
{
	const char *got = bindfix_advice(reason);

	assert_non_null(got);
	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("for \"%s\": got \"%s\", want \"%s...\"", reason, got,
		         want);
}

static void test_kerberos(void **state)
{
	(void)state;
	advice_starts("ldap://localhost:44103: bind failed: Local error "
	              "(SASL(-1): generic failure: GSSAPI Error: No "
	              "credentials were supplied, or the credentials were "
	              "unavailable or inaccessible (No Kerberos credentials "
	              "available (default cache: MEMORY:x)))",
	              "keytab/ccache missing");
	advice_starts("ldap://dc1:389: bind failed: Local error (SASL(-1): "
	              "generic failure: GSSAPI Error: Unspecified GSS failure. "
	              " Minor code may provide more information (Clock skew "
	              "too great))",
	              "clock skew");
	advice_starts("ldap://127.0.0.1:44103: bind failed: Local error "
	              "(SASL(-1): generic failure: GSSAPI Error: Unspecified "
	              "GSS failure.  Minor code may provide more information "
	              "(Server ldap/127.0.0.1@DIRMX.TEST not found in Kerberos "
	              "database))",
	              "the KDC knows no ldap/ principal");
	advice_starts("bind failed: Local error (... (Cannot find KDC for "
	              "realm \"DIRMX.TEST\"))",
	              "no KDC known");
	advice_starts("bind failed: Local error (... (Decrypt integrity check "
	              "failed))",
	              "the keytab's key is not the account's");
}

static void test_protection(void **state)
{
	(void)state;
	/* Samba's default, with port 389 out of reach after TLS refused. */
	advice_starts("ldap://dc1:389: connect failed: Can't contact LDAP "
	              "server (after starttls: Strong(er) authentication "
	              "required (SASL:[GSSAPI]: Sign or Seal are required.); "
	              "starttls+sasl-seal: Server is unwilling to perform "
	              "(SASL:[GSSAPI]: Sign or Seal are not allowed if TLS is "
	              "used))",
	              "the DC requires a SASL layer (sign+seal) and refuses "
	              "one inside TLS");
	advice_starts("ldap://localhost:1: bind failed with every protection "
	              "(starttls: Unknown authentication method (SASL(-15): "
	              "mechanism too weak for this user); starttls+sasl-seal: "
	              "...; sasl-seal: Inappropriate authentication (...))",
	              "the server accepts no protected GSSAPI bind");
	advice_starts("ldap://localhost:1: bind failed: Inappropriate "
	              "authentication (no SASL sign+seal layer after the bind "
	              "(strength 0))",
	              "the server set up no sealing SASL layer");
}

static void test_tls_and_passwords(void **state)
{
	(void)state;
	advice_starts("ldap://localhost:1: StartTLS failed: TLS: certificate "
	              "of localhost: The certificate is NOT trusted. The "
	              "certificate issuer is unknown.  (CA file /x/ca.pem)",
	              "TLS CA not trusted");
	advice_starts("ldap://dc1:389: bind failed: Invalid credentials "
	              "(80090308: LdapErr: DSID-0C09041C, comment: "
	              "AcceptSecurityContext error, data 52e, v4563)",
	              "wrong bind_dn or password");
	advice_starts("ldap://dc1:389: bind failed: Strong(er) authentication "
	              "required (BindSimple: Transport encryption required.)",
	              "the DC wants a protected bind");
	advice_starts("ldap://dc1:389: connect failed: Can't contact LDAP "
	              "server",
	              "the server does not answer");
	assert_null(bindfix_advice("something nobody has seen"));
	assert_null(bindfix_advice(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kerberos),
	    cmocka_unit_test(test_protection),
	    cmocka_unit_test(test_tls_and_passwords),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
