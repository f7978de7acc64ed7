import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipam, LOCAL_SPACE, GLOBAL_SPACE, parseAutoPoolRange } from '../../src/ipam/ipam';
import { MemoryKvStore } from '../../src/state/kv';

function ipam(kv = new MemoryKvStore(), now = () => 1_000_000) {
  const auto = { v4: parseAutoPoolRange('10.128.0.0/22:24', 'x'), v6: parseAutoPoolRange('fd6f:636e::/32:64', 'x') };
  return { kv, ipam: new Ipam(kv, 'test', auto, now) };
}
const pool = (Pool: string, extra: Partial<{ SubPool: string; V6: boolean; AddressSpace: string }> = {}) =>
  ({ AddressSpace: LOCAL_SPACE, Pool, SubPool: '', Options: null, V6: false, ...extra });
const addr = (PoolID: string, Address = '', Options: Record<string, string> | null = null) => ({ PoolID, Address, Options });
const GW = { RequestAddressType: 'com.docker.network.gateway' };

test('explicit pool, gateway, addresses in order', async () => {
  const { ipam: i } = ipam();
  const p = await i.requestPool(pool('10.10.0.0/24'));
  assert.equal(p.Pool, '10.10.0.0/24');
  assert.equal((await i.requestAddress(addr(p.PoolID, '', GW))).Address, '10.10.0.1/24');
  assert.equal((await i.requestAddress(addr(p.PoolID))).Address, '10.10.0.2/24');
  assert.equal((await i.requestAddress(addr(p.PoolID))).Address, '10.10.0.3/24');
});

test('--ip-range allocates inside the range, --gateway and aux anywhere in the subnet', async () => {
  const { ipam: i } = ipam();
  const p = await i.requestPool(pool('10.20.0.0/16', { SubPool: '10.20.5.0/24' }));
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.20.0.1', GW))).Address, '10.20.0.1/16');
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.20.9.9'))).Address, '10.20.9.9/16');
  assert.equal((await i.requestAddress(addr(p.PoolID))).Address, '10.20.5.1/16');
});

test('static address: outside the pool, taken, and then released', async () => {
  const { ipam: i } = ipam();
  const p = await i.requestPool(pool('10.30.0.0/24'));
  await assert.rejects(i.requestAddress(addr(p.PoolID, '10.31.0.5')), /10.31.0.5 is outside subnet 10.30.0.0\/24/);
  await i.requestAddress(addr(p.PoolID, '10.30.0.50'));
  await assert.rejects(i.requestAddress(addr(p.PoolID, '10.30.0.50')), /10.30.0.50 is already in use/);
  await i.releaseAddress({ PoolID: p.PoolID, Address: '10.30.0.50' });
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.30.0.50'))).Address, '10.30.0.50/24');
});

test('overlapping pools are refused in one space, allowed across spaces (swarm)', async () => {
  const { ipam: i } = ipam();
  const a = await i.requestPool(pool('10.40.0.0/24'));
  await i.bindNetwork(LOCAL_SPACE, '10.40.0.0/24', 'net1234567890');
  await assert.rejects(i.requestPool(pool('10.40.0.0/16')), /overlaps with subnet 10.40.0.0\/24 used by network net123456789/);
  await assert.rejects(i.requestPool(pool('10.40.0.0/24')), /already used by network/);
  const g = await i.requestPool(pool('10.40.0.0/24', { AddressSpace: GLOBAL_SPACE }));
  assert.notEqual(g.PoolID, a.PoolID);
  // The node re-requests the manager-assigned address in its own space.
  await i.requestAddress(addr(g.PoolID, '10.40.0.9'));
  await i.requestAddress(addr(a.PoolID, '10.40.0.9'));
});

test('exhausted pool', async () => {
  const { ipam: i } = ipam();
  const p = await i.requestPool(pool('10.50.0.0/30'));
  await i.requestAddress(addr(p.PoolID));
  await i.requestAddress(addr(p.PoolID));
  await assert.rejects(i.requestAddress(addr(p.PoolID)), /no free address left in 10.50.0.0\/30 \(2 in use\)/);
});

