// Chaos: the leader of a 3-member Raft OVN Northbound is SIGKILLed in the middle of a burst of 30
// parallel attaches (IpamDriver.RequestAddress + NetworkDriver.CreateEndpoint) on an ovn.switch
// network, sent to the real plugin daemon's socket. The NB side only: no ovn-controller, so no
// Join; the local Open_vSwitch database is a private ovsdb-server (no ovs-vswitchd needed).
// Every attach succeeds or fails with a clear error; afterwards the NB holds no address twice
// and no logical port that no live endpoint owns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startPlugin, type Plugin } from '../harness/plugin';
import { startOvsdbServer, VSWITCH_SCHEMA, type OvsdbServer } from '../ovsdb/server';
import { startDbCluster, type DbCluster } from '../ovsdb/cluster-server';
import { OvsdbClient } from '../../src/ovsdb/client';
import { NB_MONITOR } from '../../src/ovn/nb';
import { ADDR_PREFIX } from '../../src/ovn/address-book';
import { externalIds } from '../../src/ovs/db';
import { hexId, ok } from '../integration/helpers';

const BURST = 30;
let cluster: DbCluster;
let local: OvsdbServer;
let p: Plugin;
let observer: OvsdbClient;

before(async () => {
  cluster = await startDbCluster(3);
  local = await startOvsdbServer(VSWITCH_SCHEMA);
  const vsctl = (...a: string[]) => execFileSync('ovs-vsctl', ['--no-wait', `--db=${local.remote}`, ...a]);
  vsctl('init');
  vsctl('add-br', 'br-int', '--', 'set', 'Bridge', 'br-int', 'datapath_type=netdev');
  // The leader listed last: a client that writes wherever it lands starts on a follower.
  const leader = await cluster.waitLeader();
  const members = cluster.members.map((m) => m.tcpRemote);
  const nbRemote = [...members.filter((_, i) => i !== leader), members[leader]].join(',');
  p = await startPlugin({ ovsdb: local.remote, args: ['--ovn-nb', nbRemote, '--ovsdb-timeout-ms', '5000'] });
  observer = new OvsdbClient({ remote: cluster.remote('tcp'), database: 'OVN_Northbound', monitor: NB_MONITOR, backoffMs: { min: 20, max: 300 } });
  await observer.connect();
});
after(async () => {
  await p?.stop();
  await observer?.close();
  await local?.stop();
  await cluster?.stop();
});

interface Outcome { eid: string; ip?: string; err?: string }

/** Own IPAM pool, gateway and an ovn.switch network, as dockerd asks for them. */
async function ovnNetwork(cidr: string, sw: string) {
  const pool = await ok<{ PoolID: string }>(p, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: cidr, SubPool: '', Options: null, V6: false });
  const gw = await ok<{ Address: string }>(p, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const networkId = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', {
    NetworkID: networkId, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { 'ovn.switch': sw } },
    IPv4Data: [{ AddressSpace: 'ocn-local', Pool: cidr, Gateway: gw.Address }], IPv6Data: [],
  });
  return { pool, gw, networkId };
}

async function attachOnce(poolId: string, networkId: string): Promise<Outcome> {
  const eid = hexId();
  const a = await p.call<{ Address?: string; Err?: string }>('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null }, { timeoutMs: 60_000 });
  if (a.status !== 200 || !a.body.Address) return { eid, err: `RequestAddress: ${a.body.Err ?? JSON.stringify(a.body)}` };
  const ce = await p.call<{ Err?: string }>('NetworkDriver.CreateEndpoint', { NetworkID: networkId, EndpointID: eid, Interface: { Address: a.body.Address, AddressIPv6: '', MacAddress: '' }, Options: {} }, { timeoutMs: 60_000 });
  if (ce.status !== 200) {
    await p.call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: a.body.Address.split('/')[0] });
    return { eid, err: `CreateEndpoint: ${ce.body.Err ?? JSON.stringify(ce.body)}` };
  }
  return { eid, ip: a.body.Address.split('/')[0] };
}

