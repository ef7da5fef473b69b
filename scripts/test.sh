#!/usr/bin/env bash
# Builds everything and runs the whole test suite (unit, integration, e2e) with CTest.
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
NINJA_ARGS="${NINJA_ARGS:-} -j2" scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j2 "$@"
