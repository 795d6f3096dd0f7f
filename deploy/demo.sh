#!/usr/bin/env bash
# demo.sh - set everything up and run dirmx's main job as a local demo.
#
#   bash deploy/demo.sh          install, build, run the demo, stop it all
#   bash deploy/demo.sh --keep   leave the demo's servers running
#   bash deploy/demo.sh stop     stop a demo left running with --keep
#
# The demo starts, on loopback only: a directory (slapd) holding a sample
# organisation, a DNS server (dnsmasq) publishing the directory's SRV
# records, and authd, which finds the directory through DNS by itself. It
# then asks authd what dirmx would do with a few addresses and logins,
# the way an admin would with dirmxctl.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

case " $* " in
*" -h "* | *" --help "*)
	exec /usr/bin/python3 deploy/demo.py --help
	;;
esac

if [ "${1:-}" = "stop" ]; then
	exec /usr/bin/python3 deploy/demo.py stop
fi

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec /usr/bin/python3 deploy/demo.py "$@"
