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

from .core import Lab, LabError, free_port, build_dir, source_dir  # noqa: F401
