// Logical_Switch rows. Names are not unique in the schema, so creation carries a `wait` that
// aborts the transaction if another host created the switch first; the caller then binds to it.
import type { Operation, Row } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { KEY, REF_PREFIX } from '../model/owner-ids';
import { byUuid, map, mapDelete, mapPut } from '../ovs/wire';
import { type NbRow, nbByName, owner } from './nb';

export const LS = 'Logical_Switch';
export { REF_PREFIX };

export function findSwitch(nb: Db, name: string): NbRow<'Logical_Switch'> | undefined {
  return nbByName(nb, LS, name);
}

/** A Docker network on some host that uses the switch: `ocn-ref-<host>-<network>`. */
export function refKey(host: string, networkId: string): string {
  return `${REF_PREFIX}${host}-${networkId.slice(0, 12)}`;
}

export function switchRefs(ls: NbRow<'Logical_Switch'>): string[] {
  return Object.keys(ls.external_ids).filter((k) => k.startsWith(REF_PREFIX));
}

export function createSwitchOps(name: string, subnet: string, ref: string, uuidName = 'newls'): Operation[] {
  return [
    { op: 'wait', table: LS, where: [['name', '==', name]], columns: ['name'], until: '==', rows: [], timeout: 0 },
    { op: 'insert', table: LS, 'uuid-name': uuidName, row: { name, external_ids: map(owner('switch', { [KEY.subnet]: subnet, [ref]: '1' })) } },
  ];
}

export function addRefOps(ls: Row, ref: string): Operation[] {
  return [{ op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: mapPut('external_ids', { [ref]: '1' }) }];
}

export function dropRefOps(ls: Row, ref: string): Operation[] {
  return [{ op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: mapDelete('external_ids', [ref]) }];
}

/**
 * Aborts the transaction if anybody added a reference since we looked: the wait compares the
 * whole external_ids map, so a host binding at this moment makes it abort.
 */
export function stillUnreferencedOp(ls: NbRow<'Logical_Switch'>): Operation {
  return { op: 'wait', table: LS, where: byUuid(ls._uuid), columns: ['external_ids'], until: '==', rows: [{ external_ids: map(ls.external_ids) }], timeout: 0 };
}

/** Deletes the switch only if nobody added a reference since we looked. */
export function deleteUnreferencedSwitchOps(ls: NbRow<'Logical_Switch'>): Operation[] {
  return [stillUnreferencedOp(ls), { op: 'delete', table: LS, where: byUuid(ls._uuid) }];
}
