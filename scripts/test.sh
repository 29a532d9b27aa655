#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing,
# builds with warnings as errors, runs every test with ctest. Exits non-zero
# if anything fails. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
sources=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || true)
if [ -n "$sources" ] && ! clang-format --dry-run --Werror $sources; then
  echo "test.sh: the files above are not formatted (run clang-format -i on them)" >&2
  exit 1
fi
FERRY_WERROR=ON bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 300
