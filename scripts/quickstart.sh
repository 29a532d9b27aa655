#!/usr/bin/env bash
# From a fresh Debian 12 machine to a deployed example, in one command:
# installs the dependencies, builds, starts a one-node ferryd with its
# embedded defaults (data in $FERRY_DATA, default ~/.local/share/ferry) and
# deploys examples/hello, printing what was deployed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/install-deps.sh
bash scripts/build.sh
data=${FERRY_DATA:-$HOME/.local/share/ferry}
mkdir -p "$data"
ferry="$root/build/ferry"

url=""
if [ -f "$data/ferryd.url" ] && curl -fsS "$(cat "$data/ferryd.url")/healthz" >/dev/null 2>&1; then
  url=$(cat "$data/ferryd.url")
  echo "quickstart: ferryd is already running at $url"
else
  listen=127.0.0.1:7700 router=127.0.0.1:7701
  if curl -sS -o /dev/null "http://$listen/healthz" 2>/dev/null ||
     curl -sS -o /dev/null "http://$router/" 2>/dev/null; then
    listen=127.0.0.1:0 router=127.0.0.1:0 # taken: free ports
  fi
  nohup "$root/build/ferryd" --data-dir "$data" --listen "$listen" --router-listen "$router" \
    >"$data/ferryd.url.tmp" 2>"$data/ferryd.log" </dev/null &
  echo $! >"$data/ferryd.pid"
  for _ in $(seq 100); do
    url=$(head -n1 "$data/ferryd.url.tmp" 2>/dev/null || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "quickstart: ferryd did not start; see $data/ferryd.log" >&2
    cat "$data/ferryd.log" >&2
    exit 1
  fi
  echo "$url" >"$data/ferryd.url"
  echo "quickstart: started ferryd (pid $(cat "$data/ferryd.pid")) at $url, data in $data"
fi

"$ferry" login --url "$url" <"$data/admin.token"
deployment=$("$ferry" deploy examples/hello --project hello --prod)
echo
echo "quickstart: deployed examples/hello at $deployment (and promoted it to production):"
"$ferry" inspect "$deployment" --files
echo
echo "quickstart: $deployment/api/hello answers:"
curl -fsS "$deployment/api/hello"
echo
echo
echo "Next: edit examples/hello and ferry deploy it again (a new URL each time),"
echo "ferry promote / rollback, ferry env add, ferry logs URL --runtime, ferry --help."
echo "Stop the server with: kill \$(cat $data/ferryd.pid)"
