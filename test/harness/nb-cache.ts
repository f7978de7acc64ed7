// An OVN NB Db over an in-memory cache, for unit tests of operations planned on the cache: the
// installed NB schema, the daemon's monitored columns and its name and owner indexes.
import * as fs from 'node:fs';
import type { DatabaseSchema } from '../../src/ovsdb/schema';
import { TableCache, type TableUpdates2 } from '../../src/ovsdb/cache';
import * as ops from '../../src/ovsdb/ops';
import type { Db } from '../../src/ovs/db';
import { NameIndexes, OwnerIndexes } from '../../src/model/row-index';
import { NB_MONITOR } from '../../src/ovn/nb';

/** A Db over a cache holding `rows`, with the daemon's indexes (src/daemon.ts dbFromClient); transact does nothing. */
export function nbWith(rows: TableUpdates2): Db {
  const schema = JSON.parse(fs.readFileSync('/usr/share/ovn/ovn-nb.ovsschema', 'utf8')) as DatabaseSchema;
  const cache = new TableCache(schema, Object.fromEntries(Object.entries(NB_MONITOR).map(([t, m]) => [t, m.columns])));
  cache.applyUpdate2(rows);
  const names = new NameIndexes(cache);
  const owners = new OwnerIndexes(cache);
  return {
    transact: async () => [],
    rows: (t) => cache.table(t).values(),
    waitFor: async () => undefined as never,
    byName: (t, n) => names.find(t, n),
    byOwner: (t, o, ty) => owners.find(t, o, ty),
  };
}

/** external_ids as the wire's map. */
export const ids = (m: Record<string, string>) => ops.map(m);
