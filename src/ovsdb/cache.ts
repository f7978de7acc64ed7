// In-memory replica of the monitored tables, kept current by monitor notifications.
//
// Rows are immutable: an update builds a new Row object, so a change event's `old` stays valid and
// consumers may keep references. Events for a notification are emitted only after the whole
// notification was applied, so a listener looking at other tables sees a consistent database
// (e.g. the new Port is already there when the Bridge's `ports` change is reported).

import { EventEmitter } from 'node:events';
import {
  type ColumnKind,
  type DatabaseSchema,
  type TableSchema,
  columnInfos,
  decodeAtom,
  decodeByKind,
  decodeRow,
  decodeSetElements,
  rowDecoder,
  setEntry,
} from './schema';
import type { DecodedValue, Row, Scalar, WireRow, WireValue } from './types';

export interface RowChange {
  table: string;
  uuid: string;
  /** Absent for an insert (or a row first seen in a snapshot). */
  old?: Row;
  /** Absent for a delete. */
  new?: Row;
}

/** monitor_cond / update2 format (ovsdb-server(7)). */
export type RowUpdate2 = { initial: WireRow } | { insert: WireRow } | { delete: null } | { modify: WireRow };
export type TableUpdates2 = Record<string, Record<string, RowUpdate2>>;
/** Classic monitor / update format (RFC 7047 4.1.6). */
export type RowUpdate = { old?: WireRow; new?: WireRow };
export type TableUpdates = Record<string, Record<string, RowUpdate>>;

export type CacheSnapshot = Map<string, Map<string, Row>>;

export interface TableCacheEvents {
  /** One row was inserted, modified or deleted. */
  change: [RowChange];
  /** A whole notification (one committed transaction, or a fresh snapshot) has been applied. */
  updated: [];
}

const EMPTY_TABLE: ReadonlyMap<string, Row> = new Map();
const EMPTY_TABLE_SCHEMA: TableSchema = { columns: {} };

export class TableCache extends EventEmitter<TableCacheEvents> {
  private data: CacheSnapshot = new Map();
  private schema: DatabaseSchema | undefined;
  /** Per monitored table: decodes an inserted row, giving absent columns their defaults. */
  private decoders = new Map<string, (wire: WireRow, uuid: string) => Row>();

  constructor(schema?: DatabaseSchema, columns?: Record<string, readonly string[]>) {
    super();
    // Every 'waitFor' adds a listener; a busy client may have many at once.
    this.setMaxListeners(0);
    if (schema) this.configure(schema, columns);
  }

  /** Sets the schema used to decode rows and the monitored columns (default: all of each table). */
  configure(schema: DatabaseSchema, columns?: Record<string, readonly string[]>): void {
    this.schema = schema;
    this.decoders.clear();
    for (const [table, ts] of Object.entries(schema.tables)) {
      if (columns && !columns[table]) continue;
      this.decoders.set(table, rowDecoder(ts, columns?.[table] ?? Object.keys(ts.columns)));
    }
  }

  get tables(): ReadonlyMap<string, ReadonlyMap<string, Row>> {
    return this.data;
  }

  table(name: string): ReadonlyMap<string, Row> {
    return this.data.get(name) ?? EMPTY_TABLE;
  }

  get(table: string, uuid: string): Row | undefined {
    return this.data.get(table)?.get(uuid);
  }

  /** First row of the table for which the predicate holds. */
  find(table: string, predicate: (row: Row) => boolean): Row | undefined {
    for (const row of this.table(table).values()) if (predicate(row)) return row;
    return undefined;
  }

  filter(table: string, predicate: (row: Row) => boolean): Row[] {
    const out: Row[] = [];
    for (const row of this.table(table).values()) if (predicate(row)) out.push(row);
    return out;
  }

