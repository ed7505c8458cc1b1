#!/usr/bin/env bash
# A real single-node Kubernetes cluster for Hoist's Kubernetes suites (see ../shared/KUBERNETES.md).
#
#   k8s.sh install   build/cache what is missing (Kubernetes binaries, Debian daemons, images)
#                    (`install bin|debs|images|provisioner` runs one step); starts nothing
#   k8s.sh up        install, then bring the cluster up, or reuse the one that is up
#   k8s.sh status    print how to reach it (exit 1 when it is not up)
#   k8s.sh down      tear it down: no process, mount, veth, netns, cgroup, rule or sysctl left
#   k8s.sh image NAME DIR   build DIR/Dockerfile and push it to the cluster's registry
#
# Cached outside the repository, keyed by version, in $HOIST_ENGINE_CACHE/k8s-$K8S_VERSION:
#   bin/   kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
#          local-path-provisioner (stripped, version-stamped)
#   debs/  etcd, containerd, runc and the CNI plugins extracted with dpkg-deb -x (no service starts)
#   images/registry/  docker-registry storage with the pause and builder images
# State of `up` is in /run/hoist-k8s (kubeconfig, env, logs, pids).
set -euo pipefail

K8S_VERSION=v1.37.2 # 1.38's kubelet needs a CRI call Debian's containerd 1.6 lacks
LPP_VERSION=v0.0.30 # the newest the Go module proxy serves
BUILDKIT_VERSION=v0.18.2 # the pinned buildkitd engine.sh builds

CACHE=${HOIST_ENGINE_CACHE:-$HOME/.cache/hoist-engine}
K8S=$CACHE/k8s-$K8S_VERSION
KBIN=$K8S/bin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[k8s %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Temp dirs of this run. A RETURN trap misses `die` and `set -e` (both exit the script), so they
# are removed by one EXIT trap instead, on every path: success, failure, Ctrl-C, kill. A process
# a step started from one (a throwaway registry or buildkitd, pidfile inside it) is stopped first.
TMP_DIRS=()
remove_tmp_dirs() {
  local d p
  for d in "${TMP_DIRS[@]}"; do
    [ -d "$d" ] || continue
    for p in "$d"/*.pid "$d"/pid "$d"/*/pid; do [ -f "$p" ] && stop_pidfile "$p" 5; done
    rm -rf "$d"
  done
  TMP_DIRS=()
}
trap remove_tmp_dirs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# make_tmp VAR NAME: a new dir ${TMPDIR:-/tmp}/hoist-k8s-NAME.XXXXXX in VAR, removed at exit.
make_tmp() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/hoist-k8s-$2.XXXXXX")
  TMP_DIRS+=("$d")
  printf -v "$1" '%s' "$d"
}
die() {
  log "error: $*"
  exit 1
}

# Builds the Kubernetes binaries from Go modules through a wrapper module: k8s.io/kubernetes'
# go.mod replaces its staging modules with local paths, which `go install` refuses; the wrapper
# replaces them with their published v0.x versions instead.
install_bin() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  if [ -f "$KBIN/.done" ]; then
    log "kubernetes $K8S_VERSION binaries cached in $KBIN"
    return
  fi
  command -v go >/dev/null || die "Go is not installed; Kubernetes $K8S_VERSION needs Go >= 1.26"
  local minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local staging=0.$minor.${K8S_VERSION##*.}
  local work
  make_tmp work build
  log "building kubernetes $K8S_VERSION from Go modules in $work (15-30 min cold)"
  local kmod
  kmod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$kmod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION (is a Go module proxy reachable?)"
  {
    echo "module hoist.local/k8s-build"
    echo
    grep -m1 '^go ' "$kmod"
    echo
    grep -m1 '^godebug ' "$kmod" || true
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    # Every staging module, at its published version, except the two samples never published.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod" | grep -v -e sample-cli-plugin -e sample-controller |
      while read -r m; do echo "	$m => $m v$staging"; done
    echo ")"
  } >"$work/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    echo "import ("
    local c
    for c in "${want[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >"$work/tidy.log" 2>&1) || {
    cat "$work/tidy.log" >&2
    die "go mod tidy of the wrapper module failed"
  }
  local ld="-s -w" k v
  for k in "gitVersion=$K8S_VERSION" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do ld="$ld -X $v.$k"; done
  done
  local pkgs=()
  for c in "${want[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  mkdir -p "$work/bin"
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$work/bin/" "${pkgs[@]}") ||
    die "go build of kubernetes $K8S_VERSION failed"
  mkdir -p "$KBIN"
  for c in "${want[@]}"; do mv -f "$work/bin/$c" "$KBIN/$c"; done
  "$KBIN/kubectl" version --client | grep -q "$K8S_VERSION" || die "kubectl does not report $K8S_VERSION"
  touch "$KBIN/.done"
  log "kubernetes $K8S_VERSION binaries built into $KBIN ($(du -sh "$KBIN" | cut -f1))"
}

