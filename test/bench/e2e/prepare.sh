#!/usr/bin/env bash
# Inputs of the end-to-end benchmark (npm run bench:e2e), prepared on the host once and cached
# outside the repository in $HOIST_BENCH_CACHE (default ~/.cache/hoist-bench). Builds never reach
# the network: everything a RUN step needs is in this cache and enters the build as context.
#
#   base/rootfs.tar      debootstrap --variant=minbase bookworm with python3, python3-venv, gcc,
#                        make, ccache and libc6-dev: the workloads' base image
#   wheels/              manylinux wheels for CPython 3.11 (bookworm's python3), downloaded with
#                        pip for requirements-v1.txt and requirements-v2.txt (the dependency change)
#   src/zlib/, src/lua/
#                        upstream sources of Debian's zlib and lua5.4 packages (apt-get
#                        source --download-only with a private apt state; the host's apt is untouched)
#
# Idempotent: each step is skipped when its marker file exists. Delete the directory to start over.
set -euo pipefail

CACHE=${HOIST_BENCH_CACHE:-$HOME/.cache/hoist-bench}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[bench-prepare %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
mkdir -p "$CACHE"

mirror() {
  if [ -n "${HOIST_DEBIAN_MIRROR:-}" ]; then
    echo "${HOIST_DEBIAN_MIRROR%/}"
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
  [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list*; set HOIST_DEBIAN_MIRROR"
  echo "${uri%/}"
}

prepare_base() {
  [ -f "$CACHE/base/rootfs.done" ] && return
  command -v debootstrap >/dev/null || die "debootstrap is missing: npm run engine installs it"
  local rootfs=$CACHE/base/rootfs.tmp
  mkdir -p "$CACHE/base"
  rm -rf "$rootfs"
  log "debootstrap bookworm + python3, python3-venv, gcc, make, ccache (a few minutes)"
  debootstrap --variant=minbase --include=python3,python3-venv,gcc,make,ccache,libc6-dev \
    bookworm "$rootfs" "$(mirror)" >"$CACHE/base/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE/base/debootstrap.log"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* "$rootfs"/dev/* \
    "$rootfs"/proc/* "$rootfs"/sys/* "$rootfs"/run/* "$rootfs"/tmp/*
  tar -C "$rootfs" --numeric-owner -cf "$CACHE/base/rootfs.tar.tmp" .
  mv -f "$CACHE/base/rootfs.tar.tmp" "$CACHE/base/rootfs.tar"
  rm -rf "$rootfs"
  touch "$CACHE/base/rootfs.done"
}

prepare_wheels() {
  [ -f "$CACHE/wheels.done" ] && return
  mkdir -p "$CACHE/wheels"
  local req
  for req in requirements-v1.txt requirements-v2.txt; do
    log "pip download the wheels of $req (CPython 3.11, manylinux x86_64)"
    python3 -m pip download --quiet --no-cache-dir --only-binary=:all: --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --python-version 3.11 \
      --implementation cp --abi cp311 --abi abi3 --abi none --dest "$CACHE/wheels" \
      -r "$HERE/workloads/python-api/$req"
  done
  touch "$CACHE/wheels.done"
}

prepare_sources() {
  [ -f "$CACHE/src.done" ] && return
  local apt=$CACHE/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$CACHE/src"
  printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm main\n' "$(mirror)" \
    >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
  log "apt-get update of a private deb-src list"
  apt-get "${opts[@]}" update -qq
  local pair pkg dir orig
  # source package:directory
  for pair in zlib:zlib lua5.4:lua; do
    pkg=${pair%%:*} dir=${pair#*:}
    log "apt-get source --download-only $pkg"
    (cd "$apt" && apt-get "${opts[@]}" source --download-only -qq "$pkg" >/dev/null)
    orig=$(ls "$apt"/"${pkg}"_*.orig.tar.* | grep -v '\.asc$' | head -n1)
    rm -rf "$CACHE/src/$dir"
    mkdir -p "$CACHE/src/$dir"
    tar -C "$CACHE/src/$dir" --strip-components=1 -xf "$orig"
  done
  touch "$CACHE/src.done"
}

prepare_sources
prepare_wheels
prepare_base
log "inputs ready in $CACHE"
