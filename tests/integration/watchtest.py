"""What the directory-change tests (test_watch.py on OpenLDAP,
test_watch_samba.py on Samba AD) share: make a change, then poll a cached
lookup until the new answer shows, and watch that the old one never comes
back.

A test class mixes WatchAsserts in and defines lookup(addr, who) and
log(who) (who names the authd asked, for classes that run several) and
write(ldif, dc) (apply an LDIF of changetype records).
"""

import time

from authdtest import describe

BOUND_S = 5.0   # a generous bound: the target (< 2 s) is the benchmark's
STABLE_S = 1.0  # how long the new answer must then hold


def modify_ldif(dn, *changes):
    """changes: ("replace"|"add"|"delete", attr, [values])"""
    lines = ["dn: %s" % dn, "changetype: modify"]
    for op, attr, values in changes:
        lines.append("%s: %s" % (op, attr))
        lines += ["%s: %s" % (attr, v) for v in values]
        lines.append("-")
    return "\n".join(lines) + "\n"


class WatchAsserts:
    def modify(self, dn, *changes, dc=None):
        self.write(modify_ldif(dn, *changes), dc=dc)

    def cached(self, addr, who="authd", tries=3):
        """Look addr up twice: the second answer comes from the cache
        (dirmxctl says so for OK answers; for NOTFOUND authd's log does).
        A late echo of an earlier change (the sweep by uSNChanged seeing
        what a notification already brought) may drop the entry between
        the two: then again, a few times."""
        for attempt in range(tries):
            self.lookup(addr, who)
            mark = len(self.log(who))
            r = self.lookup(addr, who)
            if r.failure is None:
                ok = r.cached
            else:
                ok = "cached=1" in self.log(who)[mark:]
            if ok:
                return r
            time.sleep(0.2)
        self.fail("not cached after %d tries:\n%s" % (tries, describe(r)))

    def until(self, addr, pred, what, bound=BOUND_S, who="authd", stable=None):
        """Poll the (cached) lookup until pred(answer); then stable(answer)
        (default pred) must hold for STABLE_S. Returns the seconds it took
        (also recorded in the class's delays dict, when it has one)."""
        stable = stable or pred
        t0 = time.monotonic()
        while True:
            r = self.lookup(addr, who)
            if pred(r):
                break
            if time.monotonic() - t0 > bound:
                self.fail("%s: still the old answer after %.0f s:\n%s\n%s"
                          % (what, bound, describe(r), self.log(who)[-3000:]))
            time.sleep(0.05)
        took = time.monotonic() - t0
        end = time.monotonic() + STABLE_S
        while time.monotonic() < end:
            r = self.lookup(addr, who)
            self.assertTrue(stable(r), "%s: the old answer came back:\n%s"
                            % (what, describe(r)))
            time.sleep(0.1)
        if getattr(self.__class__, "delays", None) is not None:
            self.__class__.delays[what] = took
        return took

    @staticmethod
    def ok(r):
        return r.rc == 0 and r.failure is None

    @staticmethod
    def notfound(r):
        return r.failure is not None and r.failure.startswith("NOTFOUND")