test('nb-leader: the NB leader SIGKILLed during 30 parallel attaches', async () => {
  const { pool, gw, networkId } = await ovnNetwork('10.231.0.0/24', 'chaos-leader');

  const leader = await cluster.waitLeader();
  const started = Date.now();
  // Killed once a few attaches are through: the rest are queued, in flight or not yet sent.
  let done = 0;
  let firstFew!: () => void;
  const fewDone = new Promise<void>((r) => (firstFew = r));
  const burst = Array.from({ length: BURST }, () => attachOnce(pool.PoolID, networkId).finally(() => ++done === 5 && firstFew()));
  await Promise.race([fewDone, new Promise((r) => setTimeout(r, 2000))]);
  await cluster.members[leader].kill9();
  const killedAt = Date.now();
  const outcomes = await Promise.all(burst);
  const burstMs = Date.now() - started;
  // Time to recover: until an attach after the kill succeeds.
  let recovered: Outcome;
  for (;;) {
    recovered = await attachOnce(pool.PoolID, networkId);
    if (recovered.ip) break;
    assert.ok(Date.now() - killedAt < 30_000, `no attach succeeded within 30 s of the kill: ${recovered.err}`);
  }
  const recoverMs = Date.now() - killedAt;
  outcomes.push(recovered);

  const failed = outcomes.filter((o) => o.err);
  for (const f of failed) assert.match(f.err!, /OVN_Northbound|ovsdb|leader|not connected|committed/, `a clear error: ${f.err}`);
  const good = outcomes.filter((o) => o.ip);
  assert.equal(new Set(good.map((o) => o.ip)).size, good.length, 'no address handed out twice by the plugin');

  // The NB as the new leader has it.
  await observer.transact([{ op: 'comment', comment: 'sync' }]);
  const lsps = [...observer.cache.table('Logical_Switch_Port').values()].filter((r) => externalIds(r)['ocn-endpoint']);
  const addresses = lsps.flatMap((r) => (r.addresses as string[]).flatMap((a) => a.split(' ').slice(1)));
  const duplicates = addresses.length - new Set(addresses).size;
  const owned = new Set(good.map((o) => o.eid));
  const orphans = lsps.filter((r) => !owned.has(externalIds(r)['ocn-endpoint']));
  const ls = observer.cache.find('Logical_Switch', (r) => r.name === 'chaos-leader')!;
  const reserved = Object.keys(externalIds(ls)).filter((k) => k.startsWith(ADDR_PREFIX)).map((k) => k.slice(ADDR_PREFIX.length));
  const usedIps = new Set([...good.map((o) => o.ip!), gw.Address.split('/')[0]]);
  const leakedReservations = reserved.filter((ip) => !usedIps.has(ip));
  console.log(`# chaos | nb-leader | heal_ms=${recoverMs} burst_ms=${burstMs} attaches_ok=${good.length - 1}/${BURST} failed=${failed.length} duplicate_ips=${duplicates} orphan_ports=${orphans.length} leaked_reservations=${leakedReservations.length}`);
  for (const f of failed.slice(0, 3)) console.log(`# failed attach: ${f.err}`);
  assert.equal(duplicates, 0, `duplicate addresses in the NB: ${addresses.join(' ')}`);
  assert.deepEqual(orphans.map((r) => r.name), [], 'logical ports that no endpoint owns');
  assert.equal(lsps.length, good.length, 'one logical port per attached endpoint');

  for (const o of good) await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: o.eid });
  await cluster.members[leader].start();
});

test('nb-leader: two of three NB members killed: an attach fails within the deadline, naming the Northbound', async () => {
  const { pool, gw, networkId } = await ovnNetwork('10.232.0.0/24', 'chaos-quorum');
  const leader = await cluster.waitLeader();
  const killed = [leader, (leader + 1) % 3];
  await Promise.all(killed.map((i) => cluster.members[i].kill9()));
  const t0 = Date.now();
  const r = await p.call<{ Err?: string }>('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null }, { timeoutMs: 40_000 });
  const failMs = Date.now() - t0;
  console.log(`# chaos | nb-quorum-lost | fail_ms=${failMs} deadline_ms=5000`);
  assert.notEqual(r.status, 200, `an attach without NB quorum cannot succeed: ${JSON.stringify(r.body)}`);
  assert.match(r.body.Err ?? '', /OVN_Northbound/, `the error names the Northbound: ${r.body.Err}`);
  assert.ok(failMs < 5000 + 2000, `failed after ${failMs} ms, the deadline is 5000 ms`);
  for (const i of killed) await cluster.members[i].start();
});
