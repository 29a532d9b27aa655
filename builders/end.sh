#!/bin/sh
# Runs inside the sandbox after the builder: checks the output layout and
# summarises it. A missing config.json fails the build.
set -eu
out=${1:-/work/out}
if [ ! -f "$out/config.json" ]; then
  echo "ferry: the builder wrote no $out/config.json" >&2
  exit 1
fi
statics=0
[ -d "$out/static" ] && statics=$(find "$out/static" -type f | wc -l)
functions=0
[ -d "$out/functions" ] && functions=$(find "$out/functions" -name .vc-config.json | wc -l)
echo "ferry: output: $statics static file(s), $functions function(s)"
