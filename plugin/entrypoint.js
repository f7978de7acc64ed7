#!/usr/local/bin/node
// Entry point of the managed (v2) plugin: config.json's Entrypoint runs this as PID 1 of the
// plugin container. It prepares three things and hands over to the daemon, which then behaves
// exactly as the host-installed one (same flags, same OCN_* environment):
//
// 1. The socket name. dockerd dials /run/docker/plugins/<64-hex plugin id>/<Interface.Socket>,
//    and a unix socket path has at most 108 bytes, so Interface.Socket is the short `ocn.sock`
//    (`ovs-container-network.sock` is 3 bytes too long: "Unix socket path ... is too long").
//    The daemon listens on <OCN_PLUGIN_DIR>/<OCN_NAME>.sock as everywhere else; ocn.sock is a
//    symlink to it (connect(2) follows symlinks), so OCN_NAME stays settable.
// 2. The iptables backend. OCN_IPTABLES=nft (default) | legacy: the daemon execs
//    iptables-restore/ip6tables-restore and iptables/ip6tables; they must drive the same backend
//    as the host's dockerd and firewall, or a FORWARD policy DROP in one backend silently drops
//    what our ACCEPT rules in the other allow. `iptables -V` on the host says which one it uses.
// 3. Early SIGTERM. As PID 1 of its PID namespace the process ignores signals it has no handler
//    for, and the daemon installs its handlers once it listens: a `docker plugin disable` during
//    start-up would otherwise be ignored until dockerd's SIGKILL 10 s later.
'use strict';
const fs = require('fs');
const path = require('path');

const fail = (msg) => {
  console.error(`ovs-container-network: ${msg}`);
  process.exit(2);
};

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (process.listenerCount(sig) === 1) process.exit(0); // the daemon's own handler is not there yet
  });
}

const mode = process.env.OCN_IPTABLES || 'nft';
const xtables = `/usr/lib/ocn/xtables-${mode}`;
if (!/^(nft|legacy)$/.test(mode) || !fs.existsSync(xtables)) fail(`OCN_IPTABLES="${mode}" is not one of nft, legacy`);
process.env.PATH = `${xtables}:${process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}`;

const dir = process.env.OCN_PLUGIN_DIR || '/run/docker/plugins';
const own = `${process.env.OCN_NAME || 'ovs-container-network'}.sock`;
const published = process.env.OCN_PLUGIN_SOCKET || 'ocn.sock';
if (published !== own) {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.rmSync(path.join(dir, published), { force: true });
    fs.symlinkSync(own, path.join(dir, published));
  } catch (e) {
    fail(`cannot link ${path.join(dir, published)} to ${own}: ${e.message}`);
  }
}

require(path.join(__dirname, 'dist', 'src', 'cli.js')).main(['daemon', ...process.argv.slice(2)]);
