/*
 * test-krbmap - a Kerberos principal's account search (krbmap.h): the own
 * realm maps to the login name, another realm only to an exact AD
 * userPrincipalName, instances and empty names to nothing, and no value
 * changes the filter's structure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "krbmap.h"

#define LDAP_TMPL "(|(uid=%s)(mail=%s))"

struct map_case {
	const char *principal;
	const char *realm;
	bool ad;
	const char *filter; /* NULL: no account */
};

static const struct map_case cases[] = {
    /* Cyrus left the own realm out */
    {"alice", "EXAMPLE.COM", true,
     "(&(objectClass=user)(|(userPrincipalName=alice@EXAMPLE.COM)"
     "(sAMAccountName=alice)))"},
    {"alice", "DIRMX.TEST", false, "(|(uid=alice)(mail=alice))"},
    /* the own realm, written out, in any case */
    {"alice@EXAMPLE.COM", "EXAMPLE.COM", true,
     "(&(objectClass=user)(|(userPrincipalName=alice@EXAMPLE.COM)"
     "(sAMAccountName=alice)))"},
    {"alice@example.com", "EXAMPLE.COM", false, "(|(uid=alice)(mail=alice))"},
    /* another realm: AD by its exact UPN only; elsewhere nothing */
    {"alice@OTHER.TEST", "EXAMPLE.COM", true,
     "(&(objectClass=user)(|(userPrincipalName=alice@OTHER.TEST)))"},
    {"alice@OTHER.TEST", "DIRMX.TEST", false, NULL},
    /* instances and empty names are no mail users */
    {"host/mx.example.com", "EXAMPLE.COM", true, NULL},
    {"alice/admin@EXAMPLE.COM", "EXAMPLE.COM", false, NULL},
    {"@EXAMPLE.COM", "EXAMPLE.COM", true, NULL},
    {"", "EXAMPLE.COM", true, NULL},
    /* no realm known at all */
    {"alice", NULL, true, NULL},
    /* filter metacharacters are escaped, never structure */
    {"a*)(sAMAccountName=*", "EXAMPLE.COM", true,
     "(&(objectClass=user)(|(userPrincipalName=a\\2a\\29\\28sAMAccountName="
     "\\2a@EXAMPLE.COM)(sAMAccountName=a\\2a\\29\\28sAMAccountName=\\2a)))"},
    {"x)(uid=*", "DIRMX.TEST", false,
     "(|(uid=x\\29\\28uid=\\2a)(mail=x\\29\\28uid=\\2a))"},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct map_case *c = &cases[i];
		char *filter = (char *)"unset";
		const char *why = NULL;
		int r = krbmap_filter(c->principal, c->realm, c->ad, LDAP_TMPL,
		                      &filter, &why);

		if (c->filter == NULL) {
			if (r != -1 || filter != NULL || why == NULL)
				fail_msg("case %zu (%s) mapped", i,
				         c->principal);
			continue;
		}
		if (r != 0)
			fail_msg("case %zu (%s): %s", i, c->principal, why);
		if (strcmp(filter, c->filter) != 0)
			fail_msg("case %zu: got %s, want %s", i, filter,
			         c->filter);
		free(filter);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
