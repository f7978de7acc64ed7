// Bridge rows: create one the plugin owns, reference or drop it from the root row.
import type { Operation } from '../ovsdb/types';
import { type Db, localOwner } from './db';
import { type VsRow, vsByName, vsRows } from './tables';
import { rootMutate } from './open-vswitch';
import { byUuid, deleteRefs, insertRefs, map, mapDelete, mapPut, named, uuid } from './wire';

export const BRIDGE_TABLE = 'Bridge';

export function findBridge(db: Db, name: string): VsRow<'Bridge'> | undefined {
  return vsByName(db, BRIDGE_TABLE, name);
}

/** Inserts a bridge (its local port included, as ovs-vsctl add-br does) under a named uuid. */
export function createBridgeOps(name: string, datapath: string, driver: string, ref = 'newbr'): Operation[] {
  const owner = localOwner(driver, 'bridge');
  return [
    { op: 'insert', table: 'Interface', 'uuid-name': `${ref}_if`, row: { name, type: 'internal', external_ids: map(owner) } },
    { op: 'insert', table: 'Port', 'uuid-name': `${ref}_port`, row: { name, interfaces: named(`${ref}_if`), external_ids: map(owner) } },
    { op: 'insert', table: BRIDGE_TABLE, 'uuid-name': ref, row: { name, datapath_type: datapath, ports: named(`${ref}_port`), external_ids: map(owner) } },
    rootMutate([insertRefs('bridges', named(ref))]),
  ];
}

export function deleteBridgeOps(bridgeUuid: string): Operation[] {
  return [rootMutate([deleteRefs('bridges', uuid(bridgeUuid))])];
}

export function bridgeAddPortOp(bridge: string | ['named-uuid', string], portRef: ['named-uuid', string] | ['uuid', string]): Operation {
  const where = typeof bridge === 'string' ? byUuid(bridge) : [['_uuid', '==', bridge] as ['_uuid', '==', ['named-uuid', string]]];
  return { op: 'mutate', table: BRIDGE_TABLE, where, mutations: [insertRefs('ports', portRef)] };
}

export function bridgeDeletePortOp(bridgeUuid: string, portUuid: string): Operation {
  return { op: 'mutate', table: BRIDGE_TABLE, where: byUuid(bridgeUuid), mutations: [deleteRefs('ports', uuid(portUuid))] };
}

export function bridgeOfPort(db: Db, portUuid: string): VsRow<'Bridge'> | undefined {
  for (const b of vsRows(db, BRIDGE_TABLE)) if (b.ports.includes(portUuid)) return b;
  return undefined;
}

/** external_ids key on a bridge whose IGMP/MLD snooping this daemon turned on (so it turns it off again). */
export const MCAST_SNOOP_KEY = 'ocn-mcast-snoop';

/**
 * IGMP/MLD snooping on a bridge: on for a network that asks, off with the last such network when
 * it was us who turned it on (a user's own setting is left alone). Unregistered groups still
 * flood, as before: other networks of the bridge keep working unchanged.
 */
export function mcastSnoopOps(bridge: string | ['named-uuid', string], on: boolean, driver: string): Operation[] {
  const where = typeof bridge === 'string' ? byUuid(bridge) : [['_uuid', '==', bridge] as ['_uuid', '==', ['named-uuid', string]]];
  return [
    { op: 'update', table: BRIDGE_TABLE, where, row: { mcast_snooping_enable: on } },
    { op: 'mutate', table: BRIDGE_TABLE, where, mutations: on ? mapPut('external_ids', { [MCAST_SNOOP_KEY]: driver }) : mapDelete('external_ids', [MCAST_SNOOP_KEY]) },
  ];
}
