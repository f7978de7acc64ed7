#!/usr/bin/env bash
# Copies the runnable application into DEST: package.json, bin/, the compiled daemon (dist/src)
# and the production dependencies only (no devDependencies, no type declarations, no native
# prebuilds for other platforms). Offline: it reads the installed node_modules through
# `npm ls --omit=dev`, it never downloads anything. Used by `make plugin` (rootfs /app) and
# `make install` (/usr/local/lib/ovs-container-network).
#
#   packaging/stage-app.sh DEST
set -euo pipefail

DEST=${1:?usage: stage-app.sh DEST}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

[ -f dist/src/cli.js ] || { echo "stage-app: dist/src/cli.js missing: run 'make build' first" >&2; exit 1; }
[ -d node_modules ] || { echo "stage-app: node_modules missing: run 'npm ci' first" >&2; exit 1; }

ARCH_DIR="linux-$(node -p process.arch)"
mkdir -p "$DEST"

# Every production package directory, relative to the repository (the root itself excluded).
mapfile -t PKGS < <(npm ls --omit=dev --all --parseable 2>/dev/null | sed "s|^$ROOT/\?||" | grep '^node_modules/' | sort -u)
[ "${#PKGS[@]}" -gt 0 ] || { echo "stage-app: npm ls found no production packages (is node_modules complete? run 'npm ci')" >&2; exit 1; }

LIST=$(mktemp)
trap 'rm -f "$LIST"' EXIT
{
  echo package.json
  find bin -type f
  find dist/src -type f -name '*.js'
  for p in "${PKGS[@]}"; do
    case "$p" in */@types/*) continue ;; esac # type declarations only: nothing runs them
    # the package's own files; its nested node_modules are listed as packages of their own
    find "$p" -path "$p/node_modules" -prune -o \( -type f -o -type l \) -print
  done
} | grep -Ev '\.(md|markdown|d\.ts|d\.mts|d\.cts|map|ts)$|/(test|tests|__tests__|docs?|example|examples|\.github)/|/(CHANGELOG|HISTORY|AUTHORS)[^/]*$' \
  | grep -Ev "/prebuilds/" >"$LIST" || true
# native prebuilds: only this machine's platform (the netlink package loads prebuilds/linux-x64)
find node_modules -path '*/prebuilds/*' -path "*/prebuilds/$ARCH_DIR/*" -type f | while read -r f; do
  for p in "${PKGS[@]}"; do case "$f" in "$p"/prebuilds/*) echo "$f"; break ;; esac; done
done >>"$LIST"

tar -C "$ROOT" --no-recursion -T "$LIST" -cf - | tar -C "$DEST" -xf -
chmod 0755 "$DEST/bin/"*

# Fails here, not at the first `docker network create`, if something the daemon requires is missing.
(cd "$DEST" && node -e "require('./dist/src/cli.js'); require('netlink')") \
  || { echo "stage-app: the staged application does not load" >&2; exit 1; }
