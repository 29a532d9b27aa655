#!/bin/sh
# The dependency-install step: the only step with a way out (ferryd's
# egress proxy to the registry, in HTTPS_PROXY and npm_config_https_proxy).
# Runs in /work/src; the build runner restores and saves node_modules
# around it (the dependency cache), so it runs only on a miss.
#
# The build runner chose the package manager (sandbox/package_manager.hpp):
#   FERRY_PM          npm, pnpm, yarn (classic), berry (yarn 2 and later) or
#                     custom: FERRY_INSTALL_COMMAND, run by sh
#   FERRY_PM_PACKAGE  the npm package that runs pnpm or yarn ("pnpm@9"),
#                     fetched from the registry by npm exec
#   FERRY_PM_LOCKFILE the lockfile it installs from; empty: none
#   FERRY_PM_EXTRAS   packages ferry adds (not in package.json), installed
#                     in node_modules/.ferry-extra and linked from node_modules
#   FERRY_PM_FROZEN   1: exactly the lockfile (a berry lockfile of an
#                     unnamed yarn version may have its format updated)
# Lifecycle scripts never run; dependencies land in node_modules.
set -eu
cd /work/src
export HOME=/tmp/home
mkdir -p "$HOME"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
registry=$(npm config get registry)
# the operator's CA bundle (an npmrc's cafile): npm, pnpm and yarn classic
# read it there; node (yarn berry) is told
cafile=$(npm config get cafile)
case "$cafile" in
"" | null | undefined) ;;
*) export NODE_EXTRA_CA_CERTS="$cafile" ;;
esac
frozen=${FERRY_PM_FROZEN:-}

# runs pnpm or yarn from its npm package
run_pm() {
  exec npm exec --yes --package="$FERRY_PM_PACKAGE" -- "$@"
}

# (in a subshell: each manager's command is exec'ed, and the extras follow)
(
case "$FERRY_PM" in
custom)
  # installCommand (ferry.json, else vercel.json): pnpm and yarn are found
  # as builders/bin's shims, which run the real ones
  echo "ferry: installCommand: $FERRY_INSTALL_COMMAND"
  exec /bin/sh -c "$FERRY_INSTALL_COMMAND"
  ;;
npm)
  if [ -n "$frozen" ]; then
    echo "ferry: npm ci ($(npm --version))"
    exec npm ci --ignore-scripts --no-audit --no-fund
  fi
  echo "ferry: npm install ($(npm --version)): no lockfile, the versions are resolved now"
  exec npm install --ignore-scripts --no-audit --no-fund --no-package-lock
  ;;
pnpm)
  echo "ferry: pnpm install ($FERRY_PM_PACKAGE${frozen:+, $FERRY_PM_LOCKFILE})"
  export npm_config_store_dir=/tmp/home/pnpm-store
  if [ -n "$frozen" ]; then
    run_pm pnpm install --frozen-lockfile --ignore-scripts --ignore-pnpmfile --reporter=append-only
  fi
  run_pm pnpm install --no-frozen-lockfile --ignore-scripts --ignore-pnpmfile --reporter=append-only
  ;;
yarn)
  echo "ferry: yarn install ($FERRY_PM_PACKAGE${frozen:+, $FERRY_PM_LOCKFILE})"
  set -- install --ignore-scripts --non-interactive --no-progress \
    --registry "$registry" --proxy "$HTTP_PROXY" --https-proxy "$HTTPS_PROXY" \
    --cache-folder /tmp/home/yarn-cache
  if [ -n "$frozen" ]; then
    run_pm yarn "$@" --frozen-lockfile
  fi
  run_pm yarn "$@"
  ;;
berry)
  echo "ferry: yarn install ($FERRY_PM_PACKAGE${FERRY_PM_LOCKFILE:+, $FERRY_PM_LOCKFILE})"
  # node_modules whatever .yarnrc.yml says (the builders and the cache
  # read it), no scripts, the operator's registry through the egress path
  export YARN_NODE_LINKER=node-modules YARN_ENABLE_SCRIPTS=false \
    YARN_NPM_REGISTRY_SERVER="${registry%/}" YARN_HTTP_PROXY="$HTTP_PROXY" \
    YARN_HTTPS_PROXY="$HTTPS_PROXY" YARN_ENABLE_TELEMETRY=0 YARN_ENABLE_GLOBAL_CACHE=false \
    YARN_CACHE_FOLDER=/tmp/home/yarn-cache YARN_ENABLE_PROGRESS_BARS=false \
    YARN_ENABLE_INLINE_BUILDS=false
  if [ -n "$frozen" ]; then
    run_pm yarn install --immutable
  fi
  YARN_ENABLE_IMMUTABLE_INSTALLS=false run_pm yarn install
  ;;
*)
  echo "ferry: unknown package manager '$FERRY_PM'" >&2
  exit 2
  ;;
esac
) || exit $?

# What ferry adds to the project's dependencies (FERRY_PM_EXTRAS): in
# node_modules/.ferry-extra, each linked from node_modules as if installed
# there (a relative link: it survives the dependency cache).
if [ -n "${FERRY_PM_EXTRAS:-}" ]; then
  echo "ferry: and, not in package.json, $FERRY_PM_EXTRAS (what ferry builds it with)"
  mkdir -p node_modules/.ferry-extra
  # shellcheck disable=SC2086
  npm install --prefix node_modules/.ferry-extra --no-save --no-package-lock --ignore-scripts \
    --no-audit --no-fund $FERRY_PM_EXTRAS || exit $?
  for p in $FERRY_PM_EXTRAS; do
    name=${p%@*}
    case "$name" in
    */*) up=../ ;;
    *) up= ;;
    esac
    mkdir -p "node_modules/$(dirname "$name")"
    [ -e "node_modules/$name" ] || ln -s "${up}.ferry-extra/node_modules/$name" "node_modules/$name"
  done
fi
