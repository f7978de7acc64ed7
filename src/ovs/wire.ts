// Builders the per-table helpers use: the client's own (ovsdb/ops.ts) plus the few
// compositions they share, so no helper hand-writes wire tuples.
import type { Atom, Condition, Mutation } from '../ovsdb/types';
import { map, namedUuid, set, uuid, whereUuid } from '../ovsdb/ops';

export { map, set, uuid };
export const named = namedUuid;
export const byUuid = (u: string): Condition[] => whereUuid(u);
export const insertRefs = (column: string, ...refs: Atom[]): Mutation => [column, 'insert', set(...refs)];
export const deleteRefs = (column: string, ...refs: Atom[]): Mutation => [column, 'delete', set(...refs)];
/** Replaces the given keys of a map column (delete first: "insert" never overwrites a key). */
export function mapPut(column: string, rec: Record<string, string>): Mutation[] {
  const keys = Object.keys(rec);
  if (!keys.length) return [];
  return [[column, 'delete', set(...keys)], [column, 'insert', map(rec)]];
}
export const mapDelete = (column: string, keys: string[]): Mutation[] => (keys.length ? [[column, 'delete', set(...keys)]] : []);
