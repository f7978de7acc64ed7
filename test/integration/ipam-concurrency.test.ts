// IPAM uniqueness under concurrency, against the real daemon and the system OVSDB: 50 requests
// of each kind at once over the plugin socket, and the records in OVSDB agree with the answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin, Plugin, CallResult } from '../harness/plugin';
import { ensureSystemOvs } from '../harness/ovs';
import { kvKeys } from '../e2e/helpers';
import { ok } from './helpers';

let p: Plugin;

before(async () => {
  await ensureSystemOvs();
  p = await startPlugin();
});
after(async () => {
  // Every pool this daemon recorded, including any a failing run handed out twice.
  const prefix = `ocn.${p.name}.pool.`;
  for (const k of await kvKeys(p.name)) if (k.startsWith(prefix)) await p.call('IpamDriver.ReleasePool', { PoolID: k.slice(prefix.length) });
  await p?.stop();
});

type Answer = CallResult<{ PoolID?: string; Pool?: string; Address?: string; Err?: string }>;
const fire = (n: number, body: (i: number) => unknown, method: string): Promise<Answer[]> =>
  Promise.all(Array.from({ length: n }, (_, i) => p.call(method, body(i), { timeoutMs: 60_000 }) as Promise<Answer>));
const wins = (rs: Answer[]) => rs.filter((r) => r.status === 200);
const losses = (rs: Answer[]) => rs.filter((r) => r.status !== 200).map((r) => r.body.Err ?? JSON.stringify(r.body));

async function requestPool(Pool: string, SubPool = ''): Promise<string> {
  const r = await ok<{ PoolID: string }>(p, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool, SubPool, Options: null, V6: false });
  return r.PoolID;
}

/** Addresses the daemon recorded in OVSDB for a pool. */
async function recordedAddresses(poolId: string): Promise<string[]> {
  const prefix = `ocn.${p.name}.addr.${poolId}|`;
  return (await kvKeys(p.name)).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)).sort();
}

test('50 concurrent RequestAddress for one static address: exactly one succeeds, one record', async () => {
  const pool = await requestPool('10.211.0.0/24');
  const rs = await fire(50, () => ({ PoolID: pool, Address: '10.211.0.77', Options: null }), 'IpamDriver.RequestAddress');
  assert.equal(wins(rs).length, 1, `successes: ${wins(rs).length}`);
  for (const e of losses(rs)) assert.match(e, /RequestAddress: 10\.211\.0\.77 is already in use in 10\.211\.0\.0\/24/);
  assert.deepEqual(await recordedAddresses(pool), ['10.211.0.77']);
});

test('50 concurrent overlapping RequestPool: exactly one succeeds, one record', async () => {
  const rs = await fire(50, (i) => ({ AddressSpace: 'ocn-local', Pool: '10.212.0.0/16', SubPool: `10.212.${i}.0/24`, Options: null, V6: false }), 'IpamDriver.RequestPool');
  const w = wins(rs);
  assert.equal(w.length, 1, `successes: ${w.map((r) => r.body.PoolID).join(', ')}`);
  for (const e of losses(rs)) assert.match(e, /RequestPool: subnet 10\.212\.0\.0\/16 (overlaps with subnet 10\.212\.0\.0\/16|is being allocated)/);
  const recs = (await kvKeys(p.name)).filter((k) => k.includes('.pool.ocn-local/10.212.'));
  assert.deepEqual(recs, [`ocn.${p.name}.pool.${w[0].body.PoolID}`]);
});

test('50 concurrent automatic RequestPool: 50 distinct pools, each recorded', async () => {
  const rs = await fire(50, () => ({ AddressSpace: 'ocn-local', Pool: '', SubPool: '', Options: null, V6: false }), 'IpamDriver.RequestPool');
  const w = wins(rs);
  assert.equal(w.length, 50, losses(rs).join('\n'));
  const got = w.map((r) => r.body.Pool!);
  assert.equal(new Set(got).size, 50, `pools handed out twice: ${got.filter((x, i) => got.indexOf(x) !== i).join(', ')}`);
  const recs = new Set(await kvKeys(p.name));
  for (const r of w) assert.ok(recs.has(`ocn.${p.name}.pool.${r.body.PoolID}`), `record of ${r.body.PoolID}`);
});

test('25 automatic + 25 static RequestAddress at once: all distinct, records agree with the answers', async () => {
  const pool = await requestPool('10.213.0.0/24');
  // The static ones sit where the automatic ones start, so both kinds go for the same addresses:
  // a static one may lose to an automatic one (and says so), but no address is given twice.
  const rs = await fire(50, (i) => ({ PoolID: pool, Address: i % 2 ? `10.213.0.${12 + Math.ceil(i / 2)}` : '', Options: null }), 'IpamDriver.RequestAddress');
  const autos = rs.filter((_, i) => i % 2 === 0);
  assert.equal(wins(autos).length, 25, losses(autos).join('\n'));
  const got = wins(rs).map((r) => r.body.Address!.split('/')[0]);
  assert.equal(new Set(got).size, got.length, `addresses handed out twice: ${got.filter((x, i) => got.indexOf(x) !== i).join(', ')}`);
  for (const e of losses(rs)) {
    const ip = /RequestAddress: (\S+) is already in use in 10\.213\.0\.0\/24$/.exec(e)?.[1];
    assert.ok(ip && got.includes(ip), `a static request lost only to an address someone got: ${e}`);
  }
  assert.deepEqual(await recordedAddresses(pool), [...got].sort());
  console.log(`# ${got.length - 25} static requests won, ${losses(rs).length} lost to an automatic one`);
});
