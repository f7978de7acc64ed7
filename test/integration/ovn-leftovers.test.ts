// NB leftovers of a crash, on a real Northbound ovsdb-server: a host that lost a network (its
// record gone, the NB rows still there) or an endpoint (its published ports still VIPs) collects
// exactly what is its own: its switch references (the last one takes the switch, router port,
// router, gateway, SNAT and DHCP) and the VIPs it holds; another host's rows stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PublishedPort } from '../../src/net/firewall';
import { parseNetworkOptions } from '../../src/driver/options';
import type { Endpoint, NetworkRecord } from '../../src/driver/model';
import type { KnownState } from '../../src/backends/backend';
import { LOCAL_SPACE } from '../../src/ipam/ipam';
import { nbDiff, nbSnapshot, ovnHost, privateNb } from './ovn-faults';

const nb = privateNb();
const EXT = '203.0.113.30';

function network(id: string, sw: string, subnet: string): NetworkRecord {
  const opts = { 'ovn.switch': sw, tenant_id: 'lefty', 'ovn.gateway_chassis': 'chassis-1', 'ovn.external_ip': `${EXT}/24`, 'ovn.external_gateway': '203.0.113.1', dhcp: 'true' };
  return {
    id: id.padEnd(64, '0'), options: parseNetworkOptions(opts, false), datapath: 'netdev', mtu: 1442, internal: false,
    ipv4: [{ AddressSpace: LOCAL_SPACE, Pool: subnet, Gateway: subnet.replace(/0\/24$/, '1/24') }], ipv6: [], createdBridge: false, createdUplink: false,
  };
}
const endpoint = (id: string, net: NetworkRecord, ports: PublishedPort[]): Endpoint => ({ id: id.padEnd(64, '0'), networkId: net.id, hostIf: 'x', peerIf: 'y', mac: '0a:58:0a:00:00:01', macGenerated: true, ports });
/** What a host's driver has, for its collection. */
const known = (nets: NetworkRecord[], eps: Endpoint[]): KnownState => ({ networkIds: new Set(nets.map((n) => n.id)), endpoints: eps, endpointIds: new Set(eps.map((e) => e.id)) });
const tcp = (hostPort: number, containerIp: string): PublishedPort => ({ proto: 'tcp', hostPort, containerIp, containerPort: 80 });

