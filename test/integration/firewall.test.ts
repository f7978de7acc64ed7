// The firewall's incremental loads against the real iptables: networks append and delete only their
// own rules, and chains changed behind the daemon's back are reloaded whole.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { chainNames, Firewall, FirewallState } from '../../src/net/firewall';
import { runOk } from '../harness/exec';
import { createLogger } from '../../src/util/log';

const name = `ocnt-fw-${crypto.randomBytes(3).toString('hex')}`;
const c = chainNames(name);
const state: FirewallState = { v4: { networks: [], ports: [] }, v6: { networks: [], ports: [] } };
const fw = new Firewall(name, () => state, createLogger('error', name), { resyncMs: 0, bridgeWatchMs: 0 });
const A = { id: 'aaaaaaaaaaaa0001', subnets: ['10.203.1.0/24'], gateway: 'ocngtestfwa' };
const B = { id: 'bbbbbbbbbbbb0002', subnets: ['10.203.2.0/24'], gateway: 'ocngtestfwb' };

after(async () => {
  await fw.remove();
  fw.close();
});

/** Our chain's rules as `iptables -S` prints them (without the -N line). */
async function rules(table: 'nat' | 'filter', chain: string): Promise<string[]> {
  const r = await runOk('iptables', ['-w', '-t', table, '-S', chain]);
  return r.stdout.split('\n').filter((l) => l.startsWith('-A '));
}

test('networks add and remove their own rules; the others stay', async () => {
  state.v4.networks = [A];
  await fw.apply();
  assert.equal((await rules('nat', c.post)).length, 1);
  state.v4.networks = [A, B];
  await fw.apply();
  const nat = await rules('nat', c.post);
  assert.equal(nat.length, 2);
  assert.match(nat[1], /-s 10\.203\.2\.0\/24 ! -o ocng\+ .*MASQUERADE/);
  assert.equal((await rules('filter', c.fwd)).length, 4);
  state.v4.networks = [B];
  await fw.apply();
  assert.deepEqual((await rules('nat', c.post)).map((l) => /-s (\S+)/.exec(l)?.[1]), ['10.203.2.0/24']);
  assert.equal((await rules('filter', c.fwd)).length, 2);
  // The jump into our chains exists once.
  const post = (await runOk('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'])).stdout.split('\n').filter((l) => l.includes(c.post));
  assert.equal(post.length, 1);
});

test('a flush behind our back is undone by the next resync', async () => {
  state.v4.networks = [A, B];
  await fw.apply();
  await runOk('iptables', ['-w', '-t', 'nat', '-F', c.post]);
  await runOk('iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', '-j', c.post]);
  await fw.resync();
  assert.equal((await rules('nat', c.post)).length, 2);
  const post = (await runOk('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'])).stdout;
  assert.ok(post.includes(`-j ${c.post}`), 'jump restored');
});

test('the check finds a flushed chain, a deleted rule or a removed jump, and reloads; an untouched set is left alone', async () => {
  state.v4.networks = [A, B];
  await fw.apply();
  assert.equal(await fw.check(), undefined, 'nothing changed: no reload');
  const iso = (await runOk('iptables', ['-w', '-t', 'mangle', '-S', c.iso])).stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
  assert.ok(iso > 0);
  await runOk('iptables', ['-w', '-t', 'mangle', '-F', c.iso]);
  assert.match((await fw.check()) ?? '', new RegExp(`mangle ${c.iso}: 0 rules`));
  assert.equal((await runOk('iptables', ['-w', '-t', 'mangle', '-S', c.iso])).stdout.split('\n').filter((l) => l.startsWith('-A ')).length, iso, 'isolation rules back');
  await runOk('iptables', ['-w', '-t', 'filter', '-D', c.fwd, '1']);
  assert.match((await fw.check()) ?? '', /filter .*: 3 rules, 4 loaded/);
  assert.equal((await rules('filter', c.fwd)).length, 4);
  await runOk('iptables', ['-w', '-t', 'mangle', '-D', 'FORWARD', '-j', c.iso]);
  assert.match((await fw.check()) ?? '', /mangle FORWARD: no jump/);
  assert.ok((await runOk('iptables', ['-w', '-t', 'mangle', '-S', 'FORWARD'])).stdout.includes(`-j ${c.iso}`), 'jump restored');
  assert.equal(await fw.check(), undefined);
});

test('a delete whose rule is already gone falls back to a whole reload', async () => {
  state.v4.networks = [A, B];
  await fw.apply();
  // Someone removed A's masquerade by hand; removing A then cannot delete it rule by rule.
  await runOk('iptables', ['-w', '-t', 'nat', '-D', c.post, '-s', '10.203.1.0/24', '!', '-o', 'ocng+', '-m', 'comment', '--comment', `ocn:${A.id.slice(0, 12)}`, '-j', 'MASQUERADE']);
  state.v4.networks = [B];
  await fw.apply();
  assert.equal((await rules('nat', c.post)).length, 1);
  assert.equal((await rules('filter', c.fwd)).length, 2, "A's forward rules are gone too");
});
