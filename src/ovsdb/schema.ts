// The schema as returned by get_schema, and decoding of wire values into the cache's plain form.

import type { Atom, DecodedValue, Row, Scalar, WireRow, WireValue } from './types';

export type AtomicType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';

export interface BaseTypeObject {
  type: AtomicType;
  enum?: WireValue;
  minInteger?: number;
  maxInteger?: number;
  minReal?: number;
  maxReal?: number;
  minLength?: number;
  maxLength?: number;
  refTable?: string;
  refType?: 'strong' | 'weak';
}
export type BaseType = AtomicType | BaseTypeObject;

export interface ColumnTypeObject {
  key: BaseType;
  value?: BaseType;
  /** Defaults to 1. */
  min?: number;
  /** Defaults to 1. */
  max?: number | 'unlimited';
}
/** A column type exactly as RFC 7047 writes it: a bare atomic type is shorthand for a scalar. */
export type ColumnType = AtomicType | ColumnTypeObject;

export interface ColumnSchema {
  type: ColumnType;
  ephemeral?: boolean;
  mutable?: boolean;
}

export interface TableSchema {
  columns: Record<string, ColumnSchema>;
  maxRows?: number;
  isRoot?: boolean;
  indexes?: string[][];
}

export interface DatabaseSchema {
  name: string;
  version: string;
  cksum?: string;
  tables: Record<string, TableSchema>;
}

/**
 * How a column is represented once decoded:
 * scalar (min 1, max 1), optional (min 0, max 1), set (max > 1), map (has a value type).
 */
export type ColumnKind = 'scalar' | 'optional' | 'set' | 'map';

export function columnKind(type: ColumnType): ColumnKind {
  if (typeof type === 'string') return 'scalar';
  if (type.value !== undefined) return 'map';
  const max = type.max ?? 1;
  if (max === 'unlimited' || max > 1) return 'set';
  return (type.min ?? 1) === 0 ? 'optional' : 'scalar';
}

export function keyType(type: ColumnType): AtomicType {
  if (typeof type === 'string') return type;
  return typeof type.key === 'string' ? type.key : type.key.type;
}


/** Turns a wire atom into a scalar: ["uuid", s] and ["named-uuid", s] become s. */
export function decodeAtom(atom: Atom): Scalar {
  return Array.isArray(atom) ? atom[1] : atom;
}

function isSet(w: WireValue): w is ['set', Atom[]] {
  return Array.isArray(w) && w[0] === 'set';
}
function isMap(w: WireValue): w is ['map', [Atom, Atom][]] {
  return Array.isArray(w) && w[0] === 'map';
}

/** The elements of a wire set; a one-element set may travel as the bare atom. */
export function decodeSetElements(wire: WireValue): Scalar[] {
  if (isSet(wire)) return wire[1].map(decodeAtom);
  if (isMap(wire)) throw new TypeError('expected a set, got a map');
  return [decodeAtom(wire)];
}

export function decodeMapEntries(wire: WireValue): Record<string, Scalar> {
  if (!isMap(wire)) {
    if (isSet(wire) && wire[1].length === 0) return {}; // tolerate an empty set for an empty map
    throw new TypeError('expected a map');
  }
  const out: Record<string, Scalar> = {};
  for (const [k, v] of wire[1]) setEntry(out, String(decodeAtom(k)), decodeAtom(v));
  return out;
}

/** Map keys come from users (external_ids); a "__proto__" key must stay an ordinary entry. */
export function setEntry(o: Record<string, Scalar>, key: string, value: Scalar): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}

export function decodeValue(type: ColumnType, wire: WireValue): DecodedValue {
  return decodeByKind(columnKind(type), wire);
}

export function decodeByKind(kind: ColumnKind, wire: WireValue): DecodedValue {
  switch (kind) {
    case 'scalar': {
      if (isMap(wire)) throw new TypeError('expected an atom, got a map');
      if (isSet(wire)) {
        if (wire[1].length !== 1) throw new TypeError(`expected one atom, got a set of ${wire[1].length}`);
        return decodeAtom(wire[1][0]);
      }
      return decodeAtom(wire);
    }
    case 'optional': {
      const elems = decodeSetElements(wire);
      if (elems.length > 1) throw new TypeError(`expected at most one atom, got ${elems.length}`);
      return elems[0];
    }
    case 'set':
      return decodeSetElements(wire);
    case 'map':
      return decodeMapEntries(wire);
  }
}

