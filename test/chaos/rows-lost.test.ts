// Chaos: rows lost under the fleet (fleet.ts: a real dockerd with containers on plain VLAN,
// gateway=local, plain overlay and OVN networks). OVN NB loses the OVN network's logical switch
// with its logical ports, router peer port and address reservations (`ovn-nbctl ls-del`, as a NB
// restored from an old database would), and the local OVSDB loses the gateway=local network's
// gateway port row (`ovs-vsctl del-port`). Both daemons' healing loops must put them back,
// without a restart and without recreating any container's port: the fleet is healthy again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayPortName } from '../../src/backends/bridge/infra';
import { chaosLine, untilWorks } from './helpers';
import { checkHealth, destroyFleet, Fleet, fleetContainers, Health, healthFigures, netOf, portSnapshot, problemsOf, reaches, startFleet } from './fleet';

let fleet: Fleet;
before(async () => {
  fleet = await startFleet();
});
after(async () => {
  await destroyFleet(fleet);
});

test('an OVN switch lost in NB and a gateway port row lost in OVSDB are put back: the fleet is healthy, no port recreated', async () => {
  const { lab, h, p, d } = fleet;
  const ovn = netOf(fleet, 'ovn');
  const local = netOf(fleet, 'gateway-local');
  const gwPort = gatewayPortName((await d.dockerOk(['network', 'inspect', '-f', '{{.Id}}', local.name])).stdout.trim());
  const reservations = async (): Promise<string[]> => [...((await lab.nbctl('get', 'Logical_Switch', fleet.ovnSwitch, 'external_ids')).match(/ocn-ip-[0-9.]+/g) ?? [])].sort();
  const held = await reservations();
  const ports = await portSnapshot(fleet);
  const live = await fleetContainers(fleet, ['ovn', 'gateway-local']);
  const [ovnCtr, localCtr] = [ovn, local].map((n) => live.find((c) => c.net === n)!.name);
  const pid = p.pid;

  const t0 = Date.now();
  await lab.nbctl('ls-del', fleet.ovnSwitch);
  await h.vsctl('del-port', gwPort);
  let healMs: number | string = 'never';
  let health: Health | undefined;
  try {
    // Each within the healing loop's period and a bit: the first answers show the rows are back.
    await untilWorks('the OVN gateway again', 20_000, async () => assert.ok((await reaches(fleet, ovnCtr, ovn.gateway, 1000)) !== undefined));
    await untilWorks('the local gateway again', 20_000, async () => assert.ok((await reaches(fleet, localCtr, local.gateway, 1000)) !== undefined));
    healMs = Date.now() - t0;
    assert.deepEqual(await reservations(), held, 'the address reservations are back');
    health = await checkHealth(fleet, { before: ports });
  } finally {
    chaosLine('rows-lost', { healMs, leaks: health?.leaks.length ?? '?', duplicateIps: health?.duplicateIps.length, recreatedPorts: health?.recreated.length ?? '?' }, health && healthFigures(health));
  }
  assert.equal(p.pid, pid, 'the daemon was not restarted');
  assert.deepEqual(problemsOf(health!), []);
});
