// What the per-table helpers need from an OVSDB connection: transactions, a read view of the
// monitored tables, and a way to wait for a row to reach a state (ovs-vswitchd reporting back).
import type { Operation, OperationResult, Row } from '../ovsdb/types';
import { type LocalOwnerType, type NbOwnerType, ownerIs } from '../model/owner-ids';

export interface Db {
  transact(ops: Operation[]): Promise<OperationResult[]>;
  rows(table: string): Iterable<Row>;
  waitFor<T>(table: string, predicate: (row: Row) => T | undefined, timeoutMs: number): Promise<T>;
  /** The row of `table` with this name, from an index kept by the cache (absent: a scan). */
  byName?(table: string, name: string): Row | undefined;
  /** The rows of `table` owned by `owner` (of that type), from an index kept by the cache (absent: a scan). */
  byOwner?(table: string, owner: string, type?: LocalOwnerType | NbOwnerType): Row[];
}

// Owner ids live in one module for both databases; re-exported here for the per-table helpers.
export { OWNER, OWNER_TYPE, externalIds, localOwner, ownedBy } from '../model/owner-ids';
export type { LocalOwnerType as OwnerType } from '../model/owner-ids';

export function findByName(db: Db, table: string, name: string): Row | undefined {
  if (db.byName) return db.byName(table, name);
  for (const r of db.rows(table)) if (r.name === name) return r;
  return undefined;
}

export function findOwned(db: Db, table: string, owner: string, type?: LocalOwnerType | NbOwnerType): Row[] {
  if (db.byOwner) return db.byOwner(table, owner, type);
  return [...db.rows(table)].filter((r) => ownerIs(r, owner, type));
}
