// IPAM decisions under concurrency (pure logic: a kv store whose commits take a while, and a fake
// shared book). Each decision must be made and marked before the first await.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipam, LOCAL_SPACE, parseAutoPoolRange, SharedAddresses } from '../../src/ipam/ipam';
import { MemoryKvStore, KvChange } from '../../src/state/kv';

/** Commits land after a timer, as an OVSDB round trip does, so requests really overlap. */
class SlowKv extends MemoryKvStore {
  failWhen?: (change: KvChange) => boolean;
  override async commit(change: KvChange): Promise<void> {
    await new Promise((r) => setTimeout(r, 2));
    if (this.failWhen?.(change)) throw new Error('injected commit failure');
    return super.commit(change);
  }
}

function ipam(kv = new SlowKv()) {
  const auto = { v4: parseAutoPoolRange('10.128.0.0/16:24', 'x'), v6: parseAutoPoolRange('fd6f:636e::/32:64', 'x') };
  return { kv, ipam: new Ipam(kv, 'test', auto, () => 0) };
}
const pool = (Pool: string, SubPool = '') => ({ AddressSpace: LOCAL_SPACE, Pool, SubPool, Options: null, V6: false });
const addr = (PoolID: string, Address = '', Options: Record<string, string> | null = null) => ({ PoolID, Address, Options });
const GW = { RequestAddressType: 'com.docker.network.gateway' };

async function settle<T>(n: number, f: (i: number) => Promise<T>) {
  const all = await Promise.allSettled(Array.from({ length: n }, (_, i) => f(i)));
  const ok = all.filter((r): r is PromiseFulfilledResult<Awaited<T>> => r.status === 'fulfilled').map((r) => r.value);
  const errors = all.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String((r.reason as Error).message));
  return { ok, errors };
}

test('50 concurrent requests for one static address: exactly one wins', async () => {
  const { ipam: i, kv } = ipam();
  const p = await i.requestPool(pool('10.10.0.0/24'));
  const { ok, errors } = await settle(50, () => i.requestAddress(addr(p.PoolID, '10.10.0.9')));
  assert.equal(ok.length, 1);
  for (const e of errors) assert.match(e, /10\.10\.0\.9 is already in use in 10\.10\.0\.0\/24/);
  assert.equal([...kv.data.keys()].filter((k) => k.includes('|10.10.0.9')).length, 1);
});

test('50 concurrent overlapping pools: exactly one; 50 automatic pools: all distinct', async () => {
  const { ipam: i } = ipam();
  const over = await settle(50, (n) => i.requestPool(pool('10.20.0.0/16', `10.20.${n}.0/24`)));
  assert.equal(over.ok.length, 1);
  for (const e of over.errors) assert.match(e, /overlaps with subnet 10\.20\.0\.0\/16|is being allocated/);
  const auto = await settle(50, () => i.requestPool(pool('')));
  assert.equal(auto.ok.length, 50, auto.errors.join('\n'));
  assert.equal(new Set(auto.ok.map((r) => r.Pool)).size, 50);
});

test('automatic and static addresses requested together never share one', async () => {
  const { ipam: i, kv } = ipam();
  const p = await i.requestPool(pool('10.30.0.0/24'));
  const { ok } = await settle(50, (n) => i.requestAddress(addr(p.PoolID, n % 2 ? `10.30.0.${n + 1}` : '')));
  assert.equal(ok.length, 50);
  const got = ok.map((r) => r.Address);
  assert.equal(new Set(got).size, 50, got.join(' '));
  assert.equal([...kv.data.keys()].filter((k) => k.includes('.addr.')).length, 50);
});

test('a failed commit frees the address and the pool it marked', async () => {
  const { ipam: i, kv } = ipam();
  kv.failWhen = (c) => Object.keys(c.set ?? {}).some((k) => k.includes('10.40.0.0'));
  await assert.rejects(i.requestPool(pool('10.40.0.0/24')), /injected/);
  kv.failWhen = undefined;
  const p = await i.requestPool(pool('10.40.0.0/24'));
  kv.failWhen = (c) => Object.keys(c.set ?? {}).some((k) => k.endsWith('|10.40.0.5'));
  await assert.rejects(i.requestAddress(addr(p.PoolID, '10.40.0.5')), /injected/);
  kv.failWhen = undefined;
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.40.0.5'))).Address, '10.40.0.5/24');
});

