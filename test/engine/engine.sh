#!/usr/bin/env bash
# The real build engine for Hoist's tests and for local use.
#
#   engine.sh install   install what is missing, build what is not cached; start nothing
#                       (`install apt|binfmt|tools|base` runs one step)
#   engine.sh up        install, then start a registry, buildkitd and dockerd for manual use
#   engine.sh status    print how to reach the running engine (exit 1 when it is not up)
#   engine.sh smoke     build test/engine/smoke/Dockerfile on the running engine and push it
#   engine.sh down      stop what `up` started, leaving no process behind
#   engine.sh clean     down, then delete the state of `up` (not the cache)
#
# Everything built is cached outside the repository, in $HOIST_ENGINE_CACHE
# (default ~/.cache/hoist-engine):
#   bin/{buildkitd,buildctl,buildx}  go-installed, version-stamped; rebuilt only when the
#                                    pinned version below changes
#   base/bookworm/rootfs.tar         a debootstrap --variant=minbase Debian
#   base/bookworm/registry/          docker-registry storage holding that rootfs as the image
#                                    hoist-test/debian:bookworm (test suites copy it)
#   run/                             state of `up` (logs, pids, sockets, data)
# Every daemon listens on 127.0.0.1 or on a unix socket under run/; ports are free ones.
set -euo pipefail

BUILDKIT_VERSION=v0.18.2 # from v0.19.0 on, buildkit's go.mod has an `exclude` that `go install` refuses
BUILDX_VERSION=v0.38.2
BASE_SUITE=bookworm
BASE_REPO=hoist-test/debian
APT_PACKAGES=(runc docker.io docker-registry debootstrap qemu-user-static postgresql ca-certificates iproute2 xfsprogs btrfs-progs containernetworking-plugins iptables chromium)

