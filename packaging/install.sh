#!/usr/bin/env bash
# `make install` / `make uninstall`: the legacy-socket daemon as a systemd service.
#
#   install    app in $PREFIX/lib/ovs-container-network (package.json, bin/, dist/src, production
#              node_modules), $PREFIX/bin/ovs-container-network -> the app's bin, the unit
#              $SYSTEMD_UNIT_DIR/ovs-container-network.service, /etc/default/ovs-container-network
#              (kept if present); then, when systemd runs and DESTDIR is empty: daemon-reload,
#              enable, start (or restart an upgraded running one).
#   uninstall  the reverse; /etc/default/ovs-container-network stays if it was edited.
#
# DESTDIR stages everything below a directory (packaging, tests) and never touches systemd.
set -euo pipefail

ACTION=${1:?usage: install.sh install|uninstall}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
UNITDIR=${SYSTEMD_UNIT_DIR:-/etc/systemd/system}
APPDIR=$PREFIX/lib/ovs-container-network
BINDIR=$PREFIX/bin
UNIT=ovs-container-network.service
DEFAULTS=/etc/default/ovs-container-network
LOGROTATE=/etc/logrotate.d/ovs-container-network

log() { echo "install: $*" >&2; }
systemd_running() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

do_install() {
  cd "$ROOT"
  local node
  node=$(command -v node) || { log "node (20+) not found"; exit 1; }
  [ "$(node -p 'process.versions.node.split(".")[0] >= 20')" = true ] || { log "$node is older than Node 20"; exit 1; }

  # the app, swapped in whole (an upgrade never runs a half-copied tree)
  local new="$DESTDIR$APPDIR.new" old="$DESTDIR$APPDIR.old"
  rm -rf "$new" "$old"
  packaging/stage-app.sh "$new"
  install -m 0644 README.md "$new/README.md"
  [ -e "$DESTDIR$APPDIR" ] && mv "$DESTDIR$APPDIR" "$old"
  mv "$new" "$DESTDIR$APPDIR"
  rm -rf "$old"

  install -d "$DESTDIR$BINDIR"
  ln -sfn "$(realpath -m --relative-to="$BINDIR" "$APPDIR/bin/ovs-container-network")" "$DESTDIR$BINDIR/ovs-container-network"

  install -d "$DESTDIR$UNITDIR"
  sed -e "s|@NODE@|$node|g" -e "s|@APPDIR@|$APPDIR|g" -e "s|@BINDIR@|$BINDIR|g" \
    packaging/ovs-container-network.service >"$DESTDIR$UNITDIR/$UNIT"
  chmod 0644 "$DESTDIR$UNITDIR/$UNIT"

  install -D -m 0644 packaging/ovs-container-network.logrotate "$DESTDIR$LOGROTATE"
  install -d -m 0755 "$DESTDIR/var/log/ovs-container-network"

  if [ -e "$DESTDIR$DEFAULTS" ]; then
    log "keeping $DESTDIR$DEFAULTS"
  else
    install -D -m 0644 packaging/ovs-container-network.default "$DESTDIR$DEFAULTS"
  fi
  log "installed $DESTDIR$APPDIR, $DESTDIR$BINDIR/ovs-container-network, $DESTDIR$UNITDIR/$UNIT"

  if systemd_running; then
    systemctl daemon-reload
    systemctl enable "$UNIT"
    if systemctl is-active --quiet "$UNIT"; then systemctl restart "$UNIT"; else systemctl start "$UNIT"; fi
    log "$UNIT enabled and running (logs: /var/log/ovs-container-network/daemon.log)"
  elif [ -z "$DESTDIR" ]; then
    log "systemd is not running here: start it yourself: $BINDIR/ovs-container-network daemon"
  fi
}

do_uninstall() {
  if systemd_running; then
    systemctl disable --now "$UNIT" 2>/dev/null || true
  fi
  rm -f "$DESTDIR$UNITDIR/$UNIT" "$DESTDIR$LOGROTATE"
  local link="$DESTDIR$BINDIR/ovs-container-network"
  if [ -L "$link" ] && [[ "$(readlink "$link")" == *lib/ovs-container-network/* ]]; then rm -f "$link"; fi
  rm -rf "$DESTDIR$APPDIR" "$DESTDIR$APPDIR.new" "$DESTDIR$APPDIR.old"
  if [ -e "$DESTDIR$DEFAULTS" ]; then
    if cmp -s "$DESTDIR$DEFAULTS" "$ROOT/packaging/ovs-container-network.default"; then
      rm -f "$DESTDIR$DEFAULTS"
    else
      log "keeping your edited $DESTDIR$DEFAULTS"
    fi
  fi
  if systemd_running; then systemctl daemon-reload; fi
  log "removed (containers attached by the daemon keep their ports; its networks need it to be managed)"
}

case "$ACTION" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "usage: install.sh install|uninstall" >&2; exit 2 ;;
esac