test('automatic pools skip held ones and run out with a clear error', async () => {
  const { ipam: i } = ipam();
  const got = [];
  for (let n = 0; n < 4; n++) got.push((await i.requestPool(pool(''))).Pool);
  assert.deepEqual(got, ['10.128.0.0/24', '10.128.1.0/24', '10.128.2.0/24', '10.128.3.0/24']);
  await assert.rejects(i.requestPool(pool('')), /no free \/24 left in the automatic range 10.128.0.0\/22/);
  const v6 = await i.requestPool(pool('', { V6: true }));
  assert.equal(v6.Pool, 'fd6f:636e::/64');
});

test('IPv6 pool and addresses', async () => {
  const { ipam: i } = ipam();
  const p = await i.requestPool(pool('fd00:10::/64', { V6: true }));
  assert.equal((await i.requestAddress(addr(p.PoolID, '', GW))).Address, 'fd00:10::1/64');
  assert.equal((await i.requestAddress(addr(p.PoolID))).Address, 'fd00:10::2/64');
  await assert.rejects(i.requestPool(pool('10.0.0.0/24', { V6: true })), /not an IPv6 subnet/);
});

test('state survives a restart (reload from the kv records)', async () => {
  const kv = new MemoryKvStore();
  const a = ipam(kv).ipam;
  const p = await a.requestPool(pool('10.60.0.0/24'));
  await a.requestAddress(addr(p.PoolID, '', GW));
  await a.requestAddress(addr(p.PoolID));
  const b = ipam(kv).ipam;
  b.load();
  assert.equal((await b.requestAddress(addr(p.PoolID))).Address, '10.60.0.3/24');
  await assert.rejects(b.requestAddress(addr(p.PoolID, '10.60.0.2')), /already in use/);
});

test("dockerd's replay after its restart is accepted (RequiresRequestReplay)", async () => {
  let now = 1_000_000;
  const kv = new MemoryKvStore();
  const { ipam: i } = ipam(kv, () => now);
  const caps = await i.getCapabilities();
  assert.equal(caps.RequiresRequestReplay, true);
  const p = await i.requestPool(pool('10.70.0.0/24'));
  await i.bindNetwork(LOCAL_SPACE, '10.70.0.0/24', 'netA');
  await i.requestAddress(addr(p.PoolID, '10.70.0.1', GW));
  await i.requestAddress(addr(p.PoolID, '10.70.0.5'));
  now += 10 * 60_000;
  // dockerd restarts: registers the plugin again, then replays pools and addresses.
  await i.getCapabilities();
  assert.equal((await i.requestPool(pool('10.70.0.0/24'))).PoolID, p.PoolID);
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.70.0.1', GW))).Address, '10.70.0.1/24');
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.70.0.5'))).Address, '10.70.0.5/24');
  // The first user action ends the replay window: duplicates are errors again.
  i.endReplay();
  await assert.rejects(i.requestAddress(addr(p.PoolID, '10.70.0.5')), /already in use/);
});

test('a failed commit leaves no allocation behind', async () => {
  const { kv, ipam: i } = ipam();
  const p = await i.requestPool(pool('10.80.0.0/24'));
  kv.failNext = true;
  await assert.rejects(i.requestAddress(addr(p.PoolID, '10.80.0.7')), /injected/);
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.80.0.7'))).Address, '10.80.0.7/24');
});

test('release of unknown pools and addresses succeeds (Docker retries and cleans up blindly)', async () => {
  const { ipam: i } = ipam();
  assert.deepEqual(await i.releasePool({ PoolID: 'nope' }), {});
  assert.deepEqual(await i.releaseAddress({ PoolID: 'nope', Address: '1.2.3.4' }), {});
});

test('release pool drops its addresses from the store', async () => {
  const { kv, ipam: i } = ipam();
  const p = await i.requestPool(pool('10.90.0.0/24'));
  await i.requestAddress(addr(p.PoolID));
  await i.releasePool({ PoolID: p.PoolID });
  assert.equal(kv.data.size, 0);
});
