#!/usr/bin/env bash
# build-deb.sh - build the dirmx Debian package and check it with lintian.
#
# Usage: deploy/build-deb.sh OUTDIR
#
# The repository has no top-level debian/: this stages a copy of the source
# tree (the files git knows, plus new ones not ignored) in a temporary
# directory with deploy/debian/ as its debian/, runs
# `dpkg-buildpackage -us -uc -b` there and lintian on the result, and puts
# the .deb, the .buildinfo, the .changes and lintian.txt in OUTDIR.
# DEB_BUILD_OPTIONS passes through (nocheck, parallel=N). Exits non-zero
# when the build fails or lintian reports an error; warnings and notes
# are printed (README.md, "Installing the Debian package", explains those
# left).
# Needs: debhelper, dpkg-dev, lintian, the Build-Depends of
# deploy/debian/control (deploy/install-deps.sh installs them all).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
for tool in dpkg-buildpackage dh lintian; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-deb.sh: $tool not found: run deploy/install-deps.sh" >&2
		exit 1
	fi
done

version=$(dpkg-parsechangelog -l "$top/deploy/debian/changelog" -S Version)
work=$(mktemp -d /tmp/dirmx-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/dirmx-$version"
mkdir -p "$src"

echo "== staging the source tree in $src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ]; then printf '%s\0' "$f"; fi
		done | tar --null -T - -cf -) | (cd "$src" && tar -xf -)
else
	(cd "$top" && tar --exclude='./build*' --exclude=./.git -cf - .) |
		(cd "$src" && tar -xf -)
fi
rm -rf "$src/debian"
cp -a "$top/deploy/debian" "$src/debian"

echo "== dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"
(cd "$src" && dpkg-buildpackage -us -uc -b)

changes=$(ls "$work"/dirmx_"$version"_*.changes)
echo "== lintian"
status=0
lintian --display-level '>=pedantic' --fail-on error "$changes" \
	>"$work/lintian.txt" 2>&1 || status=$?
cat "$work/lintian.txt"
# Earlier builds' packages would be taken for this one's.
rm -f "$out"/dirmx_*.deb "$out"/dirmx-dbgsym_*.deb "$out"/dirmx_*.changes \
	"$out"/dirmx_*.buildinfo
cp "$work"/*.deb "$work"/*.buildinfo "$changes" "$work/lintian.txt" "$out/"
if [ "$status" -ne 0 ]; then
	echo "build-deb.sh: lintian reported errors (exit $status)" >&2
	exit 1
fi
echo "build-deb.sh: $(cd "$out" && ls ./*.deb) in $out"
