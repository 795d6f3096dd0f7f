/*
 * test-dirmap-attrs - the attributes authd's searches ask for: what the
 * decisions read (dirmap.c, restrict.c, restrict_report.c) must be in the
 * lists, in order, under both presets; a mapped disabled attribute must
 * reach both the recipient and the account searches, or the check that
 * reads it sees nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <strings.h>

#include "dirmap.h"

/* Whether list holds name, ASCII case ignored. */
static bool listed(const char *const *list, const char *name)
{
	const char *const *p = list;

	while (*p != NULL && strcasecmp(*p, name) != 0)
		p++;
	return *p != NULL;
}

static void test_searched_attributes(void **state)
{
	struct dirmap_settings ls, as;
	struct dirmap *m, *ad;
	static const char *const ldap_rcpt[] = {
	    "mail", "member", "uniqueMember", "dirmxNextHop", "mailHost",
	    "mailRoutingAddress", "dirmxForwardTo", "objectClass",
	    "employeeType",
	    /* who may send (restrict.h): both spellings, both presets */
	    "msExchRequireAuthToSendTo", "dirmxRequireAuthToSendTo", "authOrig",
	    "dirmxAuthOrig", "unauthOrig", "dirmxUnauthOrig",
	    "dLMemSubmitPerms", "dirmxMemSubmitPerms", "dLMemRejectPerms",
	    "dirmxMemRejectPerms", "delivContLength", "dirmxMaxReceiveSize",
	    /* where a group's reports go (restrict_report.c) */
	    "reportToOriginator", "dirmxReportToOriginator", "reportToOwner",
	    "dirmxReportToOwner", "managedBy", "owner", "entryUUID", NULL};
	static const char *const ad_rcpt[] = {"mail",
	                                      "member;range=0-*",
	                                      "dirmxNextHop",
	                                      "targetAddress",
	                                      "dirmxForwardTo",
	                                      "objectClass",
	                                      "proxyAddresses",
	                                      "userAccountControl",
	                                      "dirmxAccountDisabled",
	                                      "msExchRequireAuthToSendTo",
	                                      "dirmxRequireAuthToSendTo",
	                                      "authOrig",
	                                      "dirmxAuthOrig",
	                                      "unauthOrig",
	                                      "dirmxUnauthOrig",
	                                      "dLMemSubmitPerms",
	                                      "dirmxMemSubmitPerms",
	                                      "dLMemRejectPerms",
	                                      "dirmxMemRejectPerms",
	                                      "delivContLength",
	                                      "dirmxMaxReceiveSize",
	                                      "reportToOriginator",
	                                      "dirmxReportToOriginator",
	                                      "reportToOwner",
	                                      "dirmxReportToOwner",
	                                      "managedBy",
	                                      "owner",
	                                      "objectGUID",
	                                      NULL};
	const char *const *l;
	size_t n;

	(void)state;
	dirmap_preset(&ls, false);
	ls.disabled_attr = "employeeType";
	m = dirmap_new(&ls);
	dirmap_preset(&as, true);
	ad = dirmap_new(&as);
	l = dirmap_recipient_attrs(m);
	for (n = 0; l[n] != NULL; n++)
		assert_string_equal(l[n], ldap_rcpt[n]);
	assert_null(ldap_rcpt[n]);
	l = dirmap_recipient_attrs(ad);
	for (n = 0; l[n] != NULL; n++)
		assert_string_equal(l[n], ad_rcpt[n]);
	assert_null(ad_rcpt[n]);

	l = dirmap_account_attrs(m);
	assert_true(listed(l, "employeeType"));
	assert_false(listed(l, "dirmxAccountDisabled"));
	for (const char *const *w =
	         (const char *const[]){
	             "uid", "sAMAccountName", "userPrincipalName", "mail",
	             "proxyAddresses", "mailLocalAddress", "userAccountControl",
	             "lockoutTime", "badPwdCount", "msDS-ResultantPSO",
	             "pwdAccountLockedTime", "submissionContLength",
	             "dirmxMaxSendSize", NULL};
	     *w != NULL; w++)
		assert_true(listed(l, *w));
	/* No name twice. */
	for (size_t i = 0; l[i] != NULL; i++)
		for (size_t k = i + 1; l[k] != NULL; k++)
			assert_true(strcasecmp(l[i], l[k]) != 0);
	assert_true(listed(dirmap_account_attrs(ad), "dirmxAccountDisabled"));
	assert_false(dirmap_ad(m));
	assert_true(dirmap_ad(ad));
	dirmap_deinit(&m);
	dirmap_deinit(&ad);
	dirmap_deinit(&ad); /* harmless on NULL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_searched_attributes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
