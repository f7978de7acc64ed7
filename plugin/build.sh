#!/usr/bin/env bash
# Builds the managed (v2) plugin directory plugin/build/{config.json,rootfs/} and, unless
# --no-create is given, registers it with `docker plugin create` (no registry involved).
#
#   ROOTFS_FROM=host        (default) the rootfs is assembled from this machine: its Node runtime
#                           (/usr/bin/node + the libraries ldd lists + the dynamic loader), the
#                           built app with production node_modules, and the iptables binaries
#                           the daemon execs (xtables-nft-multi and xtables-legacy-multi, their
#                           libraries and extensions). Works without any image registry.
#   ROOTFS_FROM=dockerfile  `docker build` of the top-level Dockerfile (pulls a Node base image,
#                           NODE_IMAGE=... picks another), then `docker export` of a container of it.
#   PLUGIN_NAME             name for `docker plugin create` (default ovs-container-network; a tag
#                           :latest is implied; a registry prefix like 127.0.0.1:5000/ocn:1 is fine)
#   DOCKER                  docker CLI (default docker); DOCKER_HOST is honoured as usual
#   PLUGIN_BUILD_DIR        where to build (default plugin/build)
#   STRIP=0                 keep the debug symbols of the copied node binary (default: strip, -13 MB)
#
# Run through `make plugin` (which compiles first). Other forms:
#   plugin/build.sh --no-create     build plugin/build only
#   plugin/build.sh --rootfs DIR    only assemble a host-style rootfs in DIR (the Dockerfile's
#                                   build stage does this inside the Node image)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${PLUGIN_BUILD_DIR:-plugin/build}
ROOTFS=$BUILD/rootfs
ROOTFS_FROM=${ROOTFS_FROM:-host}
PLUGIN_NAME=${PLUGIN_NAME:-ovs-container-network}
DOCKER=${DOCKER:-docker}
CREATE=1
ONLY_ROOTFS=0
case "${1:-}" in
  --no-create) CREATE=0 ;;
  --rootfs) ONLY_ROOTFS=1; CREATE=0; ROOTFS_FROM=host; ROOTFS=${2:?--rootfs DIR}; BUILD= ;;
  "") ;;
  *) echo "usage: plugin/build.sh [--no-create | --rootfs DIR]" >&2; exit 2 ;;
esac

log() { echo "plugin: $*" >&2; }
die() { echo "plugin: $*" >&2; exit 1; }

# ------------------------------------------------------------------ rootfs from this host

# Copies a file to the same path below the rootfs, dereferencing symlinks.
put() {
  local src=$1 dst=${2:-$1}
  mkdir -p "$ROOTFS$(dirname "$dst")"
  cp -L --preserve=mode "$src" "$ROOTFS$dst"
}

