#!/usr/bin/env bash
# A ferry cluster of N nodes on this machine, for trying and testing:
#
#   scripts/cluster.sh up N       start N nodes (default 3)
#   scripts/cluster.sh status     which nodes run, and how the cluster sees them
#   scripts/cluster.sh down       stop them (SIGTERM, then SIGKILL)
#
# Node 1 plays api, storage, build and deploy; the others storage, build and
# deploy. Each has its own data directory and ports under $FERRY_CLUSTER
# (default /tmp/ferry-cluster): cluster.conf, certs/ (the actor port's
# certificates), nodeK/ (data), nodeK.log, nodeK.pid. The API is node 1's; every node's router serves every
# deployment. Needs a build (bash scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${FERRY_CLUSTER:-/tmp/ferry-cluster}
ferryd="$root/build/ferryd"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

up() {
  local n=${1:-3}
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 16 ]; then
    echo "cluster.sh: N must be 1 to 16, not '$n'" >&2
    exit 2
  fi
  [ -x "$ferryd" ] || { echo "cluster.sh: no $ferryd: run bash scripts/build.sh" >&2; exit 1; }
  if ls "$dir"/node*.pid >/dev/null 2>&1; then
    echo "cluster.sh: a cluster already runs in $dir (scripts/cluster.sh down first)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  {
    echo "# written by scripts/cluster.sh up $n"
    echo "domain = ferry.localhost"
    for i in $(seq 1 "$n"); do
      echo
      echo "[node node$i]"
      [ "$i" = 1 ] && echo "api = 127.0.0.1:$(free_port)"
      echo "actors = 127.0.0.1:$(free_port)"
      echo "router = 127.0.0.1:$(free_port)"
      if [ "$i" = 1 ]; then echo "roles = api, storage, build, deploy"; else echo "roles = storage, build, deploy"; fi
      echo "build_slots = 1"
    done
  } >"$dir/cluster.conf"
  # the actor port's certificates (TLS both ways, one cluster CA): certs/
  "$root/build/ferry" admin cluster-certs --config "$dir/cluster.conf" 2>/dev/null || {
    echo "cluster.sh: ferry admin cluster-certs failed" >&2
    exit 1
  }
  # every node at once: each connects to the others as they come
  for i in $(seq 1 "$n"); do
    nohup "$ferryd" --config "$dir/cluster.conf" --node "node$i" --data-dir "$dir/node$i" \
      >"$dir/node$i.out" 2>"$dir/node$i.log" </dev/null &
    echo $! >"$dir/node$i.pid"
  done
  local url=""
  for _ in $(seq 100); do
    url=$(head -n1 "$dir/node1.out" 2>/dev/null || true)
    [[ "$url" == http* ]] && break
    sleep 0.1
  done
  if [[ "$url" != http* ]]; then
    echo "cluster.sh: node1 did not start; see $dir/node1.log" >&2
    tail -n 20 "$dir/node1.log" >&2
    exit 1
  fi
  echo "$url" >"$dir/api.url"
  echo "cluster of $n node(s) in $dir"
  echo "  API: $url   (token: $dir/node1/admin.token)"
  for i in $(seq 1 "$n"); do
    local router
    router=$(awk -v n="node$i" '/^\[node /{cur=$2; sub(/\]/, "", cur)} cur==n && /^router/{print $3}' "$dir/cluster.conf")
    echo "  node$i: router http://$router, log $dir/node$i.log"
  done
  echo "  try: FERRY_URL=$url FERRY_TOKEN=\$(cat $dir/node1/admin.token) build/ferry deploy examples/hello"
}

status() {
  [ -f "$dir/cluster.conf" ] || { echo "no cluster in $dir"; exit 1; }
  for pidf in "$dir"/node*.pid; do
    [ -e "$pidf" ] || continue
    local name pid
    name=$(basename "$pidf" .pid)
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"; else echo "$name: not running"; fi
  done
  if [ -f "$dir/api.url" ] && [ -f "$dir/node1/admin.token" ]; then
    curl -fsS -H "Authorization: Bearer $(cat "$dir/node1/admin.token")" \
      "$(cat "$dir/api.url")/v1/admin/nodes" 2>/dev/null |
      python3 -c 'import json,sys
for n in json.load(sys.stdin)["nodes"]:
    print("  %-8s %-5s %s" % (n["node"], "up" if n["up"] else "DOWN", ", ".join(n["roles"])))' ||
      echo "  (the API does not answer)"
  fi
}

down() {
  local pids=()
  for pidf in "$dir"/node*.pid; do
    [ -e "$pidf" ] || continue
    pids+=("$(cat "$pidf")")
  done
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -f "$dir"/node*.pid "$dir/api.url"
  echo "cluster in $dir stopped (data kept; rm -r $dir to forget it)"
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  down) down ;;
  status) status ;;
  *)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] || exit 2
    ;;
esac
