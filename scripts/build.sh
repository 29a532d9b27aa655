#!/usr/bin/env bash
# Configures (once) and builds ferry with ninja and ccache into build/.
# BUILD_TYPE (default RelWithDebInfo) and FERRY_SANITIZE=ON are honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
    -DFERRY_SANITIZE="${FERRY_SANITIZE:-OFF}" \
    -DFERRY_WERROR="${FERRY_WERROR:-OFF}" >/dev/null
fi
cmake --build "$build" -j "$(nproc)"
