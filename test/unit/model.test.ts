// The typed model: generated row types current with the installed schemas, indexes that follow
// the cache, owner ids in one place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateModel } from '../../scripts/gen-ovsdb-model';
import type { DatabaseSchema } from '../../src/ovsdb/schema';
import { TableCache } from '../../src/ovsdb/cache';
import * as ops from '../../src/ovsdb/ops';
import { NameIndexes, RowIndex } from '../../src/model/row-index';
import { localOwner, nbOwned, nbOwner, ownedBy, ownerKey } from '../../src/model/owner-ids';
import { findByName } from '../../src/ovs/db';

const root = path.resolve(__dirname, '..', '..', '..');

for (const [schemaFile, model] of [['/usr/share/openvswitch/vswitch.ovsschema', 'src/model/vswitch.ts'], ['/usr/share/ovn/ovn-nb.ovsschema', 'src/model/ovn-nb.ts']]) {
  test(`${model} is what the generator makes of ${schemaFile} (else: make model)`, () => {
    const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8')) as DatabaseSchema;
    assert.equal(fs.readFileSync(path.join(root, model), 'utf8'), generateModel(schema, schemaFile));
  });
}

test('generated types: sets as arrays, optional columns, enums as literal unions, maps as records', () => {
  const schema: DatabaseSchema = {
    name: 'T_db', version: '1.2.3',
    tables: {
      Port: {
        columns: {
          name: { type: 'string' },
          tag: { type: { key: { type: 'integer', minInteger: 0, maxInteger: 4095 }, min: 0, max: 1 } },
          trunks: { type: { key: 'integer', min: 0, max: 4096 } },
          vlan_mode: { type: { key: { type: 'string', enum: ['set', ['trunk', 'access']] }, min: 0, max: 1 } },
          ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
          iface: { type: { key: { type: 'uuid', refTable: 'Interface' } } },
        },
      },
    },
  };
  const ts = generateModel(schema, 'x');
  assert.match(ts, /export const TDB_SCHEMA_VERSION = '1\.2\.3';/);
  assert.match(ts, /  tag: number \| undefined;/);
  assert.match(ts, /  trunks: number\[\];/);
  assert.match(ts, /  vlan_mode: 'trunk' \| 'access' \| undefined;/);
  assert.match(ts, /  ids: Record<string, string>;/);
  assert.match(ts, /  iface: string; \/\/ -> Interface/);
  assert.match(ts, /export interface TDbTables \{\n  Port: PortRow;\n\}/);
});

const schema: DatabaseSchema = {
  name: 'Test', version: '1.0.0',
  tables: { Port: { columns: { name: { type: 'string' }, external_ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } } } } },
};

test('a name index follows inserts, renames and deletes, and findByName uses it', () => {
  const cache = new TableCache(schema);
  cache.applyUpdate2({ Port: { p1: { initial: { name: 'a' } }, p2: { initial: { name: 'b' } } } });
  const names = new NameIndexes(cache);
  assert.equal(names.find('Port', 'a')?._uuid, 'p1');
  cache.applyUpdate2({ Port: { p1: { modify: { name: 'c' } }, p3: { insert: { name: 'a' } }, p2: { delete: null } } });
  assert.equal(names.find('Port', 'a')?._uuid, 'p3', 'the new holder of the name');
  assert.equal(names.find('Port', 'c')?._uuid, 'p1', 'renamed');
  assert.equal(names.find('Port', 'b'), undefined, 'deleted');
  const db = { transact: async () => [], rows: () => [], waitFor: async () => undefined as never, byName: (t: string, n: string) => names.find(t, n) };
  assert.equal(findByName(db, 'Port', 'c')?._uuid, 'p1', 'findByName asks the index, not the (empty) scan');
  cache.clear();
  assert.equal(names.find('Port', 'a'), undefined, 'a reconnect snapshot replaces the rows');
});

test('an owner index: every row of one owner and type without a scan', () => {
  const cache = new TableCache(schema);
  cache.applyUpdate2({
    Port: {
      p1: { initial: { name: 'x', external_ids: ops.map(localOwner('ocn-a', 'endpoint')) } },
      p2: { initial: { name: 'y', external_ids: ops.map(localOwner('ocn-a', 'gateway')) } },
      p3: { initial: { name: 'z', external_ids: ops.map({ user: 'mine' }) } },
    },
  });
  const owners = new RowIndex(cache, 'Port', (r) => [ownerKey(r)]);
  assert.deepEqual(owners.all('ocn-a/endpoint').map((r) => r._uuid), ['p1']);
  cache.applyUpdate2({ Port: { p4: { insert: { name: 'w', external_ids: ops.map(localOwner('ocn-a', 'endpoint')) } } } });
  assert.deepEqual(owners.all('ocn-a/endpoint').map((r) => r._uuid).sort(), ['p1', 'p4']);
  assert.ok(ownedBy(cache.get('Port', 'p2')!, 'ocn-a', 'gateway'));
  assert.ok(!ownedBy(cache.get('Port', 'p3')!, 'ocn-a'), "a user's row is never ours");
  assert.ok(nbOwned({ _uuid: 'n', external_ids: nbOwner('switch') }, 'switch'));
  assert.ok(!nbOwned({ _uuid: 'n', external_ids: localOwner('ocn-a', 'endpoint') }), 'a local owner is not the NB product owner');
});