# --- Debian's etcd, containerd, runc and CNI plugins, extracted (no service starts) ---------------
DEBS=$K8S/debs
DEB_PACKAGES=(etcd-server containerd runc containernetworking-plugins)
install_debs() {
  if [ -f "$DEBS/.done" ]; then
    log "etcd, containerd, runc and CNI plugins cached in $DEBS"
    return
  fi
  local work
  make_tmp work debs
  log "apt-get download ${DEB_PACKAGES[*]}"
  if ! (cd "$work" && apt-get download -qq "${DEB_PACKAGES[@]}" >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$work" && apt-get download -qq "${DEB_PACKAGES[@]}" >/dev/null) || die "apt-get download ${DEB_PACKAGES[*]} failed"
  fi
  rm -rf "$DEBS"
  mkdir -p "$DEBS"
  local deb
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$DEBS"; done
  local f
  for f in usr/bin/etcd usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr usr/sbin/runc usr/lib/cni/bridge usr/lib/cni/host-local usr/lib/cni/loopback; do
    [ -x "$DEBS/$f" ] || die "$f is missing from the extracted packages"
  done
  touch "$DEBS/.done"
  log "extracted $(cd "$work" && echo ./*.deb | sed 's#\./##g') into $DEBS"
}

# --- rancher's local-path-provisioner, a host process with a kubeconfig --------------------------
install_provisioner() {
  if [[ -x "$KBIN/local-path-provisioner" && -f "$KBIN/.lpp-$LPP_VERSION" ]]; then
    log "local-path-provisioner $LPP_VERSION cached in $KBIN"
    return
  fi
  local gobin
  make_tmp gobin lpp
  log "go install local-path-provisioner $LPP_VERSION"
  GOBIN=$gobin CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" \
    "github.com/rancher/local-path-provisioner@$LPP_VERSION" || die "go install local-path-provisioner failed"
  mkdir -p "$KBIN"
  mv -f "$gobin/local-path-provisioner" "$KBIN/"
  rm -f "$KBIN"/.lpp-*
  touch "$KBIN/.lpp-$LPP_VERSION"
}

# --- images: pause (built from the module's pause.c), builder (base + pinned buildkitd), base -----
ENGINE_BIN=$CACHE/bin
BASE_TAR=$CACHE/base/bookworm/rootfs.tar
IMAGES=$K8S/images
PAUSE_IMAGE=hoist-k8s/pause:3.10
BUILDER_IMAGE=hoist-k8s/buildkit:$BUILDKIT_VERSION
BASE_IMAGE=hoist-test/debian:bookworm

wait_for() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Stops the process in pidfile $1: TERM, then KILL after $2 seconds (default 20).
stop_pidfile() {
  local pidfile=$1 grace=${2:-20} pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ($(basename "$pidfile" .pid)) did not stop in ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
  fi
  rm -f "$pidfile"
}

# docker-registry serving storage dir $1 on $2 (host:port); pid in $3, log in $4.
start_registry() {
  local storage=$1 addr=$2 pidfile=$3 logfile=$4
  cat >"$storage.yml" <<EOC
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: $addr
EOC
  setsid docker-registry serve "$storage.yml" >"$logfile" 2>&1 </dev/null 9>&- &
  echo $! >"$pidfile"
  wait_for 30 http_ok "http://$addr/v2/" || die "registry did not start; see $logfile"
}

# Bump when the builder image's contents change: a machine with the old cache then rebuilds it.
# r2: the CNI plugins and iptables, for RUN steps isolated inside the builder pod.
IMAGES_REV=r2
# Debian packages the builder image adds: iptables with its libraries (the pod's firewall) and
# netbase (/etc/protocols, which iptables reads to resolve "-p tcp").
IMAGE_DEBS=(iptables libip4tc2 libip6tc2 libxtables12 libmnl0 libnetfilter-conntrack3 libnfnetlink0 libnftnl11 netbase)

install_images() {
  if [ -f "$IMAGES/.done-$BUILDKIT_VERSION-$IMAGES_REV" ]; then
    log "pause, builder and base images cached in $IMAGES/registry"
    return
  fi
  [ -x "$ENGINE_BIN/buildkitd" ] && [ -f "$BASE_TAR" ] || die "the engine is not installed; run: bash test/engine/engine.sh install"
  [ -f "$DEBS/.done" ] || die "the CNI plugins are not extracted yet; run: bash test/engine/k8s.sh install debs"
  command -v gcc >/dev/null || die "gcc is missing (apt-get install gcc libc6-dev); it compiles the pause image"
  local kdir
  kdir=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -f "$kdir/build/pause/linux/pause.c" ] || die "pause.c not found in the k8s.io/kubernetes@$K8S_VERSION module"
  local work port
  make_tmp work images
  port=$(free_port)
  rm -rf "$IMAGES"
  mkdir -p "$IMAGES/registry" "$work/pause" "$work/builder/extra/opt/cni/bin" "$work/base" "$work/bk" "$work/debs" "$work/check"
  log "building the pause, builder and base images"
  gcc -Os -static -o "$work/pause/pause" "$kdir/build/pause/linux/pause.c" -DVERSION=k8s-$K8S_VERSION || die "gcc -static pause.c failed"
  strip "$work/pause/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$work/pause/Dockerfile"
  ln "$BASE_TAR" "$work/builder/rootfs.tar" 2>/dev/null || cp "$BASE_TAR" "$work/builder/rootfs.tar"
  ln "$BASE_TAR" "$work/base/rootfs.tar" 2>/dev/null || cp "$BASE_TAR" "$work/base/rootfs.tar"
  cp "$ENGINE_BIN/buildkitd" "$ENGINE_BIN/buildctl" "$DEBS/usr/sbin/runc" "$work/builder/"
  # RUN steps on an in-pod bridge (--kubernetes-run-network isolated): the CNI plugins where
  # buildkit looks by default, and iptables for the pod's own firewall.
  cp "$DEBS/usr/lib/cni/bridge" "$DEBS/usr/lib/cni/host-local" "$DEBS/usr/lib/cni/loopback" "$work/builder/extra/opt/cni/bin/"
  log "apt-get download ${IMAGE_DEBS[*]}"
  if ! (cd "$work/debs" && apt-get download -qq "${IMAGE_DEBS[@]}" >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$work/debs" && apt-get download -qq "${IMAGE_DEBS[@]}" >/dev/null) || die "apt-get download ${IMAGE_DEBS[*]} failed"
  fi
  local deb
  for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$work/builder/extra"; done
  # dpkg-deb -x runs no maintainer script, so update-alternatives never made these: the nft
  # backend, as Debian's default.
  local t
  for t in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
    ln -sf xtables-nft-multi "$work/builder/extra/usr/sbin/$t"
  done
  rm -rf "$work/builder/extra/usr/share/doc" "$work/builder/extra/usr/share/man"
  # Every library the new binaries need must be in the base or the packages: check in the rootfs.
  tar -xf "$BASE_TAR" -C "$work/check"
  cp -a "$work/builder/extra/." "$work/check/"
  local missing
  missing=$(for t in usr/sbin/xtables-nft-multi opt/cni/bin/bridge opt/cni/bin/host-local; do chroot "$work/check" ldd "/$t" 2>&1 || true; done | grep 'not found' || true)
  [ -z "$missing" ] || die "the builder image lacks libraries: $missing"
  chroot "$work/check" /usr/sbin/iptables-restore --version >/dev/null 2>&1 || die "iptables-restore does not run in the builder rootfs"
  rm -rf "$work/check"
  # runc is Debian's (it links the base's libseccomp2); buildkitd looks it up on PATH.
  printf 'FROM scratch\nADD rootfs.tar /\nCOPY extra/ /\nCOPY buildkitd buildctl runc /usr/bin/\nENTRYPOINT ["/usr/bin/buildkitd"]\n' >"$work/builder/Dockerfile"
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$work/base/Dockerfile"
  start_registry "$IMAGES/registry" "127.0.0.1:$port" "$work/registry.pid" "$work/registry.log"
  cat >"$work/bk/buildkitd.toml" <<EOC
[registry."127.0.0.1:$port"]
  http = true
  insecure = true
EOC
  setsid "$ENGINE_BIN/buildkitd" --root "$work/bk/root" --addr "unix://$work/bk.sock" --config "$work/bk/buildkitd.toml" \
    --otel-socket-path "$work/bk/otel.sock" --oci-worker-net host >"$work/bk/log" 2>&1 </dev/null &
  echo $! >"$work/bk/pid"
  local ok=0 img
  wait_for 60 "$ENGINE_BIN/buildctl" --addr "unix://$work/bk.sock" debug workers || ok=1
  for img in "pause:$PAUSE_IMAGE" "builder:$BUILDER_IMAGE" "base:$BASE_IMAGE"; do
    [ "$ok" = 0 ] || break
    "$ENGINE_BIN/buildctl" --addr "unix://$work/bk.sock" build --frontend dockerfile.v0 \
      --local context="$work/${img%%:*}" --local dockerfile="$work/${img%%:*}" \
      --output "type=image,name=127.0.0.1:$port/${img#*:},push=true,registry.insecure=true" >>"$work/build.log" 2>&1 || ok=$?
  done
  stop_pidfile "$work/bk/pid"
  stop_pidfile "$work/registry.pid"
  rm -f "$IMAGES/registry.yml"
  if [ "$ok" != 0 ]; then
    cat "$work/bk/log" "$work/build.log" >&2 2>/dev/null || true
    rm -rf "$IMAGES"
    die "could not build the cluster images"
  fi
  touch "$IMAGES/.done-$BUILDKIT_VERSION-$IMAGES_REV"
  log "images $PAUSE_IMAGE, $BUILDER_IMAGE and $BASE_IMAGE in $IMAGES/registry"
}

install_all() {
  local t0=$SECONDS
  install_debs
  install_bin
  install_provisioner
  install_images
  log "kubernetes $K8S_VERSION installed in $((SECONDS - t0))s (cache: $K8S)"
}

# --- the cluster ----------------------------------------------------------------------------------
# Fixed addresses: ports below the ephemeral range (tests take random ones from it), a bridge and
# pod subnet no test or builder network uses (builders take 10.213.0.0/16; engine.sh 10.200-249.x).
RUN_DIR=/run/hoist-k8s            # pids, sockets, kubeconfig, env, certificates
DATA=/var/lib/hoist-k8s           # etcd, containerd, kubelet, volumes, registry
BRIDGE=hoistk8s0
NODE_IP=10.177.77.1
POD_CIDR=10.177.77.0/24
SERVICE_CIDR=10.178.0.0/24
SERVICE_IP=10.178.0.1
NODE_NAME=hoist-k8s
ETCD_PORT=12379
ETCD_PEER_PORT=12380
API_PORT=16443
CM_PORT=12257
SCHED_PORT=12259
KUBELET_PORT=12250
KUBELET_HEALTHZ_PORT=12248
PROXY_METRICS_PORT=12249
PROXY_HEALTHZ_PORT=12256
REGISTRY=$NODE_IP:12500
KUBECONFIG_PATH=$RUN_DIR/kubeconfig
ENV_FILE=$RUN_DIR/env
LOCK=$K8S/cmd.lock
STORAGE_CLASS=local-path
DAEMONS=(registry etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy local-path-provisioner)

# Host state the daemons change whatever their flags (KUBERNETES.md); `up` records it, `down` restores.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max
  net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait)
