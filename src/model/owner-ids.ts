// Owner ids: the external_ids keys that mark a row as the plugin's, in both databases. Every row
// the plugin writes carries them, and every "is this ours?" question is answered here, so
// garbage collection can never take a row of a user or of another daemon. The other keys the
// plugin writes beside them (what a row is for, who holds a share of it) are named here too.
import type { Row } from '../ovsdb/types';

export const OWNER = 'ocn-owner';
export const OWNER_TYPE = 'ocn-owner-type';

/** Rows in the local Open_vSwitch database, owned by one daemon (its driver name). */
export type LocalOwnerType = 'endpoint' | 'gateway' | 'bridge' | 'uplink' | 'pool' | 'mirror' | 'qos';
/** Rows in OVN Northbound, shared by every host's daemon: owned by the product. */
export type NbOwnerType = 'switch' | 'port' | 'router' | 'router-port' | 'dhcp' | 'nat' | 'security-group' | 'acl' | 'qos';

/** The owner of NB rows: the product name, not a per-host driver name. */
export const PRODUCT = 'ovs-container-network';

/** Keys written beside the owner ids: what an owned row is for. */
export const KEY = {
  /** Overlay tunnel Port and Interface: the peer's underlay address. */
  peerIp: 'ocn-peer-ip',
  /** Overlay tunnel Port and Interface: the UDP port it was made with. */
  dstPort: 'ocn-dst-port',
  /** Logical_Switch: its subnet, the same on every host. */
  subnet: 'ocn-subnet',
  /** Router port, its peer switch port, DHCP_Options: the switch they serve. */
  switch: 'ocn-switch',
  /** A router's external switch: the router it is the way out of. */
  externalOf: 'ocn-external-of',
  /** A network's SNAT row: the network it was made for. */
  networkRef: 'ocn-ref',
  /** A NAT row made through the control API. */
  rule: 'ocn-rule',
  /** Logical_Switch_Port: the host whose daemon made it. */
  host: 'ocn-host',
} as const;

/** An endpoint's Port and Interface (and its logical port: network, endpoint): what it is. */
export const EP = {
  network: 'ocn-network',
  endpoint: 'ocn-endpoint',
  sandbox: 'ocn-sandbox',
  ipv4: 'ocn-ip',
  ipv6: 'ocn-ip6',
  mac: 'ocn-mac',
  peer: 'ocn-peer',
  tenant: 'ocn-tenant',
  ports: 'ocn-ports',
  macGenerated: 'ocn-mac-generated',
  /** Security group names (of the network's tenant), comma-separated. */
  securityGroups: 'ocn-sgs',
  /** The endpoint's own QoS keys (over the network's): `qos.max_rate=50,qos.dscp=46`. */
  qos: 'ocn-qos',
} as const;

/** Logical_Switch: one key per network (on any host) using the switch, `ocn-ref-<host>-<network>`. */
export const REF_PREFIX = 'ocn-ref-';
/** Logical_Switch: one key per reserved address, `ocn-ip-<address>` = its holder. */
export const ADDR_PREFIX = 'ocn-ip-';
/** Load_Balancer: the host holding a VIP, beside the VIP. */
export const vipHolderKey = (vip: string): string => `ocn-vip-${vip}`;

export function externalIds(row: Row): Record<string, string> {
  const v = row.external_ids;
  // The cache decodes rows by the schema, where external_ids maps strings to strings.
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
}

/** The ids to write on a row the daemon `driver` makes in the local database. */
export function localOwner(driver: string, type: LocalOwnerType, extra: Record<string, string> = {}): Record<string, string> {
  return { [OWNER]: driver, [OWNER_TYPE]: type, ...extra };
}

/** The ids to write on an NB row. */
export function nbOwner(type: NbOwnerType, extra: Record<string, string> = {}): Record<string, string> {
  return { [OWNER]: PRODUCT, [OWNER_TYPE]: type, ...extra };
}

/** A row of `owner` (of that type, when given), local or NB. */
export function ownerIs(row: Row, owner: string, type: LocalOwnerType | NbOwnerType | undefined): boolean {
  const ids = externalIds(row);
  return ids[OWNER] === owner && (type === undefined || ids[OWNER_TYPE] === type);
}

/** A local row of daemon `driver` (of that type, when given). */
export function ownedBy(row: Row, driver: string, type?: LocalOwnerType): boolean {
  return ownerIs(row, driver, type);
}

/** An NB row the product made (of that type, when given). */
export function nbOwned(row: Row, type?: NbOwnerType): boolean {
  return ownerIs(row, PRODUCT, type);
}

/**
 * The key an owner index finds the rows of `owner` (of that type, when given) under: JSON, so no
 * owner name (any string, in a foreign row) is ever taken for another owner and type.
 */
export function ownerLookupKey(owner: string, type?: string): string {
  return JSON.stringify(type === undefined ? [owner] : [owner, type]);
}

/** The keys an owner index files a row under: its owner alone, and with its type (none: not ours). */
export function ownerKeys(row: Row): string[] {
  const ids = externalIds(row);
  const owner = ids[OWNER];
  if (!owner) return [];
  return ids[OWNER_TYPE] ? [ownerLookupKey(owner), ownerLookupKey(owner, ids[OWNER_TYPE])] : [ownerLookupKey(owner)];
}
