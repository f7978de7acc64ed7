import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Db } from '../../src/ovs/db';
import type { Operation, OperationResult } from '../../src/ovsdb/types';
import { OvsKvStore } from '../../src/ovs/kv-store';
import { RootExternalIds, selectRootExternalIds } from '../../src/ovs/open-vswitch';

/** A Db whose root row's external_ids are only reachable by a select, as in the daemon. */
function fakeDb(ids: Record<string, string>): Db & { sent: Operation[][] } {
  const sent: Operation[][] = [];
  return {
    sent,
    async transact(ops: Operation[]): Promise<OperationResult[]> {
      sent.push(ops);
      return ops.map((op) => (op.op === 'select' ? { rows: [{ external_ids: ['map', Object.entries(ids)] }] } : {}));
    },
    rows: () => [],
    waitFor: () => Promise.reject(new Error('not used')),
  };
}

test('the root external_ids are read with one select of that column', async () => {
  const db = fakeDb({ 'system-id': 'h1', 'ocn.p.addr.x': 'endpoint' });
  assert.deepEqual(await selectRootExternalIds(db), { 'system-id': 'h1', 'ocn.p.addr.x': 'endpoint' });
  assert.deepEqual(db.sent[0], [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['external_ids'] }]);
});

test('an empty or missing map reads as no keys', async () => {
  const db: Db = { ...fakeDb({}), transact: async () => [{ rows: [] }] };
  assert.deepEqual(await selectRootExternalIds(db), {});
});

test('the kv store loads its records from the snapshot the last refresh read', async () => {
  const db = fakeDb({ 'ocn.p.net.a': '{"id":"a"}', 'ocn.p.addr.b': 'endpoint', 'ocn.q.net.c': '{}', hostname: 'h' });
  const root = new RootExternalIds(db);
  const kv = new OvsKvStore(db, root);
  assert.equal(kv.load('ocn.p.').size, 0, 'nothing before the first refresh');
  await root.refresh();
  assert.deepEqual([...kv.load('ocn.p.net.')], [['ocn.p.net.a', '{"id":"a"}']]);
  assert.deepEqual([...kv.load('ocn.p.')].map(([k]) => k).sort(), ['ocn.p.addr.b', 'ocn.p.net.a']);
  assert.equal(root.snapshot.hostname, 'h');
});
