#!/usr/bin/env bash
# Hoist's main job on the embedded default, end to end on this machine:
# the engine (registry + base image) -> `hoist server` (SQLite, local buildkitd provider)
# -> an admin token, a project and a project token -> `hoist build --push` twice; the second
# build changes one file and reuses every earlier step from the builder's own cache.
#
# State is kept in $HOIST_DEMO_DIR (default ~/.cache/hoist-demo): rerun it and the builder's
# cache is still warm. Everything it starts (server, builders, and the engine if it was not
# already up) is stopped when it ends.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEMO=${HOIST_DEMO_DIR:-$HOME/.cache/hoist-demo}
HOIST="node $ROOT/dist/cli/index.js"
log() { printf '\n\033[1m[demo] %s\033[0m\n' "$*" >&2; }

log "engine: registry with the Debian base image (npm run engine)"
engine_was_up=0
bash "$ROOT/test/engine/engine.sh" status >/dev/null 2>&1 && engine_was_up=1
bash "$ROOT/test/engine/engine.sh" up >/dev/null
# shellcheck disable=SC1091
. "$HOME/.cache/hoist-engine/run/env"
REG=$HOIST_ENGINE_REGISTRY
export PATH="$HOME/.cache/hoist-engine/bin:$PATH"
unset BUILDKIT_HOST DOCKER_HOST

[ -f "$ROOT/dist/cli/index.js" ] || (cd "$ROOT" && npm run build)

mkdir -p "$DEMO"
work=$(mktemp -d /tmp/hoist-demo.XXXXXX)
chmod 700 "$work"
export HOIST_CONFIG=$work/config.json
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
API=http://127.0.0.1:$port
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  # an engine this run started is stopped again; one that was already up is left as it was
  [ "$engine_was_up" = 1 ] || bash "$ROOT/test/engine/engine.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "hoist server init (SQLite in $DEMO/data)"
ADMIN=$($HOIST server init --data-dir "$DEMO/data" | tail -n 1)

log "hoist server on $API"
$HOIST server --listen "127.0.0.1:$port" --data-dir "$DEMO/data" --log-level warn \
  --builder-insecure-registries "$REG" >"$DEMO/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$API/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$DEMO/server.log" >&2; exit 1; }
  sleep 0.1
done

export HOIST_API_URL=$API
log "project 'demo' and a project token"
# tokens go through the environment, never the command line (other users can read a process list)
HOIST_TOKEN=$ADMIN $HOIST projects show demo >/dev/null 2>&1 || HOIST_TOKEN=$ADMIN $HOIST projects create demo
PROJECT_TOKEN=$(HOIST_TOKEN=$ADMIN $HOIST tokens create --project demo --name demo --expires-in 1h --json |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).token))')

ctx=$work/app
cp -r "$ROOT/test/demo/app" "$ctx"
build() {
  HOIST_TOKEN=$PROJECT_TOKEN $HOIST build --project demo --push --progress plain \
    --build-arg "BASE=$REG/hoist-test/debian:bookworm" \
    -t "$REG/demo/app:$1" --metadata-file "$work/metadata-$1.json" "$ctx"
}

log "build 1: hoist build --push -t $REG/demo/app:1"
t0=$(date +%s%3N)
build 1
t1=$(date +%s%3N)

log "build 2: one changed file; the steps before it come from the builder's cache"
date >>"$ctx/message.txt"
build 2 2>&1 | tee "$work/build2.log"
t2=$(date +%s%3N)

digest=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))["containerimage.digest"])' "$work/metadata-2.json")
served=$(curl -fsSI -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
  "http://$REG/v2/demo/app/manifests/2" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
[ "$digest" = "$served" ] || { echo "[demo] registry serves $served, buildx reported $digest" >&2; exit 1; }
grep -q CACHED "$work/build2.log" || { echo "[demo] the second build reused no step" >&2; exit 1; }

log "builds on the server"
HOIST_TOKEN=$ADMIN $HOIST builds list --project demo --limit 5
echo "[demo] build 1: $((t1 - t0)) ms, build 2 (one file changed): $((t2 - t1)) ms; $REG/demo/app:2@$digest is in the registry"
echo "[demo] OK"
