import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import * as ops from '../../src/ovsdb/ops';
import { type DatabaseSchema, type TableSchema, columnKind, decodeRow, decodeValue, defaultValue } from '../../src/ovsdb/schema';

const vswitch = JSON.parse(readFileSync('/usr/share/openvswitch/vswitch.ovsschema', 'utf8')) as DatabaseSchema;

describe('schema decoding', () => {
  it('classifies columns by kind', () => {
    const br = vswitch.tables.Bridge.columns;
    assert.equal(columnKind(br.name.type), 'scalar');
    assert.equal(columnKind(br.ports.type), 'set');
    assert.equal(columnKind(br.external_ids.type), 'map');
    assert.equal(columnKind(br.datapath_id.type), 'optional');
    assert.equal(columnKind(vswitch.tables.Open_vSwitch.columns.next_cfg.type), 'scalar');
  });

  it('decodes atoms, uuids, sets, optionals and maps', () => {
    const br = vswitch.tables.Bridge.columns;
    assert.equal(decodeValue(br.name.type, 'br0'), 'br0');
    assert.deepEqual(decodeValue(br.ports.type, ['set', [ops.uuid('a'), ops.uuid('b')]]), ['a', 'b']);
    // a one-element set travels as the bare atom
    assert.deepEqual(decodeValue(br.ports.type, ops.uuid('a')), ['a']);
    assert.deepEqual(decodeValue(br.ports.type, ['set', []]), []);
    assert.equal(decodeValue(br.datapath_id.type, ['set', []]), undefined);
    assert.equal(decodeValue(br.datapath_id.type, '0000aabbccddeeff'), '0000aabbccddeeff');
    assert.equal(decodeValue(br.datapath_id.type, ['set', ['x']]), 'x');
    assert.deepEqual(decodeValue(br.external_ids.type, ['map', [['a', '1'], ['b', '2']]]), { a: '1', b: '2' });
    assert.deepEqual(decodeValue(br.external_ids.type, ['map', []]), {});
    // integer keys and uuid values (QoS.queues)
    assert.deepEqual(decodeValue(vswitch.tables.QoS.columns.queues.type, ['map', [[0, ops.uuid('q0')], [7, ops.uuid('q7')]]]), { 0: 'q0', 7: 'q7' });
    assert.throws(() => decodeValue(br.datapath_id.type, ['set', ['x', 'y']]), TypeError);
  });

  it('keeps a "__proto__" map key as an ordinary entry', () => {
    const v = decodeValue({ key: 'string', value: 'string', min: 0, max: 'unlimited' }, ['map', [['__proto__', 'x']]]) as Record<string, string>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__']);
  });

  it('gives defaults the way ovsdb-server does', () => {
    const br = vswitch.tables.Bridge.columns;
    assert.equal(defaultValue(br.name.type), '');
    assert.equal(defaultValue(br.stp_enable.type), false);
    assert.deepEqual(defaultValue(br.ports.type), []);
    assert.deepEqual(defaultValue(br.other_config.type), {});
    assert.equal(defaultValue(br.datapath_id.type), undefined);
    assert.equal(defaultValue(vswitch.tables.Open_vSwitch.columns.next_cfg.type), 0);
  });

  it('decodes a row, filling only the requested defaults', () => {
    const t: TableSchema = vswitch.tables.Bridge;
    const row = decodeRow(t, { name: 'br0', ports: ops.uuid('p1') }, { uuid: 'u1', fill: ['name', 'ports', 'external_ids', 'stp_enable'] });
    assert.deepEqual(row, { _uuid: 'u1', name: 'br0', ports: ['p1'], external_ids: {}, stp_enable: false });
    const sel = decodeRow(t, { _uuid: ops.uuid('u2'), _version: ops.uuid('v'), name: 'x' });
    assert.deepEqual(sel, { _uuid: 'u2', _version: 'v', name: 'x' });
  });
});

describe('ops builders', () => {
  it('build the wire forms', () => {
    assert.deepEqual(ops.set('a', 1), ['set', ['a', 1]]);
    assert.deepEqual(ops.map({ a: '1' }), ['map', [['a', '1']]]);
    assert.deepEqual(ops.map(new Map([[1, ops.uuid('x')]])), ['map', [[1, ['uuid', 'x']]]]);
    assert.deepEqual(ops.optional(undefined), ['set', []]);
    assert.deepEqual(ops.whereUuid('u'), [['_uuid', '==', ['uuid', 'u']]]);
    assert.deepEqual(ops.insert('T', { a: 1 }, 'n'), { op: 'insert', table: 'T', row: { a: 1 }, 'uuid-name': 'n' });
    assert.deepEqual(ops.mutate('T', [ops.eq('name', 'x')], [ops.mutInsert('s', ops.set(ops.namedUuid('n')))]), {
      op: 'mutate', table: 'T', where: [['name', '==', 'x']], mutations: [['s', 'insert', ['set', [['named-uuid', 'n']]]]],
    });
    assert.deepEqual(ops.wait('T', [], ['a'], '==', [], 0).op, 'wait');
  });
});