  /** Applies an update2 (or update3) notification. */
  applyUpdate2(updates: TableUpdates2): void {
    const changes: RowChange[] = [];
    for (const table in updates) {
      const rows = this.tableMap(this.data, table);
      const tableSchema = this.tableSchema(table);
      for (const uuid in updates[table]) {
        const u = updates[table][uuid];
        const old = rows.get(uuid);
        let next: Row | undefined;
        if ('modify' in u) {
          if (!old) continue; // cannot happen with a consistent server; nothing to diff against
          next = applyModify(tableSchema, old, u.modify);
        } else if ('delete' in u) {
          if (!old) continue;
        } else {
          const wire = 'initial' in u ? u.initial : u.insert;
          next = this.decodeNew(table, tableSchema, wire, uuid);
        }
        if (next) rows.set(uuid, next);
        else rows.delete(uuid);
        changes.push({ table, uuid, old, new: next });
      }
    }
    this.emitChanges(changes);
  }

  /** Applies a classic "update" notification: "new" always holds every monitored column. */
  applyUpdate(updates: TableUpdates): void {
    const changes: RowChange[] = [];
    for (const table in updates) {
      const rows = this.tableMap(this.data, table);
      const tableSchema = this.tableSchema(table);
      for (const uuid in updates[table]) {
        const u = updates[table][uuid];
        const old = rows.get(uuid);
        if (u.new) {
          const next = this.decodeNew(table, tableSchema, u.new, uuid);
          rows.set(uuid, next);
          changes.push({ table, uuid, old, new: next });
        } else if (old) {
          rows.delete(uuid);
          changes.push({ table, uuid, old });
        }
      }
    }
    this.emitChanges(changes);
  }

  /** Decodes a monitor_cond reply into a snapshot without touching the cache. */
  snapshotFromUpdate2(updates: TableUpdates2): CacheSnapshot {
    const snap: CacheSnapshot = new Map();
    for (const table in updates) {
      const rows = this.tableMap(snap, table);
      const tableSchema = this.tableSchema(table);
      for (const uuid in updates[table]) {
        const u = updates[table][uuid];
        const wire = 'initial' in u ? u.initial : 'insert' in u ? u.insert : undefined;
        if (wire) rows.set(uuid, this.decodeNew(table, tableSchema, wire, uuid));
      }
    }
    return snap;
  }

  /** Decodes a classic monitor reply into a snapshot without touching the cache. */
  snapshotFromUpdate(updates: TableUpdates): CacheSnapshot {
    const snap: CacheSnapshot = new Map();
    for (const table in updates) {
      const rows = this.tableMap(snap, table);
      const tableSchema = this.tableSchema(table);
      for (const uuid in updates[table]) {
        const wire = updates[table][uuid].new;
        if (wire) rows.set(uuid, this.decodeNew(table, tableSchema, wire, uuid));
      }
    }
    return snap;
  }

  /**
   * Swaps in a fresh snapshot (after a reconnection) in one step and reports only the differences,
   * so subscribers that tracked the old content end up exactly where a fresh start would put them.
   */
  replace(snapshot: CacheSnapshot): void {
    const changes: RowChange[] = [];
    for (const [table, oldRows] of this.data) {
      const newRows = snapshot.get(table);
      for (const [uuid, old] of oldRows) {
        const next = newRows?.get(uuid);
        if (!next) changes.push({ table, uuid, old });
        else if (!rowsEqual(old, next)) changes.push({ table, uuid, old, new: next });
      }
    }
    for (const [table, newRows] of snapshot) {
      const oldRows = this.data.get(table);
      for (const [uuid, next] of newRows) {
        if (!oldRows?.has(uuid)) changes.push({ table, uuid, new: next });
      }
    }
    for (const table of this.decoders.keys()) this.tableMap(snapshot, table);
    this.data = snapshot;
    this.emitChanges(changes);
  }

  clear(): void {
    this.replace(new Map());
  }

