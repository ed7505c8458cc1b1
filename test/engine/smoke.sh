#!/usr/bin/env bash
# The engine smoke build (called by `engine.sh smoke`): on the running engine, build
# smoke/Dockerfile with a buildx `remote` builder, push it to the registry, check that the
# registry serves the manifest digest buildx reported, then --load it into the private
# dockerd and run it there.
set -euo pipefail
ENV_FILE=$1
BIN=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1090
. "$ENV_FILE"

# A private docker config, so the temporary builder never lands in ~/.docker.
work=$(mktemp -d /tmp/hoist-smoke.XXXXXX)
builder=hoist-smoke-$$
export DOCKER_CONFIG=$work/docker BUILDX_CONFIG=$work/buildx
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$BIN/buildx" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
cleanup() {
  docker buildx rm "$builder" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

image=$HOIST_ENGINE_REGISTRY/hoist-smoke/hello:latest
docker buildx create --name "$builder" --driver remote "$BUILDKIT_HOST" >/dev/null
docker buildx build --builder "$builder" --progress plain \
  --build-arg "BASE=$HOIST_ENGINE_REGISTRY/hoist-test/debian:bookworm" \
  --tag "$image" --output "type=image,push=true,registry.insecure=true" \
  --metadata-file "$work/metadata.json" "$HERE/smoke"

node --input-type=module - "$work/metadata.json" "$HOIST_ENGINE_REGISTRY" <<'JS'
import { readFileSync } from 'node:fs';
const [file, registry] = process.argv.slice(2);
const want = JSON.parse(readFileSync(file, 'utf8'))['containerimage.digest'];
const accept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const res = await fetch(`http://${registry}/v2/hoist-smoke/hello/manifests/latest`, { headers: { accept } });
const got = res.headers.get('docker-content-digest');
if (!res.ok || got !== want) {
  console.error(`smoke: registry answered ${res.status} with digest ${got}, buildx reported ${want}`);
  process.exit(1);
}
console.log(`smoke: pushed ${registry}/hoist-smoke/hello:latest@${want}`);
JS

docker buildx build --builder "$builder" --quiet \
  --build-arg "BASE=$HOIST_ENGINE_REGISTRY/hoist-test/debian:bookworm" \
  --tag hoist-smoke/hello:loaded --load "$HERE/smoke" >/dev/null
docker run --rm --network none hoist-smoke/hello:loaded
docker image rm hoist-smoke/hello:loaded >/dev/null
echo "smoke: OK"
