"""The outbound client's timeouts come from the configuration.

What is proved, against routerd with a route to a next hop that accepts
TCP and never greets (dirmxtest.Hole): with smtp_helo_timeout = 1s the
attempt gives up within seconds, as a temporary failure (4.4.2, the
message stays queued), not after the 5-minute default.
"""

import time
import unittest

from deliverytest import DeliveryLab
from dirmxtest import Hole
from smtptest import wait_for


class SmtpcSettingsTest(unittest.TestCase):
    def test_helo_timeout_is_the_configured_one(self):
        hole = Hole()
        self.addCleanup(hole.close)
        dl = DeliveryLab("smtpc-settings", routerd="routes = hole.test [127.0.0.1]:%d\n"
                         "smtp_helo_timeout = 1s\nretry_min = 1h\n" % hole.port)
        self.addCleanup(dl.close)
        t0 = time.monotonic()
        qid = dl.send("someone@example.org", ["x@hole.test"], tag="hole")
        self.assertTrue(wait_for(lambda: dl.events(qid, "delivery"), 10), dl.log()[-2000:])
        took = time.monotonic() - t0
        line = dl.events(qid, "delivery")[0]
        self.assertIn("verdict=retry", line)
        self.assertIn("4.4.2", line)
        self.assertLess(took, 6, line)
        self.assertGreaterEqual(hole.accepted, 1)
        self.assertIn(qid, dl.queue_ids())


if __name__ == "__main__":
    unittest.main()
