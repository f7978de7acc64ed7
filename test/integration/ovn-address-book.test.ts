// The OVN address book (switch external_ids `ocn-ip-<address>`) against a real Northbound
// ovsdb-server, with faults injected on one host's NB transactions: a reservation whose outcome
// is unknown (reply lost, never sent, committed after the deadline) or whose undo failed must
// not stay in the book owned by nobody. The IPAM's collection pass drops this host's own
// leftovers; another host's reservations and the live ones stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDR_PREFIX } from '../../src/ovn/address-book';
import { parseNetworkOptions } from '../../src/driver/options';
import type { NetworkRecord } from '../../src/driver/model';
import { Ipam, LOCAL_SPACE, parseAutoPoolRange } from '../../src/ipam/ipam';
import { MemoryKvStore } from '../../src/state/kv';
import { driverAddressUsers } from '../../src/ipam/address-users';
import { ovnHost, type FaultMode, type OvnHost, privateNb } from './ovn-faults';

const DRIVER = 'ocn-book';
const GW = { RequestAddressType: 'com.docker.network.gateway' };
const nb = privateNb();

function network(id: string, sw: string, subnet: string): NetworkRecord {
  return {
    id: id.padEnd(64, '0'), options: parseNetworkOptions({ 'ovn.switch': sw }, false), datapath: 'netdev', mtu: 1442, internal: false,
    ipv4: [{ AddressSpace: LOCAL_SPACE, Pool: subnet, Gateway: subnet.replace(/0\/24$/, '1/24') }], ipv6: [], createdBridge: false, createdUplink: false,
  };
}

/** One host's IPAM on a switch another host also uses: the pool, the gateway, the binding. */
async function hostIpam(h: OvnHost, net: NetworkRecord, kv = new MemoryKvStore()) {
  const auto = { v4: parseAutoPoolRange('10.128.0.0/16:24', 'x'), v6: parseAutoPoolRange('fd6f:636e::/32:64', 'x') };
  const ipam = new Ipam(kv, DRIVER, auto);
  const subnet = net.ipv4[0].Pool;
  const p = await ipam.requestPool({ AddressSpace: LOCAL_SPACE, Pool: subnet, SubPool: '', Options: null, V6: false });
  await ipam.requestAddress({ PoolID: p.PoolID, Address: '', Options: GW });
  await ipam.bindNetwork(LOCAL_SPACE, subnet, net.id, h.ovn.book(net));
  return { ipam, kv, poolId: p.PoolID };
}

/** The switch's reservations as committed (a select on the server, not a cache): address → value. */
async function book(sw: string): Promise<Record<string, string>> {
  const rows = (await nb.observer.transact([{ op: 'select', table: 'Logical_Switch', where: [['name', '==', sw]], columns: ['external_ids'] }]))[0].rows ?? [];
  const ids = Object.fromEntries((rows[0]?.external_ids as ['map', [string, string][]])[1]);
  return Object.fromEntries(Object.entries(ids).filter(([k]) => k.startsWith(ADDR_PREFIX)).map(([k, v]) => [k.slice(ADDR_PREFIX.length), v]));
}

/** Endpoint reservations of one host. */
const epsOf = (b: Record<string, string>, host: string): string[] => Object.entries(b).filter(([, v]) => v.startsWith(`ep/${host}/`)).map(([ip]) => ip).sort();

/** Endpoint addresses the IPAM holds, per its records. */
const held = (kv: MemoryKvStore): string[] => [...kv.data].filter(([k, v]) => k.includes('.addr.') && v === 'ep').map(([k]) => k.slice(k.lastIndexOf('|') + 1)).sort();

/** A driver that has the network and no endpoint: only gateway and aux addresses are used. */
const noEndpoints = (net: NetworkRecord) => driverAddressUsers({ networks: new Map([[net.id, net]]), endpoints: new Map(), intents: new Map() });

