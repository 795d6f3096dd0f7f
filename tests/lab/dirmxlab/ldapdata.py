"""Deterministic LDIF test data for the slapd lab (the `ldap` preset).

    ldif, info = generate(users=2000)
    slapd = Slapd(lab, data=ldif)
    info["users"][0]["mail"]            # "user00000@dirmx.test"

Same arguments, same LDIF, byte for byte. Everything a test may want to
assert against is in the returned dict (see generate()'s docstring); the
layout under the suffix is

    ou=people    users (inetOrgPerson + inetLocalMailRecipient [+ dirmxRecipient])
    ou=groups    groups (groupOfNames / groupOfUniqueNames + dirmxRecipient for mail)
    ou=contacts  external contacts (inetOrgPerson, mail at partner.example)
    ou=domains   dirmxDomain objects: accepted domains and routes

The suffix entry itself and ou=services (the bind account) are made by
Slapd, not here.
"""

import base64
import hashlib

PASSWORD = "Lab-Passw0rd!"


def ssha(password, salt_seed=""):
    """{SSHA} userPassword value; the salt comes from salt_seed so that the
    output is deterministic."""
    salt = hashlib.sha1(("salt:" + salt_seed).encode()).digest()[:8]
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


class _Ldif:
    def __init__(self):
        self.parts = []

    def entry(self, dn, attrs):
        lines = ["dn: " + dn]
        for name, values in attrs:
            if isinstance(values, str):
                values = [values]
            for v in values:
                lines.append("%s: %s" % (name, v))
        self.parts.append("\n".join(lines) + "\n")

    def text(self):
        return "\n".join(self.parts)


