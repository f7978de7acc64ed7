// Chaos (a): ovs-vswitchd killed with -9 and started again under a running plain overlay and a
// gateway=local VLAN network. ovsdb-server keeps the database, but the flows and the gateway
// tap (userspace datapath) are gone: the daemon must put them back within 15 s on its own,
// without recreating any container's port. Runs on a lab host's own OVS, never the system's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, Lab } from '../lab/lab';
import type { Plugin } from '../harness/plugin';
import { run } from '../harness/exec';
import { attach, createNetwork, ping, Ctr } from '../multihost/attach';
import { chaosLine, containerPorts, interfaceNames, killOvsDaemon, normalFlows, recreated, startOvsDaemon, until } from './helpers';

let lab: Lab;
const plugins: Plugin[] = [];
const tag = Math.random().toString(16).slice(2, 6);
const names: string[] = [];
const ns = (n: string) => { const x = `ocnc${tag}${n}`; names.push(x); return x; };

before(async () => {
  lab = await startLab({ hosts: 2, ovn: false });
  const ips = lab.hosts.map((h) => h.ip);
  for (const h of lab.hosts) plugins.push(await h.startPlugin(['--peers', ips.filter((ip) => ip !== h.ip).join(','), '--underlay-mtu', '1600']));
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('ovs-vswitchd kill -9 and start: overlay flows, tunnel traffic and gateway back within 15 s, no port recreated', async () => {
  const h = lab.hosts[0];
  const vx = await Promise.all(plugins.map((p, i) => createNetwork(p, '10.74.0.0/24', { bridge: 'br-ov', overlay: 'vxlan', vni: '6001', gateway: 'external' }, undefined, `10.74.0.${64 * (i + 1)}/26`)));
  const gw = await createNetwork(plugins[0], '10.75.0.0/24', { bridge: 'br-gw' });
  const gwIp = gw.gateway.split('/')[0];
  const c: Ctr[] = [await attach(h, plugins[0], vx[0], ns('a')), await attach(lab.hosts[1], plugins[1], vx[1], ns('b')), await attach(h, plugins[0], gw, ns('g'))];
  assert.ok(await ping(c[0].ns, c[1].ip), 'overlay h1 -> h2 before');
  assert.ok(await ping(c[2].ns, gwIp), 'gateway before');
  const flows = normalFlows(await h.ofctl('-O', 'OpenFlow13', 'dump-flows', 'br-ocn-tun'));
  const ports = await containerPorts(h);
  const ifaces = await interfaceNames(h);
  assert.ok(ports.size >= 2, `container ports seen: ${[...ports.keys()].join(' ')}`);
  assert.equal(await h.vsctl('get', 'Bridge', 'br-ocn-tun', 'fail_mode'), 'secure', 'tunnel bridge does no NORMAL forwarding without its flows');

  await killOvsDaemon(h, 'ovs-vswitchd');
  const t0 = Date.now();
  await startOvsDaemon(h, 'ovs-vswitchd');
  let healMs: number;
  try {
    await until('overlay and gateway traffic', 15_000, async () => (await ping(c[0].ns, c[1].ip, 1)) && (await ping(c[2].ns, gwIp, 1)));
    healMs = Date.now() - t0;
  } finally {
    const now = normalFlows(await h.ofctl('-O', 'OpenFlow13', 'dump-flows', 'br-ocn-tun').catch(() => ''));
    const gone = recreated(ports, await containerPorts(h));
    const leaks = (await interfaceNames(h)).filter((n) => !ifaces.includes(n));
    chaosLine('ovs-vswitchd', { healMs: typeof healMs! === 'number' ? healMs : 'never', leaks: leaks.length, recreatedPorts: gone.length });
    assert.deepEqual(now, flows, 'the tunnel bridge has its flows again');
    assert.deepEqual(gone, [], 'no container port recreated (ofport/ifindex unchanged)');
    assert.deepEqual(leaks, [], 'no OVS port added');
  }
  assert.ok(await ping(c[1].ns, c[0].ip), 'overlay h2 -> h1 after');
});