HOST_PATHS=(/var/lib/kubelet /var/log/pods /var/log/containers /usr/libexec/kubernetes /var/lib/cni /run/netns /etc/cni /opt/cni /opt/containerd)

kubectl_() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

is_up() {
  local d
  for d in "${DAEMONS[@]}"; do alive "$RUN_DIR/$d.pid" || return 1; done
  [ -f "$ENV_FILE" ] && kubectl_ get --raw /readyz >/dev/null 2>&1
}

record_host() {
  local f=$RUN_DIR/host-before s p
  : >"$f.tmp"
  for s in "${SYSCTLS[@]}"; do
    if v=$(sysctl -n "$s" 2>/dev/null); then printf 'sysctl %s %s\n' "$s" "$v" >>"$f.tmp"; fi
  done
  for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] && printf 'path %s\n' "$p" >>"$f.tmp"; done
  mv "$f.tmp" "$f"
}

# $1 = name, $2 = subject, $3 = extensions; signs with the cluster CA in $RUN_DIR/pki.
cert() {
  local pki=$RUN_DIR/pki
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/$1.key" -subj "$2" \
    -out "$pki/$1.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 \
    -extfile <(printf '%s\n' "$3") -out "$pki/$1.crt" 2>/dev/null
  rm -f "$pki/$1.csr"
}

