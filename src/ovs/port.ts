// Port + Interface rows: one port per veth, gateway (internal) or uplink, created in one
// transaction with the records that describe it.
import type { Operation, OperationResult, Row, WireRow } from '../ovsdb/types';
import type { Db, OwnerType } from './db';
import { type VsRow, vsByName, vsOwned } from './tables';
import { bridgeAddPortOp, bridgeDeletePortOp, bridgeOfPort } from './bridge';
import { map, mapDelete, mapPut, named, byUuid, insertRefs, deleteRefs, set } from './wire';

export const PORT_TABLE = 'Port';
export const INTERFACE_TABLE = 'Interface';

export interface PortSpec {
  name: string;
  /** '' for a kernel netdev (veth, uplink), 'internal' for a gateway port. */
  type: '' | 'internal';
  /**
   * The VLAN of an access port (0: untagged). An access port drops every frame that arrives
   * with a VLAN header, so a container can never send into another VLAN. Without it the
   * port is a trunk of every VLAN (uplinks).
   */
  access?: number;
  /** The VLANs a trunk carries (0: untagged frames); empty or absent: every VLAN. */
  trunks?: number[];
  externalIds: Record<string, string>;
  /** The Port's external_ids when they differ from the Interface's. */
  portExternalIds?: Record<string, string>;
  mtuRequest?: number;
  /** An internal port's MAC (unset: OVS picks a random one each time it makes the device). */
  mac?: string;
}

export function addPortOps(bridge: string | ['named-uuid', string], spec: PortSpec, ref = 'newport'): Operation[] {
  const iface: WireRow = { name: spec.name, type: spec.type, external_ids: map(spec.externalIds) };
  if (spec.mtuRequest) iface.mtu_request = spec.mtuRequest;
  if (spec.mac) iface.mac = spec.mac;
  const port: WireRow = { name: spec.name, interfaces: named(`${ref}_if`), external_ids: map(spec.portExternalIds ?? spec.externalIds) };
  if (spec.access !== undefined) {
    port.tag = spec.access;
    port.vlan_mode = 'access';
  }
  if (spec.trunks?.length) port.trunks = set(...spec.trunks);
  return [
    { op: 'insert', table: INTERFACE_TABLE, 'uuid-name': `${ref}_if`, row: iface },
    { op: 'insert', table: PORT_TABLE, 'uuid-name': ref, row: port },
    bridgeAddPortOp(bridge, named(ref)),
  ];
}

/**
 * Undoes a committed addPortOps from its results (the Port insert's uuid), so a rollback right
 * after the commit does not depend on the monitor update having reached the cache.
 */
export function undoAddPortOps(bridgeUuid: string, results: OperationResult[]): Operation[] {
  const port = results[1]?.uuid?.[1]; // addPortOps: [insert Interface, insert Port, mutate Bridge]
  return port ? [bridgeDeletePortOp(bridgeUuid, port)] : [];
}

/** Removing the port from its bridge is enough: OVSDB garbage-collects the Port and Interface. */
export function deletePortOps(db: Db, portName: string): Operation[] {
  const port = findPort(db, portName);
  if (!port) return [];
  const bridge = bridgeOfPort(db, port._uuid);
  return bridge ? [bridgeDeletePortOp(bridge._uuid, port._uuid)] : [];
}

/** Adds (or removes) one VLAN to a trunk port's `trunks`. */
export function trunkVlanOps(port: Row, vlan: number, add: boolean): Operation[] {
  return [{ op: 'mutate', table: PORT_TABLE, where: byUuid(port._uuid), mutations: [(add ? insertRefs : deleteRefs)('trunks', vlan)] }];
}

export function findPort(db: Db, name: string): VsRow<'Port'> | undefined {
  return vsByName(db, PORT_TABLE, name);
}
export function findInterface(db: Db, name: string): VsRow<'Interface'> | undefined {
  return vsByName(db, INTERFACE_TABLE, name);
}

/**
 * Updates keys of an Interface's external_ids (where the endpoint record is read back from).
 * Not the Port row: a change of a Port's external_ids makes ovs-vswitchd reconfigure every
 * bridge, an Interface's does not.
 */
export function setInterfaceExternalIdsOps(db: Db, name: string, ids: Record<string, string>): Operation[] {
  const iface = findInterface(db, name);
  return iface ? [{ op: 'mutate', table: INTERFACE_TABLE, where: byUuid(iface._uuid), mutations: mapPut('external_ids', ids) }] : [];
}

/**
 * Sets one key of an endpoint's record (its Interface's external_ids), or removes it when
 * `value` is undefined. Throws when the port is not in OVSDB: the record would be lost.
 */
export async function recordEndpointKey(db: Db, port: string, key: string, value: string | undefined): Promise<void> {
  const iface = findInterface(db, port);
  if (!iface) throw new Error(`port ${port} is not in OVSDB`);
  const mutations = value === undefined ? mapDelete('external_ids', [key]) : mapPut('external_ids', { [key]: value });
  await db.transact([{ op: 'mutate', table: INTERFACE_TABLE, where: byUuid(iface._uuid), mutations }]);
}

/** The OpenFlow port number ovs-vswitchd gave the port, once it opened it (flows and meters name it). */
export function openOfport(db: Db, name: string): number | undefined {
  const p = findInterface(db, name)?.ofport;
  const n = Array.isArray(p) ? p[0] : p;
  return typeof n === 'number' && n > 0 ? n : undefined;
}

/** The Interfaces of daemon `driver` (of that type), from the owner index. */
export function interfacesOwnedBy(db: Db, driver: string, type?: OwnerType): VsRow<'Interface'>[] {
  return vsOwned(db, INTERFACE_TABLE, driver, type);
}
