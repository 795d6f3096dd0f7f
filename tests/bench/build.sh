#!/bin/sh
# Build the benchmark's load generator (libc only, no CMake).
#   tests/bench/build.sh [OUTDIR]     (default: this directory's ../../build-bench/bench)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build-bench/bench}
mkdir -p "$out"
${CC:-cc} -O2 -Wall -Wextra -Werror -std=gnu11 -o "$out/loadgen" "$here/loadgen.c"
echo "$out/loadgen"
