#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted bytes with libFuzzer
# (clang-14, ASan + UBSan). usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
# Corpora are kept in build-fuzz/corpus/<target>; crashes land in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
bash scripts/install-deps.sh
for p in clang-14 libfuzzer-14-dev libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DFERRY_FUZZ=ON >/dev/null
targets=(tree_node blob_pack manifest cluster_config router_text proxy_request client_hello npmrc cookie
         secret_mask host_names lockfile masker routes)
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "fuzz: $t for ${secs}s"
  (cd build-fuzz && "./tests/fuzz_$t" -max_total_time="$secs" -max_len=65536 "corpus/$t" 2>&1 | tail -n 3)
done