CACHE=${HOIST_ENGINE_CACHE:-$HOME/.cache/hoist-engine}
BIN=$CACHE/bin
BASE=$CACHE/base/$BASE_SUITE
RUN=$CACHE/run
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[engine %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Waits until `$@` succeeds, up to $1 seconds; the rest is the command.
wait_for() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

http_ok() {
  node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$1"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stops the process in pidfile $1: TERM, then KILL after $2 seconds (default 20).
stop_pidfile() {
  local pidfile=$1 grace=${2:-20} pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop in ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# The Debian mirror apt already uses (deb822 .sources or one-line sources.list), unless
# HOIST_DEBIAN_MIRROR says otherwise.
debian_mirror() {
  if [ -n "${HOIST_DEBIAN_MIRROR:-}" ]; then
    echo "$HOIST_DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(
    {
      awk '/^[[:space:]]*URIs:/ {for (i = 2; i <= NF; i++) print $i}' /etc/apt/sources.list.d/*.sources 2>/dev/null
      awk '/^[[:space:]]*deb[[:space:]]/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
    } | grep -E '/debian/?$' | head -n1
  ) || true
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*; set HOIST_DEBIAN_MIRROR=<http URL of a Debian mirror>"
  echo "${uri%/}"
}

install_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "apt packages present"
    return
  fi
  log "installing apt packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints the version a binary reports, or nothing.
version_of() { [ -x "$1" ] && "$1" "${@:2}" 2>/dev/null | head -n1 || true; }

install_go_tools() {
  command -v go >/dev/null || die "Go is not installed; buildx $BUILDX_VERSION needs Go >= 1.26.3 (https://go.dev/dl/)"
  mkdir -p "$BIN"
  local gobin
  gobin=$(mktemp -d "$CACHE/gobin.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$gobin'" RETURN

  if [[ "$(version_of "$BIN/buildkitd" --version)" == *" $BUILDKIT_VERSION "* &&
    "$(version_of "$BIN/buildctl" --version)" == *" $BUILDKIT_VERSION "* ]]; then
    log "buildkitd/buildctl $BUILDKIT_VERSION cached in $BIN"
  else
    log "go install buildkitd and buildctl $BUILDKIT_VERSION"
    GOBIN=$gobin GOFLAGS=-buildvcs=false go install \
      -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
      "github.com/moby/buildkit/cmd/buildkitd@$BUILDKIT_VERSION" "github.com/moby/buildkit/cmd/buildctl@$BUILDKIT_VERSION"
    mv -f "$gobin/buildkitd" "$gobin/buildctl" "$BIN/"
  fi

  if [[ "$(version_of "$BIN/buildx" version)" == *" $BUILDX_VERSION"* ]]; then
    log "buildx $BUILDX_VERSION cached in $BIN"
  else
    log "go install buildx $BUILDX_VERSION"
    GOBIN=$gobin GOFLAGS=-buildvcs=false go install \
      -ldflags "-s -w -X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx" \
      "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION"
    mv -f "$gobin/buildx" "$BIN/"
  fi

  local plugin=$HOME/.docker/cli-plugins/docker-buildx
  if ! cmp -s "$BIN/buildx" "$plugin"; then
    mkdir -p "$(dirname "$plugin")"
    cp -f "$BIN/buildx" "$plugin.tmp" && mv -f "$plugin.tmp" "$plugin"
    log "buildx installed as $plugin"
  fi
}

# Starts a registry serving storage dir $1 on 127.0.0.1:$2; pid in $3, log in $4.
start_registry() {
  local storage=$1 port=$2 pidfile=$3 logfile=$4
  local config=$storage.yml
  cat >"$config" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  setsid docker-registry serve "$config" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for 30 http_ok "http://127.0.0.1:$port/v2/" || die "registry did not start; see $logfile"
}

# Starts buildkitd (the flags the test helpers use, minus TLS) on unix socket $2 with
# state under $1; pid in $1/pid.
start_buildkitd() {
  local dir=$1 sock=$2 registry=$3
  mkdir -p "$dir"
  cat >"$dir/buildkitd.toml" <<EOF
[registry."$registry"]
  http = true
  insecure = true
EOF
  setsid "$BIN/buildkitd" --root "$dir/root" --addr "unix://$sock" --config "$dir/buildkitd.toml" \
    --otel-socket-path "$dir/otel.sock" --oci-worker-net host >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  wait_for 60 "$BIN/buildctl" --addr "unix://$sock" debug workers || die "buildkitd did not start; see $dir/log"
}

install_base_image() {
  if [ -f "$BASE/registry.done" ]; then
    log "base image $BASE_REPO:$BASE_SUITE cached in $BASE/registry"
    return
  fi
  mkdir -p "$BASE"
  if [ ! -f "$BASE/rootfs.tar" ]; then
    local mirror rootfs=$BASE/rootfs.tmp
    mirror=$(debian_mirror)
    log "debootstrap --variant=minbase $BASE_SUITE from the apt mirror"
    as_root rm -rf "$rootfs"
    as_root debootstrap --variant=minbase "$BASE_SUITE" "$rootfs" "$mirror" >"$BASE/debootstrap.log" 2>&1 ||
      die "debootstrap failed; see $BASE/debootstrap.log"
    # What an image does not need: package lists, caches, logs, device nodes.
    as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* "$rootfs"/dev/* \
      "$rootfs"/proc/* "$rootfs"/sys/* "$rootfs"/run/* "$rootfs"/tmp/*
    as_root tar -C "$rootfs" --numeric-owner -cf "$BASE/rootfs.tar.tmp" .
    mv -f "$BASE/rootfs.tar.tmp" "$BASE/rootfs.tar"
    as_root rm -rf "$rootfs"
  fi

  log "pushing the rootfs as $BASE_REPO:$BASE_SUITE into a cached registry storage"
  local work port
  work=$(mktemp -d /tmp/hoist-base.XXXXXX)
  port=$(free_port)
  rm -rf "$BASE/registry"
  mkdir -p "$BASE/registry" "$work/ctx"
  start_registry "$BASE/registry" "$port" "$work/registry.pid" "$work/registry.log"
  start_buildkitd "$work/bk" "$work/bk.sock" "127.0.0.1:$port"
  ln "$BASE/rootfs.tar" "$work/ctx/rootfs.tar" 2>/dev/null || cp "$BASE/rootfs.tar" "$work/ctx/rootfs.tar"
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$work/ctx/Dockerfile"
  local ok=0
  "$BIN/buildctl" --addr "unix://$work/bk.sock" build --frontend dockerfile.v0 \
    --local context="$work/ctx" --local dockerfile="$work/ctx" \
    --output "type=image,name=127.0.0.1:$port/$BASE_REPO:$BASE_SUITE,push=true,registry.insecure=true" \
    --metadata-file "$BASE/image.json" >"$work/build.log" 2>&1 || ok=$?
  stop_pidfile "$work/bk/pid"
  stop_pidfile "$work/registry.pid"
  rm -f "$BASE/registry.yml"
  if [ "$ok" != 0 ]; then
    cat "$work/build.log" >&2
    rm -rf "$work"
    die "could not build the base image"
  fi
  rm -rf "$work"
  touch "$BASE/registry.done"
}

# Emulated arm64 builds: mount binfmt_misc when it is not, and register qemu-user-static's
# aarch64 handler with the F flag (the kernel opens the interpreter now, so it also works
# inside buildkitd's containers, whose root has no /usr/libexec/qemu-binfmt). Never fails:
# when the kernel refuses (an unprivileged container), it says so and the local provider
# simply offers no emulated platform.
BINFMT=/proc/sys/fs/binfmt_misc
install_binfmt() {
  case "$(uname -m)" in aarch64 | arm64)
    log "binfmt: the host is arm64 already; no emulation needed"
    return 0
    ;;
  esac
  if [ ! -e "$BINFMT/register" ]; then
    if as_root mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null && [ -e "$BINFMT/register" ]; then
      log "binfmt: mounted binfmt_misc on $BINFMT"
    else
      log "binfmt: warning: binfmt_misc is not mounted and the kernel refused to mount it; linux/arm64 builds will not be offered"
      return 0
    fi
  fi
  local conf=/usr/lib/binfmt.d/qemu-aarch64.conf entry=$BINFMT/qemu-aarch64 line flags
  if [ -f "$entry" ] && grep -qx enabled "$entry" && grep -q '^flags:.*F' "$entry"; then
    log "binfmt: qemu-aarch64 registered with F ($(grep '^interpreter' "$entry")); linux/arm64 can be emulated"
    return 0
  fi
  if [ ! -f "$conf" ]; then
    log "binfmt: warning: $conf is missing (install qemu-user-static); linux/arm64 builds will not be offered"
    return 0
  fi
  line=$(grep -m1 '^:qemu-aarch64:' "$conf") || {
    log "binfmt: warning: no :qemu-aarch64: line in $conf; linux/arm64 builds will not be offered"
    return 0
  }
  flags=${line##*:}
  [[ "$flags" == *F* ]] || line="${line}F"
  if [ -f "$entry" ]; then
    # Registered without F (or disabled): it cannot run inside containers; register it again.
    log "binfmt: qemu-aarch64 is registered without the F flag or disabled; registering it again with F"
    as_root sh -c "echo -1 > '$entry'" 2>/dev/null || true
  fi
  if as_root sh -c "printf '%s\n' \"\$1\" > '$BINFMT/register'" sh "$line" 2>/dev/null &&
    [ -f "$entry" ] && grep -q '^flags:.*F' "$entry"; then
    log "binfmt: registered qemu-aarch64 with flags ${line##*:} from $conf; linux/arm64 can be emulated"
  else
    log "binfmt: warning: the kernel refused to register qemu-aarch64 (not privileged?); linux/arm64 builds will not be offered"
  fi
  return 0
}

install_all() {
  local t0=$SECONDS
  install_apt
  install_binfmt
  install_go_tools
  install_base_image
  log "engine installed in $((SECONDS - t0))s (cache: $CACHE)"
}

write_env() {
  cat >"$RUN/env" <<EOF
export HOIST_ENGINE_REGISTRY=127.0.0.1:$1
export BUILDKIT_HOST=unix://$RUN/buildkitd.sock
export DOCKER_HOST=unix://$RUN/docker.sock
EOF
}

print_status() {
  # shellcheck disable=SC1091
  . "$RUN/env"
  cat <<EOF
Hoist engine is up (state in $RUN):
  registry   http://$HOIST_ENGINE_REGISTRY   base image: $HOIST_ENGINE_REGISTRY/$BASE_REPO:$BASE_SUITE
  buildkitd  $BUILDKIT_HOST   (buildctl: $BIN/buildctl --addr $BUILDKIT_HOST debug workers)
  dockerd    $DOCKER_HOST
Use it from a shell:  . $RUN/env
Build on it:          npm run smoke
Stop it:              npm run engine:down
EOF
}

BRIDGE=hoistengine0
# The bridge of `up`'s dockerd, on a 10.2xx.y.0/24 no interface uses.
create_bridge() {
  [ -e "/sys/class/net/$BRIDGE" ] && return 0
  local used prefix=""
  used=$(ip -4 -o addr show | awk '{split($4, a, "."); print a[1] "." a[2] "." a[3]}')
  for _ in $(seq 100); do
    prefix="10.$((200 + RANDOM % 50)).$((RANDOM % 256))"
    grep -qx "$prefix" <<<"$used" || break
  done
  as_root ip link add "$BRIDGE" type bridge
  as_root ip addr add "$prefix.1/24" dev "$BRIDGE"
}

is_up() {
  alive "$RUN/registry.pid" && alive "$RUN/buildkitd/pid" && alive "$RUN/dockerd.pid"
}

cmd_up() {
  install_all
  if is_up; then
    print_status
    return
  fi
  cmd_down 2>/dev/null
  mkdir -p "$RUN"
  local port
  port=$(free_port)
  if [ ! -d "$RUN/registry" ]; then cp -a "$BASE/registry" "$RUN/registry"; fi
  start_registry "$RUN/registry" "$port" "$RUN/registry.pid" "$RUN/registry.log"
  start_buildkitd "$RUN/buildkitd" "$RUN/buildkitd.sock" "127.0.0.1:$port"
  # A private dockerd: own data-root, exec-root, socket and bridge (RUN steps of its builder need
  # the bridge network), no iptables rules.
  mkdir -p "$RUN/docker-data" "$RUN/docker-exec"
  create_bridge
  setsid dockerd --host "unix://$RUN/docker.sock" --data-root "$RUN/docker-data" --exec-root "$RUN/docker-exec" \
    --pidfile "$RUN/dockerd.pid.own" --bridge "$BRIDGE" --iptables=false --ip6tables=false --ip-masq=false \
    --insecure-registry "127.0.0.1:$port" >"$RUN/dockerd.log" 2>&1 </dev/null &
  echo $! >"$RUN/dockerd.pid"
  wait_for 60 docker --host "unix://$RUN/docker.sock" version || die "dockerd did not start; see $RUN/dockerd.log"
  write_env "$port"
  print_status
}

cmd_down() {
  [ -d "$RUN" ] || return 0
  stop_pidfile "$RUN/dockerd.pid" 30
  stop_pidfile "$RUN/buildkitd/pid"
  stop_pidfile "$RUN/registry.pid"
  if [ -e "/sys/class/net/$BRIDGE" ]; then as_root ip link del "$BRIDGE" || true; fi
  rm -f "$RUN/env" "$RUN/dockerd.pid.own" "$RUN/buildkitd.sock" "$RUN/docker.sock"
  log "engine stopped"
}

cmd_smoke() {
  is_up || die "the engine is not up; run: npm run engine"
  bash "$HERE/smoke.sh" "$RUN/env" "$BIN"
}

case "${1:-up}" in
install)
  case "${2:-all}" in
  all) install_all ;;
  apt) install_apt ;;
  tools) install_go_tools ;;
  base) install_base_image ;;
  binfmt) install_binfmt ;;
  *) die "unknown install step '$2'; use apt, binfmt, tools or base (or nothing for all)" ;;
  esac
  ;;
up) cmd_up ;;
status) if is_up; then print_status; else
  echo "Hoist engine is not up; run: npm run engine" >&2
  exit 1
fi ;;
smoke) cmd_smoke ;;
down) cmd_down ;;
clean)
  cmd_down
  as_root rm -rf "$RUN"
  ;;
*) die "unknown command '$1'; use install, up, status, smoke, down or clean" ;;
esac
