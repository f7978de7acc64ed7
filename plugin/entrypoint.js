#!/usr/local/bin/node
// Entry point of the managed (v2) plugin: config.json's Entrypoint runs this as PID 1 of the
// plugin container. It only picks the iptables backend and hands over to the daemon, which
// then behaves exactly as the host-installed one (same flags, same OCN_* environment).
//
// OCN_IPTABLES=nft (default) | legacy: the daemon execs iptables-restore/ip6tables-restore and
// iptables/ip6tables; they must drive the same backend as the host's dockerd and firewall, or a
// FORWARD policy DROP in one backend silently drops what our ACCEPT rules in the other allow.
// `iptables -V` on the host says which one it uses.
'use strict';
const fs = require('fs');
const path = require('path');

const mode = process.env.OCN_IPTABLES || 'nft';
const dir = `/usr/lib/ocn/xtables-${mode}`;
if (!/^(nft|legacy)$/.test(mode) || !fs.existsSync(dir)) {
  console.error(`ovs-container-network: OCN_IPTABLES="${mode}" is not one of nft, legacy`);
  process.exit(2);
}
process.env.PATH = `${dir}:${process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}`;
require(path.join(__dirname, 'dist', 'src', 'cli.js')).main(['daemon', ...process.argv.slice(2)]);
