// Chaos (a): ovs-vswitchd killed with -9 and started again under the fleet (fleet.ts: a real
// dockerd with containers on plain VLAN, gateway=local, plain overlay and OVN networks). The
// database survives, but the flows and the gateway taps (userspace datapath) are gone: the
// daemon must put the tunnel bridge's flows back as they were, cross-host overlay traffic must
// work within 15 s, and afterwards the fleet is healthy with no container's port recreated.
// Runs on a lab host's own OVS, never the system's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chaosLine, interfaceNames, killOvsDaemon, normalFlows, startOvsDaemon, until } from './helpers';
import { checkHealth, destroyFleet, Fleet, fleetContainers, Health, healthFigures, netOf, portSnapshot, problemsOf, reaches, startFleet } from './fleet';

let fleet: Fleet;
before(async () => {
  fleet = await startFleet();
});
after(async () => {
  await destroyFleet(fleet);
});

test('ovs-vswitchd kill -9 and start: overlay flows back, cross-host overlay traffic within 15 s, the fleet healthy, no port recreated', async () => {
  const h = fleet.h;
  const ovl = netOf(fleet, 'overlay');
  const [probe] = await fleetContainers(fleet, ['overlay']);
  assert.ok((await reaches(fleet, probe.name, ovl.remote!)) !== undefined, 'overlay h1 -> h2 before');
  const tunFlows = () => h.ofctl('-O', 'OpenFlow13', 'dump-flows', 'br-ocn-tun').then(normalFlows, () => []);
  const flows = await tunFlows();
  assert.ok(flows.length > 1, `the tunnel bridge has its flows: ${flows.join(' | ')}`);
  const ports = await portSnapshot(fleet);
  const ifaces = await interfaceNames(h);
  assert.equal(await h.vsctl('get', 'Bridge', 'br-ocn-tun', 'fail_mode'), 'secure', 'tunnel bridge does no NORMAL forwarding without its flows');

  await killOvsDaemon(h, 'ovs-vswitchd');
  const t0 = Date.now();
  await startOvsDaemon(h, 'ovs-vswitchd');
  let healMs: number | string = 'never';
  let health: Health | undefined;
  let added: string[] = [];
  let flowsNow: string[] = [];
  try {
    await until('cross-host overlay traffic', 15_000, async () => (await reaches(fleet, probe.name, ovl.remote!, 0)) !== undefined);
    healMs = Date.now() - t0;
    flowsNow = await tunFlows();
    health = await checkHealth(fleet, { before: ports });
    added = (await interfaceNames(h)).filter((n) => !ifaces.includes(n));
  } finally {
    chaosLine('ovs-vswitchd', { healMs, leaks: health ? health.leaks.length + added.length : '?', duplicateIps: health?.duplicateIps.length, recreatedPorts: health?.recreated.length ?? '?' }, health && healthFigures(health));
  }
  assert.deepEqual(flowsNow, flows, 'the tunnel bridge has its flows again, as before');
  assert.deepEqual(problemsOf(health!), []);
  assert.deepEqual(added, [], 'no OVS interface added');
});
