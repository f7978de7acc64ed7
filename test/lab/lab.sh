#!/usr/bin/env bash
# test/lab/lab.sh - the project's multi-host Open vSwitch / OVN test lab, built from network
# namespaces on one machine (adapted from shared/lab/lab.sh and shared/lab/swarm-lab.sh).
#
# One lab = one LAB_ID. Everything of it lives under /tmp/ocn-lab-<LAB_ID>; every namespace it
# creates is named <prefix>-... (prefix default "ocnl" for LAB_ID=0, "ocnl<LAB_ID>" otherwise),
# so a lab never collides with another lab, with shared/lab/lab.sh (host1.., underlay, central)
# or with the system OVS (/var/run/openvswitch) / dockerd (/var/run/docker.sock), which are never
# touched. Nothing is created in the root network namespace. Every process it starts is tracked
# by pidfile (or lives in one of its namespaces) and 'down' kills exactly those, by PID.
#
#   host hK   netns <P>-hK: own ovsdb-server + ovs-vswitchd (userspace datapath, --disable-system),
#             br-phy (netdev) holding eth0 (the underlay wire) with 192.168.100.K on its internal
#             port, br-int (netdev). State dir /tmp/ocn-lab-<id>/hK (db.sock, pidfiles, logs).
#   underlay  netns <P>-ul: Linux bridge br-ul joining every host's eth0 (MTU 1600).
#   central   netns <P>-c (192.168.100.254): OVN NB (tcp 6641 + unix), SB (tcp 6642 + unix), northd.
#   dockerd   (dockerd-up HOST) a dockerd 20.10 in hK's netns + a private mount namespace in which
#             /run/docker/plugins IS /tmp/ocn-lab-<id>/hK/plugins (a plugin daemon started with
#             --plugin-dir <that dir> is discovered by it); see dockerd_start_script below.
#
# usage: lab.sh up N                  create/repair hosts h1..hN (idempotent, can grow)
#        lab.sh central-up            OVN NB + SB + northd in <P>-c
#        lab.sh controller-up HOST    ovn-controller on HOST (see LAB_CHASSIS)
#        lab.sh controller-down HOST
#        lab.sh ovn-up                central-up + controller-up on every host (+ wait-tunnels in lab mode)
#        lab.sh wait-chassis HOST [TIMEOUT_S]   wait until HOST's chassis is in the SB
#        lab.sh wait-tunnels [TIMEOUT_S]        full tunnel mesh + flows + nbctl --wait=hv sync
#        lab.sh ns-add NAME | ns-del NAME       extra netns <P>-NAME owned by the lab
#        lab.sh ctr-add HOST NAME CIDR|- [mac=M] [iface_id=LSP] [vlan=T] [gw=IP] [mtu=N] [br=BR]
#                                    netns <P>-NAME, eth0 <-> ve-NAME on HOST's br-int (tx off)
#        lab.sh ctr-del NAME
#        lab.sh bind HOST NAME LSP            external_ids:iface-id on ve-NAME
#        lab.sh dockerd-up HOST | dockerd-down HOST | docker HOST ARGS... | dockerd-nsx HOST CMD...
#        lab.sh vsctl|ofctl|appctl HOST ARGS...   (that host's OVS)
#        lab.sh ctl-appctl HOST ARGS...           (that host's ovn-controller)
#        lab.sh nbctl|sbctl|trace ARGS...         (central, over the unix sockets)
#        lab.sh exec HOST|NAME CMD...   lab.sh env HOST   lab.sh info   lab.sh status   lab.sh down
# HOST is hK, K or <P>-hK.
# env: LAB_ID=0 (a-z0-9, 1-12 chars)  LAB_PREFIX=ocnl[<id>]  LAB_ENCAP=geneve|vxlan
#      LAB_CHASSIS=lab|external  (recorded by the first 'up'; later values must agree)
#        lab:      controller-up writes system-id, ovn-remote, ovn-encap-type/-ip,
#                  ovn-bridge(-datapath-type) on the host's Open_vSwitch row (like shared/lab.sh)
#        external: no OVN key is written: the product's `ovs-container-network chassis setup`
#                  does it; controller-up only starts ovn-controller, which waits for them.
#      LAB_SYSTEM_ID=host|none  host (default): 'up' sets external_ids:system-id=hK like ovs-ctl
#                  does on a real host (hostname=hK is always set); none: no system-id.
#      LAB_NB_CLUSTER=1|3|5  OVN NB as one ovsdb-server (1, default) or a Raft cluster of that
#                  many members in <P>-c: member K>0 has ovnnb_db-K.{db,sock,pid,ctl}, client port
#                  6641+10K, raft port 6643+10K; nbctl and northd use every member.
#      LAB_OWNER_PID  recorded in <state>/owner (the TypeScript API sweeps labs of dead owners)
set -Eeuo pipefail
trap 'echo "[lab ${LAB_ID:-0}] ERROR: line $LINENO: $BASH_COMMAND (rc=$?)" >&2' ERR

LAB_ID=${LAB_ID:-0}
[[ "$LAB_ID" =~ ^[a-z0-9]{1,12}$ ]] || { echo "[lab] ERROR: LAB_ID must be 1-12 of [a-z0-9]" >&2; exit 2; }
ST=/tmp/ocn-lab-$LAB_ID
UL_NET=192.168.100                 # hK = $UL_NET.K, central = $UL_NET.254
UL_MTU=${LAB_UL_MTU:-1600}         # >= 1500 + 58: full 1500-byte overlay frames fit in geneve/vxlan
UL_BR=br-ul
CENTRAL_IP=$UL_NET.254
VS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
NB_SCHEMA=/usr/share/ovn/ovn-nb.ovsschema
SB_SCHEMA=/usr/share/ovn/ovn-sb.ovsschema
DOCKER=/usr/bin/docker; [ -x $DOCKER ] || DOCKER=docker   # Debian's 20.10 CLI