# $1 = file, $2 = cert name in pki
kubeconfig() {
  local pki=$RUN_DIR/pki
  cat >"$1" <<EOC
apiVersion: v1
kind: Config
clusters:
- name: hoist-k8s
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: hoist-k8s
  context:
    cluster: hoist-k8s
    user: $2
current-context: hoist-k8s
EOC
  chmod 600 "$1"
}

make_pki() {
  local pki=$RUN_DIR/pki
  mkdir -p "$pki"
  chmod 700 "$pki"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" \
    -days 30 -subj /CN=hoist-k8s-ca 2>/dev/null
  local client='extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature'
  cert apiserver /CN=kube-apiserver "subjectAltName=IP:$NODE_IP,IP:$SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
  cert admin "/O=system:masters/CN=hoist-k8s-admin" "$client"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  cert controller-manager /CN=system:kube-controller-manager "$client"
  cert scheduler /CN=system:kube-scheduler "$client"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
  cert kube-proxy /CN=system:kube-proxy "$client"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
  openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  kubeconfig "$KUBECONFIG_PATH" admin
  local c
  for c in controller-manager scheduler kubelet kube-proxy; do kubeconfig "$RUN_DIR/$c.kubeconfig" "$c"; done
}

# start NAME CMD...: a daemon in its own session, log in $RUN_DIR/NAME.log, pid in $RUN_DIR/NAME.pid.
start() {
  local name=$1
  shift
  # 9>&-: a daemon must not inherit (and so hold) the up/down lock.
  setsid "$@" >"$RUN_DIR/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN_DIR/$name.pid"
}

