// Chaos: rows lost under running containers. OVN NB loses an OVN network's logical switch with
// its logical ports and address reservations (`ovn-nbctl ls-del`, as a NB restored from an old
// or empty database would), and the local OVSDB loses a gateway=local network's gateway port row
// (`ovs-vsctl del-port`). The daemon's healing loop must put both back, without a restart and
// without recreating any container's port: the containers talk again within 15 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, Lab } from '../lab/lab';
import type { Plugin } from '../harness/plugin';
import { run } from '../harness/exec';
import { attach, createNetwork, ovnChassisUp, ping } from '../multihost/attach';
import { gatewayPortName } from '../../src/backends/bridge/infra';
import { lspName } from '../../src/ovn/logical-switch-port';
import { chaosLine, containerPorts, recreated, until } from './helpers';

let lab: Lab;
let p: Plugin;
const tag = Math.random().toString(16).slice(2, 6);
const names: string[] = [];
const ns = (n: string) => { const x = `ocnr${tag}${n}`; names.push(x); return x; };
const HEAL_MS = 15_000;

before(async () => {
  lab = await startLab({ hosts: 1, ovn: true, chassis: 'external', encap: 'geneve' });
  await ovnChassisUp(lab);
  p = await lab.hosts[0].startPlugin(['--ovn-nb', lab.nbRemote]);
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('an OVN switch lost in NB and a gateway port row lost in OVSDB are put back: containers talk again within 15 s, no port recreated', async () => {
  const h = lab.hosts[0];
  const sw = `lost${tag}`;
  const o = await createNetwork(p, '10.86.0.0/24', { 'ovn.switch': sw });
  const a = await attach(h, p, o, ns('a'));
  const b = await attach(h, p, o, ns('b'));
  const g = await createNetwork(p, '10.87.0.0/24', { bridge: 'br-rl' });
  const gwIp = g.gateway.split('/')[0];
  const c = await attach(h, p, g, ns('c'));
  await until('OVN ports up', 15_000, () => ping(a.ns, b.ip, 1));
  assert.ok(await ping(c.ns, gwIp), 'the gateway answers before');
  const reservations = async (): Promise<string[]> => [...((await lab.nbctl('get', 'Logical_Switch', sw, 'external_ids')).match(/ocn-ip-[0-9.]+/g) ?? [])].sort();
  const held = await reservations();
  assert.ok(held.includes(`ocn-ip-${a.ip}`) && held.includes(`ocn-ip-${b.ip}`), `reservations before: ${held.join(' ')}`);
  const ports = await containerPorts(h);
  const pid = p.pid;

  const t0 = Date.now();
  await lab.nbctl('ls-del', sw);
  await h.vsctl('del-port', gatewayPortName(g.id));
  let healMs: number | string = 'never';
  let moved: string[] = [];
  try {
    await until('OVN traffic back', HEAL_MS, () => ping(a.ns, b.ip, 1));
    await until('gateway back', HEAL_MS, () => ping(c.ns, gwIp, 1));
    healMs = Date.now() - t0;
    assert.deepEqual(await reservations(), held, 'the address reservations are back');
    for (const x of [a, b]) assert.equal(await lab.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch_Port', `external_ids:ocn-endpoint=${x.endpointId}`), lspName(x.endpointId), 'the logical port is back');
    moved = recreated(ports, await containerPorts(h));
    assert.deepEqual(moved, [], 'no container port recreated');
    assert.equal(p.pid, pid, 'the daemon was not restarted');
  } finally {
    chaosLine('rows-lost', { healMs, leaks: 0, recreatedPorts: moved.length });
  }
});
