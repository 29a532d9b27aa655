#!/bin/sh
# pnpm and yarn as a project's commands call them (an installCommand, a
# buildCommand, a script that runs "pnpm build"): the host has neither.
# In the install step (which has the egress path) the real one runs,
# fetched from the registry by npm exec; in a build step (no network)
# scripts and binaries run through npm, which is what they would do.
# usage: pm-shim.sh pnpm|yarn ARGS...
set -eu
pm=$1
shift
real() {
  if [ -z "${HTTPS_PROXY:-}" ]; then
    echo "ferry: '$pm ${1:-install}' installs dependencies: that is the install step's work (installCommand), not a build's" >&2
    exit 1
  fi
  case "$pm" in
  pnpm) pkg=${FERRY_PM_PACKAGE:-pnpm@9} ;;
  *) pkg=${FERRY_PM_PACKAGE:-yarn@1.22.22} ;;
  esac
  exec npm exec --yes --package="$pkg" -- "$pm" "$@"
}
# a script of package.json, or else a binary of node_modules/.bin
script_or_bin() {
  if node -e 'const s = (require("./package.json").scripts || {}); process.exit(s[process.argv[1]] ? 0 : 1)' "$1" 2>/dev/null; then
    exec npm run "$@"
  fi
  exec npx --no-install -- "$@"
}
case "${1:-}" in
"" | install | i | add | ci | update | up | upgrade | remove | rm | dlx | import | fetch) real "$@" ;;
run | run-script)
  shift
  exec npm run "$@"
  ;;
exec)
  shift
  exec npx --no-install -- "$@"
  ;;
-v | --version) real "$@" ;;
-*)
  echo "ferry: $pm $1 is not understood here" >&2
  exit 1
  ;;
*) script_or_bin "$@" ;;
esac
