// Chaos (b): the local ovsdb-server killed with -9 and started again (a lab host's own, never the
// system's). While it is down a request answers within 30 s naming the local OVSDB; once it is
// back, requests work again without restarting the daemon and no container port is recreated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, Lab } from '../lab/lab';
import type { Plugin } from '../harness/plugin';
import { run } from '../harness/exec';
import { attach, createNetwork, ping } from '../multihost/attach';
import { chaosLine, containerPorts, failingCall, interfaceNames, killOvsDaemon, recreated, startOvsDaemon, untilWorks } from './helpers';

let lab: Lab;
let p: Plugin;
const tag = Math.random().toString(16).slice(2, 6);
const names: string[] = [];
const ns = (n: string) => { const x = `ocnd${tag}${n}`; names.push(x); return x; };

before(async () => {
  lab = await startLab({ hosts: 1, ovn: false });
  p = await lab.hosts[0].startPlugin([]);
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('ovsdb-server kill -9 and start: a request names the local OVSDB meanwhile, then requests work again', async () => {
  const h = lab.hosts[0];
  const a = await createNetwork(p, '10.78.0.0/24', { bridge: 'br-a' });
  const ca = await attach(h, p, a, ns('a'));
  assert.ok(await ping(ca.ns, a.gateway.split('/')[0]), 'gateway before');
  const ports = await containerPorts(h);
  const ifaces = await interfaceNames(h);
  const pid = p.pid;

  await killOvsDaemon(h, 'ovsdb-server');
  const down = await failingCall(p, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: '10.79.0.0/24', SubPool: '', Options: null, V6: false });
  assert.ok(down.ms < 30_000, `answered in ${down.ms} ms`);
  assert.match(down.err, /db\.sock/, `the error names the local OVSDB: ${down.err}`);

  const t0 = Date.now();
  await startOvsDaemon(h, 'ovsdb-server');
  let healMs: number | string = 'never';
  let gone: string[] = [];
  let leaks: string[] = [];
  try {
    const b = await untilWorks('CreateNetwork after the restart', 30_000, () => createNetwork(p, '10.79.0.0/24', { bridge: 'br-b' }));
    healMs = Date.now() - t0;
    const cb = await attach(h, p, b.value, ns('b'));
    assert.ok(await ping(cb.ns, b.value.gateway.split('/')[0]), 'a new container reaches its gateway');
    assert.ok(await ping(ca.ns, a.gateway.split('/')[0]), 'the old container still reaches its gateway');
    assert.equal(p.pid, pid, 'the daemon was not restarted');
    gone = recreated(ports, await containerPorts(h));
    leaks = (await interfaceNames(h)).filter((n) => !ifaces.includes(n) && !/^ocnh|^ocng|^br-b$/.test(n));
  } finally {
    chaosLine('ovsdb-server', { healMs, leaks: leaks.length, recreatedPorts: gone.length });
  }
  assert.deepEqual(gone, [], 'no container port recreated');
  assert.deepEqual(leaks, [], 'nothing but the new network and container added to OVS');
});