test('releases keep the address taken until its record is gone', async () => {
  const { ipam: i, kv } = ipam();
  const p = await i.requestPool(pool('10.50.0.0/24'));
  await i.requestAddress(addr(p.PoolID, '10.50.0.7'));
  const release = i.releaseAddress({ PoolID: p.PoolID, Address: '10.50.0.7' });
  await assert.rejects(i.requestAddress(addr(p.PoolID, '10.50.0.7')), /already in use/);
  await release;
  assert.equal((await i.requestAddress(addr(p.PoolID, '10.50.0.7'))).Address, '10.50.0.7/24');
  // A pool being released takes no new addresses and cannot be re-created under its feet.
  const gone = i.releasePool({ PoolID: p.PoolID });
  await assert.rejects(i.requestAddress(addr(p.PoolID)), /is being released/);
  await assert.rejects(i.requestPool(pool('10.50.0.0/24')), /is being released/);
  await gone;
  assert.equal([...kv.data.keys()].length, 0);
});

test('concurrent gateway requests agree; a pending gateway is not given to an endpoint', async () => {
  const { ipam: i } = ipam();
  const p = await i.requestPool(pool('10.60.0.0/24'));
  const gws = await settle(10, () => i.requestAddress(addr(p.PoolID, '', GW)));
  assert.deepEqual(new Set(gws.ok.map((r) => r.Address)), new Set(['10.60.0.1/24']));
  assert.equal(gws.ok.length, 10);
  const q = await i.requestPool(pool('10.61.0.0/24'));
  const [gw, ep] = await Promise.allSettled([i.requestAddress(addr(q.PoolID, '10.61.0.1', GW)), i.requestAddress(addr(q.PoolID, '10.61.0.1'))]);
  assert.equal(gw.status, 'fulfilled');
  assert.equal(ep.status, 'rejected');
});

/** An OVN switch's address book shared by hosts: reserve answers after a round trip. */
class FakeBook implements SharedAddresses {
  readonly name = 'fake';
  readonly held = new Map<string, string>();
  taken(): Set<string> { return new Set(this.held.keys()); }
  async reserve(ip: string, role: string): Promise<boolean> {
    await new Promise((r) => setTimeout(r, 1));
    if (this.held.has(ip)) return role === 'gw' && this.held.get(ip) === 'gw';
    this.held.set(ip, role);
    return true;
  }
  async release(ip: string): Promise<void> { this.held.delete(ip); }
  async dropUnheld(): Promise<string[]> { return []; }
}

test('shared book: concurrent automatic and static requests stay distinct, a failed commit gives the reservation back', async () => {
  const { ipam: i, kv } = ipam();
  const p = await i.requestPool(pool('10.70.0.0/24'));
  const book = new FakeBook();
  book.held.set('10.70.0.2', 'ep'); // another host's
  await i.bindNetwork(LOCAL_SPACE, '10.70.0.0/24', 'a'.repeat(64), book);
  const { ok, errors } = await settle(40, (n) => i.requestAddress(addr(p.PoolID, n % 4 === 0 ? '10.70.0.9' : '')));
  const got = ok.map((r) => r.Address);
  assert.equal(new Set(got).size, got.length);
  assert.ok(!got.includes('10.70.0.2/24'));
  assert.equal(got.filter((a) => a === '10.70.0.9/24').length, 1);
  assert.equal(errors.length, 9, errors.join('\n'));
  kv.failWhen = (c) => Object.keys(c.set ?? {}).some((k) => k.endsWith('|10.70.0.200'));
  await assert.rejects(i.requestAddress(addr(p.PoolID, '10.70.0.200')), /injected/);
  assert.ok(!book.held.has('10.70.0.200'));
});