/** For a column the schema does not describe: decode by the shape of the value. */
function decodeUntyped(wire: WireValue): DecodedValue {
  if (isMap(wire)) return decodeMapEntries(wire);
  if (isSet(wire)) return wire[1].map(decodeAtom);
  return decodeAtom(wire);
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
function defaultAtom(t: AtomicType): Scalar {
  switch (t) {
    case 'integer':
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
  }
}

/**
 * The value ovsdb-server considers the column's default (it holds `min` default atoms). monitor_cond
 * leaves such columns out of "initial" and "insert" rows, so the cache must put them back.
 */
export function defaultValue(type: ColumnType): DecodedValue {
  const kind = columnKind(type);
  switch (kind) {
    case 'scalar':
      return defaultAtom(keyType(type));
    case 'optional':
      return undefined;
    case 'map':
      return {};
    case 'set': {
      const min = typeof type === 'string' ? 1 : (type.min ?? 1);
      return new Array<Scalar>(min).fill(defaultAtom(keyType(type)));
    }
  }
}

export interface DecodeRowOptions {
  /** The row's uuid when the wire row does not carry a `_uuid` column (monitor updates). */
  uuid?: string;
  /** Columns to fill with their default value when absent from the wire row. */
  fill?: readonly string[];
}

/** What decoding needs to know about a column, computed once per table schema. */
export interface ColumnInfo {
  kind: ColumnKind;
  type: ColumnType;
  /** A fresh default value (arrays and records are never shared between rows). */
  makeDefault: () => DecodedValue;
}

const infoCache = new WeakMap<TableSchema, Map<string, ColumnInfo>>();

export function columnInfos(table: TableSchema): Map<string, ColumnInfo> {
  let infos = infoCache.get(table);
  if (!infos) {
    infos = new Map();
    for (const [name, col] of Object.entries(table.columns)) infos.set(name, makeInfo(col.type));
    // the implicit columns every table has but no schema lists
    infos.set('_uuid', makeInfo('uuid'));
    infos.set('_version', makeInfo('uuid'));
    infoCache.set(table, infos);
  }
  return infos;
}

function makeInfo(type: ColumnType): ColumnInfo {
  const kind = columnKind(type);
  const d = defaultValue(type);
  const makeDefault = Array.isArray(d) ? () => d.slice() : kind === 'map' ? () => ({}) : () => d;
  return { kind, type, makeDefault };
}

/**
 * Decodes a wire row. `_uuid` comes from the row itself or `opts.uuid` ('' when neither, e.g. a
 * select that did not ask for it). Columns absent from the wire stay absent unless listed in `fill`.
 */
export function decodeRow(table: TableSchema, wire: WireRow, opts: DecodeRowOptions = {}): Row {
  const infos = columnInfos(table);
  const row: Row = { _uuid: opts.uuid ?? '' };
  for (const column in wire) {
    const info = infos.get(column);
    row[column] = info ? decodeByKind(info.kind, wire[column]) : decodeUntyped(wire[column]);
  }
  if (opts.fill) {
    for (const column of opts.fill) {
      const info = infos.get(column);
      if (info && !(column in row)) row[column] = info.makeDefault();
    }
  }
  return row;
}

/**
 * A decoder for rows that carry exactly `columns` (monitored rows), absent ones set to their
 * default. Built once per table because it is the hot path of a large monitor snapshot.
 */
export function rowDecoder(table: TableSchema, columns: readonly string[]): (wire: WireRow, uuid: string) => Row {
  const infos = columnInfos(table);
  const plan: [string, ColumnInfo][] = [];
  const shape: Record<string, null> = { _uuid: null };
  for (const c of columns) {
    const info = infos.get(c);
    if (!info) continue;
    plan.push([c, info]);
    shape[c] = null;
  }
  // Rows with dozens of columns added one by one end up as slow dictionary objects in V8. An object
  // made by JSON.parse has fast properties, and spreading it gives every row that same shape.
  const template = JSON.parse(JSON.stringify(shape)) as Row;
  return (wire, uuid) => {
    const row: Row = { ...template, _uuid: uuid };
    for (const [c, info] of plan) {
      const v = wire[c];
      row[c] = v === undefined ? info.makeDefault() : decodeByKind(info.kind, v);
    }
    return row;
  };
}

/** Cheap sanity check of a get_schema reply, so a wrong database fails loudly, not later. */
export function assertDatabaseSchema(x: unknown): asserts x is DatabaseSchema {
  const o = x as Partial<DatabaseSchema> | null;
  if (typeof o !== 'object' || o === null || typeof o.name !== 'string' || typeof o.tables !== 'object' || o.tables === null) {
    throw new TypeError('get_schema reply is not a database schema');
  }
}
