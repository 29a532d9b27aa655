#!/bin/sh
# The dependency-install step: the only step that may reach the network
# (npm's registry). Runs in /work/src; the build runner restores and saves
# node_modules around it (the dependency cache), so it runs only on a miss.
set -eu
cd /work/src
export HOME=/tmp/home
mkdir -p "$HOME"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
echo "ferry: npm ci ($(npm --version))"
exec npm ci --ignore-scripts --no-audit --no-fund
