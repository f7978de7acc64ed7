// Pure logic of the self-healing loop: restart detection, start-up retries, coalescing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { restartSign, OvsHealer } from '../../src/heal/ovs-healer';
import { StartupLoop, within } from '../../src/heal/startup';
import type { OvsdbClient } from '../../src/ovsdb/client';

const log = pino({ level: 'silent' });

test('an internal port with a new ifindex means ovs-vswitchd restarted; other changes do not', () => {
  const row = (ifindex: number, type = 'internal') => ({ _uuid: 'u', name: 'ocng1', type, ifindex });
  assert.equal(restartSign({ table: 'Interface', uuid: 'u', old: row(7), new: row(9) }), true);
  assert.equal(restartSign({ table: 'Interface', uuid: 'u', old: row(7), new: row(7) }), false);
  assert.equal(restartSign({ table: 'Interface', uuid: 'u', old: row(7, ''), new: row(9, '') }), false, 'a veth is the container\'s');
  assert.equal(restartSign({ table: 'Interface', uuid: 'u', new: row(9) }), false, 'an insert');
  assert.equal(restartSign({ table: 'Port', uuid: 'u', old: row(7), new: row(9) }), false);
});

test('start-up retries with backoff until an attempt succeeds, exposing the last failure meanwhile', async () => {
  let n = 0;
  const loop = new StartupLoop(async () => {
    if (++n < 3) throw new Error(`iptables-restore did not answer (${n})`);
  }, log);
  await assert.rejects(within(loop.done, 200, () => `missing: ${String(loop.failure)}`), /missing: Error: iptables-restore did not answer \(1\)/);
  await loop.done;
  assert.equal(n, 3);
  assert.equal(loop.failure, undefined);
});

test('healing passes coalesce, heal host state then every network, and run again on reconnect', async () => {
  const client = Object.assign(new EventEmitter(), { cache: new EventEmitter() }) as unknown as OvsdbClient;
  const nb = new EventEmitter() as unknown as OvsdbClient;
  const ids = ['a'.repeat(64), 'b'.repeat(64)];
  let hosts = 0;
  const healed: string[] = [];
  const healer = new OvsHealer(client, {
    networkIds: () => ids,
    healHost: async () => { hosts++; await new Promise((r) => setTimeout(r, 20)); },
    healNetwork: async (id) => { healed.push(id[0]); },
  }, log, [nb]);
  await Promise.all([healer.trigger(), healer.trigger(), healer.trigger()]);
  assert.equal(hosts, 2, 'one pass plus one for the triggers during it');
  assert.deepEqual(healed, ['a', 'b', 'a', 'b']);
  healer.start(60_000);
  client.emit('reconnected');
  await healer.trigger();
  assert.ok(hosts >= 3);
  const before = hosts;
  (nb as unknown as EventEmitter).emit('reconnected');
  await healer.trigger();
  healer.stop();
  assert.ok(hosts > before, 'an NB reconnect calls for a pass too');
});
