// The local Open_vSwitch database as the daemon sees it: the tables and columns it replicates,
// checked against the generated schema types (src/model/vswitch.ts) at compile time, and typed
// views of those rows.
import type { OpenVSwitchTables } from '../model/vswitch';
import type { LocalOwnerType } from '../model/owner-ids';
import type { Row } from '../ovsdb/types';
import { type Db, findByName, findOwned } from './db';

export const VSWITCH_MONITOR = {
  // Not external_ids: read on demand (ovs/open-vswitch.ts says why).
  Open_vSwitch: { columns: ['bridges', 'cur_cfg', 'next_cfg', 'datapath_types'] },
  Bridge: { columns: ['name', 'ports', 'datapath_type', 'fail_mode', 'external_ids', 'mcast_snooping_enable'] },
  Port: { columns: ['name', 'interfaces', 'tag', 'external_ids'] },
  // ifindex: an internal port's changes when ovs-vswitchd restarts (heal/ovs-healer.ts).
  Interface: { columns: ['name', 'type', 'ofport', 'ifindex', 'error', 'external_ids', 'bfd_status'] },
} as const satisfies { [T in keyof OpenVSwitchTables]?: { columns: readonly (keyof OpenVSwitchTables[T])[] } };

export type VsTable = keyof typeof VSWITCH_MONITOR;
/** A row of a local table as the cache holds it: the monitored columns, typed by the schema. */
export type VsRow<T extends VsTable> = Pick<OpenVSwitchTables[T], Extract<'_uuid' | (typeof VSWITCH_MONITOR)[T]['columns'][number], keyof OpenVSwitchTables[T]>>;

/** The cached rows of a local table, typed (the cache decodes them by the schema). */
export function vsRows<T extends VsTable>(db: Db, table: T): Iterable<VsRow<T>> {
  return db.rows(table) as Iterable<VsRow<T>>;
}

/** The local row of `table` named `name` (from the name index where the Db has one). */
export function vsByName<T extends Exclude<VsTable, 'Open_vSwitch'>>(db: Db, table: T, name: string): VsRow<T> | undefined {
  return findByName(db, table, name) as VsRow<T> | undefined;
}

/** The local rows of `table` owned by daemon `driver` (of that type), from the owner index where the Db has one. */
export function vsOwned<T extends VsTable>(db: Db, table: T, driver: string, type?: LocalOwnerType): VsRow<T>[] {
  return [...(findOwned(db, table, driver, type) as Iterable<VsRow<T>>)];
}

/** An Interface row handed over untyped (to a waitFor predicate), typed as the cache decoded it. */
export function asInterface(row: Row): VsRow<'Interface'> {
  return row as VsRow<'Interface'>;
}