write_configs() {
  local pki=$RUN_DIR/pki
  mkdir -p "$RUN_DIR/cni" "$DATA/cni" "$DATA/volumes"
  cat >"$RUN_DIR/cni/10-hoist-k8s.conflist" <<EOC
{
  "cniVersion": "0.4.0",
  "name": "hoist-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DATA/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    }
  ]
}
EOC
  # containerd 1.6: the CRI plugin needs restrict_oom_score_adj (root lacks CAP_SYS_RESOURCE here),
  # cgroupfs (cgroup v1, no systemd), the local pause image, and plain HTTP for the loopback registry.
  cat >"$RUN_DIR/containerd.toml" <<EOC
version = 2
root = "$DATA/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$RUN_DIR/containerd.sock"
[ttrpc]
  address = "$RUN_DIR/containerd.ttrpc.sock"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$DATA/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY/$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$DEBS/usr/sbin/runc"
        Root = "$RUN_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$DEBS/usr/lib/cni"
    conf_dir = "$RUN_DIR/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
EOC
  cat >"$RUN_DIR/kubelet.yaml" <<EOC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$RUN_DIR/containerd.sock
podLogsDir: $DATA/pod-logs
volumePluginDir: $DATA/volume-plugins
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
evictionPressureTransitionPeriod: 5s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
shutdownGracePeriod: 0s
EOC
  # kube-proxy: NodePorts only on the bridge address (never eth0), masquerade everything so a pod
  # reaching a Service on its own bridge gets the reply through the host (no br_netfilter), and
  # leave the host's conntrack sysctls alone.
  cat >"$RUN_DIR/kube-proxy.yaml" <<EOC
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $RUN_DIR/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
mode: iptables
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
iptables:
  masqueradeAll: true
  localhostNodePorts: false
  syncPeriod: 30s
  minSyncPeriod: 1s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOC
  cat >"$RUN_DIR/local-path.json" <<EOC
{"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$DATA/volumes"]}]}
EOC
}

# The provisioner's namespace, service account (its helper pods run as it), config and StorageClass.
bootstrap_manifest() {
  cat <<EOC
apiVersion: v1
kind: Namespace
metadata: { name: local-path-storage }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: local-path-provisioner, namespace: local-path-storage }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: local-path-config, namespace: local-path-storage }
data:
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata:
      name: helper-pod
    spec:
      tolerations:
        - { key: node.kubernetes.io/disk-pressure, operator: Exists, effect: NoSchedule }
      containers:
      - name: helper-pod
        image: $REGISTRY/$BASE_IMAGE
        imagePullPolicy: IfNotPresent
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOC
}

