// Plain OVS overlays (no OVN) between lab hosts: VXLAN and Geneve full mesh from --peers,
// shared tunnels per peer, VNI isolation, automatic MTU, BFD visible through the control API,
// and peers changed at run time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, Lab } from '../lab/lab';
import type { Plugin } from '../harness/plugin';
import { run, runOk } from '../harness/exec';
import { attach, createNetwork, createNetworkDefaultIpam, deleteAllNetworks, detach, ping, rpc, Ctr, tcpHello } from './attach';

let lab: Lab;
const plugins: Plugin[] = [];
const ctrs: Ctr[] = [];
const tag = Math.random().toString(16).slice(2, 6);
const names: string[] = [];
const ns = (n: string) => { const x = `ocno${tag}${n}`; names.push(x); return x; };

before(async () => {
  lab = await startLab({ hosts: 3, ovn: false });
  const ips = lab.hosts.map((h) => h.ip);
  for (const h of lab.hosts) {
    // The lab underlay carries 1600-byte frames; the daemon derives overlay MTUs from it.
    plugins.push(await h.startPlugin(['--peers', ips.filter((ip) => ip !== h.ip).join(','), '--underlay-mtu', '1600']));
  }
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('VXLAN and Geneve networks across three hosts, one tunnel per peer and type, VNI isolation', async () => {
  // Without OVN every host allocates on its own: one --ip-range per host keeps addresses apart.
  const vx = await Promise.all(plugins.map((p, i) => createNetwork(p, '10.70.0.0/24', { bridge: 'br-ov', overlay: 'vxlan', vni: '5001' }, undefined, `10.70.0.${64 * (i + 1)}/26`)));
  const gn = await Promise.all(plugins.map((p, i) => createNetwork(p, '10.71.0.0/24', { bridge: 'br-ov', overlay: 'geneve', vni: '5002' }, undefined, `10.71.0.${64 * (i + 1)}/26`)));
  // Same subnet, another VNI: must stay isolated from vx.
  const other = await Promise.all(plugins.map((p) => createNetworkDefaultIpam(p, '10.70.0.0/24', '10.70.0.1/24', { bridge: 'br-ov', overlay: 'vxlan', vni: '5003', gateway: 'external' })));
  for (let i = 0; i < 3; i++) ctrs.push(await attach(lab.hosts[i], plugins[i], vx[i], ns(`x${i}`)));
  for (let i = 0; i < 3; i++) ctrs.push(await attach(lab.hosts[i], plugins[i], gn[i], ns(`g${i}`)));
  assert.equal(new Set(ctrs.map((c) => c.ip)).size, 6);
  assert.ok(await ping(ctrs[0].ns, ctrs[1].ip), 'vxlan h1 -> h2');
  assert.ok(await ping(ctrs[2].ns, ctrs[0].ip), 'vxlan h3 -> h1');
  assert.ok(await ping(ctrs[3].ns, ctrs[4].ip), 'geneve h1 -> h2');
  assert.ok(await ping(ctrs[5].ns, ctrs[3].ip), 'geneve h3 -> h1');
  // Each host's IPAM is local here: make the isolated container's address collide on purpose.
  const iso = await attach(lab.hosts[1], plugins[1], other[1], ns('o1'), { address: '10.70.0.99/24', route: false });
  ctrs.push(iso);
  assert.ok(!(await ping(iso.ns, ctrs[0].ip, 1)), 'VNI 5003 does not reach VNI 5001');
  const mtu = (await runOk('ip', ['-n', ctrs[0].ns, 'link', 'show', 'eth0'])).stdout;
  assert.match(mtu, /mtu 1550/, 'VXLAN MTU = underlay 1600 - 50');
  assert.match((await runOk('ip', ['-n', ctrs[3].ns, 'link', 'show', 'eth0'])).stdout, /mtu 1542/, 'Geneve MTU = 1600 - 58');
  const ports = (await lab.hosts[0].vsctl('list-ports', 'br-ocn-tun')).split('\n');
  assert.equal(ports.filter((p) => p.startsWith('ocvx')).length, 2, 'one VXLAN tunnel per peer, shared by both VXLAN networks');
  assert.equal(ports.filter((p) => p.startsWith('ocgn')).length, 2, 'one Geneve tunnel per peer');
  // TCP through the tunnel
  assert.match(await tcpHello(ctrs[0], ctrs[1], 7002, 'hello-vxlan'), /hello-vxlan/);
});

test('BFD runs on every tunnel and the control API shows it', async () => {
  let st: { name: string; remote: string; bfd: Record<string, string> }[] = [];
  for (let i = 0; i < 60; i++) {
    st = await rpc(plugins[0], 'tunnels.status');
    if (st.length && st.every((t) => t.bfd.state === 'up')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(st.length, 4);
  for (const t of st) assert.equal(t.bfd.state, 'up', `${t.name} to ${t.remote}: ${JSON.stringify(t.bfd)}`);
  const cli = await lab.hosts[0].cli(['ctl', '--name', plugins[0].name, '--plugin-dir', lab.hosts[0].pluginDir, 'tunnels.status']);
  assert.match(cli.stdout, /"state": "up"/);
});

test('peers change at run time: removing a peer removes its tunnels, adding it back restores them', async () => {
  const h3 = lab.hosts[2].ip;
  const keep = [lab.hosts[1].ip];
  assert.deepEqual(await rpc(plugins[0], 'peers.set', keep), keep);
  const ports = (await lab.hosts[0].vsctl('list-ports', 'br-ocn-tun')).split('\n');
  assert.equal(ports.filter((p) => p.startsWith('ocvx') || p.startsWith('ocgn')).length, 2);
  assert.ok(!(await ping(ctrs[0].ns, ctrs[2].ip, 1)), 'h1 no longer reaches h3');
  await rpc(plugins[0], 'peers.set', [...keep, h3]);
  assert.ok(await ping(ctrs[0].ns, ctrs[2].ip, 3), 'h1 reaches h3 again');
  // Survives a restart (kept in OVSDB).
  await plugins[0].restart();
  assert.deepEqual((await rpc<string[]>(plugins[0], 'peers.get')).sort(), [...keep, h3].sort());
});

test('teardown removes tunnels, patch ports and the tunnel bridge', async () => {
  for (const c of ctrs.splice(0)) await detach(c);
  for (const p of plugins) await deleteAllNetworks(p);
  for (const h of lab.hosts) {
    assert.equal((await h.exec('ovs-vsctl', ['--db', h.ovsdbRemote, 'br-exists', 'br-ocn-tun'])).code, 2, `${h.name}: tunnel bridge gone`);
    assert.equal((await h.exec('ovs-vsctl', ['--db', h.ovsdbRemote, 'br-exists', 'br-ov'])).code, 2, `${h.name}: network bridge gone`);
  }
});