  private decodeNew(table: string, ts: TableSchema, wire: WireRow, uuid: string): Row {
    const decode = this.decoders.get(table);
    return decode ? decode(wire, uuid) : decodeRow(ts, wire, { uuid });
  }

  private tableSchema(table: string): TableSchema {
    return this.schema?.tables[table] ?? EMPTY_TABLE_SCHEMA;
  }

  private tableMap(snap: CacheSnapshot, table: string): Map<string, Row> {
    let rows = snap.get(table);
    if (!rows) {
      rows = new Map();
      snap.set(table, rows);
    }
    return rows;
  }

  /** Emits every change even if a listener throws, then rethrows the first error. */
  private emitChanges(changes: RowChange[]): void {
    let firstError: unknown;
    for (const c of changes) {
      try {
        this.emit('change', c);
      } catch (err) {
        firstError ??= err;
      }
    }
    try {
      this.emit('updated');
    } catch (err) {
      firstError ??= err;
    }
    if (firstError !== undefined) throw firstError;
  }
}

/**
 * Applies an update2 "modify" row diff to a cached row (ovsdb-server(7), "update2 notification"):
 * sets with max > 1 carry the symmetric difference, maps a key diff, everything else the new value.
 */
export function applyModify(table: TableSchema, old: Row, diff: WireRow): Row {
  const infos = columnInfos(table);
  const next: Row = { ...old };
  for (const column in diff) {
    const kind: ColumnKind = infos.get(column)?.kind ?? 'scalar';
    next[column] = applyColumnDiff(kind, old[column], diff[column]);
  }
  return next;
}

export function applyColumnDiff(kind: ColumnKind, old: DecodedValue, diff: WireValue): DecodedValue {
  switch (kind) {
    case 'scalar':
    case 'optional':
      // Columns holding at most one atom carry the new value, not a diff (ovsdb_datum_diff only
      // diffs "composite" types, max > 1): an optional column is cleared with ["set", []].
      return decodeByKind(kind, diff);
    case 'set':
      return symmetricDifference(Array.isArray(old) ? old : [], decodeSetElements(diff));
    case 'map':
      return applyMapDiff(isRecord(old) ? old : {}, diff);
  }
}

/** Elements in exactly one of the two: the set diff of update2 toggles membership. */
function symmetricDifference(old: readonly Scalar[], toggle: readonly Scalar[]): Scalar[] {
  if (toggle.length === 0) return old.slice();
  const toggled = new Set(toggle);
  const out: Scalar[] = [];
  for (const x of old) {
    if (toggled.has(x)) toggled.delete(x);
    else out.push(x);
  }
  const oldSet = new Set(old);
  for (const x of toggled) if (!oldSet.has(x)) out.push(x);
  return out;
}

/** Map diff: a key with the same value is deleted, with another value replaced, a new key inserted. */
function applyMapDiff(old: Readonly<Record<string, Scalar>>, diff: WireValue): Record<string, Scalar> {
  const out: Record<string, Scalar> = { ...old };
  if (!Array.isArray(diff) || diff[0] !== 'map') return out;
  for (const [k, v] of diff[1]) {
    const key = String(decodeAtom(k));
    const value = decodeAtom(v);
    if (Object.prototype.hasOwnProperty.call(out, key) && out[key] === value) delete out[key];
    else setEntry(out, key, value);
  }
  return out;
}

function isRecord(v: DecodedValue): v is Record<string, Scalar> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function rowsEqual(a: Row, b: Row): boolean {
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  for (const k of keysA) {
    if (!(k in b) || !valuesEqual(a[k], b[k])) return false;
  }
  return true;
}

/** Sets compare as sets: after diffs are applied, element order may differ from the server's. */
export function valuesEqual(a: DecodedValue, b: DecodedValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    const s = new Set<Scalar>(b);
    return a.every((x) => s.has(x));
  }
  if (isRecord(a)) {
    if (!isRecord(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
  }
  return false;
}