write_env() {
  cat >"$ENV_FILE.tmp" <<EOC
export KUBECONFIG=$KUBECONFIG_PATH
export HOIST_K8S_KUBECTL=$KBIN/kubectl
export HOIST_K8S_REGISTRY=$REGISTRY
export HOIST_K8S_BUILDER_IMAGE=$REGISTRY/$BUILDER_IMAGE
export HOIST_K8S_BASE_IMAGE=$REGISTRY/$BASE_IMAGE
export HOIST_K8S_NODE_IP=$NODE_IP
export HOIST_K8S_NODE_NAME=$NODE_NAME
export HOIST_K8S_POD_CIDR=$POD_CIDR
export HOIST_K8S_SERVICE_CIDR=$SERVICE_CIDR
export HOIST_K8S_STORAGE_CLASS=$STORAGE_CLASS
export HOIST_K8S_CA=$RUN_DIR/pki/ca.crt
EOC
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

print_status() {
  cat <<EOC
Kubernetes $K8S_VERSION is up (node $NODE_NAME, state in $RUN_DIR and $DATA):
  kubeconfig      $KUBECONFIG_PATH   (kubectl: $KBIN/kubectl)
  API server      https://$NODE_IP:$API_PORT
  registry        http://$REGISTRY (plain HTTP, on the bridge $BRIDGE; pods and the host reach it)
  builder image   $REGISTRY/$BUILDER_IMAGE
  base image      $REGISTRY/$BASE_IMAGE
  StorageClass    $STORAGE_CLASS (default; rancher.io/local-path, WaitForFirstConsumer)
  pods $POD_CIDR on $BRIDGE, Services $SERVICE_CIDR, NodePorts on $NODE_IP only
Use it from a shell:  . $ENV_FILE
Tear it down:         bash test/engine/k8s.sh down
EOC
}

fail_up() {
  local d
  for d in "${DAEMONS[@]}"; do
    if [ -f "$RUN_DIR/$d.pid" ] && ! alive "$RUN_DIR/$d.pid"; then
      log "$d exited; last lines of $RUN_DIR/$d.log:"
      tail -n 15 "$RUN_DIR/$d.log" >&2 || true
    fi
  done
  die "$*"
}

cmd_up() {
  install_all
  if is_up; then
    log "reusing the cluster that is up"
    print_status
    return
  fi
  local t0=$SECONDS
  teardown quiet
  mkdir -p "$RUN_DIR" "$DATA"
  chmod 700 "$RUN_DIR"
  record_host
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  make_pki
  write_configs
  local pki=$RUN_DIR/pki
  cp -al "$IMAGES/registry" "$DATA/registry"
  start_registry "$DATA/registry" "$REGISTRY" "$RUN_DIR/registry.pid" "$RUN_DIR/registry.log"
  start etcd "$DEBS/usr/bin/etcd" --name "$NODE_NAME" --data-dir "$DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" --log-level warn
  start containerd env PATH="$DEBS/usr/bin:$DEBS/usr/sbin:$PATH" "$DEBS/usr/bin/containerd" --config "$RUN_DIR/containerd.toml"
  wait_for 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health" || fail_up "etcd did not start"
  start kube-apiserver "$KBIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --secure-port "$API_PORT" --advertise-address "$NODE_IP" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --allow-privileged=true --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP --profiling=false --v=1
  wait_for 60 kubectl_ get --raw /readyz || fail_up "the API server did not become ready"
  log "API server ready after $((SECONDS - t0))s"
  start kube-controller-manager "$KBIN/kube-controller-manager" --kubeconfig "$RUN_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$RUN_DIR/controller-manager.kubeconfig" --authorization-kubeconfig "$RUN_DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CM_PORT" --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --cluster-name hoist-k8s \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false --v=1
  start kube-scheduler "$KBIN/kube-scheduler" --kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$RUN_DIR/scheduler.kubeconfig" --authorization-kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --profiling=false --v=1
  wait_for 30 test -S "$RUN_DIR/containerd.sock" || fail_up "containerd did not start"
  start kubelet "$KBIN/kubelet" --config "$RUN_DIR/kubelet.yaml" --kubeconfig "$RUN_DIR/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$DATA/kubelet" --cert-dir "$DATA/kubelet-pki" --v=1
  start kube-proxy "$KBIN/kube-proxy" --config "$RUN_DIR/kube-proxy.yaml" --v=1
  bootstrap_manifest | kubectl_ apply -f - >/dev/null || fail_up "could not create the provisioner's namespace and StorageClass"
  start local-path-provisioner "$KBIN/local-path-provisioner" start --kubeconfig "$KUBECONFIG_PATH" \
    --namespace local-path-storage --service-account-name local-path-provisioner --configmap-name local-path-config \
    --config "$RUN_DIR/local-path.json" --provisioner-name rancher.io/local-path --helper-image "$REGISTRY/$BASE_IMAGE"
  wait_for 60 kubectl_ wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s || fail_up "node $NODE_NAME did not become Ready"
  # Pods need the default service account, which the controller-manager creates.
  wait_for 30 kubectl_ get serviceaccount default -n default || fail_up "the default service account was not created"
  local d
  for d in "${DAEMONS[@]}"; do alive "$RUN_DIR/$d.pid" || fail_up "$d exited"; done
  write_env
  log "cluster up in $((SECONDS - t0))s"
  print_status
}

# --- teardown ------------------------------------------------------------------------------------
# Removes every rule, jump and chain named KUBE-* from iptables and ip6tables (the kubelet's canary
# and firewall chains, kube-proxy's service chains); nothing else is touched.
flush_kube_chains() {
  local ipt table chains
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle raw; do
      chains=$("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p') || true
      [ -n "$chains" ] || continue
      # Drop the jumps into them from any chain, then flush and delete them.
      { "$ipt-save" -t "$table" | grep -E '^-A [^ ]+ .*-j KUBE-' || true; } | sed 's/^-A /-D /' | while read -r rule; do
        # shellcheck disable=SC2086
        eval "$ipt -w -t $table $rule" 2>/dev/null || true
      done
      for c in $chains; do "$ipt" -w -t "$table" -F "$c" 2>/dev/null || true; done
      for c in $chains; do "$ipt" -w -t "$table" -X "$c" 2>/dev/null || true; done
    done
  done
}

# Removes the kubepods cgroups (leaf first) from every v1 hierarchy and the unified one.
remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ -d "$d" ] && log "warning: could not remove cgroup $d"
  done
  return 0
}