# Copies an ELF binary's shared libraries (and the loader) as `ldd` resolves them on this host.
put_libs() {
  local f lib
  for f in "$@"; do
    ldd "$f" >/dev/null 2>&1 || continue # static, or not an ELF object
    while read -r lib; do
      [ -e "$ROOTFS$lib" ] || put "$lib"
    done < <(ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
  done
}

rootfs_from_host() {
  local node xt legacy nft extdir ofctl
  node=$(readlink -f "$(command -v node)") || die "node not found"
  nft=$(command -v xtables-nft-multi || true)
  legacy=$(command -v xtables-legacy-multi || true)
  [ -n "$nft" ] || die "xtables-nft-multi not found: apt-get install iptables"

  # the host's merged-/usr symlinks (/lib -> usr/lib, ...), so that ldd's paths land in one place
  local d
  for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
      mkdir -p "$ROOTFS/$(readlink "/$d")"
      ln -s "$(readlink "/$d")" "$ROOTFS/$d"
    fi
  done

  # Node: the same path as in the official node images, so config.json fits both rootfs kinds
  put "$node" /usr/local/bin/node
  if [ "${STRIP:-1}" = 1 ] && command -v strip >/dev/null; then strip "$ROOTFS/usr/local/bin/node"; fi
  put_libs "$node"

  # iptables: the daemon execs iptables-restore, ip6tables-restore, iptables, ip6tables
  put "$nft" /usr/sbin/xtables-nft-multi
  put_libs "$nft"
  [ -n "$legacy" ] && { put "$legacy" /usr/sbin/xtables-legacy-multi; put_libs "$legacy"; }
  extdir=$(dirname "$(ldd "$nft" | awk '/libxtables/ { print $3 }')")/xtables
  if [ -d "$extdir" ]; then
    mkdir -p "$ROOTFS$extdir"
    cp -L "$extdir"/*.so "$ROOTFS$extdir/"
    put_libs "$extdir"/*.so
  fi
  local t
  for t in iptables ip6tables iptables-restore ip6tables-restore iptables-save ip6tables-save; do
    ln -sf xtables-nft-multi "$ROOTFS/usr/sbin/$t"
  done

  # ovs-ofctl, only once the compiled daemon execs it (overlay networks' flow table)
  if grep -rqs "'ovs-ofctl'" dist/src && ofctl=$(command -v ovs-ofctl); then
    put "$ofctl" /usr/bin/ovs-ofctl
    put_libs "$ofctl"
  fi

  for f in /etc/protocols /etc/services /etc/nsswitch.conf; do [ -f "$f" ] && put "$f"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$ROOTFS/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
  : >"$ROOTFS/etc/hosts"
  : >"$ROOTFS/etc/resolv.conf"

  packaging/stage-app.sh "$ROOTFS/app"
}

# ------------------------------------------------------------------ rootfs from the Dockerfile

rootfs_from_dockerfile() {
  local tag=ovs-container-network-rootfs:build cid
  "$DOCKER" build ${NODE_IMAGE:+--build-arg NODE_IMAGE="$NODE_IMAGE"} -t "$tag" .
  cid=$("$DOCKER" create "$tag" /usr/local/bin/node --version)
  trap '"$DOCKER" rm -f "$cid" >/dev/null 2>&1 || true' RETURN
  "$DOCKER" export "$cid" | tar -C "$ROOTFS" -xf -
}

# ------------------------------------------------------------------ main

t0=$(date +%s.%N)
[ -n "$BUILD" ] && rm -rf "$BUILD/rootfs" "$BUILD/config.json"
[ -e "$ROOTFS" ] && [ -n "$(ls -A "$ROOTFS")" ] && die "$ROOTFS is not empty"
mkdir -p "$ROOTFS"
case "$ROOTFS_FROM" in
  host) rootfs_from_host ;;
  dockerfile) rootfs_from_dockerfile ;;
  *) die "ROOTFS_FROM=$ROOTFS_FROM: use host or dockerfile" ;;
esac

# the same in both kinds: entry point, iptables backend switch, mount points
install -m 0755 plugin/entrypoint.js "$ROOTFS/app/plugin-entrypoint.js"
for mode in nft legacy; do
  [ -e "$ROOTFS/usr/sbin/xtables-$mode-multi" ] || continue
  mkdir -p "$ROOTFS/usr/lib/ocn/xtables-$mode"
  for t in iptables ip6tables iptables-restore ip6tables-restore iptables-save ip6tables-save; do
    ln -sf "/usr/sbin/xtables-$mode-multi" "$ROOTFS/usr/lib/ocn/xtables-$mode/$t"
  done
done
mkdir -p "$ROOTFS"/{run/docker/plugins,var/run/openvswitch,proc,sys,dev,tmp,etc}
chmod 1777 "$ROOTFS/tmp"
[ -n "$BUILD" ] && cp config.json "$BUILD/config.json"

# The rootfs must start the daemon: check with the rootfs's own loader and libraries.
if [ "$ROOTFS_FROM" = host ]; then
  env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS chroot "$ROOTFS" /usr/local/bin/node -e 0 || die "the copied node does not run inside the rootfs"
  env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS chroot "$ROOTFS" /usr/local/bin/node /app/plugin-entrypoint.js --help >/dev/null \
    || die "the daemon does not start inside the rootfs (chroot $ROOTFS /usr/local/bin/node /app/plugin-entrypoint.js --help)"
  chroot "$ROOTFS" /usr/lib/ocn/xtables-nft/iptables-restore --version >/dev/null \
    || die "iptables-restore does not run inside the rootfs"
fi
size=$(du -sm "$ROOTFS" | cut -f1)
log "rootfs ($ROOTFS_FROM): ${size} MB in $ROOTFS ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"

[ "$CREATE" = 1 ] || exit 0

# ------------------------------------------------------------------ docker plugin create

full=$PLUGIN_NAME
case "${PLUGIN_NAME##*/}" in *:*) ;; *) full=$PLUGIN_NAME:latest ;; esac
if enabled=$("$DOCKER" plugin inspect -f '{{.Enabled}}' "$full" 2>/dev/null); then
  [ "$enabled" = false ] || die "$full exists and is enabled: 'docker plugin disable $full' (no network may use it) first"
  log "replacing the disabled plugin $full"
  "$DOCKER" plugin rm "$full" >/dev/null
fi
t0=$(date +%s.%N)
"$DOCKER" plugin create "$full" "$BUILD" >/dev/null
log "created $full ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s); next: docker plugin enable $full"
