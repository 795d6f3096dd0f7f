/*
 * policy.h - the relay decision for one RCPT TO, pure.
 *
 * No open relay, ever (DESIGN.md invariant 5). Given the parsed recipient
 * (struct addr, see addr.h), whether the session authenticated and whether
 * the client sits in a configured relay network, policy_check_rcpt() says
 * one of three things:
 *
 *   POLICY_ACCEPT_LOCAL  the domain is one of ours: ask authd (LOOKUP)
 *                        whether the address exists and where it goes;
 *   POLICY_ACCEPT_RELAY  not ours, and this client may relay;
 *   POLICY_REJECT        refuse, with *reason_r and *enhanced_r (RFC 3463)
 *                        for the reply; policy_reply_code() gives the
 *                        three-digit code.
 *
 * Refused whoever the client is (authenticated and relay-network clients
 * included), because each one is either a classic relay trick or a
 * recipient that no directory answer can vouch for:
 *   - '%', '!' or '@' in the local part (user%other@local, other!user@local,
 *     "user@other"@local): 553 5.1.3;
 *   - a source route (<@a:user@b>), which the parser drops: 553 5.1.3;
 *   - a domain literal (user@[192.0.2.1]): 550 5.7.1. We cannot tell
 *     which literals are "us" without asking the network, so none are.
 *   - the null path as a recipient: 553 5.1.3.
 * "<Postmaster>" without a domain (RFC 5321 4.1.1.3) is ACCEPT_LOCAL: the
 * caller resolves it against its primary domain. A non-local recipient
 * from a client that neither authenticated nor is in a relay network gets
 * 550 5.7.1 "Relaying denied".
 *
 * Local domains match exactly (no subdomains), ASCII case-insensitively;
 * UTF-8 domains byte for byte. Neither the addr parser nor the
 * configuration accepts a trailing dot, and policy_new() refuses one too.
 *
 * Relay networks are CIDR strings ("192.0.2.0/24", "2001:db8::/32", a bare
 * address means /32 or /128), host bits zero. IPv4 networks are kept as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d/96+len) and IPv4 clients are compared
 * in the same form, so a client matches the same networks whether it
 * arrived on an AF_INET socket or as ::ffff:a.b.c.d on a dual-stack one.
 * A consequence: "::/0" matches every client, IPv4 ones included.
 *
 * Ownership: policy_new() copies what it is given; policy_deinit() frees.
 * Strings returned through reason_r / enhanced_r are static. Errors:
 * policy_new() returns NULL with *error_r a static reason (it never
 * quotes the input; the caller names the offending value). The module
 * does no I/O and has no global state.
 */
#ifndef DIRMX_POLICY_H
#define DIRMX_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct addr;
struct policy;
struct sockaddr;

enum policy_rcpt {
	POLICY_ACCEPT_LOCAL,
	POLICY_ACCEPT_RELAY,
	POLICY_REJECT,
};

struct policy *policy_new(const char *const *local_domains, size_t n_domains,
                          const char *const *relay_networks, size_t n_networks,
                          const char **error_r);
void policy_deinit(struct policy **p);

/* The first configured local domain (the primary), or NULL. */
const char *policy_primary_domain(const struct policy *p);
/* The domain (canonical form, as addr_domain() gives it) is one of ours. */
bool policy_is_local_domain(const struct policy *p, const char *domain);
/* AF_INET and AF_INET6 (v4-mapped included); false for anything else. */
bool policy_client_in_relay_networks(const struct policy *p,
                                     const struct sockaddr *sa);

/* See the top of this file. *reason_r and *enhanced_r are set only for
   POLICY_REJECT. */
enum policy_rcpt policy_check_rcpt(const struct policy *p,
                                   const struct addr *rcpt, bool authenticated,
                                   bool relay_client, const char **reason_r,
                                   const char **enhanced_r);

/* The SMTP code for a rejection's enhanced status: 553 for "5.1.x"
   (address syntax), 550 for anything else. */
unsigned int policy_reply_code(const char *enhanced);

#endif
