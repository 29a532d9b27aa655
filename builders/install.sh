#!/bin/sh
# The dependency-install step: the only step with a way out (ferryd's
# egress proxy to the registry; npm finds it in npm_config_https_proxy).
# Runs in /work/src; the build runner restores and saves
# node_modules around it (the dependency cache), so it runs only on a miss.
set -eu
cd /work/src
export HOME=/tmp/home
mkdir -p "$HOME"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
echo "ferry: npm ci ($(npm --version))"
exec npm ci --ignore-scripts --no-audit --no-fund
