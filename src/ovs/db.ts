// What the per-table helpers need from an OVSDB connection: transactions, a read view of the
// monitored tables, and a way to wait for a row to reach a state (ovs-vswitchd reporting back).
import type { Operation, OperationResult, Row } from '../ovsdb/types';

export interface Db {
  transact(ops: Operation[]): Promise<OperationResult[]>;
  rows(table: string): Iterable<Row>;
  waitFor<T>(table: string, predicate: (row: Row) => T | undefined, timeoutMs: number): Promise<T>;
}

/** Owner ids on every row the plugin writes: garbage collection only ever looks at these. */
export const OWNER = 'ocn-owner';
export const OWNER_TYPE = 'ocn-owner-type';
export type OwnerType = 'endpoint' | 'gateway' | 'bridge' | 'uplink';

export function ownedBy(row: Row, driver: string, type?: OwnerType): boolean {
  const ids = externalIds(row);
  return ids[OWNER] === driver && (type === undefined || ids[OWNER_TYPE] === type);
}

export function externalIds(row: Row): Record<string, string> {
  const v = row.external_ids;
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
}

export function findByName(db: Db, table: string, name: string): Row | undefined {
  for (const r of db.rows(table)) if (r.name === name) return r;
  return undefined;
}
