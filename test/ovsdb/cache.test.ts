import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { type RowChange, TableCache } from '../../src/ovsdb/cache';
import * as ops from '../../src/ovsdb/ops';
import type { DatabaseSchema } from '../../src/ovsdb/schema';

const schema: DatabaseSchema = {
  name: 'Test',
  version: '1.0.0',
  tables: {
    T: {
      columns: {
        name: { type: 'string' },
        n: { type: 'integer' },
        tags: { type: { key: 'string', min: 0, max: 'unlimited' } },
        refs: { type: { key: { type: 'uuid', refTable: 'T' }, min: 0, max: 'unlimited' } },
        opt: { type: { key: 'string', min: 0, max: 1 } },
        ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
      },
    },
    U: { columns: { x: { type: 'integer' } } },
  },
};

function setup(): { cache: TableCache; events: RowChange[] } {
  const cache = new TableCache(schema);
  const events: RowChange[] = [];
  cache.on('change', (c) => events.push(c));
  cache.applyUpdate2({
    T: { r1: { initial: { name: 'a', tags: ops.set('x', 'y'), refs: ops.uuid('r1'), ids: ops.map({ k1: 'v1', k2: 'v2' }) } } },
  });
  events.length = 0;
  return { cache, events };
}

describe('TableCache update2', () => {
  it('fills default-valued columns that monitor_cond omits', () => {
    const { cache } = setup();
    assert.deepEqual(cache.get('T', 'r1'), {
      _uuid: 'r1', name: 'a', n: 0, tags: ['x', 'y'], refs: ['r1'], opt: undefined, ids: { k1: 'v1', k2: 'v2' },
    });
  });

  it('applies set diffs as a symmetric difference', () => {
    const { cache, events } = setup();
    cache.applyUpdate2({ T: { r1: { modify: { tags: ops.set('y', 'z'), refs: ops.set(ops.uuid('r1'), ops.uuid('r2')) } } } });
    const row = cache.get('T', 'r1');
    assert.deepEqual(row?.tags, ['x', 'z']);
    assert.deepEqual(row?.refs, ['r2']);
    // a one-element diff may come as the bare atom
    cache.applyUpdate2({ T: { r1: { modify: { tags: 'x' } } } });
    assert.deepEqual(cache.get('T', 'r1')?.tags, ['z']);
    assert.equal(events.length, 2);
    assert.deepEqual(events[0].old?.tags, ['x', 'y'], 'old row is left untouched');
  });

  it('replaces optional columns (max 1 carries the new value, as ovsdb-server sends it)', () => {
    const { cache } = setup();
    cache.applyUpdate2({ T: { r1: { modify: { opt: 'p' } } } });
    assert.equal(cache.get('T', 'r1')?.opt, 'p');
    cache.applyUpdate2({ T: { r1: { modify: { opt: 'q' } } } });
    assert.equal(cache.get('T', 'r1')?.opt, 'q');
    cache.applyUpdate2({ T: { r1: { modify: { opt: ops.set() } } } });
    assert.equal(cache.get('T', 'r1')?.opt, undefined);
  });

  it('applies map diffs: same value deletes, other value replaces, new key inserts', () => {
    const { cache } = setup();
    cache.applyUpdate2({ T: { r1: { modify: { ids: ops.map({ k1: 'v1', k2: 'changed', k3: 'new' }) } } } });
    assert.deepEqual(cache.get('T', 'r1')?.ids, { k2: 'changed', k3: 'new' });
  });

  it('replaces scalars, inserts and deletes rows, and emits typed events', () => {
    const { cache, events } = setup();
    cache.applyUpdate2({ T: { r1: { modify: { name: 'b', n: 5 } }, r2: { insert: { name: 'c' } } }, U: { u1: { insert: { x: 1 } } } });
    assert.equal(cache.get('T', 'r1')?.name, 'b');
    assert.equal(cache.get('T', 'r1')?.n, 5);
    assert.equal(cache.table('T').size, 2);
    assert.deepEqual(events.map((e) => [e.table, e.uuid, !!e.old, !!e.new]), [
      ['T', 'r1', true, true], ['T', 'r2', false, true], ['U', 'u1', false, true],
    ]);
    events.length = 0;
    cache.applyUpdate2({ T: { r2: { delete: null } } });
    assert.equal(cache.get('T', 'r2'), undefined);
    assert.equal(events[0].new, undefined);
    assert.equal(events[0].old?.name, 'c');
  });

  it('emits events only after the whole notification is applied', () => {
    const { cache } = setup();
    const seen: (string | undefined)[] = [];
    cache.on('change', () => seen.push(cache.get('U', 'u9')?._uuid));
    cache.applyUpdate2({ T: { r1: { modify: { n: 1 } } }, U: { u9: { insert: { x: 1 } } } });
    assert.deepEqual(seen, ['u9', 'u9']);
  });
});

describe('TableCache classic update and replace', () => {
  it('applies old/new updates', () => {
    const cache = new TableCache(schema);
    cache.applyUpdate({ T: { r1: { new: { name: 'a', tags: ops.set('x') } } } });
    cache.applyUpdate({ T: { r1: { old: { name: 'a' }, new: { name: 'b', tags: ops.set('x') } } } });
    assert.equal(cache.get('T', 'r1')?.name, 'b');
    cache.applyUpdate({ T: { r1: { old: { name: 'b' } } } });
    assert.equal(cache.table('T').size, 0);
  });

  it('replace() swaps content and emits only the differences', () => {
    const { cache, events } = setup();
    cache.applyUpdate2({ T: { r2: { insert: { name: 'gone' } }, r3: { insert: { name: 'same', tags: ops.set('a', 'b') } } } });
    // make r3's set order differ from what a fresh snapshot will carry
    cache.applyUpdate2({ T: { r3: { modify: { tags: ops.set('a') } } } });
    cache.applyUpdate2({ T: { r3: { modify: { tags: ops.set('a') } } } });
    assert.deepEqual(cache.get('T', 'r3')?.tags, ['b', 'a']);
    events.length = 0;
    const fresh = cache.snapshotFromUpdate2({
      T: {
        r1: { initial: { name: 'a2', tags: ops.set('x', 'y'), refs: ops.uuid('r1'), ids: ops.map({ k1: 'v1', k2: 'v2' }) } },
        r3: { initial: { name: 'same', tags: ops.set('a', 'b') } },
        r4: { initial: { name: 'new' } },
      },
    });
    cache.replace(fresh);
    assert.deepEqual(
      events.map((e) => `${e.uuid}:${e.old ? 'old' : ''}${e.new ? 'new' : ''}`).sort(),
      ['r1:oldnew', 'r2:old', 'r4:new'],
    );
    assert.equal(cache.get('T', 'r1')?.name, 'a2');
    assert.deepEqual([...cache.table('T').keys()].sort(), ['r1', 'r3', 'r4']);
    assert.equal(cache.table('U').size, 0);
  });
});