test("a host's leftovers (references, VIPs) are collected; another host's rows and its own live ones stay", async () => {
  const empty = await nbSnapshot(nb.observer);
  // h1: a live network and a lost one; h2 (whose name h1's is a prefix of) binds the lost one's switch too.
  const [h1, h2] = [await ovnHost(nb.server.remote, 'h1', nb.clients), await ovnHost(nb.server.remote, 'h1-x', nb.clients)];
  const live = network('aaaa0001', 'left-live', '10.81.0.0/24');
  const lost = network('bbbb0002', 'left-lost', '10.82.0.0/24');
  const lostOnH2 = network('cccc0003', 'left-lost', '10.82.0.0/24');
  const alone = network('dddd0004', 'left-alone', '10.83.0.0/24');
  for (const n of [live, lost, alone]) await h1.ovn.bind(n);
  await h2.ovn.bind(lostOnH2);
  await h1.nb.waitFor('Logical_Router_Port', (r) => (r.name === 'ocn-gw-ocn-lefty' ? true : undefined), 2000);
  const kept = endpoint('e1', live, [tcp(8081, '10.81.0.5')]);
  const gone = endpoint('e2', live, [tcp(8082, '10.81.0.6')]);
  await h1.ovn.publish(live, [], kept.ports);
  await h1.ovn.publish(live, [], gone.ports);
  const h2ep = endpoint('e3', lostOnH2, [tcp(8083, '10.82.0.7')]);
  await h2.ovn.publish(lostOnH2, [], h2ep.ports);

  // The crash: h1 forgets `lost`, `alone` and endpoint e2; its NB rows stay.
  const removed = await h1.ovn.collectLeftovers(known([live], [kept]));
  assert.deepEqual(removed.sort(), [`${lost.ovn!.ref} on switch left-lost`, `${alone.ovn!.ref} on switch left-alone`, `VIP ${EXT}:8082/tcp`].sort());
  const sw = (name: string) => [...nb.observer.cache.table('Logical_Switch').values()].find((r) => r.name === name);
  await nb.observer.waitFor('Logical_Switch', () => (sw('left-alone') ? undefined : true), 2000);
  assert.ok(sw('left-lost'), "h1-x's network still holds its switch");
  assert.deepEqual(Object.keys(sw('left-lost')!.external_ids as object).filter((k) => k.startsWith('ocn-ref-')), [lostOnH2.ovn!.ref], "only h1-x's reference is left on it");
  assert.ok(sw('left-live'), "h1's live network keeps its switch");
  // As committed (a select), not as the nb.observer's cache has seen it so far.
  const lbs = (await nb.observer.transact([{ op: 'select', table: 'Load_Balancer', where: [], columns: ['vips'] }]))[0].rows ?? [];
  const vips = Object.assign({}, ...lbs.map((lb) => Object.fromEntries((lb.vips as ['map', [string, string][]])[1])));
  assert.deepEqual(vips, { [`${EXT}:8081`]: '10.81.0.5:80', [`${EXT}:8083`]: '10.82.0.7:80' }, "the VIPs of live publications stay, h1-x's too");
  assert.deepEqual(await h1.ovn.collectLeftovers(known([live], [kept])), [], 'a second pass finds nothing');

  // Everything of both hosts collected: the NB is as it was before them.
  await h2.ovn.collectLeftovers(known([], []));
  await h1.ovn.collectLeftovers(known([], []));
  assert.deepEqual(nbDiff(empty, await nbSnapshot(nb.observer)), [], 'nothing of ours left');
});

test("QoS rows whose logical port is gone are collected; a live port's stay", async () => {
  const empty = await nbSnapshot(nb.observer);
  const h1 = await ovnHost(nb.server.remote, 'hq', nb.clients);
  const net = network('eeee0005', 'left-qos', '10.84.0.0/24');
  await h1.ovn.bind(net);
  const ep = { ...endpoint('e5', net, []), ipv4: '10.84.0.5/24', qos: { maxRate: 10, dscp: 46 } };
  await h1.ovn.addPort(net, ep);
  const ls = (await h1.nb.waitFor('Logical_Switch', (r) => (r.name === 'left-qos' ? r : undefined), 2000)) as { _uuid: string };
  // A crash between a port's delete and its rows' (an older daemon, a user's edit): a row for a port that is not there.
  await h1.nb.transact([
    { op: 'insert', table: 'QoS', 'uuid-name': 'ghost', row: { direction: 'from-lport', priority: 2000, match: 'inport == "ocn-ghost"', action: ['map', [['dscp', 10]]], bandwidth: ['map', []], external_ids: ['map', [['ocn-owner', 'ovs-container-network'], ['ocn-owner-type', 'qos'], ['ocn-lsp', 'ocn-ghost']]] } },
    { op: 'mutate', table: 'Logical_Switch', where: [['_uuid', '==', ['uuid', ls._uuid]]], mutations: [['qos_rules', 'insert', ['set', [['named-uuid', 'ghost']]]]] },
  ]);
  await h1.nb.waitFor('QoS', (r) => (r.match === 'inport == "ocn-ghost"' ? true : undefined), 2000);
  const removed = await h1.ovn.collectLeftovers(known([net], [ep]));
  assert.deepEqual(removed, ['QoS row of ocn-ghost']);
  const rows = (await nb.observer.transact([{ op: 'select', table: 'QoS', where: [], columns: ['match'] }]))[0].rows ?? [];
  assert.deepEqual(rows.map((r) => r.match), [`inport == "ocn-${ep.id}"`], "the live port's row stays");
  await h1.ovn.deletePort(ep.id);
  await h1.ovn.collectLeftovers(known([], []));
  assert.deepEqual(nbDiff(empty, await nbSnapshot(nb.observer)), [], 'nothing of ours left');
});
