/*
 * dcping.h - learn the client's AD site with the "LDAP ping".
 *
 * When the locator has DCs and the client's site is not known yet, the
 * first few DCs in order are pinged at once (MS-ADTS 6.3.3): a CLDAP
 * datagram to UDP port 389 of each, asking the root DSE for Netlogon with
 * (&(DnsDomain=<domain>)(NtVer=...)). The first good answer gives the
 * client's site and the answering DC's site, which are handed to the
 * locator (dcloc_set_client_site): it then looks up the site's own SRV
 * records and puts the site's DCs first. A DC that does not answer over
 * UDP within the timeout is asked the same question over TCP with an
 * anonymous search. Failing all of that, discovery goes on without a
 * site: the ping is an optimisation, never a reason to fail.
 */
#ifndef DIRMX_DCPING_H
#define DIRMX_DCPING_H

struct event_base;
struct dns;
struct dcloc;

#define DCPING_MAX_DCS 3

struct dcping;

struct dcping *dcping_new(struct event_base *base, struct dns *dns,
                          struct dcloc *loc, const char *domain,
                          unsigned timeout_ms);
void dcping_deinit(struct dcping **p);
/* The locator's list changed: ping if the site is still unknown. */
void dcping_dcs_changed(struct dcping *p);

#endif