log() { echo "[lab $LAB_ID] $*" >&2; }
die() { echo "[lab $LAB_ID] ERROR: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# Settings recorded at the first 'up' (so that every later command agrees with it).
setting() {  # name env-value default
  local f=$ST/$1 v=${2:-}
  if [ -s "$f" ]; then
    [ -z "$v" ] || [ "$v" = "$(cat "$f")" ] || die "lab $LAB_ID was created with $1=$(cat "$f"), not $v"
    cat "$f"
  else echo "${v:-$3}"; fi
}
P=$(setting prefix "${LAB_PREFIX:-}" "$([ "$LAB_ID" = 0 ] && echo ocnl || echo "ocnl$LAB_ID")")
ENCAP=$(setting encap "${LAB_ENCAP:-}" geneve)
CHASSIS=$(setting chassis "${LAB_CHASSIS:-}" lab)
SYSID=$(setting sysid "${LAB_SYSTEM_ID:-}" host)
NBC=$(setting nbcluster "${LAB_NB_CLUSTER:-}" 1)
[[ "$P" =~ ^[A-Za-z0-9_.]{1,40}$ ]] || die "bad prefix '$P'"
[[ "$ENCAP" =~ ^(geneve|vxlan)$ ]] || die "LAB_ENCAP must be geneve or vxlan"
[[ "$CHASSIS" =~ ^(lab|external)$ ]] || die "LAB_CHASSIS must be lab or external"
[[ "$SYSID" =~ ^(host|none)$ ]] || die "LAB_SYSTEM_ID must be host or none"
[[ "$NBC" =~ ^[135]$ ]] || die "LAB_NB_CLUSTER must be 1, 3 or 5"
UL_NS=$P-ul
CENTRAL_NS=$P-c
CDIR=$ST/central
save_settings() { mkdir -p "$ST"; echo "$P" > "$ST/prefix"; echo "$ENCAP" > "$ST/encap"; echo "$CHASSIS" > "$ST/chassis"; echo "$SYSID" > "$ST/sysid"; echo "$NBC" > "$ST/nbcluster"
                  [ -z "${LAB_OWNER_PID:-}" ] || echo "$LAB_OWNER_PID" > "$ST/owner"; }

# ------------------------------------------------------------------ process helpers
# GOTCHA: PID 1 here reaps orphans lazily: a killed daemon stays a zombie for ~1-2 s and
# 'kill -0' still succeeds. Treat zombies as dead.
alive() { local s; s=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null) || return 1; [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; }
pid_alive() {  # pidfile [expected-comm]  (never trust a stale pidfile blindly)
  local f=$1 want=${2:-} pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  [ -z "$want" ] || grep -q -- "$want" "/proc/$pid/comm" 2>/dev/null
}
kill_pids() {  # TERM the given PIDs (ours), wait up to 5 s, then KILL the survivors
  local p i left
  [ $# -gt 0 ] || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 50); do
    left=""; for p in "$@"; do alive "$p" && left+=" $p"; done
    [ -z "$left" ] && return 0; sleep 0.1
  done
  for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
  for i in $(seq 50); do
    left=""; for p in "$@"; do alive "$p" && left+=" $p"; done
    [ -z "$left" ] && return 0; sleep 0.1
  done
}
kill_pidfiles() { local f pids=(); for f in "$@"; do pid_alive "$f" && pids+=("$(cat "$f")"); done
                  kill_pids "${pids[@]}"; rm -f "$@"; }

# ------------------------------------------------------------------ netns helpers
ns_exists() { [ -e "/run/netns/$1" ]; }
ns_owned()  { grep -qx -- "$1" "$ST/netns.list" 2>/dev/null; }
locked() { mkdir -p "$ST"; ( flock 9; "$@" ) 9>"$ST/.lock"; }   # serialise edits of the lists
ns_record() { ns_owned "$1" || echo "$1" >> "$ST/netns.list"; }
ns_unrecord() { sed -i "/^$1\$/d" "$ST/netns.list" 2>/dev/null || true; }
ns_add() {   # create a netns we own and record it; 'down' only ever deletes recorded ones
  local ns=$1
  mkdir -p "$ST"; touch "$ST/netns.list"
  if ! ns_exists "$ns"; then locked ns_record "$ns"; ip netns add "$ns"
  elif ! ns_owned "$ns"; then die "netns '$ns' exists but was not created by lab $LAB_ID - refusing to use it"; fi
  ip -n "$ns" link set lo up
  # quiet lab: no IPv6 RS/MLD/DAD chatter on the links
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}
ns_del() {  # kill every process inside a netns WE created (by PID), then delete it
  local ns=$1
  ns_owned "$ns" || { log "refusing to touch netns '$ns' (not created by lab $LAB_ID)"; return 0; }
  if ns_exists "$ns"; then
    # shellcheck disable=SC2046
    kill_pids $(ip netns pids "$ns" 2>/dev/null)
    ip netns del "$ns" 2>/dev/null || true
  fi
  locked ns_unrecord "$ns"
}
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ------------------------------------------------------------------ names
nhosts() { cat "$ST/nhosts" 2>/dev/null || echo 0; }
hidx() {   # hK | K | <P>-hK -> K (and it must exist unless $2=any)
  local h=${1#"$P"-} i
  i=${h#h}
  [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] || die "bad host '$1' (hK, K or $P-hK)"
  [ "${2:-}" = any ] || [ "$i" -le "$(nhosts)" ] || die "no such host '$1' (lab $LAB_ID has $(nhosts))"
  echo "$i"
}
hname() { echo "h$(hidx "$1" "${2:-}")"; }
hns()   { echo "$P-h$(hidx "$1" "${2:-}")"; }
hdir()  { echo "$ST/h$(hidx "$1" "${2:-}")"; }
cname_ok() { [[ "$1" =~ ^[a-z0-9][a-z0-9_-]{0,11}$ ]] && ! [[ "$1" =~ ^(h[0-9]+|ul|c)$ ]] \
             || die "bad name '$1' (1-12 of [a-z0-9_-], not hK/ul/c)"; }
anyns() {  # HOST or extra NAME -> netns
  if [[ "$1" =~ ^[0-9]+$ ]] || [[ "${1#"$P"-}" =~ ^h[0-9]+$ ]]; then hns "$1"
  elif [ "$1" = ul ] || [ "$1" = "$UL_NS" ]; then echo "$UL_NS"
  elif [ "$1" = c ] || [ "$1" = "$CENTRAL_NS" ]; then echo "$CENTRAL_NS"
  else echo "$P-${1#"$P"-}"; fi
}

# ------------------------------------------------------------------ OVS per host
# Explicit --db/--pidfile/--unixctl/--log-file everywhere, plus OVS_*/OVN_* env so that every
# implicit default (bridge .mgmt sockets, .ctl sockets, conf.db, system-id.conf) points into the
# host's dir instead of the system OVS in /var/run/openvswitch.
ovs_env() { local d; d=$(hdir "$1" any); echo "OVS_RUNDIR=$d OVS_DBDIR=$d OVS_LOGDIR=$d OVS_SYSCONFDIR=$d/etc OVN_RUNDIR=$d OVN_LOGDIR=$d OVN_DBDIR=$d OVN_SYSCONFDIR=$d/etc"; }
# shellcheck disable=SC2046
vsctl()  { local h=$1 d; shift; d=$(hdir "$h" any); env $(ovs_env "$h") ovs-vsctl --db="unix:$d/db.sock" --timeout=30 "$@"; }
# shellcheck disable=SC2046
ofctl()  { local h=$1; shift; env $(ovs_env "$h") ovs-ofctl "$@"; }   # bridge name -> $OVS_RUNDIR/BR.mgmt
appctl() { local h=$1; shift; ovs-appctl -t "$(hdir "$h" any)/ovs-vswitchd.ctl" "$@"; }
ctl_appctl() { local h=$1 d; shift; d=$(hdir "$h"); pid_alive "$d/ovn-controller.pid" || die "no ovn-controller on $h"
               ovs-appctl -t "$d/ovn-controller.$(cat "$d/ovn-controller.pid").ctl" "$@"; }

start_ovs() {
  local h=$1 d ns; d=$(hdir "$h" any); ns=$(hns "$h" any)
  mkdir -p "$d/etc" "$d/plugins"
  [ -f "$d/conf.db" ] || ovsdb-tool create "$d/conf.db" "$VS_SCHEMA"
  if ! pid_alive "$d/ovsdb-server.pid" ovsdb-server; then
    # shellcheck disable=SC2046
    nsx "$ns" env $(ovs_env "$h") ovsdb-server "$d/conf.db" \
      --remote="punix:$d/db.sock" --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
      --pidfile="$d/ovsdb-server.pid" --unixctl="$d/ovsdb-server.ctl" \
      --log-file="$d/ovsdb-server.log" -vconsole:off -vfile:info --detach --no-chdir 2>/dev/null
  fi
  vsctl "$h" --no-wait init
  vsctl "$h" --no-wait set Open_vSwitch . external_ids:hostname="$(hname "$h" any)"
  # system-id=hK from the start, as `ovs-ctl --system-id=hK start` leaves it on a machine named hK
  # (LAB_SYSTEM_ID=none: no system-id at all; mind that every lab host has the SAME uname
  # hostname, so a fallback to gethostname() gives all hosts one chassis name)
  [ "$SYSID" = none ] || vsctl "$h" --no-wait set Open_vSwitch . external_ids:system-id="$(hname "$h" any)"
  if ! pid_alive "$d/ovs-vswitchd.pid" ovs-vswitchd; then
    # --disable-system: only the userspace (netdev) dpif; no probing for the missing kernel module
    # shellcheck disable=SC2046
    nsx "$ns" env $(ovs_env "$h") ovs-vswitchd "unix:$d/db.sock" --disable-system \
      --pidfile="$d/ovs-vswitchd.pid" --unixctl="$d/ovs-vswitchd.ctl" \
      --log-file="$d/ovs-vswitchd.log" -vconsole:off -vfile:info --detach --no-chdir 2>/dev/null
  fi
}

vtep_mac() { printf '02:00:c0:a8:64:%02x' "$1"; }   # deterministic br-phy MAC of hK

setup_host() {
  local i=$1 h ns ip mac
  h=h$i; ns=$P-h$i; ip=$UL_NET.$i; mac=$(vtep_mac "$i")
  ns_add "$ns"
  # GOTCHA: a port of a userspace bridge is still a live kernel netdev (AF_PACKET only taps
  # it). With arp_ignore=0 the kernel answers ARP for br-phy's IP on eth0 too, with eth0's MAC.
  nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.default.arp_ignore=1 >/dev/null
  # underlay wire: ul-hK (underlay netns, enslaved to br-ul) <-> eth0 (host netns)
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip -n "$UL_NS" link del "ul-h$i" 2>/dev/null || true
    ip -n "$UL_NS" link add "ul-h$i" mtu "$UL_MTU" type veth peer name eth0 netns "$ns"
  fi
  ip -n "$UL_NS" link set "ul-h$i" master "$UL_BR" mtu "$UL_MTU" up
  ip -n "$ns" link set eth0 mtu "$UL_MTU" arp off up
  start_ovs "$h"
  # GOTCHA (userspace tunnelling): OVS routes tunnel packets itself (ovs/route/show, learnt
  # from the netns' table) and the route's device MUST be an OVS bridge port: the underlay NIC
  # goes into br-phy and the IP sits on br-phy's internal port - NOT on eth0.
  vsctl "$h" --may-exist add-br br-phy -- set Bridge br-phy datapath_type=netdev \
        other_config:hwaddr="$mac" fail_mode=standalone \
     -- --may-exist add-port br-phy eth0 \
     -- set Interface br-phy mtu_request="$UL_MTU"
  ip -n "$ns" link set br-phy up             # netdev internal ports = taps, created DOWN
  ip -n "$ns" addr replace "$ip/24" dev br-phy
  vsctl "$h" --may-exist add-br br-int -- set Bridge br-int datapath_type=netdev \
        other_config:hwaddr="$(printf '02:00:00:00:ff:%02x' "$i")"
  ip -n "$ns" link set br-int up
  # GOTCHA: netdev internal ports are persistent taps that keep their offload flags; the
  # kernel's TCP via br-phy (ovn-controller -> SB, daemon -> NB) breaks with tx checksumming on.
  if [ "$(vsctl "$h" --if-exists get Open_vSwitch . other_config:userspace-tso-enable)" != '"true"' ]; then
    nsx "$ns" ethtool -K br-phy tx off >/dev/null; nsx "$ns" ethtool -K br-int tx off >/dev/null
  fi
}

# GOTCHA: OVS' userspace tunnel code keeps its OWN neighbour cache (tnl/neigh) and does not
# learn from the kernel's ARP; the first overlay packet towards a new VTEP is dropped while OVS
# ARPs. VTEP MACs are deterministic here, so every host's cache is pre-seeded.
seed_neigh() {
  local n=$1 i j
  for i in $(seq 1 "$n"); do for j in $(seq 1 "$n"); do
    [ "$i" = "$j" ] || appctl "h$i" tnl/neigh/set br-phy "$UL_NET.$j" "$(vtep_mac "$j")" >/dev/null
  done; done
}

cmd_up() {
  local n=${1:-2} i pids=() rc=0
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "usage: up N (1..200)"
  need_root
  command -v ethtool >/dev/null || die "ethtool missing (apt-get install ethtool)"
  save_settings
  ns_add "$UL_NS"
  # br_netfilter: keep bridged underlay frames out of iptables in our netns
  nsx "$UL_NS" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
      net.bridge.bridge-nf-call-arptables=0 >/dev/null 2>&1 || true
  ip -n "$UL_NS" link show "$UL_BR" >/dev/null 2>&1 || \
    ip -n "$UL_NS" link add "$UL_BR" mtu "$UL_MTU" type bridge stp_state 0 forward_delay 0
  ip -n "$UL_NS" link set "$UL_BR" mtu "$UL_MTU" up
  [ "$(nhosts)" -gt "$n" ] && n=$(nhosts)   # never shrink silently
  echo "$n" > "$ST/nhosts.new"
  # hosts are independent: set them up in parallel
  for i in $(seq 1 "$n"); do setup_host "$i" > "$ST/up-h$i.log" 2>&1 & pids+=($!); done
  for i in $(seq 1 "$n"); do
    wait "${pids[$((i-1))]}" || { rc=1; log "host h$i failed: $(tail -3 "$ST/up-h$i.log" | tr '\n' ' ')"; }
  done
  [ $rc = 0 ] || die "up failed"
  mv "$ST/nhosts.new" "$ST/nhosts"
  rm -f "$ST"/up-h*.log
  seed_neigh "$n"
  # if OVN central is up, (re)start controllers on every host (new hosts join automatically)
  if pid_alive "$CDIR/ovnsb_db.pid"; then
    for i in $(seq 1 "$n"); do start_controller "h$i"; done
  fi
  log "up: $n hosts ready"
}

# ------------------------------------------------------------------ containers
cmd_ns_add() { cname_ok "$1"; ns_add "$P-$1"; }
cmd_ns_del() { cname_ok "$1"; ns_del "$P-$1"; }

cmd_ctr_add() {
  [ $# -ge 3 ] || die "usage: ctr-add HOST NAME CIDR|- [mac=] [iface_id=] [vlan=] [gw=] [mtu=] [br=]"
  local h c=$2 cidr=$3 ns hns_; h=$(hname "$1"); hns_=$(hns "$1"); shift 3
  local mac="" vlan="" br=br-int gw="" mtu=1500 iface_id="" kv
  for kv in "$@"; do case $kv in
    mac=*) mac=${kv#mac=};; vlan=*) vlan=${kv#vlan=};; br=*) br=${kv#br=};; gw=*) gw=${kv#gw=};;
    mtu=*) mtu=${kv#mtu=};; iface_id=*) iface_id=${kv#iface_id=};;
    *) die "unknown option $kv";; esac; done
  cname_ok "$c"; ns=$P-$c
  local hv="ve-$c"
  ns_add "$ns"
  if ! ip -n "$hns_" link show "$hv" >/dev/null 2>&1; then
    ip -n "$ns" link del eth0 2>/dev/null || true
    ip -n "$hns_" link add "$hv" mtu "$mtu" type veth peer name eth0 netns "$ns"
  fi
  [ -n "$mac" ] && ip -n "$ns" link set eth0 address "$mac"
  ip -n "$ns" link set eth0 mtu "$mtu" up
  ip -n "$hns_" link set "$hv" mtu "$mtu" up
  # GOTCHA: a veth hands TCP/UDP over with CHECKSUM_PARTIAL; the userspace datapath re-sends
  # it unfixed and the receiver drops it (ping works, TCP never connects): tx off on both ends.
  nsx "$ns" ethtool -K eth0 tx off >/dev/null
  nsx "$hns_" ethtool -K "$hv" tx off >/dev/null
  [ "$cidr" = - ] || ip -n "$ns" addr replace "$cidr" dev eth0
  [ -z "$gw" ] || ip -n "$ns" route replace default via "$gw"
  local extra=()
  [ -z "$vlan" ] || extra+=(-- set Port "$hv" tag="$vlan")
  [ -z "$iface_id" ] || extra+=(-- set Interface "$hv" external_ids:iface-id="$iface_id")
  vsctl "$h" --may-exist add-port "$br" "$hv" -- set Interface "$hv" external_ids:lab-ctr="$c" "${extra[@]}"
  locked ctr_record "$h $c"
}
ctr_record() { grep -qx "$1" "$ST/ctrs.list" 2>/dev/null || echo "$1" >> "$ST/ctrs.list"; }
ctr_unrecord() { sed -i "/ $1\$/d" "$ST/ctrs.list" 2>/dev/null || true; }
cmd_ctr_del() {
  local c=$1 h
  cname_ok "$c"
  h=$(awk -v c="$c" '$2==c{print $1}' "$ST/ctrs.list" 2>/dev/null | tail -1)
  if [ -n "$h" ]; then vsctl "$h" --if-exists del-port "ve-$c" || true; fi
  ns_del "$P-$c"
  locked ctr_unrecord "$c"
}
cmd_bind() { vsctl "$1" set Interface "ve-$2" external_ids:iface-id="$3"; }

# ------------------------------------------------------------------ OVN
# NB member K's file stem (member 0 keeps the standalone names) and every member's unix remote
nb_stem() { [ "$1" = 0 ] && echo "$CDIR/ovnnb_db" || echo "$CDIR/ovnnb_db-$1"; }
nb_remotes() { local k r=""; for k in $(seq 0 $((NBC - 1))); do r+="${r:+,}unix:$(nb_stem "$k").sock"; done; echo "$r"; }
nbctl() { ovn-nbctl --db="$(nb_remotes)" --timeout=30 "$@"; }
sbctl() { ovn-sbctl --db="unix:$CDIR/ovnsb_db.sock" --timeout=30 "$@"; }

cmd_central_up() {
  local db port schema
  need_root
  [ -d "$ST" ] && ns_owned "$UL_NS" || die "run 'up N' first"
  mkdir -p "$CDIR"
  ns_add "$CENTRAL_NS"
  if ! ip -n "$CENTRAL_NS" link show eth0 >/dev/null 2>&1; then
    ip -n "$UL_NS" link del ul-c 2>/dev/null || true
    ip -n "$UL_NS" link add ul-c mtu "$UL_MTU" type veth peer name eth0 netns "$CENTRAL_NS"
  fi
  ip -n "$UL_NS" link set ul-c master "$UL_BR" mtu "$UL_MTU" up
  ip -n "$CENTRAL_NS" link set eth0 mtu "$UL_MTU" up
  ip -n "$CENTRAL_NS" addr replace "$CENTRAL_IP/24" dev eth0
  # GOTCHA: central's OVSDB/TCP enters every host through br-phy (userspace) -> tx off here too
  nsx "$CENTRAL_NS" ethtool -K eth0 tx off >/dev/null
  [ "$NBC" = 1 ] || nb_cluster_up
  for db in nb sb; do
    [ $db = nb ] && [ "$NBC" != 1 ] && continue
    if [ $db = nb ]; then port=6641; schema=$NB_SCHEMA; else port=6642; schema=$SB_SCHEMA; fi
    [ -f "$CDIR/ovn${db}_db.db" ] || ovsdb-tool create "$CDIR/ovn${db}_db.db" "$schema"
    pid_alive "$CDIR/ovn${db}_db.pid" ovsdb-server || \
      nsx "$CENTRAL_NS" env OVS_RUNDIR="$CDIR" OVN_RUNDIR="$CDIR" OVS_DBDIR="$CDIR" OVS_LOGDIR="$CDIR" \
        ovsdb-server "$CDIR/ovn${db}_db.db" \
        --remote="punix:$CDIR/ovn${db}_db.sock" --remote="ptcp:$port:$CENTRAL_IP" \
        --pidfile="$CDIR/ovn${db}_db.pid" --unixctl="$CDIR/ovn${db}_db.ctl" \
        --log-file="$CDIR/ovn${db}_db.log" -vconsole:off --detach --no-chdir 2>/dev/null
  done
  nbctl --no-wait init
  pid_alive "$CDIR/ovn-northd.pid" ovn-northd || \
    nsx "$CENTRAL_NS" env OVS_RUNDIR="$CDIR" OVN_RUNDIR="$CDIR" ovn-northd \
      --ovnnb-db="$(nb_remotes)" --ovnsb-db="unix:$CDIR/ovnsb_db.sock" \
      --pidfile="$CDIR/ovn-northd.pid" --unixctl="$CDIR/ovn-northd.ctl" \
      --log-file="$CDIR/ovn-northd.log" -vconsole:off --detach --no-chdir 2>/dev/null
  log "central-up: NB tcp:$CENTRAL_IP:6641 unix:$CDIR/ovnnb_db.sock, SB tcp:$CENTRAL_IP:6642 unix:$CDIR/ovnsb_db.sock"
}

# NB as a Raft cluster (as OVN's sandbox builds one): member 0 creates it, the others join; every
# member not running is started (so central-up also restarts a killed member on its database).
nb_cluster_up() {
  local k stem raft0="tcp:$CENTRAL_IP:6643"
  for k in $(seq 0 $((NBC - 1))); do
    stem=$(nb_stem "$k")
    if [ ! -f "$stem.db" ]; then
      if [ "$k" = 0 ]; then ovsdb-tool create-cluster "$stem.db" "$NB_SCHEMA" "$raft0"
      else ovsdb-tool join-cluster "$stem.db" OVN_Northbound "tcp:$CENTRAL_IP:$((6643 + 10 * k))" "$raft0"; fi
    fi
    pid_alive "$stem.pid" ovsdb-server || \
      nsx "$CENTRAL_NS" env OVS_RUNDIR="$CDIR" OVN_RUNDIR="$CDIR" OVS_DBDIR="$CDIR" OVS_LOGDIR="$CDIR" \
        ovsdb-server "$stem.db" --remote="punix:$stem.sock" --remote="ptcp:$((6641 + 10 * k)):$CENTRAL_IP" \
        --pidfile="$stem.pid" --unixctl="$stem.ctl" --log-file="$stem.log" -vconsole:off --detach --no-chdir 2>/dev/null
  done
  # members just (re)started elect first: ovn-nbctl (leader only) fails at once without a leader
  for k in $(seq 300); do
    for stem in $(for k in $(seq 0 $((NBC - 1))); do nb_stem "$k"; done); do
      ovs-appctl -t "$stem.ctl" cluster/status OVN_Northbound 2>/dev/null | grep -qx 'Role: leader' && return 0
    done
    sleep 0.1
  done
  die "NB cluster: no leader within 30 s"
}

start_controller() {
  local h=$1 i d ns; i=$(hidx "$h"); h=h$i; d=$(hdir "$h"); ns=$(hns "$h")
  if [ "$CHASSIS" = lab ]; then
    # GOTCHA: ovn-bridge-datapath-type=netdev is mandatory: without it ovn-controller (re)creates
    # br-int as datapath_type=system, which ovs-vswitchd here rejects.
    vsctl "$h" set Bridge br-int fail_mode=secure other_config:disable-in-band=true \
      -- set Open_vSwitch . external_ids:system-id="$h" external_ids:hostname="$h" \
         external_ids:ovn-remote="tcp:$CENTRAL_IP:6642" \
         external_ids:ovn-encap-type="$ENCAP" external_ids:ovn-encap-ip="$UL_NET.$i" \
         external_ids:ovn-bridge=br-int external_ids:ovn-bridge-datapath-type=netdev
  fi
  # GOTCHA: ovn-controller defaults to the SYSTEM OVS (/var/run/openvswitch/db.sock and
  # br-int.mgmt): pass the db and export OVS_RUNDIR. 23.03 has no --unixctl: its control socket
  # is $OVN_RUNDIR/ovn-controller.<pid>.ctl.
  if ! pid_alive "$d/ovn-controller.pid" ovn-controller; then
    # shellcheck disable=SC2046
    nsx "$ns" env $(ovs_env "$h") ovn-controller "unix:$d/db.sock" \
      --pidfile="$d/ovn-controller.pid" \
      --log-file="$d/ovn-controller.log" -vconsole:off -vfile:info --detach --no-chdir 2>/dev/null
  fi
}

cmd_controller_down() {
  local h; h=$(hname "$1")
  kill_pidfiles "$(hdir "$h")/ovn-controller.pid"
}

# the chassis name: external_ids:system-id (or the system-id.conf file ovs-ctl would write)
system_id() {
  local s; s=$(vsctl "$1" --if-exists get Open_vSwitch . external_ids:system-id 2>/dev/null | tr -d '"') || true
  [ -n "$s" ] || s=$(cat "$(hdir "$1")/etc/system-id.conf" 2>/dev/null) || true
  echo "$s"
}

cmd_wait_chassis() {
  local h=$1 t=${2:-30} end s; h=$(hname "$h")
  end=$((SECONDS + t))
  while [ $SECONDS -lt "$end" ]; do
    s=$(system_id "$h")
    if [ -n "$s" ] && [ -n "$(sbctl --bare --columns=_uuid find Chassis name="$s" 2>/dev/null)" ]; then
      echo "$s"; return 0; fi
    pid_alive "$(hdir "$h")/ovn-controller.pid" || die "ovn-controller of $h is not running"
    sleep 0.1
  done
  die "chassis of $h (system-id '${s:-}') not registered in the SB within ${t}s"
}

# Every running controller has a tunnel to every other chassis in the SB, its br-int has OVN's
# flows, and the hypervisors caught up with NB (nbctl --wait=hv sync).
cmd_wait_tunnels() {
  local t=${1:-60} end i n want c hosts=() ok
  end=$((SECONDS + t))
  for i in $(seq 1 "$(nhosts)"); do pid_alive "$ST/h$i/ovn-controller.pid" && hosts+=("$i"); done
  [ ${#hosts[@]} -gt 0 ] || die "no ovn-controller running"
  # two hosts with one system-id fight over one chassis forever: say so instead of timing out
  c=$(for i in "${hosts[@]}"; do system_id "h$i"; done | sort | uniq -d | tr '\n' ' ')
  [ -z "${c// }" ] || die "several hosts have system-id '$c' (one chassis name for all: the mesh never completes)"
  while :; do
    ok=1
    n=$(sbctl --bare --columns=name list Chassis | grep -c . || true)
    want=$((n - 1))
    [ "$n" -ge "${#hosts[@]}" ] || ok=0
    for i in "${hosts[@]}"; do
      [ $ok = 1 ] || break
      c=$(vsctl "h$i" --format=csv --no-headings --columns=name,type list Interface | grep -cE '^ovn-.*,"?(geneve|vxlan|stt)"?$' || true)
      [ "$c" -ge "$want" ] || { ok=0; break; }
      c=$(ofctl "h$i" dump-aggregate br-int 2>/dev/null | sed -n 's/.*flow_count=\([0-9]*\).*/\1/p')
      [ "${c:-0}" -ge 5 ] || ok=0
    done
    [ $ok = 1 ] && break
    [ $SECONDS -lt "$end" ] || die "tunnel mesh not complete within ${t}s (chassis: $n, running controllers: ${hosts[*]})"
    sleep 0.1
  done
  nbctl --wait=hv --timeout="$t" sync
}

cmd_ovn_up() {
  local n i; n=$(nhosts); [ "$n" -ge 1 ] || die "run 'up N' first"
  cmd_central_up
  for i in $(seq 1 "$n"); do start_controller "h$i"; done
  if [ "$CHASSIS" = lab ]; then
    for i in $(seq 1 "$n"); do cmd_wait_chassis "h$i" 30 >/dev/null; done
    cmd_wait_tunnels 60
  fi
  log "ovn-up: central + $n ovn-controllers running"
}

# ------------------------------------------------------------------ dockerd inside a lab host
# A dockerd 20.10 in the host's netns and in a private mount namespace (slave of /), in which
# Docker's default paths are bind-mounted over so they are private to the host:
#   /run/docker (exec-root) <- <hostdir>/docker/exec     /etc/docker <- <hostdir>/docker/etc
#   /run/docker/plugins     <- <hostdir>/plugins  (the lab host's plugin dir: a daemon started
#                              with --plugin-dir <hostdir>/plugins is discovered by this dockerd)
#   /var/lib/docker, /run/containerd <- private dirs (when they exist on the machine)
#   /run/openvswitch        <- <hostdir> (the host's own OVS: db.sock, br-int.mgmt)
#   /sys                    <- sysfs of the host netns (cgroup mounts re-attached)
# LAB_DOCKERD_EXEC_ROOT=lab passes --exec-root <hostdir>/docker/exec (the same directory by its
# lab path): sandbox keys (<exec-root>/netns/<id>) then name a file that a plugin daemon outside
# the dockerd's mount namespace sees too, as a host's daemon sees its dockerd's.
# --data-root is <hostdir>/docker/root itself (so container mounts name the lab dir), API
# socket <hostdir>/docker/docker.sock, --iptables=false --bridge=none, containers under the
# cgroup parent /<P>-hK (how 'down' finds container processes).
dockerd_start_script() {
  cat <<'EOS'
set -eu
D=$1; HD=$2; HN=$3; CG=$4; LL=$5; ER=$6
same() { [ "$(stat -c %d:%i "$1")" = "$(stat -c %d:%i "$2")" ]; }
mkdir -p "$D/cg" "$D/root" "$D/exec/plugins" "$D/ctrd" "$D/etc" "$D/varlib"
# netns-local sysfs (else dockerd sees the root namespace's links), keeping the cgroup mounts
mount --rbind /sys/fs/cgroup "$D/cg"
umount -l /sys
mount -t sysfs sysfs /sys
mount --rbind "$D/cg" /sys/fs/cgroup
umount -l "$D/cg"
mount --bind "$D/exec" /run/docker
mount --bind "$HD/plugins" /run/docker/plugins
[ -d /var/lib/docker ] && mount --bind "$D/varlib" /var/lib/docker
[ -d /run/containerd ] && mount --bind "$D/ctrd" /run/containerd
[ -d /etc/docker ] && mount --bind "$D/etc" /etc/docker       # own key.json = own engine ID
[ -d /run/openvswitch ] && mount --bind "$HD" /run/openvswitch
same /run/docker "$D/exec" && same /run/docker/plugins "$HD/plugins" || { echo "bind mounts missing" >&2; exit 1; }
[ ! -d /run/openvswitch ] || same /run/openvswitch "$HD" || exit 1
hostname "$HN"
readlink /proc/self/ns/mnt > "$D/mntns"
echo '{}' > "$D/daemon.json"
exec dockerd --config-file "$D/daemon.json" -H "unix://$D/docker.sock" --pidfile "$D/dockerd.pid" \
  --data-root "$D/root" --exec-root "$ER" --cgroup-parent "/$CG" \
  --iptables=false --ip6tables=false --ip-masq=false --bridge=none --userland-proxy=false --log-level="$LL"
EOS
}

docker_sock() { echo "$(hdir "$1")/docker/docker.sock"; }
dk() { local h=$1; shift; $DOCKER -H "unix://$(docker_sock "$h")" "$@"; }
dockerd_pid() { pid_alive "$(hdir "$1")/docker/dockerd.pid" dockerd && cat "$(hdir "$1")/docker/dockerd.pid"; }

cmd_dockerd_up() {
  local h i d hd ns t
  need_root; command -v dockerd >/dev/null || die "dockerd missing (apt-get install docker.io)"
  h=$(hname "$1"); i=$(hidx "$h"); hd=$(hdir "$h"); d=$hd/docker; ns=$(hns "$h")
  mkdir -p "$d" "$hd/plugins"
  if ! dockerd_pid "$h" >/dev/null; then
    rm -f "$d/dockerd.pid" "$d/docker.sock" "$d/mntns"
    # a dead managed containerd's pidfile makes the next dockerd wait 15 s for it (zombies!)
    if [ -s "$d/exec/containerd/containerd.pid" ] && ! pid_alive "$d/exec/containerd/containerd.pid"; then
      rm -f "$d/exec/containerd/containerd.pid"; fi
    dockerd_start_script > "$d/start.sh"
    setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation slave \
      bash "$d/start.sh" "$d" "$hd" "$h" "$P-$h" "${LAB_DOCKERD_LOGLEVEL:-info}" \
      "$([ "${LAB_DOCKERD_EXEC_ROOT:-}" = lab ] && echo "$d/exec" || echo /run/docker)" \
      </dev/null >>"$d/dockerd.log" 2>&1 &
    echo $! > "$d/launcher.pid"
  fi
  t=${LAB_DOCKERD_TIMEOUT:-60}
  for i in $(seq $((t * 10))); do
    dk "$h" version -f '{{.Server.Version}}' >/dev/null 2>&1 && { log "dockerd-up $h: unix://$(docker_sock "$h")"; return 0; }
    pid_alive "$d/launcher.pid" || dockerd_pid "$h" >/dev/null || die "dockerd of $h exited: $(tail -5 "$d/dockerd.log" | tr '\n' ' ')"
    sleep 0.1
  done
  die "dockerd of $h did not answer within ${t}s (log $d/dockerd.log)"
}

# processes of a lab dockerd: its mount namespace (dockerd, containerd, shims) ...
dockerd_mnt_procs() {
  local d mnt p; d=$(hdir "$1" any)/docker
  mnt=$(cat "$d/mntns" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$mnt" ] && echo "$p"
  done
  return 0
}
# ... and its containers: cgroup parent /<P>-hK (in every v1 hierarchy and the v2 tree)
dockerd_cg_procs() {
  local cg="/$P-$1" p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    grep -q ":$cg/" "/proc/$p/cgroup" 2>/dev/null && echo "$p"
  done
  return 0
}

cmd_dockerd_down() {
  local h d p ids cg
  h=$(hname "$1" "${2:-}"); d=$(hdir "$h" any)/docker
  [ -d "$d" ] || return 0
  if p=$(dockerd_pid "$h"); then
    # containers first (SIGKILL: a `sleep` as PID 1 ignores SIGTERM), then SIGTERM dockerd
    ids=$(timeout 10 $DOCKER -H "unix://$d/docker.sock" ps -q 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || timeout 30 $DOCKER -H "unix://$d/docker.sock" kill $ids >/dev/null 2>&1 || true
    kill_pids "$p"
  fi
  # leftovers (after a dockerd crash): container processes are killed outright, containerd and
  # the shims get a TERM first
  # shellcheck disable=SC2046
  set -- $(dockerd_cg_procs "$h"); [ $# = 0 ] || { kill -KILL "$@" 2>/dev/null || true; kill_pids "$@"; }
  # shellcheck disable=SC2046
  kill_pids $(dockerd_mnt_procs "$h") $(pid_alive "$d/launcher.pid" && cat "$d/launcher.pid")
  for cg in /sys/fs/cgroup/*/"$P-$h" /sys/fs/cgroup/"$P-$h"; do
    [ ! -d "$cg" ] || find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -f "$d/dockerd.pid" "$d/launcher.pid" "$d/mntns" "$d/docker.sock"
}

# ------------------------------------------------------------------ teardown / status
cmd_down() {
  need_root
  [ -d "$ST" ] || { log "down: nothing to do"; return 0; }
  local ns i d
  shopt -s nullglob
  for d in "$ST"/h*/docker; do
    i=${d%/docker}; i=${i##*/h}; cmd_dockerd_down "h$i" any
  done
  # stop daemons by pidfile, then sweep every namespace we recorded (plugin daemons, ...)
  kill_pidfiles "$ST"/h*/ovn-controller.pid "$CDIR"/*.pid "$ST"/h*/ovs-vswitchd.pid
  kill_pidfiles "$ST"/h*/ovsdb-server.pid
  if [ -f "$ST/netns.list" ]; then for ns in $(tac "$ST/netns.list"); do ns_del "$ns"; done; fi
  # never follow a mount into something else (a leftover bind mount must not be emptied)
  if findmnt -rn -o TARGET | grep -q "^$ST/"; then die "mounts left below $ST: $(findmnt -rn -o TARGET | grep "^$ST/" | tr '\n' ' ')"; fi
  rm -rf --one-file-system "$ST" 2>/dev/null || { sleep 1; rm -rf --one-file-system "$ST"; }
  log "down: all lab namespaces, processes and state removed"
}

show_pid() { pid_alive "$1" && cat "$1" || echo -; }
cmd_status() {
  local n i d f; n=$(nhosts)
  [ -d "$ST" ] || { echo "lab $LAB_ID: down"; return 0; }
  echo "lab $LAB_ID: dir=$ST prefix=$P encap=$ENCAP chassis=$CHASSIS system-id=$SYSID hosts=$n owner=$(cat "$ST/owner" 2>/dev/null || echo -)"
  echo "netns: $(tr '\n' ' ' < "$ST/netns.list" 2>/dev/null)"
  for i in $(seq 1 "$n"); do
    d=$ST/h$i
    printf 'h%s: ns=%s ip=%s ovsdb-server=%s ovs-vswitchd=%s ovn-controller=%s dockerd=%s system-id=%s\n' "$i" "$P-h$i" "$UL_NET.$i" \
      "$(show_pid "$d/ovsdb-server.pid")" "$(show_pid "$d/ovs-vswitchd.pid")" "$(show_pid "$d/ovn-controller.pid")" \
      "$(show_pid "$d/docker/dockerd.pid")" "$(system_id "h$i" || true)"
  done
  if [ -d "$CDIR" ]; then
    for f in ovnnb_db ovnsb_db ovn-northd; do printf 'central %s=%s\n' $f "$(show_pid "$CDIR/$f.pid")"; done
  fi
}

cmd_info() {  # machine-readable facts (KEY=VALUE)
  echo "dir=$ST"; echo "prefix=$P"; echo "encap=$ENCAP"; echo "chassis=$CHASSIS"; echo "system_id=$SYSID"; echo "hosts=$(nhosts)"
  echo "underlay_ns=$UL_NS"; echo "central_ns=$CENTRAL_NS"; echo "central_ip=$CENTRAL_IP"
  echo "nb_remote=tcp:$CENTRAL_IP:6641"; echo "sb_remote=tcp:$CENTRAL_IP:6642"
  echo "nb_unix=unix:$CDIR/ovnnb_db.sock"; echo "sb_unix=unix:$CDIR/ovnsb_db.sock"
}

usage() { sed -n '2,/^set -Eeuo/p' "$0" | sed '$d'; exit 2; }

main() {
  local cmd=${1:-}; shift || true
  case $cmd in
    up) cmd_up "$@";; down) cmd_down;; status) cmd_status;; info) cmd_info;;
    central-up) cmd_central_up;;
    controller-up) need_root; pid_alive "$CDIR/ovnsb_db.pid" || [ "$CHASSIS" = external ] || die "run central-up first"
                   start_controller "${1:?HOST}";;
    controller-down) cmd_controller_down "${1:?HOST}";;
    ovn-up) cmd_ovn_up;;
    wait-chassis) cmd_wait_chassis "${1:?HOST}" "${2:-30}";;
    wait-tunnels) cmd_wait_tunnels "${1:-60}";;
    ns-add) cmd_ns_add "${1:?NAME}";; ns-del) cmd_ns_del "${1:?NAME}";;
    ctr-add) cmd_ctr_add "$@";; ctr-del) cmd_ctr_del "${1:?NAME}";; bind) cmd_bind "$@";;
    dockerd-up) cmd_dockerd_up "${1:?HOST}";; dockerd-down) cmd_dockerd_down "${1:?HOST}";;
    docker) h=${1:?HOST}; shift; dk "$h" "$@";;
    dockerd-nsx) h=${1:?HOST}; shift; p=$(dockerd_pid "$(hname "$h")") || die "no dockerd on $h"
                 nsenter -t "$p" -m -n -u "$@";;
    vsctl) vsctl "$@";; ofctl) ofctl "$@";; appctl) appctl "$@";;
    ctl-appctl) ctl_appctl "$@";;
    nbctl) nbctl "$@";; sbctl) sbctl "$@";;
    trace) ovn-trace --db="unix:$CDIR/ovnsb_db.sock" "$@";;
    exec) ns=$(anyns "${1:?HOST|NAME}"); shift; nsx "$ns" "$@";;
    env) ovs_env "${1:?HOST}";;
    *) usage;;
  esac
}
main "$@"
