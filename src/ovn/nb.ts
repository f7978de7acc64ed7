// The OVN Northbound database as the plugin sees it: which tables it replicates, and the owner
// ids it writes on every row (GC and deletion only ever touch rows carrying them).
import type { Row } from '../ovsdb/types';
import { externalIds } from '../ovs/db';

export const NB_MONITOR = {
  NB_Global: { columns: ['nb_cfg', 'hv_cfg'] },
  Logical_Switch: { columns: ['name', 'ports', 'external_ids', 'other_config'] },
  Logical_Switch_Port: { columns: ['name', 'type', 'addresses', 'port_security', 'up', 'external_ids', 'dhcpv4_options', 'options'] },
  Logical_Router: { columns: ['name', 'ports', 'external_ids', 'nat', 'static_routes', 'load_balancer'] },
  Logical_Router_Port: { columns: ['name', 'networks', 'mac', 'external_ids', 'gateway_chassis'] },
  Load_Balancer: { columns: ['name', 'vips', 'protocol', 'external_ids'] },
  DHCP_Options: { columns: ['cidr', 'options', 'external_ids'] },
  NAT: { columns: ['type', 'external_ip', 'logical_ip', 'logical_port', 'external_ids'] },
};

export const NB_OWNER = 'ocn-owner';
export const NB_OWNER_TYPE = 'ocn-owner-type';
export type NbOwnerType = 'switch' | 'port' | 'router' | 'router-port' | 'dhcp' | 'nat';

/** Rows the plugin created carry the product name (not the per-host driver name): every host's
 * daemon shares them. */
export const PRODUCT = 'ovs-container-network';

export function nbOwned(row: Row, type?: NbOwnerType): boolean {
  const ids = externalIds(row);
  return ids[NB_OWNER] === PRODUCT && (type === undefined || ids[NB_OWNER_TYPE] === type);
}

export function owner(type: NbOwnerType, extra: Record<string, string> = {}): Record<string, string> {
  return { [NB_OWNER]: PRODUCT, [NB_OWNER_TYPE]: type, ...extra };
}
