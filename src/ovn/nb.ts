// The OVN Northbound database as the plugin sees it: which tables it replicates, typed as the
// generated model says (src/model/ovn-nb.ts), and the owner ids it writes on every row (GC and
// deletion only ever touch rows carrying them).
import type { OVNNorthboundTables } from '../model/ovn-nb';
import { type Db, findByName, findOwned } from '../ovs/db';
import { type NbOwnerType, PRODUCT } from '../model/owner-ids';

export const NB_MONITOR = {
  NB_Global: { columns: ['nb_cfg', 'hv_cfg'] },
  Logical_Switch: { columns: ['name', 'ports', 'external_ids', 'other_config'] },
  Logical_Switch_Port: { columns: ['name', 'type', 'addresses', 'port_security', 'up', 'external_ids', 'dhcpv4_options', 'options'] },
  Logical_Router: { columns: ['name', 'ports', 'external_ids', 'nat', 'static_routes', 'load_balancer'] },
  Logical_Router_Port: { columns: ['name', 'networks', 'mac', 'external_ids', 'gateway_chassis'] },
  Load_Balancer: { columns: ['name', 'vips', 'protocol', 'external_ids'] },
  DHCP_Options: { columns: ['cidr', 'options', 'external_ids'] },
  NAT: { columns: ['type', 'external_ip', 'logical_ip', 'logical_port', 'external_ids'] },
  Port_Group: { columns: ['name', 'ports', 'acls', 'external_ids'] },
  ACL: { columns: ['direction', 'priority', 'match', 'action', 'external_ids', 'name'] },
  QoS: { columns: ['direction', 'priority', 'match', 'action', 'bandwidth', 'external_ids'] },
} as const satisfies { [T in keyof OVNNorthboundTables]?: { columns: readonly (keyof OVNNorthboundTables[T])[] } };

export type NbTable = keyof typeof NB_MONITOR;
/** A row of an NB table as the cache holds it: the monitored columns, typed by the schema. */
export type NbRow<T extends NbTable> = Pick<OVNNorthboundTables[T], Extract<'_uuid' | (typeof NB_MONITOR)[T]['columns'][number], keyof OVNNorthboundTables[T]>>;

/** The cached rows of an NB table, typed (the cache decodes them by the schema). */
export function nbRows<T extends NbTable>(nb: Db, table: T): Iterable<NbRow<T>> {
  return nb.rows(table) as Iterable<NbRow<T>>;
}

/** The NB row of `table` named `name` (from the name index where the Db has one). */
export function nbByName<T extends NbTable>(nb: Db, table: T, name: string): NbRow<T> | undefined {
  return findByName(nb, table, name) as NbRow<T> | undefined;
}

/** The NB rows of `table` the product made (of that type), from the owner index where the Db has one. */
export function nbOwnedRows<T extends NbTable>(nb: Db, table: T, type?: NbOwnerType): NbRow<T>[] {
  return [...(findOwned(nb, table, PRODUCT, type) as Iterable<NbRow<T>>)];
}

// Owner ids live in one module for both databases (model/owner-ids.ts).
export { OWNER as NB_OWNER, OWNER_TYPE as NB_OWNER_TYPE, PRODUCT, nbOwned, nbOwner as owner } from '../model/owner-ids';
export type { NbOwnerType };
