#!/bin/sh
# Hoist CLI launcher: runs the bundled CLI with the Node.js on PATH (Node 20 or later).
# Only shell built-ins until node, so that it works with any PATH; readlink only for a symlink.
self="$0"
while [ -h "$self" ]; do
  link=$(readlink "$self")
  case "$link" in
    /*) self="$link" ;;
    *) self="${self%/*}/$link" ;;
  esac
done
case "$self" in
  */*) dir="${self%/*}" ;;
  *) dir=. ;;
esac
if ! command -v node >/dev/null 2>&1; then
  echo "hoist: Node.js 20 or later must be on PATH (https://nodejs.org/)" >&2
  exit 127
fi
# Node parses every certificate in NODE_EXTRA_CA_CERTS before any JavaScript runs: tens of ms of
# each build with a large bundle there. For build and bake the CLI reads the file itself, only
# when it opens an https connection, and sets the variable again for what it runs.
case "${1:-}" in
  build | bake)
    if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
      HOIST_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
      export HOIST_NODE_EXTRA_CA_CERTS
      unset NODE_EXTRA_CA_CERTS
    fi
    ;;
esac
exec node "$dir/../lib/boot.js" "$@"
