#!/usr/bin/env bash
# Builds the libFuzzer targets with Debian's clang 16 (ASan + UBSan) into build-fuzz/ and
# runs each for FUZZ_SECONDS (default 60), starting from the seeds in tests/fuzz/corpus.
# New interesting inputs go to a scratch corpus, not into the repository; a crashing
# input is written to build-fuzz/ and the script fails. To keep a new seed, copy it into
# tests/fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
FUZZ_PACKAGES=(clang-16 libclang-rt-16-dev)
missing=()
for p in "${FUZZ_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CXX=clang++-16 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOLARSTACK_FUZZ=ON >/dev/null
fi
ninja -C "$BUILD_DIR" -j2 api_fuzz
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in api_fuzz; do
  echo "==> fuzzing $target for ${FUZZ_SECONDS:-60} s"
  mkdir -p "$scratch/$target"
  "$BUILD_DIR/bin/$target" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=4096 -timeout=10 \
    -artifact_prefix="$BUILD_DIR/$target-" -print_final_stats=1 "$scratch/$target" "tests/fuzz/corpus"
done
