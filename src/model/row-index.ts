// A lookup by key (a row's name, its owner) kept current from the cache's change events, so a
// lookup costs a map access instead of a scan of the table (thousands of ports on a busy host).
import type { Row } from '../ovsdb/types';
import type { RowChange } from '../ovsdb/cache';
import { type LocalOwnerType, type NbOwnerType, ownerKeys, ownerLookupKey } from './owner-ids';

/** What an index needs of a cache: its rows and its change events. */
export interface ChangeSource {
  table(name: string): ReadonlyMap<string, Row>;
  on(event: 'change', listener: (c: RowChange) => void): unknown;
}

export class RowIndex {
  private readonly byKey = new Map<string, Map<string, Row>>();

  /** `keysOf`: the keys a row is found under (none: not indexed). */
  constructor(source: ChangeSource, private readonly tableName: string, private readonly keysOf: (row: Row) => readonly (string | undefined)[]) {
    for (const row of source.table(tableName).values()) this.add(row);
    source.on('change', (c) => {
      if (c.table !== tableName) return;
      if (c.old) this.remove(c.old);
      if (c.new) this.add(c.new);
    });
  }

  get table(): string {
    return this.tableName;
  }

  /** One row under `key` (for unique keys such as names). */
  first(key: string): Row | undefined {
    const rows = this.byKey.get(key);
    if (!rows) return undefined;
    for (const r of rows.values()) return r;
    return undefined;
  }

  all(key: string): Row[] {
    return [...(this.byKey.get(key)?.values() ?? [])];
  }

  private add(row: Row): void {
    for (const k of this.keysOf(row)) {
      if (k === undefined) continue;
      let rows = this.byKey.get(k);
      if (!rows) this.byKey.set(k, (rows = new Map()));
      rows.set(row._uuid, row);
    }
  }

  private remove(row: Row): void {
    for (const k of this.keysOf(row)) {
      if (k === undefined) continue;
      const rows = this.byKey.get(k);
      rows?.delete(row._uuid);
      if (rows && !rows.size) this.byKey.delete(k);
    }
  }
}

/** One index per table, each made on the first lookup in its table. */
class IndexPerTable {
  private readonly indexes = new Map<string, RowIndex>();

  constructor(private readonly source: ChangeSource, private readonly keysOf: (row: Row) => readonly (string | undefined)[]) {}

  of(table: string): RowIndex {
    let index = this.indexes.get(table);
    if (!index) {
      index = new RowIndex(this.source, table, this.keysOf);
      this.indexes.set(table, index);
    }
    return index;
  }
}

/** Rows by name, per table. */
export class NameIndexes {
  private readonly tables: IndexPerTable;

  constructor(source: ChangeSource) {
    this.tables = new IndexPerTable(source, (row) => [typeof row.name === 'string' ? row.name : undefined]);
  }

  find(table: string, name: string): Row | undefined {
    return this.tables.of(table).first(name);
  }
}

/**
 * Rows by owner (and owner type), per table: a daemon's endpoints, its tunnel ports, the
 * product's NB rows of one kind, without reading every row of the table.
 */
export class OwnerIndexes {
  private readonly tables: IndexPerTable;

  constructor(source: ChangeSource) {
    this.tables = new IndexPerTable(source, ownerKeys);
  }

  /** Every row of `table` owned by `owner` (of that type, when given). */
  find(table: string, owner: string, type?: LocalOwnerType | NbOwnerType): Row[] {
    return this.tables.of(table).all(ownerLookupKey(owner, type));
  }
}
