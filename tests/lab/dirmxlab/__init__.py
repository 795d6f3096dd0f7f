"""dirmxlab - start real servers on loopback for dirmx's tests.

A Lab owns a temporary directory and every process started through it.
Each server gets a free port on 127.0.0.1, its files under the lab's
directory, and is stopped by PID when the lab closes, also when the test
fails or is interrupted. A server that cannot start raises LabError: the
test fails loudly, it is never skipped.

    with Lab("dns") as lab:
        dns = lab.dnsmasq({...})
        ...
"""

from .core import Lab, LabError, free_port, build_dir, source_dir, freeze_pids  # noqa: F401
from .ca import CA, lab_ca  # noqa: F401
from .slapd import Slapd  # noqa: F401
from . import ldapdata  # noqa: F401
from .dnsmasq import Dnsmasq, dns_query, dns_query_packet  # noqa: F401
from .netns import NetNS  # noqa: F401,E402
from .samba import SambaDC  # noqa: F401,E402
from .krb5 import KDC  # noqa: F401,E402
