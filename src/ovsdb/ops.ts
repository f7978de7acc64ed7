// Builders for wire values and operations, so table helpers never hand-write RFC 7047 tuples.

import type {
  Atom,
  Condition,
  Mutation,
  NamedUuidAtom,
  Operation,
  UuidAtom,
  WireMap,
  WireRow,
  WireSet,
  WireValue,
} from './types';

export function uuid(s: string): UuidAtom {
  return ['uuid', s];
}

/** Refers to the row inserted with `'uuid-name': s` earlier in the same transaction. */
export function namedUuid(s: string): NamedUuidAtom {
  return ['named-uuid', s];
}

export function set(...atoms: Atom[]): WireSet {
  return ['set', atoms];
}

/** The value of an optional (0..1) column: the atom, or the empty set for "none". */
export function optional(atom: Atom | undefined): Atom | WireSet {
  return atom === undefined ? ['set', []] : atom;
}

/** A wire map from a record (string keys) or a Map (any atom keys, e.g. integers or uuids). */
export function map(entries: Readonly<Record<string, Atom>> | ReadonlyMap<Atom, Atom>): WireMap {
  const pairs: [Atom, Atom][] = [];
  if (entries instanceof Map) for (const [k, v] of entries) pairs.push([k, v]);
  else for (const k of Object.keys(entries)) pairs.push([k, (entries as Readonly<Record<string, Atom>>)[k]]);
  return ['map', pairs];
}

// ---- conditions

export function eq(column: string, value: WireValue): Condition {
  return [column, '==', value];
}
export function ne(column: string, value: WireValue): Condition {
  return [column, '!=', value];
}
export function includes(column: string, value: WireValue): Condition {
  return [column, 'includes', value];
}
export function excludes(column: string, value: WireValue): Condition {
  return [column, 'excludes', value];
}

/** `where` clause selecting one row by its uuid. */
export function whereUuid(rowUuid: string): Condition[] {
  return [['_uuid', '==', ['uuid', rowUuid]]];
}

/** `where` clause matching every row (a fresh array, so callers may extend it). */
export function whereAll(): Condition[] {
  return [];
}

// ---- mutations

/** Adds elements to a set column or entries to a map column. */
export function mutInsert(column: string, value: WireValue): Mutation {
  return [column, 'insert', value];
}
/** Removes elements from a set, or map entries (by key when given a set of keys). */
export function mutDelete(column: string, value: WireValue): Mutation {
  return [column, 'delete', value];
}
export function mutAdd(column: string, n: number): Mutation {
  return [column, '+=', n];
}

// ---- operations

export function insert(table: string, row: WireRow, uuidName?: string): Operation {
  return uuidName === undefined ? { op: 'insert', table, row } : { op: 'insert', table, row, 'uuid-name': uuidName };
}
export function select(table: string, where: Condition[], columns?: string[]): Operation {
  return columns === undefined ? { op: 'select', table, where } : { op: 'select', table, where, columns };
}
export function update(table: string, where: Condition[], row: WireRow): Operation {
  return { op: 'update', table, where, row };
}
export function mutate(table: string, where: Condition[], mutations: Mutation[]): Operation {
  return { op: 'mutate', table, where, mutations };
}
/** The "delete" operation (`delete` is a reserved word). */
export function del(table: string, where: Condition[]): Operation {
  return { op: 'delete', table, where };
}
export function wait(
  table: string,
  where: Condition[],
  columns: string[],
  until: '==' | '!=',
  rows: WireRow[],
  timeoutMs?: number,
): Operation {
  return timeoutMs === undefined
    ? { op: 'wait', table, where, columns, until, rows }
    : { op: 'wait', table, where, columns, until, rows, timeout: timeoutMs };
}
export function comment(text: string): Operation {
  return { op: 'comment', comment: text };
}
export function commit(durable: boolean): Operation {
  return { op: 'commit', durable };
}
export function abort(): Operation {
  return { op: 'abort' };
}
export function assertLock(lock: string): Operation {
  return { op: 'assert', lock };
}
