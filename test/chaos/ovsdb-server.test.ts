// Chaos (b): the local ovsdb-server killed with -9 and started again under the fleet (fleet.ts:
// a real dockerd with containers on plain VLAN, gateway=local, plain overlay and OVN networks;
// a lab host's own OVS, never the system's). While it is down a request answers within 30 s
// naming the local OVSDB; once it is back, `docker network create` works again without
// restarting the daemon, and the fleet is healthy with no container's port recreated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chaosLine, failingCall, interfaceNames, killOvsDaemon, startOvsDaemon, untilWorks } from './helpers';
import { checkHealth, destroyFleet, Fleet, Health, healthFigures, portSnapshot, problemsOf, startFleet } from './fleet';

let fleet: Fleet;
before(async () => {
  fleet = await startFleet();
});
after(async () => {
  await destroyFleet(fleet);
});

test('ovsdb-server kill -9 and start: a request names the local OVSDB meanwhile, then docker requests work again and the fleet is healthy', async () => {
  const { h, p } = fleet;
  const ports = await portSnapshot(fleet);
  const ifaces = await interfaceNames(h);
  const pid = p.pid;

  await killOvsDaemon(h, 'ovsdb-server');
  const down = await failingCall(p, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: '10.79.0.0/24', SubPool: '', Options: null, V6: false });
  assert.ok(down.ms < 30_000, `answered in ${down.ms} ms`);
  assert.match(down.err, /db\.sock/, `the error names the local OVSDB: ${down.err}`);

  const t0 = Date.now();
  await startOvsDaemon(h, 'ovsdb-server');
  let healMs: number | string = 'never';
  let health: Health | undefined;
  let added: string[] = [];
  try {
    const create = ['network', 'create', '-d', p.name, '--ipam-driver', p.name, '--subnet', '10.79.0.0/24', '-o', 'bridge=br-fl', '-o', 'vlan=313', 'healed'];
    await untilWorks('docker network create after the restart', 30_000, () => fleet.d.dockerOk(create));
    healMs = Date.now() - t0;
    await fleet.d.dockerOk(['network', 'rm', 'healed']);
    health = await checkHealth(fleet, { before: ports });
    added = (await interfaceNames(h)).filter((n) => !ifaces.includes(n));
  } finally {
    chaosLine('ovsdb-server', { healMs, leaks: health ? health.leaks.length + added.length : '?', duplicateIps: health?.duplicateIps.length, recreatedPorts: health?.recreated.length ?? '?' }, health && healthFigures(health));
  }
  assert.equal(p.pid, pid, 'the daemon was not restarted');
  assert.deepEqual(problemsOf(health!), []);
  assert.deepEqual(added, [], 'nothing added to OVS that stays');
});
