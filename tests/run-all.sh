#!/usr/bin/env bash
# run-all.sh - install what is needed, build, and run every dirmx test.
#
# This is the README's test command and what CI runs (.ci/run). It:
#   1. installs the build and test dependencies (deploy/install-deps.sh);
#   2. checks the formatting of every C file (clang-format --dry-run
#      -Werror with the committed .clang-format), builds with -Werror and
#      runs the whole suite (unit, fuzz-corpus replay, integration tests
#      against real servers) under CTest;
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and
#      runs the unit and fuzz-corpus tests there, and the adversarial SMTP
#      suite against the sanitized routerd;
#   4. builds the spool's unit tests with ThreadSanitizer and runs them
#      (the group-commit worker shares its state with the loop thread).
# Any failure makes the script exit non-zero.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash deploy/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

echo "== clang-format (the committed .clang-format) over every C file"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

echo "== build (warnings are errors)"
cmake -S . -B build -DDIRMX_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DDIRMX_WERROR=ON -DDIRMX_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=Debug
cmake --build build-asan -j"$jobs"

echo "== build the spool's unit test with ThreadSanitizer"
# TSan excludes ASan, so a third tree; only the targets it runs.
cmake -S . -B build-tsan -DDIRMX_WERROR=ON -DDIRMX_TSAN=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-tsan -j"$jobs" --target test-spool test-spool-journal

status=0
echo "== unit and fuzz-corpus tests under ASan/UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan -L 'unit|fuzz' --output-on-failure \
	-j"$jobs" || status=1

echo "== the adversarial SMTP suite against routerd built with ASan/UBSan"
# Hostile clients (refused chunks, pipelined garbage, slow and flooding
# clients, reloads under load, the session fuzzer) against the sanitized
# routerd; a sanitizer report in its log fails the suite.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan -R 'integration\.smtp_adversarial' \
	--output-on-failure || status=1

echo "== the spool under ThreadSanitizer"
# The group-commit worker shares struct spool with the loop thread;
# unit.spool makes journal maintenance fail in the worker while the loop
# fails calls of its own, unit.spool-journal rotates segments. A report
# makes the test exit non-zero.
ctest --test-dir build-tsan -R 'unit\.spool(-journal)?$' \
	--output-on-failure || status=1

echo "== every test (unit, fuzz corpus, integration against real servers)"
ctest --test-dir build --output-on-failure -j"$jobs" || status=1

exit $status
