#!/usr/bin/env bash
# Installs what the plugin needs on a Debian/Ubuntu host (only what is missing), builds it, and
# starts Open vSwitch if it is not running. Used by `make run` and `.ci/run`.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(openvswitch-switch iptables iproute2 ethtool)
[ "${OCN_TEST_DEPS:-0}" = 1 ] && PKGS+=(ovn-central ovn-host docker.io busybox-static iperf3 nftables curl docker-compose python3 jq)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
  || { echo "setup: Node.js 20 or newer is required (Debian 12 ships 18: use NodeSource or nvm)"; exit 1; }
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json

if ! ovs-vsctl --timeout=5 show >/dev/null 2>&1; then
  echo "setup: starting Open vSwitch"
  /usr/share/openvswitch/scripts/ovs-ctl --no-monitor --system-id=random start
fi
