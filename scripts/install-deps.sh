#!/usr/bin/env bash
# Installs every package ferry needs to build, test and benchmark, from
# Debian 12's archive. Safe to run again: it installs only what is missing.
set -euo pipefail
pkgs=(cmake ninja-build ccache g++ pkg-config git python3 curl
      libcaf-dev capnproto libcapnp-dev librocksdb-dev libcurl4-openssl-dev
      libboost-dev libboost-system-dev libboost-filesystem-dev libseccomp-dev
      catch2 libssl-dev nlohmann-json3-dev libre2-dev
      clang-format rsync hyperfine bubblewrap procps strace nginx-light wrk openssl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Builds run Node.js (builders/); a machine that has none gets Debian's.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
