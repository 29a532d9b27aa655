#!/usr/bin/env bash
# Configures and builds ferry with ninja (and ccache when present) into
# build/. Environment: BUILD_TYPE (default RelWithDebInfo), FERRY_WERROR=ON
# (warnings are errors), FERRY_SANITIZE=ON (ASan + UBSan), BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DFERRY_SANITIZE="${FERRY_SANITIZE:-OFF}" \
  -DFERRY_WERROR="${FERRY_WERROR:-OFF}" >/dev/null
cmake --build "$build" -j "$(nproc)"