# Kills what still runs in the pods' cgroups (a kubelet that died cannot stop them).
kill_pod_processes() {
  local procs
  procs=$(cat /sys/fs/cgroup/pids/kubepods/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/cgroup.procs \
    /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u) || true
  [ -n "$procs" ] || return 0
  # shellcheck disable=SC2086
  kill -KILL $procs 2>/dev/null || true
  sleep 0.5
}

unmount_under() {
  local root=$1 m
  [ -d "$root" ] || return 0
  # Deepest first.
  awk -v r="$root" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
  done
}

# teardown [quiet]: the order KUBERNETES.md gives, then restore the host from what `up` recorded.
teardown() {
  local t0=$SECONDS
  if alive "$RUN_DIR/kube-apiserver.pid" && alive "$RUN_DIR/kubelet.pid"; then
    # No controller may recreate a pod, no provisioner start a helper, while the kubelet removes them.
    stop_pidfile "$RUN_DIR/local-path-provisioner.pid" 5
    stop_pidfile "$RUN_DIR/kube-controller-manager.pid" 5
    stop_pidfile "$RUN_DIR/kube-scheduler.pid" 5
    kubectl_ delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 45))
    while [ "$SECONDS" -lt "$deadline" ]; do
      [ -z "$(kubectl_ get pods -A -o name 2>/dev/null)" ] &&
        [ -z "$(ls "$RUN_DIR/containerd/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  local d
  for d in local-path-provisioner kube-proxy kube-scheduler kube-controller-manager kubelet; do
    stop_pidfile "$RUN_DIR/$d.pid" 10
  done
  kill_pod_processes
  if alive "$RUN_DIR/containerd.pid"; then
    local ctr=("$DEBS/usr/bin/ctr" --address "$RUN_DIR/containerd.sock" -n k8s.io) t
    for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
      "${ctr[@]}" tasks delete -f "$t" >/dev/null 2>&1 || true
    done
  fi
  for d in containerd kube-apiserver etcd registry; do stop_pidfile "$RUN_DIR/$d.pid" 15; done
  # Shims outlive containerd; theirs are the ones whose socket or bundle is under our state.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $RUN_DIR/containerd.sock" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  kill_pod_processes
  [ -x "$KBIN/kube-proxy" ] && "$KBIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  flush_kube_chains
  # Network namespaces the CNI plugin or containerd left (their veths go with them).
  local ns
  for ns in "$RUN_DIR"/containerd/io.containerd.grpc.v1.cri/netns/* /run/netns/cni-*; do
    [ -e "$ns" ] || continue
    umount "$ns" 2>/dev/null || true
    rm -f "$ns"
  done
  if [ -e "/sys/class/net/$BRIDGE" ]; then
    local veth
    for veth in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$veth" 2>/dev/null || true; done
    ip link del "$BRIDGE" || true
  fi
  unmount_under "$DATA"
  unmount_under "$RUN_DIR"
  remove_cgroups
  # Restore what the daemons changed on the host.
  if [ -f "$RUN_DIR/host-before" ]; then
    local kind a b
    while read -r kind a b; do
      [ "$kind" = sysctl ] && [ "$(sysctl -n "$a" 2>/dev/null)" != "$b" ] && sysctl -qw "$a=$b" >/dev/null 2>&1
    done <"$RUN_DIR/host-before"
    local p
    for p in "${HOST_PATHS[@]}"; do
      [ -e "$p" ] || continue
      grep -qx "path $p" "$RUN_DIR/host-before" || rm -rf "$p"
    done
  fi
  rm -rf "$DATA" "$RUN_DIR"
  [ "${1:-}" = quiet ] || log "cluster down in $((SECONDS - t0))s"
}

# image NAME DIR: builds DIR (its Dockerfile) with a throwaway buildkitd of the engine cache and
# pushes it to the cluster's registry as $REGISTRY/NAME; prints the pushed reference with digest.
cmd_image() {
  local name=${1:-} ctx=${2:-}
  [ -n "$name" ] && [ -f "$ctx/Dockerfile" ] || die "usage: k8s.sh image NAME[:TAG] DIR (DIR holds a Dockerfile)"
  is_up || die "the cluster is not up; run: bash test/engine/k8s.sh up"
  local work ok=0
  make_tmp work image
  printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$REGISTRY" >"$work/buildkitd.toml"
  setsid "$ENGINE_BIN/buildkitd" --root "$work/root" --addr "unix://$work/bk.sock" --config "$work/buildkitd.toml" \
    --otel-socket-path "$work/otel.sock" --oci-worker-net host >"$work/log" 2>&1 </dev/null &
  echo $! >"$work/pid"
  wait_for 60 "$ENGINE_BIN/buildctl" --addr "unix://$work/bk.sock" debug workers || ok=1
  [ "$ok" = 0 ] && { "$ENGINE_BIN/buildctl" --addr "unix://$work/bk.sock" build --frontend dockerfile.v0 \
    --local context="$ctx" --local dockerfile="$ctx" --metadata-file "$work/meta.json" \
    --output "type=image,name=$REGISTRY/$name,push=true,registry.insecure=true" >"$work/build.log" 2>&1 || ok=$?; }
  stop_pidfile "$work/pid"
  if [ "$ok" != 0 ]; then
    cat "$work/build.log" "$work/log" >&2 2>/dev/null || true
    rm -rf "$work"
    die "could not build $name from $ctx"
  fi
  local digest
  digest=$(sed -n 's/.*"containerimage.digest": *"\([^"]*\)".*/\1/p' "$work/meta.json")
  rm -rf "$work"
  echo "$REGISTRY/${name%%:*}@$digest"
}