def generate(users=100, suffix="dc=dirmx,dc=test", domain="dirmx.test",
             password=PASSWORD, mailhosts=None, large_group=3100,
             external_domain="partner.example"):
    """Return (ldif_text, info) for `users` ordinary users plus the special
    cases. users must be at least 10.

    info keys:
      suffix, domain, alias_domain, password, people_dn, groups_dn,
      contacts_dn, domains_dn, mailhosts
      users:    list of {uid, dn, cn, mail, aliases, mailhost}; user i is
                uid=user%05d, mail user%05d@<domain>, aliases
                user.%05d@<domain> and user%05d@alias.<domain> (in
                mailLocalAddress; mail is not repeated there), mailhost
                mailhosts[i % len(mailhosts)]
      domains:  list of {name, dn, type, nexthop}: <domain> and
                alias.<domain> local, example.net route to
                [mx.example.net]:25, relay.example.org relay via
                smtp:relay-gw.<domain> (a route whose name is <domain> is
                left out)
      groups:   name -> {dn, mail (None for a group without mail), kind
                ("groupOfNames"/"groupOfUniqueNames"), members (DNs),
                expands_to (sorted leaf mail addresses; every group is
                expanded once, so a cycle ends)}
      nested:   the mail of the group with two levels of nesting
      cycle:    [cycle-a mail, cycle-b mail] (each is a member of the other)
      large_group: {name, dn, mail, size, users, contacts}
      forward_chain: {addresses [a, b, c], final, mailhost}: a and b have
                mailRoutingAddress pointing at the next one, c is a mailbox
      forward_external: {address, target}: mailRoutingAddress off-site
      forward_loop: [x, y]: x routes to y and y routes to x
      forward_to: {address, targets}: dirmxForwardTo (multi-valued)
      nexthop_user: {address, nexthop}: dirmxNextHop on a user
      disabled: {uid, dn, mail}: dirmxAccountDisabled: TRUE
      suspended: {uid, dn, mail, attribute}: employeeType: TRUE (an
                ordinary user unless disabled_attribute maps it)
      duplicate: {address, dns}: one entry has it as mail, another as
                mailLocalAddress
      contacts: list of {dn, mail}
    """
    if users < 10:
        raise ValueError("generate() needs at least 10 users")
    if mailhosts is None:
        mailhosts = ["mbx1.%s" % domain, "mbx2.%s" % domain, "mbx3.%s" % domain]
    alias_domain = "alias." + domain
    people = "ou=people," + suffix
    groups_dn = "ou=groups," + suffix
    contacts_dn = "ou=contacts," + suffix
    domains_dn = "ou=domains," + suffix
    out = _Ldif()
    info = {
        "suffix": suffix, "domain": domain, "alias_domain": alias_domain,
        "password": password, "people_dn": people, "groups_dn": groups_dn,
        "contacts_dn": contacts_dn, "domains_dn": domains_dn,
        "mailhosts": list(mailhosts), "users": [], "domains": [], "groups": {},
        "contacts": [],
    }
    for ou in ("people", "groups", "contacts", "domains"):
        out.entry("ou=%s,%s" % (ou, suffix),
                  [("objectClass", "organizationalUnit"), ("ou", ou)])

    # Domains and routes.
    doms = [
        (domain, "local", None, "Accepted domain, mailboxes on the mailHost servers"),
        (alias_domain, "local", None, "Alias domain of %s" % domain),
        ("example.net", "route", "[mx.example.net]:25", "Partner reached by a fixed route"),
        ("relay.example.org", "relay", "smtp:relay-gw.%s" % domain, "Relayed through the gateway"),
    ]
    names = set()
    for name, dtype, hop, desc in doms:
        if name in names:  # domain="example.net": the route is not made
            continue
        names.add(name)
        dn = "cn=%s,%s" % (name, domains_dn)
        attrs = [("objectClass", "dirmxDomain"), ("cn", name), ("dirmxDomainName", name),
                 ("dirmxDomainType", dtype), ("description", desc)]
        if hop:
            attrs.append(("dirmxNextHop", hop))
        out.entry(dn, attrs)
        info["domains"].append({"name": name, "dn": dn, "type": dtype, "nexthop": hop})

    def person(uid, mail, mailhost=None, aliases=(), extra_classes=(), extra=()):
        dn = "uid=%s,%s" % (uid, people)
        attrs = [("objectClass", ["inetOrgPerson", "inetLocalMailRecipient"]
                  + list(extra_classes)),
                 ("uid", uid), ("cn", uid.replace("-", " ").title()), ("sn", uid),
                 ("mail", mail)]
        if aliases:
            attrs.append(("mailLocalAddress", list(aliases)))
        if mailhost:
            attrs.append(("mailHost", mailhost))
        attrs += list(extra)
        attrs.append(("userPassword", ssha(password, uid)))
        out.entry(dn, attrs)
        return dn

    # Ordinary users.
    for i in range(users):
        uid = "user%05d" % i
        mail = "%s@%s" % (uid, domain)
        aliases = ["user.%05d@%s" % (i, domain), "%s@%s" % (uid, alias_domain)]
        mh = mailhosts[i % len(mailhosts)]
        dn = person(uid, mail, mh, aliases)
        info["users"].append({"uid": uid, "dn": dn, "cn": uid.title(), "mail": mail,
                              "aliases": aliases, "mailhost": mh})
    u = info["users"]
    mh0 = mailhosts[0]

    # Forwarding: a chain of three, an off-site forward, a loop.
    a, b, c = ("fwd-%s@%s" % (x, domain) for x in "abc")
    person("fwd-a", a, extra=[("mailRoutingAddress", b)])
    person("fwd-b", b, extra=[("mailRoutingAddress", c)])
    person("fwd-c", c, mh0)
    info["forward_chain"] = {"addresses": [a, b, c], "final": c, "mailhost": mh0}
    ext_target = "someone@%s" % external_domain
    person("fwd-ext", "fwd-ext@%s" % domain, extra=[("mailRoutingAddress", ext_target)])
    info["forward_external"] = {"address": "fwd-ext@%s" % domain, "target": ext_target}
    x, y = "loop-x@%s" % domain, "loop-y@%s" % domain
    person("loop-x", x, extra=[("mailRoutingAddress", y)])
    person("loop-y", y, extra=[("mailRoutingAddress", x)])
    info["forward_loop"] = [x, y]

    # dirmxRecipient on users: forward-to list, own next hop, disabled.
    fwd_targets = ["copy1@%s" % external_domain, "copy2@%s" % external_domain]
    person("fwdto", "fwdto@%s" % domain, extra_classes=["dirmxRecipient"],
           extra=[("dirmxForwardTo", fwd_targets)])
    info["forward_to"] = {"address": "fwdto@%s" % domain, "targets": fwd_targets}
    hop = "[legacy-mx.%s]:2525" % domain
    person("nexthop-user", "nexthop-user@%s" % domain, extra_classes=["dirmxRecipient"],
           extra=[("dirmxNextHop", hop)])
    info["nexthop_user"] = {"address": "nexthop-user@%s" % domain, "nexthop": hop}
    ddn = person("disabled-user", "disabled-user@%s" % domain, mh0,
                 extra_classes=["dirmxRecipient"], extra=[("dirmxAccountDisabled", "TRUE")])
    info["disabled"] = {"uid": "disabled-user", "dn": ddn,
                        "mail": "disabled-user@%s" % domain}
    # Disabled by another attribute than the preset's, for a test that maps
    # disabled_attribute to it; under the preset it is an ordinary user.
    sdn = person("suspended-user", "suspended-user@%s" % domain, mh0,
                 extra=[("employeeType", "TRUE")])
    info["suspended"] = {"uid": "suspended-user", "dn": sdn, "attribute": "employeeType",
                         "mail": "suspended-user@%s" % domain}

    # Two entries claiming the same address.
    shared = "shared@%s" % domain
    d1 = person("dup-one", shared, mh0)
    d2 = person("dup-two", "dup-two@%s" % domain, mh0, aliases=[shared])
    info["duplicate"] = {"address": shared, "dns": [d1, d2]}

    # Contacts (external recipients), used to make the large group large.
    n_contacts = max(0, large_group - users)
    for i in range(n_contacts):
        cn = "contact-%05d" % i
        dn = "cn=%s,%s" % (cn, contacts_dn)
        mail = "%s@%s" % (cn, external_domain)
        out.entry(dn, [("objectClass", "inetOrgPerson"), ("cn", cn), ("sn", cn),
                       ("mail", mail)])
        info["contacts"].append({"dn": dn, "mail": mail})

    # Groups. mail on a group comes from the dirmxRecipient auxiliary class.
    mail_of = {x["dn"]: x["mail"] for x in u}
    mail_of.update({x["dn"]: x["mail"] for x in info["contacts"]})

    def group(name, members, mail=True, unique=False):
        dn = "cn=%s,%s" % (name, groups_dn)
        kind = "groupOfUniqueNames" if unique else "groupOfNames"
        classes = [kind]
        attrs = [("cn", name)]
        gmail = None
        if mail:
            gmail = "%s@%s" % (name, domain)
            classes.append("dirmxRecipient")
            attrs.append(("mail", gmail))
        attrs.append(("uniqueMember" if unique else "member", members))
        out.entry(dn, [("objectClass", classes)] + attrs)
        info["groups"][name] = {"dn": dn, "mail": gmail, "kind": kind,
                                "members": list(members)}
        return dn

    gdn = lambda n: "cn=%s,%s" % (n, groups_dn)  # noqa: E731
    group("staff", [x["dn"] for x in u[0:5]])
    group("team-c", [u[4]["dn"], u[5]["dn"]], unique=True)
    group("team-b", [u[3]["dn"], gdn("team-c")], mail=False)
    group("team-a", [u[1]["dn"], u[2]["dn"]])
    group("all-teams", [gdn("team-a"), gdn("team-b")])
    info["nested"] = "all-teams@%s" % domain
    group("cycle-a", [u[6]["dn"], gdn("cycle-b")])
    group("cycle-b", [u[7]["dn"], gdn("cycle-a")])
    info["cycle"] = ["cycle-a@%s" % domain, "cycle-b@%s" % domain]
    big_users = [x["dn"] for x in u[:large_group]]
    big_contacts = [x["dn"] for x in info["contacts"]]
    group("big", big_users + big_contacts)
    info["large_group"] = {"name": "big", "dn": gdn("big"), "mail": "big@%s" % domain,
                           "size": len(big_users) + len(big_contacts),
                           "users": len(big_users), "contacts": len(big_contacts)}

    # Expected expansion of every group (leaf mail addresses, cycles included:
    # each group is visited once).
    by_dn = {g["dn"]: g for g in info["groups"].values()}
    for g in info["groups"].values():
        leaves, seen, todo = set(), set(), [g["dn"]]
        while todo:
            d = todo.pop()
            if d in seen:
                continue
            seen.add(d)
            if d in by_dn:
                todo.extend(by_dn[d]["members"])
            else:
                leaves.add(mail_of[d])
        g["expands_to"] = sorted(leaves)
    return out.text(), info
