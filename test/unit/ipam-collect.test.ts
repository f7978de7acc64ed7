// The IPAM's collection of what dockerd could not release (pure logic: an in-memory store, a
// fake clock, the driver's state as plain maps). The real-dockerd proof is test/e2e/ipam-leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipam, LOCAL_SPACE, parseAutoPoolRange } from '../../src/ipam/ipam';
import { driverAddressUsers, type SubnetData } from '../../src/ipam/address-users';
import { MemoryKvStore } from '../../src/state/kv';
import { UnusedAddressCollector } from '../../src/ipam/collector';
import type { Logger } from '../../src/util/log';

const NET = 'n'.repeat(64);
const GRACE = 30_000;
const GW = { RequestAddressType: 'com.docker.network.gateway' };

function setup() {
  let t = 1_000_000;
  const clock = { advance: (ms: number) => (t += ms) };
  const kv = new MemoryKvStore();
  const auto = { v4: parseAutoPoolRange('10.128.0.0/16:24', 'x'), v6: parseAutoPoolRange('fd6f:636e::/32:64', 'x') };
  const ipam = new Ipam(kv, 'test', auto, () => t);
  const state = {
    networks: new Map<string, { ipv4: SubnetData[]; ipv6: SubnetData[] }>(),
    endpoints: new Map<string, { networkId: string; ipv4?: string; ipv6?: string }>(),
    intents: new Map<string, { networkId: string }>(),
  };
  const collect = () => ipam.collectUnused(driverAddressUsers(state), GRACE);
  return { kv, ipam, clock, state, collect };
}

async function network(s: ReturnType<typeof setup>, subnet: string, aux?: string) {
  const p = await s.ipam.requestPool({ AddressSpace: LOCAL_SPACE, Pool: subnet, SubPool: '', Options: null, V6: subnet.includes(':') });
  const gw = (await s.ipam.requestAddress({ PoolID: p.PoolID, Address: '', Options: GW })).Address;
  const d = { AddressSpace: LOCAL_SPACE, Pool: subnet, Gateway: gw, AuxAddresses: aux ? { router: `${aux}/24` } : undefined };
  if (aux) await s.ipam.requestAddress({ PoolID: p.PoolID, Address: aux, Options: null });
  s.state.networks.set(NET, { ipv4: subnet.includes(':') ? [] : [d], ipv6: subnet.includes(':') ? [d] : [] });
  await s.ipam.bindNetwork(LOCAL_SPACE, subnet, NET);
  return p.PoolID;
}
const ask = async (s: ReturnType<typeof setup>, PoolID: string, Address = '') => (await s.ipam.requestAddress({ PoolID, Address, Options: null })).Address;

test('an address no endpoint holds is released once past the grace; endpoint, gateway and aux addresses stay', async () => {
  const s = setup();
  const pool = await network(s, '10.9.0.0/24', '10.9.0.200');
  const held = await ask(s, pool);
  const leaked = await ask(s, pool, '10.9.0.77');
  s.state.endpoints.set('e1', { networkId: NET, ipv4: held });
  assert.deepEqual((await s.collect()).addresses, [], 'nothing is old enough yet');
  s.clock.advance(GRACE);
  const r = await s.collect();
  assert.deepEqual(r.addresses, [`${pool} 10.9.0.77`]);
  assert.ok(leaked);
  assert.deepEqual([...s.kv.data.keys()].filter((k) => k.includes('.addr.')).map((k) => k.split('|')[1]).sort(), ['10.9.0.1', '10.9.0.2', '10.9.0.200']);
  assert.equal(await ask(s, pool, '10.9.0.77'), '10.9.0.77/24', 'handed out again');
});

test('IPv6: an endpoint address written differently still counts as held', async () => {
  const s = setup();
  const pool = await network(s, 'fd00:9::/64');
  const a = await ask(s, pool);
  s.state.endpoints.set('e1', { networkId: NET, ipv6: a.replace('fd00:9::', 'fd00:0009:0000::') });
  await ask(s, pool);
  s.clock.advance(GRACE);
  assert.deepEqual((await s.collect()).addresses, [`${pool} fd00:9::3`]);
});

test('an endpoint being created (record, no endpoint yet) keeps its whole network untouched', async () => {
  const s = setup();
  const pool = await network(s, '10.9.1.0/24');
  await ask(s, pool);
  s.state.intents.set('e1', { networkId: NET });
  s.clock.advance(GRACE);
  assert.deepEqual((await s.collect()).addresses, []);
  s.state.intents.clear();
  assert.equal((await s.collect()).addresses.length, 1);
});

test("pools of other drivers (never bound) are never judged; a pool whose network the driver lost is released", async () => {
  const s = setup();
  const other = await s.ipam.requestPool({ AddressSpace: LOCAL_SPACE, Pool: '10.9.2.0/24', SubPool: '', Options: null, V6: false });
  await ask(s, other.PoolID);
  const ours = await network(s, '10.9.3.0/24');
  await ask(s, ours);
  s.clock.advance(GRACE);
  s.state.networks.clear();
  const r = await s.collect();
  assert.deepEqual(r.pools, [ours]);
  assert.deepEqual(r.addresses, []);
  assert.deepEqual(s.ipam.snapshot().map((p) => p.id), [other.PoolID]);
  assert.ok(![...s.kv.data.keys()].some((k) => k.includes('10.9.3.')), 'the lost pool and its addresses left the store');
});

test('nothing is judged while dockerd may be replaying (after GetCapabilities), and a replayed address counts as fresh', async () => {
  const s = setup();
  const pool = await network(s, '10.9.4.0/24');
  const a = await ask(s, pool);
  s.clock.advance(GRACE);
  await s.ipam.getCapabilities();
  assert.match((await s.collect()).skipped ?? '', /replaying/);
  assert.equal(await ask(s, pool, a.split('/')[0]), a, 'the replay gets it back');
  s.ipam.endReplay();
  assert.deepEqual((await s.collect()).addresses, [], 'replayed just now: not old enough');
  s.clock.advance(GRACE);
  assert.equal((await s.collect()).addresses.length, 1);
});

test('after a restart, loaded addresses get the grace from the load on', async () => {
  const s = setup();
  const pool = await network(s, '10.9.5.0/24');
  await ask(s, pool);
  s.clock.advance(10 * GRACE);
  s.ipam.load();
  assert.deepEqual((await s.collect()).addresses, []);
  s.clock.advance(GRACE);
  assert.equal((await s.collect()).addresses.length, 1);
});

test('the healing loop collects at most once a grace period (a pass more often finds nothing new)', async () => {
  const { ipam, state } = setup();
  let passes = 0;
  const counting = Object.assign(Object.create(ipam) as Ipam, {
    collectUnused: async () => {
      passes++;
      return { addresses: [], pools: [], reservations: [] };
    },
  });
  const log = { info: () => undefined, warn: () => undefined } as unknown as Logger;
  const c = new UnusedAddressCollector(counting, () => driverAddressUsers(state), log, { graceMs: GRACE });
  await c.passIfDue(0);
  await c.passIfDue(5_000);
  await c.passIfDue(GRACE - 1);
  assert.equal(passes, 1, 'within the grace: no second pass');
  await c.passIfDue(GRACE);
  assert.equal(passes, 2);
  await c.pass(GRACE + 1);
  assert.equal(passes, 3, 'an explicit pass always runs');
});