cmd_status() {
  if is_up; then
    print_status
  else
    echo "the Kubernetes test cluster is not up; run: bash test/engine/k8s.sh up" >&2
    exit 1
  fi
}

# One `up` or `down` at a time on this machine.
# Closes every descriptor this script inherited past stdio (a caller's flock on the suite lock,
# say), so the daemons of `up` cannot hold it for as long as the cluster runs. 255 is bash's own
# handle on this script; 9 is opened by with_lock after this.
close_inherited_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    case $fd in 0 | 1 | 2 | 255) continue ;; esac
    eval "exec $fd>&-" 2>/dev/null || true
  done
}

with_lock() {
  close_inherited_fds
  mkdir -p "$K8S"
  exec 9>"$LOCK"
  flock -w 600 9 || die "another k8s.sh up/down has held $LOCK for 10 minutes"
  "$@"
}

[ "$(id -u)" = 0 ] || die "k8s.sh needs root (it runs a kubelet)"
case "${1:-}" in
install)
  case "${2:-all}" in
  all) install_all ;;
  bin) install_bin ;;
  debs) install_debs ;;
  provisioner) install_provisioner ;;
  images) install_images ;;
  *) die "unknown install step '$2'; use bin, debs, provisioner or images (or nothing for all)" ;;
  esac
  ;;
up) with_lock cmd_up ;;
down) with_lock teardown ;;
status) cmd_status ;;
env) cat "$ENV_FILE" ;;
image) cmd_image "${2:-}" "${3:-}" ;;
*) die "unknown command '${1:-}'; use install, up, status, down, env or image" ;;
esac