test('a reservation whose outcome is unknown never stays owned by nobody: kept when it landed, undone or collected otherwise', async () => {
  const [h1, h2] = [await ovnHost(nb.server.remote, 'h1', nb.clients), await ovnHost(nb.server.remote, 'h2', nb.clients)];
  const net = network('aaaa0001', 'book-unknown', '10.91.0.0/24');
  await h1.ovn.bind(net);
  await h2.ovn.bind({ ...net, id: 'bbbb0002'.padEnd(64, '0') });
  const a = await hostIpam(h1, net);
  const b = await hostIpam(h2, net);
  await b.ipam.requestAddress({ PoolID: b.poolId, Address: '10.91.0.200', Options: null });

  const outcomes: string[] = [];
  for (const mode of ['reply-lost', 'unknown-uncommitted', 'unknown-late'] as FaultMode[]) {
    h1.nb.arm(1, mode);
    const r = await a.ipam.requestAddress({ PoolID: a.poolId, Address: '', Options: null }).then((x) => `got ${x.Address}`, (e: Error) => `refused: ${e.message}`);
    await h1.nb.late;
    await new Promise((res) => setTimeout(res, 100)); // the undo runs behind the answer
    outcomes.push(`${mode}: ${r}`);
    if (mode === 'reply-lost') assert.match(r, /^got /, 'the reservation landed and the cache shows it: the address is ours');
    else assert.match(r, /refused: injected fault/, `${mode}: the failure is reported`);
  }
  h1.nb.arm(0);
  const before = await book('book-unknown');
  // Only the late commit can be left over now: nobody holds it.
  assert.deepEqual(epsOf(before, 'h1').filter((ip) => !held(a.kv).includes(ip)).length, 1, `one leftover of the late commit (${outcomes.join('; ')}): ${JSON.stringify(before)}`);

  const report = await a.ipam.collectUnused(noEndpoints(net), 60_000);
  assert.equal(report.reservations.length, 1, JSON.stringify(report));
  const after = await book('book-unknown');
  assert.deepEqual(epsOf(after, 'h1'), held(a.kv), "h1's book entries are exactly the addresses its IPAM holds");
  assert.deepEqual(epsOf(after, 'h2'), ['10.91.0.200'], "h2's reservation stays");
  assert.match(after['10.91.0.1'] ?? '', /^gw\//, 'the gateway reservation stays');
  assert.deepEqual(report.addresses, [], 'IPAM addresses younger than the grace stay');
});

test('a release whose NB transaction failed, and reservations of a crashed process, are collected; an address left so can be asked for again', async () => {
  const [h1, h2] = [await ovnHost(nb.server.remote, 'h1', nb.clients), await ovnHost(nb.server.remote, 'h2', nb.clients)];
  const net = network('cccc0003', 'book-crash', '10.92.0.0/24');
  await h1.ovn.bind(net);
  await h2.ovn.bind({ ...net, id: 'dddd0004'.padEnd(64, '0') });
  const a = await hostIpam(h1, net);
  const b = await hostIpam(h2, net);
  await b.ipam.requestAddress({ PoolID: b.poolId, Address: '10.92.0.201', Options: null });
  const got = await Promise.all([1, 2, 3].map(() => a.ipam.requestAddress({ PoolID: a.poolId, Address: '', Options: null })));
  const ips = got.map((g) => g.Address.split('/')[0]);

  // The release's record goes, its NB transaction fails: the reservation stays behind.
  h1.nb.arm(1, 'rejected');
  await assert.rejects(a.ipam.releaseAddress({ PoolID: a.poolId, Address: ips[0] }), /injected fault/);
  h1.nb.arm(0);
  // A crash between the reservation and its record: the restarted process loads no record for it.
  const kvAfterCrash = new MemoryKvStore();
  for (const [k, v] of a.kv.data) if (!k.endsWith(`|${ips[1]}`) && !k.endsWith(`|${ips[0]}`)) kvAfterCrash.data.set(k, v);
  const restarted = new Ipam(kvAfterCrash, DRIVER, { v4: parseAutoPoolRange('10.128.0.0/16:24', 'x'), v6: parseAutoPoolRange('fd6f:636e::/32:64', 'x') });
  restarted.load();
  restarted.attachShared(net.id, h1.ovn.book(net));
  assert.deepEqual(epsOf(await book('book-crash'), 'h1'), [...ips].sort(), 'sanity: all three are still reserved in the NB');

  // Before any pass: the leftover of our own does not block a static request for its address.
  const again = await restarted.requestAddress({ PoolID: a.poolId, Address: ips[1], Options: null });
  assert.equal(again.Address, `${ips[1]}/24`, 'a leftover reservation of this host and IPAM is taken over');
  await assert.rejects(restarted.requestAddress({ PoolID: a.poolId, Address: '10.92.0.201', Options: null }), /10\.92\.0\.201 is already in use in 10\.92\.0\.0\/24 on another host/);

  const report = await restarted.collectUnused(noEndpoints(net), 60_000);
  assert.deepEqual(report.reservations, [`book-crash ${ips[0]}`]);
  const after = await book('book-crash');
  assert.deepEqual(epsOf(after, 'h1'), [ips[1], ips[2]].sort());
  assert.deepEqual(epsOf(after, 'h2'), ['10.92.0.201']);
  assert.deepEqual(await restarted.collectUnused(noEndpoints(net), 60_000).then((r) => r.reservations), [], 'a second pass finds nothing');
});

test("reservations of another IPAM on this host, and values without an owner, are never collected", async () => {
  const h1 = await ovnHost(nb.server.remote, 'h1', nb.clients);
  const net = network('eeee0005', 'book-owners', '10.93.0.0/24');
  await h1.ovn.bind(net);
  const a = await hostIpam(h1, net);
  const bookOf = h1.ovn.book(net);
  assert.ok(await bookOf.reserve('10.93.0.50', 'ep', 'another-driver'));
  assert.ok(await bookOf.reserve('10.93.0.51', 'ep'));
  const report = await a.ipam.collectUnused(noEndpoints(net), 60_000);
  assert.deepEqual(report.reservations, []);
  assert.deepEqual(epsOf(await book('book-owners'), 'h1'), ['10.93.0.50', '10.93.0.51']);
  // And a request for one of them is refused, not taken over.
  await assert.rejects(a.ipam.requestAddress({ PoolID: a.poolId, Address: '10.93.0.50', Options: null }), /already in use .* on another host/);
});
