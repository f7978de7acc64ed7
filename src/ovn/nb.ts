// The OVN Northbound database as the plugin sees it: which tables it replicates, and the owner
// ids it writes on every row (GC and deletion only ever touch rows carrying them).

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

// Owner ids live in one module for both databases (model/owner-ids.ts).
export { OWNER as NB_OWNER, OWNER_TYPE as NB_OWNER_TYPE, PRODUCT, nbOwned, nbOwner as owner } from '../model/owner-ids';
export type { NbOwnerType } from '../model/owner-ids';
