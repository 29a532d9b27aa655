#!/bin/sh
# Runs inside the sandbox: sets up the build's environment, then the
# starter, then end.sh. The environment holds only what concerns the build.
set -eu
export HOME=/tmp/home
mkdir -p "$HOME"
if [ -d /cache ]; then
  export npm_config_cache=/cache/npm
fi
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
echo "ferry: node $(node --version)"
node /builders/starter.js /work/src /work/out /cache
exec sh /builders/end.sh /work/out
