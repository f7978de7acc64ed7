// Small builders for wire values, so table helpers never hand-write tuples.
import type { Atom, Condition, Mutation, WireMap, WireSet, WireValue } from '../ovsdb/types';

export const uuid = (u: string): ['uuid', string] => ['uuid', u];
export const named = (n: string): ['named-uuid', string] => ['named-uuid', n];
export const set = (...atoms: Atom[]): WireSet => ['set', atoms];
export const map = (rec: Record<string, string>): WireMap => ['map', Object.entries(rec)];
export const byUuid = (u: string): Condition[] => [['_uuid', '==', uuid(u)]];
export const byName = (n: string): Condition[] => [['name', '==', n]];
export const insertRefs = (column: string, ...refs: Atom[]): Mutation => [column, 'insert', set(...refs)];
export const deleteRefs = (column: string, ...refs: Atom[]): Mutation => [column, 'delete', set(...refs)];
/** Replaces the given keys of a map column (delete first: "insert" never overwrites a key). */
export function mapPut(column: string, rec: Record<string, string>): Mutation[] {
  const keys = Object.keys(rec);
  if (!keys.length) return [];
  return [[column, 'delete', set(...keys)], [column, 'insert', map(rec)]];
}
export const mapDelete = (column: string, keys: string[]): Mutation[] => (keys.length ? [[column, 'delete', set(...keys)]] : []);
export type { WireValue };
